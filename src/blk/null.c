/* null.c - a device that stores nothing: every request completes (deferred) with success, reads return zeroes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "blk/blk.h"
#include "blk/blk_internal.h"
#include "core/util.h"

static int null_submit(struct blk_dev *dev UNUSED, struct blk_io *io)
{
	if (io->op == BLK_OP_READ)
		iov_memset(io->iov, io->iovcnt, 0, 0, iov_length(io->iov, io->iovcnt));
	blk_complete_later(io, 0);
	return 0;
}

/* Nothing is ever stored: every block is deallocated (and reads as zeroes). */
static int null_get_lba_status(struct blk_dev *dev, uint64_t lba, uint64_t *nblocks_same, bool *mapped)
{
	if (lba >= dev->info.num_blocks)
		return -EINVAL;
	*nblocks_same = dev->info.num_blocks - lba;
	*mapped = false;
	return 0;
}

static void null_destroy(struct blk_dev *dev)
{
	free(dev);
}

static const struct blk_ops null_ops = {
	.name = "null",
	.submit = null_submit,
	.destroy = null_destroy,
	.get_lba_status = null_get_lba_status,
};

int blk_mem_dev_alloc(const char *name, uint64_t size_bytes, uint32_t block_size, const struct blk_ops *ops,
		      struct blk_dev **out)
{
	if (name == NULL || out == NULL)
		return -EINVAL;
	if (block_size == 0)
		block_size = 512;
	if (block_size < 512 || block_size > 65536 || (block_size & (block_size - 1)) != 0)
		return -EINVAL;
	if (size_bytes == 0 || size_bytes % block_size != 0)
		return -EINVAL;
	struct blk_dev *dev = calloc(1, sizeof(*dev));
	if (dev == NULL)
		return -ENOMEM;
	dev->ops = ops;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->info.block_size = block_size;
	dev->info.num_blocks = size_bytes / block_size;
	dev->info.supports_unmap = true;
	dev->info.unmap_zeroes = true;
	*out = dev;
	return 0;
}

int blk_null_create(const char *name, uint64_t size_bytes, uint32_t block_size, struct blk_dev **out)
{
	return blk_mem_dev_alloc(name, size_bytes, block_size, &null_ops, out);
}

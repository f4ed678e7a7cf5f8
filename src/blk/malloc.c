/* malloc.c - RAM-backed device: one lazily-populated anonymous mapping shared by every reactor. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blk/blk.h"
#include "blk/blk_internal.h"
#include "core/util.h"

/*
 * Storage is a single private anonymous mapping of the device size, made
 * with MAP_NORESERVE: the kernel gives it pages on first write and maps
 * the shared zero page on first read, so a 1 GiB RAM device costs nothing
 * until it is written. UNMAP and WRITE_ZEROES hand whole pages back with
 * madvise(MADV_DONTNEED) (they read back as zeroes) and clear the partial
 * pages at the edges. Because the mapping itself is never changed while
 * the device exists, requests from different reactors need no lock and
 * cannot race into freed memory even when they overlap (overlapping
 * requests give undefined data, as on any disk, but never a crash).
 */
struct malloc_ctx {
	uint8_t *base;
	size_t len;
	size_t page;
};

static void malloc_zero_range(struct malloc_ctx *m, size_t off, size_t len)
{
	size_t start = ALIGN_UP(off, m->page);
	size_t end = (off + len) / m->page * m->page;
	if (start >= end) {
		memset(m->base + off, 0, len);
		return;
	}
	memset(m->base + off, 0, start - off);
	/* MADV_DONTNEED on private anonymous memory: the pages are freed and read back as zeroes. */
	if (madvise(m->base + start, end - start, MADV_DONTNEED) != 0)
		memset(m->base + start, 0, end - start);
	memset(m->base + end, 0, off + len - end);
}

static int malloc_submit(struct blk_dev *dev, struct blk_io *io)
{
	struct malloc_ctx *m = dev->ctx;
	size_t off = (size_t)io->lba * dev->info.block_size;
	size_t len = (size_t)io->nblocks * dev->info.block_size;

	switch (io->op) {
	case BLK_OP_READ:
		iov_from_buf(io->iov, io->iovcnt, 0, m->base + off, len);
		break;
	case BLK_OP_WRITE:
		iov_to_buf(io->iov, io->iovcnt, 0, m->base + off, len);
		break;
	case BLK_OP_FLUSH:
		break;
	case BLK_OP_UNMAP:
	case BLK_OP_WRITE_ZEROES:
		malloc_zero_range(m, off, len);
		break;
	}
	blk_complete_later(io, 0);
	return 0;
}

/* Is any page of block b resident? vec covers the pages from byte first_page on. */
static bool block_resident(const struct malloc_ctx *m, uint64_t b, uint32_t bs, size_t first_page,
			   const unsigned char *vec)
{
	size_t p0 = (size_t)(b * bs) / m->page, p1 = (size_t)((b + 1) * bs - 1) / m->page;
	for (size_t p = p0; p <= p1; p++)
		if (vec[p - first_page] & 1)
			return true;
	return false;
}

/* Thin provisioning report from page residency (mincore), a window of
 * MALLOC_LBA_WINDOW pages at a time. A block only ever read counts as
 * mapped (reads map the zero page): the safe side. */
#define MALLOC_LBA_WINDOW 256u
static int malloc_get_lba_status(struct blk_dev *dev, uint64_t lba, uint64_t *nblocks_same, bool *mapped)
{
	struct malloc_ctx *m = dev->ctx;
	uint32_t bs = dev->info.block_size;
	uint64_t nb = dev->info.num_blocks;
	if (lba >= nb)
		return -EINVAL;
	size_t first_page = (size_t)(lba * bs) / m->page;
	size_t npages = MIN((m->len + m->page - 1) / m->page - first_page, (size_t)MALLOC_LBA_WINDOW);
	unsigned char vec[MALLOC_LBA_WINDOW];
	if (mincore(m->base + first_page * m->page, npages * m->page, vec) != 0) {
		*mapped = true;
		*nblocks_same = nb - lba;
		return 0;
	}
	size_t end_byte = (first_page + npages) * m->page;
	*mapped = block_resident(m, lba, bs, first_page, vec);
	uint64_t b = lba + 1;
	while (b < nb && (b + 1) * bs <= end_byte && block_resident(m, b, bs, first_page, vec) == *mapped)
		b++;
	*nblocks_same = b - lba;
	return 0;
}

static void malloc_destroy(struct blk_dev *dev)
{
	struct malloc_ctx *m = dev->ctx;
	munmap(m->base, m->len);
	free(m);
	free(dev);
}

static const struct blk_ops malloc_ops = {
	.name = "malloc",
	.submit = malloc_submit,
	.destroy = malloc_destroy,
	.get_lba_status = malloc_get_lba_status,
};

int blk_malloc_create(const char *name, uint64_t size_bytes, uint32_t block_size, struct blk_dev **out)
{
	struct blk_dev *dev;
	int rc = blk_mem_dev_alloc(name, size_bytes, block_size, &malloc_ops, &dev);
	if (rc)
		return rc;
	if (size_bytes > (uint64_t)SIZE_MAX / 2) {
		free(dev);
		return -ENOMEM;
	}
	struct malloc_ctx *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		free(dev);
		return -ENOMEM;
	}
	m->len = (size_t)size_bytes;
	m->page = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		free(m);
		free(dev);
		return -ENOMEM;
	}
	m->base = p;
	dev->ctx = m;
	*out = dev;
	return 0;
}

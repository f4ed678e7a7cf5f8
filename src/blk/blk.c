/* blk.c - block layer entry points: request validation before a backend sees it, destroy, status names. */
#include <errno.h>
#include <stddef.h>

#include "blk/blk.h"
#include "blk/blk_internal.h"
#include "core/util.h"

struct blk_later {
	struct reactor_defer d;
	int status;
};
_Static_assert(sizeof(struct blk_later) <= sizeof(((struct blk_io *)0)->priv), "blk_later must fit in blk_io.priv");

#define BLK_KNOWN_FLAGS (BLK_F_FUA | BLK_F_UNMAP)

static int check_rw_iov(const struct blk_dev *dev, const struct blk_io *io)
{
	if (io->iovcnt <= 0 || io->iov == NULL)
		return -EINVAL;
	uint64_t want = (uint64_t)io->nblocks * dev->info.block_size;
	uint64_t have = 0;
	for (int i = 0; i < io->iovcnt; i++) {
		if (io->iov[i].iov_len > want - have) /* also catches overflow of the sum */
			return -EINVAL;
		if (io->iov[i].iov_len != 0 && io->iov[i].iov_base == NULL)
			return -EINVAL;
		have += io->iov[i].iov_len;
	}
	return have == want ? 0 : -EINVAL;
}

int blk_submit(struct blk_dev *dev, struct blk_io *io)
{
	if (dev == NULL || io == NULL || dev->ops == NULL || dev->ops->submit == NULL || io->cb == NULL)
		return -EINVAL;
	if (dev->info.block_size == 0)
		return -EINVAL;
	io->dev = dev;
	if (io->flags & ~BLK_KNOWN_FLAGS)
		return -EINVAL;

	bool writes = false;
	switch (io->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		if (io->nblocks == 0)
			return -EINVAL;
		if (dev->info.max_xfer_blocks != 0 && io->nblocks > dev->info.max_xfer_blocks)
			return -EINVAL;
		writes = io->op == BLK_OP_WRITE;
		break;
	case BLK_OP_FLUSH:
		break;
	case BLK_OP_UNMAP:
	case BLK_OP_WRITE_ZEROES:
		if (io->nblocks == 0)
			return -EINVAL;
		writes = true;
		break;
	default:
		return -EINVAL;
	}

	/* num_blocks may be raised by refresh() from another thread. */
	uint64_t num_blocks = __atomic_load_n(&dev->info.num_blocks, __ATOMIC_RELAXED);
	if (io->lba > num_blocks || io->nblocks > num_blocks - io->lba)
		return -EINVAL;
	if (writes && dev->info.read_only)
		return -EROFS;
	if (io->op == BLK_OP_READ || io->op == BLK_OP_WRITE) {
		int rc = check_rw_iov(dev, io);
		if (rc)
			return rc;
	}
	return dev->ops->submit(dev, io);
}

int blk_refresh(struct blk_dev *dev)
{
	if (dev == NULL || dev->ops == NULL)
		return -EINVAL;
	if (dev->ops->refresh == NULL)
		return -EOPNOTSUPP;
	return dev->ops->refresh(dev);
}

void blk_destroy(struct blk_dev *dev)
{
	if (dev == NULL)
		return;
	if (dev->ops != NULL && dev->ops->destroy != NULL)
		dev->ops->destroy(dev);
}

static void blk_later_fire(void *arg)
{
	struct blk_io *io = arg;
	struct blk_later *l = (struct blk_later *)(void *)&io->priv;
	io->cb(io, l->status);
}

void blk_complete_later(struct blk_io *io, int status)
{
	struct blk_later *l = (struct blk_later *)(void *)&io->priv;
	l->status = status;
	reactor_defer(&l->d, blk_later_fire, io);
}

int blk_errno_to_status(int err)
{
	if (err > 0)
		err = -err;
	switch (err) {
	case 0:
	case -EIO:
	case -ENOSPC:
	case -ENODEV:
	case -EROFS:
	case -EINVAL:
	case -ENOMEM:
		return err;
	case -EDQUOT:
	case -EFBIG:
		return -ENOSPC;
	case -ENXIO:
	case -EBADF:
		return -ENODEV;
	default:
		return -EIO;
	}
}

const char *blk_strerror(int status)
{
	switch (status) {
	case 0: return "success";
	case -EIO: return "medium or device error";
	case -ENOSPC: return "out of space";
	case -ENODEV: return "device gone";
	case -EROFS: return "device is read-only";
	case -EINVAL: return "request outside the device or malformed";
	case -ENOMEM: return "out of memory (transient, retry)";
	case -EOPNOTSUPP: return "operation not supported by the device";
	case -ETIMEDOUT: return "timed out";
	case -ECANCELED: return "canceled";
	default: return "unknown block status";
	}
}

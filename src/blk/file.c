/* file.c - file and block-device backend: requests go through the calling reactor's io_uring. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "blk/blk.h"
#include "blk/blk_internal.h"
#include "core/bufpool.h"
#include "core/log.h"
#include "core/reactor.h"
#include "core/util.h"

/*
 * One file descriptor per device, shared by every reactor: each request
 * becomes SQEs on the submitting reactor's ring and completes from its
 * CQE callback, so the data path takes no lock. Short transfers are
 * resubmitted for the remainder, -EAGAIN/-EINTR are retried a bounded
 * number of times. With O_DIRECT, iovecs the device cannot take (address
 * or length not aligned) go through a 4 KiB-aligned bounce buffer.
 * UNMAP and WRITE_ZEROES walk a chain: punch a hole (deallocates), else
 * zero the range with fallocate, else write zero buffers; a step the file
 * system refuses with -EOPNOTSUPP is remembered and skipped afterwards.
 */

#define FILE_OPT_XFER_BYTES (1u << 20)
#define FILE_MAX_XFER_BYTES (8u << 20)
#define FILE_ZERO_BUF_BYTES (256u << 10)
#define FILE_MAX_RETRIES    16u
#define FILE_MAX_SQE_BYTES  (1u << 30)

struct file_ctx {
	int fd;
	bool blkdev;
	bool direct;
	bool created;             /* we created the file (unlinked again if create fails) */
	uint64_t fixed_bytes;     /* block device: size the user asked for (0 = whole device) */
	uint32_t mem_align;       /* direct: iovec address alignment */
	uint32_t len_align;       /* direct: iovec length / file offset alignment */
	void *zero_buf;           /* FILE_ZERO_BUF_BYTES of zeroes, read-only once created */
	atomic_bool punch_ok;
	atomic_bool zero_range_ok;
	atomic_uint_fast64_t bounced, short_xfers, retries, zero_fallbacks;
};

enum file_stage { ST_RW, ST_FLUSH, ST_PUNCH, ST_ZERO_RANGE, ST_ZERO_WRITE };

/* Per-request state, kept in blk_io.priv. */
struct file_io {
	struct reactor_uring_req req;
	struct blk_io *io;
	uint8_t *bounce;
	uint64_t off;             /* byte offset of the request in the file */
	uint64_t total;           /* bytes to move or zero */
	uint64_t done;
	uint32_t retries;
	uint8_t stage;
};
_Static_assert(sizeof(struct file_io) <= sizeof(((struct blk_io *)0)->priv), "file_io must fit in blk_io.priv");

static const char *op_name(enum blk_op op)
{
	static const char *const names[] = {"read", "write", "flush", "unmap", "write-zeroes"};
	return (unsigned)op < ARRAY_SIZE(names) ? names[op] : "?";
}

static struct file_io *fio_of(struct blk_io *io)
{
	return (struct file_io *)(void *)&io->priv;
}

static void stat_inc(atomic_uint_fast64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void file_issue(struct file_ctx *f, struct file_io *fio);

static void file_finish(struct file_io *fio, int status)
{
	struct blk_io *io = fio->io;
	if (fio->bounce != NULL) {
		if (status == 0 && io->op == BLK_OP_READ)
			iov_from_buf(io->iov, io->iovcnt, 0, fio->bounce, fio->total);
		buf_put(fio->bounce, fio->total);
		fio->bounce = NULL;
	}
	if (status != 0)
		log_err(LOGC_BLK, io->dev->name, "%s of %u blocks at lba %llu failed: %s", op_name(io->op),
			io->nblocks, (unsigned long long)io->lba, blk_strerror(status));
	io->cb(io, status);
}

/* Find which iovec holds byte off of the request; returns the offset inside it. */
static size_t iov_locate(const struct blk_io *io, uint64_t off, int *idx)
{
	int i = 0;
	while (i < io->iovcnt && off >= io->iov[i].iov_len) {
		off -= io->iov[i].iov_len;
		i++;
	}
	*idx = i;
	return (size_t)off;
}

static void prep_rw(struct file_ctx *f, struct file_io *fio, struct io_uring_sqe *sqe, uint64_t pos, uint64_t left)
{
	struct blk_io *io = fio->io;
	bool wr = io->op == BLK_OP_WRITE;
	if (fio->bounce != NULL) {
		io_uring_prep_rw(wr ? IORING_OP_WRITE : IORING_OP_READ, sqe, f->fd, fio->bounce + fio->done,
				 (unsigned)MIN(left, FILE_MAX_SQE_BYTES), pos);
	} else {
		int i;
		size_t in = iov_locate(io, fio->done, &i);
		if (in == 0) {
			io_uring_prep_rw(wr ? IORING_OP_WRITEV : IORING_OP_READV, sqe, f->fd, &io->iov[i],
					 (unsigned)(io->iovcnt - i), pos);
		} else {
			/* Resuming inside an iovec: move the rest of that one alone, then go on with readv/writev. */
			size_t n = MIN(io->iov[i].iov_len - in, FILE_MAX_SQE_BYTES);
			io_uring_prep_rw(wr ? IORING_OP_WRITE : IORING_OP_READ, sqe, f->fd,
					 (uint8_t *)io->iov[i].iov_base + in, (unsigned)n, pos);
		}
	}
	if (wr && (io->flags & BLK_F_FUA))
		sqe->rw_flags = RWF_DSYNC;
}

static void file_issue(struct file_ctx *f, struct file_io *fio)
{
	struct io_uring_sqe *sqe = reactor_uring_sqe(&fio->req);
	uint64_t pos = fio->off + fio->done;
	uint64_t left = fio->total - fio->done;

	switch ((enum file_stage)fio->stage) {
	case ST_RW:
		prep_rw(f, fio, sqe, pos, left);
		break;
	case ST_FLUSH:
		io_uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		break;
	case ST_PUNCH:
		io_uring_prep_fallocate(sqe, f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)pos, (off_t)left);
		break;
	case ST_ZERO_RANGE:
		io_uring_prep_fallocate(sqe, f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)pos, (off_t)left);
		break;
	case ST_ZERO_WRITE:
		io_uring_prep_rw(IORING_OP_WRITE, sqe, f->fd, f->zero_buf, (unsigned)MIN(left, FILE_ZERO_BUF_BYTES), pos);
		break;
	}
}

static uint8_t zero_first_stage(struct file_ctx *f, bool may_unmap)
{
	if (may_unmap && atomic_load_explicit(&f->punch_ok, memory_order_relaxed))
		return ST_PUNCH;
	if (atomic_load_explicit(&f->zero_range_ok, memory_order_relaxed))
		return ST_ZERO_RANGE;
	return ST_ZERO_WRITE;
}

/* A read found the end of the file: the rest of the request reads as zeroes. */
static void file_zero_tail(struct file_io *fio)
{
	size_t left = (size_t)(fio->total - fio->done);
	if (fio->bounce != NULL)
		memset(fio->bounce + fio->done, 0, left);
	else
		iov_memset(fio->io->iov, fio->io->iovcnt, (size_t)fio->done, 0, left);
	fio->done = fio->total;
}

/* A transfer step moved res bytes (res > 0): account them and go on, or finish. */
static void file_progress(struct file_ctx *f, struct file_io *fio, int res)
{
	uint64_t before = fio->done;
	fio->done += (uint64_t)res;
	if (fio->done >= fio->total) {
		file_finish(fio, 0);
		return;
	}
	if (fio->stage == ST_RW)
		stat_inc(&f->short_xfers);
	if (f->direct && fio->done % f->len_align != 0) {
		if (fio->stage == ST_RW && fio->io->op == BLK_OP_READ && !f->blkdev) {
			/* Only the end of a file that shrank under us cuts a direct read unaligned. */
			file_zero_tail(fio);
			file_finish(fio, 0);
			return;
		}
		/* O_DIRECT must resume on an aligned offset: redo the unaligned tail. */
		fio->done = fio->done / f->len_align * f->len_align;
		if (fio->done <= before && ++fio->retries > FILE_MAX_RETRIES) {
			file_finish(fio, -EIO);
			return;
		}
	}
	file_issue(f, fio);
}

static void file_cqe(struct reactor_uring_req *req, int res, uint32_t cqe_flags UNUSED)
{
	struct file_io *fio = container_of(req, struct file_io, req);
	struct blk_io *io = fio->io;
	struct file_ctx *f = io->dev->ctx;

	if (res == -EAGAIN || res == -EINTR) {
		stat_inc(&f->retries);
		if (fio->retries++ < FILE_MAX_RETRIES)
			file_issue(f, fio);
		else
			file_finish(fio, -EIO);
		return;
	}

	switch ((enum file_stage)fio->stage) {
	case ST_RW:
		if (res < 0) {
			file_finish(fio, blk_errno_to_status(res));
		} else if (res == 0) {
			if (io->op == BLK_OP_READ && !f->blkdev) {
				/* End of a file that shrank under us: the rest reads as zeroes. */
				file_zero_tail(fio);
				file_finish(fio, 0);
			} else {
				file_finish(fio, -EIO);
			}
		} else {
			file_progress(f, fio, res);
		}
		return;
	case ST_FLUSH:
		file_finish(fio, res < 0 ? blk_errno_to_status(res) : 0);
		return;
	case ST_PUNCH:
	case ST_ZERO_RANGE:
		if (res == -EOPNOTSUPP) {
			atomic_bool *flag = fio->stage == ST_PUNCH ? &f->punch_ok : &f->zero_range_ok;
			if (atomic_exchange(flag, false))
				log_notice(LOGC_BLK, io->dev->name, "%s not supported here; falling back",
					   fio->stage == ST_PUNCH ? "punching holes" : "fallocate zero-range");
			stat_inc(&f->zero_fallbacks);
			fio->stage = zero_first_stage(f, false);
			file_issue(f, fio);
			return;
		}
		file_finish(fio, res < 0 ? blk_errno_to_status(res) : 0);
		return;
	case ST_ZERO_WRITE:
		if (res < 0)
			file_finish(fio, blk_errno_to_status(res));
		else if (res == 0)
			file_finish(fio, -EIO);
		else
			file_progress(f, fio, res);
		return;
	}
}

static bool iov_direct_ok(const struct file_ctx *f, const struct blk_io *io)
{
	for (int i = 0; i < io->iovcnt; i++) {
		if ((uintptr_t)io->iov[i].iov_base % f->mem_align != 0 || io->iov[i].iov_len % f->len_align != 0)
			return false;
	}
	return true;
}

static int file_submit(struct blk_dev *dev, struct blk_io *io)
{
	struct file_ctx *f = dev->ctx;
	struct file_io *fio = fio_of(io);

	memset(fio, 0, sizeof(*fio));
	fio->req.cb = file_cqe;
	fio->io = io;
	fio->off = io->lba * dev->info.block_size;
	fio->total = (uint64_t)io->nblocks * dev->info.block_size;

	switch (io->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		fio->stage = ST_RW;
		if ((f->direct && !iov_direct_ok(f, io)) || io->iovcnt > IOV_MAX) {
			fio->bounce = buf_get(fio->total);
			if (fio->bounce == NULL)
				return -ENOMEM;
			stat_inc(&f->bounced);
			if (io->op == BLK_OP_WRITE)
				iov_to_buf(io->iov, io->iovcnt, 0, fio->bounce, fio->total);
		}
		break;
	case BLK_OP_FLUSH:
		fio->stage = ST_FLUSH;
		break;
	case BLK_OP_UNMAP:
		fio->stage = zero_first_stage(f, true);
		break;
	case BLK_OP_WRITE_ZEROES:
		fio->stage = zero_first_stage(f, (io->flags & BLK_F_UNMAP) != 0);
		break;
	default:
		return -EINVAL;
	}
	file_issue(f, fio);
	return 0;
}

static uint64_t file_current_bytes(struct file_ctx *f, int *err)
{
	*err = 0;
	if (f->blkdev) {
		uint64_t bytes = 0;
		if (ioctl(f->fd, BLKGETSIZE64, &bytes) != 0)
			*err = -errno;
		return bytes;
	}
	struct stat st;
	if (fstat(f->fd, &st) != 0) {
		*err = -errno;
		return 0;
	}
	return (uint64_t)st.st_size;
}

static int file_refresh(struct blk_dev *dev)
{
	struct file_ctx *f = dev->ctx;
	int err;
	uint64_t bytes = file_current_bytes(f, &err);
	if (err)
		return err;
	if (f->fixed_bytes != 0)
		bytes = MIN(bytes, f->fixed_bytes);
	uint64_t nb = bytes / dev->info.block_size;
	uint64_t old = __atomic_exchange_n(&dev->info.num_blocks, nb, __ATOMIC_RELAXED);
	if (old != nb)
		log_info(LOGC_BLK, dev->name, "size changed from %llu to %llu blocks", (unsigned long long)old,
			 (unsigned long long)nb);
	return 0;
}

/* Thin provisioning report from the file's holes (SEEK_DATA/SEEK_HOLE): a
 * block with any data in it counts as mapped. Block devices report mapped. */
static int file_get_lba_status(struct blk_dev *dev, uint64_t lba, uint64_t *nblocks_same, bool *mapped)
{
	struct file_ctx *f = dev->ctx;
	uint64_t nb = __atomic_load_n(&dev->info.num_blocks, __ATOMIC_RELAXED);
	uint64_t bs = dev->info.block_size;
	if (lba >= nb)
		return -EINVAL;
	uint64_t left = nb - lba;
	*mapped = true;
	*nblocks_same = left;
	if (f->blkdev)
		return 0;
	off_t off = (off_t)(lba * bs);
	off_t data = lseek(f->fd, off, SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO) { /* no data from off to the end of the file */
			*mapped = false;
			return 0;
		}
		return errno == EINVAL || errno == EOPNOTSUPP ? 0 : -errno; /* no hole support: all mapped */
	}
	uint64_t hole_blocks = (uint64_t)(data - off) / bs;
	if (hole_blocks > 0) {
		*mapped = false;
		*nblocks_same = MIN(hole_blocks, left);
		return 0;
	}
	off_t hole = lseek(f->fd, data, SEEK_HOLE);
	if (hole < 0)
		return -errno;
	*nblocks_same = MIN(MAX(((uint64_t)(hole - off) + bs - 1) / bs, 1u), left);
	return 0;
}

static void file_ctx_free(struct file_ctx *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->zero_buf);
	free(f);
}

static void file_destroy(struct blk_dev *dev)
{
	file_ctx_free(dev->ctx);
	free(dev);
}

static const struct blk_ops file_ops = {
	.name = "file",
	.submit = file_submit,
	.destroy = file_destroy,
	.refresh = file_refresh,
	.get_lba_status = file_get_lba_status,
};

int blk_file_get_stats(struct blk_dev *dev, struct blk_file_stats *out)
{
	if (dev == NULL || out == NULL || dev->ops != &file_ops)
		return -EINVAL;
	struct file_ctx *f = dev->ctx;
	memset(out, 0, sizeof(*out));
	out->direct = f->direct;
	out->dio_mem_align = f->direct ? f->mem_align : 0;
	out->dio_len_align = f->direct ? f->len_align : 0;
	out->bounced = atomic_load(&f->bounced);
	out->short_transfers = atomic_load(&f->short_xfers);
	out->retries = atomic_load(&f->retries);
	out->zero_fallbacks = atomic_load(&f->zero_fallbacks);
	return 0;
}

/* ---- opening ---- */

/* Read a queue attribute of the block device dev_t (or of its parent disk for a partition). */
static int read_queue_attr(dev_t d, const char *attr, char *buf, size_t len)
{
	static const char *const fmts[] = {"/sys/dev/block/%u:%u/queue/%s", "/sys/dev/block/%u:%u/../queue/%s"};
	for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
		char path[128];
		snprintf(path, sizeof(path), fmts[i], major(d), minor(d), attr);
		FILE *fp = fopen(path, "re");
		if (fp == NULL)
			continue;
		char *s = fgets(buf, (int)len, fp);
		fclose(fp);
		if (s == NULL)
			continue;
		buf[strcspn(buf, "\n")] = '\0';
		return 0;
	}
	return -ENOENT;
}

static void file_setup_direct(struct file_ctx *f, const char *name, uint32_t bs, uint32_t dev_lbs)
{
	uint32_t mem, len;
	struct statx sx;
	if (statx(f->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN)) {
		if (sx.stx_dio_offset_align == 0) {
			log_notice(LOGC_BLK, name, "file system does not support O_DIRECT; using buffered I/O");
			return;
		}
		mem = MAX(sx.stx_dio_mem_align, 1u);
		len = sx.stx_dio_offset_align;
	} else if (f->blkdev) {
		mem = len = dev_lbs;
	} else {
		mem = len = 4096; /* alignment unknown: the safe choice */
	}
	if (mem > 4096 || bs % len != 0) {
		log_notice(LOGC_BLK, name, "block size %u is finer than direct I/O allows (%u); using buffered I/O", bs,
			   len);
		return;
	}
	int fl = fcntl(f->fd, F_GETFL);
	if (fl < 0 || fcntl(f->fd, F_SETFL, fl | O_DIRECT) != 0) {
		log_notice(LOGC_BLK, name, "O_DIRECT refused (%s); using buffered I/O", strerror(errno));
		return;
	}
	void *buf = buf_get(bs);
	ssize_t n = buf != NULL ? pread(f->fd, buf, bs, 0) : -1;
	int probe_errno = errno;
	if (buf != NULL)
		buf_put(buf, bs);
	if (n < 0) {
		fcntl(f->fd, F_SETFL, fl);
		log_notice(LOGC_BLK, name, "O_DIRECT probe read failed (%s); using buffered I/O",
			   buf != NULL ? strerror(probe_errno) : "out of memory");
		return;
	}
	f->direct = true;
	f->mem_align = mem;
	f->len_align = len;
}

static bool valid_block_size(uint32_t bs)
{
	return bs >= 512 && bs <= 65536 && (bs & (bs - 1)) == 0;
}

/* Size a regular file per opts (see blk.h); returns the usable byte count or -errno in *err. */
static uint64_t size_regular(struct file_ctx *f, const char *name, const struct blk_file_opts *opts, uint32_t bs,
			     int *err)
{
	struct stat st;
	*err = 0;
	if (fstat(f->fd, &st) != 0) {
		*err = -errno;
		return 0;
	}
	uint64_t cur = (uint64_t)st.st_size;
	if (opts->size_bytes == 0) {
		if (cur % bs != 0)
			log_notice(LOGC_BLK, name, "%s: ignoring %llu trailing bytes past the last whole block",
				   opts->path, (unsigned long long)(cur % bs));
		return cur / bs * bs;
	}
	if (opts->size_bytes % bs != 0) {
		log_err(LOGC_BLK, name, "size %llu is not a multiple of the block size %u",
			(unsigned long long)opts->size_bytes, bs);
		*err = -EINVAL;
		return 0;
	}
	if (cur > opts->size_bytes) {
		log_err(LOGC_BLK, name,
			"%s holds %llu bytes, more than the requested %llu; refusing to hide data (give size 0 to use the whole file)",
			opts->path, (unsigned long long)cur, (unsigned long long)opts->size_bytes);
		*err = -EINVAL;
		return 0;
	}
	if (cur < opts->size_bytes) {
		if (opts->read_only) {
			log_err(LOGC_BLK, name, "%s is smaller than the requested size and is opened read-only",
				opts->path);
			*err = -EINVAL;
			return 0;
		}
		if (ftruncate(f->fd, (off_t)opts->size_bytes) != 0) {
			*err = -errno;
			return 0;
		}
	}
	return opts->size_bytes;
}

static int file_open(struct file_ctx *f, const char *name, const struct blk_file_opts *opts, uint32_t *bs,
		     uint64_t *bytes, uint32_t *phys, dev_t *qdev)
{
	struct stat st;
	bool exists = stat(opts->path, &st) == 0;
	if (!exists && errno != ENOENT)
		return -errno;
	if (!exists && (opts->read_only || opts->size_bytes == 0)) {
		log_err(LOGC_BLK, name, "%s does not exist (give a size to create it)", opts->path);
		return -ENOENT;
	}
	if (exists && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		log_err(LOGC_BLK, name, "%s is neither a regular file nor a block device", opts->path);
		return -EINVAL;
	}
	f->blkdev = exists && S_ISBLK(st.st_mode);
	int flags = (opts->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	if (f->blkdev && !opts->read_only)
		flags |= O_EXCL; /* refuse a device that is mounted or claimed */
	if (!exists)
		flags |= O_CREAT | O_EXCL;
	f->fd = open(opts->path, flags, 0600);
	if (f->fd < 0) {
		int e = errno;
		log_err(LOGC_BLK, name, "cannot open %s: %s", opts->path, strerror(e));
		return -e;
	}
	f->created = !exists;
	if (fstat(f->fd, &st) != 0)
		return -errno;

	int err = 0;
	uint32_t dev_lbs = 0;
	if (f->blkdev) {
		int lbs = 512;
		unsigned int pbs = 0;
		uint64_t dev_bytes = 0;
		if (ioctl(f->fd, BLKGETSIZE64, &dev_bytes) != 0 || ioctl(f->fd, BLKSSZGET, &lbs) != 0)
			return -errno;
		if (ioctl(f->fd, BLKPBSZGET, &pbs) != 0)
			pbs = (unsigned)lbs;
		if (*bs == 0)
			*bs = (uint32_t)lbs;
		if (!valid_block_size(*bs))
			return -EINVAL;
		if (opts->size_bytes != 0) {
			if (opts->size_bytes > dev_bytes || opts->size_bytes % *bs != 0) {
				log_err(LOGC_BLK, name, "size %llu does not fit device %s (%llu bytes, block %u)",
					(unsigned long long)opts->size_bytes, opts->path,
					(unsigned long long)dev_bytes, *bs);
				return -EINVAL;
			}
			f->fixed_bytes = opts->size_bytes;
			*bytes = opts->size_bytes;
		} else {
			*bytes = dev_bytes / *bs * *bs;
		}
		*phys = pbs;
		*qdev = st.st_rdev;
		dev_lbs = (uint32_t)lbs;
	} else {
		if (*bs == 0)
			*bs = 512;
		if (!valid_block_size(*bs))
			return -EINVAL;
		*bytes = size_regular(f, name, opts, *bs, &err);
		if (err)
			return err;
		*phys = (uint32_t)st.st_blksize;
		*qdev = st.st_dev;
	}
	if (*bytes < *bs) {
		log_err(LOGC_BLK, name, "%s is smaller than one block", opts->path);
		return -EINVAL;
	}
	if (opts->direct)
		file_setup_direct(f, name, *bs, dev_lbs);
	return 0;
}

/* Can this file punch holes? Probed past the end of the file, where it cannot touch data. */
static bool probe_punch(struct file_ctx *f, uint64_t bytes)
{
	off_t at = (off_t)ALIGN_UP(bytes, 65536) + 65536;
	return fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, 65536) == 0;
}

int blk_file_create(const char *name, const struct blk_file_opts *opts, struct blk_dev **out)
{
	if (name == NULL || opts == NULL || opts->path == NULL || out == NULL)
		return -EINVAL;
	struct file_ctx *f = calloc(1, sizeof(*f));
	struct blk_dev *dev = calloc(1, sizeof(*dev));
	if (f == NULL || dev == NULL) {
		free(f);
		free(dev);
		return -ENOMEM;
	}
	f->fd = -1;
	snprintf(dev->name, sizeof(dev->name), "%s", name);

	uint32_t bs = opts->block_size, phys = 0;
	uint64_t bytes = 0;
	dev_t qdev = 0;
	int rc = file_open(f, dev->name, opts, &bs, &bytes, &phys, &qdev);
	if (rc == 0 && !opts->read_only) {
		f->zero_buf = aligned_alloc(4096, FILE_ZERO_BUF_BYTES);
		if (f->zero_buf == NULL)
			rc = -ENOMEM;
		else
			memset(f->zero_buf, 0, FILE_ZERO_BUF_BYTES);
	}
	if (rc != 0) {
		if (f->created)
			unlink(opts->path);
		file_ctx_free(f);
		free(dev);
		return rc;
	}

	struct blk_info *in = &dev->info;
	in->block_size = bs;
	in->num_blocks = bytes / bs;
	in->opt_xfer_blocks = MAX(FILE_OPT_XFER_BYTES / bs, 1u);
	in->max_xfer_blocks = MAX(FILE_MAX_XFER_BYTES / bs, 1u);
	for (uint32_t p = phys; p > bs && (p & (p - 1)) == 0 && in->phys_block_exp < 8; p >>= 1)
		in->phys_block_exp++;
	in->read_only = opts->read_only;

	char attr[64];
	in->rotational = read_queue_attr(qdev, "rotational", attr, sizeof(attr)) == 0 && strcmp(attr, "1") == 0;
	atomic_init(&f->zero_range_ok, true);
	if (f->blkdev) {
		bool wb = read_queue_attr(qdev, "write_cache", attr, sizeof(attr)) == 0 &&
			  strcmp(attr, "write back") == 0;
		in->volatile_cache = wb || !f->direct;
		bool wz = read_queue_attr(qdev, "write_zeroes_max_bytes", attr, sizeof(attr)) == 0 &&
			  strtoull(attr, NULL, 10) > 0;
		atomic_init(&f->punch_ok, wz);
	} else {
		/* Page cache when buffered, and block allocation metadata even with O_DIRECT. */
		in->volatile_cache = true;
		atomic_init(&f->punch_ok, !opts->read_only && probe_punch(f, bytes));
	}
	in->supports_unmap = !opts->read_only && atomic_load(&f->punch_ok);
	in->unmap_zeroes = true; /* every UNMAP path (punch, zero-range, zero writes) leaves zeroes */

	dev->ops = &file_ops;
	dev->ctx = f;
	log_info(LOGC_BLK, dev->name, "%s %s: %llu blocks of %u, %s%s%s", f->blkdev ? "device" : "file", opts->path,
		 (unsigned long long)in->num_blocks, bs, f->direct ? "direct" : "buffered",
		 in->supports_unmap ? ", unmap" : "", in->read_only ? ", read-only" : "");
	*out = dev;
	return 0;
}

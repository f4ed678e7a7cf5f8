/* blk.h - the block device layer: an async ops table every backend (file, malloc, null, error, raid, cache) implements. */
#ifndef SOFTHBA_BLK_BLK_H
#define SOFTHBA_BLK_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/reactor.h"

/*
 * A blk_dev is one block device. A volume is a stack of them (cache over
 * raid over file members). Requests are submitted on a reactor and
 * complete on the same reactor, through io->cb, never from inside
 * blk_submit() itself (a backend that finishes at once defers the
 * callback with reactor_defer()). A device accepts submissions from every
 * reactor concurrently; per-reactor state (an io_uring) lives in the
 * reactor, so the data path takes no locks.
 *
 * Status passed to cb: 0, or -errno:
 *   -EIO       medium/device error          -ENOSPC  out of space (thin)
 *   -ENODEV    device gone                  -EROFS   device is read-only
 *   -EINVAL    request outside the device or malformed
 *   -ENOMEM    transient: caller may retry
 */

enum blk_op {
	BLK_OP_READ = 0,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,        /* make every completed write durable */
	BLK_OP_UNMAP,        /* deallocate [lba, lba+nblocks); reads return zeroes afterwards */
	BLK_OP_WRITE_ZEROES, /* write zeroes to [lba, lba+nblocks) (may deallocate if BLK_F_UNMAP) */
};

#define BLK_F_FUA   0x1u /* write: durable before completion */
#define BLK_F_UNMAP 0x2u /* write-zeroes: deallocation allowed */

struct blk_dev;
struct blk_io;

typedef void (*blk_cb)(struct blk_io *io, int status);

struct blk_io {
	struct blk_dev *dev;
	enum blk_op op;
	uint32_t flags;
	uint64_t lba;            /* in the device's blocks */
	uint32_t nblocks;        /* 0 is valid for FLUSH only */
	struct iovec *iov;       /* READ/WRITE data: exactly nblocks * block_size bytes */
	int iovcnt;
	blk_cb cb;
	void *cb_arg;            /* for the submitter */
	/* Backend scratch space, valid from submit until cb. */
	union {
		uint64_t u64[16];
		void *ptr[16];
	} priv;
};

struct blk_info {
	uint32_t block_size;      /* bytes per logical block: 512 or 4096 */
	uint64_t num_blocks;
	uint32_t opt_xfer_blocks; /* optimal transfer length, 0 = not stated */
	uint32_t max_xfer_blocks; /* largest single request, 0 = no limit */
	uint32_t phys_block_exp;  /* physical block = block_size << exp */
	bool supports_unmap;      /* UNMAP / WRITE_ZEROES with BLK_F_UNMAP deallocate */
	bool unmap_zeroes;        /* unmapped blocks read back as zeroes */
	bool volatile_cache;      /* completed writes may be lost without FLUSH */
	bool read_only;
	bool rotational;
};

struct blk_ops {
	const char *name;
	/* Start io; complete it through io->cb later (never inside this call).
	 * Returns 0 when accepted; -errno when refused at once (then cb is
	 * not called). */
	int (*submit)(struct blk_dev *dev, struct blk_io *io);
	/* Release everything; no I/O may be in flight. */
	void (*destroy)(struct blk_dev *dev);
	/* Optional: re-read the size (e.g. the file grew); returns 0 or -errno. */
	int (*refresh)(struct blk_dev *dev);
	/* Optional (thin provisioning, SCSI GET LBA STATUS): is lba mapped
	 * (allocated) or deallocated, and for how many blocks from lba does that
	 * stay the same (*nblocks_same >= 1). Synchronous and cheap (no data
	 * I/O); callable from any reactor. Returns 0 or -errno. Absent: every
	 * block counts as mapped. */
	int (*get_lba_status)(struct blk_dev *dev, uint64_t lba, uint64_t *nblocks_same, bool *mapped);
};

struct blk_dev {
	const struct blk_ops *ops;
	char name[64];
	struct blk_info info;
	void *ctx;               /* backend private */
};

/* Submit io on dev after checking the range against the device (and
 * read-only). Returns 0 or -errno; on -errno cb is not called. */
int blk_submit(struct blk_dev *dev, struct blk_io *io);

/* Fill io for the common cases. */
static inline void blk_io_prep(struct blk_io *io, struct blk_dev *dev, enum blk_op op, uint64_t lba,
			       uint32_t nblocks, struct iovec *iov, int iovcnt, blk_cb cb, void *cb_arg)
{
	io->dev = dev;
	io->op = op;
	io->flags = 0;
	io->lba = lba;
	io->nblocks = nblocks;
	io->iov = iov;
	io->iovcnt = iovcnt;
	io->cb = cb;
	io->cb_arg = cb_arg;
}

void blk_destroy(struct blk_dev *dev);

/* Re-read the size through ops->refresh (e.g. after the file grew).
 * Returns 0, -EOPNOTSUPP when the backend has no refresh, or -errno. */
int blk_refresh(struct blk_dev *dev);

/* ---- backends ---- */

struct blk_file_opts {
	const char *path;
	uint64_t size_bytes;     /* create/extend a regular file to this size (sparse); 0 = use as is */
	uint32_t block_size;     /* 0 = 512 */
	bool direct;             /* try O_DIRECT (falls back when the file system refuses) */
	bool read_only;
};
/* Open a regular file or block device served through io_uring. */
int blk_file_create(const char *name, const struct blk_file_opts *opts, struct blk_dev **out);

/* Counters and the I/O mode of a file device (for tests and diagnostics). */
struct blk_file_stats {
	bool direct;              /* O_DIRECT engaged */
	uint32_t dio_mem_align;   /* direct: iovec addresses must be aligned to this, else bounced */
	uint32_t dio_len_align;   /* direct: iovec lengths must be multiples of this, else bounced */
	uint64_t bounced;         /* requests copied through an aligned bounce buffer */
	uint64_t short_transfers; /* partial reads/writes whose remainder was resubmitted */
	uint64_t retries;         /* -EAGAIN/-EINTR resubmissions */
	uint64_t zero_fallbacks;  /* punch-hole/zero-range found unsupported, next method used */
};
/* Returns 0, or -EINVAL when dev is not a file device. */
int blk_file_get_stats(struct blk_dev *dev, struct blk_file_stats *out);

/* RAM-backed device of size_bytes (zero-filled, allocated lazily). */
int blk_malloc_create(const char *name, uint64_t size_bytes, uint32_t block_size, struct blk_dev **out);

/* Device that completes everything at once; reads return zeroes. */
int blk_null_create(const char *name, uint64_t size_bytes, uint32_t block_size, struct blk_dev **out);

/* ---- wrappers for testing: they sit on a base device the caller keeps
 * owning (it must outlive them; blk_destroy of the wrapper leaves it). The
 * wrapper copies the base's blk_info at creation; refresh() re-reads the
 * base's size. ---- */

/* Fault injection. Every control call may come from any thread at any time
 * and applies to requests submitted after it returns. Statuses are -errno
 * (e.g. -EIO, -ENOSPC). */
#define BLK_ERR_READ  0x1u /* reads */
#define BLK_ERR_WRITE 0x2u /* writes, unmap, write-zeroes */
#define BLK_ERR_FLUSH 0x4u /* every flush (flushes have no range) */
int blk_error_create(const char *name, struct blk_dev *base, struct blk_dev **out);
/* Requests of kinds touching [lba, lba + nblocks) fail with status (one
 * range at a time; kinds 0 clears it). */
int blk_error_fail_range(struct blk_dev *dev, unsigned kinds, uint64_t lba, uint64_t nblocks, int status);
/* The n-th request from now (1 = the next one) fails with status; with
 * sticky, every later one fails too. n 0 clears it. */
int blk_error_fail_nth(struct blk_dev *dev, uint64_t n, int status, bool sticky);
/* Every request, passed or failed, completes at least us microseconds later. */
int blk_error_set_delay_us(struct blk_dev *dev, uint64_t us);
/* "Unplug": while gone, every request fails with -ENODEV. */
int blk_error_set_gone(struct blk_dev *dev, bool gone);
/* Back to a transparent device (range, n-th, delay and gone cleared). */
int blk_error_clear(struct blk_dev *dev);
struct blk_error_stats {
	uint64_t requests;        /* submitted to the error device */
	uint64_t failed;          /* failed by injection */
};
int blk_error_get_stats(struct blk_dev *dev, struct blk_error_stats *out);

/* Disk simulation: data moves at most bytes_per_sec (0 = no cap, shared by
 * all reactors) and every request takes latency_us more. */
int blk_throttle_create(const char *name, struct blk_dev *base, uint64_t bytes_per_sec, uint64_t latency_us,
			struct blk_dev **out);
/* Change both limits at run time (any thread). */
int blk_throttle_set(struct blk_dev *dev, uint64_t bytes_per_sec, uint64_t latency_us);

/* Human name of a blk status (-errno). */
const char *blk_strerror(int status);

#endif

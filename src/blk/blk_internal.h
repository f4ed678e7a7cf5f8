/* blk_internal.h - helpers shared by the blk backends (not part of the public contract). */
#ifndef SOFTHBA_BLK_BLK_INTERNAL_H
#define SOFTHBA_BLK_BLK_INTERNAL_H

#include "blk/blk.h"

/*
 * Complete io with status at the next iteration of the calling reactor
 * (never re-entrantly). Uses io->priv.u64[0..3]: a backend that calls it
 * must not need those words afterwards. Must run on a reactor.
 */
void blk_complete_later(struct blk_io *io, int status);

/* Map a kernel errno from an I/O to one of the blk statuses listed in blk.h. */
int blk_errno_to_status(int err);

/* For the RAM backends (null, malloc): check size_bytes (a non-zero multiple
 * of the block size) and block_size (0 = 512; a power of two in 512..65536),
 * then allocate a zeroed blk_dev named name with ops. Returns 0 or -errno. */
int blk_mem_dev_alloc(const char *name, uint64_t size_bytes, uint32_t block_size, const struct blk_ops *ops,
		      struct blk_dev **out);

/* ---- wrappers: a device that forwards to a base device (error, throttle) ---- */
/* One request on the wrapper becomes one child request on the base. */
struct blk_wrap_io {
	struct blk_io child;
	struct blk_io *parent;
	struct blk_dev *base;
	struct reactor_timer timer;
	struct reactor_defer defer;
	int status;
};
/* Copy parent into a new child aimed at base; NULL when out of memory. */
struct blk_wrap_io *blk_wrap_io_new(struct blk_io *parent, struct blk_dev *base);
/* Submit the child to base now (delay_ns 0) or after delay_ns on this
 * reactor's timer; the parent completes when the child does. Called from
 * the wrapper's submit: with no delay a refusal of base is returned (w is
 * freed, the parent's cb is not called); after a delay it completes the
 * parent with that status. */
int blk_wrap_forward(struct blk_wrap_io *w, uint64_t delay_ns);
/* Complete the parent with status, deferred or after delay_ns; frees w. */
void blk_wrap_fail(struct blk_wrap_io *w, int status, uint64_t delay_ns);
/* refresh() for wrappers: refresh base, take its size. */
int blk_wrap_refresh(struct blk_dev *dev, struct blk_dev *base);
/* get_lba_status() for wrappers: the base's answer (all mapped when it has none). */
int blk_wrap_get_lba_status(struct blk_dev *base, uint64_t lba, uint64_t *nblocks_same, bool *mapped);

#endif

/* error.c - fault-injection device over another blk_dev: failing LBA ranges, the N-th request, delays, a vanished device. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk/blk.h"
#include "blk/blk_internal.h"
#include "core/util.h"

/*
 * The fault settings are an immutable snapshot: a control call (from any
 * thread) copies the current one, changes the copy and publishes it with
 * one atomic store; the data path reads the pointer once per request and
 * takes no lock. Old snapshots are kept until destroy (control calls are
 * rare and tiny), so a reactor never reads freed memory. The control
 * calls serialize among themselves with a mutex that I/O never touches.
 */
struct err_cfg {
	struct err_cfg *older;
	unsigned range_kinds;
	uint64_t range_lba, range_end;
	int range_status;
	uint64_t nth, nth_base;   /* fail request number nth_base + nth (0 = off) */
	int nth_status;
	bool nth_sticky;          /* ... and every one after it */
	uint64_t delay_ns;
	bool gone;
};

struct err_ctx {
	struct blk_dev *base;
	_Atomic(struct err_cfg *) cfg;
	pthread_mutex_t ctl;
	atomic_uint_fast64_t requests, failed;
};

static bool range_hit(const struct err_cfg *c, const struct blk_io *io)
{
	unsigned kind;
	switch (io->op) {
	case BLK_OP_READ:
		kind = BLK_ERR_READ;
		break;
	case BLK_OP_FLUSH:
		return (c->range_kinds & BLK_ERR_FLUSH) != 0;
	default:
		kind = BLK_ERR_WRITE;
		break;
	}
	if (!(c->range_kinds & kind))
		return false;
	return io->lba < c->range_end && io->lba + io->nblocks > c->range_lba;
}

static int err_submit(struct blk_dev *dev, struct blk_io *io)
{
	struct err_ctx *e = dev->ctx;
	const struct err_cfg *c = atomic_load_explicit(&e->cfg, memory_order_acquire);
	uint64_t k = atomic_fetch_add_explicit(&e->requests, 1, memory_order_relaxed) + 1;
	int status = 0;
	if (c->gone) {
		status = -ENODEV;
	} else if (c->nth != 0 && k > c->nth_base &&
		   (k - c->nth_base == c->nth || (c->nth_sticky && k - c->nth_base > c->nth))) {
		status = c->nth_status;
	} else if (range_hit(c, io)) {
		status = c->range_status;
	}
	struct blk_wrap_io *w = blk_wrap_io_new(io, e->base);
	if (w == NULL)
		return -ENOMEM;
	if (status != 0) {
		atomic_fetch_add_explicit(&e->failed, 1, memory_order_relaxed);
		blk_wrap_fail(w, status, c->delay_ns);
		return 0;
	}
	return blk_wrap_forward(w, c->delay_ns);
}

static int err_refresh(struct blk_dev *dev)
{
	struct err_ctx *e = dev->ctx;
	return blk_wrap_refresh(dev, e->base);
}

static int err_get_lba_status(struct blk_dev *dev, uint64_t lba, uint64_t *nblocks_same, bool *mapped)
{
	struct err_ctx *e = dev->ctx;
	return blk_wrap_get_lba_status(e->base, lba, nblocks_same, mapped);
}

static void err_destroy(struct blk_dev *dev)
{
	struct err_ctx *e = dev->ctx;
	struct err_cfg *c = atomic_load(&e->cfg);
	while (c != NULL) {
		struct err_cfg *older = c->older;
		free(c);
		c = older;
	}
	pthread_mutex_destroy(&e->ctl);
	free(e);
	free(dev);
}

static const struct blk_ops error_ops = {
	.name = "error",
	.submit = err_submit,
	.destroy = err_destroy,
	.refresh = err_refresh,
	.get_lba_status = err_get_lba_status,
};

int blk_error_create(const char *name, struct blk_dev *base, struct blk_dev **out)
{
	if (name == NULL || base == NULL || out == NULL)
		return -EINVAL;
	struct blk_dev *dev = calloc(1, sizeof(*dev));
	struct err_ctx *e = calloc(1, sizeof(*e));
	struct err_cfg *c = calloc(1, sizeof(*c));
	if (dev == NULL || e == NULL || c == NULL) {
		free(dev);
		free(e);
		free(c);
		return -ENOMEM;
	}
	e->base = base;
	atomic_init(&e->cfg, c);
	pthread_mutex_init(&e->ctl, NULL);
	dev->ops = &error_ops;
	dev->ctx = e;
	dev->info = base->info;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	*out = dev;
	return 0;
}

/* Change the settings of dev through fn, publishing a new snapshot. */
static int err_update(struct blk_dev *dev, void (*fn)(struct err_cfg *c, struct err_ctx *e, const void *arg),
		      const void *arg)
{
	if (dev == NULL || dev->ops != &error_ops)
		return -EINVAL;
	struct err_ctx *e = dev->ctx;
	struct err_cfg *n = malloc(sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&e->ctl);
	struct err_cfg *cur = atomic_load(&e->cfg);
	*n = *cur;
	n->older = cur;
	fn(n, e, arg);
	atomic_store_explicit(&e->cfg, n, memory_order_release);
	pthread_mutex_unlock(&e->ctl);
	return 0;
}

static bool valid_status(int status)
{
	return status < 0 && status > -4096;
}

struct range_arg {
	unsigned kinds;
	uint64_t lba, nblocks;
	int status;
};

static void set_range(struct err_cfg *c, struct err_ctx *e UNUSED, const void *arg)
{
	const struct range_arg *a = arg;
	c->range_kinds = a->nblocks == 0 && !(a->kinds & BLK_ERR_FLUSH) ? 0 : a->kinds;
	c->range_lba = a->lba;
	c->range_end = a->nblocks > UINT64_MAX - a->lba ? UINT64_MAX : a->lba + a->nblocks;
	c->range_status = a->status;
}

int blk_error_fail_range(struct blk_dev *dev, unsigned kinds, uint64_t lba, uint64_t nblocks, int status)
{
	if ((kinds & ~(BLK_ERR_READ | BLK_ERR_WRITE | BLK_ERR_FLUSH)) || (kinds != 0 && !valid_status(status)))
		return -EINVAL;
	struct range_arg a = {kinds, lba, nblocks, status};
	return err_update(dev, set_range, &a);
}

struct nth_arg {
	uint64_t n;
	int status;
	bool sticky;
};

static void set_nth(struct err_cfg *c, struct err_ctx *e, const void *arg)
{
	const struct nth_arg *a = arg;
	c->nth = a->n;
	c->nth_base = atomic_load(&e->requests);
	c->nth_status = a->status;
	c->nth_sticky = a->sticky;
}

int blk_error_fail_nth(struct blk_dev *dev, uint64_t n, int status, bool sticky)
{
	if (n != 0 && !valid_status(status))
		return -EINVAL;
	struct nth_arg a = {n, status, sticky};
	return err_update(dev, set_nth, &a);
}

static void set_delay(struct err_cfg *c, struct err_ctx *e UNUSED, const void *arg)
{
	c->delay_ns = *(const uint64_t *)arg;
}

int blk_error_set_delay_us(struct blk_dev *dev, uint64_t us)
{
	if (us > UINT64_MAX / 1000)
		return -EINVAL;
	uint64_t ns = us * 1000;
	return err_update(dev, set_delay, &ns);
}

static void set_gone(struct err_cfg *c, struct err_ctx *e UNUSED, const void *arg)
{
	c->gone = *(const bool *)arg;
}

int blk_error_set_gone(struct blk_dev *dev, bool gone)
{
	return err_update(dev, set_gone, &gone);
}

static void clear_all(struct err_cfg *c, struct err_ctx *e UNUSED, const void *arg UNUSED)
{
	struct err_cfg *older = c->older;
	memset(c, 0, sizeof(*c));
	c->older = older;
}

int blk_error_clear(struct blk_dev *dev)
{
	return err_update(dev, clear_all, NULL);
}

int blk_error_get_stats(struct blk_dev *dev, struct blk_error_stats *out)
{
	if (dev == NULL || out == NULL || dev->ops != &error_ops)
		return -EINVAL;
	struct err_ctx *e = dev->ctx;
	out->requests = atomic_load(&e->requests);
	out->failed = atomic_load(&e->failed);
	return 0;
}

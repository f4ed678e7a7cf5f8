/* wrap.c - plumbing for backends that sit on another blk_dev (error, throttle): child requests, delays, completion. */
#include <errno.h>
#include <stdlib.h>

#include "blk/blk.h"
#include "blk/blk_internal.h"

static void wrap_child_done(struct blk_io *child, int status)
{
	struct blk_wrap_io *w = child->cb_arg;
	struct blk_io *parent = w->parent;
	free(w);
	parent->cb(parent, status);
}

struct blk_wrap_io *blk_wrap_io_new(struct blk_io *parent, struct blk_dev *base)
{
	struct blk_wrap_io *w = malloc(sizeof(*w));
	if (w == NULL)
		return NULL;
	w->parent = parent;
	w->base = base;
	w->status = 0;
	blk_io_prep(&w->child, base, parent->op, parent->lba, parent->nblocks, parent->iov, parent->iovcnt,
		    wrap_child_done, w);
	w->child.flags = parent->flags;
	reactor_timer_init(&w->timer, NULL, w);
	return w;
}

/* Not inside the parent's submit: complete the parent directly. */
static void wrap_act(struct blk_wrap_io *w, bool forward)
{
	if (forward) {
		int rc = blk_submit(w->base, &w->child);
		if (rc == 0)
			return;
		w->status = rc;
	}
	struct blk_io *parent = w->parent;
	int status = w->status;
	free(w);
	parent->cb(parent, status);
}

static void wrap_timer_forward(struct reactor_timer *t)
{
	wrap_act(t->arg, true);
}

static void wrap_timer_fail(struct reactor_timer *t)
{
	wrap_act(t->arg, false);
}

static void wrap_defer_fail(void *arg)
{
	wrap_act(arg, false);
}

int blk_wrap_forward(struct blk_wrap_io *w, uint64_t delay_ns)
{
	if (delay_ns > 0) {
		reactor_timer_init(&w->timer, wrap_timer_forward, w);
		reactor_timer_start(&w->timer, delay_ns);
		return 0;
	}
	int rc = blk_submit(w->base, &w->child);
	if (rc != 0)
		free(w);
	return rc;
}

void blk_wrap_fail(struct blk_wrap_io *w, int status, uint64_t delay_ns)
{
	w->status = status;
	if (delay_ns > 0) {
		reactor_timer_init(&w->timer, wrap_timer_fail, w);
		reactor_timer_start(&w->timer, delay_ns);
	} else {
		reactor_defer(&w->defer, wrap_defer_fail, w);
	}
}

int blk_wrap_refresh(struct blk_dev *dev, struct blk_dev *base)
{
	int rc = blk_refresh(base);
	if (rc != 0 && rc != -EOPNOTSUPP)
		return rc;
	__atomic_store_n(&dev->info.num_blocks, __atomic_load_n(&base->info.num_blocks, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	return 0;
}

int blk_wrap_get_lba_status(struct blk_dev *base, uint64_t lba, uint64_t *nblocks_same, bool *mapped)
{
	if (base->ops->get_lba_status != NULL)
		return base->ops->get_lba_status(base, lba, nblocks_same, mapped);
	uint64_t nb = __atomic_load_n(&base->info.num_blocks, __ATOMIC_RELAXED);
	if (lba >= nb)
		return -EINVAL;
	*nblocks_same = nb - lba;
	*mapped = true;
	return 0;
}

/* throttle.c - a device over another blk_dev that caps bandwidth and adds a fixed latency, to simulate a real disk. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "blk/blk.h"
#include "blk/blk_internal.h"
#include "core/util.h"

/*
 * Bandwidth is a single virtual clock shared by every reactor: a request
 * of B bytes reserves the interval [start, start + B / rate) where start
 * is the later of now and the end of the previous reservation (one
 * compare-and-swap, no lock). The request goes to the base device when
 * its interval ends plus the fixed latency, so the data moved never
 * exceeds the cap whatever the queue depth. FLUSH, UNMAP and WRITE_ZEROES
 * move no data: they pay the latency only.
 */
struct thr_ctx {
	struct blk_dev *base;
	atomic_uint_fast64_t bytes_per_sec;
	atomic_uint_fast64_t latency_ns;
	atomic_uint_fast64_t next_free_ns;
};

static uint64_t xfer_ns(uint64_t bytes, uint64_t rate)
{
	if (rate == 0 || bytes == 0)
		return 0;
	unsigned __int128 ns = (unsigned __int128)bytes * 1000000000u / rate;
	return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)ns;
}

static int thr_submit(struct blk_dev *dev, struct blk_io *io)
{
	struct thr_ctx *t = dev->ctx;
	uint64_t bytes = io->op == BLK_OP_READ || io->op == BLK_OP_WRITE ?
				 (uint64_t)io->nblocks * dev->info.block_size : 0;
	uint64_t now = now_ns();
	uint64_t need = xfer_ns(bytes, atomic_load_explicit(&t->bytes_per_sec, memory_order_relaxed));
	uint64_t end = now;
	if (need > 0) {
		uint64_t cur = atomic_load_explicit(&t->next_free_ns, memory_order_relaxed);
		do {
			end = MAX(cur, now) + need;
		} while (!atomic_compare_exchange_weak_explicit(&t->next_free_ns, &cur, end, memory_order_relaxed,
								memory_order_relaxed));
	}
	uint64_t delay = end - now + atomic_load_explicit(&t->latency_ns, memory_order_relaxed);
	struct blk_wrap_io *w = blk_wrap_io_new(io, t->base);
	if (w == NULL)
		return -ENOMEM;
	return blk_wrap_forward(w, delay);
}

static int thr_refresh(struct blk_dev *dev)
{
	struct thr_ctx *t = dev->ctx;
	return blk_wrap_refresh(dev, t->base);
}

static int thr_get_lba_status(struct blk_dev *dev, uint64_t lba, uint64_t *nblocks_same, bool *mapped)
{
	struct thr_ctx *t = dev->ctx;
	return blk_wrap_get_lba_status(t->base, lba, nblocks_same, mapped);
}

static void thr_destroy(struct blk_dev *dev)
{
	free(dev->ctx);
	free(dev);
}

static const struct blk_ops throttle_ops = {
	.name = "throttle",
	.submit = thr_submit,
	.destroy = thr_destroy,
	.refresh = thr_refresh,
	.get_lba_status = thr_get_lba_status,
};

int blk_throttle_set(struct blk_dev *dev, uint64_t bytes_per_sec, uint64_t latency_us)
{
	if (dev == NULL || dev->ops != &throttle_ops || latency_us > UINT64_MAX / 1000)
		return -EINVAL;
	struct thr_ctx *t = dev->ctx;
	atomic_store(&t->bytes_per_sec, bytes_per_sec);
	atomic_store(&t->latency_ns, latency_us * 1000);
	return 0;
}

int blk_throttle_create(const char *name, struct blk_dev *base, uint64_t bytes_per_sec, uint64_t latency_us,
			struct blk_dev **out)
{
	if (name == NULL || base == NULL || out == NULL || latency_us > UINT64_MAX / 1000)
		return -EINVAL;
	struct blk_dev *dev = calloc(1, sizeof(*dev));
	struct thr_ctx *t = calloc(1, sizeof(*t));
	if (dev == NULL || t == NULL) {
		free(dev);
		free(t);
		return -ENOMEM;
	}
	t->base = base;
	atomic_init(&t->bytes_per_sec, bytes_per_sec);
	atomic_init(&t->latency_ns, latency_us * 1000);
	atomic_init(&t->next_free_ns, 0);
	dev->ops = &throttle_ops;
	dev->ctx = t;
	dev->info = base->info;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	*out = dev;
	return 0;
}

/* timer.c - per-reactor one-shot timers kept in a binary min-heap ordered by (deadline, arm order). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/reactor_internal.h"

static bool timer_before(const struct reactor_timer *a, const struct reactor_timer *b)
{
	if (a->deadline_ns != b->deadline_ns)
		return a->deadline_ns < b->deadline_ns;
	return a->seq < b->seq;
}

static void heap_set(struct reactor *r, unsigned i, struct reactor_timer *t)
{
	r->heap[i] = t;
	t->heap_idx = (int)i;
}

static void sift_up(struct reactor *r, unsigned i)
{
	struct reactor_timer *t = r->heap[i];
	while (i > 0) {
		unsigned p = (i - 1) / 2;
		if (!timer_before(t, r->heap[p]))
			break;
		heap_set(r, i, r->heap[p]);
		i = p;
	}
	heap_set(r, i, t);
}

static void sift_down(struct reactor *r, unsigned i)
{
	struct reactor_timer *t = r->heap[i];
	for (;;) {
		unsigned c = 2 * i + 1;
		if (c >= r->heap_len)
			break;
		if (c + 1 < r->heap_len && timer_before(r->heap[c + 1], r->heap[c]))
			c++;
		if (!timer_before(r->heap[c], t))
			break;
		heap_set(r, i, r->heap[c]);
		i = c;
	}
	heap_set(r, i, t);
}

static void heap_remove(struct reactor *r, unsigned i)
{
	struct reactor_timer *t = r->heap[i];
	struct reactor_timer *last = r->heap[--r->heap_len];
	t->heap_idx = -1;
	if (i == r->heap_len)
		return;
	heap_set(r, i, last);
	if (i > 0 && timer_before(last, r->heap[(i - 1) / 2]))
		sift_up(r, i);
	else
		sift_down(r, i);
}

void reactor_timer_init(struct reactor_timer *t, void (*fn)(struct reactor_timer *t), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->deadline_ns = 0;
	t->seq = 0;
	t->heap_idx = -1;
	t->owner = NULL;
}

void reactor_timer_start(struct reactor_timer *t, uint64_t delay_ns)
{
	struct reactor *r = reactor_self();
	if (!r) {
		fprintf(stderr, "softhba: reactor_timer_start called outside a reactor\n");
		abort();
	}
	if (t->heap_idx >= 0) {
		reactor_assert_on(t->owner);
		heap_remove(r, (unsigned)t->heap_idx);
	}
	if (r->heap_len == r->heap_cap) {
		unsigned cap = r->heap_cap ? r->heap_cap * 2 : 64;
		struct reactor_timer **h = realloc(r->heap, cap * sizeof(*h));
		if (!h) {
			/* The API cannot fail; a few bytes per timer are not
			 * worth a silent lost wake-up. */
			fprintf(stderr, "softhba: out of memory growing the timer heap\n");
			abort();
		}
		r->heap = h;
		r->heap_cap = cap;
	}
	uint64_t now = now_ns();
	t->deadline_ns = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
	t->seq = r->timer_seq++;
	t->owner = r;
	heap_set(r, r->heap_len++, t);
	sift_up(r, r->heap_len - 1);
}

void reactor_timer_cancel(struct reactor_timer *t)
{
	if (t->heap_idx < 0)
		return;
	reactor_assert_on(t->owner);
	heap_remove(t->owner, (unsigned)t->heap_idx);
}

bool reactor_timer_armed(const struct reactor_timer *t)
{
	return t->heap_idx >= 0;
}

int reactor_timers_timeout_ms(struct reactor *r, uint64_t now)
{
	if (r->heap_len == 0)
		return -1;
	uint64_t d = r->heap[0]->deadline_ns;
	if (d <= now)
		return 0;
	uint64_t ms = (d - now + 999999u) / 1000000u;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

bool reactor_timers_timeout_ts(struct reactor *r, uint64_t now, struct timespec *ts)
{
	if (r->heap_len == 0)
		return false;
	uint64_t d = r->heap[0]->deadline_ns;
	uint64_t left = d > now ? d - now : 0;
	ts->tv_sec = (time_t)(left / 1000000000u);
	ts->tv_nsec = (long)(left % 1000000000u);
	return true;
}

unsigned reactor_timers_run(struct reactor *r, uint64_t now)
{
	/* Bound the batch by the heap size at entry so a callback that
	 * re-arms itself with delay 0 waits for the next iteration. */
	unsigned budget = r->heap_len, fired = 0;
	while (fired < budget && r->heap_len > 0 && r->heap[0]->deadline_ns <= now) {
		struct reactor_timer *t = r->heap[0];
		heap_remove(r, 0);
		fired++;
		t->fn(t);
	}
	return fired;
}

void reactor_timers_fini(struct reactor *r)
{
	for (unsigned i = 0; i < r->heap_len; i++)
		r->heap[i]->heap_idx = -1;
	free(r->heap);
	r->heap = NULL;
	r->heap_len = r->heap_cap = 0;
}

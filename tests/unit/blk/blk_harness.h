/* blk_harness.h - test helper: reactors on a background thread, blocking wrappers that submit blk I/O on them. */
#ifndef SOFTHBA_TESTS_BLK_HARNESS_H
#define SOFTHBA_TESTS_BLK_HARNESS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "blk/blk.h"
#include "core/reactor.h"

/*
 * reactors_init() and reactors_run() must run on the same thread, so the
 * harness owns one thread that does both; the test thread hands work to
 * reactor 0 (or another) with reactor_send_msg() and waits on a semaphore.
 * Every wait is bounded (H_WAIT_S); a lost completion fails the test.
 */
#define H_WAIT_S 60
#define H_FN static __attribute__((unused))

struct h_state {
	pthread_t th;
	sem_t ready;
	unsigned n;
	int init_rc;
};
static struct h_state g_h;

H_FN void *h_thread(void *arg)
{
	(void)arg;
	g_h.init_rc = reactors_init(g_h.n);
	sem_post(&g_h.ready);
	if (g_h.init_rc != 0)
		return NULL;
	reactors_run();
	reactors_fini();
	return NULL;
}

H_FN int h_wait(sem_t *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += H_WAIT_S;
	while (sem_timedwait(s, &ts) != 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Start n reactors; returns 0 or -errno. */
H_FN int h_start(unsigned n)
{
	g_h.n = n;
	sem_init(&g_h.ready, 0, 0);
	if (pthread_create(&g_h.th, NULL, h_thread, NULL) != 0)
		return -EAGAIN;
	h_wait(&g_h.ready);
	if (g_h.init_rc != 0)
		pthread_join(g_h.th, NULL);
	sem_destroy(&g_h.ready);
	return g_h.init_rc;
}

H_FN void h_stop(void)
{
	reactors_stop();
	pthread_join(g_h.th, NULL);
}

/* ---- run a function on a reactor and wait for it to call h_done() ---- */
struct h_call {
	void (*fn)(struct h_call *c);
	void *arg;
	sem_t done;
};

H_FN void h_call_msg(void *arg)
{
	struct h_call *c = arg;
	c->fn(c);
}

H_FN void h_done(struct h_call *c)
{
	sem_post(&c->done);
}

/* Run fn on reactor idx; fn (or a callback it starts) must call h_done(c). */
H_FN int h_run(unsigned idx, void (*fn)(struct h_call *c), void *arg)
{
	struct h_call c = {.fn = fn, .arg = arg};
	sem_init(&c.done, 0, 0);
	int rc = reactor_send_msg(reactor_get(idx), h_call_msg, &c);
	if (rc == 0)
		rc = h_wait(&c.done);
	sem_destroy(&c.done);
	return rc;
}

/* ---- one blocking blk request ---- */
struct h_io {
	struct blk_io io;
	struct h_call *call;
	bool in_submit;
	bool reentrant;      /* cb ran inside blk_submit: a contract violation */
	int calls;           /* times cb ran: must be exactly 1 */
	int submit_rc;
	int status;
	const struct reactor *submitter;
	bool wrong_reactor;
};

H_FN void h_io_cb(struct blk_io *io, int status)
{
	struct h_io *r = io->cb_arg;
	if (r->in_submit)
		r->reentrant = true;
	if (reactor_self() != r->submitter)
		r->wrong_reactor = true;
	r->calls++;
	r->status = status;
	h_done(r->call);
}

H_FN void h_io_start(struct h_call *c)
{
	struct h_io *r = c->arg;
	r->call = c;
	r->submitter = reactor_self();
	r->in_submit = true;
	r->submit_rc = blk_submit(r->io.dev, &r->io);
	r->in_submit = false;
	if (r->submit_rc != 0)
		h_done(c);
}

/* Submit one request on reactor 0 and wait: returns the submit refusal or
 * the completion status; -ETIMEDOUT when the completion never came. Fails
 * the caller's expectations through *bad when the callback broke a rule. */
H_FN int h_io_flags(struct blk_dev *dev, enum blk_op op, uint32_t flags, uint64_t lba, uint32_t nblocks,
		      struct iovec *iov, int iovcnt, bool *bad)
{
	struct h_io r = {0};
	blk_io_prep(&r.io, dev, op, lba, nblocks, iov, iovcnt, h_io_cb, &r);
	r.io.flags = flags;
	int rc = h_run(0, h_io_start, &r);
	if (rc != 0)
		return rc == -ETIMEDOUT ? -ETIMEDOUT : rc;
	if (bad != NULL && (r.reentrant || r.wrong_reactor || (r.submit_rc == 0 && r.calls != 1) ||
			    (r.submit_rc != 0 && r.calls != 0)))
		*bad = true;
	return r.submit_rc != 0 ? r.submit_rc : r.status;
}

H_FN int h_io(struct blk_dev *dev, enum blk_op op, uint64_t lba, uint32_t nblocks, struct iovec *iov, int iovcnt,
		bool *bad)
{
	return h_io_flags(dev, op, 0, lba, nblocks, iov, iovcnt, bad);
}

/* Deterministic pseudo-random bytes. */
H_FN void h_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

H_FN bool h_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* ---- a batch of requests submitted together on reactor 0 ---- */
struct h_batch {
	struct blk_io *ios;
	int n;
	int done;
	int errors;
	int refused;
	int last_status;
	struct h_call *call;
};

H_FN void h_batch_cb(struct blk_io *io, int status)
{
	struct h_batch *b = io->cb_arg;
	if (status != 0) {
		b->errors++;
		b->last_status = status;
	}
	if (++b->done == b->n)
		h_done(b->call);
}

H_FN void h_batch_start(struct h_call *c)
{
	struct h_batch *b = c->arg;
	b->call = c;
	for (int i = 0; i < b->n; i++) {
		b->ios[i].cb = h_batch_cb;
		b->ios[i].cb_arg = b;
		if (blk_submit(b->ios[i].dev, &b->ios[i]) != 0) {
			b->refused++;
			b->done++;
		}
	}
	if (b->done == b->n) /* completions are deferred, so only refusals can get here */
		h_done(c);
}

/* Submit n prepared requests at once; returns 0 when all were accepted and
 * succeeded, else the number of failures (refusals count). */
H_FN int h_batch_run(struct blk_io *ios, int n)
{
	struct h_batch b = {.ios = ios, .n = n};
	if (h_run(0, h_batch_start, &b) != 0)
		return -ETIMEDOUT;
	return b.errors + b.refused;
}

/* ---- hundreds of requests in flight on two reactors; none may be lost ---- */
#define MANY 400
struct many {
	struct blk_dev *dev;
	struct blk_io io[MANY];
	uint8_t *data;
	int done_count[2];
	int errors;
	int wrong_reactor;
	struct h_call *call[2];
	struct iovec iov[MANY];
};

H_FN void many_cb(struct blk_io *io, int status)
{
	struct many *m = io->cb_arg;
	unsigned idx = reactor_index(reactor_self());
	size_t i = (size_t)(io - m->io);
	if ((i < MANY / 2) != (idx == 0))
		__atomic_fetch_add(&m->wrong_reactor, 1, __ATOMIC_RELAXED);
	if (status != 0)
		__atomic_fetch_add(&m->errors, 1, __ATOMIC_RELAXED);
	if (++m->done_count[idx] == MANY / 2)
		h_done(m->call[idx]);
}

H_FN void many_start(struct h_call *c)
{
	struct many *m = c->arg;
	unsigned idx = reactor_index(reactor_self());
	m->call[idx] = c;
	for (unsigned i = idx * MANY / 2; i < (idx + 1) * MANY / 2; i++) {
		m->iov[i].iov_base = m->data + (size_t)i * 4096;
		m->iov[i].iov_len = 4096;
		blk_io_prep(&m->io[i], m->dev, BLK_OP_WRITE, (uint64_t)i * 8, 8, &m->iov[i], 1, many_cb, m);
		if (blk_submit(m->dev, &m->io[i]) != 0)
			__atomic_fetch_add(&m->errors, 1000, __ATOMIC_RELAXED);
	}
}

struct many_arg {
	struct many *m;
	int rc;
};

H_FN void *many_second(void *arg)
{
	struct many_arg *a = arg;
	a->rc = h_run(1, many_start, a->m);
	return NULL;
}

/* Write MANY 4 KiB blocks, half from reactor 0 and half from reactor 1 (all in
 * flight at once), then read them back; needs h_start(2). */
H_FN void run_many(struct blk_dev *d, const char *what)
{
	struct many *m = calloc(1, sizeof(*m));
	m->dev = d;
	m->data = malloc((size_t)MANY * 4096);
	h_fill(m->data, (size_t)MANY * 4096, 99);
	pthread_t th;
	struct many_arg a = {m, -1};
	assert_int_equal(pthread_create(&th, NULL, many_second, &a), 0);
	assert_int_equal(h_run(0, many_start, m), 0);
	pthread_join(th, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(m->errors, 0);
	assert_int_equal(m->wrong_reactor, 0);
	assert_int_equal(m->done_count[0] + m->done_count[1], MANY);
	/* read everything back in one request and compare */
	uint8_t *r = malloc((size_t)MANY * 4096);
	bool bad = false;
	for (unsigned i = 0; i < MANY; i += 100) {
		struct iovec iov = {r + (size_t)i * 4096, 100 * 4096};
		assert_int_equal(h_io(d, BLK_OP_READ, (uint64_t)i * 8, 800, &iov, 1, &bad), 0);
	}
	if (memcmp(r, m->data, (size_t)MANY * 4096) != 0)
		fail_msg("%s: data read back differs", what);
	assert_false(bad);
	free(r);
	free(m->data);
	free(m);
}

#endif

/* reactor.c - reactor lifetime and event loop: io_uring completions, epoll fd watchers, MPSC messages, deferred calls, stop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "core/bufpool.h"
#include "core/reactor_internal.h"

#define CQE_BATCH 32u
/* On loop exit, wait at most this long for in-flight work to finish;
 * after the first half, in-flight ring requests are cancelled. */
#define DRAIN_NS (2000000000ull)

struct stop_hook {
	void (*fn)(void *arg);
	void *arg;
	struct stop_hook *next;
};

static struct reactor **g_reactors;
static unsigned g_n;
static _Thread_local struct reactor *t_self;

/* Number of reactors_stop() calls since reactors_init(). */
static atomic_uint g_stop_count;
/* Set when the loops must end (no hooks, shutdown complete, or forced). */
static atomic_bool g_exit;
/* Reactor-0-only: the stop hooks already ran. */
static bool g_hooks_ran;
static pthread_mutex_t g_hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stop_hook *g_hooks; /* LIFO: most recently registered first */

/* Distinct addresses that tag the internal fds in the epoll set. */
static const char g_tag_evfd, g_tag_ring;

static void die(const char *what, int err)
{
	fprintf(stderr, "softhba: reactor: %s: %s\n", what, strerror(err));
	abort();
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct reactor *self_or_die(const char *fn)
{
	struct reactor *r = t_self;
	if (!r) {
		fprintf(stderr, "softhba: %s called on a thread that is not a reactor\n", fn);
		abort();
	}
	return r;
}

unsigned reactor_count(void) { return g_n; }

struct reactor *reactor_get(unsigned idx) { return idx < g_n ? g_reactors[idx] : NULL; }

struct reactor *reactor_self(void) { return t_self; }

unsigned reactor_index(const struct reactor *r) { return r->idx; }

void reactor_assert_on(const struct reactor *r)
{
	if (t_self == r && r)
		return;
	char cur[32], want[32];
	if (t_self)
		snprintf(cur, sizeof(cur), "reactor %u", t_self->idx);
	else
		snprintf(cur, sizeof(cur), "a non-reactor thread");
	if (r)
		snprintf(want, sizeof(want), "reactor %u", r->idx);
	else
		snprintf(want, sizeof(want), "(null reactor)");
	fprintf(stderr, "softhba: reactor_assert_on failed: code owned by %s ran on %s\n", want, cur);
	abort();
}

/* ---- wake-ups ---- */

/* Async-signal-safe: one write(2) of the eventfd counter. */
static void wake(struct reactor *r)
{
	uint64_t one = 1;
	ssize_t rc;
	do
		rc = write(r->evfd, &one, sizeof(one));
	while (rc < 0 && errno == EINTR);
	/* EAGAIN means the counter is saturated: a wake-up is pending anyway. */
}

static void wake_all(void)
{
	for (unsigned i = 0; i < g_n; i++)
		wake(g_reactors[i]);
}

static void drain_eventfd(struct reactor *r)
{
	uint64_t v;
	ssize_t rc;
	do
		rc = read(r->evfd, &v, sizeof(v));
	while (rc < 0 && errno == EINTR);
}

/* ---- deferred calls ---- */

void reactor_defer(struct reactor_defer *d, void (*fn)(void *arg), void *arg)
{
	struct reactor *r = self_or_die("reactor_defer");
	d->fn = fn;
	d->arg = arg;
	d->next = NULL;
	*r->defer_tail = d;
	r->defer_tail = &d->next;
}

/* Run the calls queued before this point; calls queued by them run at the next iteration. */
static void run_defers(struct reactor *r)
{
	struct reactor_defer *d = r->defer_head;
	r->defer_head = NULL;
	r->defer_tail = &r->defer_head;
	while (d) {
		struct reactor_defer *next = d->next; /* fn may free or re-queue d */
		d->fn(d->arg);
		d = next;
	}
}

/* ---- messages ---- */

int reactor_send_msg(struct reactor *dst, void (*fn)(void *arg), void *arg)
{
	struct reactor_msg *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fn = fn;
	m->arg = arg;
	struct reactor_msg *old = atomic_load_explicit(&dst->msgs, memory_order_relaxed);
	do
		m->next = old;
	/* release: the consumer's acquire exchange sees *m and what the sender wrote before. */
	while (!atomic_compare_exchange_weak_explicit(&dst->msgs, &old, m, memory_order_release,
						      memory_order_relaxed));
	/* Only the push onto an empty stack wakes the consumer: a non-empty
	 * stack means a wake-up is already on its way or being handled. */
	if (!old)
		wake(dst);
	return 0;
}

static void run_messages(struct reactor *r)
{
	if (!atomic_load_explicit(&r->msgs, memory_order_relaxed))
		return;
	struct reactor_msg *m = atomic_exchange_explicit(&r->msgs, NULL, memory_order_acquire);
	struct reactor_msg *fifo = NULL;
	while (m) { /* the stack is newest-first: reverse to sending order */
		struct reactor_msg *next = m->next;
		m->next = fifo;
		fifo = m;
		m = next;
	}
	while (fifo) {
		struct reactor_msg *next = fifo->next;
		void (*fn)(void *) = fifo->fn;
		void *arg = fifo->arg;
		free(fifo);
		fn(arg);
		fifo = next;
	}
}

/* ---- io_uring ---- */

static void backlog_push(struct reactor *r, struct io_uring_cqe *cqe)
{
	if (r->backlog_len == r->backlog_cap) {
		unsigned cap = r->backlog_cap ? r->backlog_cap * 2 : 256;
		struct reactor_cqe *b = realloc(r->backlog, cap * sizeof(*b));
		if (!b)
			die("growing the completion backlog", ENOMEM);
		r->backlog = b;
		r->backlog_cap = cap;
	}
	r->backlog[r->backlog_len++] = (struct reactor_cqe){
		.req = io_uring_cqe_get_data(cqe), .res = cqe->res, .flags = cqe->flags,
	};
}

/* Move every available CQE to the backlog without running callbacks. */
static unsigned stash_cqes(struct reactor *r)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;
	while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
		backlog_push(r, cqe);
		io_uring_cqe_seen(&r->ring, cqe);
		n++;
	}
	return n;
}

/* Submit queued SQEs. With force, keep going until the kernel took them
 * (making room in the SQ); otherwise transient failures wait for the
 * next iteration. */
static void uring_submit(struct reactor *r, bool force)
{
	while (io_uring_sq_ready(&r->ring) > 0) {
		int rc = io_uring_submit(&r->ring);
		if (rc >= 0) {
			if (!force || io_uring_sq_space_left(&r->ring) > 0)
				return;
			continue;
		}
		if (rc == -EINTR)
			continue;
		if (rc == -EBUSY || rc == -EAGAIN) {
			/* CQ overflow or kernel short of memory: make room
			 * by reaping completions (callbacks run later). */
			if (stash_cqes(r) > 0)
				continue;
			if (!force)
				return;
			if (r->inflight > 0) {
				struct io_uring_cqe *cqe;
				if (io_uring_wait_cqe(&r->ring, &cqe) == 0) {
					backlog_push(r, cqe);
					io_uring_cqe_seen(&r->ring, cqe);
				}
			} else {
				struct timespec ts = { 0, 1000000 };
				nanosleep(&ts, NULL);
			}
			continue;
		}
		die("io_uring_submit", -rc);
	}
}

struct io_uring_sqe *reactor_uring_sqe(struct reactor_uring_req *req)
{
	struct reactor *r = self_or_die("reactor_uring_sqe");
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	while (!sqe) {
		uring_submit(r, true);
		sqe = io_uring_get_sqe(&r->ring);
	}
	memset(sqe, 0, sizeof(*sqe));
	io_uring_sqe_set_data(sqe, req);
	r->inflight++;
	return sqe;
}

unsigned reactor_uring_inflight(void)
{
	return self_or_die("reactor_uring_inflight")->inflight;
}

static void complete_one(struct reactor *r, struct reactor_uring_req *req, int res, uint32_t flags)
{
	if (!req) /* internal request (cancel at exit) */
		return;
	if (!(flags & IORING_CQE_F_MORE))
		r->inflight--;
	req->cb(req, res, flags);
}

static void run_completions(struct reactor *r)
{
	if (r->backlog_len) {
		/* Callbacks may append to the backlog: run only what is there now. */
		unsigned n = r->backlog_len, i;
		for (i = 0; i < n; i++) {
			struct reactor_cqe c = r->backlog[i];
			complete_one(r, c.req, c.res, c.flags);
		}
		memmove(r->backlog, r->backlog + n, (r->backlog_len - n) * sizeof(*r->backlog));
		r->backlog_len -= n;
	}
	/* Bounded so a flood of completions cannot starve sockets and messages. */
	for (unsigned rounds = 0; rounds < 4 * REACTOR_URING_ENTRIES / CQE_BATCH; rounds++) {
		struct io_uring_cqe *cqes[CQE_BATCH];
		struct reactor_cqe done[CQE_BATCH];
		unsigned n = io_uring_peek_batch_cqe(&r->ring, cqes, CQE_BATCH);
		for (unsigned i = 0; i < n; i++)
			done[i] = (struct reactor_cqe){
				.req = io_uring_cqe_get_data(cqes[i]), .res = cqes[i]->res, .flags = cqes[i]->flags,
			};
		/* Release the CQ slots before callbacks so they can queue more I/O freely. */
		io_uring_cq_advance(&r->ring, n);
		for (unsigned i = 0; i < n; i++)
			complete_one(r, done[i].req, done[i].res, done[i].flags);
		if (n < CQE_BATCH)
			break;
	}
}

/* ---- fd watchers ---- */

static uint32_t to_epoll(uint32_t ev)
{
	uint32_t e = 0;
	if (ev & REACTOR_EV_IN)
		e |= EPOLLIN | EPOLLRDHUP;
	if (ev & REACTOR_EV_OUT)
		e |= EPOLLOUT;
	return e;
}

static uint32_t from_epoll(uint32_t e)
{
	uint32_t ev = 0;
	if (e & (EPOLLIN | EPOLLRDHUP))
		ev |= REACTOR_EV_IN;
	if (e & EPOLLOUT)
		ev |= REACTOR_EV_OUT;
	if (e & (EPOLLERR | EPOLLHUP))
		ev |= REACTOR_EV_ERR;
	return ev;
}

int reactor_fd_add(struct reactor_fd *w, int fd, uint32_t events,
		   void (*cb)(struct reactor_fd *w, uint32_t events), void *arg)
{
	struct reactor *r = self_or_die("reactor_fd_add");
	struct epoll_event ev = { .events = to_epoll(events), .data.ptr = w };
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	w->events = events;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		w->owner = NULL;
		return -errno;
	}
	w->owner = r;
	return 0;
}

int reactor_fd_mod(struct reactor_fd *w, uint32_t events)
{
	if (!w->owner)
		return -EINVAL;
	reactor_assert_on(w->owner);
	struct epoll_event ev = { .events = to_epoll(events), .data.ptr = w };
	if (epoll_ctl(w->owner->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

void reactor_fd_del(struct reactor_fd *w)
{
	struct reactor *r = w->owner;
	if (!r)
		return;
	reactor_assert_on(r);
	/* Fails only if fd was closed first, which removed it already. */
	(void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	/* Events already fetched in the batch being dispatched must not reach w. */
	for (int i = 0; i < r->batch_len; i++)
		if (r->batch[i].data.ptr == w)
			r->batch[i].data.ptr = NULL;
	w->owner = NULL;
}

/* ---- stop ---- */

static void request_exit(void)
{
	atomic_store(&g_exit, true);
	wake_all();
}

void reactors_stop(void)
{
	int saved = errno; /* may run in a signal handler */
	atomic_fetch_add(&g_stop_count, 1);
	wake_all();
	errno = saved;
}

bool reactors_stopping(void) { return atomic_load(&g_stop_count) > 0; }

void reactors_shutdown_complete(void)
{
	int saved = errno;
	request_exit();
	errno = saved;
}

void reactors_on_stop(void (*fn)(void *arg), void *arg)
{
	struct stop_hook *h = malloc(sizeof(*h));
	if (!h)
		die("registering a stop hook", ENOMEM);
	h->fn = fn;
	h->arg = arg;
	pthread_mutex_lock(&g_hooks_lock);
	h->next = g_hooks;
	g_hooks = h;
	pthread_mutex_unlock(&g_hooks_lock);
}

/* Reactor 0, end of an iteration: turn a stop request into hooks or exit. */
static void check_stop(struct reactor *r)
{
	if (r->idx != 0)
		return;
	unsigned stops = atomic_load(&g_stop_count);
	if (stops == 0)
		return;
	if (!g_hooks_ran) {
		g_hooks_ran = true;
		pthread_mutex_lock(&g_hooks_lock);
		struct stop_hook *h = g_hooks;
		pthread_mutex_unlock(&g_hooks_lock);
		if (!h)
			request_exit();
		for (; h; h = h->next)
			h->fn(h->arg);
	}
	if (stops >= 2)
		request_exit(); /* a second stop request does not wait for the hooks */
}

/* ---- the loop ---- */

static bool work_pending(struct reactor *r)
{
	return r->defer_head || r->backlog_len || io_uring_cq_ready(&r->ring) ||
	       atomic_load_explicit(&r->msgs, memory_order_relaxed) || atomic_load(&g_exit) ||
	       (r->idx == 0 && !g_hooks_ran && atomic_load(&g_stop_count) > 0);
}

/* Set once a kernel without epoll_pwait2 (before 5.11) answered ENOSYS. */
static atomic_bool g_no_pwait2;

/* Wait for fd events until the nearest timer (exact to the ns with
 * epoll_pwait2; epoll_wait's ms, rounded up, on older kernels) or at once
 * when work is pending. The kernel never returns before the timeout, and
 * reactor_timers_run() fires only timers whose deadline has passed, so a
 * timer is never early; it is late by the wake-up latency plus the
 * thread's timer slack (50 us by default). */
static int wait_events(struct reactor *r, struct epoll_event *evs)
{
	bool pending = work_pending(r);
	uint64_t now = now_ns();
	if (!atomic_load_explicit(&g_no_pwait2, memory_order_relaxed)) {
		struct timespec ts = {0, 0};
		bool armed = pending || reactor_timers_timeout_ts(r, now, &ts);
		int n = epoll_pwait2(r->epfd, evs, REACTOR_EPOLL_BATCH, armed ? &ts : NULL, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		atomic_store_explicit(&g_no_pwait2, true, memory_order_relaxed);
	}
	int timeout = pending ? 0 : reactor_timers_timeout_ms(r, now);
	return epoll_wait(r->epfd, evs, REACTOR_EPOLL_BATCH, timeout);
}

static void loop_iteration(struct reactor *r)
{
	struct epoll_event evs[REACTOR_EPOLL_BATCH];

	uring_submit(r, false);
	int n = wait_events(r, evs);
	if (n < 0) {
		if (errno != EINTR)
			die("epoll_pwait2", errno);
		n = 0;
	}
	r->batch = evs;
	r->batch_len = n;

	run_completions(r);
	for (int i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;
		if (!p || p == &g_tag_ring)
			continue;
		if (p == &g_tag_evfd) {
			drain_eventfd(r);
			continue;
		}
		struct reactor_fd *w = p;
		w->cb(w, from_epoll(evs[i].events));
	}
	r->batch = NULL;
	r->batch_len = 0;

	run_messages(r);
	reactor_timers_run(r, now_ns());
	run_defers(r);
	check_stop(r);
}

/* After the loop ended: finish queued messages, deferred calls and ring
 * requests (cancelling the ring requests after half the budget); fd
 * watchers and timers no longer fire. */
static void drain_on_exit(struct reactor *r)
{
	uint64_t start = now_ns();
	bool cancelled = false;
	for (;;) {
		uring_submit(r, false);
		run_completions(r);
		drain_eventfd(r);
		run_messages(r);
		run_defers(r);
		bool idle = !r->defer_head && !atomic_load(&r->msgs) && r->inflight == 0 &&
			    r->backlog_len == 0 && io_uring_sq_ready(&r->ring) == 0;
		uint64_t el = now_ns() - start;
		if (idle || el >= DRAIN_NS)
			break;
		if (r->inflight > 0 && !cancelled && el >= DRAIN_NS / 2) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
			if (sqe) {
				io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
				io_uring_sqe_set_data(sqe, NULL);
				cancelled = true;
			}
		}
		if (r->inflight > 0 && !r->defer_head && !atomic_load(&r->msgs)) {
			struct io_uring_cqe *cqe;
			struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 10000000 };
			uring_submit(r, false);
			(void)io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
		}
	}
}

static void reactor_loop(struct reactor *r)
{
	while (!atomic_load(&g_exit))
		loop_iteration(r);
	drain_on_exit(r);
	buf_cache_drain();
}

static void *reactor_thread(void *arg)
{
	struct reactor *r = arg;
	t_self = r;
	reactor_loop(r);
	t_self = NULL;
	return NULL;
}

/* ---- lifetime ---- */

static void reactor_free(struct reactor *r)
{
	if (!r)
		return;
	struct reactor_msg *m = atomic_exchange(&r->msgs, NULL);
	while (m) { /* messages that arrived after the loop ended: never run */
		struct reactor_msg *next = m->next;
		free(m);
		m = next;
	}
	reactor_timers_fini(r);
	if (r->ring_ok)
		io_uring_queue_exit(&r->ring);
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->evfd >= 0)
		close(r->evfd);
	free(r->backlog);
	free(r);
}

static int reactor_new(unsigned idx, struct reactor **out)
{
	struct reactor *r = aligned_alloc(64, (sizeof(*r) + 63) / 64 * 64);
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	atomic_init(&r->msgs, NULL);
	r->idx = idx;
	r->epfd = r->evfd = -1;
	r->defer_tail = &r->defer_head;
	int rc;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		goto err_errno;
	r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->evfd < 0)
		goto err_errno;
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = 4 * REACTOR_URING_ENTRIES };
	rc = io_uring_queue_init_params(REACTOR_URING_ENTRIES, &r->ring, &p);
	if (rc < 0)
		goto err;
	r->ring_ok = true;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = (void *)&g_tag_evfd };
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) < 0)
		goto err_errno;
	ev.data.ptr = (void *)&g_tag_ring;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->ring.ring_fd, &ev) < 0)
		goto err_errno;
	*out = r;
	return 0;
err_errno:
	rc = -errno;
err:
	reactor_free(r);
	return rc;
}

int reactors_init(unsigned n)
{
	if (n == 0)
		return -EINVAL;
	if (g_reactors)
		return -EBUSY;
	/* A peer closing a socket must cost an EPIPE, not the process. */
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);

	struct reactor **rs = calloc(n, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		int rc = reactor_new(i, &rs[i]);
		if (rc < 0) {
			for (unsigned j = 0; j < i; j++)
				reactor_free(rs[j]);
			free(rs);
			return rc;
		}
	}
	atomic_store(&g_stop_count, 0);
	atomic_store(&g_exit, false);
	g_hooks_ran = false;
	g_reactors = rs;
	g_n = n;
	t_self = rs[0];
	return 0;
}

int reactors_run(void)
{
	if (!g_reactors)
		return -EINVAL;
	reactor_assert_on(g_reactors[0]);

	/* Reactor threads leave signals to the main thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = 0;
	for (unsigned i = 1; i < g_n; i++) {
		struct reactor *r = g_reactors[i];
		rc = -pthread_create(&r->thread, NULL, reactor_thread, r);
		if (rc < 0)
			break;
		r->thread_started = true;
		char name[16];
		snprintf(name, sizeof(name), "reactor%u", i % 100000u);
		pthread_setname_np(r->thread, name);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0)
		request_exit();

	reactor_loop(g_reactors[0]);

	for (unsigned i = 1; i < g_n; i++) {
		struct reactor *r = g_reactors[i];
		if (r->thread_started) {
			pthread_join(r->thread, NULL);
			r->thread_started = false;
		}
	}
	return rc;
}

void reactors_fini(void)
{
	for (unsigned i = 0; i < g_n; i++)
		reactor_free(g_reactors[i]);
	free(g_reactors);
	g_reactors = NULL;
	g_n = 0;
	t_self = NULL;
	pthread_mutex_lock(&g_hooks_lock);
	struct stop_hook *h = g_hooks;
	g_hooks = NULL;
	pthread_mutex_unlock(&g_hooks_lock);
	while (h) {
		struct stop_hook *next = h->next;
		free(h);
		h = next;
	}
}

/* test_reactor.c - unit tests for the reactor loop: defers, messages, timers, fd watchers, io_uring, stop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "core/reactor.h"

/* Callbacks run on reactor threads where cmocka asserts must not be used:
 * they count failures, and the test asserts the count on the main thread. */
static atomic_int g_fail;
#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			atomic_fetch_add(&g_fail, 1);                                 \
		}                                                                     \
	} while (0)

static int setup(void **state)
{
	(void)state;
	atomic_store(&g_fail, 0);
	return 0;
}

static void stop_cb(void *arg)
{
	(void)arg;
	reactors_stop();
}

/* ---------------------------------------------------------------- defers */

static int g_order[16];
static int g_norder;
static struct reactor_defer g_d[8];

static void rec(void *arg)
{
	g_order[g_norder++] = (int)(intptr_t)arg;
}

static void rec_and_requeue(void *arg)
{
	rec(arg);
	/* Queued while the batch runs: must run after 2 and 3, in a later iteration. */
	reactor_defer(&g_d[4], rec, (void *)4);
	/* A message to ourselves runs in the next iteration's message phase,
	 * which comes before that iteration's deferred calls: it proves 4
	 * did not run in this batch. */
	CHECK(reactor_send_msg(reactor_self(), rec, (void *)6) == 0);
}

static void rec_stop(void *arg)
{
	rec(arg);
	reactors_stop();
}

static void marker_timer(struct reactor_timer *t)
{
	(void)t;
}

static void test_defer_order(void **state)
{
	(void)state;
	g_norder = 0;
	assert_int_equal(reactors_init(1), 0);
	assert_non_null(reactor_self());
	assert_int_equal(reactor_index(reactor_self()), 0);
	reactor_defer(&g_d[1], rec_and_requeue, (void *)1);
	reactor_defer(&g_d[2], rec, (void *)2);
	reactor_defer(&g_d[3], rec, (void *)3);
	/* Nothing runs re-entrantly from reactor_defer. */
	assert_int_equal(g_norder, 0);
	reactor_defer(&g_d[5], rec_stop, (void *)5);
	/* A far timer must not delay deferred calls: epoll must not sleep. */
	struct reactor_timer t;
	reactor_timer_init(&t, marker_timer, NULL);
	reactor_timer_start(&t, 5ull * 1000000000ull);
	uint64_t t0 = now_ns();
	assert_int_equal(reactors_run(), 0);
	assert_true(now_ns() - t0 < 2ull * 1000000000ull);
	reactor_timer_cancel(&t);
	reactors_fini();
	assert_null(reactor_self());
	assert_int_equal(g_norder, 6);
	int want[] = { 1, 2, 3, 5, 6, 4 };
	for (int i = 0; i < 6; i++)
		assert_int_equal(g_order[i], want[i]);
	assert_int_equal(atomic_load(&g_fail), 0);
}

/* -------------------------------------------------------------- messages */

#define PINGS 1000
static atomic_int g_pings, g_pongs;

static void pong(void *arg);

static void ping(void *arg)
{
	(void)arg;
	CHECK(reactor_self() == reactor_get(1));
	reactor_assert_on(reactor_get(1));
	atomic_fetch_add(&g_pings, 1);
	CHECK(reactor_send_msg(reactor_get(0), pong, NULL) == 0);
}

static void pong(void *arg)
{
	(void)arg;
	CHECK(reactor_self() == reactor_get(0));
	if (atomic_fetch_add(&g_pongs, 1) + 1 == PINGS)
		reactors_stop();
	else
		CHECK(reactor_send_msg(reactor_get(1), ping, NULL) == 0);
}

static void test_msg_ping_pong(void **state)
{
	(void)state;
	atomic_store(&g_pings, 0);
	atomic_store(&g_pongs, 0);
	assert_int_equal(reactors_init(2), 0);
	assert_int_equal(reactor_count(), 2);
	assert_null(reactor_get(2));
	/* Sent before the threads exist: queued, delivered once running. */
	assert_int_equal(reactor_send_msg(reactor_get(1), ping, NULL), 0);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_int_equal(atomic_load(&g_pings), PINGS);
	assert_int_equal(atomic_load(&g_pongs), PINGS);
	assert_int_equal(atomic_load(&g_fail), 0);
}

#define PRODUCERS 3
#define PER_PRODUCER 20000
static int g_next_seq[PRODUCERS]; /* touched only on reactor 1 */
static atomic_int g_received;
static atomic_int g_producers_done;

struct seq_msg {
	int producer;
	int seq;
};

static void consume(void *arg)
{
	struct seq_msg *m = arg;
	reactor_assert_on(reactor_get(1));
	CHECK(m->seq == g_next_seq[m->producer]); /* FIFO per sender */
	g_next_seq[m->producer] = m->seq + 1;
	free(m);
	if (atomic_fetch_add(&g_received, 1) + 1 == PRODUCERS * PER_PRODUCER)
		CHECK(reactor_send_msg(reactor_get(0), stop_cb, NULL) == 0);
}

static void *producer(void *arg)
{
	int p = (int)(intptr_t)arg;
	for (int i = 0; i < PER_PRODUCER; i++) {
		struct seq_msg *m = malloc(sizeof(*m));
		m->producer = p;
		m->seq = i;
		CHECK(reactor_self() == NULL);
		CHECK(reactor_send_msg(reactor_get(1), consume, m) == 0);
	}
	atomic_fetch_add(&g_producers_done, 1);
	return NULL;
}

static void test_msg_many_from_threads(void **state)
{
	(void)state;
	memset(g_next_seq, 0, sizeof(g_next_seq));
	atomic_store(&g_received, 0);
	atomic_store(&g_producers_done, 0);
	assert_int_equal(reactors_init(2), 0);
	pthread_t th[PRODUCERS];
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, producer, (void *)(intptr_t)i), 0);
	assert_int_equal(reactors_run(), 0);
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	reactors_fini();
	assert_int_equal(atomic_load(&g_received), PRODUCERS * PER_PRODUCER);
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(g_next_seq[i], PER_PRODUCER);
	assert_int_equal(atomic_load(&g_fail), 0);
}

/* ---------------------------------------------------------------- timers */

static int g_fired[8];
static int g_nfired;
static uint64_t g_t0;
static struct reactor_timer g_tm[6];

static void tfire(struct reactor_timer *t)
{
	int id = (int)(intptr_t)t->arg;
	CHECK(!reactor_timer_armed(t));
	g_fired[g_nfired++] = id;
	/* Never early: id*10 ms except id 3, re-armed to 60 ms. */
	uint64_t min = id == 3 ? 60 : (uint64_t)id * 10;
	CHECK(now_ns() - g_t0 >= min * 1000000ull);
}

static int g_periodic;

static void tperiodic(struct reactor_timer *t)
{
	if (++g_periodic < 5)
		reactor_timer_start(t, 2000000); /* re-arm from its own callback */
}

static void tstop(struct reactor_timer *t)
{
	(void)t;
	reactors_stop();
}

static void test_timers(void **state)
{
	(void)state;
	g_nfired = 0;
	g_periodic = 0;
	assert_int_equal(reactors_init(1), 0);
	g_t0 = now_ns();
	for (int i = 1; i <= 4; i++) {
		reactor_timer_init(&g_tm[i], tfire, (void *)(intptr_t)i);
		assert_false(reactor_timer_armed(&g_tm[i]));
	}
	reactor_timer_start(&g_tm[4], 40000000);
	reactor_timer_start(&g_tm[2], 20000000);
	reactor_timer_start(&g_tm[1], 10000000);
	reactor_timer_start(&g_tm[3], 30000000);
	reactor_timer_start(&g_tm[3], 60000000); /* re-arm: later */
	assert_true(reactor_timer_armed(&g_tm[2]));
	reactor_timer_cancel(&g_tm[2]);
	assert_false(reactor_timer_armed(&g_tm[2]));
	reactor_timer_cancel(&g_tm[2]); /* cancelling an idle timer is harmless */
	reactor_timer_init(&g_tm[5], tperiodic, NULL);
	reactor_timer_start(&g_tm[5], 0);
	reactor_timer_init(&g_tm[0], tstop, NULL);
	reactor_timer_start(&g_tm[0], 90000000);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_int_equal(g_nfired, 3);
	assert_int_equal(g_fired[0], 1);
	assert_int_equal(g_fired[1], 4);
	assert_int_equal(g_fired[2], 3);
	assert_int_equal(g_periodic, 5);
	assert_int_equal(atomic_load(&g_fail), 0);
}

/* Many timers in random order fire sorted by deadline. */
#define NT 300
static struct reactor_timer g_many[NT];
static uint64_t g_last_deadline;
static int g_many_fired;

static void tmany(struct reactor_timer *t)
{
	uint64_t d = (uint64_t)(uintptr_t)t->arg;
	CHECK(d >= g_last_deadline);
	g_last_deadline = d;
	if (++g_many_fired == NT)
		reactors_stop();
}

static void test_timers_many(void **state)
{
	(void)state;
	g_many_fired = 0;
	g_last_deadline = 0;
	assert_int_equal(reactors_init(1), 0);
	srand(7);
	for (int i = 0; i < NT; i++) {
		uint64_t delay = (uint64_t)(rand() % 50) * 1000000ull;
		reactor_timer_init(&g_many[i], tmany, (void *)(uintptr_t)delay);
		reactor_timer_start(&g_many[i], delay);
	}
	/* Cancel and re-arm a third of them with their same delay. */
	for (int i = 0; i < NT; i += 3) {
		reactor_timer_cancel(&g_many[i]);
		reactor_timer_start(&g_many[i], (uint64_t)(uintptr_t)g_many[i].arg);
	}
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_int_equal(g_many_fired, NT);
	assert_int_equal(atomic_load(&g_fail), 0);
}

/* A 200 us timer on an idle reactor fires after about 200 us, not after the
 * 1 ms a millisecond epoll timeout would cost, and never early. The
 * assertion is on the median of many firings so a loaded machine (two
 * cores shared with other tests) does not make it flaky. */
#define NPREC 300
#define PREC_DELAY_NS 200000ull
static uint64_t g_prec_armed;
static uint64_t g_prec_late[NPREC];
static int g_nprec;
static struct reactor_timer g_prec;

static void tprec(struct reactor_timer *t)
{
	uint64_t el = now_ns() - g_prec_armed;
	CHECK(el >= PREC_DELAY_NS); /* never early */
	g_prec_late[g_nprec++] = el;
	if (g_nprec == NPREC) {
		reactors_stop();
		return;
	}
	g_prec_armed = now_ns();
	reactor_timer_start(t, PREC_DELAY_NS);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_timer_precision(void **state)
{
	(void)state;
	g_nprec = 0;
	assert_int_equal(reactors_init(1), 0);
	reactor_timer_init(&g_prec, tprec, NULL);
	g_prec_armed = now_ns();
	reactor_timer_start(&g_prec, PREC_DELAY_NS);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_int_equal(g_nprec, NPREC);
	assert_int_equal(atomic_load(&g_fail), 0);
	qsort(g_prec_late, NPREC, sizeof(g_prec_late[0]), cmp_u64);
	uint64_t median = g_prec_late[NPREC / 2];
	print_message("200 us timer: min %llu us, median %llu us, 90th %llu us\n",
		      (unsigned long long)g_prec_late[0] / 1000, (unsigned long long)median / 1000,
		      (unsigned long long)g_prec_late[NPREC * 9 / 10] / 1000);
	assert_true(g_prec_late[0] >= PREC_DELAY_NS);
	assert_true(median < 700000ull); /* a ms-rounded wait would be >= 1000 us every time */
}

/* ------------------------------------------------------------ fd watchers */

static int g_sp[2];
static struct reactor_fd *g_wa, *g_wb;
static int g_a_calls, g_b_calls;
static char g_got[64];
static size_t g_ngot;

static void wb_cb(struct reactor_fd *w, uint32_t ev)
{
	(void)w;
	(void)ev;
	g_b_calls++;
}

static void wa_cb(struct reactor_fd *w, uint32_t ev)
{
	g_a_calls++;
	CHECK(ev & REACTOR_EV_IN);
	ssize_t n = read(w->fd, g_got + g_ngot, sizeof(g_got) - g_ngot);
	CHECK(n > 0);
	if (n > 0)
		g_ngot += (size_t)n;
	if (g_ngot >= 5) {
		/* Remove and free both watchers from inside a callback, the
		 * other one possibly already fetched in this epoll batch. */
		reactor_fd_del(g_wb);
		free(g_wb);
		g_wb = NULL;
		reactor_fd_del(w);
		free(w);
		g_wa = NULL;
		reactors_stop();
	}
}

static void *late_writer(void *arg)
{
	(void)arg;
	usleep(20000);
	CHECK(write(g_sp[1], "hello", 5) == 5);
	return NULL;
}

static void test_fd_watch_and_del_in_cb(void **state)
{
	(void)state;
	int pipefd[2];
	g_a_calls = g_b_calls = 0;
	g_ngot = 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, g_sp), 0);
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(reactors_init(1), 0);
	g_wa = calloc(1, sizeof(*g_wa));
	g_wb = calloc(1, sizeof(*g_wb));
	assert_int_equal(reactor_fd_add(g_wa, g_sp[0], REACTOR_EV_IN, wa_cb, NULL), 0);
	/* The pipe's write end is always writable: wb is ready in every batch. */
	assert_int_equal(reactor_fd_add(g_wb, pipefd[1], REACTOR_EV_OUT, wb_cb, NULL), 0);
	/* Adding the same fd twice to one reactor is refused with -EEXIST. */
	struct reactor_fd dup;
	assert_int_equal(reactor_fd_add(&dup, g_sp[0], REACTOR_EV_IN, wa_cb, NULL), -EEXIST);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, late_writer, NULL), 0);
	assert_int_equal(reactors_run(), 0);
	pthread_join(th, NULL);
	reactors_fini();
	assert_null(g_wa);
	assert_null(g_wb);
	assert_int_equal((int)g_ngot, 5);
	assert_memory_equal(g_got, "hello", 5);
	assert_true(g_a_calls >= 1);
	assert_true(g_b_calls >= 1);
	close(g_sp[0]);
	close(g_sp[1]);
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(atomic_load(&g_fail), 0);
}

/* Two watchers ready in the same epoll batch: whichever runs first removes
 * both; the other must not be called although its event was fetched. */
static struct reactor_fd g_pair[2];
static int g_pair_calls;

static void pair_cb(struct reactor_fd *w, uint32_t ev)
{
	(void)w;
	(void)ev;
	g_pair_calls++;
	reactor_fd_del(&g_pair[0]);
	reactor_fd_del(&g_pair[1]);
	reactors_stop();
}

static void test_fd_del_cancels_fetched_event(void **state)
{
	(void)state;
	int a[2], b[2];
	g_pair_calls = 0;
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "y", 1), 1);
	assert_int_equal(reactors_init(1), 0);
	assert_int_equal(reactor_fd_add(&g_pair[0], a[0], REACTOR_EV_IN, pair_cb, NULL), 0);
	assert_int_equal(reactor_fd_add(&g_pair[1], b[0], REACTOR_EV_IN, pair_cb, NULL), 0);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_int_equal(g_pair_calls, 1);
	reactor_fd_del(&g_pair[0]); /* deleting twice is harmless */
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* EV_OUT toggled with reactor_fd_mod, then hang-up reported. */
static struct reactor_fd g_w;
static int g_phase;

static void mod_cb(struct reactor_fd *w, uint32_t ev)
{
	if (g_phase == 0) {
		CHECK(ev & REACTOR_EV_OUT);
		CHECK(write(w->fd, "x", 1) == 1);
		/* Stop watching OUT; watch IN for the peer's close. */
		CHECK(reactor_fd_mod(w, REACTOR_EV_IN) == 0);
		g_phase = 1;
		close(g_sp[1]);
		return;
	}
	CHECK(!(ev & REACTOR_EV_OUT));
	CHECK(ev & (REACTOR_EV_IN | REACTOR_EV_ERR));
	char c;
	ssize_t n = read(w->fd, &c, 1);
	if (n == 0 || (ev & REACTOR_EV_ERR)) {
		g_phase = 2;
		reactor_fd_del(w);
		reactors_stop();
	}
}

static void test_fd_mod_and_hup(void **state)
{
	(void)state;
	g_phase = 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, g_sp), 0);
	assert_int_equal(reactors_init(1), 0);
	assert_int_equal(reactor_fd_add(&g_w, g_sp[0], REACTOR_EV_OUT, mod_cb, NULL), 0);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_int_equal(g_phase, 2);
	close(g_sp[0]);
	assert_int_equal(atomic_load(&g_fail), 0);
}

/* --------------------------------------------------------------- io_uring */

struct rd {
	struct reactor_uring_req req;
	char buf[4096];
	int res;
	int done;
};
static struct rd g_rd;

static void rd_cb(struct reactor_uring_req *req, int res, uint32_t flags)
{
	struct rd *r = (struct rd *)(void *)req; /* req is the first member */
	(void)flags;
	r->res = res;
	r->done++;
	CHECK(reactor_uring_inflight() == 0);
	reactors_stop();
}

static void test_uring_read(void **state)
{
	(void)state;
	int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600); /* anonymous file */
	assert_true(fd >= 0);
	char data[4096];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + 3);
	assert_int_equal(pwrite(fd, data, sizeof(data), 8192), (ssize_t)sizeof(data));

	memset(&g_rd, 0, sizeof(g_rd));
	g_rd.req.cb = rd_cb;
	assert_int_equal(reactors_init(1), 0);
	struct io_uring_sqe *sqe = reactor_uring_sqe(&g_rd.req);
	assert_non_null(sqe);
	io_uring_prep_read(sqe, fd, g_rd.buf, sizeof(g_rd.buf), 8192);
	assert_int_equal(reactor_uring_inflight(), 1);
	assert_int_equal(g_rd.done, 0); /* not before the loop runs */
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	close(fd);
	assert_int_equal(g_rd.done, 1);
	assert_int_equal(g_rd.res, (int)sizeof(data));
	assert_memory_equal(g_rd.buf, data, sizeof(data));
	assert_int_equal(atomic_load(&g_fail), 0);
}

/* More SQEs than the ring holds, queued at once: reactor_uring_sqe never
 * returns NULL and every request completes exactly once. */
#define NOPS 3000
static struct reactor_uring_req g_nops[NOPS];
static unsigned char g_nop_done[NOPS];
static int g_nop_count;

static void nop_cb(struct reactor_uring_req *req, int res, uint32_t flags)
{
	(void)flags;
	CHECK(res == 0);
	g_nop_done[req - g_nops]++;
	if (++g_nop_count == NOPS) {
		CHECK(reactor_uring_inflight() == 0);
		reactors_stop();
	}
}

static void queue_nops(void *arg)
{
	(void)arg;
	for (int i = 0; i < NOPS; i++) {
		g_nops[i].cb = nop_cb;
		struct io_uring_sqe *sqe = reactor_uring_sqe(&g_nops[i]);
		CHECK(sqe != NULL);
		io_uring_prep_nop(sqe);
	}
}

static void test_uring_many(void **state)
{
	(void)state;
	g_nop_count = 0;
	memset(g_nop_done, 0, sizeof(g_nop_done));
	assert_int_equal(reactors_init(2), 0);
	assert_int_equal(reactor_send_msg(reactor_get(1), queue_nops, NULL), 0);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_int_equal(g_nop_count, NOPS);
	for (int i = 0; i < NOPS; i++)
		assert_int_equal(g_nop_done[i], 1);
	assert_int_equal(atomic_load(&g_fail), 0);
}

/* A ring request that never completes on its own (read of an empty pipe)
 * is cancelled by the exit drain, and its callback still runs. */
static struct reactor_uring_req g_stuck;
static int g_stuck_res, g_stuck_calls;
static char g_stuck_buf[8];

static void stuck_cb(struct reactor_uring_req *req, int res, uint32_t flags)
{
	(void)req;
	(void)flags;
	g_stuck_res = res;
	g_stuck_calls++;
}

static void test_exit_drain_cancels_stuck_io(void **state)
{
	(void)state;
	int p[2];
	g_stuck_calls = 0;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(reactors_init(1), 0);
	g_stuck.cb = stuck_cb;
	io_uring_prep_read(reactor_uring_sqe(&g_stuck), p[0], g_stuck_buf, sizeof(g_stuck_buf), 0);
	struct reactor_timer t;
	reactor_timer_init(&t, tstop, NULL);
	reactor_timer_start(&t, 10000000);
	uint64_t t0 = now_ns();
	assert_int_equal(reactors_run(), 0);
	uint64_t el = now_ns() - t0;
	reactors_fini();
	close(p[0]);
	close(p[1]);
	assert_int_equal(g_stuck_calls, 1);
	assert_true(g_stuck_res == -ECANCELED || g_stuck_res == -EINTR);
	assert_true(el >= 1000000000ull && el < 3000000000ull);
}

/* ------------------------------------------------------------------- stop */

static atomic_int g_hook_calls, g_hook_order[2];
static atomic_int g_after_hook_ticks;
static atomic_int g_drained;
static struct reactor_timer g_tick1, g_done_timer;

static void tick1(struct reactor_timer *t)
{
	/* Reactor 1 keeps serving after the hooks ran (phase 1 of the stop). */
	if (atomic_load(&g_hook_calls) == 2)
		atomic_fetch_add(&g_after_hook_ticks, 1);
	reactor_timer_start(t, 1000000);
}

static void start_tick1(void *arg)
{
	(void)arg;
	reactor_timer_init(&g_tick1, tick1, NULL);
	reactor_timer_start(&g_tick1, 1000000);
}

static void drained_msg(void *arg)
{
	(void)arg;
	CHECK(reactor_self() == reactor_get(1));
	atomic_fetch_add(&g_drained, 1);
}

static void finish(struct reactor_timer *t)
{
	(void)t;
	CHECK(atomic_load(&g_after_hook_ticks) > 0);
	/* Queued before the loops end: still delivered by the exit drain. */
	CHECK(reactor_send_msg(reactor_get(1), drained_msg, NULL) == 0);
	reactors_shutdown_complete();
}

static void hook_a(void *arg)
{
	(void)arg;
	reactor_assert_on(reactor_get(0));
	CHECK(reactors_stopping());
	atomic_store(&g_hook_order[atomic_fetch_add(&g_hook_calls, 1)], 1);
}

static void hook_b(void *arg)
{
	(void)arg;
	reactor_assert_on(reactor_get(0));
	atomic_store(&g_hook_order[atomic_fetch_add(&g_hook_calls, 1)], 2);
	/* Asynchronous shutdown work, then phase 2. */
	reactor_timer_init(&g_done_timer, finish, NULL);
	reactor_timer_start(&g_done_timer, 20000000);
}

static void sig_stop(int sig)
{
	(void)sig;
	reactors_stop();
}

static void *signaller(void *arg)
{
	(void)arg;
	usleep(10000);
	kill(getpid(), SIGUSR1);
	return NULL;
}

static void test_stop_hooks_two_phase(void **state)
{
	(void)state;
	atomic_store(&g_hook_calls, 0);
	atomic_store(&g_after_hook_ticks, 0);
	atomic_store(&g_drained, 0);
	struct sigaction sa = { .sa_handler = sig_stop }, old;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);

	assert_int_equal(reactors_init(2), 0);
	assert_false(reactors_stopping());
	reactors_on_stop(hook_a, NULL);
	reactors_on_stop(hook_b, NULL);
	assert_int_equal(reactor_send_msg(reactor_get(1), start_tick1, NULL), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, signaller, NULL), 0);
	assert_int_equal(reactors_run(), 0);
	pthread_join(th, NULL);
	assert_true(reactors_stopping());
	reactors_fini();
	sigaction(SIGUSR1, &old, NULL);
	assert_int_equal(atomic_load(&g_hook_calls), 2);
	/* Most recently registered first. */
	assert_int_equal(atomic_load(&g_hook_order[0]), 2);
	assert_int_equal(atomic_load(&g_hook_order[1]), 1);
	assert_int_equal(atomic_load(&g_drained), 1);
	assert_int_equal(atomic_load(&g_fail), 0);
}

static int g_slow_hook_calls;

static void slow_hook(void *arg)
{
	(void)arg;
	g_slow_hook_calls++;
	/* Never completes; a second stop must force the exit. */
}

static void second_stop(struct reactor_timer *t)
{
	(void)t;
	reactors_stop();
}

static void test_stop_forced_by_second_request(void **state)
{
	(void)state;
	g_slow_hook_calls = 0;
	assert_int_equal(reactors_init(3), 0);
	reactors_on_stop(slow_hook, NULL);
	reactors_stop(); /* before run: handled at the first iteration */
	struct reactor_timer t;
	reactor_timer_init(&t, second_stop, NULL);
	reactor_timer_start(&t, 10000000);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_int_equal(g_slow_hook_calls, 1);
}

static void test_stop_from_other_reactor(void **state)
{
	(void)state;
	assert_int_equal(reactors_init(2), 0);
	assert_int_equal(reactor_send_msg(reactor_get(1), stop_cb, NULL), 0);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	/* Re-initialisable after fini. */
	assert_int_equal(reactors_init(1), 0);
	assert_int_equal(reactors_init(1), -EBUSY);
	reactors_fini();
	assert_int_equal(reactors_init(0), -EINVAL);
}

static void test_assert_on_aborts(void **state)
{
	(void)state;
	assert_int_equal(reactors_init(2), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 2);
		reactor_assert_on(reactor_get(0)); /* we are reactor 0: passes */
		reactor_assert_on(reactor_get(1)); /* wrong thread: aborts */
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	reactors_fini();
}

int main(void)
{
	alarm(60); /* a hung loop fails the test instead of blocking the suite */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defer_order, setup),
		cmocka_unit_test_setup(test_msg_ping_pong, setup),
		cmocka_unit_test_setup(test_msg_many_from_threads, setup),
		cmocka_unit_test_setup(test_timers, setup),
		cmocka_unit_test_setup(test_timers_many, setup),
		cmocka_unit_test_setup(test_timer_precision, setup),
		cmocka_unit_test_setup(test_fd_watch_and_del_in_cb, setup),
		cmocka_unit_test_setup(test_fd_del_cancels_fetched_event, setup),
		cmocka_unit_test_setup(test_fd_mod_and_hup, setup),
		cmocka_unit_test_setup(test_uring_read, setup),
		cmocka_unit_test_setup(test_uring_many, setup),
		cmocka_unit_test_setup(test_exit_drain_cancels_stuck_io, setup),
		cmocka_unit_test_setup(test_stop_hooks_two_phase, setup),
		cmocka_unit_test_setup(test_stop_forced_by_second_request, setup),
		cmocka_unit_test_setup(test_stop_from_other_reactor, setup),
		cmocka_unit_test_setup(test_assert_on_aborts, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

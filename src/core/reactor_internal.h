/* reactor_internal.h - the reactor struct and helpers shared by reactor.c and timer.c (core-private). */
#ifndef SOFTHBA_CORE_REACTOR_INTERNAL_H
#define SOFTHBA_CORE_REACTOR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <liburing.h>
#include <sys/epoll.h>

#include "core/reactor.h"

#define REACTOR_URING_ENTRIES 256u
#define REACTOR_EPOLL_BATCH 64

/* A message envelope: one malloc per reactor_send_msg(). */
struct reactor_msg {
	void (*fn)(void *arg);
	void *arg;
	struct reactor_msg *next;
};

/* A CQE taken off the ring but whose callback has not run yet. */
struct reactor_cqe {
	struct reactor_uring_req *req;
	int res;
	uint32_t flags;
};

struct reactor {
	/* Written by any thread: keep it on its own cache line. */
	_Alignas(64) _Atomic(struct reactor_msg *) msgs;

	_Alignas(64) unsigned idx;
	pthread_t thread;
	bool thread_started;
	int epfd;
	int evfd;
	struct io_uring ring;
	bool ring_ok;
	unsigned inflight;          /* ring requests not yet completed */

	/* CQEs moved off the ring by reactor_uring_sqe() when the ring was
	 * busy (CQ overflow); processed first at the next iteration. */
	struct reactor_cqe *backlog;
	unsigned backlog_len, backlog_cap;

	/* Deferred calls: FIFO singly linked list with tail pointer. */
	struct reactor_defer *defer_head;
	struct reactor_defer **defer_tail;

	/* Timer min-heap on (deadline_ns, seq). */
	struct reactor_timer **heap;
	unsigned heap_len, heap_cap;
	uint64_t timer_seq;

	/* epoll batch being dispatched, so reactor_fd_del() can cancel
	 * events already fetched for a watcher it removes. */
	struct epoll_event *batch;
	int batch_len;
};

/* timer.c */
/* Milliseconds until the nearest timer (rounded up), -1 when none is armed. */
int reactor_timers_timeout_ms(struct reactor *r, uint64_t now);
/* Time until the nearest timer, exact to the ns (0 when due): false when none is armed. */
bool reactor_timers_timeout_ts(struct reactor *r, uint64_t now, struct timespec *ts);
/* Fire the timers due at 'now'; returns how many fired. */
unsigned reactor_timers_run(struct reactor *r, uint64_t now);
void reactor_timers_fini(struct reactor *r);

#endif

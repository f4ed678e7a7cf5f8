/* reactor.h - one event loop per thread: io_uring for block I/O, epoll for sockets, messages, timers, deferred calls. */
#ifndef SOFTHBA_CORE_REACTOR_H
#define SOFTHBA_CORE_REACTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>

/*
 * Threading model
 * ---------------
 * A reactor is one thread running one loop. Everything a reactor owns
 * (connections, I/O in flight, buffers, timers) is touched only by that
 * thread; work for another reactor travels as a message
 * (reactor_send_msg). The loop, each iteration:
 *   1. submits the SQEs queued on its io_uring (block I/O),
 *   2. sleeps in epoll_pwait2() until a socket is ready, a CQE arrives (the
 *      ring fd is in the epoll set), a message arrives (eventfd), or the
 *      nearest timer is due; it does not sleep while deferred calls wait,
 *   3. runs, in order: io_uring completions, ready fd watchers, messages,
 *      due timers, deferred calls.
 * Callbacks are never invoked re-entrantly from the function that
 * registered them: a layer that can complete at once uses reactor_defer().
 */

struct reactor;

/* ---- lifetime (called from the main thread) ---- */

/* Create n reactors (n >= 1). Reactor 0 runs on the calling thread when
 * reactors_run() is called; reactors 1..n-1 get their own threads.
 * From reactors_init() on, the calling thread already is reactor 0
 * (reactor_self() returns it), so setup code may add fd watchers, timers
 * and deferred calls before reactors_run(). SIGPIPE is ignored if it had
 * its default disposition. Returns 0, -EINVAL (n == 0), -EBUSY (already
 * initialised) or -errno. */
int reactors_init(unsigned n);
/* Run all reactors until reactors_stop(); returns when every thread ended. */
int reactors_run(void);
/*
 * Stop is two-phase so the daemon can shut down in order:
 *  - reactors_stop() (async-signal-safe, any thread) marks the stop
 *    request and wakes every reactor. At the end of its current
 *    iteration reactor 0 runs the hooks registered with
 *    reactors_on_stop(), most recently registered first, once.
 *  - With no hook registered the loops end right away (after their
 *    current iteration). With hooks, the loops keep running (so the
 *    hooks can finish asynchronous work: drain I/O, flush caches, close
 *    sessions) until reactors_shutdown_complete() is called, or until
 *    reactors_stop() is called a second time (forced stop).
 * When a loop ends, its reactor still runs the messages and deferred
 * calls already queued and waits for its io_uring requests (at most 2 s,
 * cancelling them after 1 s); fd watchers and timers no longer fire.
 * Messages sent to a reactor after that are freed, never run, by
 * reactors_fini().
 */
void reactors_stop(void);
/* End every loop (second phase of the stop above). Async-signal-safe;
 * callable from any thread, usually by the last stop hook's completion. */
void reactors_shutdown_complete(void);
/* Free what reactors_init() allocated (after reactors_run() returned). */
void reactors_fini(void);
/* True once reactors_stop() was called. */
bool reactors_stopping(void);

/* Number of reactors; reactor by index; the calling thread's reactor
 * (NULL on a thread that is not a reactor). */
unsigned reactor_count(void);
struct reactor *reactor_get(unsigned idx);
struct reactor *reactor_self(void);
unsigned reactor_index(const struct reactor *r);

/* Abort (in every build) if the caller is not on reactor r. */
void reactor_assert_on(const struct reactor *r);

/* Monotonic time in nanoseconds. */
uint64_t now_ns(void);

/* ---- deferred calls: run fn(arg) on this reactor at the next iteration ---- */
struct reactor_defer {
	void (*fn)(void *arg);
	void *arg;
	struct reactor_defer *next; /* private */
};
/* Queue d on the calling reactor; d must stay valid until fn runs. */
void reactor_defer(struct reactor_defer *d, void (*fn)(void *arg), void *arg);

/* ---- messages: run fn(arg) on another (or the same) reactor ---- */
/* Lock-free (multi-producer, single-consumer); callable from any thread,
 * including non-reactor threads. Returns 0 or -ENOMEM. */
int reactor_send_msg(struct reactor *dst, void (*fn)(void *arg), void *arg);

/* ---- timers (per reactor; start/cancel only on the owning reactor) ---- */
struct reactor_timer {
	void (*fn)(struct reactor_timer *t);
	void *arg;               /* for the owner's use */
	uint64_t deadline_ns;    /* private */
	uint64_t seq;            /* private: arm order, breaks deadline ties (FIFO) */
	int heap_idx;            /* private: -1 when not armed */
	struct reactor *owner;   /* private */
};
void reactor_timer_init(struct reactor_timer *t, void (*fn)(struct reactor_timer *t), void *arg);
/* Arm (or re-arm) t to fire once after delay_ns on the calling reactor. */
void reactor_timer_start(struct reactor_timer *t, uint64_t delay_ns);
void reactor_timer_cancel(struct reactor_timer *t);
bool reactor_timer_armed(const struct reactor_timer *t);

/* ---- fd watchers (sockets, eventfds): level-triggered epoll ---- */
#define REACTOR_EV_IN  0x1u
#define REACTOR_EV_OUT 0x4u
#define REACTOR_EV_ERR 0x8u  /* error or hang-up, always reported */
struct reactor_fd {
	int fd;
	void (*cb)(struct reactor_fd *w, uint32_t events);
	void *arg;
	uint32_t events;         /* private: what is being watched */
	struct reactor *owner;   /* private */
};
/* Watch fd for events (REACTOR_EV_IN / REACTOR_EV_OUT) on the calling reactor.
 * Returns 0 or -errno. */
int reactor_fd_add(struct reactor_fd *w, int fd, uint32_t events,
		   void (*cb)(struct reactor_fd *w, uint32_t events), void *arg);
/* Change the watched set (e.g. add REACTOR_EV_OUT while a send is blocked). */
int reactor_fd_mod(struct reactor_fd *w, uint32_t events);
/* Stop watching. Synchronous: after it returns cb is never called again
 * for w, so w may be freed and fd closed. */
void reactor_fd_del(struct reactor_fd *w);

/* ---- io_uring block I/O ---- */
/* Every SQE a layer queues carries a pointer to one of these as user_data;
 * the loop calls cb with the CQE's res (bytes or -errno) and flags. */
struct reactor_uring_req {
	void (*cb)(struct reactor_uring_req *req, int res, uint32_t cqe_flags);
};
/* An SQE on the calling reactor's ring, zeroed, user_data set to req
 * (io_uring_prep_* helpers leave user_data alone). Never NULL: when the SQ
 * ring is full it is submitted first. The SQE is submitted at the next
 * loop iteration (batching). One SQE is one request: every CQE without
 * IORING_CQE_F_MORE ends one (do not use IOSQE_CQE_SKIP_SUCCESS). */
struct io_uring_sqe *reactor_uring_sqe(struct reactor_uring_req *req);
/* Number of ring requests in flight on the calling reactor. */
unsigned reactor_uring_inflight(void);

/* ---- stop hook: run fn on reactor 0 when a shutdown is requested ---- */
/* Callable from any thread before or while the reactors run (see
 * reactors_stop() for the order). A hook registered after the hooks
 * already ran is not called. Hooks are forgotten by reactors_fini(). */
void reactors_on_stop(void (*fn)(void *arg), void *arg);

#endif

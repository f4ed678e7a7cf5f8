/* raid.c - RAID core: level registry, the array's blk_ops, request lifecycle, member sub-I/O with deadlines, member failure. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blk/raid/raid_internal.h"
#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"

/*
 * Threading. RAID 0/1/10 requests run entirely on the reactor that
 * submitted them (the mirror engine has no shared state but the
 * members' health bits). RAID 5/6 requests are forwarded to the array's
 * owner reactor with one message, where the stripe locks live, and their
 * completion travels back with a second message: two hops per request
 * submitted elsewhere, and one core does the array's parity work. The
 * superblock state machine (dirty/clean marks, recorded failures) also
 * lives on the owner; writes on other reactors check it with one atomic
 * load (see raid_write_gate).
 */

/* ---- level registry: explicit table, looked up by number ---- */
static const struct raid_level_ops *const raid_levels[] = {
	&raid0_ops, &raid1_ops, &raid5_ops, &raid6_ops, &raid10_ops,
};

const struct raid_level_ops *raid_level_find(unsigned level)
{
	for (size_t i = 0; i < ARRAY_SIZE(raid_levels); i++)
		if (raid_levels[i]->level == level)
			return raid_levels[i];
	return NULL;
}

const uint8_t raid_zbuf[RAID_ZBUF_SIZE] __attribute__((aligned(4096)));

void raid_member_span(const struct raid_array *a, uint64_t lba, uint32_t n, uint64_t *lo, uint64_t *hi)
{
	const struct raid_geom *g = &a->g;
	if (a->ops->stripe_map != NULL) {
		uint64_t sw = (uint64_t)g->chunk * g->ndata;
		*lo = lba / sw * g->chunk;
		*hi = ((lba + n - 1) / sw + 1) * g->chunk;
		return;
	}
	struct raid_piece first, last;
	a->ops->map_piece(g, lba, 1, &first);
	a->ops->map_piece(g, lba + n - 1, 1, &last);
	*lo = UINT64_MAX;
	*hi = 0;
	for (unsigned k = 0; k < first.ncopies; k++)
		*lo = MIN(*lo, first.mlba[k]);
	for (unsigned k = 0; k < last.ncopies; k++)
		*hi = MAX(*hi, last.mlba[k] + 1);
}

/* ---- lifetime of internal operations ---- */
void raid_internal_get(struct raid_array *a)
{
	reactor_assert_on(a->owner);
	a->internal++;
}

void raid_internal_put(struct raid_array *a)
{
	a->internal--;
	if (a->dead)
		raid_array_maybe_free(a);
}

/* ---- iovec slicing ---- */
int raid_iov_count(const struct iovec *src, int cnt, size_t off, size_t len)
{
	int n = 0;
	for (int i = 0; i < cnt && len > 0; i++) {
		size_t l = src[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = MIN(l - off, len);
		len -= take;
		off = 0;
		n++;
	}
	return n;
}

int raid_iov_slice(const struct iovec *src, int cnt, size_t off, size_t len, struct iovec *dst, int max)
{
	int n = 0;
	for (int i = 0; i < cnt && len > 0; i++) {
		size_t l = src[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = MIN(l - off, len);
		if (n == max)
			return -1;
		dst[n].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}

/* ---- member failure ---- */
bool raid_status_fails_member(int status)
{
	return status != 0 && status != -ENOMEM && status != -EINVAL;
}

void raid_member_failed(struct raid_array *a, unsigned member, int status)
{
	uint32_t bit = 1u << member;
	uint32_t old = atomic_fetch_or_explicit(&a->failed, bit, memory_order_acq_rel);
	if (old & bit)
		return;
	/* what raid_readd_member() needs to tell, should the array go offline, whether this member
	 * still holds every write: none started since, none in flight now */
	atomic_store(&a->fail_wseq[member], atomic_load_explicit(&a->wseq, memory_order_seq_cst));
	atomic_store(&a->fail_busy[member], atomic_load_explicit(&a->writes_inflight, memory_order_seq_cst) != 0);
	bool survives = a->ops->survives(&a->g, old | bit);
	log_err(LOGC_RAID, a->tag, "member %u (%s) failed: %s; array is %s", member, a->m[member].name,
		status == -ECANCELED ? "failed on request" : blk_strerror(status), survives ? "degraded" : "OFFLINE");
	if (!survives && !atomic_exchange(&a->offline, true))
		log_err(LOGC_RAID, a->tag, "%s cannot serve I/O with members 0x%x failed: every I/O now fails with EIO",
			a->ops->name, old | bit);
	atomic_fetch_add(&a->reqs_inflight, 1); /* keeps the array alive until the owner ran it */
	if (reactor_send_msg(a->owner, raid_array_failure_changed, a) != 0) {
		atomic_fetch_sub(&a->reqs_inflight, 1);
		log_err(LOGC_RAID, a->tag, "cannot reach the owner reactor to record the failure of member %u", member);
	}
}

/* ---- sub-I/O ---- */
struct raid_sub *raid_sub_new(struct raid_array *a, unsigned member, enum blk_op op, uint64_t mlba,
			      uint32_t nblocks, int iovmax, void (*done)(struct raid_sub *s, int status),
			      void *ctx, struct raid_opref *ref)
{
	struct raid_sub *s = malloc(sizeof(*s) + (size_t)(iovmax > 0 ? iovmax : 0) * sizeof(struct iovec));
	if (s == NULL)
		return NULL;
	blk_io_prep(&s->io, a->m[member].dev, op, a->data_offset + mlba, nblocks, iovmax > 0 ? s->iov : NULL, 0,
		    NULL, s);
	s->a = a;
	s->member = member;
	s->ref = ref;
	s->done = done;
	s->ctx = ctx;
	s->tag = 0;
	s->status = 0;
	s->timed_out = false;
	s->bounce = s->shadow_copy = s->to_shadow = s->main_pending = s->shadow_pending = false;
	s->counted = false;
	s->bbuf = NULL;
	s->iovmax = iovmax;
	reactor_timer_init(&s->timer, NULL, s);
	if (ref != NULL)
		ref->refs++;
	return s;
}

void raid_sub_set_raw_lba(struct raid_sub *s, uint64_t lba)
{
	s->io.lba = lba;
}

void raid_opref_put(struct raid_opref *r)
{
	if (r != NULL && --r->refs == 0)
		r->release(r);
}

/*
 * A read into host memory (s->bounce) goes through a private buffer: when
 * the member misses its deadline the request completes from the other
 * copies, and the late answer lands in that buffer (freed with the sub),
 * never in host memory the request already gave back. Costs one copy per
 * host read; the copy happens only on success.
 *
 * A write with shadow_copy goes to the role's replacement device too (a
 * replace in progress); the sub finishes when both have answered. A
 * failing shadow abandons the replace (rebuild.c), never fails the member.
 */
static void sub_free(struct raid_sub *s)
{
	struct raid_opref *ref = s->ref;
	if (s->bbuf)
		buf_put(s->bbuf, s->blen);
	free(s);
	raid_opref_put(ref);
}

static void sub_finish(struct raid_sub *s, int status)
{
	struct raid_array *a = s->a;
	if (s->to_shadow) {
		if (status != 0)
			a->shadow_failed = true;
	} else if (raid_status_fails_member(status) && s->gen == atomic_load(&a->m[s->member].gen)) {
		raid_member_failed(a, s->member, status);
	}
	if (status == 0 && s->bbuf != NULL)
		iov_from_buf(s->iov, s->hiovcnt, 0, s->bbuf, s->blen);
	s->done(s, status);
}

static void sub_maybe_end(struct raid_sub *s)
{
	if (s->main_pending || s->shadow_pending)
		return;
	if (!s->timed_out) {
		reactor_timer_cancel(&s->timer);
		sub_finish(s, s->status);
	}
	sub_free(s);
}

static void sub_uncount(struct raid_sub *s)
{
	if (s->counted) {
		s->counted = false;
		atomic_fetch_sub_explicit(&s->a->m[s->member].inflight, 1, memory_order_seq_cst);
	}
}

static void sub_io_cb(struct blk_io *io, int status)
{
	struct raid_sub *s = io->cb_arg;
	sub_uncount(s);
	s->main_pending = false;
	s->status = status;
	sub_maybe_end(s);
}

static void sub_shadow_cb(struct blk_io *io, int status)
{
	struct raid_sub *s = io->cb_arg;
	s->shadow_pending = false;
	if (status != 0 && !s->timed_out)
		s->a->shadow_failed = true;
	sub_maybe_end(s);
}

static void sub_deadline(struct reactor_timer *t)
{
	struct raid_sub *s = t->arg;
	s->timed_out = true;
	if (!s->main_pending) { /* only the replacement is late: abandon the replace */
		s->a->shadow_failed = true;
		sub_finish(s, s->status);
		return;
	}
	log_warn(LOGC_RAID, s->a->tag, "member %u (%s) did not answer within %llu ms", s->member,
		 s->a->m[s->member].name, (unsigned long long)(s->a->deadline_ns / 1000000));
	sub_finish(s, -ETIMEDOUT);
}

static void sub_fail_later(void *arg)
{
	struct raid_sub *s = arg;
	sub_finish(s, s->status);
	sub_free(s);
}

static void sub_submit_shadow(struct raid_sub *s)
{
	struct raid_array *a = s->a;
	struct blk_dev *sh = a->m[s->member].shadow;
	if (!s->shadow_copy || s->to_shadow || sh == NULL || a->shadow_failed || s->io.op == BLK_OP_READ)
		return;
	s->sio = s->io;
	s->sio.dev = sh;
	s->sio.cb = sub_shadow_cb;
	s->shadow_pending = true;
	if (blk_submit(sh, &s->sio) != 0) {
		s->shadow_pending = false;
		a->shadow_failed = true;
	}
}

void raid_sub_submit(struct raid_sub *s)
{
	struct raid_array *a = s->a;
	s->io.cb = sub_io_cb;
	s->counted = !s->to_shadow;
	if (s->counted) /* before the health check: raid_remove_member() sees it, or it sees the failure */
		atomic_fetch_add_explicit(&a->m[s->member].inflight, 1, memory_order_seq_cst);
	s->io.dev = s->to_shadow ? a->m[s->member].shadow : a->m[s->member].dev;
	s->gen = atomic_load(&a->m[s->member].gen);
	if (s->io.dev == NULL || (!s->to_shadow && !raid_member_ok(a, s->member))) {
		sub_uncount(s);
		s->status = -ENODEV; /* already failed: raid_member_failed() is a no-op for it */
		reactor_defer(&s->defer, sub_fail_later, s);
		return;
	}
	if (s->bounce && s->io.op == BLK_OP_READ) {
		s->blen = (size_t)s->io.nblocks * s->io.dev->info.block_size;
		s->bbuf = buf_get(s->blen);
		if (s->bbuf == NULL) {
			sub_uncount(s);
			s->status = -ENOMEM;
			reactor_defer(&s->defer, sub_fail_later, s);
			return;
		}
		s->hiovcnt = s->io.iovcnt;
		s->biov.iov_base = s->bbuf;
		s->biov.iov_len = s->blen;
		s->io.iov = &s->biov;
		s->io.iovcnt = 1;
	}
	if (a->deadline_ns != 0) {
		reactor_timer_init(&s->timer, sub_deadline, s);
		reactor_timer_start(&s->timer, a->deadline_ns);
	}
	s->main_pending = true;
	sub_submit_shadow(s);
	int rc = blk_submit(s->io.dev, &s->io);
	if (rc != 0) {
		sub_uncount(s);
		s->main_pending = false;
		s->status = rc;
		if (!s->shadow_pending) {
			reactor_timer_cancel(&s->timer);
			reactor_defer(&s->defer, sub_fail_later, s);
		}
	}
}

/* ---- requests ---- */
static void req_deliver_fn(void *arg)
{
	struct raid_req *req = arg;
	struct raid_array *a = req->a;
	struct blk_io *io = req->io;
	int status = req->status;
	free(req);
	atomic_fetch_sub(&a->reqs_inflight, 1);
	io->cb(io, status);
}

static void req_deliver(struct raid_req *req)
{
	if (raid_offline(req->a) && req->status == 0)
		req->status = -EIO;
	if (reactor_self() == req->submitter) {
		reactor_defer(&req->defer, req_deliver_fn, req);
		return;
	}
	if (reactor_send_msg(req->submitter, req_deliver_fn, req) != 0) {
		/* the message queue is out of memory: try again at the next iteration */
		reactor_defer(&req->defer, (void (*)(void *))req_deliver, req);
	}
}

static void req_retry_fn(struct reactor_timer *t)
{
	raid_req_dispatch(t->arg);
}

/*
 * Out of memory on the data path (a buffer, a sub-I/O, a lock, a message,
 * or a member answering -ENOMEM) does not fail the host request: the
 * request runs again after a backoff (1 ms doubling to 100 ms), keeping
 * its place in the bitmap and the dirty state. Re-running is safe: reads
 * change nothing, mirror writes rewrite the same data, and a RAID 5/6
 * stripe that ran out of memory after it started writing in place retries
 * only its writes (stripe.c), so no stripe is ever re-planned from a
 * half-written state.
 */
static bool req_retry_later(struct raid_req *req)
{
	struct raid_array *a = req->a;
	if (req->status != -ENOMEM || raid_offline(a) || a->dead)
		return false;
	if (req->lockaware) {
		req->lockaware = false;
		a->lockaware_writes--;
	}
	req->status = 0;
	uint64_t delay = MIN(1000000ull << MIN(req->retries, 7u), 100000000ull);
	if (req->retries++ == 0)
		log_warn(LOGC_RAID, a->tag, "out of memory: request queued for retry");
	reactor_timer_init(&req->retry, req_retry_fn, req);
	reactor_timer_start(&req->retry, delay);
	return true;
}

static void req_finish(struct raid_req *req)
{
	struct raid_array *a = req->a;
	if (req_retry_later(req))
		return;
	raid_bitmap_leave(req);
	if (req->lockaware) {
		req->lockaware = false;
		a->lockaware_writes--;
	}
	if (req->write) {
		req->write = false;
		atomic_store_explicit(&a->last_write_ns, now_ns(), memory_order_relaxed);
		atomic_fetch_sub_explicit(&a->writes_inflight, 1, memory_order_seq_cst);
		/* A write that skipped a failed member is acknowledged only once
		 * the superblocks say that member is failed: after a crash the
		 * stale member must not come back as current. */
		if (req->status == 0 && !raid_offline(a) &&
		    atomic_load(&a->failed) != atomic_load(&a->committed)) {
			raid_run_on_owner(req, raid_array_wait_commit);
			return;
		}
	}
	req_deliver(req);
}

void raid_req_piece_done(struct raid_req *req, int status)
{
	if (status != 0 && req->status == 0)
		req->status = status;
	if (--req->pending == 0)
		req_finish(req);
}

void raid_req_complete_now(struct raid_req *req, int status)
{
	if (status != 0 && req->status == 0)
		req->status = status;
	req_deliver(req);
}

void raid_run_on_owner(struct raid_req *req, void (*fn)(void *arg))
{
	struct raid_array *a = req->a;
	if (reactor_self() == a->owner) {
		fn(req);
		return;
	}
	if (reactor_send_msg(a->owner, fn, req) != 0) {
		req->pending = 1;
		raid_req_piece_done(req, -ENOMEM);
	}
}

static void req_level_fn(void *arg)
{
	struct raid_req *req = arg;
	struct raid_array *a = req->a;
	/* mirror writes under a running sync take chunk locks on the owner (raid1.c) */
	if (!a->ops->owner_path && req->io->op != BLK_OP_READ && reactor_self() == a->owner &&
	    atomic_load(&a->sync_lock)) {
		req->lockaware = true;
		a->lockaware_writes++;
	}
	a->ops->submit(req);
}

void raid_req_dispatch(struct raid_req *req)
{
	if (raid_offline(req->a)) {
		if (req->write) {
			req->pending = 1;
			raid_req_piece_done(req, -EIO);
		} else {
			raid_req_complete_now(req, -EIO);
		}
		return;
	}
	if (req->write)
		atomic_fetch_add_explicit(&req->a->wseq, 1, memory_order_seq_cst);
	if (req->a->ops->owner_path ||
	    (req->io->op != BLK_OP_READ && atomic_load_explicit(&req->a->sync_lock, memory_order_seq_cst)))
		raid_run_on_owner(req, req_level_fn);
	else
		req_level_fn(req);
}

/*
 * Writes run only while the superblocks say "dirty". Dekker-style with
 * the owner's clean transition (array.c): the writer counts itself in
 * writes_inflight, then reads sb_state; the owner stores CLEANING, then
 * reads writes_inflight (both seq_cst), so at least one of them sees the
 * other. A writer that finds the array not dirty backs out and queues on
 * the owner, which writes the dirty mark first.
 */
static void raid_write_gate(struct raid_req *req)
{
	struct raid_array *a = req->a;
	atomic_fetch_add_explicit(&a->writes_inflight, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&a->sb_state, memory_order_seq_cst) == RAID_SB_DIRTY) {
		req->write = true;
		if (raid_bitmap_enter(req))
			raid_req_dispatch(req);
		else
			raid_run_on_owner(req, raid_bitmap_wait);
		return;
	}
	atomic_fetch_sub_explicit(&a->writes_inflight, 1, memory_order_seq_cst);
	raid_run_on_owner(req, raid_array_want_dirty);
}

/* ---- flush: every healthy member ---- */
static void flush_done(struct raid_sub *s, int status)
{
	struct raid_req *req = s->ctx;
	/* a member that failed its flush is failed; the array answers for the rest */
	raid_req_piece_done(req, raid_status_fails_member(status) ? 0 : status);
}

static void raid_flush(struct raid_req *req)
{
	struct raid_array *a = req->a;
	req->pending = 1;
	for (unsigned m = 0; m < a->g.n; m++) {
		if (!raid_member_ok(a, m))
			continue;
		struct raid_sub *s = raid_sub_new(a, m, BLK_OP_FLUSH, 0, 0, 0, flush_done, req, NULL);
		if (s == NULL) {
			req->status = -ENOMEM;
			break;
		}
		s->io.lba = 0;
		req->pending++;
		raid_sub_submit(s);
	}
	raid_req_piece_done(req, 0);
}

static int raid_submit(struct blk_dev *dev, struct blk_io *io)
{
	struct raid_array *a = dev->ctx;
	struct raid_req *req = calloc(1, sizeof(*req));
	if (req == NULL)
		return -ENOMEM;
	req->io = io;
	req->a = a;
	req->submitter = reactor_self();
	atomic_fetch_add(&a->reqs_inflight, 1);
	if (raid_offline(a)) {
		raid_req_complete_now(req, -EIO);
		return 0;
	}
	switch (io->op) {
	case BLK_OP_FLUSH:
		raid_flush(req);
		break;
	case BLK_OP_READ:
		raid_req_dispatch(req);
		break;
	default:
		raid_write_gate(req);
		break;
	}
	return 0;
}

const struct blk_ops raid_blk_ops = {
	.name = "raid",
	.submit = raid_submit,
	.destroy = raid_array_destroy,
};

const char *raid_member_state_name(enum raid_member_state s)
{
	switch (s) {
	case RAID_MEMBER_ACTIVE: return "active";
	case RAID_MEMBER_FAILED: return "failed";
	case RAID_MEMBER_MISSING: return "missing";
	}
	return "unknown";
}

const char *raid_array_state_name(enum raid_array_state s)
{
	switch (s) {
	case RAID_ARRAY_OPTIMAL: return "optimal";
	case RAID_ARRAY_DEGRADED: return "degraded";
	case RAID_ARRAY_OFFLINE: return "offline";
	}
	return "unknown";
}

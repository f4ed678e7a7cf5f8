/* stripe.c - RAID 5/6 stripe engine on the owner reactor: stripe locks, full/RMW/RCW/degraded writes, reconstructing reads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blk/raid/raid_internal.h"
#include "blk/raid/journal.h"
#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"

/*
 * A request is cut at stripe boundaries into stripe ops. Column c of a
 * stripe is data chunk c (c < ndata), P (c == ndata) or Q (ndata + 1);
 * the level's stripe_map() says which member holds it. Inside one
 * stripe an op touches rows [rmin, rmax) of the chunk (block offsets).
 *
 * Reads whose columns are healthy go straight to the members with slices
 * of the host iovec, without a lock. Everything else takes the stripe's
 * lock (a hash table on the owner reactor, so no atomics) and then:
 *   full stripe   parity from the host iovecs, no reads;
 *   RMW           read old data of the written ranges + old parity,
 *                 P ^= old ^ new, Q ^= {02}^i (old ^ new);
 *   RCW           read the unwritten rows of the other data columns,
 *                 compute parity from scratch;
 *   degraded      read rows [rmin, rmax) of every healthy column,
 *                 rebuild the missing ones, lay the new data over them,
 *                 recompute parity, write the healthy columns.
 * RMW vs RCW: whichever reads fewer blocks (ties go to RCW, which does
 * not depend on the old parity). A member failing during a read phase
 * restarts the op (nothing was written yet); the re-plan sees the
 * failure and takes the degraded path. Failures during the write phase
 * are tolerated while the array is online: what was written is
 * recoverable from the other columns.
 */

struct stripe_op {
	struct raid_opref ref;
	struct raid_lockw lw;
	struct raid_jw jw;
	bool journaled;
	struct iovec jiov[RAID_MAX_MEMBERS]; /* journal parts from our buffers */
	struct raid_req *req;
	struct raid_array *a;
	uint64_t stripe;
	uint32_t soff, slen;        /* blocks in the stripe's data space */
	const struct iovec *uiov;   /* host data (or the zero iovec) */
	int uiovcnt;
	size_t uoff;                /* byte offset of soff in uiov */
	struct iovec *zio;          /* write-zeroes source, owned */
	bool write;
	uint32_t flags;
	struct raid_stripe_map map;
	uint32_t wa[RAID_MAX_MEMBERS], wb[RAID_MAX_MEMBERS];
	uint32_t rmin, rmax;
	uint8_t *buf[RAID_MAX_MEMBERS];
	size_t buflen[RAID_MAX_MEMBERS];
	uint8_t *old[RAID_MAX_MEMBERS];
	size_t oldlen[RAID_MAX_MEMBERS];
	unsigned outstanding;
	bool member_fail;
	int err;
	void (*next)(struct stripe_op *op);
	bool data_from_buf;
	bool full;                  /* full-stripe write: journaled as an intent only */
	unsigned restarts;
	struct op_grave *grave;     /* buffers of earlier attempts: late member answers may still land there */
	struct reactor_timer timer; /* retry of the in-place writes after running out of memory */
	unsigned nomem;
};

struct op_grave {
	struct op_grave *next;
	uint8_t *p[2 * RAID_MAX_MEMBERS];
	size_t len[2 * RAID_MAX_MEMBERS];
};

static void op_finish(struct stripe_op *op, int status);

static void lock_granted(struct raid_lockw *w, int status)
{
	struct stripe_op *op = container_of(w, struct stripe_op, lw);
	if (status != 0)
		op_finish(op, status);
	else
		op->next(op);
}

static void lock_acquire(struct stripe_op *op, void (*cont)(struct stripe_op *op))
{
	op->next = cont;
	raid_lock(op->a, &op->lw, op->stripe, lock_granted);
}

static void lock_release(struct stripe_op *op)
{
	raid_unlock(op->a, &op->lw);
}

/* ---- op lifetime ---- */
static void op_free_bufs(struct stripe_op *op)
{
	for (unsigned c = 0; c < RAID_MAX_MEMBERS; c++) {
		if (op->buf[c])
			buf_put(op->buf[c], op->buflen[c]);
		if (op->old[c])
			buf_put(op->old[c], op->oldlen[c]);
		op->buf[c] = op->old[c] = NULL;
	}
}

/* Restart: keep the buffers of the attempt alive until the last sub of the op is gone. */
static void op_bury_bufs(struct stripe_op *op)
{
	struct op_grave *g = calloc(1, sizeof(*g));
	if (g == NULL) {
		/* cannot keep them apart: leave them to the next attempt (a late answer
		 * can only come from a failed member, which the next plan does not use) */
		return;
	}
	for (unsigned c = 0; c < RAID_MAX_MEMBERS; c++) {
		g->p[c] = op->buf[c];
		g->len[c] = op->buflen[c];
		g->p[RAID_MAX_MEMBERS + c] = op->old[c];
		g->len[RAID_MAX_MEMBERS + c] = op->oldlen[c];
		op->buf[c] = op->old[c] = NULL;
	}
	g->next = op->grave;
	op->grave = g;
}

static void op_release(struct raid_opref *r)
{
	struct stripe_op *op = container_of(r, struct stripe_op, ref);
	while (op->grave) {
		struct op_grave *g = op->grave;
		op->grave = g->next;
		for (unsigned i = 0; i < 2 * RAID_MAX_MEMBERS; i++)
			if (g->p[i])
				buf_put(g->p[i], g->len[i]);
		free(g);
	}
	op_free_bufs(op);
	free(op->zio);
	free(op);
}

static void op_finish(struct stripe_op *op, int status)
{
	if (op->journaled) {
		op->journaled = false;
		raid_journal_done(op->a, op->jw.seq);
	}
	if (op->lw.locked)
		lock_release(op);
	raid_req_piece_done(op->req, status);
	raid_opref_put(&op->ref);
}

static uint32_t bsz(const struct stripe_op *op)
{
	return op->a->dev.info.block_size;
}

/* Column usable for this stripe: healthy, and (when being rebuilt) already rebuilt there. */
static bool col_ok(const struct stripe_op *op, unsigned c)
{
	return raid_member_readable(op->a, op->map.disk[c], (op->stripe + 1) * op->a->g.chunk);
}

static bool shadow_row(const struct stripe_op *op)
{
	return op->stripe * op->a->g.chunk < atomic_load(&op->a->shadow_pos);
}

/* Byte offset in the host data of chunk row r of data column j. */
static size_t uoff_of(const struct stripe_op *op, unsigned j, uint32_t r)
{
	return op->uoff + ((size_t)j * op->a->g.chunk + r - op->soff) * bsz(op);
}

static uint8_t *op_buf(uint8_t **slot, size_t *lenslot, size_t len)
{
	if (*slot == NULL) {
		*slot = buf_get(len);
		*lenslot = len;
	}
	return *slot;
}

/* ---- phases ---- */
static void sub_done(struct raid_sub *s, int status)
{
	struct stripe_op *op = s->ctx;
	if (raid_status_fails_member(status))
		op->member_fail = true;
	else if (status != 0 && op->err == 0)
		op->err = status;
	if (--op->outstanding == 0)
		op->next(op);
}

static void phase_begin(struct stripe_op *op, void (*next)(struct stripe_op *op))
{
	op->outstanding = 1;
	op->member_fail = false;
	op->next = next;
}

static void phase_end(struct stripe_op *op)
{
	if (--op->outstanding == 0)
		op->next(op);
}

/* I/O on column c, chunk rows [r, r + n), into/from buffer p. */
static void io_buf(struct stripe_op *op, unsigned c, enum blk_op bop, uint32_t r, uint32_t n, uint8_t *p)
{
	if (p == NULL) {
		op->err = -ENOMEM;
		return;
	}
	struct raid_array *a = op->a;
	struct raid_sub *s = raid_sub_new(a, op->map.disk[c], bop, op->stripe * a->g.chunk + r, n, 1, sub_done, op,
					  &op->ref);
	if (s == NULL) {
		op->err = -ENOMEM;
		return;
	}
	s->iov[0].iov_base = p;
	s->iov[0].iov_len = (size_t)n * bsz(op);
	s->io.iovcnt = 1;
	if (bop == BLK_OP_WRITE) {
		s->io.flags = op->flags & BLK_F_FUA;
		s->shadow_copy = shadow_row(op);
	}
	op->outstanding++;
	raid_sub_submit(s);
}

/* I/O on data column j, rows [r, r + n), with a slice of the host iovec. */
static void io_user(struct stripe_op *op, unsigned j, enum blk_op bop, uint32_t r, uint32_t n)
{
	struct raid_array *a = op->a;
	size_t off = uoff_of(op, j, r), len = (size_t)n * bsz(op);
	int cnt = raid_iov_count(op->uiov, op->uiovcnt, off, len);
	struct raid_sub *s = raid_sub_new(a, op->map.disk[j], bop, op->stripe * a->g.chunk + r, n, cnt, sub_done, op,
					  &op->ref);
	if (s == NULL) {
		op->err = -ENOMEM;
		return;
	}
	s->io.iovcnt = raid_iov_slice(op->uiov, op->uiovcnt, off, len, s->iov, cnt);
	if (bop == BLK_OP_WRITE) {
		s->io.flags = op->flags & BLK_F_FUA;
		s->shadow_copy = shadow_row(op);
	} else {
		s->bounce = true; /* host memory: a late member answer must not land in it */
	}
	op->outstanding++;
	raid_sub_submit(s);
}

static void op_start(struct stripe_op *op);

/* After a read phase: restart on a member failure, stop on other errors. Returns true to go on. */
static bool read_phase_ok(struct stripe_op *op)
{
	if (op->err) {
		op_finish(op, op->err);
		return false;
	}
	if (!op->member_fail)
		return true;
	if (op->lw.locked)
		lock_release(op);
	op_bury_bufs(op);
	if (raid_offline(op->a) || ++op->restarts > op->a->g.n) {
		op_finish(op, -EIO);
		return false;
	}
	op_start(op);
	return false;
}

static void write_in_place(struct stripe_op *op);

static void write_retry(struct reactor_timer *t)
{
	write_in_place(t->arg);
}

static void write_phase_done(struct stripe_op *op)
{
	if (op->err == -ENOMEM && !raid_offline(op->a)) {
		/* some columns may hold the new blocks already: write the same blocks again, never re-plan */
		op->err = 0;
		reactor_timer_init(&op->timer, write_retry, op);
		reactor_timer_start(&op->timer, MIN(1000000ull << MIN(op->nomem, 7u), 100000000ull));
		op->nomem++;
		return;
	}
	if (op->err)
		op_finish(op, op->err);
	else
		op_finish(op, raid_offline(op->a) ? -EIO : 0);
}

/* Write the touched data ranges (from the host or from buf) and rows [rmin, rmax) of parity. */
static void write_in_place(struct stripe_op *op)
{
	struct raid_geom *g = &op->a->g;
	uint32_t L = op->rmax - op->rmin;
	phase_begin(op, write_phase_done);
	for (unsigned j = 0; j < g->ndata; j++) {
		if (op->wa[j] == op->wb[j] || !col_ok(op, j))
			continue;
		if (op->data_from_buf)
			io_buf(op, j, BLK_OP_WRITE, op->wa[j], op->wb[j] - op->wa[j],
			       op->buf[j] + (size_t)(op->wa[j] - op->rmin) * bsz(op));
		else
			io_user(op, j, BLK_OP_WRITE, op->wa[j], op->wb[j] - op->wa[j]);
	}
	for (unsigned p = 0; p < g->nparity; p++)
		if (col_ok(op, g->ndata + p))
			io_buf(op, g->ndata + p, BLK_OP_WRITE, op->rmin, L, op->buf[g->ndata + p]);
	phase_end(op);
}

static void journaled(struct raid_jw *w, int status)
{
	struct stripe_op *op = container_of(w, struct stripe_op, jw);
	if (status == 0) {
		write_in_place(op);
		return;
	}
	op->journaled = false; /* journal.c already released the slot */
	if (status == RAID_JOURNAL_RESTART) {
		op->member_fail = true;
		read_phase_ok(op); /* nothing went in place: re-plan without the failed member */
		return;
	}
	op_finish(op, status);
}

/* Log exactly the blocks write_in_place() will write, then write them. */
static void write_phase(struct stripe_op *op, bool data_from_buf)
{
	struct raid_array *a = op->a;
	struct raid_geom *g = &a->g;
	op->data_from_buf = data_from_buf;
	if (a->jr == NULL) {
		write_in_place(op);
		return;
	}
	struct raid_jw *w = &op->jw;
	uint32_t bs = bsz(op);
	memset(w, 0, sizeof(*w));
	w->stripe = op->stripe;
	w->ref = &op->ref;
	w->cont = journaled;
	if (op->full && atomic_load(&a->rebuilding) == 0) {
		/* every column is healthy and rewritten whole: a header-only intent on every member
		 * (replay recomputes parity from whatever data made it; on every member so the
		 * intent stays visible when some roles change device later) */
		w->kind = RAID_JOURNAL_FULL;
		for (unsigned c = 0; c < g->ndata + g->nparity; c++)
			w->parts[w->nparts++] = (struct raid_jpart){.member = op->map.disk[c]};
		op->journaled = true;
		raid_journal_write(a, w);
		return;
	}
	for (unsigned c = 0; c < g->ndata + g->nparity; c++) {
		bool parity = c >= g->ndata;
		if ((!parity && op->wa[c] == op->wb[c]) || !col_ok(op, c))
			continue;
		struct raid_jpart *p = &w->parts[w->nparts++];
		p->member = op->map.disk[c];
		p->row = parity ? op->rmin : op->wa[c];
		p->nblocks = (parity ? op->rmax : op->wb[c]) - p->row;
		if (parity || data_from_buf) {
			op->jiov[c].iov_base = op->buf[c] + (size_t)(p->row - op->rmin) * bs;
			op->jiov[c].iov_len = (size_t)p->nblocks * bs;
			p->iov = &op->jiov[c];
			p->iovcnt = 1;
			p->off = 0;
		} else {
			p->iov = op->uiov;
			p->iovcnt = op->uiovcnt;
			p->off = uoff_of(op, c, op->wa[c]);
		}
	}
	op->journaled = true;
	raid_journal_write(a, w);
}

/* ---- full stripe ---- */
static void write_full(struct stripe_op *op)
{
	struct raid_geom *g = &op->a->g;
	size_t len = (size_t)g->chunk * bsz(op);
	struct parity_src src[RAID_MAX_MEMBERS];
	uint8_t *par[2];
	for (unsigned p = 0; p < g->nparity; p++) {
		par[p] = op_buf(&op->buf[g->ndata + p], &op->buflen[g->ndata + p], len);
		if (par[p] == NULL) {
			op_finish(op, -ENOMEM);
			return;
		}
	}
	for (unsigned j = 0; j < g->ndata; j++)
		src[j] = (struct parity_src){op->uiov, op->uiovcnt, uoff_of(op, j, 0)};
	parity_gen_iov(g->ndata, g->nparity, src, par, len);
	op->full = true;
	write_phase(op, false);
}

/* ---- read-modify-write ---- */
static void rmw_compute(struct stripe_op *op)
{
	if (!read_phase_ok(op))
		return;
	struct raid_geom *g = &op->a->g;
	uint32_t bs = bsz(op);
	for (unsigned j = 0; j < g->ndata; j++) {
		if (op->wa[j] == op->wb[j])
			continue;
		size_t len = (size_t)(op->wb[j] - op->wa[j]) * bs;
		size_t at = (size_t)(op->wa[j] - op->rmin) * bs;
		parity_xor_iov_into(op->old[j], op->uiov, op->uiovcnt, uoff_of(op, j, op->wa[j]), len);
		parity_apply_delta(g->nparity, j, op->old[j], op->buf[g->ndata] + at,
				   g->nparity > 1 ? op->buf[g->ndata + 1] + at : NULL, len);
	}
	write_phase(op, false);
}

static void write_rmw(struct stripe_op *op)
{
	struct raid_geom *g = &op->a->g;
	uint32_t bs = bsz(op), L = op->rmax - op->rmin;
	phase_begin(op, rmw_compute);
	for (unsigned j = 0; j < g->ndata; j++) {
		if (op->wa[j] == op->wb[j])
			continue;
		uint32_t n = op->wb[j] - op->wa[j];
		io_buf(op, j, BLK_OP_READ, op->wa[j], n, op_buf(&op->old[j], &op->oldlen[j], (size_t)n * bs));
	}
	for (unsigned p = 0; p < g->nparity; p++) {
		unsigned c = g->ndata + p;
		io_buf(op, c, BLK_OP_READ, op->rmin, L, op_buf(&op->buf[c], &op->buflen[c], (size_t)L * bs));
	}
	phase_end(op);
}

/* ---- reconstruct-write ---- */
static void overlay_and_parity(struct stripe_op *op)
{
	struct raid_geom *g = &op->a->g;
	uint32_t bs = bsz(op);
	for (unsigned j = 0; j < g->ndata; j++) {
		if (op->wa[j] == op->wb[j])
			continue;
		iov_to_buf(op->uiov, op->uiovcnt, uoff_of(op, j, op->wa[j]),
			   op->buf[j] + (size_t)(op->wa[j] - op->rmin) * bs, (size_t)(op->wb[j] - op->wa[j]) * bs);
	}
	parity_gen(g->ndata, g->nparity, op->buf, (size_t)(op->rmax - op->rmin) * bs);
}

static void rcw_compute(struct stripe_op *op)
{
	if (!read_phase_ok(op))
		return;
	overlay_and_parity(op);
	write_phase(op, false);
}

static bool alloc_all(struct stripe_op *op)
{
	struct raid_geom *g = &op->a->g;
	size_t len = (size_t)(op->rmax - op->rmin) * bsz(op);
	for (unsigned c = 0; c < g->ndata + g->nparity; c++)
		if (op_buf(&op->buf[c], &op->buflen[c], len) == NULL)
			return false;
	return true;
}

static void write_rcw(struct stripe_op *op)
{
	struct raid_geom *g = &op->a->g;
	uint32_t bs = bsz(op);
	if (!alloc_all(op)) {
		op_finish(op, -ENOMEM);
		return;
	}
	phase_begin(op, rcw_compute);
	for (unsigned j = 0; j < g->ndata; j++) {
		uint8_t *b = op->buf[j];
		if (op->wa[j] == op->wb[j]) {
			io_buf(op, j, BLK_OP_READ, op->rmin, op->rmax - op->rmin, b);
			continue;
		}
		if (op->wa[j] > op->rmin)
			io_buf(op, j, BLK_OP_READ, op->rmin, op->wa[j] - op->rmin, b);
		if (op->wb[j] < op->rmax)
			io_buf(op, j, BLK_OP_READ, op->wb[j], op->rmax - op->wb[j],
			       b + (size_t)(op->wb[j] - op->rmin) * bs);
	}
	phase_end(op);
}

/* ---- degraded: read every healthy column, rebuild the rest ---- */
static uint32_t missing_cols(struct stripe_op *op)
{
	uint32_t miss = 0;
	for (unsigned c = 0; c < op->a->g.ndata + op->a->g.nparity; c++)
		if (!col_ok(op, c))
			miss |= 1u << c;
	return miss;
}

static bool rebuild_rows(struct stripe_op *op)
{
	struct raid_geom *g = &op->a->g;
	int rc = parity_recover(g->ndata, g->nparity, op->buf, missing_cols(op),
				(size_t)(op->rmax - op->rmin) * bsz(op));
	if (rc != 0) {
		op_finish(op, -EIO);
		return false;
	}
	return true;
}

static void degraded_write_compute(struct stripe_op *op)
{
	if (!read_phase_ok(op) || !rebuild_rows(op))
		return;
	overlay_and_parity(op);
	write_phase(op, true);
}

static void degraded_read_copy(struct stripe_op *op)
{
	if (!read_phase_ok(op) || !rebuild_rows(op))
		return;
	uint32_t bs = bsz(op);
	for (unsigned j = 0; j < op->a->g.ndata; j++) {
		if (op->wa[j] == op->wb[j])
			continue;
		iov_from_buf(op->uiov, op->uiovcnt, uoff_of(op, j, op->wa[j]),
			     op->buf[j] + (size_t)(op->wa[j] - op->rmin) * bs, (size_t)(op->wb[j] - op->wa[j]) * bs);
	}
	op_finish(op, 0);
}

static void read_all_rows(struct stripe_op *op, void (*next)(struct stripe_op *op))
{
	struct raid_geom *g = &op->a->g;
	if (raid_offline(op->a)) {
		op_finish(op, -EIO);
		return;
	}
	if (!alloc_all(op)) {
		op_finish(op, -ENOMEM);
		return;
	}
	phase_begin(op, next);
	for (unsigned c = 0; c < g->ndata + g->nparity; c++)
		if (col_ok(op, c))
			io_buf(op, c, BLK_OP_READ, op->rmin, op->rmax - op->rmin, op->buf[c]);
	phase_end(op);
}

static void degraded_write(struct stripe_op *op)
{
	read_all_rows(op, degraded_write_compute);
}

static void degraded_read(struct stripe_op *op)
{
	read_all_rows(op, degraded_read_copy);
}

/* ---- planning ---- */
static void write_plan(struct stripe_op *op)
{
	struct raid_geom *g = &op->a->g;
	op->full = false; /* a restarted op may now be degraded */
	if (raid_offline(op->a)) {
		op_finish(op, -EIO);
		return;
	}
	if (missing_cols(op) != 0) {
		degraded_write(op);
		return;
	}
	uint64_t written = 0, L = op->rmax - op->rmin;
	bool full = op->rmin == 0 && op->rmax == g->chunk;
	for (unsigned j = 0; j < g->ndata; j++) {
		written += op->wb[j] - op->wa[j];
		full = full && op->wa[j] == 0 && op->wb[j] == g->chunk;
	}
	if (full) {
		write_full(op);
		return;
	}
	uint64_t rmw_reads = written + g->nparity * L;
	uint64_t rcw_reads = g->ndata * L - written;
	if (rmw_reads < rcw_reads)
		write_rmw(op);
	else
		write_rcw(op);
}

static void direct_read_done(struct stripe_op *op)
{
	if (!read_phase_ok(op))
		return;
	op_finish(op, 0);
}

static void op_start(struct stripe_op *op)
{
	struct raid_geom *g = &op->a->g;
	if (op->write) {
		lock_acquire(op, write_plan);
		return;
	}
	bool healthy = true;
	for (unsigned j = 0; j < g->ndata; j++)
		if (op->wa[j] != op->wb[j] && !col_ok(op, j))
			healthy = false;
	if (!healthy) {
		lock_acquire(op, degraded_read);
		return;
	}
	phase_begin(op, direct_read_done);
	for (unsigned j = 0; j < g->ndata; j++)
		if (op->wa[j] != op->wb[j])
			io_user(op, j, BLK_OP_READ, op->wa[j], op->wb[j] - op->wa[j]);
	phase_end(op);
}

static struct stripe_op *op_new(struct raid_req *req, uint64_t stripe, uint32_t soff, uint32_t slen, size_t uoff)
{
	struct raid_array *a = req->a;
	struct raid_geom *g = &a->g;
	struct blk_io *io = req->io;
	struct stripe_op *op = calloc(1, sizeof(*op));
	if (op == NULL)
		return NULL;
	op->ref.refs = 1;
	op->ref.release = op_release;
	op->req = req;
	op->a = a;
	op->stripe = stripe;
	op->soff = soff;
	op->slen = slen;
	op->write = io->op != BLK_OP_READ;
	op->flags = io->flags;
	if (io->op == BLK_OP_READ || io->op == BLK_OP_WRITE) {
		op->uiov = io->iov;
		op->uiovcnt = io->iovcnt;
		op->uoff = uoff;
	} else { /* UNMAP / WRITE_ZEROES: a write of zeroes keeps parity right */
		size_t len = (size_t)slen * a->dev.info.block_size;
		int cnt = (int)((len + RAID_ZBUF_SIZE - 1) / RAID_ZBUF_SIZE);
		op->zio = calloc((size_t)cnt, sizeof(*op->zio));
		if (op->zio == NULL) {
			free(op);
			return NULL;
		}
		for (int i = 0; i < cnt; i++) {
			op->zio[i].iov_base = (void *)raid_zbuf;
			op->zio[i].iov_len = MIN(len - (size_t)i * RAID_ZBUF_SIZE, RAID_ZBUF_SIZE);
		}
		op->uiov = op->zio;
		op->uiovcnt = cnt;
		op->uoff = 0;
	}
	a->ops->stripe_map(g, stripe, &op->map);
	op->rmin = g->chunk;
	op->rmax = 0;
	for (unsigned j = 0; j < g->ndata; j++) {
		uint32_t cs = j * g->chunk, ce = cs + g->chunk;
		uint32_t s = MAX(cs, soff), e = MIN(ce, soff + slen);
		if (s < e) {
			op->wa[j] = s - cs;
			op->wb[j] = e - cs;
			op->rmin = MIN(op->rmin, op->wa[j]);
			op->rmax = MAX(op->rmax, op->wb[j]);
		}
	}
	return op;
}

void raid_stripe_submit(struct raid_req *req)
{
	struct raid_array *a = req->a;
	reactor_assert_on(a->owner);
	struct blk_io *io = req->io;
	uint32_t sw = a->g.chunk * a->g.ndata; /* data blocks per stripe */
	uint32_t bs = a->dev.info.block_size;
	uint64_t lba = io->lba;
	uint32_t left = io->nblocks;
	size_t uoff = 0;
	req->pending = 1;
	while (left > 0) {
		uint64_t stripe = lba / sw;
		uint32_t soff = (uint32_t)(lba % sw);
		uint32_t n = MIN(left, sw - soff);
		struct stripe_op *op = op_new(req, stripe, soff, n, uoff);
		if (op == NULL) {
			raid_req_piece_done(req, -ENOMEM);
			return;
		}
		req->pending++;
		op_start(op);
		lba += n;
		left -= n;
		uoff += (size_t)n * bs;
	}
	raid_req_piece_done(req, 0);
}

/* journal_replay.c - RAID 5/6 journal recovery at assembly: read every member's ring, replay complete entries in sequence order. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blk/raid/journal.h"
#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"

/*
 * Decision (docs/raid.md, "write journal"): let M be the highest valid
 * sequence number on any member and N the slot count. Every entry s in
 * (M - N, M] is replayed, in increasing s, when each role named in its
 * member mask that is present in the array now holds a valid part s;
 * anything else (a torn part, a slot overwritten later, an older lap) is
 * ignored. Replaying writes each part's blocks in place, exactly as the
 * interrupted write would have. A role whose device changed (spare,
 * replace, re-add) after entry s (superblock role_jseq) is left out of s:
 * its device never held that part, and its column was rebuilt or copied
 * after s went in place. Then every member is flushed, and new
 * entries continue at M + 1.
 */

/* Entry seq: its parts and whether it is complete on the members present. */
struct entry {
	struct raid_jfound f[RAID_MAX_MEMBERS];
	uint64_t stripe;
	uint32_t kind, need;
};

struct replay {
	struct raid_array *a;
	void (*done)(void *arg, int status, unsigned replayed);
	void *arg;
	uint8_t *buf[RAID_MAX_MEMBERS];
	size_t len;
	unsigned outstanding;
	int err;
	uint64_t M, s;               /* newest sequence; next one to look at */
	unsigned replayed;
	bool replay;
	struct reactor_defer defer;
	/* full-stripe intents: newest per stripe, and the recompute in progress */
	uint64_t fstripe[256], fseq[256];
	unsigned nfull;
	uint8_t *cbuf[RAID_MAX_MEMBERS];
	struct raid_stripe_map map;
	uint64_t stripe;
	bool full_bad;
	struct entry e;
};

static void rp_next(struct replay *r);

static void rp_free(struct replay *r, int status)
{
	struct raid_array *a = r->a;
	for (unsigned m = 0; m < RAID_MAX_MEMBERS; m++) {
		if (r->buf[m])
			buf_put(r->buf[m], r->len);
		if (r->cbuf[m])
			buf_put(r->cbuf[m], (size_t)a->g.chunk * a->dev.info.block_size);
	}
	void (*done)(void *, int, unsigned) = r->done;
	void *arg = r->arg;
	unsigned n = r->replayed;
	free(r);
	raid_internal_put(a);
	done(arg, status, n);
}

static bool present(struct raid_array *a, unsigned role)
{
	return a->m[role].dev != NULL && raid_member_ok(a, role);
}

static void rp_flushed(struct raid_sub *s, int status)
{
	struct replay *r = s->ctx;
	if (status != 0 && !raid_status_fails_member(status) && r->err == 0)
		r->err = status;
	if (--r->outstanding > 0)
		return;
	raid_journal_set_next(r->a, r->M + 1);
	rp_free(r, raid_offline(r->a) ? -EIO : r->err);
}

static void rp_flush(struct replay *r)
{
	struct raid_array *a = r->a;
	r->outstanding = 1;
	for (unsigned m = 0; m < a->g.n; m++) {
		if (!present(a, m))
			continue;
		struct raid_sub *s = raid_sub_new(a, m, BLK_OP_FLUSH, 0, 0, 0, rp_flushed, r, NULL);
		if (s == NULL)
			continue;
		s->io.lba = 0;
		r->outstanding++;
		raid_sub_submit(s);
	}
	struct raid_sub fake = {.ctx = r};
	rp_flushed(&fake, 0);
}

static void rp_wrote(struct raid_sub *s, int status)
{
	struct replay *r = s->ctx;
	if (status != 0 && !raid_status_fails_member(status) && r->err == 0)
		r->err = status;
	if (--r->outstanding > 0)
		return;
	reactor_defer(&r->defer, (void (*)(void *))rp_next, r);
}

static const uint8_t *slot_of(struct replay *r, unsigned role, uint64_t seq)
{
	struct raid_array *a = r->a;
	return r->buf[role] + (seq % a->j_nslots) * a->j_slot_blocks * a->dev.info.block_size;
}

static bool entry_complete(struct replay *r, uint64_t seq, struct entry *e)
{
	struct raid_array *a = r->a;
	uint32_t have = 0, mask = 0;
	bool conflict = false;
	e->stripe = UINT64_MAX;
	for (unsigned m = 0; m < a->g.n; m++) {
		if (r->buf[m] == NULL || raid_journal_parse(a, m, slot_of(r, m, seq), &e->f[m]) != 0 ||
		    e->f[m].seq != seq)
			continue;
		if (e->stripe != UINT64_MAX && (e->f[m].stripe != e->stripe || e->f[m].mask != mask ||
						e->f[m].kind != e->kind))
			conflict = true;
		e->stripe = e->f[m].stripe;
		e->kind = e->f[m].kind;
		mask = e->f[m].mask;
		have |= 1u << m;
	}
	if (have == 0 || conflict)
		return false;
	/* a role whose device changed after s (spare, replace, re-add) neither needs nor gets its part */
	e->need = 0;
	for (unsigned m = 0; m < a->g.n; m++)
		if ((mask & (1u << m)) && r->buf[m] != NULL && seq >= a->role_jseq[m])
			e->need |= 1u << m;
	if ((e->need & have) != e->need) {
		log_info(LOGC_RAID, a->tag, "journal entry %" PRIu64 " (stripe %" PRIu64 ") is incomplete: "
			 "it never reached the data area; ignored", seq, e->stripe);
		return false;
	}
	return true;
}

/* The newest complete full-stripe intent on stripe, 0 if none (older entries there are superseded). */
static uint64_t newest_full(struct replay *r, uint64_t stripe)
{
	for (unsigned i = 0; i < r->nfull; i++)
		if (r->fstripe[i] == stripe)
			return r->fseq[i];
	return 0;
}

static void full_wrote(struct raid_sub *s, int status)
{
	rp_wrote(s, status);
}

/* Full-stripe intent: recompute the stripe's parity from the data that made it to the members. */
static void full_read_done(struct raid_sub *s, int status)
{
	struct replay *r = s->ctx;
	struct raid_array *a = r->a;
	struct raid_geom *g = &a->g;
	if (status != 0)
		r->full_bad = true;
	if (--r->outstanding > 0)
		return;
	r->outstanding = 1;
	if (!r->full_bad && !raid_offline(a)) {
		size_t len = (size_t)g->chunk * a->dev.info.block_size;
		parity_gen(g->ndata, g->nparity, r->cbuf, len);
		for (unsigned p = 0; p < g->nparity; p++) {
			unsigned m = r->map.disk[g->ndata + p];
			if (r->buf[m] == NULL)
				continue;
			struct raid_sub *w = raid_sub_new(a, m, BLK_OP_WRITE, r->stripe * g->chunk, g->chunk, 1, full_wrote,
							  r, NULL);
			if (w == NULL) {
				r->err = -ENOMEM;
				continue;
			}
			w->iov[0].iov_base = r->cbuf[g->ndata + p];
			w->iov[0].iov_len = len;
			w->io.iovcnt = 1;
			r->outstanding++;
			raid_sub_submit(w);
		}
	}
	struct raid_sub fake = {.ctx = r};
	rp_wrote(&fake, 0);
}

/*
 * Every data column must be there and be the one the intent's write went
 * to: a role that is missing, or whose device changed after the intent
 * (spare, re-add), or is being rebuilt above the checkpoint, holds no data
 * to recompute from. Such an intent was in place before the change (the
 * stripe lock orders it before the rebuild of that stripe), unless the
 * member failed during that very write and the machine crashed before it
 * ended: that double fault is the one case a full-stripe write is not
 * protected against (docs/raid.md).
 */
static bool full_start(struct replay *r, uint64_t seq, uint64_t stripe)
{
	struct raid_array *a = r->a;
	struct raid_geom *g = &a->g;
	size_t len = (size_t)g->chunk * a->dev.info.block_size;
	uint32_t rb = atomic_load(&a->rebuilding);
	a->ops->stripe_map(g, stripe, &r->map);
	for (unsigned j = 0; j < g->ndata; j++) {
		unsigned m = r->map.disk[j];
		if (r->buf[m] == NULL || seq < a->role_jseq[m] ||
		    ((rb & (1u << m)) && (stripe + 1) * g->chunk > a->rebuild_ckpt))
			return false;
	}
	for (unsigned c = 0; c < g->ndata + g->nparity; c++)
		if (r->cbuf[c] == NULL && (r->cbuf[c] = buf_get(len)) == NULL) {
			r->err = -ENOMEM;
			return false;
		}
	r->stripe = stripe;
	r->full_bad = false;
	r->outstanding = 1;
	for (unsigned j = 0; j < g->ndata; j++) {
		struct raid_sub *s = raid_sub_new(a, r->map.disk[j], BLK_OP_READ, stripe * g->chunk, g->chunk, 1,
						  full_read_done, r, NULL);
		if (s == NULL) {
			r->full_bad = true;
			r->err = -ENOMEM;
			continue;
		}
		s->iov[0].iov_base = r->cbuf[j];
		s->iov[0].iov_len = len;
		s->io.iovcnt = 1;
		r->outstanding++;
		raid_sub_submit(s);
	}
	struct raid_sub fake = {.ctx = r};
	full_read_done(&fake, 0);
	return true;
}

/* Replay entry r->s if it is complete and not superseded; then the next one. */
static void rp_next(struct replay *r)
{
	struct raid_array *a = r->a;
	uint32_t bs = a->dev.info.block_size;
	while (r->s <= r->M && !raid_offline(a)) {
		uint64_t seq = r->s++;
		struct entry *e = &r->e;
		if (!entry_complete(r, seq, e))
			continue;
		if (seq < newest_full(r, e->stripe))
			continue; /* a later full-stripe write rewrote every block of the stripe */
		r->replayed++;
		if (e->kind == RAID_JOURNAL_FULL) {
			if (full_start(r, seq, e->stripe))
				return;
			continue;
		}
		r->outstanding = 1;
		for (unsigned m = 0; m < a->g.n; m++) {
			if (!(e->need & (1u << m)))
				continue;
			struct raid_sub *s = raid_sub_new(a, m, BLK_OP_WRITE, e->stripe * a->g.chunk + e->f[m].row,
							  e->f[m].nblocks, 1, rp_wrote, r, NULL);
			if (s == NULL) {
				r->err = -ENOMEM;
				continue;
			}
			s->iov[0].iov_base = (void *)e->f[m].payload;
			s->iov[0].iov_len = (size_t)e->f[m].nblocks * bs;
			s->io.iovcnt = 1;
			r->outstanding++;
			raid_sub_submit(s);
		}
		if (--r->outstanding == 0)
			continue; /* nothing could be submitted */
		return;
	}
	if (r->replayed)
		log_notice(LOGC_RAID, a->tag, "journal: replayed %u interrupted stripe write(s)", r->replayed);
	rp_flush(r);
}

static void rp_read(struct raid_sub *s, int status)
{
	struct replay *r = s->ctx;
	if (status != 0) { /* the member failed (or memory): recover without it */
		buf_put(r->buf[s->member], r->len);
		r->buf[s->member] = NULL;
	}
	if (--r->outstanding > 0)
		return;
	struct raid_array *a = r->a;
	if (raid_offline(a)) {
		rp_free(r, -EIO);
		return;
	}
	r->M = 0;
	for (unsigned m = 0; m < a->g.n; m++) {
		if (r->buf[m] == NULL)
			continue;
		for (uint64_t i = 0; i < a->j_nslots; i++) {
			struct raid_jfound f;
			if (raid_journal_parse(a, m, r->buf[m] + i * a->j_slot_blocks * a->dev.info.block_size, &f) == 0 &&
			    f.seq % a->j_nslots == i)
				r->M = MAX(r->M, f.seq);
		}
	}
	r->s = r->M >= a->j_nslots ? r->M - a->j_nslots + 1 : 1;
	if (!r->replay) {
		raid_journal_set_next(a, r->M + 1);
		rp_free(r, 0);
		return;
	}
	/* full-stripe intents supersede older entries of their stripe */
	for (uint64_t seq = r->s; seq <= r->M; seq++) {
		if (!entry_complete(r, seq, &r->e) || r->e.kind != RAID_JOURNAL_FULL)
			continue;
		unsigned k = 0;
		while (k < r->nfull && r->fstripe[k] != r->e.stripe)
			k++;
		if (k == r->nfull && r->nfull < ARRAY_SIZE(r->fstripe))
			r->fstripe[r->nfull++] = r->e.stripe;
		if (k < r->nfull)
			r->fseq[k] = seq;
	}
	rp_next(r);
}

void raid_journal_recover(struct raid_array *a, bool replay, void (*done)(void *arg, int status, unsigned replayed),
			  void *arg)
{
	struct replay *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		done(arg, -ENOMEM, 0);
		return;
	}
	raid_internal_get(a);
	r->a = a;
	r->done = done;
	r->arg = arg;
	r->replay = replay;
	r->len = a->j_nslots * a->j_slot_blocks * a->dev.info.block_size;
	r->outstanding = 1;
	for (unsigned m = 0; m < a->g.n; m++) {
		if (!present(a, m))
			continue;
		r->buf[m] = buf_get(r->len);
		struct raid_sub *s = r->buf[m] ? raid_sub_new(a, m, BLK_OP_READ, 0,
							      (uint32_t)(a->j_nslots * a->j_slot_blocks), 1, rp_read, r,
							      NULL)
					       : NULL;
		if (s == NULL) {
			if (r->buf[m])
				buf_put(r->buf[m], r->len);
			r->buf[m] = NULL;
			continue;
		}
		raid_sub_set_raw_lba(s, a->j_offset);
		s->iov[0].iov_base = r->buf[m];
		s->iov[0].iov_len = r->len;
		s->io.iovcnt = 1;
		r->outstanding++;
		raid_sub_submit(s);
	}
	struct raid_sub fake = {.ctx = r};
	rp_read(&fake, 0);
}

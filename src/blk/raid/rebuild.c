/* rebuild.c - the sync engine on the owner: resync after a crash, rebuild onto spares and re-added members, replace, scrub passes; rate, priority, checkpoints. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blk/raid/raid_internal.h"
#include "blk/raid/sync.h"
#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"

/*
 * One job at a time walks the array unit by unit: a stripe for RAID 5/6
 * (member rows [s*chunk, (s+1)*chunk)), an array chunk for RAID 1/10.
 * Each unit runs under the same range lock foreground writes take (stripe
 * locks; mirror writes take chunk locks while a job runs, after the job
 * waited for writes started without them to drain), so a unit never
 * interleaves with a write to the same place. The per-unit work (what to
 * read, compute and write) is sync_unit_parity() / sync_unit_mirror() in
 * scrub.c for scrub and here for resync/rebuild/replace.
 *
 * Window: up to sy->window units are in flight at once (WINDOW_MAX, fewer
 * when their buffers would pass WINDOW_BYTES), each under its own lock,
 * so member round trips overlap instead of adding up. Units finish in
 * any order but retire in unit order: a unit that is done keeps its lock
 * until every unit before it is done too; only then does the rebuild /
 * copy position move past it, and only then is its lock released. So the
 * position only ever covers units whose writes completed (a checkpoint
 * never records a range that is not fully written), and a foreground
 * write to a rebuilt stripe always sees the position past that stripe
 * when it gets the lock (below the position it writes the target too;
 * above it, it would leave the target out).
 *
 * Priority, per window: with no host request in flight the job keeps its
 * window full. Under load (host requests in flight when it is about to
 * start a unit) it starts at most one window of units, then yields:
 * starts nothing more until the foreground has been idle or YIELD_MAX_NS
 * passed (checked every YIELD_STEP_NS); units already in flight finish
 * meanwhile. So under sustained load it starts at most one window per
 * YIELD_MAX_NS (16 x 64 KiB stripes: 100 MiB/s of member data) and never
 * has more than a window in flight.
 * Rate: the unit after k bytes started starts no earlier than start +
 * k / rate.
 *
 * Rebuild targets are readable below rebuild_pos only; every
 * CKPT_NS (and every 1/CKPT_PARTS of the member) the targets are flushed and the position goes into
 * the superblocks (recovery_offset), so a restart resumes there.
 */

#define CKPT_NS (2ull * 1000000000ull) /* checkpoint at least this often */
#define CKPT_PARTS 16u                  /* ... and every 1/16 of the member */
#define YIELD_STEP_NS 1000000ull
#define YIELD_MAX_NS 10000000ull
#define WINDOW_MAX 16u                  /* units in flight at most */
#define WINDOW_BYTES (16u << 20)        /* ... and at most about this much buffer memory */

static void sync_step(struct raid_sync *sy);
static void sync_end(struct raid_sync *sy, int status);
static void queue_step(struct raid_sync *sy);

static void prog_publish(struct raid_sync *sy)
{
	atomic_store_explicit(&sy->a->prog.unit, sy->done_unit, memory_order_relaxed);
	atomic_store_explicit(&sy->a->prog.bytes, sy->bytes, memory_order_relaxed);
}

static uint64_t units_of(struct raid_array *a)
{
	return a->ops->stripe_map ? a->g.member_blocks / a->g.chunk : a->dev.info.num_blocks / a->g.chunk;
}

/* Member rows a unit covers (every member for parity; the lowest copy for mirrors). */
void raid_sync_unit_span(struct raid_array *a, uint64_t u, uint64_t *lo, uint64_t *hi)
{
	raid_member_span(a, u * (a->ops->stripe_map ? (uint64_t)a->g.chunk * a->g.ndata : a->g.chunk),
			 a->ops->stripe_map ? a->g.chunk * a->g.ndata : a->g.chunk, lo, hi);
}

/* Units in flight at most: WINDOW_MAX, fewer when their buffers (every
 * column, plus scrub's parity scratch) would pass WINDOW_BYTES; at least 1. */
static unsigned window_of(struct raid_array *a)
{
	uint64_t per = (uint64_t)(a->g.n + 2) * a->g.chunk * a->dev.info.block_size;
	uint64_t w = WINDOW_BYTES / per;
	return w < 1 ? 1 : w > WINDOW_MAX ? WINDOW_MAX : (unsigned)w;
}

static bool unit_dirty(struct raid_array *a, uint64_t u)
{
	if (a->bm == NULL)
		return true;
	uint64_t lo, hi;
	raid_sync_unit_span(a, u, &lo, &hi);
	for (uint64_t r = lo / a->region_blocks; r <= (hi - 1) / a->region_blocks; r++)
		if (raid_bitmap_region_dirty(a, r))
			return true;
	return false;
}

/* ---- units ---- */
static void unit_release(struct raid_opref *r)
{
	struct sync_unit *un = container_of(r, struct sync_unit, ref);
	for (unsigned i = 0; i < RAID_MAX_MEMBERS; i++)
		if (un->buf[i])
			buf_put(un->buf[i], un->len);
	if (un->tmp)
		buf_put(un->tmp, 2 * un->len);
	free(un);
}

struct sync_unit *raid_sync_unit_new(struct raid_sync *sy)
{
	struct sync_unit *un = calloc(1, sizeof(*un));
	if (un == NULL)
		return NULL;
	un->ref.refs = 1;
	un->ref.release = unit_release;
	un->sy = sy;
	un->len = (size_t)sy->a->g.chunk * sy->a->dev.info.block_size;
	return un;
}

uint8_t *raid_sync_buf(struct sync_unit *un, unsigned i)
{
	if (un->buf[i] == NULL)
		un->buf[i] = buf_get(un->len);
	return un->buf[i];
}

static void unit_io_done(struct raid_sub *s, int status)
{
	struct sync_unit *un = s->ctx;
	if (raid_status_fails_member(status))
		un->member_fail = true;
	else if (status != 0 && un->err == 0)
		un->err = status;
	if (--un->outstanding == 0)
		un->next(un);
}

void raid_sync_io(struct sync_unit *un, unsigned member, enum blk_op op, uint64_t mlba, uint8_t *p, bool to_shadow)
{
	struct raid_array *a = un->sy->a;
	if (p == NULL) {
		un->err = -ENOMEM;
		return;
	}
	struct raid_sub *s = raid_sub_new(a, member, op, mlba, a->g.chunk, 1, unit_io_done, un, &un->ref);
	if (s == NULL) {
		un->err = -ENOMEM;
		return;
	}
	s->iov[0].iov_base = p;
	s->iov[0].iov_len = un->len;
	s->io.iovcnt = 1;
	s->to_shadow = to_shadow;
	un->outstanding++;
	raid_sub_submit(s);
}

void raid_sync_phase(struct sync_unit *un, void (*next)(struct sync_unit *un))
{
	un->next = next;
	un->outstanding++;
}

void raid_sync_phase_end(struct sync_unit *un)
{
	if (--un->outstanding == 0)
		un->next(un);
}

/* Retire the finished units at the head of the window, in unit order:
 * move the position past each, account it, then unlock it. */
static void retire(struct raid_sync *sy)
{
	struct raid_array *a = sy->a;
	while (sy->head != NULL && sy->head->done) {
		struct sync_unit *un = sy->head;
		sy->head = un->wnext;
		if (sy->head == NULL)
			sy->tail = NULL;
		sy->inflight--;
		sy->issued -= un->len - MIN(un->bytes, un->len);
		if (un->status == 0 && sy->fail == 0 && !a->dead) {
			uint64_t pos = MAX(un->pos_after, un->skip_pos);
			if (pos && sy->kind == SYNC_REBUILD && pos > atomic_load(&a->rebuild_pos))
				atomic_store(&a->rebuild_pos, pos);
			if (un->pos_after && sy->kind == SYNC_REPLACE && un->pos_after > atomic_load(&a->shadow_pos))
				atomic_store(&a->shadow_pos, un->pos_after);
			sy->bytes += un->bytes;
			sy->done_unit = un->next_unit;
		} else if (sy->fail == 0) {
			sy->fail = un->status ? un->status : -ECANCELED;
		}
		/* only now: a write waiting for this unit must see the new position when it gets the lock */
		if (un->lw.locked)
			raid_unlock(a, &un->lw);
		raid_opref_put(&un->ref);
	}
	prog_publish(sy);
	if (sy->fail)
		sync_end(sy, sy->fail);
	queue_step(sy); /* more units, or (ending) the end once the last one retired */
}

/* The unit is over; it retires when the units before it are over too. */
void raid_sync_unit_end(struct sync_unit *un, int status)
{
	if (status == 0 && un->member_fail)
		status = -EIO;
	un->status = status;
	un->done = true;
	retire(un->sy);
}

/* ---- resync / rebuild / replace units ---- */
static void parity_rebuild_write(struct sync_unit *un)
{
	struct raid_sync *sy = un->sy;
	struct raid_array *a = sy->a;
	struct raid_geom *g = &a->g;
	if (un->err || un->member_fail) {
		raid_sync_unit_end(un, un->err ? un->err : -EIO);
		return;
	}
	uint32_t missing = 0;
	for (unsigned c = 0; c < g->ndata + g->nparity; c++)
		if (!un->have[c])
			missing |= 1u << c;
	if (sy->kind == SYNC_RESYNC) {
		if (missing) { /* degraded: parity cannot be recomputed (the journal covered it) */
			raid_sync_unit_end(un, 0);
			return;
		}
		parity_gen(g->ndata, g->nparity, un->buf, un->len);
	} else if (parity_recover(g->ndata, g->nparity, un->buf, missing, un->len) != 0) {
		raid_sync_unit_end(un, -EIO);
		return;
	}
	raid_sync_phase(un, (void (*)(struct sync_unit *))raid_sync_unit_done_writes);
	for (unsigned c = 0; c < g->ndata + g->nparity; c++) {
		unsigned m = un->map.disk[c];
		bool write = sy->kind == SYNC_RESYNC ? c >= g->ndata : (sy->targets & (1u << m)) != 0;
		if (write && raid_member_ok(a, m))
			raid_sync_io(un, m, BLK_OP_WRITE, un->mlba, un->buf[c], false);
	}
	un->bytes = un->len;
	raid_sync_phase_end(un);
}

void raid_sync_unit_done_writes(struct sync_unit *un)
{
	raid_sync_unit_end(un, un->err);
}

static void parity_unit(struct sync_unit *un)
{
	struct raid_sync *sy = un->sy;
	struct raid_array *a = sy->a;
	struct raid_geom *g = &a->g;
	a->ops->stripe_map(g, un->unit, &un->map);
	un->mlba = un->unit * g->chunk;
	un->pos_after = un->mlba + g->chunk;
	if (sy->kind == SYNC_REPLACE) {
		unsigned r = (unsigned)__builtin_ctz(sy->targets);
		raid_sync_phase(un, raid_sync_copy_to_shadow);
		raid_sync_io(un, r, BLK_OP_READ, un->mlba, raid_sync_buf(un, 0), false);
		raid_sync_phase_end(un);
		return;
	}
	raid_sync_phase(un, parity_rebuild_write);
	for (unsigned c = 0; c < g->ndata + g->nparity; c++) {
		unsigned m = un->map.disk[c];
		uint8_t *b = raid_sync_buf(un, c);
		if ((sy->targets & (1u << m)) ||
		    !raid_member_readable(a, m, un->mlba + g->chunk)) {
			un->have[c] = false;
			if (b == NULL)
				un->err = -ENOMEM;
			continue;
		}
		un->have[c] = true;
		raid_sync_io(un, m, BLK_OP_READ, un->mlba, b, false);
	}
	raid_sync_phase_end(un);
}

void raid_sync_copy_to_shadow(struct sync_unit *un)
{
	if (un->err || un->member_fail) {
		raid_sync_unit_end(un, un->err ? un->err : -EIO);
		return;
	}
	unsigned r = (unsigned)__builtin_ctz(un->sy->targets);
	raid_sync_phase(un, raid_sync_unit_done_writes);
	raid_sync_io(un, r, BLK_OP_WRITE, un->copy_mlba_valid ? un->copy_mlba : un->mlba, un->buf[0], true);
	un->bytes = un->len;
	raid_sync_phase_end(un);
}

static void mirror_write_copies(struct sync_unit *un)
{
	struct raid_sync *sy = un->sy;
	struct raid_array *a = sy->a;
	if (un->err || un->member_fail) {
		raid_sync_unit_end(un, un->err ? un->err : -EIO);
		return;
	}
	raid_sync_phase(un, raid_sync_unit_done_writes);
	for (unsigned k = 0; k < un->piece.ncopies; k++) {
		unsigned m = un->piece.member[k];
		if ((int)k == un->src || !raid_member_ok(a, m))
			continue;
		if (sy->kind == SYNC_REBUILD && !(sy->targets & (1u << m)))
			continue;
		raid_sync_io(un, m, BLK_OP_WRITE, un->piece.mlba[k], un->buf[0], false);
	}
	un->bytes = un->len;
	raid_sync_phase_end(un);
}

static void mirror_unit(struct sync_unit *un)
{
	struct raid_sync *sy = un->sy;
	struct raid_array *a = sy->a;
	a->ops->map_piece(&a->g, un->unit * a->g.chunk, a->g.chunk, &un->piece);
	un->src = -1;
	bool involved = sy->kind == SYNC_RESYNC;
	for (unsigned k = 0; k < un->piece.ncopies; k++) {
		unsigned m = un->piece.member[k];
		if (sy->targets & (1u << m)) {
			involved = true;
			un->pos_after = un->piece.mlba[k] + a->g.chunk;
			un->copy_mlba = un->piece.mlba[k];
			un->copy_mlba_valid = true;
			if (sy->kind == SYNC_REPLACE)
				un->src = (int)k;
		} else if (un->src < 0 && sy->kind != SYNC_REPLACE &&
			   raid_member_readable(a, m, un->piece.mlba[k] + a->g.chunk)) {
			un->src = (int)k;
		}
	}
	if (!involved) {
		raid_sync_unit_end(un, 0);
		return;
	}
	if (un->src < 0) {
		raid_sync_unit_end(un, -EIO);
		return;
	}
	raid_sync_phase(un, sy->kind == SYNC_REPLACE ? raid_sync_copy_to_shadow : mirror_write_copies);
	raid_sync_io(un, un->piece.member[un->src], BLK_OP_READ, un->piece.mlba[un->src], raid_sync_buf(un, 0), false);
	raid_sync_phase_end(un);
}

static void unit_locked(struct raid_lockw *w, int status)
{
	struct sync_unit *un = container_of(w, struct sync_unit, lw);
	struct raid_sync *sy = un->sy;
	struct raid_array *a = sy->a;
	if (status != 0) {
		raid_sync_unit_end(un, status);
		return;
	}
	if (sy->kind == SYNC_CHECK || sy->kind == SYNC_REPAIR)
		raid_scrub_unit(un);
	else if (a->ops->stripe_map)
		parity_unit(un);
	else
		mirror_unit(un);
}

/* ---- the walk ---- */
static void sync_timer(struct reactor_timer *t)
{
	sync_step(t->arg);
}

static void step_fn(void *arg)
{
	struct raid_sync *sy = arg;
	sy->step_queued = false;
	if (sy->orphan) { /* the job finished while this call was queued */
		free(sy);
		return;
	}
	sync_step(sy);
}

/* Run sync_step at the next iteration (once, however often asked). */
static void queue_step(struct raid_sync *sy)
{
	if (sy->step_queued)
		return;
	sy->step_queued = true;
	reactor_defer(&sy->defer, step_fn, sy);
}

static void ckpt_flushed(struct raid_sub *s, int status)
{
	(void)status;
	struct raid_sync *sy = s->ctx;
	if (--sy->ckpt_pending > 0)
		return;
	struct raid_array *a = sy->a;
	raid_internal_put(a); /* the job's own reference keeps the array */
	if (!a->dead) {
		a->rebuild_ckpt = sy->ckpt_pos;
		raid_array_sb_update(a);
	}
	queue_step(sy); /* ends the job when it is ending and this was the last thing in flight */
}

/* Flush the targets, then record the rebuild position in the superblocks.
 * Units may be in flight: the position covers only units whose writes
 * completed before the flushes were issued, so the flushes make it durable. */
static void checkpoint(struct raid_sync *sy)
{
	struct raid_array *a = sy->a;
	uint64_t now = now_ns();
	uint64_t pos = atomic_load(&a->rebuild_pos);
	if (sy->kind != SYNC_REBUILD || sy->ckpt_pending ||
	    (now - sy->ckpt_ns < CKPT_NS && pos - sy->ckpt_pos < a->g.member_blocks / CKPT_PARTS))
		return;
	sy->ckpt_ns = now;
	sy->ckpt_pos = pos;
	sy->ckpt_pending = 1;
	raid_internal_get(a);
	for (unsigned m = 0; m < a->g.n; m++) {
		if (!(sy->targets & (1u << m)) || !raid_member_ok(a, m))
			continue;
		struct raid_sub *s = raid_sub_new(a, m, BLK_OP_FLUSH, 0, 0, 0, ckpt_flushed, sy, NULL);
		if (s == NULL)
			continue;
		s->io.lba = 0;
		sy->ckpt_pending++;
		raid_sub_submit(s);
	}
	struct raid_sub fake = {.ctx = sy};
	ckpt_flushed(&fake, 0);
}

/* Foreground first (see the top): true when the job must not start a unit now (timer armed). */
static bool must_yield(struct raid_sync *sy, uint64_t now)
{
	if (atomic_load(&sy->a->reqs_inflight) == 0) {
		sy->busy_units = 0;
		sy->yield_start = 0;
		return false;
	}
	if (sy->busy_units < sy->window)
		return false;
	if (sy->yield_start == 0)
		sy->yield_start = now;
	if (now - sy->yield_start < YIELD_MAX_NS) {
		reactor_timer_start(&sy->timer, YIELD_STEP_NS);
		return true;
	}
	sy->busy_units = 0; /* a window's yield is over: the next window */
	sy->yield_start = 0;
	return false;
}

/* Skip the clean units at sy->unit (only_dirty): they count as done. */
static void skip_clean(struct raid_sync *sy)
{
	struct raid_array *a = sy->a;
	uint64_t pos = 0;
	bool skipped = false;
	while (sy->unit < sy->nunits && sy->only_dirty && !unit_dirty(a, sy->unit)) {
		uint64_t lo, hi;
		raid_sync_unit_span(a, sy->unit, &lo, &hi);
		if (sy->kind == SYNC_REBUILD && a->ops->stripe_map)
			pos = MAX(pos, hi);
		sy->unit++;
		skipped = true;
	}
	if (!skipped)
		return;
	if (sy->tail != NULL) { /* they retire with the last unit in flight */
		sy->tail->next_unit = sy->unit;
		sy->tail->skip_pos = MAX(sy->tail->skip_pos, pos);
		return;
	}
	if (pos > atomic_load(&a->rebuild_pos))
		atomic_store(&a->rebuild_pos, pos);
	sy->done_unit = sy->unit;
	prog_publish(sy);
}

static void final_flushed(struct raid_sub *s, int status);

/* Start units until the window is full, a wait is due, or the walk is over. */
static void sync_step(struct raid_sync *sy)
{
	struct raid_array *a = sy->a;
	if (sy->ending) {
		if (sy->inflight == 0 && sy->ckpt_pending == 0 && !sy->final_started) {
			/* make what the job wrote durable before it counts (rebuild end, replace swap) */
			sy->final_started = true;
			sy->fin_pending = 1;
			if (sy->status == 0 && !a->dead)
				for (unsigned m = 0; m < a->g.n; m++) {
					if (a->m[m].dev == NULL || !raid_member_ok(a, m))
						continue;
					struct raid_sub *s =
						raid_sub_new(a, m, BLK_OP_FLUSH, 0, 0, 0, final_flushed, sy, NULL);
					if (s == NULL)
						continue;
					s->io.lba = 0;
					s->to_shadow = sy->kind == SYNC_REPLACE && a->m[m].shadow != NULL;
					sy->fin_pending++;
					raid_sub_submit(s);
				}
			struct raid_sub fake = {.ctx = sy};
			final_flushed(&fake, 0); /* may free sy */
		}
		return;
	}
	if (a->dead || sy->stop_req || raid_offline(a)) {
		sync_end(sy, raid_offline(a) ? -EIO : -ECANCELED);
		return;
	}
	if (sy->kind == SYNC_REBUILD && (atomic_load(&a->failed) & sy->targets)) {
		sync_end(sy, -EIO); /* the target itself failed */
		return;
	}
	if (sy->kind == SYNC_REPLACE && a->shadow_failed) {
		sync_end(sy, -EIO);
		return;
	}
	if (reactor_timer_armed(&sy->timer))
		return; /* waiting (foreground, rate, memory): the timer calls again */
	/* mirrors: writes started before the job (without chunk locks) must drain first */
	if (!a->ops->owner_path && atomic_load(&a->writes_inflight) != a->lockaware_writes) {
		reactor_timer_start(&sy->timer, YIELD_STEP_NS);
		return;
	}
	while (sy->inflight < sy->window && !sy->ending) {
		uint64_t now = now_ns();
		if (must_yield(sy, now))
			return;
		uint64_t rate = atomic_load(&a->rebuild_rate);
		if (rate) {
			uint64_t k = sy->issued > sy->rate_base_bytes ? sy->issued - sy->rate_base_bytes : 0;
			uint64_t due = sy->rate_base_ns + (uint64_t)((double)k * 1e9 / (double)rate);
			if (due > now) {
				reactor_timer_start(&sy->timer, due - now);
				return;
			}
		}
		checkpoint(sy);
		skip_clean(sy);
		if (sy->unit >= sy->nunits) {
			if (sy->inflight > 0)
				return; /* the last units retire, then this runs again */
			if (sy->kind == SYNC_REBUILD && sy->only_dirty && !a->ops->stripe_map)
				atomic_store(&a->rebuild_pos, a->g.member_blocks);
			sync_end(sy, 0);
			return;
		}
		struct sync_unit *un = raid_sync_unit_new(sy);
		if (un == NULL) {
			if (sy->inflight == 0)
				reactor_timer_start(&sy->timer, YIELD_STEP_NS); /* out of memory: try again shortly */
			return; /* else the next unit to retire calls again */
		}
		un->unit = sy->unit++;
		un->next_unit = sy->unit;
		if (sy->tail)
			sy->tail->wnext = un;
		else
			sy->head = un;
		sy->tail = un;
		sy->inflight++;
		sy->issued += un->len;
		if (atomic_load(&a->reqs_inflight) > 0)
			sy->busy_units++;
		raid_lock(a, &un->lw, un->unit, unit_locked); /* may finish the unit at once */
	}
}

static void sync_finish_fn(void *arg)
{
	struct raid_sync *sy = arg;
	struct raid_array *a = sy->a;
	int status = sy->status;
	atomic_store(&a->last_sync_kind, sy->kind);
	atomic_store(&a->last_sync_status, status);
	if (!a->dead)
		raid_sync_finished(a, sy, status);
	atomic_store(&a->prog.kind, 0);
	a->sync = NULL;
	atomic_store(&a->sync_lock, false);
	reactor_timer_cancel(&sy->timer);
	if (sy->step_queued)
		sy->orphan = true; /* step_fn frees it */
	else
		free(sy);
	bool dead = a->dead;
	raid_internal_put(a); /* frees a destroyed array */
	if (!dead)
		raid_sync_kick(a);
}

static void final_flushed(struct raid_sub *s, int status)
{
	(void)status;
	struct raid_sync *sy = s->ctx;
	if (--sy->fin_pending > 0)
		return;
	sync_finish_fn(sy);
}

/* End the job with status: nothing new starts; once the units in flight
 * and a checkpoint in progress are over, the members are flushed (success)
 * and the job finishes. Never finishes inside this call. */
static void sync_end(struct raid_sync *sy, int status)
{
	if (sy->ending)
		return;
	sy->ending = true;
	sy->status = status;
	reactor_timer_cancel(&sy->timer);
	queue_step(sy);
}

int raid_sync_start(struct raid_array *a, int kind, uint32_t targets, bool only_dirty, uint64_t from)
{
	reactor_assert_on(a->owner);
	if (a->sync != NULL)
		return -EBUSY;
	if (a->dead || a->stopping)
		return -ESHUTDOWN;
	struct raid_sync *sy = calloc(1, sizeof(*sy));
	if (sy == NULL)
		return -ENOMEM;
	sy->a = a;
	sy->kind = kind;
	sy->targets = targets;
	sy->only_dirty = only_dirty && a->bm != NULL;
	sy->nunits = units_of(a);
	sy->unit = from / a->g.chunk * sy->nunits / (a->g.member_blocks / a->g.chunk);
	if (!a->ops->stripe_map && from > 0) /* mirrors: start at the first chunk with rows >= from */
		sy->unit = a->ops->level == 1 ? from / a->g.chunk : from / a->g.chunk * a->g.n / 2;
	sy->start_unit = sy->unit;
	sy->done_unit = sy->unit;
	sy->window = window_of(a);
	sy->start_ns = now_ns();
	atomic_store(&a->prog.targets, targets);
	atomic_store(&a->prog.nunits, sy->nunits);
	atomic_store(&a->prog.start_unit, sy->unit);
	atomic_store(&a->prog.start_ns, sy->start_ns);
	prog_publish(sy);
	atomic_store(&a->prog.kind, kind);
	sy->rate_base_ns = sy->start_ns;
	sy->ckpt_ns = sy->start_ns;
	sy->ckpt_pos = kind == SYNC_REBUILD ? atomic_load(&a->rebuild_pos) : 0;
	reactor_timer_init(&sy->timer, sync_timer, sy);
	raid_internal_get(a);
	a->sync = sy;
	if (!a->ops->owner_path)
		atomic_store_explicit(&a->sync_lock, true, memory_order_seq_cst);
	log_notice(LOGC_RAID, a->tag, "%s started%s (roles 0x%x, from member block %" PRIu64 ")",
		   raid_sync_kind_name((enum raid_sync_kind)kind), sy->only_dirty ? " on the dirty regions" : "", targets,
		   from);
	queue_step(sy);
	return 0;
}

void raid_sync_stop(struct raid_array *a, bool user)
{
	struct raid_sync *sy = a->sync;
	if (sy == NULL)
		return;
	sy->stop_req = true;
	sy->user_stop = user;
	if (reactor_timer_armed(&sy->timer)) { /* waiting (rate limit, yielding): end it now */
		reactor_timer_cancel(&sy->timer);
		queue_step(sy);
	} /* else a unit in flight retires, or a queued step runs, and sees the request */
}

void raid_sync_fill_info(struct raid_array *a, struct raid_info *out)
{
	struct raid_sync_info *si = &out->sync;
	si->rate_limit_bps = atomic_load(&a->rebuild_rate);
	si->last_kind = (enum raid_sync_kind)atomic_load(&a->last_sync_kind);
	si->last_status = atomic_load(&a->last_sync_status);
	int kind = atomic_load(&a->prog.kind);
	if (kind == 0)
		return;
	uint64_t unit = atomic_load(&a->prog.unit), nunits = atomic_load(&a->prog.nunits);
	uint64_t start_unit = atomic_load(&a->prog.start_unit), bytes = atomic_load(&a->prog.bytes);
	si->kind = (enum raid_sync_kind)kind;
	si->targets = atomic_load(&a->prog.targets);
	si->total_blocks = a->g.member_blocks;
	si->done_blocks = nunits ? MIN(unit, nunits) * a->g.member_blocks / nunits : 0;
	si->percent = (unsigned)(si->total_blocks ? si->done_blocks * 100 / si->total_blocks : 0);
	uint64_t el = now_ns() - atomic_load(&a->prog.start_ns);
	si->rate_bps = el ? (uint64_t)((double)bytes * 1e9 / (double)el) : 0;
	if (unit > start_unit && unit < nunits)
		si->eta_s = (uint64_t)((double)el / 1e9 * (double)(nunits - unit) / (double)(unit - start_unit));
}

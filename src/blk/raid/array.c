/* array.c - array lifetime: create (zero + superblocks), assemble from superblocks, dirty/clean marks, failure records, stop, state. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "blk/raid/raid_internal.h"
#include "blk/raid/journal.h"
#include "blk/raid/sync.h"
#include "blk/raid/boot.h"
#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"

/*
 * Superblock state machine, owner reactor only:
 *   CLEAN --first write--> MARKING (dirty superblocks written) --> DIRTY
 *   DIRTY --idle for clean_delay, no write in flight--> CLEANING
 *         (flush members, clean superblocks written) --> CLEAN
 * Writes that find the array not DIRTY wait in dirty_waiters. A member
 * failure bumps the event counter and rewrites the superblocks of the
 * healthy members; writes that completed while a failure was not yet
 * recorded wait in commit_waiters (raid.c). One superblock write runs at
 * a time; requests arriving meanwhile set sb_again.
 */

static void sb_kick(struct raid_array *a);

static void release_dirty_waiters(struct raid_array *a, int status)
{
	struct raid_req *list = a->dirty_waiters, *rev = NULL;
	a->dirty_waiters = NULL;
	while (list) { /* queued LIFO: restore arrival order */
		struct raid_req *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct raid_req *req = rev;
		rev = rev->next;
		if (status != 0) {
			raid_req_complete_now(req, status);
			continue;
		}
		atomic_fetch_add_explicit(&a->writes_inflight, 1, memory_order_seq_cst);
		req->write = true;
		if (raid_bitmap_enter(req))
			raid_req_dispatch(req);
		else
			raid_bitmap_wait(req);
	}
}

static void release_commit_waiters(struct raid_array *a)
{
	if (!raid_offline(a) && atomic_load(&a->committed) != atomic_load(&a->failed))
		return;
	while (a->commit_waiters) {
		struct raid_req *req = a->commit_waiters;
		a->commit_waiters = req->next;
		raid_req_complete_now(req, 0);
	}
}

static void sb_written(struct raid_array *a, int status)
{
	a->sb_busy = false;
	int st = atomic_load(&a->sb_state);
	if (st == RAID_SB_MARKING) {
		atomic_store(&a->sb_state, status == 0 || !raid_offline(a) ? RAID_SB_DIRTY : RAID_SB_CLEAN);
		release_dirty_waiters(a, raid_offline(a) ? -EIO : 0);
	} else if (st == RAID_SB_CLEANING) {
		atomic_store(&a->sb_state, RAID_SB_CLEAN);
		log_debug(LOGC_RAID, a->tag, "marked clean (events %" PRIu64 ")", atomic_load(&a->events));
	}
	release_commit_waiters(a);
	if (a->dead)
		return;
	if (a->stopping && a->stop_cb && atomic_load(&a->sb_state) == RAID_SB_CLEAN && a->internal == 0) {
		void (*cb)(void *, int) = a->stop_cb;
		void *arg = a->stop_arg;
		a->stop_cb = NULL;
		raid_array_destroy(&a->dev);
		cb(arg, status);
		return;
	}
	if (a->swap_role_plus1 && status == 0 && a->sb_write_events > a->swap_mark)
		raid_replace_commit(a);
	uint32_t f = atomic_load(&a->failed);
	if (f != 0 && f == atomic_load(&a->committed))
		raid_spare_takeover(a);
	if (a->sb_again || a->sb_force || a->dirty_waiters || atomic_load(&a->committed) != atomic_load(&a->failed)) {
		a->sb_again = false;
		sb_kick(a);
	}
}

static void sb_kick(struct raid_array *a)
{
	reactor_assert_on(a->owner);
	if (a->sb_busy) {
		a->sb_again = true;
		return;
	}
	if (raid_offline(a)) {
		release_dirty_waiters(a, -EIO);
		release_commit_waiters(a);
		return;
	}
	int st = atomic_load(&a->sb_state);
	if (a->dirty_waiters && st == RAID_SB_DIRTY) {
		release_dirty_waiters(a, 0);
	} else if (a->dirty_waiters && st == RAID_SB_CLEAN) {
		atomic_store(&a->sb_state, RAID_SB_MARKING);
		a->sb_dirty = true;
		a->sb_busy = true;
		raid_sb_write_all(a, sb_written);
		return;
	}
	if (atomic_load(&a->committed) != atomic_load(&a->failed) || a->sb_force) {
		a->sb_force = false;
		a->sb_busy = true;
		raid_sb_write_all(a, sb_written);
	}
}

void raid_array_sb_update(struct raid_array *a)
{
	a->sb_force = true;
	sb_kick(a);
}


void raid_array_want_dirty(void *arg)
{
	struct raid_req *req = arg;
	struct raid_array *a = req->a;
	req->next = a->dirty_waiters;
	a->dirty_waiters = req;
	sb_kick(a);
}

void raid_array_wait_commit(void *arg)
{
	struct raid_req *req = arg;
	struct raid_array *a = req->a;
	req->next = a->commit_waiters;
	a->commit_waiters = req;
	release_commit_waiters(a);
	sb_kick(a);
}

void raid_array_failure_changed(void *arg)
{
	struct raid_array *a = arg;
	if (!a->dead)
		sb_kick(a);
	atomic_fetch_sub(&a->reqs_inflight, 1);
	if (a->dead)
		raid_array_maybe_free(a);
}

/* ---- clean marking: flush every healthy member, then write clean superblocks ---- */
struct clean_flush {
	struct raid_array *a;
	unsigned outstanding;
};

static void clean_flushed(struct raid_sub *s, int status)
{
	(void)status; /* a member failing its flush is failed; the superblock write records it */
	struct clean_flush *cf = s->ctx;
	if (--cf->outstanding > 0)
		return;
	struct raid_array *a = cf->a;
	free(cf);
	if (a->stopping && a->sync == NULL)
		a->rebuild_ckpt = a->stop_pos; /* nothing rebuilt since the flush began: all below is durable */
	a->sb_dirty = a->needs_resync;
	raid_sb_write_all(a, sb_written);
}

static void clean_start(struct raid_array *a)
{
	struct clean_flush *cf = calloc(1, sizeof(*cf));
	if (cf == NULL) {
		atomic_store(&a->sb_state, RAID_SB_DIRTY);
		return;
	}
	a->sb_busy = true;
	cf->a = a;
	cf->outstanding = 1;
	for (unsigned m = 0; m < a->g.n; m++) {
		if (!raid_member_ok(a, m) || a->m[m].dev == NULL)
			continue;
		struct raid_sub *s = raid_sub_new(a, m, BLK_OP_FLUSH, 0, 0, 0, clean_flushed, cf, NULL);
		if (s == NULL)
			continue;
		s->io.lba = 0;
		cf->outstanding++;
		raid_sub_submit(s);
	}
	if (--cf->outstanding == 0) {
		free(cf);
		if (a->stopping && a->sync == NULL)
			a->rebuild_ckpt = a->stop_pos;
		a->sb_dirty = a->needs_resync;
		raid_sb_write_all(a, sb_written);
	}
}

/* Try DIRTY -> CLEANING; the seq_cst pair with raid_write_gate() (raid.c). */
static bool try_begin_clean(struct raid_array *a)
{
	if (a->sb_busy || atomic_load(&a->sb_state) != RAID_SB_DIRTY || raid_offline(a))
		return false;
	if (atomic_load_explicit(&a->writes_inflight, memory_order_seq_cst) != 0)
		return false;
	atomic_store_explicit(&a->sb_state, RAID_SB_CLEANING, memory_order_seq_cst);
	if (atomic_load_explicit(&a->writes_inflight, memory_order_seq_cst) != 0) {
		atomic_store_explicit(&a->sb_state, RAID_SB_DIRTY, memory_order_seq_cst);
		return false;
	}
	return true;
}

static void idle_tick(struct reactor_timer *t)
{
	struct raid_array *a = t->arg;
	uint64_t idle = now_ns() - atomic_load(&a->last_write_ns);
	if (idle >= a->clean_delay_ns && try_begin_clean(a))
		clean_start(a);
	raid_bitmap_tick(a);
	reactor_timer_start(&a->idle_timer, a->clean_delay_ns / 2 + 1000000);
}

/* ---- stop / destroy ---- */
static void stop_poll(struct reactor_timer *t)
{
	struct raid_array *a = t->arg;
	int st = atomic_load(&a->sb_state);
	if (atomic_load(&a->reqs_inflight) != 0 || a->sb_busy || a->internal != 0 || a->sync != NULL ||
	    st == RAID_SB_MARKING || st == RAID_SB_CLEANING) {
		reactor_timer_start(&a->stop_timer, 1000000);
		return;
	}
	bool ckpt_behind = atomic_load(&a->rebuilding) != 0 && atomic_load(&a->rebuild_pos) != a->rebuild_ckpt;
	if (raid_offline(a) || (st == RAID_SB_CLEAN && !ckpt_behind)) {
		void (*cb)(void *, int) = a->stop_cb;
		void *arg = a->stop_arg;
		int status = raid_offline(a) ? -EIO : 0;
		a->stop_cb = NULL;
		raid_array_destroy(&a->dev);
		cb(arg, status);
		return;
	}
	atomic_store(&a->sb_state, RAID_SB_CLEANING);
	a->stop_pos = atomic_load(&a->rebuild_pos);
	clean_start(a); /* sb_written() finishes the stop */
}

int raid_stop(struct blk_dev *dev, void (*cb)(void *arg, int status), void *arg)
{
	if (dev == NULL || dev->ops != &raid_blk_ops || cb == NULL)
		return -EINVAL;
	struct raid_array *a = dev->ctx;
	if (reactor_self() != a->owner)
		return -EINVAL;
	if (a->stopping)
		return -EALREADY;
	a->stopping = true;
	a->stop_cb = cb;
	a->stop_arg = arg;
	raid_sync_stop(a, false); /* a rebuild resumes from its checkpoint at the next assembly */
	reactor_timer_cancel(&a->idle_timer);
	reactor_timer_init(&a->stop_timer, stop_poll, a);
	reactor_timer_start(&a->stop_timer, 0);
	return 0;
}

static void array_free(struct raid_array *a)
{
	raid_stripe_table_free(a);
	raid_bitmap_free(a);
	raid_journal_free(a);
	if (a->flags & RAID_F_OWN_MEMBERS) {
		for (unsigned m = 0; m < a->g.n; m++)
			if (a->m[m].dev)
				blk_destroy(a->m[m].dev);
		for (unsigned i = 0; i < a->nretired; i++)
			blk_destroy(a->retired[i]);
		for (unsigned i = 0; i < a->nspares; i++)
			blk_destroy(a->spares[i]);
	}
	free(a);
}

void raid_array_maybe_free(struct raid_array *a)
{
	if (a->dead && a->internal == 0 && atomic_load(&a->reqs_inflight) == 0)
		array_free(a);
}

static void destroy_on_owner(void *arg)
{
	raid_array_destroy(&((struct raid_array *)arg)->dev);
}

/*
 * blk_destroy() of an array: no host I/O may be in flight (blk.h), but the
 * array's own work may be (superblock and bitmap writes, journal flushes,
 * a rebuild unit, a failure being recorded). The array stops starting
 * new work at once and its memory (and, with RAID_F_OWN_MEMBERS, the
 * members) is released when the last of those operations has returned:
 * on the owner reactor (a call from another thread is forwarded there).
 * The superblocks stay as they are (dirty if writes happened): use
 * raid_stop() for an orderly stop.
 */
void raid_array_destroy(struct blk_dev *dev)
{
	struct raid_array *a = dev->ctx;
	if (reactor_self() != a->owner && reactor_self() != NULL && !a->dead &&
	    reactor_send_msg(a->owner, destroy_on_owner, a) == 0)
		return;
	if (a->dead)
		return;
	a->dead = true;
	reactor_timer_cancel(&a->idle_timer);
	reactor_timer_cancel(&a->stop_timer);
	raid_sync_stop(a, false); /* a job idle on its timer ends at once; one with I/O when it returns */
	raid_array_maybe_free(a);
}

/* ---- construction ---- */
struct raid_array *raid_array_new(const struct raid_level_ops *lv, const char *name, unsigned n, uint32_t bs,
				    uint32_t chunk_blocks, uint64_t member_blocks, uint64_t data_offset_blocks,
				    uint32_t flags, uint32_t deadline_ms, uint32_t clean_delay_ms)
{
	struct raid_array *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->ops = lv;
	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->tag, sizeof(a->tag), "array=%s", a->name);
	a->g.n = n;
	a->g.chunk = chunk_blocks;
	a->g.member_blocks = member_blocks / chunk_blocks * chunk_blocks;
	lv->geom_init(&a->g);
	a->data_offset = data_offset_blocks;
	a->flags = flags;
	a->deadline_ns = (uint64_t)(deadline_ms ? deadline_ms : 30000) * 1000000u;
	a->clean_delay_ns = (uint64_t)(clean_delay_ms ? clean_delay_ms : 2000) * 1000000u;
	a->owner = reactor_self();
	a->dev.ops = &raid_blk_ops;
	a->dev.ctx = a;
	snprintf(a->dev.name, sizeof(a->dev.name), "%s", a->name);
	a->dev.info.block_size = bs;
	a->dev.info.num_blocks = lv->capacity(&a->g);
	if (lv->striped)
		a->dev.info.opt_xfer_blocks = chunk_blocks * a->g.ndata;
	a->dev.info.unmap_zeroes = true;
	a->dev.info.supports_unmap = lv->nparity == 0;
	if (lv->owner_path && raid_stripe_table_new(a) != 0) {
		free(a);
		return NULL;
	}
	reactor_timer_init(&a->idle_timer, idle_tick, a);
	reactor_timer_init(&a->stop_timer, stop_poll, a);
	return a;
}

/* Create: place the write-intent bitmap and the journal between the superblock and the data. */
int raid_array_layout(struct raid_array *a, uint32_t flags, uint32_t region_kib, char *err, size_t errlen)
{
	int rc = 0;
	if (a->ops->redundant && !(flags & RAID_F_NO_BITMAP)) {
		uint64_t rb = (uint64_t)(region_kib ? region_kib : RAID_DEFAULT_REGION_KIB) * 1024;
		rc = raid_bitmap_layout(a, rb, err, errlen);
	}
	if (rc == 0 && a->ops->nparity && !(flags & RAID_F_NO_JOURNAL))
		rc = raid_journal_layout(a, err, errlen);
	return rc;
}

/* Assembly: the areas the superblock describes. */
int raid_array_layout_from_sb(struct raid_array *a, const struct raid_sb_info *ref, char *err, size_t errlen)
{
	uint32_t bs = ref->block_size;
	if (ref->region_bytes) {
		a->region_blocks = ref->region_bytes / bs;
		a->bm_offset = ref->bitmap_offset / bs;
		a->bm_slot_blocks = ref->bitmap_slot_bytes / bs;
		uint64_t need = ALIGN_UP(64 + (raid_bitmap_nregions(a) + 7) / 8 + 4, bs);
		if (a->bm_slot_blocks * bs < need) {
			snprintf(err, errlen, "superblock's bitmap area is too small for its regions");
			return -EINVAL;
		}
	}
	if (ref->journal_bytes) {
		a->j_offset = ref->journal_offset / bs;
		a->j_slot_blocks = ref->journal_slot_bytes / bs;
		a->j_nslots = ref->journal_bytes / ref->journal_slot_bytes;
		if (a->j_slot_blocks < raid_journal_hdr_blocks(a) + a->g.chunk || !a->ops->nparity) {
			snprintf(err, errlen, "superblock's journal slots are smaller than a chunk (or the level has no parity)");
			return -EINVAL;
		}
	}
	return 0;
}

int raid_array_meta_alloc(struct raid_array *a)
{
	if (raid_bitmap_new(a) != 0 || raid_journal_new(a) != 0)
		return -ENOMEM;
	return 0;
}

void raid_array_set_members(struct raid_array *a, struct blk_dev **by_role)
{
	for (unsigned r = 0; r < a->g.n; r++) {
		struct blk_dev *d = by_role[r];
		a->m[r].dev = d;
		snprintf(a->m[r].name, sizeof(a->m[r].name), "%s", d ? d->name : "(missing)");
		if (d == NULL)
			continue;
		a->dev.info.volatile_cache |= d->info.volatile_cache;
		a->dev.info.rotational |= d->info.rotational;
		if (a->ops->nparity == 0) {
			a->dev.info.supports_unmap = a->dev.info.supports_unmap && d->info.supports_unmap;
			a->dev.info.unmap_zeroes = a->dev.info.unmap_zeroes && d->info.unmap_zeroes;
		}
	}
}

void raid_array_start(struct raid_array *a)
{
	atomic_store(&a->last_write_ns, now_ns());
	reactor_timer_start(&a->idle_timer, a->clean_delay_ns / 2 + 1000000);
	if (a->sb_force)
		sb_kick(a);
	raid_sync_kick(a); /* resync after a crash, resume a rebuild */
}

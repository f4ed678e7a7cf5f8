/* spare.c - hot spares (per array and global), takeover of failed roles, replace, re-add (also into an offline array), remove, rebuild rate, and what happens when a sync job ends. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk/raid/sync.h"
#include "core/log.h"
#include "core/util.h"

/*
 * A spare is a blank device waiting in a list: the array's own (owner
 * only) or the global pool (any array; a mutex, taken only by these
 * control paths, never by I/O). When a failure has been recorded in the
 * superblocks, the owner gives each failed role a spare: the role's
 * generation changes (late answers of the old device can no longer fail
 * it), the spare becomes the role's device marked "rebuilding" from
 * block 0, the superblocks are rewritten (the spare gets its own), and a
 * rebuild job fills it. Below the rebuild position it is read like any
 * member; above, it only receives writes, and reads avoid it.
 */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct blk_dev *pool[2 * RAID_MAX_MEMBERS];
static unsigned npool;

unsigned raid_global_spares(void)
{
	pthread_mutex_lock(&pool_lock);
	unsigned n = npool;
	pthread_mutex_unlock(&pool_lock);
	return n;
}

int raid_global_spare_remove(struct blk_dev *spare)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&pool_lock);
	for (unsigned i = 0; i < npool && rc != 0; i++) {
		if (pool[i] != spare)
			continue;
		memmove(&pool[i], &pool[i + 1], (npool - i - 1) * sizeof(pool[0]));
		npool--;
		rc = 0;
	}
	pthread_mutex_unlock(&pool_lock);
	return rc;
}

static bool fits(const struct raid_array *a, const struct blk_dev *d)
{
	return d->info.block_size == a->dev.info.block_size && !d->info.read_only &&
	       d->info.num_blocks >= a->data_offset + a->g.member_blocks;
}

static bool is_member(const struct raid_array *a, const struct blk_dev *d)
{
	for (unsigned r = 0; r < a->g.n; r++)
		if (a->m[r].dev == d || a->m[r].shadow == d)
			return true;
	for (unsigned i = 0; i < a->nspares; i++)
		if (a->spares[i] == d)
			return true;
	return false;
}

int raid_add_spare(struct blk_dev *array, struct blk_dev *spare)
{
	if (spare == NULL)
		return -EINVAL;
	if (array == NULL) {
		pthread_mutex_lock(&pool_lock);
		int rc = 0;
		for (unsigned i = 0; i < npool; i++)
			if (pool[i] == spare)
				rc = -EINVAL;
		if (rc == 0 && npool == ARRAY_SIZE(pool))
			rc = -ENOSPC;
		if (rc == 0)
			pool[npool++] = spare;
		pthread_mutex_unlock(&pool_lock);
		if (rc == 0)
			log_notice(LOGC_RAID, NULL, "global spare %s added", spare->name);
		return rc;
	}
	if (array->ops != &raid_blk_ops)
		return -EINVAL;
	struct raid_array *a = array->ctx;
	if (reactor_self() != a->owner || !fits(a, spare) || is_member(a, spare) || !a->ops->redundant)
		return -EINVAL;
	if (a->nspares == RAID_MAX_MEMBERS)
		return -ENOSPC;
	a->spares[a->nspares++] = spare;
	log_notice(LOGC_RAID, a->tag, "spare %s added", spare->name);
	raid_sync_kick(a);
	return 0;
}

/* A spare that fits: the array's first, then the global pool's. */
static struct blk_dev *take_spare(struct raid_array *a)
{
	for (unsigned i = 0; i < a->nspares; i++) {
		struct blk_dev *d = a->spares[i];
		if (!fits(a, d))
			continue;
		memmove(&a->spares[i], &a->spares[i + 1], (a->nspares - i - 1) * sizeof(a->spares[0]));
		a->nspares--;
		return d;
	}
	struct blk_dev *d = NULL;
	pthread_mutex_lock(&pool_lock);
	for (unsigned i = 0; i < npool && d == NULL; i++) {
		if (!fits(a, pool[i]))
			continue;
		d = pool[i];
		memmove(&pool[i], &pool[i + 1], (npool - i - 1) * sizeof(pool[0]));
		npool--;
	}
	pthread_mutex_unlock(&pool_lock);
	return d;
}

static void retire(struct raid_array *a, struct blk_dev *old)
{
	if (old == NULL)
		return;
	if (a->nretired < ARRAY_SIZE(a->retired))
		a->retired[a->nretired++] = old;
	else
		log_err(LOGC_RAID, a->tag, "too many replaced devices: %s is left to its owner", old->name);
}

/* Role r gets dev, to be rebuilt (from block 0). Owner only. */
static void assign_role(struct raid_array *a, unsigned r, struct blk_dev *dev)
{
	uint32_t bit = 1u << r;
	retire(a, a->m[r].dev);
	atomic_fetch_add(&a->m[r].gen, 1);
	atomic_store(&a->rebuild_pos, 0);
	a->rebuild_ckpt = 0;
	a->readd_dirty = false;
	atomic_fetch_or(&a->rebuilding, bit);
	a->m[r].dev = dev;
	a->role_jseq[r] = raid_journal_next_seq(a);
	snprintf(a->m[r].name, sizeof(a->m[r].name), "%s", dev->name);
	atomic_fetch_and(&a->committed, ~bit);
	atomic_fetch_and(&a->failed, ~bit);
	log_notice(LOGC_RAID, a->tag, "%s takes role %u; rebuilding", dev->name, r);
}

/* Give failed roles whose failure is recorded a spare. Returns true when one was assigned. */
static bool takeover(struct raid_array *a)
{
	uint32_t failed = atomic_load(&a->failed);
	if (failed == 0 || failed != atomic_load(&a->committed) || raid_offline(a))
		return false;
	bool any = false;
	for (unsigned r = 0; r < a->g.n; r++) {
		if (!(failed & (1u << r)))
			continue;
		struct blk_dev *d = take_spare(a);
		if (d == NULL)
			break;
		assign_role(a, r, d);
		any = true;
	}
	if (any)
		raid_array_sb_update(a);
	return any;
}

void raid_spare_takeover(struct raid_array *a)
{
	if (a->sync != NULL && (a->sync->kind == SYNC_CHECK || a->sync->kind == SYNC_REPAIR)) {
		raid_sync_stop(a, false); /* a rebuild matters more; the kick after it ends takes the spare */
		return;
	}
	raid_sync_kick(a);
}

void raid_sync_kick(struct raid_array *a)
{
	if (a->dead || a->stopping || raid_offline(a) || a->sync != NULL)
		return;
	bool fresh = takeover(a);
	if (a->needs_resync && a->ops->redundant) {
		if (raid_sync_start(a, SYNC_RESYNC, 0, true, 0) == 0)
			return;
	}
	uint32_t rb = atomic_load(&a->rebuilding) & ~atomic_load(&a->failed);
	if (rb == 0)
		return;
	uint64_t from = fresh ? 0 : atomic_load(&a->rebuild_pos);
	if (fresh)
		atomic_store(&a->rebuild_pos, 0);
	raid_sync_start(a, SYNC_REBUILD, rb, a->readd_dirty && !fresh, from);
}

int raid_replace_member(struct blk_dev *array, unsigned role, struct blk_dev *dev)
{
	if (array == NULL || dev == NULL || array->ops != &raid_blk_ops)
		return -EINVAL;
	struct raid_array *a = array->ctx;
	if (reactor_self() != a->owner || role >= a->g.n || !fits(a, dev) || is_member(a, dev) || !a->ops->redundant)
		return -EINVAL;
	if (raid_offline(a))
		return -EIO; /* nothing to rebuild from */
	if (a->sync != NULL && a->sync->kind != SYNC_CHECK && a->sync->kind != SYNC_REPAIR)
		return -EBUSY;
	if ((atomic_load(&a->rebuilding) & (1u << role)) || a->swap_role_plus1)
		return -EBUSY;
	if (a->sync != NULL) {
		raid_sync_stop(a, false);
		return -EBUSY; /* the scrub stops; try again */
	}
	if (!raid_member_ok(a, role) || a->m[role].dev == NULL) {
		if (atomic_load(&a->failed) != atomic_load(&a->committed))
			return -EBUSY; /* the failure is being recorded */
		assign_role(a, role, dev);
		raid_array_sb_update(a);
		raid_sync_kick(a);
		return 0;
	}
	a->m[role].shadow = dev;
	a->shadow_jseq = raid_journal_next_seq(a); /* from here on journal parts are mirrored to dev */
	a->shadow_failed = false;
	atomic_store(&a->shadow_pos, 0);
	log_notice(LOGC_RAID, a->tag, "replacing member %u (%s) by %s: copying", role, a->m[role].name, dev->name);
	int rc = raid_sync_start(a, SYNC_REPLACE, 1u << role, false, 0);
	if (rc != 0)
		a->m[role].shadow = NULL;
	return rc;
}

/*
 * Offline array: a failed member may come back as it is (no rebuild) only
 * when its data is current: no array write was started since it failed and
 * none was in flight when it failed (it failed while the array could no
 * longer accept writes, or nothing was written meanwhile). Once enough
 * members are back for the level to serve every block, the array is online
 * again (degraded or optimal); the members still failed come back later
 * the usual way (bitmap re-add, spare, replace).
 */
static int readd_offline(struct raid_array *a, unsigned role)
{
	uint32_t bit = 1u << role;
	if (atomic_load(&a->fail_busy[role]) || atomic_load(&a->fail_wseq[role]) != atomic_load(&a->wseq))
		return -ESTALE;
	if (atomic_load(&a->rebuilding) & bit)
		return -ESTALE; /* it was being rebuilt: its content is incomplete */
	atomic_fetch_add(&a->m[role].gen, 1); /* late answers from before its failure cannot fail it again */
	atomic_fetch_and(&a->failed, ~bit);
	atomic_fetch_and(&a->committed, ~bit);
	uint32_t left = atomic_load(&a->failed);
	bool survives = a->ops->survives(&a->g, left | atomic_load(&a->rebuilding));
	log_notice(LOGC_RAID, a->tag, "member %u (%s) back with current data (no write since it failed)%s", role,
		   a->m[role].name, survives ? "" : "; the array stays offline until more members return");
	if (survives && atomic_exchange(&a->offline, false)) {
		log_notice(LOGC_RAID, a->tag, "array back ONLINE (%s)", left ? "degraded" : "optimal");
		raid_array_sb_update(a); /* records who is back (and who is still failed) */
		raid_sync_kick(a);
	}
	return 0;
}

int raid_readd_member(struct blk_dev *array, unsigned role)
{
	if (array == NULL || array->ops != &raid_blk_ops)
		return -EINVAL;
	struct raid_array *a = array->ctx;
	uint32_t bit = 1u << role;
	if (reactor_self() != a->owner || role >= a->g.n || a->m[role].dev == NULL || raid_member_ok(a, role))
		return -EINVAL;
	if (raid_offline(a))
		return readd_offline(a, role);
	if (a->bm == NULL)
		return -EINVAL;
	if (!(atomic_load(&a->committed) & bit))
		return -EBUSY; /* the failure is being recorded */
	if (a->sync != NULL) {
		if (a->sync->kind == SYNC_CHECK || a->sync->kind == SYNC_REPAIR)
			raid_sync_stop(a, false);
		return -EBUSY;
	}
	bool only_dirty = atomic_load(&a->rebuilding) == 0 || a->readd_dirty;
	atomic_fetch_add(&a->m[role].gen, 1);
	a->role_jseq[role] = raid_journal_next_seq(a); /* its older parts predate its absence */
	atomic_store(&a->rebuild_pos, 0);
	a->rebuild_ckpt = 0;
	a->readd_dirty = only_dirty;
	atomic_fetch_or(&a->rebuilding, bit);
	atomic_fetch_and(&a->committed, ~bit);
	atomic_fetch_and(&a->failed, ~bit);
	log_notice(LOGC_RAID, a->tag, "member %u (%s) re-added: rebuilding %s", role, a->m[role].name,
		   only_dirty ? "the regions written while it was away" : "everything");
	raid_array_sb_update(a);
	raid_sync_kick(a);
	return 0;
}

/* raid_remove_member: wait on the owner until the removed device has answered everything. */
struct remove_wait {
	struct raid_array *a;
	unsigned role;
	struct blk_dev *dev;
	void (*cb)(void *arg, int status, struct blk_dev *dev);
	void *arg;
	struct reactor_timer timer;
};

static void remove_poll(struct reactor_timer *t)
{
	struct remove_wait *w = t->arg;
	struct raid_array *a = w->a;
	if (atomic_load_explicit(&a->m[w->role].inflight, memory_order_seq_cst) != 0) {
		reactor_timer_start(&w->timer, 1000000); /* until the device answers its late I/O */
		return;
	}
	log_notice(LOGC_RAID, a->tag, "%s (role %u) removed: it no longer receives I/O", w->dev->name, w->role);
	w->cb(w->arg, 0, w->dev);
	free(w);
	raid_internal_put(a);
}

int raid_remove_member(struct blk_dev *array, unsigned role, void (*cb)(void *arg, int status, struct blk_dev *dev),
		       void *arg)
{
	if (array == NULL || array->ops != &raid_blk_ops || cb == NULL)
		return -EINVAL;
	struct raid_array *a = array->ctx;
	uint32_t bit = 1u << role;
	if (reactor_self() != a->owner || role >= a->g.n || a->dead)
		return -EINVAL;
	if (a->m[role].dev == NULL)
		return -ENOENT;
	if (raid_member_ok(a, role))
		return -EBUSY;
	if (!(atomic_load(&a->committed) & bit) || a->m[role].shadow != NULL ||
	    (a->swap_role_plus1 && a->swap_role_plus1 - 1 == role))
		return -EAGAIN;
	if (a->sync != NULL && (a->sync->targets & bit))
		return -EAGAIN;
	struct remove_wait *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->a = a;
	w->role = role;
	w->dev = a->m[role].dev;
	w->cb = cb;
	w->arg = arg;
	/* The failed bit stays set: nothing new is submitted to the role; from
	 * here on it has no device at all (missing), and the superblocks of the
	 * other members are rewritten (new event count: the removed device is
	 * stale if it is ever offered again). */
	atomic_fetch_add(&a->m[role].gen, 1);
	atomic_fetch_and(&a->rebuilding, ~bit);
	a->m[role].dev = NULL;
	snprintf(a->m[role].name, sizeof(a->m[role].name), "(missing)");
	raid_internal_get(a);
	reactor_timer_init(&w->timer, remove_poll, w);
	reactor_timer_start(&w->timer, 0);
	log_notice(LOGC_RAID, a->tag, "removing %s from role %u: the role is missing until a spare or an added "
		   "device fills it", w->dev->name, role);
	raid_array_sb_update(a);
	return 0;
}

void raid_replace_commit(struct raid_array *a)
{
	unsigned r = a->swap_role_plus1 - 1;
	struct blk_dev *old = a->m[r].shadow;
	a->swap_role_plus1 = 0;
	atomic_store(&a->shadow_pos, 0);
	a->m[r].shadow = NULL;
	retire(a, old);
	log_notice(LOGC_RAID, a->tag, "role %u now lives on %s only (%s is out of the array)", r, a->m[r].name,
		   old ? old->name : "?");
}

int raid_set_rebuild_rate(struct blk_dev *array, uint64_t bytes_per_sec)
{
	if (array == NULL || array->ops != &raid_blk_ops)
		return -EINVAL;
	struct raid_array *a = array->ctx;
	if (reactor_self() != a->owner)
		return -EINVAL;
	atomic_store(&a->rebuild_rate, bytes_per_sec);
	if (a->sync) { /* the new rate counts from now */
		a->sync->rate_base_ns = now_ns();
		a->sync->rate_base_bytes = a->sync->issued;
	}
	return 0;
}

void raid_sync_finished(struct raid_array *a, struct raid_sync *sy, int status)
{
	const char *what = raid_sync_kind_name((enum raid_sync_kind)sy->kind);
	if (status != 0)
		log_warn(LOGC_RAID, a->tag, "%s ended: %s", what, status == -ECANCELED ? "stopped" : blk_strerror(status));
	switch (sy->kind) {
	case SYNC_RESYNC:
		if (status == 0) {
			a->needs_resync = false;
			log_notice(LOGC_RAID, a->tag, "resync done: mirrors / parity consistent");
		}
		break;
	case SYNC_REBUILD:
		if (status == 0) {
			uint32_t done = sy->targets & ~atomic_load(&a->failed);
			atomic_fetch_and(&a->rebuilding, ~done);
			a->rebuild_ckpt = 0;
			a->readd_dirty = false;
			log_notice(LOGC_RAID, a->tag, "rebuild done (roles 0x%x): array is %s", done,
				   raid_unavailable(a) ? "still degraded" : "optimal");
			raid_array_sb_update(a);
		}
		atomic_fetch_and(&a->rebuilding, ~atomic_load(&a->failed)); /* a failed target is just failed */
		break;
	case SYNC_REPLACE: {
		unsigned r = (unsigned)__builtin_ctz(sy->targets);
		struct blk_dev *nd = a->m[r].shadow;
		if (status == 0 && !a->shadow_failed && raid_member_ok(a, r)) {
			/* Swap, but keep writing to the old device too until superblocks naming
			 * the new one are durable: a crash before that brings the old one back
			 * (one event behind), and it must not have missed a write. */
			log_notice(LOGC_RAID, a->tag, "replace done: %s takes role %u from %s", nd->name, r, a->m[r].name);
			struct blk_dev *old = a->m[r].dev;
			atomic_fetch_add(&a->m[r].gen, 1);
			a->m[r].dev = nd;
			a->m[r].shadow = old;
			atomic_store(&a->shadow_pos, a->g.member_blocks);
			a->role_jseq[r] = a->shadow_jseq;
			snprintf(a->m[r].name, sizeof(a->m[r].name), "%s", nd->name);
			a->swap_mark = atomic_load(&a->events);
			a->swap_role_plus1 = r + 1;
			raid_array_sb_update(a);
		} else {
			atomic_store(&a->shadow_pos, 0);
			a->m[r].shadow = NULL;
			log_warn(LOGC_RAID, a->tag, "replace of member %u abandoned; %s is not used", r, nd->name);
		}
		a->shadow_failed = false;
		break;
	}
	default:
		log_notice(LOGC_RAID, a->tag, "scrub %s: %" PRIu64 " mismatch(es)%s", what,
			   (uint64_t)atomic_load(&a->scrub_mismatches), sy->kind == SYNC_REPAIR ? " repaired" : "");
		break;
	}
}

const char *raid_sync_kind_name(enum raid_sync_kind k)
{
	switch (k) {
	case RAID_SYNC_NONE: return "none";
	case RAID_SYNC_RESYNC: return "resync";
	case RAID_SYNC_REBUILD: return "rebuild";
	case RAID_SYNC_REPLACE: return "replace";
	case RAID_SYNC_CHECK: return "check";
	case RAID_SYNC_REPAIR: return "repair";
	}
	return "unknown";
}

/* info.c - array state for the control API: raid_get_info, raid_fail_member. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "blk/raid/raid_internal.h"
#include "blk/raid/sync.h"

/*
 * raid_get_info may run on any thread: the health words are atomics; the
 * sync progress and names are read without a lock and may be a moment
 * old (or torn across fields) when called off the owner reactor.
 */
int raid_get_info(struct blk_dev *dev, struct raid_info *out)
{
	if (dev == NULL || out == NULL || dev->ops != &raid_blk_ops)
		return -EINVAL;
	struct raid_array *a = dev->ctx;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", a->name);
	memcpy(out->uuid, a->uuid, 16);
	out->level = a->ops->level;
	out->chunk_kib = a->g.chunk * dev->info.block_size / 1024;
	out->nmembers = a->g.n;
	uint32_t failed = atomic_load(&a->failed);
	uint32_t rebuilding = atomic_load(&a->rebuilding);
	out->state = raid_offline(a) ? RAID_ARRAY_OFFLINE
		     : (failed | rebuilding) ? RAID_ARRAY_DEGRADED
					     : RAID_ARRAY_OPTIMAL;
	out->events = atomic_load(&a->events);
	out->dirty = atomic_load(&a->sb_state) != RAID_SB_CLEAN || a->needs_resync;
	out->num_blocks = dev->info.num_blocks;
	out->block_size = dev->info.block_size;
	for (unsigned r = 0; r < a->g.n; r++) {
		snprintf(out->members[r].name, sizeof(out->members[r].name), "%s", a->m[r].dev ? a->m[r].name : "");
		out->members[r].state = a->m[r].dev == NULL      ? RAID_MEMBER_MISSING
					: (failed & (1u << r)) ? RAID_MEMBER_FAILED
							       : RAID_MEMBER_ACTIVE;
		out->members[r].rebuilding = (rebuilding & (1u << r)) != 0;
		struct blk_dev *sh = a->m[r].shadow;
		if (sh)
			snprintf(out->members[r].replacing_with, sizeof(out->members[r].replacing_with), "%s", sh->name);
	}
	out->nspares = a->nspares;
	raid_sync_fill_info(a, out);
	out->bitmap_region_kib = a->region_blocks * dev->info.block_size / 1024;
	out->bitmap_dirty = raid_bitmap_dirty_count(a);
	out->journal = a->jr != NULL;
	out->scrub_mismatches = atomic_load(&a->scrub_mismatches);
	out->nmismatch_log = atomic_load(&a->nmism);
	memcpy(out->mismatch, a->mism, sizeof(out->mismatch[0]) * out->nmismatch_log);
	return 0;
}

int raid_fail_member(struct blk_dev *dev, unsigned role)
{
	if (dev == NULL || dev->ops != &raid_blk_ops)
		return -EINVAL;
	struct raid_array *a = dev->ctx;
	if (role >= a->g.n)
		return -EINVAL;
	if (!raid_member_ok(a, role))
		return -EALREADY;
	raid_member_failed(a, role, -ECANCELED);
	return 0;
}

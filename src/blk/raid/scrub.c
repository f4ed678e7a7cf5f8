/* scrub.c - scrub: check (count and locate parity / mirror mismatches) and repair, one locked unit at a time through the sync engine. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "blk/raid/sync.h"
#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"

/*
 * RAID 5/6: read every column of a stripe, recompute P (and Q) from the
 * data, compare; a differing parity column is one mismatch, located by
 * the stripe's first array block and the member holding that parity.
 * Repair rewrites the parity (md does the same: the data is taken as
 * the truth, since nothing says which column is wrong). RAID 1/10: read
 * every copy of a chunk, compare each with the first readable one; a
 * differing copy is one mismatch; repair copies the first over it.
 * Degraded units are skipped (nothing to compare against).
 */

static void record(struct raid_array *a, uint64_t array_lba, unsigned member, uint64_t mlba)
{
	uint64_t n = atomic_fetch_add(&a->scrub_mismatches, 1);
	if (n < RAID_MISMATCH_LOG) {
		a->mism[n] = (struct raid_mismatch){.array_lba = array_lba, .member_lba = mlba, .member = member};
		atomic_store(&a->nmism, (unsigned)n + 1);
	}
	log_warn(LOGC_RAID, a->tag, "scrub: mismatch at array block %" PRIu64 " on member %u (%s), member block %" PRIu64,
		 array_lba, member, a->m[member].name, mlba);
}

static void parity_compare(struct sync_unit *un)
{
	struct raid_sync *sy = un->sy;
	struct raid_array *a = sy->a;
	struct raid_geom *g = &a->g;
	if (un->err || un->member_fail) {
		raid_sync_unit_end(un, un->err ? un->err : -EIO);
		return;
	}
	un->tmp = buf_get(2 * un->len);
	if (un->tmp == NULL) {
		raid_sync_unit_end(un, -ENOMEM);
		return;
	}
	uint8_t *cols[RAID_MAX_MEMBERS + 2];
	for (unsigned j = 0; j < g->ndata; j++)
		cols[j] = un->buf[j];
	for (unsigned p = 0; p < g->nparity; p++)
		cols[g->ndata + p] = un->tmp + (size_t)p * un->len;
	parity_gen(g->ndata, g->nparity, cols, un->len);
	raid_sync_phase(un, raid_sync_unit_done_writes);
	for (unsigned p = 0; p < g->nparity; p++) {
		unsigned c = g->ndata + p;
		if (memcmp(cols[c], un->buf[c], un->len) == 0)
			continue;
		record(a, un->unit * g->chunk * g->ndata, un->map.disk[c], un->mlba);
		if (sy->kind == SYNC_REPAIR) {
			memcpy(un->buf[c], cols[c], un->len);
			raid_sync_io(un, un->map.disk[c], BLK_OP_WRITE, un->mlba, un->buf[c], false);
		}
	}
	un->bytes = un->len;
	raid_sync_phase_end(un);
}

static void mirror_compare(struct sync_unit *un)
{
	struct raid_sync *sy = un->sy;
	struct raid_array *a = sy->a;
	if (un->err || un->member_fail) {
		raid_sync_unit_end(un, un->err ? un->err : -EIO);
		return;
	}
	raid_sync_phase(un, raid_sync_unit_done_writes);
	for (unsigned k = 0; k < un->piece.ncopies; k++) {
		if (!un->have[k] || (int)k == un->src || memcmp(un->buf[k], un->buf[un->src], un->len) == 0)
			continue;
		record(a, un->unit * a->g.chunk, un->piece.member[k], un->piece.mlba[k]);
		if (sy->kind == SYNC_REPAIR)
			raid_sync_io(un, un->piece.member[k], BLK_OP_WRITE, un->piece.mlba[k], un->buf[un->src], false);
	}
	un->bytes = un->len;
	raid_sync_phase_end(un);
}

void raid_scrub_unit(struct sync_unit *un)
{
	struct raid_sync *sy = un->sy;
	struct raid_array *a = sy->a;
	struct raid_geom *g = &a->g;
	if (a->ops->stripe_map) {
		a->ops->stripe_map(g, un->unit, &un->map);
		un->mlba = un->unit * g->chunk;
		for (unsigned c = 0; c < g->ndata + g->nparity; c++)
			if (!raid_member_readable(a, un->map.disk[c], un->mlba + g->chunk)) {
				raid_sync_unit_end(un, 0); /* degraded stripe: nothing to compare */
				return;
			}
		raid_sync_phase(un, parity_compare);
		for (unsigned c = 0; c < g->ndata + g->nparity; c++)
			raid_sync_io(un, un->map.disk[c], BLK_OP_READ, un->mlba, raid_sync_buf(un, c), false);
		raid_sync_phase_end(un);
		return;
	}
	a->ops->map_piece(g, un->unit * g->chunk, g->chunk, &un->piece);
	un->src = -1;
	unsigned readable = 0;
	for (unsigned k = 0; k < un->piece.ncopies; k++) {
		un->have[k] = raid_member_readable(a, un->piece.member[k], un->piece.mlba[k] + g->chunk);
		if (un->have[k]) {
			readable++;
			if (un->src < 0)
				un->src = (int)k;
		}
	}
	if (readable < 2) {
		raid_sync_unit_end(un, 0);
		return;
	}
	raid_sync_phase(un, mirror_compare);
	for (unsigned k = 0; k < un->piece.ncopies; k++)
		if (un->have[k])
			raid_sync_io(un, un->piece.member[k], BLK_OP_READ, un->piece.mlba[k], raid_sync_buf(un, k), false);
	raid_sync_phase_end(un);
}

int raid_scrub_start(struct blk_dev *dev, enum raid_sync_kind mode)
{
	if (dev == NULL || dev->ops != &raid_blk_ops || (mode != RAID_SYNC_CHECK && mode != RAID_SYNC_REPAIR))
		return -EINVAL;
	struct raid_array *a = dev->ctx;
	if (reactor_self() != a->owner || !a->ops->redundant)
		return -EINVAL;
	if (a->sync != NULL)
		return -EBUSY;
	atomic_store(&a->scrub_mismatches, 0);
	atomic_store(&a->nmism, 0);
	return raid_sync_start(a, mode == RAID_SYNC_CHECK ? SYNC_CHECK : SYNC_REPAIR, 0, false, 0);
}

int raid_scrub_stop(struct blk_dev *dev)
{
	if (dev == NULL || dev->ops != &raid_blk_ops)
		return -EINVAL;
	struct raid_array *a = dev->ctx;
	if (reactor_self() != a->owner)
		return -EINVAL;
	if (a->sync == NULL || (a->sync->kind != SYNC_CHECK && a->sync->kind != SYNC_REPAIR))
		return -ENOENT;
	raid_sync_stop(a, true);
	return 0;
}

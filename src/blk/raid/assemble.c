/* assemble.c - raid_assemble: superblocks decide the members, then bitmap (re-adds), journal replay, start. */
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
#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"
#include "blk/raid/boot.h"

/* ---- assembly ---- */
static void assemble_journal(struct boot *b);
static void assemble_bitmap(struct boot *b);

static void assemble_decide(struct boot *b)
{
	const char *names[RAID_MAX_MEMBERS];
	for (unsigned i = 0; i < b->n; i++) {
		names[i] = b->devs[i]->name;
		if (b->as.refused[i])
			continue;
		char e[160];
		int rc = raid_sb_decode(b->buf[i], &b->sbs[i], e, sizeof(e));
		struct blk_dev *d = b->devs[i];
		if (rc == 0 && d->info.block_size != b->sbs[i].block_size)
			rc = -EPROTO, snprintf(e, sizeof(e), "its block size %u differs from the array's %u",
						d->info.block_size, b->sbs[i].block_size);
		else if (rc == 0 && d->info.num_blocks * d->info.block_size < b->sbs[i].data_offset + b->sbs[i].data_size)
			rc = -EPROTO, snprintf(e, sizeof(e), "it is smaller than the array needs (%" PRIu64 " bytes)",
						b->sbs[i].data_offset + b->sbs[i].data_size);
		if (rc != 0) {
			b->as.refused[i] = true;
			snprintf(b->as.reason[i], sizeof(b->as.reason[i]), "%s", e);
		} else {
			b->sb_ok[i] = true;
		}
	}
	int rc = raid_sb_select(b->sbs, names, b->n, &b->as, b->msg, sizeof(b->msg));
	if (rc != 0) {
		for (unsigned i = 0; i < b->n; i++)
			if (b->as.refused[i])
				log_err(LOGC_RAID, NULL, "assembly refuses member %s: %s", names[i], b->as.reason[i]);
		log_err(LOGC_RAID, NULL, "%s", b->msg);
		if (b->flags & RAID_F_OWN_MEMBERS)
			for (unsigned i = 0; i < b->n; i++)
				blk_destroy(b->devs[i]);
		b->status = rc;
		reactor_defer(&b->defer, raid_boot_report, b);
		return;
	}
	const struct raid_sb_info *ref = &b->as.ref;
	const struct raid_level_ops *lv = raid_level_find(ref->level);
	uint32_t bs = ref->block_size;
	struct raid_array *a = raid_array_new(lv, ref->name, ref->nmembers, bs, ref->chunk_bytes / bs, ref->data_size / bs,
					 ref->data_offset / bs, b->flags & ~RAID_F_OWN_MEMBERS, b->deadline_ms,
					 b->clean_delay_ms);
	if (a == NULL) {
		b->status = -ENOMEM;
		snprintf(b->msg, sizeof(b->msg), "out of memory assembling '%s'", ref->name);
		reactor_defer(&b->defer, raid_boot_report, b);
		return;
	}
	b->a = a;
	char e[200];
	int lrc = raid_array_layout_from_sb(a, ref, e, sizeof(e));
	if (lrc != 0 || raid_array_meta_alloc(a) != 0) {
		b->status = lrc ? lrc : -ENOMEM;
		snprintf(b->msg, sizeof(b->msg), "cannot assemble '%s': %s", ref->name, lrc ? e : "out of memory");
		reactor_defer(&b->defer, raid_boot_report, b);
		return;
	}
	struct blk_dev *by_role[RAID_MAX_MEMBERS] = {0};
	uint32_t missing = 0;
	for (unsigned r = 0; r < ref->nmembers; r++) {
		if (b->as.by_role[r] >= 0)
			by_role[r] = b->devs[b->as.by_role[r]];
		else
			missing |= 1u << r;
	}
	raid_array_set_members(a, by_role);
	memcpy(a->uuid, ref->uuid, 16);
	a->ctime_s = ref->ctime_s;
	atomic_store(&a->events, ref->events);
	atomic_store(&a->failed, missing | ref->failed);
	atomic_store(&a->committed, ref->failed);
	a->sb_failed = ref->failed;
	uint32_t rb = ref->rebuilding & ~(missing | ref->failed);
	atomic_store(&a->rebuilding, rb);
	atomic_store(&a->rebuild_pos, rb ? ref->recovery_offset / bs : 0);
	a->rebuild_ckpt = atomic_load(&a->rebuild_pos);
	memcpy(a->role_jseq, ref->role_jseq, sizeof(a->role_jseq));
	/* stale members of this array whose role is free: re-added if the bitmap covers what they missed */
	for (unsigned i = 0; i < b->n; i++) {
		const struct raid_sb_info *s = &b->sbs[i];
		b->readd[i] = b->as.refused[i] && b->sb_ok[i] && memcmp(s->uuid, ref->uuid, 16) == 0 &&
			      s->level == ref->level && s->nmembers == ref->nmembers && s->chunk_bytes == ref->chunk_bytes &&
			      s->data_offset == ref->data_offset && s->data_size == ref->data_size &&
			      s->events < ref->events && by_role[s->role] == NULL && a->bm != NULL && lv->redundant;
	}
	for (unsigned i = 0; i < b->n; i++)
		for (unsigned k = 0; k < i; k++)
			if (b->readd[i] && b->readd[k] && b->sbs[k].role == b->sbs[i].role)
				b->readd[i] = false; /* one candidate per role: the first offered */
	if (a->bm == NULL) {
		assemble_journal(b);
		return;
	}
	/* read both bitmap copies of every member and candidate */
	b->bmlen = 2 * a->bm_slot_blocks * bs;
	b->next = assemble_bitmap;
	b->soft_reads = true;
	for (unsigned i = 0; i < b->n; i++) {
		bool member = false;
		for (unsigned r = 0; r < a->g.n; r++)
			member |= by_role[r] == b->devs[i];
		if (!member && !b->readd[i])
			continue;
		if ((b->bmbuf[i] = buf_get(b->bmlen)) == NULL) {
			b->readd[i] = false;
			continue;
		}
		raid_boot_submit(b, i, BLK_OP_READ, a->bm_offset, (uint32_t)(2 * a->bm_slot_blocks), b->bmbuf[i], b->bmlen, 0);
	}
	raid_boot_phase_end(b);
}

static void assemble_finish(struct boot *b)
{
	struct raid_array *a = b->a;
	for (unsigned r = 0; r < a->g.n; r++) /* re-added roles: journal entries from now on */
		if (a->role_jseq[r] == UINT64_MAX)
			a->role_jseq[r] = raid_journal_next_seq(a);
	const struct raid_sb_info *ref = &b->as.ref;
	const char *const lvname = a->ops->name;
	/* crash: RAID 5/6 with a journal replayed it (parity is consistent); otherwise resync dirty regions */
	a->needs_resync = ref->dirty && a->ops->redundant && a->jr == NULL;
	a->sb_dirty = a->needs_resync;
	uint32_t missing = atomic_load(&a->failed);
	unsigned good = 0;
	for (unsigned r = 0; r < a->g.n; r++)
		good += a->m[r].dev != NULL;
	int off = snprintf(b->msg, sizeof(b->msg), "assembled '%s' (%s) from %u of %u members%s", a->name, lvname,
			   good, a->g.n, missing ? ", degraded" : "");
	for (unsigned i = 0; i < b->n; i++)
		if (b->as.refused[i] && !b->readd[i])
			log_err(LOGC_RAID, a->tag, "assembly refuses member %s: %s", b->devs[i]->name, b->as.reason[i]);
	for (unsigned i = 0; i < b->n && off > 0 && (size_t)off < sizeof(b->msg); i++) {
		if (b->readd[i])
			off += snprintf(b->msg + off, sizeof(b->msg) - (size_t)off,
					"; re-added %s as role %u (resync of the bitmap's dirty regions)", b->devs[i]->name,
					b->sbs[i].role);
		else if (b->as.refused[i])
			off += snprintf(b->msg + off, sizeof(b->msg) - (size_t)off, "; refused %s: %s", b->devs[i]->name,
					b->as.reason[i]);
	}
	log_notice(LOGC_RAID, a->tag, "%s", b->msg);
	if (b->flags & RAID_F_OWN_MEMBERS)
		for (unsigned i = 0; i < b->n; i++)
			if (b->as.refused[i] && !b->readd[i])
				blk_destroy(b->devs[i]);
	if (a->needs_resync)
		log_warn(LOGC_RAID, a->tag,
			 "the array was not stopped cleanly: the regions written at the crash are being resynchronised");
	if (atomic_load(&a->failed) != atomic_load(&a->committed))
		a->sb_force = true; /* record the members that did not come back (raid_array_start) */
	reactor_defer(&b->defer, raid_boot_report, b);
}

static void journal_recovered(void *arg, int status, unsigned replayed)
{
	struct boot *b = arg;
	(void)replayed;
	if (status != 0) {
		b->status = status;
		snprintf(b->msg, sizeof(b->msg), "cannot assemble '%s': journal recovery failed: %s", b->a->name,
			 blk_strerror(status));
		reactor_defer(&b->defer, raid_boot_report, b);
		return;
	}
	assemble_finish(b);
}

static void assemble_journal(struct boot *b)
{
	struct raid_array *a = b->a;
	if (a->jr == NULL) {
		assemble_finish(b);
		return;
	}
	/* after a clean stop every entry is in place and flushed: only the sequence is needed */
	raid_journal_recover(a, b->as.ref.dirty, journal_recovered, b);
}

static void assemble_bitmap(struct boot *b)
{
	struct raid_array *a = b->a;
	uint32_t bs = a->dev.info.block_size;
	size_t slot = a->bm_slot_blocks * bs, nb = (raid_bitmap_nregions(a) + 7) / 8;
	uint8_t *best = calloc(1, nb), *bits = calloc(1, nb);
	struct raid_bm_header bh = {0}, h;
	bool found = false;
	b->next = NULL;
	b->soft_reads = false;
	for (unsigned i = 0; i < b->n && best && bits; i++) {
		if (b->bmbuf[i] == NULL || b->readd[i])
			continue;
		for (unsigned c = 0; c < 2; c++) {
			if (raid_bitmap_decode(b->bmbuf[i] + c * slot, slot, a->uuid, &h, bits, nb) != 0 ||
			    h.nregions != raid_bitmap_nregions(a) || h.region_bytes != a->region_blocks * bs)
				continue;
			if (!found || h.seq > bh.seq) {
				found = true;
				bh = h;
				memcpy(best, bits, nb);
			}
		}
	}
	raid_bitmap_load(a, found ? best : NULL, found ? &bh : NULL);
	for (unsigned i = 0; i < b->n; i++) {
		if (!b->readd[i])
			continue;
		const struct raid_sb_info *s = &b->sbs[i];
		if (!found || s->events < bh.events_cleared || raid_member_ok(a, s->role) ||
		    a->m[s->role].dev != NULL) {
			b->readd[i] = false;
			if (found && s->events < bh.events_cleared)
				snprintf(b->as.reason[i], sizeof(b->as.reason[i]),
					 "stale: event counter %llu, older than the bitmap's last clear (%llu): it needs a "
					 "full rebuild (add it as a spare)",
					 (unsigned long long)s->events, (unsigned long long)bh.events_cleared);
			continue;
		}
		unsigned r = s->role;
		struct blk_dev *d = b->devs[i];
		atomic_fetch_or(&a->rebuilding, 1u << r);
		atomic_store(&a->rebuild_pos, 0);
		a->rebuild_ckpt = 0;
		a->readd_dirty = true;
		a->m[r].dev = d;
		a->role_jseq[r] = UINT64_MAX; /* none of its journal parts count; set after the replay */
		snprintf(a->m[r].name, sizeof(a->m[r].name), "%s", d->name);
		atomic_fetch_and(&a->failed, ~(1u << r));
		atomic_fetch_and(&a->committed, ~(1u << r));
		a->sb_failed &= ~(1u << r);
		a->sb_force = true;
	}
	free(best);
	free(bits);
	assemble_journal(b);
}

int raid_assemble(const struct raid_assemble_opts *o, raid_done_cb cb, void *arg, char *err, size_t errlen)
{
	if (o == NULL || cb == NULL || err == NULL)
		return -EINVAL;
	if (reactor_self() == NULL)
		return ERR("raid_assemble must run on a reactor");
	if (o->nmembers == 0 || o->nmembers > RAID_MAX_MEMBERS || o->members == NULL)
		return ERR("assembly needs 1..%u members, got %u", RAID_MAX_MEMBERS, o->nmembers);
	uint32_t maxbs = 0;
	for (unsigned i = 0; i < o->nmembers; i++) {
		if (o->members[i] == NULL)
			return ERR("member %u is missing", i);
		maxbs = MAX(maxbs, o->members[i]->info.block_size);
	}
	struct boot *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->cb = cb;
	b->arg = arg;
	b->n = o->nmembers;
	b->flags = o->flags;
	b->deadline_ms = o->deadline_ms;
	b->clean_delay_ms = o->clean_delay_ms;
	memcpy(b->devs, o->members, sizeof(struct blk_dev *) * o->nmembers);
	if (raid_boot_alloc_bufs(b, maxbs) != 0) {
		raid_boot_free(b);
		return -ENOMEM;
	}
	b->next = assemble_decide;
	for (unsigned i = 0; i < b->n; i++) {
		struct blk_dev *d = b->devs[i];
		uint32_t bs = d->info.block_size;
		size_t len = MAX(RAID_SB_SIZE, bs);
		b->iov[i].iov_base = b->buf[i];
		b->iov[i].iov_len = len;
		blk_io_prep(&b->io[i], d, BLK_OP_READ, 0, (uint32_t)(len / bs), &b->iov[i], 1, raid_boot_io_done, b);
		b->outstanding++;
		int rc = blk_submit(d, &b->io[i]);
		if (rc != 0) {
			b->outstanding--;
			b->as.refused[i] = true;
			snprintf(b->as.reason[i], sizeof(b->as.reason[i]), "cannot read its superblock: %s",
				 blk_strerror(rc));
		}
	}
	if (b->outstanding == 0)
		assemble_decide(b);
	return 0;
}

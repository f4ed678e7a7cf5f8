/* journal.c - RAID 5/6 write journal: every stripe write is logged on the members it touches before it goes in place; replayed at assembly. */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk/raid/raid_internal.h"
#include "blk/raid/journal.h"
#include "core/bufpool.h"
#include "core/crc32c.h"
#include "core/log.h"
#include "core/util.h"

/*
 * The journal is a ring of N slots on every member (after the bitmap).
 * A stripe write gets the next sequence number s and uses slot s % N on
 * every member it writes: each of them first receives, in that slot, a
 * header (sequence, stripe, rows, the set of members with a part) and
 * the exact blocks it will then receive in place, in one FUA write. Only
 * when every part is durable do the in-place writes start. The crash
 * argument is in docs/raid.md; in short: an entry whose parts are all
 * present on the members still in the array is replayed (in sequence
 * order, only the last N sequence numbers), any other entry never
 * reached the data area. Slots are handed out strictly in sequence
 * order, and slot s % N is reused for s + N only once the write s has
 * finished in place and a flush of the members that started after that
 * has completed, so the ring always holds the newest entries.
 */

#define J_MAGIC "SHBAJRNL"
#define J_VERSION 1u
#define J_MAX_SLOTS 256u

struct jhdr_disk {
	uint8_t magic[8];
	uint32_t version;
	uint32_t hdr_size;
	uint8_t uuid[16];
	uint64_t seq;
	uint64_t stripe;
	uint32_t role;
	uint32_t mask;
	uint32_t row;
	uint32_t nblocks;
	uint32_t payload_crc;
	uint32_t block_size;
	uint32_t kind;          /* RAID_JOURNAL_DATA / RAID_JOURNAL_FULL */
	uint8_t reserved[48];
	uint32_t crc;
};
_Static_assert(sizeof(struct jhdr_disk) == 128, "journal header must be 128 bytes");
_Static_assert(offsetof(struct jhdr_disk, crc) == 124, "journal header CRC last");

enum { SLOT_FREE = 0, SLOT_BUSY, SLOT_DONE };

struct jslot {
	int state;
	uint64_t done_epoch;
};

struct raid_journal {
	struct jslot *slot;
	uint64_t next_seq;
	uint64_t epoch, flushed_epoch; /* flush generations: started / completed */
	bool flushing;
	struct raid_jw *head, *tail;   /* waiting for a slot, FIFO */
	uint64_t entries, waits, flushes;
};

uint32_t raid_journal_hdr_blocks(const struct raid_array *a)
{
	uint32_t bs = a->dev.info.block_size;
	return MAX(4096u, bs) / bs;
}

int raid_journal_layout(struct raid_array *a, char *err, size_t errlen)
{
	uint64_t start = a->region_blocks ? a->bm_offset + 2 * a->bm_slot_blocks
					  : MAX(RAID_SB_SIZE, a->dev.info.block_size) / a->dev.info.block_size;
	uint64_t slot = raid_journal_hdr_blocks(a) + a->g.chunk;
	uint64_t n = a->data_offset > start ? (a->data_offset - start) / slot : 0;
	if (n < 2) {
		snprintf(err, errlen,
			 "the data offset leaves no room for the write journal (needs 2 slots of %llu KiB after the "
			 "bitmap): enlarge the data offset or disable the journal",
			 (unsigned long long)(slot * a->dev.info.block_size / 1024));
		return -EINVAL;
	}
	a->j_offset = start;
	a->j_slot_blocks = slot;
	a->j_nslots = MIN(n, J_MAX_SLOTS);
	return 0;
}

int raid_journal_new(struct raid_array *a)
{
	if (a->j_nslots == 0)
		return 0;
	struct raid_journal *j = calloc(1, sizeof(*j));
	if (j == NULL || (j->slot = calloc(a->j_nslots, sizeof(*j->slot))) == NULL) {
		free(j);
		return -ENOMEM;
	}
	j->next_seq = 1;
	j->epoch = 1;
	a->jr = j;
	return 0;
}

void raid_journal_free(struct raid_array *a)
{
	if (a->jr == NULL)
		return;
	free(a->jr->slot);
	free(a->jr);
	a->jr = NULL;
}

uint64_t raid_journal_next_seq(struct raid_array *a)
{
	return a->jr ? a->jr->next_seq : 0;
}

void raid_journal_set_next(struct raid_array *a, uint64_t next)
{
	if (a->jr)
		a->jr->next_seq = next;
}

/* ---- writing an entry ---- */
static void jw_start(struct raid_array *a, struct raid_jw *w);

static void jw_part_done(struct raid_sub *s, int status)
{
	struct raid_jw *w = s->ctx;
	if (raid_status_fails_member(status))
		w->member_fail = true;
	else if (status != 0 && w->err == 0)
		w->err = status;
	if (--w->outstanding > 0)
		return;
	if (w->hbuf)
		buf_put(w->hbuf, w->hlen);
	w->hbuf = NULL;
	int st = w->err ? w->err : w->member_fail ? RAID_JOURNAL_RESTART : 0;
	if (st != 0)
		raid_journal_done(w->a, w->seq); /* nothing went in place: the slot is free for reuse */
	w->cont(w, st);
}

static void jw_flushed(struct raid_sub *s, int status)
{
	(void)status;
	struct raid_array *a = s->a;
	struct raid_journal *j = a->jr;
	if (--j->flushes > 0)
		return;
	j->flushing = false;
	j->flushed_epoch = j->epoch - 1;
	if (a->dead) {
		raid_internal_put(a); /* frees the array when it was the last */
		return;
	}
	raid_internal_put(a);
	while (j->head) {
		struct raid_jw *w = j->head;
		struct jslot *sl = &j->slot[j->next_seq % a->j_nslots];
		if (sl->state == SLOT_BUSY || (sl->state == SLOT_DONE && sl->done_epoch > j->flushed_epoch))
			break;
		j->head = w->next;
		if (j->head == NULL)
			j->tail = NULL;
		jw_start(a, w);
	}
	if (j->head)
		raid_journal_done(a, 0); /* re-evaluate: maybe another flush */
}

static void start_flush(struct raid_array *a)
{
	struct raid_journal *j = a->jr;
	j->flushing = true;
	j->epoch++;
	j->flushes = 1;
	raid_internal_get(a);
	for (unsigned m = 0; m < a->g.n; m++) {
		if (a->m[m].dev == NULL || !raid_member_ok(a, m))
			continue;
		struct raid_sub *s = raid_sub_new(a, m, BLK_OP_FLUSH, 0, 0, 0, jw_flushed, NULL, NULL);
		if (s == NULL)
			continue;
		s->io.lba = 0;
		j->flushes++;
		raid_sub_submit(s);
	}
	struct raid_sub fake = {.a = a};
	jw_flushed(&fake, 0);
}

/* Can the next sequence number get its slot now? Starts a flush when that is what it waits for. */
static bool slot_ready(struct raid_array *a)
{
	struct raid_journal *j = a->jr;
	struct jslot *sl = &j->slot[j->next_seq % a->j_nslots];
	if (sl->state == SLOT_FREE || (sl->state == SLOT_DONE && sl->done_epoch <= j->flushed_epoch))
		return true;
	if (sl->state == SLOT_DONE && !j->flushing)
		start_flush(a);
	return false;
}

void raid_journal_write(struct raid_array *a, struct raid_jw *w)
{
	struct raid_journal *j = a->jr;
	reactor_assert_on(a->owner);
	w->a = a;
	w->next = NULL;
	if (j->head == NULL && slot_ready(a)) {
		jw_start(a, w);
		return;
	}
	j->waits++;
	if (j->tail)
		j->tail->next = w;
	else
		j->head = w;
	j->tail = w;
}

void raid_journal_done(struct raid_array *a, uint64_t seq)
{
	struct raid_journal *j = a->jr;
	if (seq != 0) {
		struct jslot *sl = &j->slot[seq % a->j_nslots];
		sl->state = SLOT_DONE;
		sl->done_epoch = j->epoch;
	}
	while (j->head && slot_ready(a)) {
		struct raid_jw *w = j->head;
		j->head = w->next;
		if (j->head == NULL)
			j->tail = NULL;
		jw_start(a, w);
	}
}

static void jw_start(struct raid_array *a, struct raid_jw *w)
{
	struct raid_journal *j = a->jr;
	uint32_t bs = a->dev.info.block_size;
	uint32_t hb = raid_journal_hdr_blocks(a);
	w->seq = j->next_seq++;
	j->entries++;
	struct jslot *sl = &j->slot[w->seq % a->j_nslots];
	sl->state = SLOT_BUSY;
	uint64_t slot_lba = a->j_offset + (w->seq % a->j_nslots) * a->j_slot_blocks;
	uint32_t mask = 0;
	for (unsigned i = 0; i < w->nparts; i++)
		mask |= 1u << w->parts[i].member;
	w->hlen = (size_t)w->nparts * hb * bs;
	w->hbuf = buf_get(w->hlen);
	w->err = 0;
	w->member_fail = false;
	w->outstanding = 1;
	if (w->hbuf == NULL)
		w->err = -ENOMEM;
	for (unsigned i = 0; i < w->nparts && w->hbuf; i++) {
		const struct raid_jpart *p = &w->parts[i];
		uint8_t *h = w->hbuf + (size_t)i * hb * bs;
		size_t plen = (size_t)p->nblocks * bs;
		memset(h, 0, (size_t)hb * bs);
		struct jhdr_disk d = {0};
		memcpy(d.magic, J_MAGIC, 8);
		d.version = htole32(J_VERSION);
		d.hdr_size = htole32(sizeof(d));
		memcpy(d.uuid, a->uuid, 16);
		d.seq = htole64(w->seq);
		d.stripe = htole64(w->stripe);
		d.role = htole32(p->member);
		d.mask = htole32(mask);
		d.row = htole32(p->row);
		d.nblocks = htole32(p->nblocks);
		d.payload_crc = htole32(crc32c_iov(p->iov, p->iovcnt, p->off, plen));
		d.block_size = htole32(bs);
		d.kind = htole32(w->kind);
		d.crc = htole32(crc32c(&d, offsetof(struct jhdr_disk, crc)));
		memcpy(h, &d, sizeof(d));
		int cnt = raid_iov_count(p->iov, p->iovcnt, p->off, plen);
		struct raid_sub *s = raid_sub_new(a, p->member, BLK_OP_WRITE, 0, hb + p->nblocks, cnt + 1, jw_part_done,
						  w, w->ref);
		if (s == NULL) {
			w->err = -ENOMEM;
			continue;
		}
		raid_sub_set_raw_lba(s, slot_lba);
		s->iov[0].iov_base = h;
		s->iov[0].iov_len = (size_t)hb * bs;
		s->io.iovcnt = 1 + raid_iov_slice(p->iov, p->iovcnt, p->off, plen, s->iov + 1, cnt);
		s->io.flags = BLK_F_FUA;
		s->shadow_copy = true; /* a replacement gets the journal too */
		w->outstanding++;
		raid_sub_submit(s);
	}
	struct raid_sub fake = {.ctx = w};
	jw_part_done(&fake, 0);
}

void raid_journal_stats(struct raid_array *a, uint64_t *entries, uint64_t *waits)
{
	*entries = a->jr ? a->jr->entries : 0;
	*waits = a->jr ? a->jr->waits : 0;
}

/* ---- recovery at assembly ---- */
int raid_journal_parse(const struct raid_array *a, unsigned role, const uint8_t *slotbuf, struct raid_jfound *out)
{
	uint32_t bs = a->dev.info.block_size;
	struct jhdr_disk d;
	memset(out, 0, sizeof(*out));
	memcpy(&d, slotbuf, sizeof(d));
	if (memcmp(d.magic, J_MAGIC, 8) != 0)
		return -ENOENT;
	if (le32toh(d.crc) != crc32c(&d, offsetof(struct jhdr_disk, crc)))
		return -EBADMSG;
	if (le32toh(d.version) != J_VERSION || memcmp(d.uuid, a->uuid, 16) != 0 || le32toh(d.role) != role ||
	    le32toh(d.block_size) != bs)
		return -EPROTO;
	uint32_t row = le32toh(d.row), n = le32toh(d.nblocks), kind = le32toh(d.kind);
	uint64_t stripe = le64toh(d.stripe);
	if (kind > RAID_JOURNAL_FULL || (kind == RAID_JOURNAL_DATA) != (n > 0) || row + n > a->g.chunk ||
	    (stripe + 1) * a->g.chunk > a->g.member_blocks)
		return -EPROTO;
	const uint8_t *payload = slotbuf + (size_t)raid_journal_hdr_blocks(a) * bs;
	if (crc32c(payload, (size_t)n * bs) != le32toh(d.payload_crc))
		return -EBADMSG; /* torn: the part never completed */
	out->seq = le64toh(d.seq);
	out->stripe = stripe;
	out->kind = kind;
	out->mask = le32toh(d.mask);
	out->row = row;
	out->nblocks = n;
	out->payload = payload;
	return 0;
}

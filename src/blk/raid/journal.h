/* journal.h - the RAID 5/6 write journal between the stripe engine and journal.c (internal). */
#ifndef SOFTHBA_BLK_RAID_JOURNAL_H
#define SOFTHBA_BLK_RAID_JOURNAL_H

#include "blk/raid/raid_internal.h"

/* One member's part of an entry: the blocks it will receive in place. */
struct raid_jpart {
	unsigned member;            /* role */
	uint32_t row, nblocks;      /* chunk rows [row, row + nblocks) of the stripe */
	const struct iovec *iov;    /* the data, from byte off */
	int iovcnt;
	size_t off;
};

#define RAID_JOURNAL_RESTART 1      /* cont status: a member failed while journaling; re-plan the stripe */

#define RAID_JOURNAL_DATA 0u        /* parts carry the blocks that go in place */
#define RAID_JOURNAL_FULL 1u        /* full-stripe write intent: header-only parts on every member of the
				     * stripe; replay recomputes the stripe's parity from its data */

/* A journal write, owned by the caller (stripe op) until cont runs. */
struct raid_jw {
	struct raid_array *a;
	uint64_t stripe;
	uint32_t kind;              /* RAID_JOURNAL_DATA or RAID_JOURNAL_FULL */
	struct raid_jpart parts[RAID_MAX_MEMBERS];
	unsigned nparts;
	struct raid_opref *ref;     /* kept by each member write (late answers) */
	void (*cont)(struct raid_jw *w, int status); /* 0: every part durable; RESTART; -errno */
	/* private */
	uint64_t seq;
	struct raid_jw *next;
	uint8_t *hbuf;
	size_t hlen;
	unsigned outstanding;
	bool member_fail;
	int err;
};

/* Owner: log the parts (slot order = sequence order), then cont. */
void raid_journal_write(struct raid_array *a, struct raid_jw *w);
/* Owner: entry seq has finished in place (or was abandoned); its slot may be reused after a flush. */
void raid_journal_done(struct raid_array *a, uint64_t seq);
uint32_t raid_journal_hdr_blocks(const struct raid_array *a);
void raid_journal_set_next(struct raid_array *a, uint64_t next);
void raid_journal_stats(struct raid_array *a, uint64_t *entries, uint64_t *waits);

/* A part found in a slot at assembly. */
struct raid_jfound {
	uint64_t seq, stripe;
	uint32_t kind;
	uint32_t mask, row, nblocks;
	const uint8_t *payload;
};
/* Decode the slot of member `role` (slot_blocks long): 0, -ENOENT (empty), -EBADMSG (torn or corrupt), -EPROTO. */
int raid_journal_parse(const struct raid_array *a, unsigned role, const uint8_t *slotbuf, struct raid_jfound *out);
/* Assembly: read every present member's journal, replay the complete entries
 * of the newest N sequence numbers in order, flush; done(arg, status, replayed).
 * replay false (clean stop: every entry is in place): only find where the sequence goes on. */
void raid_journal_recover(struct raid_array *a, bool replay, void (*done)(void *arg, int status, unsigned replayed),
			  void *arg);

#endif

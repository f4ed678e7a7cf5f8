/* sync.h - the sync engine's job and unit structures, shared by rebuild.c, scrub.c and spare.c (internal). */
#ifndef SOFTHBA_BLK_RAID_SYNC_H
#define SOFTHBA_BLK_RAID_SYNC_H

#include "blk/raid/raid_internal.h"

struct sync_unit;

struct raid_sync {
	struct raid_array *a;
	int kind;                    /* enum raid_sync_kind_int */
	uint32_t targets;            /* roles written (rebuild / replace) */
	bool only_dirty;             /* skip units whose bitmap regions are clean */
	uint64_t unit, nunits, start_unit; /* unit: the next one to start */
	uint64_t done_unit;          /* every unit below this one is finished */
	uint64_t bytes;              /* member data processed (finished units) */
	uint64_t issued;             /* member data of the units started (rate limit) */
	uint64_t start_ns, rate_base_ns, rate_base_bytes, yield_start;
	uint64_t ckpt_ns, ckpt_pos;
	unsigned ckpt_pending, fin_pending;
	unsigned window;             /* units in flight at most */
	unsigned inflight;           /* units started and not yet retired */
	unsigned busy_units;         /* units started under foreground load since the last yield */
	struct sync_unit *head, *tail; /* the units in flight, in unit order */
	int fail;                    /* first failure of a unit: the job ends with it */
	bool stop_req, user_stop, ending, final_started;
	bool step_queued;            /* defer holds a sync_step */
	bool orphan;                 /* the job is over; free it when the queued step runs */
	int status;
	struct reactor_timer timer;
	struct reactor_defer defer;
};

/* One unit (stripe or mirror chunk) in flight; ref-counted for late member answers. */
struct sync_unit {
	struct raid_opref ref;
	struct raid_lockw lw;
	struct raid_sync *sy;
	uint64_t unit;               /* stripe (RAID 5/6) or array chunk (RAID 1/10) */
	uint64_t next_unit;          /* done_unit once this unit retires (clean units skipped after it) */
	uint64_t skip_pos;           /* rebuild position of those skipped clean units */
	struct sync_unit *wnext;     /* next unit in flight */
	bool done;                   /* finished, waiting for the units before it */
	int status;
	size_t len;                  /* chunk bytes */
	uint8_t *buf[RAID_MAX_MEMBERS];
	uint8_t *tmp;
	bool have[RAID_MAX_MEMBERS];
	struct raid_stripe_map map;
	struct raid_piece piece;
	int src;
	uint64_t mlba;
	uint64_t copy_mlba;
	bool copy_mlba_valid;
	uint64_t pos_after;          /* rebuild/replace position once the unit is done */
	uint64_t bytes;
	unsigned outstanding;
	bool member_fail;
	int err;
	void (*next)(struct sync_unit *un);
};

struct sync_unit *raid_sync_unit_new(struct raid_sync *sy);
uint8_t *raid_sync_buf(struct sync_unit *un, unsigned i);
/* Member I/O of one chunk for the unit (to_shadow: the role's replacement). */
void raid_sync_io(struct sync_unit *un, unsigned member, enum blk_op op, uint64_t mlba, uint8_t *p, bool to_shadow);
void raid_sync_phase(struct sync_unit *un, void (*next)(struct sync_unit *un));
void raid_sync_phase_end(struct sync_unit *un);
void raid_sync_unit_end(struct sync_unit *un, int status);
void raid_sync_unit_done_writes(struct sync_unit *un);
void raid_sync_copy_to_shadow(struct sync_unit *un);
void raid_sync_unit_span(struct raid_array *a, uint64_t u, uint64_t *lo, uint64_t *hi);

/* scrub.c: check/repair one unit (locked). */
void raid_scrub_unit(struct sync_unit *un);
/* spare.c: a job ended (owner, array alive): rebuild done, replace swap, resync done. */
void raid_sync_finished(struct raid_array *a, struct raid_sync *sy, int status);

#endif

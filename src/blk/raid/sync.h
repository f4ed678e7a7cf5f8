/* sync.h - the sync engine's job and unit structures, shared by rebuild.c, scrub.c and spare.c (internal). */
#ifndef SOFTHBA_BLK_RAID_SYNC_H
#define SOFTHBA_BLK_RAID_SYNC_H

#include "blk/raid/raid_internal.h"

struct raid_sync {
	struct raid_array *a;
	int kind;                    /* enum raid_sync_kind_int */
	uint32_t targets;            /* roles written (rebuild / replace) */
	bool only_dirty;             /* skip units whose bitmap regions are clean */
	uint64_t unit, nunits, start_unit;
	uint64_t bytes;              /* member data processed */
	uint64_t start_ns, rate_base_ns, rate_base_bytes, yield_start;
	uint64_t ckpt_ns, ckpt_pos;
	unsigned ckpt_pending;
	bool stop_req, user_stop, ending;
	int status;
	struct reactor_timer timer;
	struct reactor_defer defer;
	struct reactor_defer kill_defer;
};

/* One unit (stripe or mirror chunk) in flight; ref-counted for late member answers. */
struct sync_unit {
	struct raid_opref ref;
	struct raid_lockw lw;
	struct raid_sync *sy;
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

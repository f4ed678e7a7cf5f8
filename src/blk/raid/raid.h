/* raid.h - public API of the RAID engine: create/assemble arrays (levels 0/1/5/6/10) over member blk devices, state, failures, spares, rebuild, replace, scrub. */
#ifndef SOFTHBA_BLK_RAID_RAID_H
#define SOFTHBA_BLK_RAID_RAID_H

#include <stdbool.h>
#include <stdint.h>

#include "blk/blk.h"

/*
 * An array is a blk_dev stacked over member blk_devs. Its I/O follows
 * blk.h: submit from any reactor, completion on that reactor. Every
 * member carries a 4 KiB superblock at byte 0 (docs/raid.md) and the
 * array data starts at the data offset. Create, assemble and stop are
 * asynchronous (they write or read superblocks) and must be called on a
 * reactor; the reactor they are called on becomes the array's owner
 * (superblock writes, RAID 5/6 stripe handling run there).
 *
 * The array does not own its members unless RAID_F_OWN_MEMBERS is set:
 * then blk_destroy()/raid_stop() of the array destroys them too (and the
 * devices it replaced, and its own spares).
 *
 * blk_destroy() of an array (no host I/O in flight) is safe while the
 * array's own work is in flight (superblock/bitmap writes, a rebuild): it
 * stops at once and frees its memory when that work has returned, on the
 * owner reactor. It leaves the superblocks dirty if writes happened (the
 * next assembly recovers as after a crash); raid_stop() is the orderly stop.
 *
 * Below the data offset each member also holds a write-intent bitmap
 * (redundant levels) and, for RAID 5/6, a write journal that closes the
 * write hole; docs/raid.md has the formats and the crash argument.
 */

#define RAID_MAX_MEMBERS 32
#define RAID_DEFAULT_CHUNK_KIB 64
#define RAID_DEFAULT_DATA_OFFSET_KIB 8192 /* room for superblock, bitmap and journal */

enum raid_member_state {
	RAID_MEMBER_ACTIVE = 0,   /* serving I/O (see raid_member_info.rebuilding) */
	RAID_MEMBER_FAILED,       /* failed at run time (I/O error, gone, deadline) */
	RAID_MEMBER_MISSING,      /* absent or refused at assembly */
};

enum raid_array_state {
	RAID_ARRAY_OPTIMAL = 0,   /* every member active */
	RAID_ARRAY_DEGRADED,      /* some members failed; redundancy still serves every block */
	RAID_ARRAY_OFFLINE,       /* more failures than the level tolerates: every I/O fails with -EIO */
};

#define RAID_F_OWN_MEMBERS  0x1u /* destroy the members with the array (and its spares) */
#define RAID_F_ASSUME_CLEAN 0x2u /* create: skip the initial zeroing (members are known to be zero) */
#define RAID_F_NO_JOURNAL   0x4u /* create, RAID 5/6: no write journal (faster writes, write hole after a crash
				  * with a missing member; an unclean stop resyncs the dirty regions instead) */
#define RAID_F_NO_BITMAP    0x8u /* create: no write-intent bitmap (a resync or re-add covers every region) */
#define RAID_DEFAULT_REGION_KIB (64u * 1024u) /* write-intent bitmap: 64 MiB of member data per bit */

struct raid_create_opts {
	const char *name;             /* array name, <= 31 bytes, printable */
	unsigned level;               /* 0, 1, 5, 6 or 10 */
	uint32_t chunk_kib;           /* striped levels: 0 = RAID_DEFAULT_CHUNK_KIB; a power of two, >= block size */
	uint32_t data_offset_kib;     /* 0 = RAID_DEFAULT_DATA_OFFSET_KIB; multiple of 4 */
	uint64_t member_size_bytes;   /* 0 = smallest member; data region = this minus the data offset */
	struct blk_dev **members;     /* role order */
	unsigned nmembers;
	uint32_t flags;               /* RAID_F_* */
	uint32_t deadline_ms;         /* a member I/O unanswered this long fails the member; 0 = 30000 */
	uint32_t clean_delay_ms;      /* write-idle time before the superblocks are marked clean; 0 = 2000 */
	uint32_t region_kib;          /* bitmap region (power of two, >= chunk); 0 = RAID_DEFAULT_REGION_KIB,
				       * grown when the bitmap would not fit below the data offset */
};

/* Completion of create/assemble: status 0 with the array device, or
 * -errno with dev NULL and msg saying which member and why. msg is valid
 * only during the callback. Called on the reactor that started it. */
typedef void (*raid_done_cb)(void *arg, int status, struct blk_dev *dev, const char *msg);

/* Validate opts, build the array, zero the members' data regions (unless
 * RAID_F_ASSUME_CLEAN; levels with redundancy need consistent members)
 * and write a fresh superblock to every member. Returns 0 (cb will be
 * called) or -errno at once with a sentence in err (cb is not called). */
int raid_create(const struct raid_create_opts *opts, raid_done_cb cb, void *arg, char *err, size_t errlen);

struct raid_assemble_opts {
	struct blk_dev **members;     /* any order; roles come from the superblocks */
	unsigned nmembers;
	uint32_t flags;               /* RAID_F_OWN_MEMBERS: refused members are destroyed too */
	uint32_t deadline_ms;
	uint32_t clean_delay_ms;
};

/* Read every member's superblock and start the array from the members
 * that agree (same array UUID, newest event counter), degraded when some
 * are missing or refused and the level tolerates it. Each refused member
 * is logged with the reason; the whole assembly fails (-EINVAL, msg)
 * when too few good members remain. A stale member whose missed writes
 * the bitmap covers is re-added instead ("re-added <name> as role r" in
 * msg) and only the dirty regions are rebuilt. After an unclean stop the
 * RAID 5/6 journal is replayed before cb; mirrors (and RAID 5/6 without
 * journal) resync their dirty regions in the background, and an
 * interrupted rebuild resumes from its checkpoint. Returns 0 or -errno at once. */
int raid_assemble(const struct raid_assemble_opts *opts, raid_done_cb cb, void *arg, char *err, size_t errlen);

/* Orderly stop: wait for in-flight I/O (no new I/O may be submitted),
 * flush the members, mark the superblocks clean, destroy the array.
 * cb(arg, status) runs on the owner reactor. Must be called on the owner. */
int raid_stop(struct blk_dev *dev, void (*cb)(void *arg, int status), void *arg);

struct raid_member_info {
	char name[64];                /* member blk_dev name ("" when missing) */
	enum raid_member_state state;
	bool rebuilding;              /* being rebuilt / re-added: reads above sync.pos avoid it */
	char replacing_with[64];      /* replace in progress: the device taking this role */
};

enum raid_sync_kind {
	RAID_SYNC_NONE = 0,
	RAID_SYNC_RESYNC,             /* after an unclean stop: mirrors copied / parity recomputed (dirty regions) */
	RAID_SYNC_REBUILD,            /* a spare or re-added member is being filled */
	RAID_SYNC_REPLACE,            /* a healthy member is copied to its replacement, then swapped */
	RAID_SYNC_CHECK,              /* scrub: count mismatches */
	RAID_SYNC_REPAIR,             /* scrub: count and rewrite parity / mirrors */
};

/* One scrub mismatch: where parity or a mirror copy disagreed. */
struct raid_mismatch {
	uint64_t array_lba;           /* first array block of the chunk (stripe row) concerned */
	uint64_t member_lba;          /* block in the member's data region */
	unsigned member;              /* role holding the disagreeing parity / copy */
};
#define RAID_MISMATCH_LOG 64          /* locations kept (the count goes on) */

struct raid_sync_info {
	enum raid_sync_kind kind;     /* what runs now (NONE when idle) */
	uint32_t targets;             /* roles written (rebuild/replace), bit per role */
	uint64_t done_blocks, total_blocks; /* member blocks */
	unsigned percent;
	uint64_t rate_bps;            /* average bytes/s of member data since the start */
	uint64_t eta_s;               /* estimated seconds left (0 when unknown or done) */
	uint64_t rate_limit_bps;      /* raid_set_rebuild_rate, 0 = unlimited */
	enum raid_sync_kind last_kind;/* the last job that ended, and how */
	int last_status;              /* 0, -ECANCELED (stopped), -EIO (member failures) */
};
struct raid_info {
	char name[32];
	uint8_t uuid[16];
	unsigned level;
	uint32_t chunk_kib;
	unsigned nmembers;
	enum raid_array_state state;
	uint64_t events;
	bool dirty;                   /* superblocks say writes may be in flight */
	uint64_t num_blocks;
	uint32_t block_size;
	struct raid_member_info members[RAID_MAX_MEMBERS]; /* by role */
	unsigned nspares;             /* this array's spares (global ones: raid_global_spares) */
	struct raid_sync_info sync;
	uint64_t bitmap_region_kib;   /* 0: no bitmap */
	uint64_t bitmap_dirty;        /* regions whose bit is set */
	bool journal;                 /* RAID 5/6 write journal on */
	uint64_t scrub_mismatches;    /* last check/repair (running total while it runs) */
	unsigned nmismatch_log;       /* entries in mismatch[] */
	struct raid_mismatch mismatch[RAID_MISMATCH_LOG];
};
/* Snapshot of the array state; any thread. Returns 0 or -EINVAL (not a raid device). */
int raid_get_info(struct blk_dev *dev, struct raid_info *out);

/* Mark member `role` failed at run time (administrator or test), as an I/O
 * error would. Any thread. Returns 0, -EINVAL (bad role / not raid) or
 * -EALREADY (already failed). The array may go offline as a result. */
int raid_fail_member(struct blk_dev *dev, unsigned role);

/*
 * Rebuild, spares, scrub. These run on the owner reactor (call them there;
 * -EINVAL elsewhere); the work runs in the background, one job at a time,
 * reported through raid_get_info().sync. Foreground I/O keeps priority:
 * the job works one stripe (chunk row) at a time, at most at the rate set,
 * and waits while foreground requests are in flight.
 */
/* Add a hot spare to this array (array != NULL) or to the global pool (array
 * NULL; any array of the process may take it). The spare must be at least
 * as large as a member and have the same block size; nothing is written to
 * it until it takes over. When a member fails (and the failure is recorded)
 * the array takes a spare, writes its superblock and rebuilds onto it.
 * Returns 0, -EINVAL (not raid, wrong size/block size, already a member),
 * -ENOSPC (too many spares). With RAID_F_OWN_MEMBERS the array destroys its
 * spares; global spares stay the caller's. */
int raid_add_spare(struct blk_dev *array, struct blk_dev *spare);
/* Number of spares in the global pool. */
unsigned raid_global_spares(void);
/* Take spare out of the global pool (before its owner destroys it). Any
 * thread. Returns 0, or -ENOENT when it is not there (an array took it). */
int raid_global_spare_remove(struct blk_dev *spare);
/* Replace member `role` by dev: a healthy member is copied to dev first (reads
 * and writes go on), then dev takes the role and the old device is left
 * (not written again; destroyed with the array under RAID_F_OWN_MEMBERS). A
 * failed or missing role is rebuilt onto dev directly. Returns 0, -EINVAL,
 * -EBUSY (another rebuild/replace runs). */
int raid_replace_member(struct blk_dev *array, unsigned role, struct blk_dev *dev);
/* Bring the failed member of `role` back (the same device, e.g. after it was
 * unplugged and plugged in again): the writes it missed are all in
 * write-intent bitmap regions (bits are never cleared while a member is
 * out), so only those regions are rebuilt. A member that is stale across a
 * restart is re-added the same way by raid_assemble(). Returns 0, -EINVAL
 * (role not failed, no bitmap, not on the owner), -EBUSY (the failure is
 * still being recorded, or a rebuild/replace runs). */
int raid_readd_member(struct blk_dev *array, unsigned role);
/* Take the failed member of `role` out of the array so its device can be
 * taken away: the role becomes missing (recorded in the superblocks of the
 * other members) until a spare, raid_replace_member() or an added device
 * fills it. The device receives no new I/O from the call on; cb(arg, 0,
 * dev) runs later on the owner once every member I/O still in flight to it
 * has answered (a member past its deadline may answer late): from then on
 * the caller may destroy dev. Owner only. Returns 0 (cb will run), -EINVAL
 * (not raid, bad role, not on the owner), -ENOENT (the role has no device),
 * -EBUSY (the member is active: fail it first, or replace it), -EAGAIN (its
 * failure is still being recorded, or it is being rebuilt or replaced). */
int raid_remove_member(struct blk_dev *array, unsigned role,
		       void (*cb)(void *arg, int status, struct blk_dev *dev), void *arg);
/* Rebuild/resync/scrub rate limit in bytes of member data per second (0 = unlimited). */
int raid_set_rebuild_rate(struct blk_dev *array, uint64_t bytes_per_sec);
/* Scrub: CHECK reads every stripe (every mirror chunk) and counts each place
 * where parity or a copy disagrees (array LBA + member in info.mismatch[]);
 * REPAIR also rewrites the parity (RAID 5/6) or the other copies from the
 * first (RAID 1/10). Returns 0, -EINVAL (bad mode, RAID 0), -EBUSY (a job runs). */
int raid_scrub_start(struct blk_dev *array, enum raid_sync_kind mode);
/* Stop a running scrub (not a rebuild). Returns 0 or -ENOENT (no scrub runs). */
int raid_scrub_stop(struct blk_dev *array);

/* Names for logs and the control API. */
const char *raid_sync_kind_name(enum raid_sync_kind k);
const char *raid_member_state_name(enum raid_member_state s);
const char *raid_array_state_name(enum raid_array_state s);

#endif

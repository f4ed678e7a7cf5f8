/* raid_internal.h - shared core of the RAID engine: geometry, level ops table, array state, member sub-I/O, parity and superblock helpers. */
#ifndef SOFTHBA_BLK_RAID_RAID_INTERNAL_H
#define SOFTHBA_BLK_RAID_RAID_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "blk/blk.h"
#include "blk/raid/raid.h"
#include "core/reactor.h"

/* ---- geometry: everything in blocks of the array's block size ---- */
struct raid_geom {
	unsigned n;              /* members */
	unsigned ndata;          /* striped parity levels: data columns per stripe (n - nparity); raid0: n */
	unsigned nparity;        /* 0, 1 (P) or 2 (P, Q) */
	unsigned ncopies;        /* mirror family: copies of every block (raid0 1, raid1 n, raid10 2) */
	uint32_t chunk;          /* chunk size in blocks */
	uint64_t member_blocks;  /* usable data blocks per member (a multiple of chunk) */
};

/* One contiguous array range mapped to its copies (mirror family). */
struct raid_piece {
	uint32_t nblocks;        /* blocks from the requested lba covered by this piece */
	unsigned ncopies;
	unsigned member[RAID_MAX_MEMBERS];
	uint64_t mlba[RAID_MAX_MEMBERS]; /* block in the member's data region */
};

/* Where a stripe's columns live: col 0..ndata-1 data, ndata = P, ndata+1 = Q. */
struct raid_stripe_map {
	unsigned disk[RAID_MAX_MEMBERS];
};

struct raid_array;
struct raid_req;

/* A level, registered as data in raid.c's table; the core never switches on the level. */
struct raid_level_ops {
	unsigned level;
	const char *name;
	unsigned min_members;
	unsigned nparity;        /* parity columns (striped parity levels) */
	bool owner_path;         /* I/O runs on the owner reactor (stripe locks live there) */
	bool redundant;          /* create zeroes the members so copies/parity agree */
	bool striped;            /* chunk size is meaningful */
	/* Fill ndata/ncopies from n, nparity; member_blocks/chunk already set. */
	void (*geom_init)(struct raid_geom *g);
	uint64_t (*capacity)(const struct raid_geom *g);
	/* Can every block still be read with these members failed? */
	bool (*survives)(const struct raid_geom *g, uint32_t failed);
	/* Mirror family: map [lba, lba + nblocks) from its start: the piece up to the next chunk edge. */
	void (*map_piece)(const struct raid_geom *g, uint64_t lba, uint32_t nblocks, struct raid_piece *out);
	/* Parity family: the members holding stripe s's columns. */
	void (*stripe_map)(const struct raid_geom *g, uint64_t stripe, struct raid_stripe_map *out);
	/* Run a read/write/unmap/write-zeroes request (flush is common). */
	void (*submit)(struct raid_req *req);
};

/* Member-block span [*lo, *hi) a request on [lba, lba + n) may write (for the bitmap). */
void raid_member_span(const struct raid_array *a, uint64_t lba, uint32_t n, uint64_t *lo, uint64_t *hi);

const struct raid_level_ops *raid_level_find(unsigned level);

extern const struct raid_level_ops raid0_ops, raid1_ops, raid10_ops, raid5_ops, raid6_ops;

/* Layout functions (pure; unit-tested against reference models). */
void raid0_map_piece(const struct raid_geom *g, uint64_t lba, uint32_t nblocks, struct raid_piece *out);
void raid1_map_piece(const struct raid_geom *g, uint64_t lba, uint32_t nblocks, struct raid_piece *out);
void raid10_map_piece(const struct raid_geom *g, uint64_t lba, uint32_t nblocks, struct raid_piece *out);
void raid5_stripe_map(const struct raid_geom *g, uint64_t stripe, struct raid_stripe_map *out);
void raid6_stripe_map(const struct raid_geom *g, uint64_t stripe, struct raid_stripe_map *out);

/* ---- the superblock (superblock.c) ---- */
#define RAID_SB_SIZE 4096u
#define RAID_SB_VERSION 1u
#define RAID_LAYOUT_NONE 0u
#define RAID_LAYOUT_LEFT_SYMMETRIC 2u /* md's ALGORITHM_LEFT_SYMMETRIC number */
#define RAID_LAYOUT_NEAR2 0x102u      /* md's raid10 layout word: near copies = 2 */

struct raid_sb_info {           /* native-endian view of the on-disk superblock */
	uint32_t version;
	uint8_t uuid[16];
	char name[32];
	uint32_t level, layout;
	uint32_t chunk_bytes, block_size;
	uint32_t nmembers, role;
	uint64_t data_offset;       /* bytes */
	uint64_t data_size;         /* bytes per member */
	uint64_t events;
	uint64_t ctime_s, utime_s;
	bool dirty;
	uint32_t failed;            /* bitmap by role */
	/* on-disk layout of the metadata areas (0 = absent), bytes */
	uint64_t region_bytes;      /* write-intent bitmap: bytes of member data per bit */
	uint64_t bitmap_offset;
	uint32_t bitmap_slot_bytes; /* one of the two A/B copies */
	uint32_t journal_slot_bytes;
	uint64_t journal_offset;
	uint64_t journal_bytes;
	uint32_t rebuilding;        /* roles being rebuilt (bit per role) */
	uint64_t recovery_offset;   /* bytes of member data already rebuilt on those roles */
	uint64_t role_jseq[RAID_MAX_MEMBERS]; /* journal: first sequence number the role's device holds */
};

/* Encode into a RAID_SB_SIZE buffer (little-endian, CRC32C last). */
void raid_sb_encode(const struct raid_sb_info *in, void *buf);
/* Decode and verify: 0, -ENOENT (no superblock: wrong magic), -EBADMSG (CRC
 * mismatch), -EPROTO (unsupported version or impossible fields; err says which). */
int raid_sb_decode(const void *buf, struct raid_sb_info *out, char *err, size_t errlen);

/* Which members may join: per member index, the role it takes or -1 and a reason. */
struct raid_assembly {
	struct raid_sb_info ref;           /* newest superblock of the chosen array */
	int by_role[RAID_MAX_MEMBERS];     /* member index or -1 */
	bool refused[RAID_MAX_MEMBERS];
	char reason[RAID_MAX_MEMBERS][200];
	unsigned good;
};
/* Decide an assembly from n decoded superblocks. On entry out->refused[i]
 * and out->reason[i] are set for members whose superblock could not be
 * read or decoded; names[i] names member i. Returns 0 (out says which
 * member takes which role, and why each other one was refused), or
 * -EINVAL with msg explaining why no array can start. */
int raid_sb_select(const struct raid_sb_info *sbs, const char *const *names, unsigned n, struct raid_assembly *out,
		   char *msg, size_t msglen);

/* ---- the array ---- */
enum raid_sb_state { RAID_SB_CLEAN = 0, RAID_SB_DIRTY, RAID_SB_CLEANING, RAID_SB_MARKING };

struct raid_member {
	struct blk_dev *dev;        /* NULL when missing */
	char name[64];
	_Atomic uint32_t gen;       /* bumped when another device takes the role */
	struct blk_dev *shadow;     /* replace: the new device receiving a copy (owner-only) */
	atomic_uint inflight;       /* sub-I/Os submitted to dev and not answered yet (raid_remove_member waits) */
};

struct stripe_table;
struct raid_bitmap;
struct raid_journal;
struct raid_sync;

/* A waiter on the owner's range locks (stripe number or chunk number). */
struct raid_lockw {
	uint64_t key;
	void (*granted)(struct raid_lockw *w, int status);
	struct raid_lockw *wnext;
	bool locked;
};
/* Owner only. granted(w, 0) runs when w holds key (possibly inside this call),
 * or granted(w, -ENOMEM). */
void raid_lock(struct raid_array *a, struct raid_lockw *w, uint64_t key,
	       void (*granted)(struct raid_lockw *w, int status));
void raid_unlock(struct raid_array *a, struct raid_lockw *w);

struct raid_array {
	struct blk_dev dev;         /* dev.ctx == this */
	const struct raid_level_ops *ops;
	struct raid_geom g;
	char name[32];
	char tag[48];               /* "array=<name>" for logs */
	uint8_t uuid[16];
	uint64_t data_offset;       /* blocks */
	uint64_t ctime_s;
	uint32_t flags;
	uint64_t deadline_ns, clean_delay_ns;
	struct raid_member m[RAID_MAX_MEMBERS];
	struct reactor *owner;

	_Atomic uint32_t failed;    /* members failed (bit per role) */
	_Atomic uint32_t committed; /* failures recorded in the superblocks */
	atomic_bool offline;
	_Atomic uint64_t wseq;      /* array writes dispatched towards the members so far */
	_Atomic uint64_t fail_wseq[RAID_MAX_MEMBERS]; /* wseq when the role failed */
	atomic_bool fail_busy[RAID_MAX_MEMBERS];      /* array writes were in flight when it failed */
	_Atomic int sb_state;       /* enum raid_sb_state */
	atomic_int writes_inflight;
	atomic_int reqs_inflight;
	_Atomic uint64_t last_write_ns;
	_Atomic uint64_t events;

	/* owner-only */
	struct raid_req *dirty_waiters;    /* writes waiting for the dirty mark */
	struct raid_req *commit_waiters;   /* writes waiting for a failure to be recorded */
	bool sb_busy, sb_again;
	bool sb_force;              /* rewrite the superblocks (roles, rebuild checkpoint changed) */
	bool readd_dirty;           /* the rebuilding roles were re-added: only bitmap-dirty regions differ */
	bool sb_dirty;              /* dirty flag the next superblock write carries */
	uint32_t sb_failed;         /* failed map the last superblock write carried */
	bool needs_resync;          /* assembled from a dirty array: stays dirty until the resync ends */
	/* metadata areas (blocks), see docs/raid.md */
	uint64_t region_blocks;     /* bitmap region, member blocks (0: no bitmap) */
	uint64_t bm_offset, bm_slot_blocks;
	uint64_t j_offset, j_slot_blocks, j_nslots;
	struct raid_bitmap *bm;
	struct raid_journal *jr;
	uint64_t role_jseq[RAID_MAX_MEMBERS]; /* owner: journal entries before this do not need/replay the role's part */
	/* rebuild / resync / scrub (rebuild.c, scrub.c) */
	_Atomic uint32_t rebuilding;       /* roles being rebuilt: readable below rebuild_pos only */
	_Atomic uint64_t rebuild_pos;      /* member blocks in sync on the rebuilding roles */
	uint64_t rebuild_ckpt;             /* owner: position durable on the targets (superblock checkpoint) */
	uint64_t stop_pos;                 /* rebuild position when the stop's final flush began */
	_Atomic uint64_t shadow_pos;       /* replace: member blocks copied to the shadow (writes below are mirrored) */
	bool shadow_failed;                /* owner: a shadow write failed: the replace is abandoned */
	uint64_t shadow_jseq;              /* journal sequence when the replace began mirroring */
	unsigned swap_role_plus1;          /* replace swapped role-1's device; the old one is mirrored until */
	uint64_t swap_mark;                /* ... a superblock write started after this event count is durable */
	uint64_t sb_write_events;          /* events of the superblock write in flight */
	atomic_bool sync_lock;             /* mirror writes run on the owner under chunk locks */
	int lockaware_writes;              /* owner: mirror writes in flight under chunk locks */
	struct raid_sync *sync;
	struct {                           /* the job's progress, published for raid_get_info (any thread) */
		_Atomic int kind;
		_Atomic uint32_t targets;
		_Atomic uint64_t unit, nunits, start_unit, bytes, start_ns;
	} prog;
	_Atomic uint64_t rebuild_rate;     /* bytes/s, 0 = unlimited */
	struct blk_dev *spares[RAID_MAX_MEMBERS];
	unsigned nspares;
	struct blk_dev *retired[2 * RAID_MAX_MEMBERS]; /* replaced devices (late I/O may still reach them) */
	unsigned nretired;
	_Atomic uint64_t scrub_mismatches;
	struct raid_mismatch mism[RAID_MISMATCH_LOG];
	_Atomic unsigned nmism;
	_Atomic int last_sync_kind, last_sync_status;
	/* lifetime: internal operations in flight (owner); destroy waits for them */
	unsigned internal;
	bool dead;
	struct reactor_timer idle_timer;
	struct stripe_table *stripes;
	void (*stop_cb)(void *arg, int status);
	void *stop_arg;
	struct reactor_timer stop_timer;
	bool stopping;
};

/* A request on the array (one per blk_io submitted to it). */
struct raid_req {
	struct blk_io *io;
	struct raid_array *a;
	struct reactor *submitter;
	struct raid_req *next;      /* wait queues */
	unsigned pending;           /* level pieces still running */
	int status;
	bool write;                 /* counts in writes_inflight */
	bool bm_held;               /* counted in its bitmap regions */
	bool lockaware;             /* counted in lockaware_writes */
	uint64_t r0, r1;            /* bitmap regions [r0, r1] */
	unsigned retries;           /* out-of-memory retries so far */
	struct reactor_timer retry;
	struct reactor_defer defer;
};

/* Shared reference count of an operation whose sub-I/Os may outlive its
 * logical completion (a member past its deadline answers late). */
struct raid_opref {
	unsigned refs;
	void (*release)(struct raid_opref *r);
};

/* One I/O to one member. */
struct raid_sub {
	struct blk_io io;
	struct raid_array *a;
	unsigned member;
	struct raid_opref *ref;
	void (*done)(struct raid_sub *s, int status);
	void *ctx;
	uint64_t tag;               /* for the caller */
	struct reactor_timer timer;
	struct reactor_defer defer;
	int status;
	bool timed_out;
	bool bounce;                /* read into a private buffer, copied to iov on success */
	bool shadow_copy;           /* write also goes to the role's replacement */
	bool to_shadow;             /* I/O goes to the role's replacement only (replace copy) */
	bool counted;               /* counted in the member's inflight */
	uint32_t gen;               /* member generation at submit */
	bool main_pending;
	bool shadow_pending;
	uint8_t *bbuf;              /* bounce buffer of a read */
	size_t blen;
	int hiovcnt;                /* host iovec entries behind the bounce */
	struct iovec biov;
	struct blk_io sio;          /* the shadow write */
	int iovmax;
	struct iovec iov[];
};

/* New sub-I/O on member (lba relative to the data region unless raw) with room
 * for iovmax iovecs (fill s->iov and set s->io.iovcnt). NULL if out of memory. */
struct raid_sub *raid_sub_new(struct raid_array *a, unsigned member, enum blk_op op, uint64_t mlba,
			      uint32_t nblocks, int iovmax, void (*done)(struct raid_sub *s, int status),
			      void *ctx, struct raid_opref *ref);
/* Absolute member lba (no data offset added): for superblock I/O. */
void raid_sub_set_raw_lba(struct raid_sub *s, uint64_t lba);
/* Submit with the member deadline armed. done() runs later exactly once
 * (never inside this call), on this reactor; a member failure kind
 * (anything but -ENOMEM/-EINVAL) fails the member first. */
void raid_sub_submit(struct raid_sub *s);
void raid_opref_put(struct raid_opref *r);

/* Slice [off, off+len) bytes of src into dst (at most max entries);
 * returns the entry count, or -1 if max is too small. */
int raid_iov_slice(const struct iovec *src, int cnt, size_t off, size_t len, struct iovec *dst, int max);
/* Entries the slice needs. */
int raid_iov_count(const struct iovec *src, int cnt, size_t off, size_t len);

/* Member health: may take writes. */
static inline bool raid_member_ok(struct raid_array *a, unsigned m)
{
	return !(atomic_load_explicit(&a->failed, memory_order_acquire) & (1u << m));
}
/* May be read for member blocks below end (a rebuilding member only below its rebuild position). */
static inline bool raid_member_readable(struct raid_array *a, unsigned m, uint64_t end)
{
	if (!raid_member_ok(a, m))
		return false;
	if (!(atomic_load_explicit(&a->rebuilding, memory_order_acquire) & (1u << m)))
		return true;
	return end <= atomic_load_explicit(&a->rebuild_pos, memory_order_acquire);
}
/* Failed or not yet rebuilt: what survives() must be asked about. */
static inline uint32_t raid_unavailable(struct raid_array *a)
{
	return atomic_load(&a->failed) | atomic_load(&a->rebuilding);
}
/* Mark member failed (any reactor); logs, records it in the superblocks,
 * takes the array offline when the level cannot survive it. */
void raid_member_failed(struct raid_array *a, unsigned member, int status);
static inline bool raid_offline(struct raid_array *a)
{
	return atomic_load_explicit(&a->offline, memory_order_acquire);
}
/* Is this status a member fault (vs. transient/caller error)? */
bool raid_status_fails_member(int status);

/* A level piece finished with status (0 or -errno); completes the request after the last. */
void raid_req_piece_done(struct raid_req *req, int status);

/* Run fn(req) on the owner reactor (a message when called elsewhere). */
void raid_run_on_owner(struct raid_req *req, void (*fn)(void *arg));

/* Complete req now (deferred to its submitter), keeping an earlier error. */
void raid_req_complete_now(struct raid_req *req, int status);
/* Start the level's work for req (on the owner for owner_path levels). */
void raid_req_dispatch(struct raid_req *req);
extern const struct blk_ops raid_blk_ops;

/* Lifetime of internal (owner) operations: destroy waits for them. */
void raid_internal_get(struct raid_array *a);
void raid_internal_put(struct raid_array *a);
/* Free the array if it was destroyed and nothing internal is left (owner). */
void raid_array_maybe_free(struct raid_array *a);

/* ---- array.c: superblock state machine on the owner ---- */
void raid_array_failure_changed(void *arg);  /* message: a member failed; record it */
void raid_array_wait_commit(void *arg);      /* req waits until failures are recorded */
void raid_array_want_dirty(void *arg);       /* req waits for the dirty mark */
void raid_array_destroy(struct blk_dev *dev);

/* ---- engines ---- */
void raid_mirror_submit(struct raid_req *req);  /* raid1.c: raid 0/1/10 over map_piece */
void raid_stripe_submit(struct raid_req *req);  /* stripe.c: raid 5/6 */
int raid_stripe_table_new(struct raid_array *a);
void raid_stripe_table_free(struct raid_array *a);

/* ---- superblock I/O on the owner (superblock.c) ---- */
/* Fill info for member role from the array. */
void raid_sb_fill(const struct raid_array *a, unsigned role, struct raid_sb_info *out);
/* Write the current state to every healthy member; done(a, status) on the owner. */
void raid_sb_write_all(struct raid_array *a, void (*done)(struct raid_array *a, int status));

/* Ask the owner to write the superblocks again (state changed: rebuild checkpoint, roles). */
void raid_array_sb_update(struct raid_array *a);
/* Owner: a failure was recorded; start a spare if one fits. */
void raid_spare_takeover(struct raid_array *a);
/* Owner: a superblock write carrying a replace's swap is durable: stop mirroring to the old device. */
void raid_replace_commit(struct raid_array *a);

/* ---- bitmap.c: write-intent bitmap ---- */
/* Geometry of the bitmap for an array being created (fills region_blocks, bm_*). Returns 0 or -EINVAL (err). */
int raid_bitmap_layout(struct raid_array *a, uint64_t region_bytes, char *err, size_t errlen);
int raid_bitmap_new(struct raid_array *a);                /* allocate in-memory state (all clean) */
void raid_bitmap_free(struct raid_array *a);
/* Writer side, any reactor: count req in its regions; true when their bits are
 * durable (go on), false when it must wait (then call raid_bitmap_wait on the owner). */
bool raid_bitmap_enter(struct raid_req *req);
void raid_bitmap_wait(void *req);                          /* owner: dispatches req once the bits are durable */
void raid_bitmap_leave(struct raid_req *req);              /* the write finished */
/* Owner: clear the bits of regions idle and flushed (timer). */
void raid_bitmap_tick(struct raid_array *a);
/* Encode/decode one bitmap copy (bitmap_slot_bytes): dirty bits + header. */
struct raid_bm_header {
	uint64_t seq;
	uint64_t events_cleared;     /* array events when bits were last cleared */
	uint64_t region_bytes;
	uint32_t nregions;
};
void raid_bitmap_encode(const struct raid_array *a, const struct raid_bm_header *h, const uint8_t *bits, void *buf);
int raid_bitmap_decode(const void *buf, size_t len, const uint8_t *uuid, struct raid_bm_header *h, uint8_t *bits,
		       size_t bitslen);
/* Assembly: adopt the bits read from the members (newest valid copy); NULL = unknown (all dirty). */
void raid_bitmap_load(struct raid_array *a, const uint8_t *bits, const struct raid_bm_header *h);
bool raid_bitmap_region_dirty(struct raid_array *a, uint64_t region);
uint64_t raid_bitmap_dirty_count(struct raid_array *a);
uint64_t raid_bitmap_events_cleared(struct raid_array *a);
uint64_t raid_bitmap_nregions(const struct raid_array *a);

/* ---- journal.c: RAID 5/6 write journal ---- */
int raid_journal_layout(struct raid_array *a, char *err, size_t errlen);
int raid_journal_new(struct raid_array *a);
/* The sequence number the next entry will get (0 without journal). */
uint64_t raid_journal_next_seq(struct raid_array *a);
void raid_journal_free(struct raid_array *a);

/* ---- rebuild.c: the sync engine (resync, rebuild, replace, scrub) ---- */
enum raid_sync_kind_int { SYNC_RESYNC = 1, SYNC_REBUILD, SYNC_REPLACE, SYNC_CHECK, SYNC_REPAIR };
/* Owner: start (or queue) a sync job. targets: roles to write (rebuild/replace).
 * only_dirty: limit to bitmap-dirty regions. from: start at this member block. */
int raid_sync_start(struct raid_array *a, int kind, uint32_t targets, bool only_dirty, uint64_t from);
void raid_sync_stop(struct raid_array *a, bool user);
void raid_sync_fill_info(struct raid_array *a, struct raid_info *out);
/* Owner: start what the array needs (resume a rebuild, resync after a crash, a spare). */
void raid_sync_kick(struct raid_array *a);

/* ---- parity (parity.c) ---- */
uint8_t parity_gf_pow2(unsigned e);
void parity_xor_into(uint8_t *dst, const uint8_t *src, size_t len);
void parity_xor_iov_into(uint8_t *dst, const struct iovec *iov, int iovcnt, size_t off, size_t len);
/* cols[0..ndata-1] data, cols[ndata] P, cols[ndata+1] Q (npar 2): compute the parity columns. */
void parity_gen(unsigned ndata, unsigned npar, uint8_t **cols, size_t len);
/* Same with data columns as iovec slices (zero copy). */
struct parity_src {
	const struct iovec *iov;
	int iovcnt;
	size_t off;
};
void parity_gen_iov(unsigned ndata, unsigned npar, const struct parity_src *data, uint8_t **par, size_t len);
/* Parity update for a changed data column dcol: P ^= delta; Q ^= g^dcol * delta. */
void parity_apply_delta(unsigned npar, unsigned dcol, const uint8_t *delta, uint8_t *p, uint8_t *q, size_t len);
/* Recompute the columns in `missing` (bitmask over cols 0..ndata+npar-1) from the others.
 * Returns 0 or -EINVAL when more than npar are missing. */
int parity_recover(unsigned ndata, unsigned npar, uint8_t **cols, uint32_t missing, size_t len);

/* Global zero buffer for write-zeroes on parity levels. */
#define RAID_ZBUF_SIZE (256u << 10)
extern const uint8_t raid_zbuf[RAID_ZBUF_SIZE];

#endif

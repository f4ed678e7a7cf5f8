/* raid.h - public API of the RAID engine: create and assemble arrays (levels 0/1/5/6/10) over member blk devices, query state, fail members. */
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
 * then blk_destroy()/raid_stop() of the array destroys them too.
 */

#define RAID_MAX_MEMBERS 32
#define RAID_DEFAULT_CHUNK_KIB 64
#define RAID_DEFAULT_DATA_OFFSET_KIB 8192 /* room for superblock, bitmap and journal */

enum raid_member_state {
	RAID_MEMBER_ACTIVE = 0,   /* in sync, serving I/O */
	RAID_MEMBER_FAILED,       /* failed at run time (I/O error, gone, deadline) */
	RAID_MEMBER_MISSING,      /* absent or refused at assembly */
};

enum raid_array_state {
	RAID_ARRAY_OPTIMAL = 0,   /* every member active */
	RAID_ARRAY_DEGRADED,      /* some members failed; redundancy still serves every block */
	RAID_ARRAY_OFFLINE,       /* more failures than the level tolerates: every I/O fails with -EIO */
};

#define RAID_F_OWN_MEMBERS  0x1u /* destroy the members with the array */
#define RAID_F_ASSUME_CLEAN 0x2u /* create: skip the initial zeroing (members are known to be zero) */

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
 * when too few good members remain. Returns 0 or -errno at once. */
int raid_assemble(const struct raid_assemble_opts *opts, raid_done_cb cb, void *arg, char *err, size_t errlen);

/* Orderly stop: wait for in-flight I/O (no new I/O may be submitted),
 * flush the members, mark the superblocks clean, destroy the array.
 * cb(arg, status) runs on the owner reactor. Must be called on the owner. */
int raid_stop(struct blk_dev *dev, void (*cb)(void *arg, int status), void *arg);

struct raid_member_info {
	char name[64];                /* member blk_dev name ("" when missing) */
	enum raid_member_state state;
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
};
/* Snapshot of the array state; any thread. Returns 0 or -EINVAL (not a raid device). */
int raid_get_info(struct blk_dev *dev, struct raid_info *out);

/* Mark member `role` failed at run time (administrator or test), as an I/O
 * error would. Any thread. Returns 0, -EINVAL (bad role / not raid) or
 * -EALREADY (already failed). The array may go offline as a result. */
int raid_fail_member(struct blk_dev *dev, unsigned role);

/* Names for logs and the control API. */
const char *raid_member_state_name(enum raid_member_state s);
const char *raid_array_state_name(enum raid_array_state s);

#endif

/* boot.h - create/assemble machinery shared by array.c, create.c and assemble.c (internal). */
#ifndef SOFTHBA_BLK_RAID_BOOT_H
#define SOFTHBA_BLK_RAID_BOOT_H

#include "blk/raid/raid_internal.h"

/* Boot context shared by create and assemble: plain member I/O (not sub-I/O:
 * a failure here aborts or refuses instead of failing a member). */
struct boot {
	struct raid_array *a;
	raid_done_cb cb;
	void *arg;
	unsigned outstanding;
	int status;
	char msg[1024];
	unsigned n;
	struct blk_dev *devs[RAID_MAX_MEMBERS];
	struct blk_io io[RAID_MAX_MEMBERS];
	struct iovec iov[RAID_MAX_MEMBERS];
	uint8_t *buf[RAID_MAX_MEMBERS];
	size_t buflen;
	uint64_t zero_next[RAID_MAX_MEMBERS], zero_end;
	struct raid_sb_info sbs[RAID_MAX_MEMBERS];
	struct raid_assembly as;
	bool readd[RAID_MAX_MEMBERS];
	bool sb_ok[RAID_MAX_MEMBERS];      /* superblock decoded */      /* stale member of this array: re-add if the bitmap covers it */
	uint8_t *bmbuf[RAID_MAX_MEMBERS];
	size_t bmlen;
	bool soft_reads;                   /* a failed read only drops that buffer (bitmap copies) */
	uint32_t deadline_ms, clean_delay_ms;
	uint32_t flags;
	struct reactor_defer defer;
	void (*next)(struct boot *b);
};

/* array.c: construction. */
struct raid_array *raid_array_new(const struct raid_level_ops *lv, const char *name, unsigned n, uint32_t bs,
				  uint32_t chunk_blocks, uint64_t member_blocks, uint64_t data_offset_blocks,
				  uint32_t flags, uint32_t deadline_ms, uint32_t clean_delay_ms);
/* Create: place the bitmap and the journal below the data offset. Returns 0 or -EINVAL (err). */
int raid_array_layout(struct raid_array *a, uint32_t flags, uint32_t region_kib, char *err, size_t errlen);
/* Assembly: the areas the superblock describes. Returns 0 or -EINVAL (err). */
int raid_array_layout_from_sb(struct raid_array *a, const struct raid_sb_info *ref, char *err, size_t errlen);
int raid_array_meta_alloc(struct raid_array *a);
void raid_array_set_members(struct raid_array *a, struct blk_dev **by_role);
/* The array is ready: timers, pending superblock write, background jobs. */
void raid_array_start(struct raid_array *a);

/* create.c: boot I/O, one request per member at a time. */
void raid_boot_free(struct boot *b);
void raid_boot_report(void *arg);      /* deferred: report success or failure to the caller */
void raid_boot_fail(struct boot *b, unsigned i, int status, const char *what);
void raid_boot_submit(struct boot *b, unsigned i, enum blk_op op, uint64_t lba, uint32_t nblocks, uint8_t *buf,
		      size_t len, uint32_t flags);
void raid_boot_phase_end(struct boot *b); /* the phase's last I/O returned: next phase or report */
void raid_boot_io_done(struct blk_io *io, int status);
int raid_boot_alloc_bufs(struct boot *b, uint32_t bs);

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

#endif

/* superblock.c - the 4 KiB on-disk member superblock (little-endian, CRC32C), its writes, and the assembly decision. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blk/raid/raid_internal.h"
#include "core/bufpool.h"
#include "core/crc32c.h"
#include "core/log.h"
#include "core/util.h"

/*
 * Byte 0 of every member. All integers little-endian; the CRC32C covers
 * bytes 0..4091 and sits in the last four bytes. docs/raid.md has the
 * table. Reserved bytes are written as zero and ignored on read, so a
 * later version can use them without breaking older readers' CRC.
 */
#define RAID_SB_MAGIC "SHBARAID"

struct raid_sb_disk {
	uint8_t magic[8];
	uint32_t version;
	uint32_t sb_size;
	uint8_t uuid[16];
	char name[32];
	uint32_t level;
	uint32_t layout;
	uint32_t chunk_bytes;
	uint32_t block_size;
	uint32_t nmembers;
	uint32_t role;
	uint64_t data_offset;
	uint64_t data_size;
	uint64_t events;
	uint64_t ctime_s;
	uint64_t utime_s;
	uint32_t state;         /* 0 clean, 1 dirty */
	uint32_t failed;        /* bit per role */
	uint64_t region_bytes;  /* bitmap region (0: no bitmap) */
	uint64_t bitmap_offset;
	uint32_t bitmap_slot_bytes;
	uint32_t journal_slot_bytes;
	uint64_t journal_offset;
	uint64_t journal_bytes; /* 0: no journal */
	uint32_t rebuilding;    /* roles being rebuilt */
	uint32_t pad0;
	uint64_t recovery_offset;
	uint64_t role_jseq[RAID_MAX_MEMBERS]; /* first journal sequence each role's current device holds */
	uint8_t reserved[3644];
	uint32_t crc;
};
_Static_assert(sizeof(struct raid_sb_disk) == RAID_SB_SIZE, "superblock must be exactly 4096 bytes");
_Static_assert(offsetof(struct raid_sb_disk, data_offset) == 88, "superblock field layout");
_Static_assert(offsetof(struct raid_sb_disk, state) == 128, "superblock field layout");
_Static_assert(offsetof(struct raid_sb_disk, region_bytes) == 136, "superblock field layout");
_Static_assert(offsetof(struct raid_sb_disk, recovery_offset) == 184, "superblock field layout");
_Static_assert(offsetof(struct raid_sb_disk, role_jseq) == 192, "superblock field layout");
_Static_assert(offsetof(struct raid_sb_disk, crc) == RAID_SB_SIZE - 4, "CRC must be the last 4 bytes");

void raid_sb_encode(const struct raid_sb_info *in, void *buf)
{
	struct raid_sb_disk d;
	memset(&d, 0, sizeof(d));
	memcpy(d.magic, RAID_SB_MAGIC, 8);
	d.version = htole32(in->version);
	d.sb_size = htole32(RAID_SB_SIZE);
	memcpy(d.uuid, in->uuid, 16);
	memcpy(d.name, in->name, sizeof(d.name));
	d.name[sizeof(d.name) - 1] = 0;
	d.level = htole32(in->level);
	d.layout = htole32(in->layout);
	d.chunk_bytes = htole32(in->chunk_bytes);
	d.block_size = htole32(in->block_size);
	d.nmembers = htole32(in->nmembers);
	d.role = htole32(in->role);
	d.data_offset = htole64(in->data_offset);
	d.data_size = htole64(in->data_size);
	d.events = htole64(in->events);
	d.ctime_s = htole64(in->ctime_s);
	d.utime_s = htole64(in->utime_s);
	d.state = htole32(in->dirty ? 1u : 0u);
	d.failed = htole32(in->failed);
	d.region_bytes = htole64(in->region_bytes);
	d.bitmap_offset = htole64(in->bitmap_offset);
	d.bitmap_slot_bytes = htole32(in->bitmap_slot_bytes);
	d.journal_slot_bytes = htole32(in->journal_slot_bytes);
	d.journal_offset = htole64(in->journal_offset);
	d.journal_bytes = htole64(in->journal_bytes);
	d.rebuilding = htole32(in->rebuilding);
	d.recovery_offset = htole64(in->recovery_offset);
	for (unsigned r = 0; r < RAID_MAX_MEMBERS; r++)
		d.role_jseq[r] = htole64(in->role_jseq[r]);
	d.crc = htole32(crc32c(&d, offsetof(struct raid_sb_disk, crc)));
	memcpy(buf, &d, sizeof(d));
}

int raid_sb_decode(const void *buf, struct raid_sb_info *out, char *err, size_t errlen)
{
	struct raid_sb_disk d;
	memcpy(&d, buf, sizeof(d));
	if (memcmp(d.magic, RAID_SB_MAGIC, 8) != 0) {
		snprintf(err, errlen, "no softhba superblock (wrong magic)");
		return -ENOENT;
	}
	uint32_t crc = crc32c(&d, offsetof(struct raid_sb_disk, crc));
	if (crc != le32toh(d.crc)) {
		snprintf(err, errlen, "superblock is corrupt (CRC32C 0x%08x, computed 0x%08x)", le32toh(d.crc), crc);
		return -EBADMSG;
	}
	memset(out, 0, sizeof(*out));
	out->version = le32toh(d.version);
	memcpy(out->uuid, d.uuid, 16);
	memcpy(out->name, d.name, sizeof(out->name));
	out->name[sizeof(out->name) - 1] = 0;
	out->level = le32toh(d.level);
	out->layout = le32toh(d.layout);
	out->chunk_bytes = le32toh(d.chunk_bytes);
	out->block_size = le32toh(d.block_size);
	out->nmembers = le32toh(d.nmembers);
	out->role = le32toh(d.role);
	out->data_offset = le64toh(d.data_offset);
	out->data_size = le64toh(d.data_size);
	out->events = le64toh(d.events);
	out->ctime_s = le64toh(d.ctime_s);
	out->utime_s = le64toh(d.utime_s);
	out->dirty = le32toh(d.state) != 0;
	out->failed = le32toh(d.failed);
	out->region_bytes = le64toh(d.region_bytes);
	out->bitmap_offset = le64toh(d.bitmap_offset);
	out->bitmap_slot_bytes = le32toh(d.bitmap_slot_bytes);
	out->journal_slot_bytes = le32toh(d.journal_slot_bytes);
	out->journal_offset = le64toh(d.journal_offset);
	out->journal_bytes = le64toh(d.journal_bytes);
	out->rebuilding = le32toh(d.rebuilding);
	out->recovery_offset = le64toh(d.recovery_offset);
	for (unsigned r = 0; r < RAID_MAX_MEMBERS; r++)
		out->role_jseq[r] = le64toh(d.role_jseq[r]);
	const struct raid_level_ops *lv = raid_level_find(out->level);
	const char *bad = NULL;
	if (out->version != RAID_SB_VERSION || le32toh(d.sb_size) != RAID_SB_SIZE)
		bad = "unsupported superblock version";
	else if (lv == NULL)
		bad = "unknown RAID level";
	else if (out->nmembers < lv->min_members || out->nmembers > RAID_MAX_MEMBERS)
		bad = "member count out of range for the level";
	else if (out->role >= out->nmembers)
		bad = "role beyond the member count";
	else if (out->block_size < 512 || out->block_size > 65536 || (out->block_size & (out->block_size - 1)))
		bad = "block size is not a power of two in 512..65536";
	else if (out->chunk_bytes < out->block_size || (out->chunk_bytes & (out->chunk_bytes - 1)))
		bad = "chunk size is not a power of two >= the block size";
	else if (out->data_offset < RAID_SB_SIZE || out->data_offset % out->block_size)
		bad = "data offset overlaps the superblock or is not block aligned";
	else if (out->data_size == 0 || out->data_size % out->chunk_bytes)
		bad = "data size is not a multiple of the chunk size";
	else if (out->region_bytes != 0 &&
		 (out->region_bytes % out->block_size || out->bitmap_offset < RAID_SB_SIZE ||
		  out->bitmap_offset % out->block_size || out->bitmap_slot_bytes % out->block_size ||
		  out->bitmap_slot_bytes == 0 ||
		  out->bitmap_offset + 2ull * out->bitmap_slot_bytes > out->data_offset))
		bad = "bitmap area is misplaced or does not fit below the data offset";
	else if (out->journal_bytes != 0 &&
		 (out->journal_offset < RAID_SB_SIZE || out->journal_offset % out->block_size ||
		  out->journal_slot_bytes % out->block_size || out->journal_slot_bytes < 2 * out->block_size ||
		  out->journal_offset + out->journal_bytes > out->data_offset ||
		  out->journal_bytes / out->journal_slot_bytes < 2))
		bad = "journal area is misplaced or does not fit below the data offset";
	else if ((out->rebuilding & ~((1ull << out->nmembers) - 1)) || out->recovery_offset > out->data_size ||
		 out->recovery_offset % out->block_size)
		bad = "rebuild checkpoint out of range";
	if (bad) {
		snprintf(err, errlen, "superblock invalid: %s", bad);
		return -EPROTO;
	}
	return 0;
}

static void uuid_str(const uint8_t *u, char *s)
{
	for (int i = 0; i < 16; i++)
		sprintf(s + 2 * i, "%02x", u[i]);
}

static bool same_geometry(const struct raid_sb_info *a, const struct raid_sb_info *b)
{
	return a->level == b->level && a->layout == b->layout && a->chunk_bytes == b->chunk_bytes &&
	       a->block_size == b->block_size && a->nmembers == b->nmembers && a->data_offset == b->data_offset &&
	       a->data_size == b->data_size && a->region_bytes == b->region_bytes &&
	       a->bitmap_offset == b->bitmap_offset && a->bitmap_slot_bytes == b->bitmap_slot_bytes &&
	       a->journal_offset == b->journal_offset && a->journal_bytes == b->journal_bytes &&
	       a->journal_slot_bytes == b->journal_slot_bytes;
}

int raid_sb_select(const struct raid_sb_info *sbs, const char *const *names, unsigned n, struct raid_assembly *out,
		   char *msg, size_t msglen)
{
	for (unsigned r = 0; r < RAID_MAX_MEMBERS; r++)
		out->by_role[r] = -1;
	out->good = 0;
	/* the array: the UUID most members carry (ties: the newest events, then the first) */
	int best = -1;
	unsigned best_count = 0;
	for (unsigned i = 0; i < n; i++) {
		if (out->refused[i])
			continue;
		unsigned count = 0;
		for (unsigned j = 0; j < n; j++)
			if (!out->refused[j] && memcmp(sbs[i].uuid, sbs[j].uuid, 16) == 0)
				count++;
		if (best < 0 || count > best_count ||
		    (count == best_count && sbs[i].events > sbs[best].events)) {
			best = (int)i;
			best_count = count;
		}
	}
	if (best < 0) {
		snprintf(msg, msglen, "no member carries a valid softhba superblock");
		return -EINVAL;
	}
	/* the newest superblock of that array */
	for (unsigned i = 0; i < n; i++)
		if (!out->refused[i] && memcmp(sbs[i].uuid, sbs[best].uuid, 16) == 0 && sbs[i].events > sbs[best].events)
			best = (int)i;
	out->ref = sbs[best];
	const struct raid_sb_info *ref = &out->ref;
	char ustr[33], ostr[33];
	uuid_str(ref->uuid, ustr);
	for (unsigned i = 0; i < n; i++) {
		if (out->refused[i])
			continue;
		const struct raid_sb_info *s = &sbs[i];
		char *why = out->reason[i];
		size_t wl = sizeof(out->reason[i]);
		out->refused[i] = true;
		if (memcmp(s->uuid, ref->uuid, 16) != 0) {
			uuid_str(s->uuid, ostr);
			snprintf(why, wl, "belongs to another array ('%s', uuid %s), not '%s' (uuid %s)", s->name, ostr,
				 ref->name, ustr);
		} else if (!same_geometry(s, ref)) {
			snprintf(why, wl, "geometry (level/chunk/size/members) differs from the newest superblock");
		} else if (s->events < ref->events && !(s->events + 1 == ref->events && !(ref->failed & (1u << s->role)))) {
			/* One behind and not marked failed: it only missed the superblock write a crash
			 * interrupted (they go out one at a time, to every healthy member). Further
			 * behind, it missed updates while it was failed or absent. */
			snprintf(why, wl,
				 "stale: event counter %" PRIu64 " but the array is at %" PRIu64
				 " (it missed updates while failed or absent; re-add it to rebuild)",
				 s->events, ref->events);
		} else if (ref->failed & (1u << s->role)) {
			snprintf(why, wl, "marked failed (role %u) in the newest superblock", s->role);
		} else if (out->by_role[s->role] >= 0 && sbs[out->by_role[s->role]].events >= s->events) {
			snprintf(why, wl, "role %u is already taken by %s", s->role, names[out->by_role[s->role]]);
		} else {
			int other = out->by_role[s->role];
			if (other >= 0) { /* the newer superblock takes the role */
				out->refused[other] = true;
				out->good--;
				snprintf(out->reason[other], sizeof(out->reason[other]),
					 "role %u is taken by %s, whose superblock is newer", s->role, names[i]);
			}
			out->refused[i] = false;
			out->by_role[s->role] = (int)i;
			out->good++;
		}
	}
	uint32_t missing = 0;
	for (unsigned r = 0; r < ref->nmembers; r++)
		if (out->by_role[r] < 0)
			missing |= 1u << r;
	const struct raid_level_ops *lv = raid_level_find(ref->level);
	struct raid_geom g = {.n = ref->nmembers, .chunk = ref->chunk_bytes / ref->block_size};
	lv->geom_init(&g);
	if (!lv->survives(&g, missing)) {
		int off = snprintf(msg, msglen, "array '%s' (%s, %u members) cannot start: only %u usable member(s)",
				   ref->name, lv->name, ref->nmembers, out->good);
		for (unsigned i = 0; i < n && off > 0 && (size_t)off < msglen; i++)
			if (out->refused[i])
				off += snprintf(msg + off, msglen - (size_t)off, "; %s: %s", names[i], out->reason[i]);
		return -EINVAL;
	}
	return 0;
}

/* ---- superblock writes on the owner ---- */
void raid_sb_fill(const struct raid_array *a, unsigned role, struct raid_sb_info *out)
{
	memset(out, 0, sizeof(*out));
	out->version = RAID_SB_VERSION;
	memcpy(out->uuid, a->uuid, 16);
	snprintf(out->name, sizeof(out->name), "%s", a->name);
	out->level = a->ops->level;
	out->layout = a->ops->nparity ? RAID_LAYOUT_LEFT_SYMMETRIC : (a->ops->level == 10 ? RAID_LAYOUT_NEAR2 : 0);
	out->block_size = a->dev.info.block_size;
	out->chunk_bytes = a->g.chunk * out->block_size;
	out->nmembers = a->g.n;
	out->role = role;
	out->data_offset = a->data_offset * out->block_size;
	out->data_size = a->g.member_blocks * out->block_size;
	out->events = atomic_load(&a->events);
	out->ctime_s = a->ctime_s;
	out->utime_s = (uint64_t)time(NULL);
	out->dirty = a->sb_dirty;
	out->failed = a->sb_failed;
	uint32_t bs = out->block_size;
	out->region_bytes = a->region_blocks * bs;
	out->bitmap_offset = a->region_blocks ? a->bm_offset * bs : 0;
	out->bitmap_slot_bytes = (uint32_t)(a->region_blocks ? a->bm_slot_blocks * bs : 0);
	out->journal_offset = a->j_nslots ? a->j_offset * bs : 0;
	out->journal_slot_bytes = (uint32_t)(a->j_nslots ? a->j_slot_blocks * bs : 0);
	out->journal_bytes = a->j_nslots * a->j_slot_blocks * bs;
	out->rebuilding = atomic_load(&a->rebuilding) & ~a->sb_failed;
	out->recovery_offset = out->rebuilding ? a->rebuild_ckpt * bs : 0;
	memcpy(out->role_jseq, a->role_jseq, sizeof(out->role_jseq));
}

struct sb_write {
	struct raid_opref ref;
	struct raid_array *a;
	void (*done)(struct raid_array *a, int status);
	unsigned outstanding, ok;
	uint32_t failed;
	uint8_t *buf[RAID_MAX_MEMBERS];
	size_t len;
};

static void sbw_release(struct raid_opref *r)
{
	struct sb_write *w = container_of(r, struct sb_write, ref);
	for (unsigned i = 0; i < RAID_MAX_MEMBERS; i++)
		if (w->buf[i])
			buf_put(w->buf[i], w->len);
	free(w);
}

static void sbw_finish(struct sb_write *w)
{
	struct raid_array *a = w->a;
	a->internal--; /* done() may stop (and free) the array */
	if (a->dead) {
		raid_array_maybe_free(a);
	} else {
		if (w->ok > 0)
			atomic_store(&a->committed, w->failed);
		w->done(a, w->ok > 0 ? 0 : -EIO);
	}
	raid_opref_put(&w->ref);
}

static void sbw_done(struct raid_sub *s, int status)
{
	struct sb_write *w = s->ctx;
	if (status == 0)
		w->ok++;
	if (--w->outstanding == 0)
		sbw_finish(w);
}

void raid_sb_write_all(struct raid_array *a, void (*done)(struct raid_array *a, int status))
{
	reactor_assert_on(a->owner);
	struct sb_write *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		done(a, -ENOMEM);
		return;
	}
	uint32_t bs = a->dev.info.block_size;
	raid_internal_get(a);
	w->ref.refs = 1;
	w->ref.release = sbw_release;
	w->a = a;
	w->done = done;
	w->failed = atomic_load(&a->failed);
	w->len = MAX(RAID_SB_SIZE, bs);
	a->sb_failed = w->failed;
	a->sb_write_events = atomic_fetch_add(&a->events, 1) + 1;
	w->outstanding = 1;
	for (unsigned m = 0; m < a->g.n; m++) {
		if (w->failed & (1u << m) || a->m[m].dev == NULL)
			continue;
		w->buf[m] = buf_get(w->len);
		struct raid_sub *s = w->buf[m] ? raid_sub_new(a, m, BLK_OP_WRITE, 0, (uint32_t)(w->len / bs), 1, sbw_done,
							       w, &w->ref)
					       : NULL;
		if (s == NULL)
			continue;
		struct raid_sb_info info;
		raid_sb_fill(a, m, &info);
		memset(w->buf[m], 0, w->len);
		raid_sb_encode(&info, w->buf[m]);
		raid_sub_set_raw_lba(s, 0);
		s->iov[0].iov_base = w->buf[m];
		s->iov[0].iov_len = w->len;
		s->io.iovcnt = 1;
		s->io.flags = BLK_F_FUA;
		w->outstanding++;
		raid_sub_submit(s);
	}
	if (--w->outstanding == 0)
		sbw_finish(w);
}

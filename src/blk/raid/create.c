/* create.c - raid_create (zero the members, write superblocks and an empty bitmap) and the boot I/O shared with assembly. */
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


void raid_boot_free(struct boot *b)
{
	for (unsigned i = 0; i < RAID_MAX_MEMBERS; i++) {
		if (b->buf[i])
			buf_put(b->buf[i], b->buflen);
		if (b->bmbuf[i])
			buf_put(b->bmbuf[i], b->bmlen);
	}
	free(b);
}

void raid_boot_report(void *arg)
{
	struct boot *b = arg;
	if (b->status != 0) {
		if (b->a)
			raid_array_destroy(&b->a->dev); /* members go too only with RAID_F_OWN_MEMBERS */
		b->cb(b->arg, b->status, NULL, b->msg);
	} else {
		b->a->flags |= b->flags & RAID_F_OWN_MEMBERS;
		raid_array_start(b->a);
		b->cb(b->arg, 0, &b->a->dev, b->msg);
	}
	raid_boot_free(b);
}

void raid_boot_fail(struct boot *b, unsigned i, int status, const char *what)
{
	if (b->status != 0)
		return;
	b->status = status;
	snprintf(b->msg, sizeof(b->msg), "member %u (%s): %s failed: %s", i, b->devs[i]->name, what,
		 blk_strerror(status));
}

void raid_boot_io_done(struct blk_io *io, int status);

void raid_boot_submit(struct boot *b, unsigned i, enum blk_op op, uint64_t lba, uint32_t nblocks, uint8_t *buf,
			size_t len, uint32_t flags)
{
	b->iov[i].iov_base = buf;
	b->iov[i].iov_len = len;
	blk_io_prep(&b->io[i], b->devs[i], op, lba, nblocks, buf ? &b->iov[i] : NULL, buf ? 1 : 0, raid_boot_io_done, b);
	b->io[i].flags = flags;
	b->outstanding++;
	int rc = blk_submit(b->devs[i], &b->io[i]);
	if (rc != 0) {
		b->outstanding--;
		raid_boot_fail(b, i, rc, op == BLK_OP_READ ? "reading the superblock" : "writing");
	}
}

void raid_boot_phase_end(struct boot *b)
{
	if (b->outstanding > 0)
		return;
	if (b->status != 0 || b->next == NULL)
		reactor_defer(&b->defer, raid_boot_report, b);
	else
		b->next(b);
}

#define ZERO_STEP (1u << 22) /* blocks per write-zeroes request */

static void zero_step(struct boot *b, unsigned i)
{
	uint64_t left = b->zero_end - b->zero_next[i];
	if (left == 0 || b->status != 0)
		return;
	uint32_t n = (uint32_t)MIN(left, ZERO_STEP);
	raid_boot_submit(b, i, BLK_OP_WRITE_ZEROES, b->zero_next[i], n, NULL, 0, 0);
	b->zero_next[i] += n;
}

void raid_boot_io_done(struct blk_io *io, int status)
{
	struct boot *b = io->cb_arg;
	unsigned i = (unsigned)(io - b->io);
	b->outstanding--;
	if (status != 0 && b->soft_reads) { /* a failed bitmap read only loses that copy */
		buf_put(b->bmbuf[i], b->bmlen);
		b->bmbuf[i] = NULL;
		b->readd[i] = false;
	} else if (status != 0)
		raid_boot_fail(b, i, status,
			  io->op == BLK_OP_READ ? "reading the superblock"
			  : io->op == BLK_OP_WRITE_ZEROES ? "zeroing the data region" : "writing the superblock");
	else if (io->op == BLK_OP_WRITE_ZEROES)
		zero_step(b, i);
	raid_boot_phase_end(b);
}

static void create_write_bm(struct boot *b)
{
	struct raid_array *a = b->a;
	b->next = NULL;
	uint32_t bs = a->dev.info.block_size;
	b->bmlen = a->bm_slot_blocks * bs;
	size_t nb = (raid_bitmap_nregions(a) + 7) / 8;
	uint8_t *zero = calloc(1, nb);
	struct raid_bm_header h = {.seq = 0, .events_cleared = 1, .region_bytes = a->region_blocks * bs,
				   .nregions = (uint32_t)raid_bitmap_nregions(a)};
	for (unsigned i = 0; i < b->n && zero; i++) {
		if ((b->bmbuf[i] = buf_get(b->bmlen)) == NULL)
			break;
		raid_bitmap_encode(a, &h, zero, b->bmbuf[i]);
		raid_boot_submit(b, i, BLK_OP_WRITE, a->bm_offset, (uint32_t)a->bm_slot_blocks, b->bmbuf[i], b->bmlen,
			    BLK_F_FUA);
	}
	if (zero == NULL)
		raid_boot_fail(b, 0, -ENOMEM, "writing the bitmap");
	free(zero);
	raid_boot_phase_end(b);
}

static void create_write_sb(struct boot *b)
{
	struct raid_array *a = b->a;
	b->next = a->region_blocks ? create_write_bm : NULL;
	uint32_t bs = a->dev.info.block_size;
	a->sb_dirty = false;
	a->sb_failed = 0;
	atomic_store(&a->events, 1);
	for (unsigned i = 0; i < b->n; i++) {
		struct raid_sb_info info;
		raid_sb_fill(a, i, &info);
		memset(b->buf[i], 0, b->buflen);
		raid_sb_encode(&info, b->buf[i]);
		raid_boot_submit(b, i, BLK_OP_WRITE, 0, (uint32_t)(b->buflen / bs), b->buf[i], b->buflen, BLK_F_FUA);
	}
	raid_boot_phase_end(b);
}

int raid_boot_alloc_bufs(struct boot *b, uint32_t bs)
{
	b->buflen = MAX(RAID_SB_SIZE, bs);
	for (unsigned i = 0; i < b->n; i++)
		if ((b->buf[i] = buf_get(b->buflen)) == NULL)
			return -ENOMEM;
	return 0;
}


int raid_create(const struct raid_create_opts *o, raid_done_cb cb, void *arg, char *err, size_t errlen)
{
	if (o == NULL || cb == NULL || err == NULL)
		return -EINVAL;
	if (reactor_self() == NULL)
		return ERR("raid_create must run on a reactor");
	const struct raid_level_ops *lv = raid_level_find(o->level);
	if (lv == NULL)
		return ERR("RAID level %u is not supported (0, 1, 5, 6, 10)", o->level);
	if (o->name == NULL || o->name[0] == 0 || strlen(o->name) > 31)
		return ERR("array name must be 1..31 characters");
	for (const char *p = o->name; *p; p++)
		if (*p <= ' ' || *p > '~')
			return ERR("array name must be printable ASCII without spaces");
	if (o->nmembers < lv->min_members || o->nmembers > RAID_MAX_MEMBERS || o->members == NULL)
		return ERR("%s needs %u..%u members, got %u", lv->name, lv->min_members, RAID_MAX_MEMBERS, o->nmembers);
	uint32_t bs = 0;
	uint64_t smallest = UINT64_MAX;
	for (unsigned i = 0; i < o->nmembers; i++) {
		struct blk_dev *d = o->members[i];
		if (d == NULL)
			return ERR("member %u is missing", i);
		for (unsigned j = 0; j < i; j++)
			if (o->members[j] == d)
				return ERR("member %u (%s) is listed twice", i, d->name);
		if (d->info.read_only)
			return ERR("member %u (%s) is read-only", i, d->name);
		if (bs == 0)
			bs = d->info.block_size;
		else if (d->info.block_size != bs)
			return ERR("member %u (%s) has %u-byte blocks, member 0 has %u", i, d->name, d->info.block_size, bs);
		smallest = MIN(smallest, d->info.num_blocks * d->info.block_size);
	}
	uint64_t chunk = (uint64_t)(o->chunk_kib ? o->chunk_kib : RAID_DEFAULT_CHUNK_KIB) * 1024;
	if (chunk < bs || (chunk & (chunk - 1)) || chunk > (64u << 20))
		return ERR("chunk size must be a power of two between the block size and 64 MiB");
	uint64_t doff = (uint64_t)(o->data_offset_kib ? o->data_offset_kib : RAID_DEFAULT_DATA_OFFSET_KIB) * 1024;
	if (doff % bs || doff < MAX(RAID_SB_SIZE, bs))
		return ERR("data offset must be a block multiple past the 4 KiB superblock");
	uint64_t msize = o->member_size_bytes ? o->member_size_bytes : smallest;
	if (msize > smallest)
		return ERR("member size %" PRIu64 " exceeds the smallest member (%" PRIu64 " bytes)", msize, smallest);
	if (msize < doff + chunk)
		return ERR("members are too small: need at least %" PRIu64 " bytes (data offset + one chunk)", doff + chunk);
	uint64_t member_blocks = (msize - doff) / bs;

	struct boot *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->cb = cb;
	b->arg = arg;
	b->n = o->nmembers;
	memcpy(b->devs, o->members, sizeof(struct blk_dev *) * o->nmembers);
	b->a = raid_array_new(lv, o->name, o->nmembers, bs, (uint32_t)(chunk / bs), member_blocks, doff / bs, o->flags,
			 o->deadline_ms, o->clean_delay_ms);
	if (b->a == NULL || raid_boot_alloc_bufs(b, bs) != 0) {
		if (b->a)
			raid_array_destroy(&b->a->dev);
		raid_boot_free(b);
		return -ENOMEM;
	}
	struct raid_array *a = b->a;
	int lrc = raid_array_layout(a, o->flags, o->region_kib, err, errlen);
	if (lrc != 0 || raid_array_meta_alloc(a) != 0) {
		raid_array_destroy(&a->dev);
		raid_boot_free(b);
		return lrc ? lrc : -ENOMEM;
	}
	b->flags = o->flags;
	a->flags = o->flags & ~(RAID_F_OWN_MEMBERS | RAID_F_ASSUME_CLEAN); /* a failed create leaves the members to the caller */
	raid_array_set_members(a, b->devs);
	if (getrandom(a->uuid, sizeof(a->uuid), 0) != (ssize_t)sizeof(a->uuid))
		for (unsigned i = 0; i < 16; i++)
			a->uuid[i] = (uint8_t)(now_ns() >> (i % 8 * 8)) ^ (uint8_t)i;
	a->ctime_s = (uint64_t)time(NULL);
	log_notice(LOGC_RAID, a->tag, "creating %s: %u members, chunk %" PRIu64 " KiB, %" PRIu64 " blocks of %u bytes",
		   lv->name, o->nmembers, chunk / 1024, a->dev.info.num_blocks, bs);
	b->next = create_write_sb;
	if (lv->redundant && !(o->flags & RAID_F_ASSUME_CLEAN)) {
		b->zero_end = a->data_offset + a->g.member_blocks;
		for (unsigned i = 0; i < b->n; i++) {
			b->zero_next[i] = a->data_offset;
			zero_step(b, i);
		}
		if (b->outstanding == 0) /* every submit refused */
			reactor_defer(&b->defer, raid_boot_report, b);
	} else {
		create_write_sb(b);
	}
	return 0;
}

/* bitmap.c - write-intent bitmap: one bit per member region, durable before a write to the region, cleared lazily when idle and flushed. */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk/raid/raid_internal.h"
#include "core/bufpool.h"
#include "core/crc32c.h"
#include "core/log.h"
#include "core/util.h"

/*
 * Every member holds two copies (A and B) of the bitmap right after the
 * superblock; a write goes to copy seq & 1, so a torn write leaves the
 * other copy intact, and a reader takes the valid copy with the highest
 * seq. docs/raid.md has the format.
 *
 * In memory each region has one atomic word: the number of writes in
 * flight to it (low 31 bits) and RS_DISK, "the bit is durable on every
 * member". A writer (any reactor) adds itself with one fetch_add and
 * learns from the old value whether the bit is durable; if not, it
 * queues on the owner, which writes the bitmap and dispatches it after.
 * The owner clears a region with one compare-and-swap from exactly
 * RS_DISK (no writer in flight) to 0, so a writer and a clear can never
 * both win. Clearing happens only after a flush of every member that
 * started after the region's last write completed (rlast), and never
 * while a member is failed, missing or rebuilding (a returning member
 * needs the bits) or while a resync still needs them.
 */

#define RS_DISK 0x80000000u
#define BM_MAGIC "SHBABMAP"
#define BM_VERSION 1u

struct bm_hdr_disk {
	uint8_t magic[8];
	uint32_t version;
	uint32_t hdr_size;
	uint8_t uuid[16];
	uint64_t seq;
	uint64_t events_cleared;
	uint64_t region_bytes;
	uint32_t nregions;
	uint32_t reserved;
};
_Static_assert(sizeof(struct bm_hdr_disk) == 64, "bitmap header must be 64 bytes");
_Static_assert(offsetof(struct bm_hdr_disk, nregions) == 56, "bitmap header layout");

struct raid_bitmap {
	uint64_t nregions;
	_Atomic uint32_t *rs;
	_Atomic uint64_t *rlast;     /* ns of the last completed write */
	uint8_t *want, *inflight;    /* owner: bits for the next write / the write in flight */
	bool any_want;
	uint64_t seq, events_cleared;
	bool busy;
	uint64_t flush_start;
	struct raid_req *wait_head, *wait_tail;
	unsigned outstanding, ok;    /* the write (or flush) in flight */
	size_t buflen;
};

/* One bitmap write: its buffer lives until the last member answers (late ones too). */
struct bm_wr {
	struct raid_opref ref;
	uint8_t *buf;
	size_t len;
};

uint64_t raid_bitmap_nregions(const struct raid_array *a)
{
	return a->region_blocks ? (a->g.member_blocks + a->region_blocks - 1) / a->region_blocks : 0;
}

static uint64_t slot_bytes_for(uint64_t nregions, uint32_t bs)
{
	return ALIGN_UP(sizeof(struct bm_hdr_disk) + (nregions + 7) / 8 + 4, MAX(4096u, bs));
}

int raid_bitmap_layout(struct raid_array *a, uint64_t region_bytes, char *err, size_t errlen)
{
	uint32_t bs = a->dev.info.block_size;
	uint64_t rb = region_bytes;
	if (rb == 0 || (rb & (rb - 1)) || rb < (uint64_t)a->g.chunk * bs) {
		snprintf(err, errlen, "bitmap region must be a power of two >= the chunk size");
		return -EINVAL;
	}
	uint64_t off = MAX(RAID_SB_SIZE, bs);
	for (;; rb *= 2) {
		uint64_t nreg = (a->g.member_blocks * bs + rb - 1) / rb;
		uint64_t slot = slot_bytes_for(nreg, bs);
		if (off + 2 * slot <= a->data_offset * bs && slot <= (1u << 20)) {
			a->region_blocks = rb / bs;
			a->bm_offset = off / bs;
			a->bm_slot_blocks = slot / bs;
			return 0;
		}
		if (rb > (1ull << 50)) {
			snprintf(err, errlen, "the data offset leaves no room for the write-intent bitmap");
			return -EINVAL;
		}
	}
}

int raid_bitmap_new(struct raid_array *a)
{
	if (a->region_blocks == 0)
		return 0;
	struct raid_bitmap *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->nregions = raid_bitmap_nregions(a);
	b->rs = calloc(b->nregions, sizeof(*b->rs));
	b->rlast = calloc(b->nregions, sizeof(*b->rlast));
	b->want = calloc(b->nregions, 1);
	b->inflight = calloc(b->nregions, 1);
	b->buflen = a->bm_slot_blocks * a->dev.info.block_size;
	a->bm = b;
	if (!b->rs || !b->rlast || !b->want || !b->inflight) {
		raid_bitmap_free(a);
		return -ENOMEM;
	}
	return 0;
}

void raid_bitmap_free(struct raid_array *a)
{
	struct raid_bitmap *b = a->bm;
	if (b == NULL)
		return;
	free(b->rs);
	free(b->rlast);
	free(b->want);
	free(b->inflight);
	free(b);
	a->bm = NULL;
}

/* ---- on-disk copy ---- */
void raid_bitmap_encode(const struct raid_array *a, const struct raid_bm_header *h, const uint8_t *bits, void *buf)
{
	size_t len = a->bm_slot_blocks * a->dev.info.block_size;
	memset(buf, 0, len);
	struct bm_hdr_disk d = {0};
	memcpy(d.magic, BM_MAGIC, 8);
	d.version = htole32(BM_VERSION);
	d.hdr_size = htole32(sizeof(d));
	memcpy(d.uuid, a->uuid, 16);
	d.seq = htole64(h->seq);
	d.events_cleared = htole64(h->events_cleared);
	d.region_bytes = htole64(h->region_bytes);
	d.nregions = htole32(h->nregions);
	memcpy(buf, &d, sizeof(d));
	memcpy((uint8_t *)buf + sizeof(d), bits, (h->nregions + 7) / 8);
	uint32_t crc = htole32(crc32c(buf, len - 4));
	memcpy((uint8_t *)buf + len - 4, &crc, 4);
}

int raid_bitmap_decode(const void *buf, size_t len, const uint8_t *uuid, struct raid_bm_header *h, uint8_t *bits,
		       size_t bitslen)
{
	struct bm_hdr_disk d;
	if (len < sizeof(d) + 4)
		return -EINVAL;
	memcpy(&d, buf, sizeof(d));
	if (memcmp(d.magic, BM_MAGIC, 8) != 0)
		return -ENOENT;
	uint32_t crc;
	memcpy(&crc, (const uint8_t *)buf + len - 4, 4);
	if (le32toh(crc) != crc32c(buf, len - 4))
		return -EBADMSG;
	if (le32toh(d.version) != BM_VERSION || le32toh(d.hdr_size) != sizeof(d) || memcmp(d.uuid, uuid, 16) != 0)
		return -EPROTO;
	h->seq = le64toh(d.seq);
	h->events_cleared = le64toh(d.events_cleared);
	h->region_bytes = le64toh(d.region_bytes);
	h->nregions = le32toh(d.nregions);
	size_t nb = (h->nregions + 7) / 8;
	if (nb > bitslen || sizeof(d) + nb + 4 > len)
		return -EPROTO;
	memcpy(bits, (const uint8_t *)buf + sizeof(d), nb);
	return 0;
}

void raid_bitmap_load(struct raid_array *a, const uint8_t *bits, const struct raid_bm_header *h)
{
	struct raid_bitmap *b = a->bm;
	if (b == NULL)
		return;
	uint64_t n = 0;
	for (uint64_t r = 0; r < b->nregions; r++) {
		bool set = bits == NULL || (bits[r / 8] >> (r % 8) & 1);
		atomic_store(&b->rs[r], set ? RS_DISK : 0);
		n += set;
	}
	b->seq = h ? h->seq : 0;
	b->events_cleared = h ? h->events_cleared : 0;
	if (bits == NULL)
		log_warn(LOGC_RAID, a->tag, "no valid write-intent bitmap on any member: every region counts as dirty");
	else if (n)
		log_notice(LOGC_RAID, a->tag, "write-intent bitmap: %llu of %llu regions dirty", (unsigned long long)n,
			   (unsigned long long)b->nregions);
}

bool raid_bitmap_region_dirty(struct raid_array *a, uint64_t region)
{
	if (a->bm == NULL)
		return true;
	if (region >= a->bm->nregions)
		return false;
	return (atomic_load(&a->bm->rs[region]) & RS_DISK) != 0;
}

uint64_t raid_bitmap_dirty_count(struct raid_array *a)
{
	uint64_t n = 0;
	if (a->bm)
		for (uint64_t r = 0; r < a->bm->nregions; r++)
			n += (atomic_load_explicit(&a->bm->rs[r], memory_order_relaxed) & RS_DISK) != 0;
	return n;
}

uint64_t raid_bitmap_events_cleared(struct raid_array *a)
{
	return a->bm ? a->bm->events_cleared : 0;
}

/* ---- writer side ---- */
bool raid_bitmap_enter(struct raid_req *req)
{
	struct raid_array *a = req->a;
	if (a->bm == NULL || req->io->nblocks == 0)
		return true;
	uint64_t lo, hi;
	raid_member_span(a, req->io->lba, req->io->nblocks, &lo, &hi);
	req->r0 = lo / a->region_blocks;
	req->r1 = MIN((hi - 1) / a->region_blocks, a->bm->nregions - 1);
	req->bm_held = true;
	bool durable = true;
	for (uint64_t r = req->r0; r <= req->r1; r++)
		if (!(atomic_fetch_add_explicit(&a->bm->rs[r], 1, memory_order_acq_rel) & RS_DISK))
			durable = false;
	return durable;
}

void raid_bitmap_leave(struct raid_req *req)
{
	struct raid_array *a = req->a;
	if (!req->bm_held)
		return;
	req->bm_held = false;
	uint64_t t = now_ns();
	for (uint64_t r = req->r0; r <= req->r1; r++) {
		atomic_store_explicit(&a->bm->rlast[r], t, memory_order_relaxed);
		atomic_fetch_sub_explicit(&a->bm->rs[r], 1, memory_order_release);
	}
}

static bool req_durable(struct raid_array *a, struct raid_req *req)
{
	for (uint64_t r = req->r0; r <= req->r1; r++)
		if (!(atomic_load(&a->bm->rs[r]) & RS_DISK))
			return false;
	return true;
}

static void bm_kick(struct raid_array *a);

static void release_waiters(struct raid_array *a, int status)
{
	struct raid_bitmap *b = a->bm;
	struct raid_req **pp = &b->wait_head, *last = NULL;
	while (*pp) {
		struct raid_req *req = *pp;
		if (status == 0 && !req_durable(a, req)) {
			last = req;
			pp = &req->next;
			continue;
		}
		*pp = req->next;
		if (status != 0) {
			req->pending = 1;
			raid_req_piece_done(req, status);
		} else {
			raid_req_dispatch(req);
		}
	}
	b->wait_tail = last;
}

void raid_bitmap_wait(void *arg)
{
	struct raid_req *req = arg;
	struct raid_array *a = req->a;
	struct raid_bitmap *b = a->bm;
	reactor_assert_on(a->owner);
	if (req_durable(a, req)) {
		raid_req_dispatch(req);
		return;
	}
	for (uint64_t r = req->r0; r <= req->r1; r++)
		if (!(atomic_load(&b->rs[r]) & RS_DISK)) {
			b->want[r] = 1;
			b->any_want = true;
		}
	req->next = NULL;
	if (b->wait_tail)
		b->wait_tail->next = req;
	else
		b->wait_head = req;
	b->wait_tail = req;
	bm_kick(a);
}

/* ---- the bitmap write: the current bits to every writable member ---- */
static void bm_written(struct raid_array *a, int status)
{
	struct raid_bitmap *b = a->bm;
	b->busy = false;
	if (a->dead)
		return;
	for (uint64_t r = 0; r < b->nregions; r++) {
		if (!b->inflight[r])
			continue;
		b->inflight[r] = 0;
		if (status == 0) {
			atomic_fetch_or(&b->rs[r], RS_DISK);
		} else {
			b->want[r] = 1;
			b->any_want = true;
		}
	}
	if (status != 0) { /* no member took it: the array is offline (or out of memory) */
		release_waiters(a, raid_offline(a) ? -EIO : status);
		return;
	}
	release_waiters(a, 0);
	if (b->any_want)
		bm_kick(a);
}

static void bmw_release(struct raid_opref *r)
{
	struct bm_wr *w = container_of(r, struct bm_wr, ref);
	buf_put(w->buf, w->len);
	free(w);
}

static void bmw_done(struct raid_sub *s, int status)
{
	struct raid_array *a = s->a;
	struct raid_bitmap *b = a->bm;
	if (status == 0)
		b->ok++;
	if (--b->outstanding == 0) {
		bm_written(a, b->ok > 0 ? 0 : -EIO);
		raid_internal_put(a);
	}
}

static void bm_write(struct raid_array *a)
{
	struct raid_bitmap *b = a->bm;
	uint32_t bs = a->dev.info.block_size;
	size_t nb = (b->nregions + 7) / 8;
	struct bm_wr *w = calloc(1, sizeof(*w));
	uint8_t *bits = calloc(1, nb);
	if (w == NULL || bits == NULL || (w->buf = buf_get(b->buflen)) == NULL) {
		free(w);
		free(bits);
		b->busy = true;
		bm_written(a, -ENOMEM);
		return;
	}
	w->len = b->buflen;
	w->ref.refs = 1;
	w->ref.release = bmw_release;
	for (uint64_t r = 0; r < b->nregions; r++) {
		if (b->want[r]) {
			b->inflight[r] = 1;
			b->want[r] = 0;
		}
		if (b->inflight[r] || (atomic_load(&b->rs[r]) & RS_DISK))
			bits[r / 8] |= (uint8_t)(1u << (r % 8));
	}
	b->any_want = false;
	b->seq++;
	struct raid_bm_header h = {.seq = b->seq, .events_cleared = b->events_cleared,
				   .region_bytes = a->region_blocks * bs, .nregions = (uint32_t)b->nregions};
	raid_bitmap_encode(a, &h, bits, w->buf);
	free(bits);
	b->busy = true;
	b->ok = 0;
	b->outstanding = 1;
	raid_internal_get(a);
	for (unsigned m = 0; m < a->g.n; m++) {
		if (a->m[m].dev == NULL || !raid_member_ok(a, m))
			continue;
		struct raid_sub *s = raid_sub_new(a, m, BLK_OP_WRITE, 0, (uint32_t)a->bm_slot_blocks, 1, bmw_done, NULL,
						  &w->ref);
		if (s == NULL)
			continue;
		raid_sub_set_raw_lba(s, a->bm_offset + (b->seq & 1) * a->bm_slot_blocks);
		s->iov[0].iov_base = w->buf;
		s->iov[0].iov_len = w->len;
		s->io.iovcnt = 1;
		s->io.flags = BLK_F_FUA;
		s->shadow_copy = true; /* a replacement gets the bitmap too */
		b->outstanding++;
		raid_sub_submit(s);
	}
	raid_opref_put(&w->ref);
	if (--b->outstanding == 0) {
		bm_written(a, b->ok > 0 ? 0 : -EIO);
		raid_internal_put(a);
	}
}

static void bm_kick(struct raid_array *a)
{
	struct raid_bitmap *b = a->bm;
	if (b->busy || a->dead)
		return;
	if (raid_offline(a)) {
		release_waiters(a, -EIO);
		return;
	}
	if (b->any_want)
		bm_write(a);
}

/* ---- lazy clearing ---- */
static bool may_clear(struct raid_array *a)
{
	return raid_unavailable(a) == 0 && a->sync == NULL && !a->needs_resync && !raid_offline(a);
}

static void clear_flushed(struct raid_sub *s, int status)
{
	(void)status;
	struct raid_array *a = s->a;
	struct raid_bitmap *b = a->bm;
	if (--b->outstanding > 0)
		return;
	b->busy = false;
	bool need_write = b->any_want;
	if (!a->dead && may_clear(a)) {
		uint64_t cleared = 0;
		for (uint64_t r = 0; r < b->nregions; r++) {
			uint32_t expect = RS_DISK;
			if (b->want[r] || b->inflight[r])
				continue;
			if (atomic_load(&b->rlast[r]) + a->clean_delay_ns > b->flush_start)
				continue;
			if (!atomic_compare_exchange_strong(&b->rs[r], &expect, 0))
				continue;
			if (atomic_load(&b->rlast[r]) >= b->flush_start) { /* written after the flush began */
				atomic_fetch_or(&b->rs[r], RS_DISK);
				continue;
			}
			cleared++;
		}
		if (cleared) {
			b->events_cleared = atomic_load(&a->events);
			log_debug(LOGC_RAID, a->tag, "bitmap: %llu idle regions cleared", (unsigned long long)cleared);
			need_write = true;
		}
	}
	if (!a->dead && need_write)
		bm_write(a);
	raid_internal_put(a);
}

void raid_bitmap_tick(struct raid_array *a)
{
	struct raid_bitmap *b = a->bm;
	if (b == NULL || b->busy || !may_clear(a))
		return;
	uint64_t now = now_ns(), delay = a->clean_delay_ns;
	bool any = false;
	for (uint64_t r = 0; r < b->nregions && !any; r++)
		any = atomic_load(&b->rs[r]) == RS_DISK && atomic_load(&b->rlast[r]) + delay <= now && !b->want[r];
	if (!any)
		return;
	/* flush every member: whatever completed before flush_start is durable after it */
	b->busy = true;
	b->flush_start = now_ns();
	b->outstanding = 1;
	raid_internal_get(a);
	for (unsigned m = 0; m < a->g.n; m++) {
		if (a->m[m].dev == NULL || !raid_member_ok(a, m))
			continue;
		struct raid_sub *s = raid_sub_new(a, m, BLK_OP_FLUSH, 0, 0, 0, clear_flushed, NULL, NULL);
		if (s == NULL)
			continue;
		s->io.lba = 0;
		b->outstanding++;
		raid_sub_submit(s);
	}
	struct raid_sub fake = {.a = a};
	clear_flushed(&fake, 0);
}

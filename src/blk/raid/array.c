/* array.c - array lifetime: create (zero + superblocks), assemble from superblocks, dirty/clean marks, failure records, stop, state. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "blk/raid/raid_internal.h"
#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"

/*
 * Superblock state machine, owner reactor only:
 *   CLEAN --first write--> MARKING (dirty superblocks written) --> DIRTY
 *   DIRTY --idle for clean_delay, no write in flight--> CLEANING
 *         (flush members, clean superblocks written) --> CLEAN
 * Writes that find the array not DIRTY wait in dirty_waiters. A member
 * failure bumps the event counter and rewrites the superblocks of the
 * healthy members; writes that completed while a failure was not yet
 * recorded wait in commit_waiters (raid.c). One superblock write runs at
 * a time; requests arriving meanwhile set sb_again.
 */

static void sb_kick(struct raid_array *a);

static void release_dirty_waiters(struct raid_array *a, int status)
{
	struct raid_req *list = a->dirty_waiters, *rev = NULL;
	a->dirty_waiters = NULL;
	while (list) { /* queued LIFO: restore arrival order */
		struct raid_req *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev) {
		struct raid_req *req = rev;
		rev = rev->next;
		if (status != 0) {
			raid_req_complete_now(req, status);
			continue;
		}
		atomic_fetch_add_explicit(&a->writes_inflight, 1, memory_order_seq_cst);
		req->write = true;
		raid_req_dispatch(req);
	}
}

static void release_commit_waiters(struct raid_array *a)
{
	if (!raid_offline(a) && atomic_load(&a->committed) != atomic_load(&a->failed))
		return;
	while (a->commit_waiters) {
		struct raid_req *req = a->commit_waiters;
		a->commit_waiters = req->next;
		raid_req_complete_now(req, 0);
	}
}

static void sb_written(struct raid_array *a, int status)
{
	a->sb_busy = false;
	int st = atomic_load(&a->sb_state);
	if (st == RAID_SB_MARKING) {
		atomic_store(&a->sb_state, status == 0 || !raid_offline(a) ? RAID_SB_DIRTY : RAID_SB_CLEAN);
		release_dirty_waiters(a, raid_offline(a) ? -EIO : 0);
	} else if (st == RAID_SB_CLEANING) {
		atomic_store(&a->sb_state, RAID_SB_CLEAN);
		log_debug(LOGC_RAID, a->tag, "marked clean (events %" PRIu64 ")", atomic_load(&a->events));
	}
	release_commit_waiters(a);
	if (a->stopping && a->stop_cb && atomic_load(&a->sb_state) == RAID_SB_CLEAN) {
		void (*cb)(void *, int) = a->stop_cb;
		void *arg = a->stop_arg;
		a->stop_cb = NULL;
		raid_array_destroy(&a->dev);
		cb(arg, status);
		return;
	}
	if (a->sb_again || a->dirty_waiters || atomic_load(&a->committed) != atomic_load(&a->failed)) {
		a->sb_again = false;
		sb_kick(a);
	}
}

static void sb_kick(struct raid_array *a)
{
	reactor_assert_on(a->owner);
	if (a->sb_busy) {
		a->sb_again = true;
		return;
	}
	if (raid_offline(a)) {
		release_dirty_waiters(a, -EIO);
		release_commit_waiters(a);
		return;
	}
	int st = atomic_load(&a->sb_state);
	if (a->dirty_waiters && st == RAID_SB_DIRTY) {
		release_dirty_waiters(a, 0);
	} else if (a->dirty_waiters && st == RAID_SB_CLEAN) {
		atomic_store(&a->sb_state, RAID_SB_MARKING);
		a->sb_dirty = true;
		a->sb_busy = true;
		raid_sb_write_all(a, sb_written);
		return;
	}
	if (atomic_load(&a->committed) != atomic_load(&a->failed)) {
		a->sb_busy = true;
		raid_sb_write_all(a, sb_written);
	}
}

void raid_array_want_dirty(void *arg)
{
	struct raid_req *req = arg;
	struct raid_array *a = req->a;
	req->next = a->dirty_waiters;
	a->dirty_waiters = req;
	sb_kick(a);
}

void raid_array_wait_commit(void *arg)
{
	struct raid_req *req = arg;
	struct raid_array *a = req->a;
	req->next = a->commit_waiters;
	a->commit_waiters = req;
	release_commit_waiters(a);
	sb_kick(a);
}

void raid_array_failure_changed(void *arg)
{
	struct raid_array *a = arg;
	sb_kick(a);
	atomic_fetch_sub(&a->reqs_inflight, 1);
}

/* ---- clean marking: flush every healthy member, then write clean superblocks ---- */
struct clean_flush {
	struct raid_array *a;
	unsigned outstanding;
};

static void clean_flushed(struct raid_sub *s, int status)
{
	(void)status; /* a member failing its flush is failed; the superblock write records it */
	struct clean_flush *cf = s->ctx;
	if (--cf->outstanding > 0)
		return;
	struct raid_array *a = cf->a;
	free(cf);
	a->sb_dirty = a->needs_resync;
	raid_sb_write_all(a, sb_written);
}

static void clean_start(struct raid_array *a)
{
	struct clean_flush *cf = calloc(1, sizeof(*cf));
	if (cf == NULL) {
		atomic_store(&a->sb_state, RAID_SB_DIRTY);
		return;
	}
	a->sb_busy = true;
	cf->a = a;
	cf->outstanding = 1;
	for (unsigned m = 0; m < a->g.n; m++) {
		if (!raid_member_ok(a, m) || a->m[m].dev == NULL)
			continue;
		struct raid_sub *s = raid_sub_new(a, m, BLK_OP_FLUSH, 0, 0, 0, clean_flushed, cf, NULL);
		if (s == NULL)
			continue;
		s->io.lba = 0;
		cf->outstanding++;
		raid_sub_submit(s);
	}
	if (--cf->outstanding == 0) {
		free(cf);
		a->sb_dirty = a->needs_resync;
		raid_sb_write_all(a, sb_written);
	}
}

/* Try DIRTY -> CLEANING; the seq_cst pair with raid_write_gate() (raid.c). */
static bool try_begin_clean(struct raid_array *a)
{
	if (a->sb_busy || atomic_load(&a->sb_state) != RAID_SB_DIRTY || raid_offline(a))
		return false;
	if (atomic_load_explicit(&a->writes_inflight, memory_order_seq_cst) != 0)
		return false;
	atomic_store_explicit(&a->sb_state, RAID_SB_CLEANING, memory_order_seq_cst);
	if (atomic_load_explicit(&a->writes_inflight, memory_order_seq_cst) != 0) {
		atomic_store_explicit(&a->sb_state, RAID_SB_DIRTY, memory_order_seq_cst);
		return false;
	}
	return true;
}

static void idle_tick(struct reactor_timer *t)
{
	struct raid_array *a = t->arg;
	uint64_t idle = now_ns() - atomic_load(&a->last_write_ns);
	if (idle >= a->clean_delay_ns && try_begin_clean(a))
		clean_start(a);
	reactor_timer_start(&a->idle_timer, a->clean_delay_ns / 2 + 1000000);
}

/* ---- stop / destroy ---- */
static void stop_poll(struct reactor_timer *t)
{
	struct raid_array *a = t->arg;
	int st = atomic_load(&a->sb_state);
	if (atomic_load(&a->reqs_inflight) != 0 || a->sb_busy || st == RAID_SB_MARKING || st == RAID_SB_CLEANING) {
		reactor_timer_start(&a->stop_timer, 1000000);
		return;
	}
	if (raid_offline(a) || st == RAID_SB_CLEAN) {
		void (*cb)(void *, int) = a->stop_cb;
		void *arg = a->stop_arg;
		int status = raid_offline(a) ? -EIO : 0;
		a->stop_cb = NULL;
		raid_array_destroy(&a->dev);
		cb(arg, status);
		return;
	}
	atomic_store(&a->sb_state, RAID_SB_CLEANING);
	clean_start(a); /* sb_written() finishes the stop */
}

int raid_stop(struct blk_dev *dev, void (*cb)(void *arg, int status), void *arg)
{
	if (dev == NULL || dev->ops != &raid_blk_ops || cb == NULL)
		return -EINVAL;
	struct raid_array *a = dev->ctx;
	if (reactor_self() != a->owner)
		return -EINVAL;
	if (a->stopping)
		return -EALREADY;
	a->stopping = true;
	a->stop_cb = cb;
	a->stop_arg = arg;
	reactor_timer_cancel(&a->idle_timer);
	reactor_timer_init(&a->stop_timer, stop_poll, a);
	reactor_timer_start(&a->stop_timer, 0);
	return 0;
}

void raid_array_destroy(struct blk_dev *dev)
{
	struct raid_array *a = dev->ctx;
	reactor_timer_cancel(&a->idle_timer);
	reactor_timer_cancel(&a->stop_timer);
	raid_stripe_table_free(a);
	if (a->flags & RAID_F_OWN_MEMBERS)
		for (unsigned m = 0; m < a->g.n; m++)
			blk_destroy(a->m[m].dev);
	free(a);
}

/* ---- construction ---- */
static struct raid_array *array_new(const struct raid_level_ops *lv, const char *name, unsigned n, uint32_t bs,
				    uint32_t chunk_blocks, uint64_t member_blocks, uint64_t data_offset_blocks,
				    uint32_t flags, uint32_t deadline_ms, uint32_t clean_delay_ms)
{
	struct raid_array *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->ops = lv;
	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->tag, sizeof(a->tag), "array=%s", a->name);
	a->g.n = n;
	a->g.chunk = chunk_blocks;
	a->g.member_blocks = member_blocks / chunk_blocks * chunk_blocks;
	lv->geom_init(&a->g);
	a->data_offset = data_offset_blocks;
	a->flags = flags;
	a->deadline_ns = (uint64_t)(deadline_ms ? deadline_ms : 30000) * 1000000u;
	a->clean_delay_ns = (uint64_t)(clean_delay_ms ? clean_delay_ms : 2000) * 1000000u;
	a->owner = reactor_self();
	a->dev.ops = &raid_blk_ops;
	a->dev.ctx = a;
	snprintf(a->dev.name, sizeof(a->dev.name), "%s", a->name);
	a->dev.info.block_size = bs;
	a->dev.info.num_blocks = lv->capacity(&a->g);
	if (lv->striped)
		a->dev.info.opt_xfer_blocks = chunk_blocks * a->g.ndata;
	a->dev.info.unmap_zeroes = true;
	a->dev.info.supports_unmap = lv->nparity == 0;
	if (lv->owner_path && raid_stripe_table_new(a) != 0) {
		free(a);
		return NULL;
	}
	reactor_timer_init(&a->idle_timer, idle_tick, a);
	reactor_timer_init(&a->stop_timer, stop_poll, a);
	return a;
}

static void array_set_members(struct raid_array *a, struct blk_dev **by_role)
{
	for (unsigned r = 0; r < a->g.n; r++) {
		struct blk_dev *d = by_role[r];
		a->m[r].dev = d;
		snprintf(a->m[r].name, sizeof(a->m[r].name), "%s", d ? d->name : "(missing)");
		if (d == NULL)
			continue;
		a->dev.info.volatile_cache |= d->info.volatile_cache;
		a->dev.info.rotational |= d->info.rotational;
		if (a->ops->nparity == 0) {
			a->dev.info.supports_unmap = a->dev.info.supports_unmap && d->info.supports_unmap;
			a->dev.info.unmap_zeroes = a->dev.info.unmap_zeroes && d->info.unmap_zeroes;
		}
	}
}

static void array_start(struct raid_array *a)
{
	atomic_store(&a->last_write_ns, now_ns());
	reactor_timer_start(&a->idle_timer, a->clean_delay_ns / 2 + 1000000);
}

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
	uint32_t flags;
	struct reactor_defer defer;
	void (*next)(struct boot *b);
};

static void boot_free(struct boot *b)
{
	for (unsigned i = 0; i < RAID_MAX_MEMBERS; i++)
		if (b->buf[i])
			buf_put(b->buf[i], b->buflen);
	free(b);
}

static void boot_report(void *arg)
{
	struct boot *b = arg;
	if (b->status != 0) {
		if (b->a)
			raid_array_destroy(&b->a->dev); /* members go too only with RAID_F_OWN_MEMBERS */
		b->cb(b->arg, b->status, NULL, b->msg);
	} else {
		b->a->flags |= b->flags & RAID_F_OWN_MEMBERS;
		array_start(b->a);
		b->cb(b->arg, 0, &b->a->dev, b->msg);
	}
	boot_free(b);
}

static void boot_fail(struct boot *b, unsigned i, int status, const char *what)
{
	if (b->status != 0)
		return;
	b->status = status;
	snprintf(b->msg, sizeof(b->msg), "member %u (%s): %s failed: %s", i, b->devs[i]->name, what,
		 blk_strerror(status));
}

static void boot_io_done(struct blk_io *io, int status);

static void boot_submit(struct boot *b, unsigned i, enum blk_op op, uint64_t lba, uint32_t nblocks, uint8_t *buf,
			size_t len, uint32_t flags)
{
	b->iov[i].iov_base = buf;
	b->iov[i].iov_len = len;
	blk_io_prep(&b->io[i], b->devs[i], op, lba, nblocks, buf ? &b->iov[i] : NULL, buf ? 1 : 0, boot_io_done, b);
	b->io[i].flags = flags;
	b->outstanding++;
	int rc = blk_submit(b->devs[i], &b->io[i]);
	if (rc != 0) {
		b->outstanding--;
		boot_fail(b, i, rc, op == BLK_OP_READ ? "reading the superblock" : "writing");
	}
}

static void boot_phase_end(struct boot *b)
{
	if (b->outstanding > 0)
		return;
	if (b->status != 0 || b->next == NULL)
		reactor_defer(&b->defer, boot_report, b);
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
	boot_submit(b, i, BLK_OP_WRITE_ZEROES, b->zero_next[i], n, NULL, 0, 0);
	b->zero_next[i] += n;
}

static void boot_io_done(struct blk_io *io, int status)
{
	struct boot *b = io->cb_arg;
	unsigned i = (unsigned)(io - b->io);
	b->outstanding--;
	if (status != 0)
		boot_fail(b, i, status,
			  io->op == BLK_OP_READ ? "reading the superblock"
			  : io->op == BLK_OP_WRITE_ZEROES ? "zeroing the data region" : "writing the superblock");
	else if (io->op == BLK_OP_WRITE_ZEROES)
		zero_step(b, i);
	boot_phase_end(b);
}

static void create_write_sb(struct boot *b)
{
	struct raid_array *a = b->a;
	b->next = NULL;
	uint32_t bs = a->dev.info.block_size;
	a->sb_dirty = false;
	a->sb_failed = 0;
	atomic_store(&a->events, 1);
	for (unsigned i = 0; i < b->n; i++) {
		struct raid_sb_info info;
		raid_sb_fill(a, i, &info);
		memset(b->buf[i], 0, b->buflen);
		raid_sb_encode(&info, b->buf[i]);
		boot_submit(b, i, BLK_OP_WRITE, 0, (uint32_t)(b->buflen / bs), b->buf[i], b->buflen, BLK_F_FUA);
	}
	boot_phase_end(b);
}

static int boot_alloc_bufs(struct boot *b, uint32_t bs)
{
	b->buflen = MAX(RAID_SB_SIZE, bs);
	for (unsigned i = 0; i < b->n; i++)
		if ((b->buf[i] = buf_get(b->buflen)) == NULL)
			return -ENOMEM;
	return 0;
}

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

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
	b->a = array_new(lv, o->name, o->nmembers, bs, (uint32_t)(chunk / bs), member_blocks, doff / bs, o->flags,
			 o->deadline_ms, o->clean_delay_ms);
	if (b->a == NULL || boot_alloc_bufs(b, bs) != 0) {
		if (b->a)
			raid_array_destroy(&b->a->dev);
		boot_free(b);
		return -ENOMEM;
	}
	struct raid_array *a = b->a;
	b->flags = o->flags;
	a->flags = o->flags & ~(RAID_F_OWN_MEMBERS | RAID_F_ASSUME_CLEAN); /* a failed create leaves the members to the caller */
	array_set_members(a, b->devs);
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
			reactor_defer(&b->defer, boot_report, b);
	} else {
		create_write_sb(b);
	}
	return 0;
}

/* ---- assembly ---- */
static void assemble_decide(struct boot *b)
{
	const char *names[RAID_MAX_MEMBERS];
	for (unsigned i = 0; i < b->n; i++) {
		names[i] = b->devs[i]->name;
		if (b->as.refused[i])
			continue;
		char e[160];
		int rc = raid_sb_decode(b->buf[i], &b->sbs[i], e, sizeof(e));
		struct blk_dev *d = b->devs[i];
		if (rc == 0 && d->info.block_size != b->sbs[i].block_size)
			rc = -EPROTO, snprintf(e, sizeof(e), "its block size %u differs from the array's %u",
						d->info.block_size, b->sbs[i].block_size);
		else if (rc == 0 && d->info.num_blocks * d->info.block_size < b->sbs[i].data_offset + b->sbs[i].data_size)
			rc = -EPROTO, snprintf(e, sizeof(e), "it is smaller than the array needs (%" PRIu64 " bytes)",
						b->sbs[i].data_offset + b->sbs[i].data_size);
		if (rc != 0) {
			b->as.refused[i] = true;
			snprintf(b->as.reason[i], sizeof(b->as.reason[i]), "%s", e);
		}
	}
	int rc = raid_sb_select(b->sbs, names, b->n, &b->as, b->msg, sizeof(b->msg));
	for (unsigned i = 0; i < b->n; i++)
		if (b->as.refused[i])
			log_err(LOGC_RAID, NULL, "assembly refuses member %s: %s", names[i], b->as.reason[i]);
	if (rc != 0) {
		log_err(LOGC_RAID, NULL, "%s", b->msg);
		if (b->flags & RAID_F_OWN_MEMBERS)
			for (unsigned i = 0; i < b->n; i++)
				blk_destroy(b->devs[i]);
		b->status = rc;
		reactor_defer(&b->defer, boot_report, b);
		return;
	}
	const struct raid_sb_info *ref = &b->as.ref;
	const struct raid_level_ops *lv = raid_level_find(ref->level);
	uint32_t bs = ref->block_size;
	struct raid_array *a = array_new(lv, ref->name, ref->nmembers, bs, ref->chunk_bytes / bs, ref->data_size / bs,
					 ref->data_offset / bs, b->flags & ~RAID_F_OWN_MEMBERS, 0, 0);
	if (a == NULL) {
		b->status = -ENOMEM;
		snprintf(b->msg, sizeof(b->msg), "out of memory assembling '%s'", ref->name);
		reactor_defer(&b->defer, boot_report, b);
		return;
	}
	b->a = a;
	struct blk_dev *by_role[RAID_MAX_MEMBERS] = {0};
	uint32_t missing = 0;
	for (unsigned r = 0; r < ref->nmembers; r++) {
		if (b->as.by_role[r] >= 0)
			by_role[r] = b->devs[b->as.by_role[r]];
		else
			missing |= 1u << r;
	}
	array_set_members(a, by_role);
	memcpy(a->uuid, ref->uuid, 16);
	a->ctime_s = ref->ctime_s;
	atomic_store(&a->events, ref->events);
	atomic_store(&a->failed, missing | ref->failed);
	atomic_store(&a->committed, ref->failed);
	a->sb_failed = ref->failed;
	a->needs_resync = ref->dirty && lv->redundant;
	a->sb_dirty = a->needs_resync;
	if (b->flags & RAID_F_OWN_MEMBERS)
		for (unsigned i = 0; i < b->n; i++)
			if (b->as.refused[i])
				blk_destroy(b->devs[i]);
	int off = snprintf(b->msg, sizeof(b->msg), "assembled '%s' (%s) from %u of %u members%s", a->name, lv->name,
			   b->as.good, ref->nmembers, missing ? ", degraded" : "");
	for (unsigned i = 0; i < b->n && off > 0 && (size_t)off < sizeof(b->msg); i++)
		if (b->as.refused[i])
			off += snprintf(b->msg + off, sizeof(b->msg) - (size_t)off, "; refused %s: %s", names[i],
					b->as.reason[i]);
	log_notice(LOGC_RAID, a->tag, "%s", b->msg);
	if (a->needs_resync)
		log_warn(LOGC_RAID, a->tag,
			 "the array was not stopped cleanly: stripes written at the crash may have stale parity/mirrors; "
			 "it stays marked dirty until a resync (not available in this version)");
	if (atomic_load(&a->failed) != atomic_load(&a->committed))
		sb_kick(a); /* record the members that did not come back */
	reactor_defer(&b->defer, boot_report, b);
}

int raid_assemble(const struct raid_assemble_opts *o, raid_done_cb cb, void *arg, char *err, size_t errlen)
{
	if (o == NULL || cb == NULL || err == NULL)
		return -EINVAL;
	if (reactor_self() == NULL)
		return ERR("raid_assemble must run on a reactor");
	if (o->nmembers == 0 || o->nmembers > RAID_MAX_MEMBERS || o->members == NULL)
		return ERR("assembly needs 1..%u members, got %u", RAID_MAX_MEMBERS, o->nmembers);
	uint32_t maxbs = 0;
	for (unsigned i = 0; i < o->nmembers; i++) {
		if (o->members[i] == NULL)
			return ERR("member %u is missing", i);
		maxbs = MAX(maxbs, o->members[i]->info.block_size);
	}
	struct boot *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->cb = cb;
	b->arg = arg;
	b->n = o->nmembers;
	b->flags = o->flags;
	memcpy(b->devs, o->members, sizeof(struct blk_dev *) * o->nmembers);
	if (boot_alloc_bufs(b, maxbs) != 0) {
		boot_free(b);
		return -ENOMEM;
	}
	b->next = assemble_decide;
	for (unsigned i = 0; i < b->n; i++) {
		struct blk_dev *d = b->devs[i];
		uint32_t bs = d->info.block_size;
		size_t len = MAX(RAID_SB_SIZE, bs);
		b->iov[i].iov_base = b->buf[i];
		b->iov[i].iov_len = len;
		blk_io_prep(&b->io[i], d, BLK_OP_READ, 0, (uint32_t)(len / bs), &b->iov[i], 1, boot_io_done, b);
		b->outstanding++;
		int rc = blk_submit(d, &b->io[i]);
		if (rc != 0) {
			b->outstanding--;
			b->as.refused[i] = true;
			snprintf(b->as.reason[i], sizeof(b->as.reason[i]), "cannot read its superblock: %s",
				 blk_strerror(rc));
		}
	}
	if (b->outstanding == 0)
		assemble_decide(b);
	return 0;
}

/* ---- state ---- */
int raid_get_info(struct blk_dev *dev, struct raid_info *out)
{
	if (dev == NULL || out == NULL || dev->ops != &raid_blk_ops)
		return -EINVAL;
	struct raid_array *a = dev->ctx;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", a->name);
	memcpy(out->uuid, a->uuid, 16);
	out->level = a->ops->level;
	out->chunk_kib = a->g.chunk * dev->info.block_size / 1024;
	out->nmembers = a->g.n;
	uint32_t failed = atomic_load(&a->failed);
	out->state = raid_offline(a) ? RAID_ARRAY_OFFLINE : failed ? RAID_ARRAY_DEGRADED : RAID_ARRAY_OPTIMAL;
	out->events = atomic_load(&a->events);
	out->dirty = atomic_load(&a->sb_state) != RAID_SB_CLEAN || a->needs_resync;
	out->num_blocks = dev->info.num_blocks;
	out->block_size = dev->info.block_size;
	for (unsigned r = 0; r < a->g.n; r++) {
		snprintf(out->members[r].name, sizeof(out->members[r].name), "%s", a->m[r].dev ? a->m[r].name : "");
		out->members[r].state = a->m[r].dev == NULL      ? RAID_MEMBER_MISSING
					: (failed & (1u << r)) ? RAID_MEMBER_FAILED
							       : RAID_MEMBER_ACTIVE;
	}
	return 0;
}

int raid_fail_member(struct blk_dev *dev, unsigned role)
{
	if (dev == NULL || dev->ops != &raid_blk_ops)
		return -EINVAL;
	struct raid_array *a = dev->ctx;
	if (role >= a->g.n)
		return -EINVAL;
	if (!raid_member_ok(a, role))
		return -EALREADY;
	raid_member_failed(a, role, -ECANCELED);
	return 0;
}

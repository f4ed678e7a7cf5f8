/* test_raid_crash.c - crash at every write: members drop every write after the N-th, the array is reassembled, data must read old or new and parity/mirrors agree. */
#include "../blk/blk_harness.h"

#include <limits.h>
#include <stdatomic.h>

#include "blk/raid/raid.h"
#include "raid_test_util.h"

/*
 * The "cut" device forwards to a RAM member until a budget shared by all
 * members is spent; from then on every write, flush, unmap is dropped
 * (completed with success, never applied): the machine died at that
 * instant and nothing after it reached a disk. Reads still see the
 * surviving contents. For N = 1, 2, ... the same partial-stripe batch runs
 * with the budget N; then the array is reassembled from the members
 * (journal replay / resync) and checked.
 */

static atomic_long g_budget;

struct cut_io {
	struct blk_io child;
	struct blk_io *parent;
	struct reactor_defer d;
};

static void cut_child_done(struct blk_io *io, int status)
{
	struct cut_io *c = io->cb_arg;
	struct blk_io *p = c->parent;
	free(c);
	p->cb(p, status);
}

static void cut_drop_done(void *arg)
{
	struct cut_io *c = arg;
	struct blk_io *p = c->parent;
	free(c);
	p->cb(p, 0);
}

static int cut_submit(struct blk_dev *dev, struct blk_io *io)
{
	struct blk_dev *base = dev->ctx;
	struct cut_io *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->parent = io;
	if (io->op != BLK_OP_READ && atomic_fetch_sub(&g_budget, 1) <= 0) {
		reactor_defer(&c->d, cut_drop_done, c);
		return 0;
	}
	c->child = *io;
	c->child.dev = base;
	c->child.cb = cut_child_done;
	c->child.cb_arg = c;
	int rc = blk_submit(base, &c->child);
	if (rc != 0)
		free(c);
	return rc;
}

static void cut_destroy(struct blk_dev *dev)
{
	free(dev);
}

static const struct blk_ops cut_ops = {.name = "cut", .submit = cut_submit, .destroy = cut_destroy};

#define CUT_MEMBER (2u << 20)

static void cut_members(struct tarr *t, unsigned n)
{
	memset(t, 0, sizeof(*t));
	t->n = n;
	for (unsigned m = 0; m < n; m++) {
		char name[32];
		snprintf(name, sizeof(name), "base%u", m);
		assert_int_equal(blk_malloc_create(name, CUT_MEMBER, BS, &t->base[m]), 0);
		struct blk_dev *d = calloc(1, sizeof(*d));
		d->ops = &cut_ops;
		d->ctx = t->base[m];
		d->info = t->base[m]->info;
		snprintf(d->name, sizeof(d->name), "m%u", m);
		t->err[m] = d;
	}
}

struct batch_w {
	uint64_t lba;
	uint32_t n;
};

/* Non-overlapping writes: partial stripes (one column, two columns, across a stripe edge) and a full stripe. */
static unsigned make_batch(struct tarr *t, struct batch_w *w)
{
	uint32_t sw = t->stripe_blocks, c = CHUNK_BLOCKS;
	unsigned k = 0;
	w[k++] = (struct batch_w){1 * sw + 3, 5};                /* inside one chunk */
	w[k++] = (struct batch_w){3 * sw + c - 4, 12};           /* across a chunk edge */
	w[k++] = (struct batch_w){5 * sw + sw - 6, 14};          /* across a stripe edge */
	w[k++] = (struct batch_w){8 * sw, sw};                   /* a full stripe */
	w[k++] = (struct batch_w){10 * sw + 1, sw - 2};          /* nearly full: one read per column */
	w[k++] = (struct batch_w){12 * sw + 2 * c, 1};           /* one block */
	return k;
}

struct outcome {
	bool violated;
	char why[200];
	long writes_used;
};

/* One run: create, fill, (degrade), cut at n, crash, reassemble, check. */
static void crash_run(unsigned level, unsigned nmem, int victim, long cut, uint32_t flags, struct outcome *out)
{
	struct tarr t;
	cut_members(&t, nmem);
	t.create_flags = flags;
	atomic_store(&g_budget, LONG_MAX);
	tarr_create_on(&t, level, "c", 0);
	t.member_blocks = (CUT_MEMBER - DOFF_KIB * 1024u) / BS;
	uint64_t s = 77;
	/* old contents everywhere */
	uint8_t *buf = malloc((size_t)t.stripe_blocks * 4 * BS);
	for (uint64_t lba = 0; lba < t.blocks; lba += t.stripe_blocks * 4) {
		uint32_t n = (uint32_t)MIN(t.stripe_blocks * 4ull, t.blocks - lba);
		h_fill(buf, (size_t)n * BS, lba + 1);
		write_split(&t, lba, n, buf, &s);
	}
	free(buf);
	bool bad = false;
	if (victim >= 0) {
		assert_int_equal(raid_fail_member(t.dev, (unsigned)victim), 0);
		uint8_t one[BS] = {1};
		struct iovec iov = {one, BS};
		assert_int_equal(h_io(t.dev, BLK_OP_WRITE, 0, 1, &iov, 1, &bad), 0); /* waits for the record */
		memcpy(t.model, one, BS);
	}
	uint8_t *old = malloc(t.blocks * BS), *neu = malloc(t.blocks * BS);
	memcpy(old, t.model, t.blocks * BS);
	memcpy(neu, t.model, t.blocks * BS);
	struct batch_w w[8];
	unsigned k = make_batch(&t, w);
	struct blk_io ios[8];
	struct iovec iov[8];
	uint8_t *data = malloc((size_t)t.stripe_blocks * 8 * BS);
	size_t off = 0;
	for (unsigned i = 0; i < k; i++) {
		iov[i] = (struct iovec){data + off, (size_t)w[i].n * BS};
		h_fill(iov[i].iov_base, iov[i].iov_len, 1000 + i + (uint64_t)cut * 7);
		memcpy(neu + w[i].lba * BS, iov[i].iov_base, iov[i].iov_len);
		blk_io_prep(&ios[i], t.dev, BLK_OP_WRITE, w[i].lba, w[i].n, &iov[i], 1, NULL, NULL);
		off += iov[i].iov_len;
	}
	atomic_store(&g_budget, cut);
	assert_int_equal(h_batch_run(ios, (int)k), 0);
	out->writes_used = cut - atomic_load(&g_budget);
	tarr_crash(&t);
	atomic_store(&g_budget, LONG_MAX);
	free(t.model);
	t.model = NULL;
	/* the machine comes back: every member but the failed one */
	struct blk_dev *devs[RAID_MAX_MEMBERS];
	unsigned nd = 0;
	for (unsigned m = 0; m < nmem; m++)
		if ((int)m != victim)
			devs[nd++] = t.err[m];
	struct blk_dev *dev;
	char msg[1024];
	int rc = assemble(devs, nd, &dev, msg, sizeof(msg));
	if (rc != 0)
		fail_msg("reassembly after the crash failed: %s", msg);
	struct raid_info info;
	wait_sync(dev, &info);
	uint8_t *got = malloc(t.blocks * BS);
	for (uint64_t lba = 0; lba < t.blocks; lba += 512) {
		uint32_t n = (uint32_t)MIN(512, t.blocks - lba);
		struct iovec r = {got + lba * BS, (size_t)n * BS};
		assert_int_equal(h_io(dev, BLK_OP_READ, lba, n, &r, 1, &bad), 0);
	}
	out->violated = false;
	for (uint64_t b = 0; b < t.blocks && !out->violated; b++) {
		const uint8_t *g = got + b * BS;
		if (memcmp(g, old + b * BS, BS) != 0 && memcmp(g, neu + b * BS, BS) != 0) {
			out->violated = true;
			snprintf(out->why, sizeof(out->why), "block %llu reads neither old nor new data",
				 (unsigned long long)b);
		}
	}
	if (!out->violated && victim < 0) {
		assert_int_equal(h_scrub(dev, RAID_SYNC_CHECK), 0);
		wait_sync(dev, &info);
		if (info.scrub_mismatches != 0) {
			out->violated = true;
			snprintf(out->why, sizeof(out->why), "%llu parity/mirror mismatches after recovery",
				 (unsigned long long)info.scrub_mismatches);
		}
	}
	assert_false(bad);
	free(got);
	free(old);
	free(neu);
	free(data);
	t.dev = dev;
	tarr_close(&t);
	tarr_free_members(&t);
}

static void crash_every_step(unsigned level, unsigned nmem, int victim)
{
	long total = 0;
	for (long cut = 1;; cut++) {
		struct outcome o;
		crash_run(level, nmem, victim, cut, 0, &o);
		if (o.violated)
			fail_msg("raid%u n=%u degraded=%d: crash after write %ld: %s", level, nmem, victim, cut, o.why);
		total++;
		if (o.writes_used < cut) /* the batch finished within the budget: every step was cut */
			break;
		assert_true(cut < 400);
	}
	print_message("raid%u n=%u victim=%d: %ld crash points checked\n", level, nmem, victim, total);
}

static void test_crash_raid5(void **state)
{
	(void)state;
	crash_every_step(5, 4, -1);
	crash_every_step(5, 4, 1);
}

static void test_crash_raid6(void **state)
{
	(void)state;
	crash_every_step(6, 5, -1);
	crash_every_step(6, 5, 3);
}

static void test_crash_mirrors(void **state)
{
	(void)state;
	crash_every_step(1, 2, -1);
	crash_every_step(10, 4, -1);
}

static int ctl_spare_rate(struct blk_dev *dev, struct blk_dev *spare, uint64_t rate)
{
	struct ctl_call k = {.dev = dev, .rate = rate, .which = 3};
	if (h_ctl(&k) != 0)
		return k.rc;
	k = (struct ctl_call){.dev = dev, .other = spare, .which = 1};
	return h_ctl(&k);
}

/* A crash while a spare is being rebuilt (and writes go on): the rebuild resumes, every block reads old or new. */
static void test_crash_during_rebuild(void **state)
{
	(void)state;
	long cuts[28];
	for (size_t ci = 0; ci < 26; ci++)
		cuts[ci] = (long)ci + 1;
	cuts[26] = 40;
	cuts[27] = 80;
	for (size_t ci = 0; ci < ARRAY_SIZE(cuts); ci++) {
		struct tarr t;
		cut_members(&t, 5); /* 4 members + the spare (index 4) */
		t.n = 4;
		atomic_store(&g_budget, LONG_MAX);
		tarr_create_on(&t, 5, "c", 0);
		t.member_blocks = (CUT_MEMBER - DOFF_KIB * 1024u) / BS;
		random_writes(&t, 30, 3 + ci);
		assert_int_equal(ctl_spare_rate(t.dev, t.err[4], 4u << 20), 0);
		assert_int_equal(raid_fail_member(t.dev, 1), 0);
		struct raid_info info;
		for (int i = 0; i < 400; i++) {
			assert_int_equal(raid_get_info(t.dev, &info), 0);
			if (info.sync.kind == RAID_SYNC_REBUILD && info.sync.percent >= 20)
				break;
			usleep(2000);
		}
		assert_int_equal(info.sync.kind, RAID_SYNC_REBUILD);
		uint8_t *old = malloc(t.blocks * BS), *neu = malloc(t.blocks * BS);
		memcpy(old, t.model, t.blocks * BS);
		memcpy(neu, t.model, t.blocks * BS);
		struct batch_w w[8];
		unsigned k = make_batch(&t, w);
		struct blk_io ios[8];
		struct iovec iov[8];
		uint8_t *data = malloc((size_t)t.stripe_blocks * 8 * BS);
		size_t off = 0;
		for (unsigned i = 0; i < k; i++) {
			iov[i] = (struct iovec){data + off, (size_t)w[i].n * BS};
			h_fill(iov[i].iov_base, iov[i].iov_len, 77 + i);
			memcpy(neu + w[i].lba * BS, iov[i].iov_base, iov[i].iov_len);
			blk_io_prep(&ios[i], t.dev, BLK_OP_WRITE, w[i].lba, w[i].n, &iov[i], 1, NULL, NULL);
			off += iov[i].iov_len;
		}
		atomic_store(&g_budget, cuts[ci]);
		assert_int_equal(h_batch_run(ios, (int)k), 0);
		tarr_crash(&t);
		atomic_store(&g_budget, LONG_MAX);
		struct blk_dev *devs[5] = {t.err[0], t.err[1], t.err[2], t.err[3], t.err[4]};
		struct blk_dev *dev;
		char msg[1024];
		if (assemble(devs, 5, &dev, msg, sizeof(msg)) != 0)
			fail_msg("reassembly after a crash during the rebuild failed: %s", msg);
		wait_sync(dev, &info);
		assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
		assert_string_equal(info.members[1].name, "m4");
		uint8_t *got = malloc(t.blocks * BS);
		bool bad = false;
		for (uint64_t lba = 0; lba < t.blocks; lba += 512) {
			uint32_t n = (uint32_t)MIN(512, t.blocks - lba);
			struct iovec r = {got + lba * BS, (size_t)n * BS};
			assert_int_equal(h_io(dev, BLK_OP_READ, lba, n, &r, 1, &bad), 0);
		}
		for (uint64_t b = 0; b < t.blocks; b++)
			if (memcmp(got + b * BS, old + b * BS, BS) != 0 && memcmp(got + b * BS, neu + b * BS, BS) != 0)
				fail_msg("cut %ld: block %llu reads neither old nor new data", cuts[ci], (unsigned long long)b);
		assert_int_equal(h_scrub(dev, RAID_SYNC_CHECK), 0);
		wait_sync(dev, &info);
		assert_int_equal(info.scrub_mismatches, 0);
		/* the rebuilt spare is right: read everything without member 0 */
		assert_int_equal(raid_fail_member(dev, 0), 0);
		for (uint64_t lba = 0; lba < t.blocks; lba += 512) {
			uint32_t n = (uint32_t)MIN(512, t.blocks - lba);
			uint8_t *chk = malloc((size_t)n * BS);
			struct iovec r = {chk, (size_t)n * BS};
			assert_int_equal(h_io(dev, BLK_OP_READ, lba, n, &r, 1, &bad), 0);
			assert_memory_equal(chk, got + lba * BS, (size_t)n * BS);
			free(chk);
		}
		free(got);
		free(old);
		free(neu);
		free(data);
		free(t.model);
		t.model = NULL;
		t.dev = dev;
		tarr_close(&t);
		t.n = 5;
		tarr_free_members(&t);
	}
}

/* The same crash without the journal, degraded: the write hole shows (the test can fail). */
static void test_without_journal_hole_shows(void **state)
{
	(void)state;
	bool seen = false;
	for (long cut = 1; cut < 400 && !seen; cut++) {
		struct outcome o;
		crash_run(5, 4, 1, cut, RAID_F_NO_JOURNAL, &o);
		seen = o.violated;
		if (o.writes_used < cut)
			break;
	}
	assert_true(seen);
}

static int setup(void **state)
{
	(void)state;
	return h_start(1);
}

static int teardown(void **state)
{
	(void)state;
	h_stop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_raid5),
		cmocka_unit_test(test_crash_raid6),
		cmocka_unit_test(test_crash_mirrors),
		cmocka_unit_test(test_crash_during_rebuild),
		cmocka_unit_test(test_without_journal_hole_shows),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_raid_rebuild.c - hot spares take over failed members, rebuild under load with a rate limit and progress, a window of units under concurrent writes, resume from the checkpoint, replace, scrub stop. */
#include "../blk/blk_harness.h"

#include "blk/raid/raid.h"
#include "blk/raid/raid_internal.h"
#include "blk/raid/sync.h"
#include "raid_test_util.h"

struct spare {
	struct blk_dev *base, *dev;
};

static void spare_new(struct spare *s, const char *name)
{
	char b[32];
	snprintf(b, sizeof(b), "%s-base", name);
	assert_int_equal(blk_malloc_create(b, MEMBER_BYTES, BS, &s->base), 0);
	assert_int_equal(blk_error_create(name, s->base, &s->dev), 0);
}

static void spare_free(struct spare *s)
{
	blk_destroy(s->dev);
	blk_destroy(s->base);
}

static int add_spare(struct blk_dev *array, struct blk_dev *spare)
{
	struct ctl_call k = {.dev = array, .other = spare, .which = 1};
	return h_ctl(&k);
}

static int set_rate(struct blk_dev *array, uint64_t rate)
{
	struct ctl_call k = {.dev = array, .rate = rate, .which = 3};
	return h_ctl(&k);
}

/* Fail `victims` while writing; the spares take over; every byte is right, also through the spares. */
static void takeover_case(unsigned level, unsigned n, uint32_t victims, bool global)
{
	struct tarr t;
	tarr_create(&t, level, n, 0);
	random_writes(&t, 30, level * 10 + n);
	struct spare sp[2];
	unsigned ns = (unsigned)__builtin_popcount(victims);
	for (unsigned i = 0; i < ns; i++) {
		spare_new(&sp[i], i ? "spare1" : "spare0");
		assert_int_equal(add_spare(global ? NULL : t.dev, sp[i].dev), 0);
	}
	assert_int_equal(add_spare(t.dev, t.err[0]), -EINVAL); /* a member is no spare */
	for (unsigned m = 0; m < n; m++)
		if (victims & (1u << m)) {
			blk_error_set_gone(t.err[m], true);
			random_writes(&t, 10, 100 + m);
		}
	struct raid_info info;
	for (int i = 0; i < 200; i++) { /* the takeover follows the failure record */
		wait_sync(t.dev, &info);
		if (info.state == RAID_ARRAY_OPTIMAL)
			break;
		usleep(5000);
	}
	assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
	assert_int_equal(info.sync.last_kind, RAID_SYNC_REBUILD);
	assert_int_equal(info.sync.last_status, 0);
	for (unsigned m = 0; m < n; m++)
		if (victims & (1u << m))
			assert_non_null(strstr(info.members[m].name, "spare"));
	verify_all(&t);
	/* the spares hold the right data: fail other members and read through them */
	uint32_t others = 0;
	for (unsigned m = 0; m < n && (unsigned)__builtin_popcount(others) < ns; m++)
		if (!(victims & (1u << m)) && (level != 10 || (m ^ 1) != (unsigned)__builtin_ctz(victims)))
			others |= 1u << m;
	if (level == 1 || level == 10)
		others = (level == 1) ? ((1u << n) - 1) & ~victims : others;
	for (unsigned m = 0; m < n; m++)
		if (others & (1u << m))
			assert_int_equal(raid_fail_member(t.dev, m), 0);
	verify_all(&t);
	tarr_close(&t);
	tarr_free_members(&t);
	for (unsigned i = 0; i < ns; i++)
		spare_free(&sp[i]);
}

static void test_spares(void **state)
{
	(void)state;
	takeover_case(1, 2, 0x1, false);
	takeover_case(10, 4, 0x4, true);
	takeover_case(5, 4, 0x2, false);
	takeover_case(5, 3, 0x4, true);
	takeover_case(6, 5, 0x9, false);
	assert_int_equal(raid_global_spares(), 0);
}

/* Rate-limited rebuild with writes going on: progress, rate and ETA move; the result is right. */
static void test_rate_and_progress(void **state)
{
	(void)state;
	struct tarr t;
	tarr_create(&t, 5, 4, 0);
	random_writes(&t, 20, 1);
	struct spare sp;
	spare_new(&sp, "spare0");
	assert_int_equal(set_rate(t.dev, 2u << 20), 0);
	assert_int_equal(add_spare(t.dev, sp.dev), 0);
	blk_error_set_gone(t.err[3], true);
	random_writes(&t, 5, 2);
	struct raid_info info;
	unsigned seen_pct = 0;
	bool seen_eta = false;
	uint64_t t0 = now_ns();
	for (int i = 0; i < 400; i++) {
		assert_int_equal(raid_get_info(t.dev, &info), 0);
		if (info.sync.kind == RAID_SYNC_NONE && i > 0)
			break;
		if (info.sync.kind == RAID_SYNC_REBUILD) {
			assert_true(info.sync.percent >= seen_pct);
			seen_pct = info.sync.percent;
			seen_eta |= info.sync.eta_s > 0 || info.sync.percent > 0;
			assert_true(info.sync.rate_limit_bps == 2u << 20 || info.sync.rate_limit_bps == 0);
			/* the snapshot is not atomic: at the very end the flag may already be gone */
			assert_true(info.members[3].rebuilding || info.sync.percent >= 90);
			if (info.sync.percent >= 20 && info.sync.percent < 40)
				assert_true(info.sync.rate_bps < 4u << 20);
		}
		random_writes(&t, 2, 50 + i); /* foreground I/O during the rebuild */
		usleep(5000);
		if (seen_pct >= 40)
			assert_int_equal(set_rate(t.dev, 0), 0); /* then unlimited */
	}
	wait_sync(t.dev, &info);
	assert_true(seen_pct > 0);
	assert_true(seen_eta);
	assert_true(now_ns() - t0 > 300000000ull); /* 3 MiB at 2 MiB/s cannot be instant */
	assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
	verify_all(&t);
	assert_int_equal(raid_fail_member(t.dev, 0), 0);
	verify_all(&t);
	tarr_destroy(&t);
	spare_free(&sp);
}

/* The sync job's window, read on the owner. */
struct peek {
	struct blk_dev *dev;
	bool running;
	unsigned inflight, window;
};

static void peek_fn(struct h_call *c)
{
	struct peek *p = c->arg;
	struct raid_array *a = p->dev->ctx;
	p->running = a->sync != NULL;
	p->inflight = a->sync ? a->sync->inflight : 0;
	p->window = a->sync ? a->sync->window : 0;
	h_done(c);
}

/* Writes, all in flight at once, to distinct stripes from stripe0 on: the
 * stripes the rebuild has in flight, has just finished, or is about to start. */
static int window_writes(struct tarr *t, uint64_t stripe0, uint64_t *s)
{
	enum { NW = 8 };
	struct blk_io ios[NW];
	struct iovec iov[NW];
	uint64_t stripes = t->blocks / t->stripe_blocks;
	uint8_t *buf = malloc((size_t)NW * t->stripe_blocks * BS);
	int k = 0;
	for (int i = 0; i < NW; i++) {
		uint64_t st = stripe0 + (uint64_t)i * 3 + trand(s) % 3; /* distinct stripes */
		if (st >= stripes)
			break;
		uint32_t off = (uint32_t)(trand(s) % t->stripe_blocks);
		uint32_t nb = 1 + (uint32_t)(trand(s) % (t->stripe_blocks - off));
		uint64_t lba = st * t->stripe_blocks + off;
		uint8_t *p = buf + (size_t)i * t->stripe_blocks * BS;
		h_fill(p, (size_t)nb * BS, trand(s));
		iov[k] = (struct iovec){p, (size_t)nb * BS};
		blk_io_prep(&ios[k], t->dev, BLK_OP_WRITE, lba, nb, &iov[k], 1, NULL, NULL);
		memcpy(t->model + lba * BS, p, (size_t)nb * BS);
		k++;
	}
	if (k > 0)
		assert_int_equal(h_batch_run(ios, k), 0);
	free(buf);
	return k;
}

/* A rebuild with several stripes in flight (slow members) while writes aim
 * at the stripes around its position: every byte is right, also read through
 * the rebuilt member alone, and a scrub finds every stripe consistent. */
static void window_case(unsigned level, unsigned n, unsigned victim)
{
	struct tarr t;
	tarr_create(&t, level, n, 0);
	random_writes(&t, 20, 60 + level);
	struct spare sp;
	spare_new(&sp, "spare0");
	for (unsigned m = 0; m < n; m++) /* slow members: the window fills, writes meet it */
		blk_error_set_delay_us(t.err[m], 2000);
	blk_error_set_delay_us(sp.dev, 2000);
	assert_int_equal(add_spare(t.dev, sp.dev), 0);
	blk_error_set_gone(t.err[victim], true);
	random_writes(&t, 5, 70 + level); /* the failure is noticed; the spare takes over */
	uint64_t s = level * 977 + 1;
	uint64_t stripes = t.blocks / t.stripe_blocks;
	unsigned max_inflight = 0, window = 0;
	int batches = 0;
	bool started = false;
	struct raid_info info;
	uint64_t t0 = now_ns();
	for (int i = 0; i < 5000; i++) {
		struct peek pk = {.dev = t.dev};
		assert_int_equal(h_run(0, peek_fn, &pk), 0);
		if (pk.running) {
			max_inflight = MAX(max_inflight, pk.inflight);
			window = pk.window;
		}
		assert_int_equal(raid_get_info(t.dev, &info), 0);
		if (info.sync.kind == RAID_SYNC_REBUILD) {
			started = true;
			if (window_writes(&t, info.sync.done_blocks * stripes / info.sync.total_blocks, &s) > 0)
				batches++;
		} else if (started || info.state == RAID_ARRAY_OPTIMAL) {
			break;
		} else {
			usleep(1000);
		}
	}
	wait_sync(t.dev, &info);
	assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
	assert_int_equal(info.sync.last_kind, RAID_SYNC_REBUILD);
	assert_int_equal(info.sync.last_status, 0);
	assert_non_null(strstr(info.members[victim].name, "spare"));
	print_message("raid%u: window %u, at most %u units seen in flight, %d write batches during the rebuild (%llu ms)\n",
		      level, window, max_inflight, batches, (unsigned long long)(now_ns() - t0) / 1000000);
	assert_true(batches >= 3);          /* the writes really met the rebuild */
	assert_true(window > 1);
	assert_true(max_inflight > 1);      /* several units were in flight at once */
	assert_true(max_inflight <= window);
	for (unsigned m = 0; m < n; m++)
		blk_error_set_delay_us(t.err[m], 0);
	blk_error_set_delay_us(sp.dev, 0);
	verify_all(&t);
	assert_int_equal(h_scrub(t.dev, RAID_SYNC_CHECK), 0);
	wait_sync(t.dev, &info);
	assert_int_equal(info.sync.last_kind, RAID_SYNC_CHECK);
	assert_int_equal(info.sync.last_status, 0);
	assert_int_equal(info.scrub_mismatches, 0);
	/* the rebuilt member holds the right data: read with as many others failed as the level survives */
	unsigned nfail = level == 6 ? 2 : level == 5 ? 1 : n - 1;
	for (unsigned m = 0; m < n && nfail > 0; m++)
		if (m != victim) {
			assert_int_equal(raid_fail_member(t.dev, m), 0);
			nfail--;
		}
	verify_all(&t);
	tarr_close(&t);
	tarr_free_members(&t);
	spare_free(&sp);
}

static void test_rebuild_window(void **state)
{
	(void)state;
	window_case(5, 4, 1);
	window_case(6, 5, 3);
	window_case(1, 2, 0);
}

/* A rebuild interrupted by a stop resumes from its checkpoint at the next assembly. */
static void test_resume(void **state)
{
	(void)state;
	struct tarr t;
	tarr_create(&t, 1, 2, 0);
	random_writes(&t, 40, 3);
	struct spare sp;
	spare_new(&sp, "spare0");
	assert_int_equal(set_rate(t.dev, 1u << 20), 0);
	assert_int_equal(add_spare(t.dev, sp.dev), 0);
	blk_error_set_gone(t.err[1], true);
	random_writes(&t, 5, 4);
	struct raid_info info;
	for (int i = 0; i < 400; i++) {
		assert_int_equal(raid_get_info(t.dev, &info), 0);
		if (info.sync.kind == RAID_SYNC_REBUILD && info.sync.percent >= 30)
			break;
		usleep(5000);
	}
	assert_true(info.sync.percent >= 30 && info.sync.percent < 100);
	uint8_t *model = t.model;
	t.model = NULL;
	tarr_stop(&t);
	/* the checkpoint is in the superblocks, the spare's included */
	uint8_t *sbuf = aligned_alloc(4096, RAID_SB_SIZE);
	struct iovec siov = {sbuf, RAID_SB_SIZE};
	bool bad = false;
	assert_int_equal(h_io(sp.base, BLK_OP_READ, 0, RAID_SB_SIZE / BS, &siov, 1, &bad), 0);
	struct raid_sb_info sb;
	char err[200];
	assert_int_equal(raid_sb_decode(sbuf, &sb, err, sizeof(err)), 0);
	free(sbuf);
	assert_int_equal(sb.role, 1);
	assert_int_equal(sb.rebuilding, 0x2);
	assert_true(sb.recovery_offset >= sb.data_size * 3 / 10);
	assert_true(sb.recovery_offset < sb.data_size);
	struct blk_dev *devs[2] = {t.err[0], sp.dev};
	struct blk_dev *dev;
	char msg[1024];
	assert_int_equal(assemble(devs, 2, &dev, msg, sizeof(msg)), 0);
	tarr_open(&t, dev);
	memcpy(t.model, model, t.blocks * BS);
	free(model);
	assert_int_equal(raid_get_info(dev, &info), 0);
	assert_true(info.members[1].rebuilding || info.sync.last_kind == RAID_SYNC_REBUILD);
	if (info.sync.kind == RAID_SYNC_REBUILD)
		assert_true(info.sync.done_blocks >= info.sync.total_blocks / 4); /* resumed, not from 0 */
	wait_sync(dev, &info);
	assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
	verify_all(&t);
	assert_int_equal(raid_fail_member(dev, 0), 0);
	verify_all(&t);
	tarr_close(&t);
	tarr_free_members(&t);
	spare_free(&sp);
}

/* Replace a healthy member while writing: copy, then swap; the new device holds everything. */
static void test_replace(void **state)
{
	(void)state;
	unsigned lv[] = {5, 1, 6};
	unsigned nn[] = {4, 2, 5};
	for (int i = 0; i < 3; i++) {
		struct tarr t;
		tarr_create(&t, lv[i], nn[i], 0);
		random_writes(&t, 30, 7 + i);
		struct spare sp;
		spare_new(&sp, "newdisk");
		assert_int_equal(set_rate(t.dev, 4u << 20), 0);
		struct ctl_call k = {.dev = t.dev, .other = sp.dev, .role = 1, .which = 2};
		assert_int_equal(h_ctl(&k), 0);
		k.which = 2;
		assert_int_equal(h_ctl(&k), -EINVAL); /* already in use */
		struct raid_info info;
		for (int j = 0; j < 20; j++) {
			random_writes(&t, 3, 200 + j);
			usleep(5000);
		}
		assert_int_equal(set_rate(t.dev, 0), 0);
		wait_sync(t.dev, &info);
		assert_int_equal(info.sync.last_kind, RAID_SYNC_REPLACE);
		assert_int_equal(info.sync.last_status, 0);
		assert_string_equal(info.members[1].name, "newdisk");
		assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
		verify_all(&t);
		/* the old device is out (once the superblocks naming the new one are durable): no new writes */
		for (int j = 0; j < 200; j++) {
			assert_int_equal(raid_get_info(t.dev, &info), 0);
			if (info.members[1].replacing_with[0] == 0)
				break;
			usleep(2000);
		}
		assert_int_equal(info.members[1].replacing_with[0], 0);
		struct blk_error_stats st0, st1;
		blk_error_get_stats(t.err[1], &st0);
		random_writes(&t, 10, 300);
		blk_error_get_stats(t.err[1], &st1);
		assert_int_equal(st0.requests, st1.requests);
		/* the new one has the data: fail another member and read */
		assert_int_equal(raid_fail_member(t.dev, 0), 0);
		verify_all(&t);
		tarr_destroy(&t);
		spare_free(&sp);
	}
}

/* Replace on a failed role: a rebuild onto the new device. */
static void test_replace_failed(void **state)
{
	(void)state;
	struct tarr t;
	tarr_create(&t, 6, 4, 0);
	random_writes(&t, 20, 17);
	blk_error_fail_nth(t.err[2], 1, -EIO, true);
	random_writes(&t, 10, 18);
	struct raid_info info;
	assert_int_equal(raid_get_info(t.dev, &info), 0);
	assert_int_equal(info.members[2].state, RAID_MEMBER_FAILED);
	struct spare sp;
	spare_new(&sp, "newdisk");
	struct ctl_call k = {.dev = t.dev, .other = sp.dev, .role = 2, .which = 2};
	for (int j = 0; j < 100 && h_ctl(&k) == -EBUSY; j++) /* until the failure is recorded */
		usleep(2000);
	assert_int_equal(k.rc, 0);
	wait_sync(t.dev, &info);
	assert_int_equal(info.sync.last_kind, RAID_SYNC_REBUILD);
	assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
	assert_string_equal(info.members[2].name, "newdisk");
	verify_all(&t);
	assert_int_equal(raid_fail_member(t.dev, 0), 0);
	assert_int_equal(raid_fail_member(t.dev, 1), 0);
	verify_all(&t); /* columns 2 and 3 carry everything */
	tarr_destroy(&t);
	spare_free(&sp);
}

static void test_scrub_stop(void **state)
{
	(void)state;
	struct tarr t;
	tarr_create(&t, 6, 4, 0);
	random_writes(&t, 10, 9);
	assert_int_equal(set_rate(t.dev, 1u << 20), 0);
	assert_int_equal(h_scrub(t.dev, RAID_SYNC_CHECK), 0);
	assert_int_equal(h_scrub(t.dev, RAID_SYNC_REPAIR), -EBUSY);
	usleep(50000);
	struct ctl_call k = {.dev = t.dev, .which = 4};
	assert_int_equal(h_ctl(&k), 0);
	struct raid_info info;
	wait_sync(t.dev, &info);
	assert_int_equal(info.sync.last_kind, RAID_SYNC_CHECK);
	assert_int_equal(info.sync.last_status, -ECANCELED);
	assert_int_equal(h_ctl(&k), -ENOENT);
	struct tarr r0;
	tarr_create(&r0, 0, 2, 0);
	assert_int_equal(h_scrub(r0.dev, RAID_SYNC_CHECK), -EINVAL); /* nothing to compare on RAID 0 */
	tarr_destroy(&r0);
	tarr_destroy(&t);
}

/* blk_destroy while the array's own I/O is in flight (superblock write, bitmap write,
 * a rebuild unit): memory goes only when the last one returns (ASan checks). */
static void test_destroy_busy(void **state)
{
	(void)state;
	for (int k = 0; k < 3; k++) {
		struct tarr t;
		tarr_create(&t, k == 2 ? 5 : 1, 3, 0);
		random_writes(&t, 10, 5);
		struct spare sp;
		spare_new(&sp, "spare0");
		for (unsigned m = 0; m < 3; m++)
			blk_error_set_delay_us(t.err[m], 100000);
		blk_error_set_delay_us(sp.dev, 100000);
		if (k == 0) {
			assert_int_equal(raid_fail_member(t.dev, 2), 0); /* superblock write in flight */
		} else {
			assert_int_equal(add_spare(t.dev, sp.dev), 0);
			assert_int_equal(raid_fail_member(t.dev, 2), 0); /* then a rebuild onto the spare */
			usleep(150000);
		}
		usleep(20000);
		tarr_crash(&t);
		usleep(400000); /* the delayed answers come back to an array that is gone */
		free(t.model);
		tarr_free_members(&t);
		spare_free(&sp);
	}
}

static int setup(void **state)
{
	(void)state;
	return h_start(2);
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
		cmocka_unit_test(test_spares),
		cmocka_unit_test(test_rate_and_progress),
		cmocka_unit_test(test_rebuild_window),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_replace_failed),
		cmocka_unit_test(test_scrub_stop),
		cmocka_unit_test(test_destroy_busy),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

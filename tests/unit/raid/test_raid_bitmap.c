/* test_raid_bitmap.c - write-intent bitmap on the members, resync of only the dirty regions after a crash, re-add of a returning member, scrub check/repair. */
#include "../blk/blk_harness.h"

#include "blk/raid/raid.h"
#include "blk/raid/raid_internal.h"
#include "raid_test_util.h"

/* Raw member blocks (data region relative) straight from the base device. */
static void member_rw(struct tarr *t, unsigned m, enum blk_op op, uint64_t mlba, uint32_t n, uint8_t *buf)
{
	struct iovec iov = {buf, (size_t)n * BS};
	bool bad = false;
	assert_int_equal(h_io(t->base[m], op, DOFF_BLOCKS + mlba, n, &iov, 1, &bad), 0);
}

/* Newest valid bitmap copy on member m. */
static void read_bitmap(struct tarr *t, unsigned m, struct raid_bm_header *h, uint8_t *bits)
{
	struct raid_info info;
	assert_int_equal(raid_get_info(t->dev, &info), 0);
	size_t slot = 4096;
	uint8_t *buf = malloc(2 * slot);
	struct iovec iov = {buf, 2 * slot};
	bool bad = false;
	assert_int_equal(h_io(t->base[m], BLK_OP_READ, 4096 / BS, 2 * slot / BS, &iov, 1, &bad), 0);
	bool found = false;
	for (int c = 0; c < 2; c++) {
		struct raid_bm_header hh;
		uint8_t bb[64];
		if (raid_bitmap_decode(buf + c * slot, slot, info.uuid, &hh, bb, sizeof(bb)) != 0)
			continue;
		if (!found || hh.seq > h->seq) {
			*h = hh;
			memcpy(bits, bb, sizeof(bb));
			found = true;
		}
	}
	assert_true(found);
	free(buf);
}

static bool bit(const uint8_t *bits, unsigned r)
{
	return bits[r / 8] >> (r % 8) & 1;
}

/* Wait (bounded) until every bitmap bit is clear and the superblocks are clean. */
static void wait_quiet(struct tarr *t)
{
	struct raid_info info;
	for (int i = 0; i < 500; i++) {
		assert_int_equal(raid_get_info(t->dev, &info), 0);
		if (info.bitmap_dirty == 0 && !info.dirty && info.sync.kind == RAID_SYNC_NONE)
			return;
		usleep(10000);
	}
	fail_msg("bitmap never became clean (%llu dirty)", (unsigned long long)info.bitmap_dirty);
}

static void fill_all(struct tarr *t, uint64_t seed)
{
	uint32_t step = 256;
	uint8_t *buf = malloc((size_t)step * BS);
	uint64_t s = seed;
	for (uint64_t lba = 0; lba < t->blocks; lba += step) {
		uint32_t n = (uint32_t)MIN(step, t->blocks - lba);
		h_fill(buf, (size_t)n * BS, seed + lba);
		write_split(t, lba, n, buf, &s);
	}
	free(buf);
}

static void test_bits_set_then_cleared(void **state)
{
	(void)state;
	struct tarr t;
	tarr_create(&t, 1, 2, 0);
	wait_quiet(&t);
	uint8_t buf[8 * BS];
	h_fill(buf, sizeof(buf), 5);
	uint64_t s = 1;
	write_split(&t, 3 * REGION_BLOCKS + 5, 8, buf, &s);
	struct raid_info info;
	assert_int_equal(raid_get_info(t.dev, &info), 0);
	assert_int_equal(info.bitmap_region_kib, REGION_KIB);
	assert_true(info.bitmap_dirty >= 1);
	for (unsigned m = 0; m < 2; m++) {
		struct raid_bm_header h;
		uint8_t bits[64] = {0};
		read_bitmap(&t, m, &h, bits);
		assert_int_equal(h.nregions, (MEMBER_BYTES - DOFF_KIB * 1024) / (REGION_KIB * 1024));
		assert_true(bit(bits, 3)); /* durable before the write went out */
		assert_false(bit(bits, 2));
		assert_false(bit(bits, 4));
	}
	wait_quiet(&t); /* idle for the clean delay: cleared lazily */
	struct raid_bm_header h;
	uint8_t bits[64] = {0};
	read_bitmap(&t, 0, &h, bits);
	assert_false(bit(bits, 3));
	verify_all(&t);
	tarr_destroy(&t);
}

/* Mirrors: after a crash only the dirty regions are copied; scrub finds what the resync did not touch. */
static void resync_mirror_case(unsigned level, unsigned n)
{
	struct tarr t;
	tarr_create(&t, level, n, 0);
	fill_all(&t, 11);
	wait_quiet(&t);
	/* member row region R holds array chunks starting at lba R * REGION_BLOCKS * (copies per row) */
	uint64_t per = level == 10 ? n / 2 : 1;
	uint8_t buf[16 * BS];
	h_fill(buf, sizeof(buf), 77);
	uint64_t s = 3;
	write_split(&t, 3 * REGION_BLOCKS * per + 2, 16, buf, &s);
	uint8_t *model = t.model;
	t.model = NULL;
	tarr_crash(&t);
	/* member 1 differs from its copy in a dirty region (3) and in a clean one (10) */
	uint8_t junk[8 * BS];
	h_fill(junk, sizeof(junk), 999);
	member_rw(&t, 1, BLK_OP_WRITE, 3 * REGION_BLOCKS + 1, 8, junk);
	member_rw(&t, 1, BLK_OP_WRITE, 10 * REGION_BLOCKS + 1, 8, junk);
	struct blk_dev *dev;
	char msg[1024];
	assert_int_equal(assemble(t.err, n, &dev, msg, sizeof(msg)), 0);
	tarr_open(&t, dev);
	memcpy(t.model, model, t.blocks * BS);
	free(model);
	struct raid_info info;
	wait_sync(dev, &info);
	assert_int_equal(info.sync.last_kind, RAID_SYNC_RESYNC);
	assert_int_equal(info.sync.last_status, 0);
	uint8_t a0[8 * BS], a1[8 * BS];
	/* region 3 was copied from the first copy; region 10 was not touched */
	uint64_t r3 = 3 * REGION_BLOCKS + 1, r10 = 10 * REGION_BLOCKS + 1;
	unsigned pair0 = 0; /* member 1's copy partner is member 0 in both layouts (n = 2 or 4) */
	member_rw(&t, pair0, BLK_OP_READ, r3, 8, a0);
	member_rw(&t, 1, BLK_OP_READ, r3, 8, a1);
	assert_memory_equal(a0, a1, sizeof(a0));
	member_rw(&t, 1, BLK_OP_READ, r10, 8, a1);
	assert_memory_equal(a1, junk, sizeof(a1));
	/* scrub: the clean-region difference is found, located, repaired */
	assert_int_equal(h_scrub(dev, RAID_SYNC_CHECK), 0);
	wait_sync(dev, &info);
	assert_int_equal(info.sync.last_kind, RAID_SYNC_CHECK);
	assert_true(info.scrub_mismatches >= 1);
	for (unsigned i = 0; i < info.nmismatch_log; i++) {
		assert_int_equal(info.mismatch[i].member, 1);
		assert_int_equal(info.mismatch[i].member_lba / REGION_BLOCKS, 10);
	}
	assert_int_equal(h_scrub(dev, RAID_SYNC_REPAIR), 0);
	wait_sync(dev, &info);
	assert_int_equal(h_scrub(dev, RAID_SYNC_CHECK), 0);
	wait_sync(dev, &info);
	assert_int_equal(info.scrub_mismatches, 0);
	verify_all(&t);
	tarr_destroy(&t);
}

static void test_resync_only_dirty(void **state)
{
	(void)state;
	resync_mirror_case(1, 2);
	resync_mirror_case(10, 4);
}

/* A member that left and comes back: only the regions written meanwhile are rebuilt. */
static void readd_case(unsigned level, unsigned n, unsigned victim)
{
	struct tarr t;
	tarr_create(&t, level, n, 0);
	fill_all(&t, 21);
	wait_quiet(&t);
	blk_error_set_gone(t.err[victim], true);
	uint64_t nd = level == 6 ? n - 2 : n - 1;
	uint8_t buf[40 * BS];
	h_fill(buf, sizeof(buf), 31);
	uint64_t s = 9;
	/* region R of the members = stripes 4R..4R+3 (RAID 1: blocks R * REGION_BLOCKS ...) */
	uint64_t rspan = level == 1 ? REGION_BLOCKS : 4 * CHUNK_BLOCKS * nd;
	write_split(&t, 3 * rspan + 7, 40, buf, &s);
	write_split(&t, 7 * rspan + 60, 40, buf, &s);
	struct raid_info info;
	assert_int_equal(raid_get_info(t.dev, &info), 0);
	assert_int_equal(info.members[victim].state, RAID_MEMBER_FAILED);
	if (info.bitmap_dirty != 2) {
		struct raid_bm_header h;
		uint8_t bits[64] = {0};
		read_bitmap(&t, (victim + 1) % n, &h, bits);
		for (unsigned r = 0; r < h.nregions; r++)
			if (bit(bits, r))
				print_message("dirty region %u\n", r);
	}
	assert_int_equal(info.bitmap_dirty, 2);
	uint8_t *model = t.model;
	t.model = NULL;
	tarr_stop(&t);
	blk_error_set_gone(t.err[victim], false);
	struct blk_error_stats st0, st1;
	assert_int_equal(blk_error_get_stats(t.err[victim], &st0), 0);
	struct blk_dev *dev;
	char msg[1024];
	assert_int_equal(assemble(t.err, n, &dev, msg, sizeof(msg)), 0);
	char want[64];
	snprintf(want, sizeof(want), "re-added m%u as role %u", victim, victim);
	if (strstr(msg, want) == NULL)
		fail_msg("expected a re-add: %s", msg);
	tarr_open(&t, dev);
	memcpy(t.model, model, t.blocks * BS);
	free(model);
	wait_sync(dev, &info);
	assert_int_equal(info.sync.last_kind, RAID_SYNC_REBUILD);
	assert_int_equal(info.sync.last_status, 0);
	assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
	assert_int_equal(blk_error_get_stats(t.err[victim], &st1), 0);
	/* 2 regions x 4 stripes written to it, plus superblock/bitmap/journal: far below 96 stripes */
	uint64_t reqs = st1.requests - st0.requests;
	if (reqs > 30)
		fail_msg("re-add touched the member %llu times: not limited to the dirty regions",
			 (unsigned long long)reqs);
	verify_all(&t);
	assert_int_equal(h_scrub(dev, RAID_SYNC_CHECK), 0);
	wait_sync(dev, &info);
	assert_int_equal(info.scrub_mismatches, 0);
	/* every column correct: fail another member and read everything through reconstruction */
	assert_int_equal(raid_fail_member(dev, (victim + 1) % n), 0);
	verify_all(&t);
	tarr_destroy(&t);
}

static void test_readd_dirty_regions(void **state)
{
	(void)state;
	readd_case(5, 4, 2);
	readd_case(6, 5, 0);
	readd_case(1, 2, 1);
}

/* At run time: a member unplugged and plugged back is re-added; only what it missed is rebuilt. */
static void test_readd_runtime(void **state)
{
	(void)state;
	unsigned lv[] = {5, 10, 6};
	unsigned nn[] = {3, 4, 4};
	for (int i = 0; i < 3; i++) {
		struct tarr t;
		tarr_create(&t, lv[i], nn[i], 0);
		fill_all(&t, 51 + i);
		wait_quiet(&t);
		unsigned victim = 1;
		blk_error_set_gone(t.err[victim], true);
		uint8_t buf[24 * BS];
		h_fill(buf, sizeof(buf), 61);
		uint64_t s = 2;
		write_split(&t, 5, 24, buf, &s);
		write_split(&t, t.blocks / 2, 24, buf, &s);
		struct raid_info info;
		assert_int_equal(raid_get_info(t.dev, &info), 0);
		assert_int_equal(info.members[victim].state, RAID_MEMBER_FAILED);
		blk_error_set_gone(t.err[victim], false);
		struct ctl_call k = {.dev = t.dev, .role = 0, .which = 5};
		assert_int_equal(h_ctl(&k), -EINVAL); /* not failed */
		k.role = victim;
		struct blk_error_stats st0, st1;
		blk_error_get_stats(t.err[victim], &st0);
		for (int j = 0; j < 100 && h_ctl(&k) == -EBUSY; j++) /* until the failure is recorded */
			usleep(2000);
		assert_int_equal(k.rc, 0);
		wait_sync(t.dev, &info);
		blk_error_get_stats(t.err[victim], &st1);
		assert_int_equal(info.sync.last_kind, RAID_SYNC_REBUILD);
		assert_int_equal(info.sync.last_status, 0);
		assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
		if (st1.requests - st0.requests > 30)
			fail_msg("raid%u re-add: %llu member requests, not limited to the dirty regions", lv[i],
				 (unsigned long long)(st1.requests - st0.requests));
		verify_all(&t);
		assert_int_equal(h_scrub(t.dev, RAID_SYNC_CHECK), 0);
		wait_sync(t.dev, &info);
		assert_int_equal(info.scrub_mismatches, 0);
		tarr_destroy(&t);
	}
}

/* Scrub on parity levels: one corrupted block is found at its stripe, on the parity member, and repaired. */
static void test_scrub_parity(void **state)
{
	(void)state;
	for (unsigned level = 5; level <= 6; level++) {
		struct tarr t;
		tarr_create(&t, level, level == 5 ? 4 : 5, 0);
		fill_all(&t, 41);
		struct raid_info info;
		assert_int_equal(h_scrub(t.dev, RAID_SYNC_CHECK), 0);
		wait_sync(t.dev, &info);
		assert_int_equal(info.scrub_mismatches, 0);
		/* stripe 9: P on member n-1 - 9 % n; corrupt a block of the member after it (a data chunk) */
		unsigned n = t.n, pd = n - 1 - 9 % n, victim = (pd + (level == 6 ? 2 : 1)) % n;
		uint8_t junk[BS];
		h_fill(junk, sizeof(junk), 5);
		member_rw(&t, victim, BLK_OP_WRITE, 9 * CHUNK_BLOCKS + 3, 1, junk);
		assert_int_equal(h_scrub(t.dev, RAID_SYNC_CHECK), 0);
		wait_sync(t.dev, &info);
		assert_int_equal(info.scrub_mismatches, level == 5 ? 1 : 2);
		assert_int_equal(info.mismatch[0].member, pd);
		assert_int_equal(info.mismatch[0].array_lba, 9ull * CHUNK_BLOCKS * (n - (level == 6 ? 2 : 1)));
		assert_int_equal(info.mismatch[0].member_lba, 9ull * CHUNK_BLOCKS);
		assert_int_equal(h_scrub(t.dev, RAID_SYNC_REPAIR), 0);
		wait_sync(t.dev, &info);
		assert_int_equal(h_scrub(t.dev, RAID_SYNC_CHECK), 0);
		wait_sync(t.dev, &info);
		assert_int_equal(info.scrub_mismatches, 0);
		assert_int_equal(info.sync.last_status, 0);
		tarr_destroy(&t);
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
		cmocka_unit_test(test_bits_set_then_cleared),
		cmocka_unit_test(test_resync_only_dirty),
		cmocka_unit_test(test_readd_dirty_regions),
		cmocka_unit_test(test_readd_runtime),
		cmocka_unit_test(test_scrub_parity),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

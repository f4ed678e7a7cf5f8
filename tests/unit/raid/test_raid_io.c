/* test_raid_io.c - every RAID level through its blk_dev over malloc members: data round-trips, on-member layout and parity, member failures, offline, deadline. */
#include "../blk/blk_harness.h"

#include "blk/raid/raid.h"
#include "raid_test_util.h"

/* ---- on-member verification against the reference model ---- */

/* Read member m's data region [0, blocks) straight from its base device. */
static uint8_t *member_data(struct tarr *t, unsigned m)
{
	size_t len = (size_t)t->member_blocks * BS;
	uint8_t *buf = malloc(len);
	struct iovec iov = {buf, len};
	bool bad = false;
	assert_int_equal(h_io(t->base[m], BLK_OP_READ, DOFF_BLOCKS, (uint32_t)t->member_blocks, &iov, 1, &bad), 0);
	return buf;
}

/* Parity levels: every stripe's P (and Q) equal the naive computation over the
 * data chunks, and each data chunk holds the model's bytes where md's layout says. */
static void verify_parity_on_members(struct tarr *t)
{
	unsigned n = t->n, np = t->level == 6 ? 2 : 1, nd = n - np;
	uint8_t *md[RAID_MAX_MEMBERS];
	for (unsigned m = 0; m < n; m++)
		md[m] = member_data(t, m);
	size_t cb = (size_t)CHUNK_BLOCKS * BS;
	uint64_t stripes = t->member_blocks / CHUNK_BLOCKS;
	uint8_t *p = malloc(cb), *q = malloc(cb);
	for (uint64_t s = 0; s < stripes; s++) {
		unsigned pd = n - 1 - (unsigned)(s % n);
		memset(p, 0, cb);
		memset(q, 0, cb);
		for (unsigned i = 0; i < nd; i++) {
			unsigned d = (pd + np + i) % n;
			const uint8_t *src = md[d] + s * cb;
			uint8_t g = ref_gf_pow2(i);
			for (size_t b = 0; b < cb; b++) {
				p[b] ^= src[b];
				q[b] ^= ref_gf_mul(g, src[b]);
			}
			if (memcmp(src, t->model + (s * nd + i) * cb, cb) != 0)
				fail_msg("raid%u: stripe %llu data chunk %u not on member %u as the layout says", t->level,
					 (unsigned long long)s, i, d);
		}
		if (memcmp(p, md[pd] + s * cb, cb) != 0)
			fail_msg("raid%u: stripe %llu P mismatch", t->level, (unsigned long long)s);
		if (np == 2 && memcmp(q, md[(pd + 1) % n] + s * cb, cb) != 0)
			fail_msg("raid%u: stripe %llu Q mismatch", t->level, (unsigned long long)s);
	}
	free(p);
	free(q);
	for (unsigned m = 0; m < n; m++)
		free(md[m]);
}

/* Mirror levels: every copy of every chunk holds the model's bytes. */
static void verify_mirrors_on_members(struct tarr *t)
{
	uint8_t *md[RAID_MAX_MEMBERS];
	for (unsigned m = 0; m < t->n; m++)
		md[m] = member_data(t, m);
	size_t cb = (size_t)CHUNK_BLOCKS * BS;
	for (uint64_t c = 0; c < t->blocks / CHUNK_BLOCKS; c++) {
		const uint8_t *want = t->model + c * cb;
		if (t->level == 1) {
			for (unsigned m = 0; m < t->n; m++)
				assert_memory_equal(md[m] + c * cb, want, cb);
		} else if (t->level == 0) {
			assert_memory_equal(md[c % t->n] + (c / t->n) * cb, want, cb);
		} else {
			for (unsigned k = 0; k < 2; k++) {
				uint64_t slot = c * 2 + k;
				assert_memory_equal(md[slot % t->n] + (slot / t->n) * cb, want, cb);
			}
		}
	}
	for (unsigned m = 0; m < t->n; m++)
		free(md[m]);
}

static const struct {
	unsigned level, n;
} levels[] = {{0, 3}, {1, 3}, {10, 4}, {10, 3}, {5, 3}, {5, 4}, {6, 4}, {6, 5}};

static void test_roundtrip_and_layout(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		struct tarr t;
		tarr_create(&t, levels[i].level, levels[i].n, 0);
		random_writes(&t, 80, 1000 + i);
		full_stripe_writes(&t, 6, 2000 + i);
		same_stripe_batch(&t, 3000 + i);
		zero_writes(&t, 4000 + i);
		verify_all(&t);
		if (t.level == 5 || t.level == 6)
			verify_parity_on_members(&t);
		else
			verify_mirrors_on_members(&t);
		bool bad = false;
		assert_int_equal(h_io(t.dev, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
		struct iovec iov = {t.model, BS};
		assert_int_equal(h_io_flags(t.dev, BLK_OP_WRITE, BLK_F_FUA, 7, 1, &iov, 1, &bad), 0);
		assert_false(bad);
		tarr_destroy(&t);
	}
}

/* Fail the members in `mask` while writing; every byte still reads back, and
 * degraded writes land. */
static void degrade_and_verify(unsigned level, unsigned n, uint32_t mask, uint64_t seed)
{
	struct tarr t;
	tarr_create(&t, level, n, 0);
	random_writes(&t, 30, seed);
	unsigned k = 0;
	for (unsigned m = 0; m < n; m++) {
		if (!(mask & (1u << m)))
			continue;
		/* one member vanishes, the other starts returning EIO */
		if (k++ % 2 == 0)
			blk_error_set_gone(t.err[m], true);
		else
			blk_error_fail_nth(t.err[m], 1, -EIO, true);
		random_writes(&t, 15, seed + 10 + m);
	}
	verify_all(&t);
	random_writes(&t, 30, seed + 100);
	full_stripe_writes(&t, 3, seed + 200);
	verify_all(&t);
	struct raid_info info;
	assert_int_equal(raid_get_info(t.dev, &info), 0);
	assert_int_equal(info.state, RAID_ARRAY_DEGRADED);
	for (unsigned m = 0; m < n; m++)
		assert_int_equal(info.members[m].state, (mask & (1u << m)) ? RAID_MEMBER_FAILED : RAID_MEMBER_ACTIVE);
	tarr_destroy(&t);
}

static void test_degraded_every_member(void **state)
{
	(void)state;
	for (unsigned m = 0; m < 3; m++)
		degrade_and_verify(1, 3, 1u << m, 10 + m);
	degrade_and_verify(1, 3, 0x3, 19);
	for (unsigned m = 0; m < 4; m++)
		degrade_and_verify(10, 4, 1u << m, 20 + m);
	degrade_and_verify(10, 4, 0x5, 29);
	degrade_and_verify(10, 4, 0xA, 28);
	for (unsigned m = 0; m < 4; m++)
		degrade_and_verify(5, 4, 1u << m, 30 + m);
	for (unsigned m = 0; m < 3; m++)
		degrade_and_verify(5, 3, 1u << m, 40 + m);
}

static void test_raid6_every_pair(void **state)
{
	(void)state;
	for (unsigned a = 0; a < 5; a++) {
		degrade_and_verify(6, 5, 1u << a, 50 + a);
		for (unsigned b = a + 1; b < 5; b++)
			degrade_and_verify(6, 5, (1u << a) | (1u << b), 60 + a * 5 + b);
	}
	degrade_and_verify(6, 4, 0x9, 90);
}

/* More failures than the level tolerates: in-flight and new I/O all end with an error, nothing hangs. */
static void offline_case(unsigned level, unsigned n, uint32_t mask)
{
	struct tarr t;
	tarr_create(&t, level, n, 0);
	random_writes(&t, 10, 7);
	/* a burst in flight while the members go away */
	enum { B = 48 };
	struct blk_io ios[B];
	struct iovec iov[B];
	uint8_t *buf = malloc((size_t)B * 8 * BS);
	for (int i = 0; i < B; i++) {
		iov[i].iov_base = buf + (size_t)i * 8 * BS;
		iov[i].iov_len = 8 * BS;
		blk_io_prep(&ios[i], t.dev, i % 2 ? BLK_OP_READ : BLK_OP_WRITE, (uint64_t)i * 37 % (t.blocks - 8), 8,
			    &iov[i], 1, NULL, NULL);
	}
	for (unsigned m = 0; m < n; m++)
		if (mask & (1u << m))
			blk_error_set_delay_us(t.err[m], 20000);
	for (unsigned m = 0; m < n; m++)
		if (mask & (1u << m))
			blk_error_fail_nth(t.err[m], 1, -EIO, true);
	int failures = h_batch_run(ios, B);
	assert_true(failures >= 0 && failures <= B); /* all completed: no hang */
	struct raid_info info;
	assert_int_equal(raid_get_info(t.dev, &info), 0);
	assert_int_equal(info.state, RAID_ARRAY_OFFLINE);
	bool bad = false;
	struct iovec one = {buf, 8 * BS};
	for (uint64_t lba = 0; lba < t.blocks; lba += t.blocks / 16) {
		assert_int_equal(h_io(t.dev, BLK_OP_READ, lba, 8, &one, 1, &bad), -EIO);
		assert_int_equal(h_io(t.dev, BLK_OP_WRITE, lba, 8, &one, 1, &bad), -EIO);
	}
	assert_int_equal(h_io(t.dev, BLK_OP_WRITE_ZEROES, 0, 8, NULL, 0, &bad), -EIO);
	assert_false(bad);
	free(buf);
	tarr_destroy(&t);
}

static void test_offline(void **state)
{
	(void)state;
	offline_case(0, 3, 0x2);
	offline_case(1, 3, 0x7);
	offline_case(10, 4, 0x3);
	offline_case(5, 4, 0x5);
	offline_case(6, 5, 0x13);
}

/* A member that stops answering is failed at the deadline; the read is served by the mirror. */
static void test_deadline(void **state)
{
	(void)state;
	for (unsigned level = 1; level <= 5; level += 4) {
		struct tarr t;
		tarr_create(&t, level, level == 1 ? 2 : 3, 60);
		random_writes(&t, 10, 70);
		blk_error_set_delay_us(t.err[0], 600000);
		/* Member reads go through private buffers: the late answers must not
		 * land in this one after the requests completed (checked below). */
		uint8_t *buf = malloc(t.blocks * BS);
		uint64_t t0 = now_ns();
		bool bad = false;
		for (uint64_t lba = 0; lba < t.blocks; lba += 256) {
			struct iovec iov = {buf + lba * BS, 256 * BS};
			assert_int_equal(h_io(t.dev, BLK_OP_READ, lba, 256, &iov, 1, &bad), 0);
		}
		uint64_t took = now_ns() - t0;
		assert_true(took < 500000000ull);
		assert_memory_equal(buf, t.model, t.blocks * BS);
		struct raid_info info;
		assert_int_equal(raid_get_info(t.dev, &info), 0);
		assert_int_equal(info.members[0].state, RAID_MEMBER_FAILED);
		assert_int_equal(info.state, RAID_ARRAY_DEGRADED);
		memset(buf, 0x5A, t.blocks * BS); /* the host reuses its buffer at once */
		usleep(800000); /* the late answers arrive (and drain before the members go away) */
		for (size_t i = 0; i < t.blocks * BS; i++)
			if (buf[i] != 0x5A)
				fail_msg("a late member answer landed in host memory at byte %zu", i);
		free(buf);
		tarr_destroy(&t);
	}
}

/* A member answering -ENOMEM (transient) neither fails the member nor the host request: it is retried. */
struct nomem_arg {
	struct tarr *t;
	unsigned m;
};

static void *clear_later(void *arg)
{
	struct nomem_arg *n = arg;
	usleep(30000);
	blk_error_clear(n->t->err[n->m]);
	return NULL;
}

static void test_enomem_retry(void **state)
{
	(void)state;
	unsigned lv[] = {1, 10, 5, 6};
	unsigned nn[] = {2, 4, 4, 5};
	for (int i = 0; i < 4; i++) {
		struct tarr t;
		tarr_create(&t, lv[i], nn[i], 0);
		for (int k = 0; k < 12; k++) {
			unsigned m = (unsigned)k % t.n;
			blk_error_fail_nth(t.err[m], 1 + (uint64_t)k % 3, -ENOMEM, false);
			random_writes(&t, 4, 500 + (uint64_t)k);
		}
		/* every request to one member fails for a while: the writes wait, then succeed */
		blk_error_fail_nth(t.err[1], 1, -ENOMEM, true);
		struct nomem_arg na = {&t, 1};
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, clear_later, &na), 0);
		random_writes(&t, 6, 900);
		pthread_join(th, NULL);
		verify_all(&t);
		struct raid_info info;
		assert_int_equal(raid_get_info(t.dev, &info), 0);
		assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
		if (t.level != 1 && t.level != 10) {
			assert_int_equal(h_scrub(t.dev, RAID_SYNC_CHECK), 0);
			wait_sync(t.dev, &info);
			assert_int_equal(info.scrub_mismatches, 0);
		}
		tarr_destroy(&t);
	}
}

static void test_two_reactors(void **state)
{
	(void)state;
	unsigned lv[] = {0, 1, 5, 6};
	unsigned nn[] = {2, 2, 3, 4};
	for (int i = 0; i < 4; i++) {
		struct tarr t;
		tarr_create(&t, lv[i], nn[i], 0);
		run_many(t.dev, "raid over two reactors");
		tarr_destroy(&t);
	}
}

static void test_create_refusals(void **state)
{
	(void)state;
	struct tarr t;
	tarr_members(&t, 3, 4 << 20);
	char err[256];
	assert_int_equal(create_err(&t, 7, 3, 64, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "level 7"));
	assert_int_equal(create_err(&t, 6, 3, 64, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "raid6 needs 4"));
	assert_int_equal(create_err(&t, 5, 3, 48, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "power of two"));
	tarr_free_members(&t);
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
		cmocka_unit_test(test_create_refusals),
		cmocka_unit_test(test_roundtrip_and_layout),
		cmocka_unit_test(test_degraded_every_member),
		cmocka_unit_test(test_raid6_every_pair),
		cmocka_unit_test(test_offline),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_enomem_retry),
		cmocka_unit_test(test_two_reactors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

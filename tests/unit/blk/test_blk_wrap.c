/* test_blk_wrap.c - the fault-injection (error) and throttle devices over a RAM device. */
#include "blk_harness.h"

#include <unistd.h>

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

struct pair {
	struct blk_dev *base, *dev;
};

static struct pair make_error(void)
{
	struct pair p;
	assert_int_equal(blk_malloc_create("ram", 1 << 20, 512, &p.base), 0);
	assert_int_equal(blk_error_create("err", p.base, &p.dev), 0);
	assert_int_equal(p.dev->info.num_blocks, 2048);
	assert_string_equal(p.dev->ops->name, "error");
	return p;
}

static void free_pair(struct pair p)
{
	blk_destroy(p.dev);
	blk_destroy(p.base);
}

static int rd(struct blk_dev *d, uint64_t lba, uint32_t n, uint8_t *buf)
{
	struct iovec v = {buf, (size_t)n * 512};
	bool bad = false;
	int rc = h_io(d, BLK_OP_READ, lba, n, &v, 1, &bad);
	assert_false(bad);
	return rc;
}

static int wr(struct blk_dev *d, uint64_t lba, uint32_t n, uint8_t *buf)
{
	struct iovec v = {buf, (size_t)n * 512};
	bool bad = false;
	int rc = h_io(d, BLK_OP_WRITE, lba, n, &v, 1, &bad);
	assert_false(bad);
	return rc;
}

static void test_error_transparent_and_range(void **state)
{
	(void)state;
	struct pair p = make_error();
	uint8_t w[8192], r[8192];
	h_fill(w, sizeof(w), 1);
	assert_int_equal(wr(p.dev, 10, 16, w), 0);
	assert_int_equal(rd(p.base, 10, 16, r), 0);
	assert_memory_equal(r, w, sizeof(w));
	/* the error device checks ranges like any device */
	assert_int_equal(rd(p.dev, 2048, 1, r), -EINVAL);

	/* reads of [100, 110) fail with -EIO; writes there still pass */
	assert_int_equal(blk_error_fail_range(p.dev, BLK_ERR_READ, 100, 10, -EIO), 0);
	assert_int_equal(rd(p.dev, 90, 10, r), 0);
	assert_int_equal(rd(p.dev, 110, 4, r), 0);
	assert_int_equal(rd(p.dev, 95, 6, r), -EIO);
	assert_int_equal(rd(p.dev, 109, 1, r), -EIO);
	assert_int_equal(wr(p.dev, 100, 10, w), 0);
	bool bad = false;
	assert_int_equal(h_io(p.dev, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
	/* writes, unmap, write-zeroes and flush with -ENOSPC; the data below stays */
	assert_int_equal(blk_error_fail_range(p.dev, BLK_ERR_WRITE | BLK_ERR_FLUSH, 0, 20, -ENOSPC), 0);
	uint8_t z[8192] = {0};
	assert_int_equal(wr(p.dev, 10, 16, z), -ENOSPC);
	assert_int_equal(h_io(p.dev, BLK_OP_UNMAP, 19, 1, NULL, 0, &bad), -ENOSPC);
	assert_int_equal(h_io(p.dev, BLK_OP_WRITE_ZEROES, 0, 1, NULL, 0, &bad), -ENOSPC);
	assert_int_equal(h_io(p.dev, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), -ENOSPC);
	assert_int_equal(h_io(p.dev, BLK_OP_UNMAP, 30, 1, NULL, 0, &bad), 0); /* outside the range */
	assert_int_equal(rd(p.dev, 10, 16, r), 0);
	assert_memory_equal(r, w, sizeof(w));
	/* kinds 0 clears the range */
	assert_int_equal(blk_error_fail_range(p.dev, 0, 0, 0, 0), 0);
	assert_int_equal(wr(p.dev, 10, 16, z), 0);
	assert_false(bad);

	struct blk_error_stats st;
	assert_int_equal(blk_error_get_stats(p.dev, &st), 0);
	assert_int_equal(st.failed, 6);
	assert_int_equal(st.requests, 14); /* the out-of-range read never reached the device */

	/* bad arguments */
	assert_int_equal(blk_error_fail_range(p.dev, BLK_ERR_READ, 0, 1, 5), -EINVAL);
	assert_int_equal(blk_error_fail_range(p.dev, 0x40, 0, 1, -EIO), -EINVAL);
	assert_int_equal(blk_error_fail_nth(p.base, 1, -EIO, false), -EINVAL);
	assert_int_equal(blk_error_get_stats(p.base, &st), -EINVAL);
	assert_int_equal(blk_error_create("x", NULL, &p.base), -EINVAL);
	assert_int_equal(blk_refresh(p.dev), 0);
	/* thin provisioning questions go to the base */
	uint64_t same = 0;
	bool mapped = false;
	assert_int_equal(p.dev->ops->get_lba_status(p.dev, 10, &same, &mapped), 0);
	assert_true(mapped);
	assert_int_equal(p.dev->ops->get_lba_status(p.dev, 2048, &same, &mapped), -EINVAL);
	free_pair(p);
}

/* SQLite-style fault loop: fail request N of a fixed sequence, for every N. */
static void test_error_nth_loop(void **state)
{
	(void)state;
	struct pair p = make_error();
	uint8_t buf[512];
	h_fill(buf, sizeof(buf), 2);
	for (int n = 1; n <= 6; n++) {
		assert_int_equal(blk_error_fail_nth(p.dev, (uint64_t)n, -EIO, false), 0);
		for (int i = 1; i <= 6; i++) {
			int rc = i % 2 ? wr(p.dev, (uint64_t)i, 1, buf) : rd(p.dev, (uint64_t)i, 1, buf);
			assert_int_equal(rc, i == n ? -EIO : 0);
		}
	}
	/* sticky: the 2nd and every later one */
	assert_int_equal(blk_error_fail_nth(p.dev, 2, -ENODEV, true), 0);
	assert_int_equal(rd(p.dev, 0, 1, buf), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(rd(p.dev, 0, 1, buf), -ENODEV);
	assert_int_equal(blk_error_fail_nth(p.dev, 0, 0, false), 0);
	assert_int_equal(rd(p.dev, 0, 1, buf), 0);
	free_pair(p);
}

static uint64_t ms_since(uint64_t t0)
{
	return (now_ns() - t0) / 1000000u;
}

static void test_error_gone_and_delay(void **state)
{
	(void)state;
	struct pair p = make_error();
	uint8_t w[4096], r[4096], z[4096] = {0};
	h_fill(w, sizeof(w), 3);
	assert_int_equal(wr(p.dev, 0, 8, w), 0);
	assert_int_equal(blk_error_set_gone(p.dev, true), 0);
	assert_int_equal(rd(p.dev, 0, 8, r), -ENODEV);
	assert_int_equal(wr(p.dev, 0, 8, z), -ENODEV);
	bool bad = false;
	assert_int_equal(h_io(p.dev, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), -ENODEV);
	assert_int_equal(blk_error_set_gone(p.dev, false), 0);
	assert_int_equal(rd(p.dev, 0, 8, r), 0);
	assert_memory_equal(r, w, sizeof(w)); /* the write while gone never landed */

	/* delay: passed and failed requests alike */
	assert_int_equal(blk_error_set_delay_us(p.dev, 30000), 0);
	uint64_t t0 = now_ns();
	assert_int_equal(rd(p.dev, 0, 8, r), 0);
	assert_true(ms_since(t0) >= 30);
	assert_int_equal(blk_error_fail_range(p.dev, BLK_ERR_READ, 0, 1, -EIO), 0);
	t0 = now_ns();
	assert_int_equal(rd(p.dev, 0, 8, r), -EIO);
	assert_true(ms_since(t0) >= 30);
	/* many delayed requests at once all complete */
	struct blk_io ios[64];
	uint8_t *big = malloc(64 * 512);
	struct iovec v[64];
	for (int i = 0; i < 64; i++) {
		v[i] = (struct iovec){big + i * 512, 512};
		blk_io_prep(&ios[i], p.dev, BLK_OP_WRITE, 100 + (uint64_t)i, 1, &v[i], 1, NULL, NULL);
	}
	t0 = now_ns();
	assert_int_equal(h_batch_run(ios, 64), 0);
	assert_true(ms_since(t0) >= 30);
	assert_true(ms_since(t0) < 2000); /* in parallel, not one after another */
	free(big);
	assert_int_equal(blk_error_clear(p.dev), 0);
	t0 = now_ns();
	assert_int_equal(rd(p.dev, 0, 8, r), 0);
	assert_true(ms_since(t0) < 30);
	free_pair(p);
}

static void test_throttle(void **state)
{
	(void)state;
	struct blk_dev *base, *d;
	assert_int_equal(blk_malloc_create("ram", 4 << 20, 512, &base), 0);
	/* 4 MiB/s: 2 MiB in 16 concurrent 128 KiB writes takes about half a second */
	assert_int_equal(blk_throttle_create("thr", base, 4 << 20, 0, &d), 0);
	assert_string_equal(d->ops->name, "throttle");
	const int n = 16;
	size_t each = 128 << 10;
	uint8_t *w = malloc((size_t)n * each), *r = malloc((size_t)n * each);
	h_fill(w, (size_t)n * each, 4);
	struct blk_io ios[16];
	struct iovec v[16];
	for (int i = 0; i < n; i++) {
		v[i] = (struct iovec){w + (size_t)i * each, each};
		blk_io_prep(&ios[i], d, BLK_OP_WRITE, (uint64_t)i * (each / 512), (uint32_t)(each / 512), &v[i], 1,
			    NULL, NULL);
	}
	uint64_t t0 = now_ns();
	assert_int_equal(h_batch_run(ios, n), 0);
	uint64_t el = ms_since(t0);
	assert_true(el >= 450);
	assert_true(el < 3000);
	/* the data went through */
	struct iovec rv = {r, (size_t)n * each};
	bool bad = false;
	assert_int_equal(h_io(base, BLK_OP_READ, 0, (uint32_t)(n * each / 512), &rv, 1, &bad), 0);
	assert_memory_equal(r, w, (size_t)n * each);

	/* fixed latency: even a flush pays it */
	assert_int_equal(blk_throttle_set(d, 0, 40000), 0);
	t0 = now_ns();
	assert_int_equal(h_io(d, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
	assert_true(ms_since(t0) >= 40);
	/* no limits: fast */
	assert_int_equal(blk_throttle_set(d, 0, 0), 0);
	t0 = now_ns();
	assert_int_equal(h_io(d, BLK_OP_READ, 0, (uint32_t)(n * each / 512), &rv, 1, &bad), 0);
	assert_true(ms_since(t0) < 200);
	assert_int_equal(blk_throttle_set(base, 0, 0), -EINVAL);
	assert_false(bad);
	free(w);
	free(r);
	blk_destroy(d);
	blk_destroy(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_error_transparent_and_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_nth_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_gone_and_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

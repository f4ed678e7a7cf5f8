/* test_blk_mem.c - blk_submit validation, status names, and the malloc and null backends on a real reactor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "blk_harness.h"

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

/* ---- blk_submit checks (null device: nothing else can fail) ---- */
static void test_submit_checks(void **state)
{
	(void)state;
	struct blk_dev *d;
	assert_int_equal(blk_null_create("n0", 100 * 512, 512, &d), 0);
	uint8_t buf[2048];
	struct iovec iov = {buf, 512};
	bool bad = false;

	assert_int_equal(h_io(d, BLK_OP_READ, 0, 1, &iov, 1, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_READ, 99, 1, &iov, 1, &bad), 0);
	/* beyond the end, overflow of lba + nblocks, nblocks 0 */
	assert_int_equal(h_io(d, BLK_OP_READ, 100, 1, &iov, 1, &bad), -EINVAL);
	assert_int_equal(h_io(d, BLK_OP_READ, UINT64_MAX, 1, &iov, 1, &bad), -EINVAL);
	assert_int_equal(h_io(d, BLK_OP_UNMAP, UINT64_MAX - 1, 4, NULL, 0, &bad), -EINVAL);
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 98, 3, NULL, 0, &bad), -EINVAL);
	assert_int_equal(h_io(d, BLK_OP_READ, 0, 0, &iov, 1, &bad), -EINVAL);
	assert_int_equal(h_io(d, BLK_OP_WRITE_ZEROES, 0, 0, NULL, 0, &bad), -EINVAL);
	/* iov must be exactly nblocks * block_size */
	iov.iov_len = 511;
	assert_int_equal(h_io(d, BLK_OP_WRITE, 0, 1, &iov, 1, &bad), -EINVAL);
	iov.iov_len = 1024;
	assert_int_equal(h_io(d, BLK_OP_WRITE, 0, 1, &iov, 1, &bad), -EINVAL);
	assert_int_equal(h_io(d, BLK_OP_WRITE, 0, 2, &iov, 1, &bad), 0);
	struct iovec two[2] = {{buf, 1000}, {buf + 1000, 24}};
	assert_int_equal(h_io(d, BLK_OP_WRITE, 0, 2, two, 2, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_WRITE, 0, 2, NULL, 0, &bad), -EINVAL);
	assert_int_equal(h_io(d, BLK_OP_WRITE, 0, 2, two, -1, &bad), -EINVAL);
	struct iovec huge[2] = {{buf, SIZE_MAX}, {buf, 1025}}; /* the sum wraps to 1024 */
	assert_int_equal(h_io(d, BLK_OP_WRITE, 0, 2, huge, 2, &bad), -EINVAL);
	/* FLUSH with 0 blocks is fine, unknown op and flags are not */
	assert_int_equal(h_io(d, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
	assert_int_equal(h_io(d, (enum blk_op)42, 0, 1, NULL, 0, &bad), -EINVAL);
	iov.iov_len = 512;
	assert_int_equal(h_io_flags(d, BLK_OP_WRITE, 0x80, 0, 1, &iov, 1, &bad), -EINVAL);
	assert_int_equal(h_io_flags(d, BLK_OP_WRITE, BLK_F_FUA, 0, 1, &iov, 1, &bad), 0);
	/* a transfer above max_xfer_blocks is refused */
	d->info.max_xfer_blocks = 2;
	struct iovec big = {buf, 1536};
	assert_int_equal(h_io(d, BLK_OP_READ, 0, 3, &big, 1, &bad), -EINVAL);
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 0, 3, NULL, 0, &bad), 0); /* the limit is for data transfers */
	d->info.max_xfer_blocks = 0;
	/* read-only: writes, unmap and write-zeroes get -EROFS; reads and flush pass */
	d->info.read_only = true;
	assert_int_equal(h_io(d, BLK_OP_WRITE, 0, 1, &iov, 1, &bad), -EROFS);
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 0, 1, NULL, 0, &bad), -EROFS);
	assert_int_equal(h_io(d, BLK_OP_WRITE_ZEROES, 0, 1, NULL, 0, &bad), -EROFS);
	assert_int_equal(h_io(d, BLK_OP_READ, 0, 1, &iov, 1, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
	/* range is checked before read-only */
	assert_int_equal(h_io(d, BLK_OP_WRITE, 100, 1, &iov, 1, &bad), -EINVAL);
	assert_false(bad);
	assert_int_equal(blk_submit(NULL, NULL), -EINVAL);
	blk_destroy(d);
	blk_destroy(NULL);
}

static void test_create_args(void **state)
{
	(void)state;
	struct blk_dev *d = NULL;
	assert_int_equal(blk_null_create("x", 1000, 512, &d), -EINVAL);   /* not a block multiple */
	assert_int_equal(blk_null_create("x", 0, 512, &d), -EINVAL);
	assert_int_equal(blk_null_create("x", 8192, 1000, &d), -EINVAL);  /* not a power of two */
	assert_int_equal(blk_null_create("x", 8192, 256, &d), -EINVAL);
	assert_int_equal(blk_malloc_create("x", 4096, 8192, &d), -EINVAL);
	assert_int_equal(blk_malloc_create(NULL, 4096, 512, &d), -EINVAL);
	assert_int_equal(blk_malloc_create("a-name-that-is-much-longer-than-the-sixty-four-bytes-of-blk_dev-name-field",
					   8192, 0, &d), 0);
	assert_int_equal(d->info.block_size, 512);
	assert_int_equal(d->info.num_blocks, 16);
	assert_int_equal(strlen(d->name), sizeof(d->name) - 1);
	assert_string_equal(d->ops->name, "malloc");
	assert_false(d->info.volatile_cache);
	assert_true(d->info.supports_unmap);
	assert_true(d->info.unmap_zeroes);
	assert_int_equal(blk_refresh(d), -EOPNOTSUPP);
	blk_destroy(d);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(blk_strerror(0), "success");
	assert_string_equal(blk_strerror(-EROFS), "device is read-only");
	assert_string_equal(blk_strerror(-ENODEV), "device gone");
	assert_string_equal(blk_strerror(-EINVAL), "request outside the device or malformed");
	assert_string_equal(blk_strerror(-12345), "unknown block status");
}

static void test_null(void **state)
{
	(void)state;
	struct blk_dev *d;
	assert_int_equal(blk_null_create("null", 1 << 20, 4096, &d), 0);
	assert_int_equal(d->info.num_blocks, 256);
	uint8_t *buf = malloc(8192);
	memset(buf, 0xAB, 8192);
	struct iovec iov[2] = {{buf, 4096}, {buf + 4096, 4096}};
	bool bad = false;
	assert_int_equal(h_io(d, BLK_OP_WRITE, 10, 2, iov, 2, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_READ, 10, 2, iov, 2, &bad), 0);
	assert_true(h_is_zero(buf, 8192)); /* nothing is stored */
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 0, 256, NULL, 0, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_WRITE_ZEROES, 0, 256, NULL, 0, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
	uint64_t same = 0;
	bool mapped = true;
	assert_int_equal(d->ops->get_lba_status(d, 10, &same, &mapped), 0);
	assert_false(mapped);
	assert_int_equal(same, 246);
	assert_int_equal(d->ops->get_lba_status(d, 256, &same, &mapped), -EINVAL);
	assert_false(bad);
	free(buf);
	blk_destroy(d);
}

static void test_malloc_roundtrip(void **state)
{
	(void)state;
	struct blk_dev *d;
	const size_t sz = 8u << 20;
	assert_int_equal(blk_malloc_create("ram", sz, 512, &d), 0);
	uint8_t *w = malloc(sz), *r = malloc(sz);
	bool bad = false;
	/* never written: zeroes */
	memset(r, 0xFF, sz);
	struct iovec rv = {r, 1 << 20};
	assert_int_equal(h_io(d, BLK_OP_READ, 0, 2048, &rv, 1, &bad), 0);
	assert_true(h_is_zero(r, 1 << 20));

	/* random data in three odd-sized iovecs, across a page boundary */
	h_fill(w, sz, 7);
	struct iovec wv[3] = {{w, 700}, {w + 700, 3000}, {w + 3700, 5 * 512 - 3700 + 4096}};
	size_t len = 700 + 3000 + (5 * 512 - 3700 + 4096);
	assert_int_equal(len % 512, 0);
	assert_int_equal(h_io(d, BLK_OP_WRITE, 3, (uint32_t)(len / 512), wv, 3, &bad), 0);
	memset(r, 0, sz);
	struct iovec rv2[2] = {{r, 13}, {r + 13, len - 13}};
	assert_int_equal(h_io(d, BLK_OP_READ, 3, (uint32_t)(len / 512), rv2, 2, &bad), 0);
	assert_memory_equal(r, w, len);

	/* the whole device */
	struct iovec all = {w, sz};
	assert_int_equal(h_io(d, BLK_OP_WRITE, 0, (uint32_t)(sz / 512), &all, 1, &bad), 0);
	struct iovec rall = {r, sz};
	assert_int_equal(h_io(d, BLK_OP_READ, 0, (uint32_t)(sz / 512), &rall, 1, &bad), 0);
	assert_memory_equal(r, w, sz);

	/* unmap a range with partial pages at both ends, write-zeroes another */
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 5, 30, NULL, 0, &bad), 0);
	assert_int_equal(h_io_flags(d, BLK_OP_WRITE_ZEROES, 0, 100, 1, NULL, 0, &bad), 0);
	assert_int_equal(h_io_flags(d, BLK_OP_WRITE_ZEROES, BLK_F_UNMAP, 1000, 3000, NULL, 0, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_READ, 0, (uint32_t)(sz / 512), &rall, 1, &bad), 0);
	memset(w + 5 * 512, 0, 30 * 512);
	memset(w + 100 * 512, 0, 512);
	memset(w + 1000 * 512, 0, 3000 * 512);
	assert_memory_equal(r, w, sz);
	assert_false(bad);
	free(w);
	free(r);
	blk_destroy(d);
}

static long rss_kib(void)
{
	FILE *fp = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;
	if (fp == NULL)
		return -1;
	if (fscanf(fp, "%ld %ld", &pages, &res) != 2)
		res = -1;
	fclose(fp);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A big RAM device costs nothing until written, and UNMAP gives memory back. */
static void test_malloc_lazy(void **state)
{
	(void)state;
	struct blk_dev *d;
	const uint64_t sz = 1ull << 30;
	long before = rss_kib();
	assert_true(before > 0);
	assert_int_equal(blk_malloc_create("big", sz, 4096, &d), 0);
	assert_int_equal(d->info.num_blocks, sz / 4096);
	size_t chunk = 32u << 20;
	uint8_t *buf = malloc(chunk);
	memset(buf, 0x5A, chunk);
	bool bad = false;
	struct iovec iov = {buf, chunk};
	/* reading unwritten space does not allocate */
	assert_int_equal(h_io(d, BLK_OP_READ, 1000, (uint32_t)(chunk / 4096), &iov, 1, &bad), 0);
	assert_true(h_is_zero(buf, chunk));
	long after_read = rss_kib();
	memset(buf, 0x5A, chunk);
	assert_int_equal(h_io(d, BLK_OP_WRITE, 1000, (uint32_t)(chunk / 4096), &iov, 1, &bad), 0);
	long after_write = rss_kib();
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 1000, (uint32_t)(chunk / 4096), NULL, 0, &bad), 0);
	long after_unmap = rss_kib();
	/* provisioning report: written then unmapped -> deallocated (to the end: nothing else
	 * was written, the read before did not allocate); write 8 blocks -> mapped */
	assert_int_equal(d->info.phys_block_exp, 0);
	uint64_t same = 0;
	bool mapped = true;
	assert_int_equal(d->ops->get_lba_status(d, 1000, &same, &mapped), 0);
	assert_false(mapped);
	assert_int_equal(same, sz / 4096 - 1000);
	assert_int_equal(d->ops->get_lba_status(d, 0, &same, &mapped), 0);
	assert_false(mapped);
	assert_int_equal(same, sz / 4096);
	memset(buf, 0x5A, 8 * 4096);
	struct iovec eight = {buf, 8 * 4096};
	assert_int_equal(h_io(d, BLK_OP_WRITE, 20000, 8, &eight, 1, &bad), 0);
	assert_int_equal(d->ops->get_lba_status(d, 20000, &same, &mapped), 0);
	assert_true(mapped);
	assert_int_equal(same, 8);
	assert_int_equal(d->ops->get_lba_status(d, 20008, &same, &mapped), 0);
	assert_false(mapped);
	assert_int_equal(d->ops->get_lba_status(d, 19990, &same, &mapped), 0);
	assert_false(mapped);
	assert_int_equal(same, 10);
	/* buf itself (32 MiB) became resident at the first memset. */
	assert_true(after_read - before < 48 * 1024);
	assert_true(after_write - after_read > 24 * 1024);
	assert_true(after_write - after_unmap > 24 * 1024);
	assert_int_equal(h_io(d, BLK_OP_READ, 1000, (uint32_t)(chunk / 4096), &iov, 1, &bad), 0);
	assert_true(h_is_zero(buf, chunk));
	/* the last block of a 1 GiB device */
	struct iovec one = {buf, 4096};
	h_fill(buf, 4096, 3);
	assert_int_equal(h_io(d, BLK_OP_WRITE, sz / 4096 - 1, 1, &one, 1, &bad), 0);
	assert_false(bad);
	free(buf);
	blk_destroy(d);
}

static void lba_status(struct blk_dev *d, uint64_t lba, bool want_mapped, uint64_t want_same)
{
	uint64_t same = 0;
	bool mapped = !want_mapped;
	assert_int_equal(d->ops->get_lba_status(d, lba, &same, &mapped), 0);
	assert_int_equal(mapped, want_mapped);
	assert_int_equal(same, want_same);
}

/* 512-byte blocks: the 4 KiB page is the physical block; the provisioning
 * map follows writes, unmaps and write-zeroes exactly, never reads. */
static void test_malloc_provisioning(void **state)
{
	(void)state;
	if (sysconf(_SC_PAGESIZE) != 4096)
		skip();
	struct blk_dev *d;
	/* 3 pages and one block: the last chunk is short */
	const size_t sz = 3 * 4096 + 512;
	assert_int_equal(blk_malloc_create("prov", sz, 512, &d), 0);
	assert_int_equal(d->info.phys_block_exp, 3);
	uint8_t buf[4096];
	bool bad = false;
	struct iovec one = {buf, 512}, page = {buf, 4096};
	lba_status(d, 0, false, 25);
	/* reading does not allocate */
	assert_int_equal(h_io(d, BLK_OP_READ, 0, 8, &page, 1, &bad), 0);
	lba_status(d, 3, false, 22);
	/* one block in page 1 maps the page (blocks 8..15) */
	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(h_io(d, BLK_OP_WRITE, 9, 1, &one, 1, &bad), 0);
	lba_status(d, 0, false, 8);
	lba_status(d, 8, true, 8);
	lba_status(d, 13, true, 3);
	lba_status(d, 16, false, 9);
	/* unmapping part of the page leaves it mapped; the whole page deallocates it */
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 9, 2, NULL, 0, &bad), 0);
	lba_status(d, 8, true, 8);
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 8, 8, NULL, 0, &bad), 0);
	lba_status(d, 0, false, 25);
	/* write-zeroes: allocated unless BLK_F_UNMAP */
	assert_int_equal(h_io_flags(d, BLK_OP_WRITE_ZEROES, 0, 16, 8, NULL, 0, &bad), 0);
	lba_status(d, 0, false, 16);
	lba_status(d, 16, true, 8);
	assert_int_equal(h_io_flags(d, BLK_OP_WRITE_ZEROES, BLK_F_UNMAP, 12, 13, NULL, 0, &bad), 0);
	lba_status(d, 0, false, 25);
	/* the short last chunk: written, then deallocated by an unmap to the end */
	assert_int_equal(h_io(d, BLK_OP_WRITE, 24, 1, &one, 1, &bad), 0);
	lba_status(d, 24, true, 1);
	lba_status(d, 20, false, 4);
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 24, 1, NULL, 0, &bad), 0);
	lba_status(d, 0, false, 25);
	/* contents: zeroes everywhere */
	uint8_t all[sizeof(buf) * 4];
	struct iovec av = {all, sz};
	assert_int_equal(h_io(d, BLK_OP_READ, 0, 25, &av, 1, &bad), 0);
	assert_true(h_is_zero(all, sz));
	assert_int_equal(d->ops->get_lba_status(d, 25, &(uint64_t){0}, &(bool){false}), -EINVAL);
	assert_false(bad);
	blk_destroy(d);
}

/* Runs longer than a bitmap word and starting mid-word. */
static void test_malloc_long_runs(void **state)
{
	(void)state;
	struct blk_dev *d;
	const uint64_t nb = 1000;
	assert_int_equal(blk_malloc_create("runs", nb * 65536, 65536, &d), 0);
	assert_int_equal(d->info.phys_block_exp, 0);
	uint8_t *buf = calloc(200, 65536);
	bool bad = false;
	struct iovec v = {buf, 130 * 65536};
	assert_int_equal(h_io(d, BLK_OP_WRITE, 70, 130, &v, 1, &bad), 0);
	lba_status(d, 0, false, 70);
	lba_status(d, 63, false, 7);
	lba_status(d, 70, true, 130);
	lba_status(d, 127, true, 73);
	lba_status(d, 128, true, 72);
	lba_status(d, 200, false, 800);
	lba_status(d, 999, false, 1);
	assert_false(bad);
	free(buf);
	blk_destroy(d);
}

static void test_many_malloc(void **state)
{
	(void)state;
	struct blk_dev *d;
	assert_int_equal(blk_malloc_create("ram", (size_t)MANY * 4096, 512, &d), 0);
	run_many(d, "malloc");
	blk_destroy(d);
}

static int setup2(void **state)
{
	(void)state;
	return h_start(2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_submit_checks, setup, teardown),
		cmocka_unit_test(test_create_args),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test_setup_teardown(test_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malloc_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malloc_lazy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malloc_provisioning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malloc_long_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_malloc, setup2, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

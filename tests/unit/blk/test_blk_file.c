/* test_blk_file.c - the file backend on a real reactor and io_uring: data, direct I/O, FUA/flush, unmap, sizes. */
#include "blk_harness.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bufpool.h"

static char g_dir[64];
static char g_path[128];

static int setup(void **state)
{
	(void)state;
	/* /var/tmp, not /tmp: it must be a disk file system so that O_DIRECT really engages */
	snprintf(g_dir, sizeof(g_dir), "/var/tmp/softhba-blk-%d", (int)getpid());
	if (mkdir(g_dir, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(g_path, sizeof(g_path), "%s/disk.img", g_dir);
	return h_start(2);
}

static int teardown(void **state)
{
	(void)state;
	h_stop();
	unlink(g_path);
	rmdir(g_dir);
	return 0;
}

static struct blk_dev *open_file(const char *path, uint64_t size, uint32_t bs, bool direct, bool ro)
{
	struct blk_file_opts o = {.path = path, .size_bytes = size, .block_size = bs, .direct = direct, .read_only = ro};
	struct blk_dev *d = NULL;
	int rc = blk_file_create("f", &o, &d);
	if (rc != 0)
		fail_msg("blk_file_create(%s) = %d", path, rc);
	return d;
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static blkcnt_t file_blocks(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_blocks;
}

static void test_sizes(void **state)
{
	(void)state;
	struct blk_file_opts o = {.path = g_path};
	struct blk_dev *d = NULL;
	/* missing file without a size */
	assert_int_equal(blk_file_create("f", &o, &d), -ENOENT);
	o.read_only = true;
	o.size_bytes = 1 << 20;
	assert_int_equal(blk_file_create("f", &o, &d), -ENOENT);
	o.read_only = false;
	o.size_bytes = 1000; /* not a block multiple; the file must not be left behind */
	assert_int_equal(blk_file_create("f", &o, &d), -EINVAL);
	assert_int_equal(access(g_path, F_OK), -1);
	o.size_bytes = 1 << 20;
	o.block_size = 768;
	assert_int_equal(blk_file_create("f", &o, &d), -EINVAL);
	o.block_size = 0;

	/* created sparse, 512-byte blocks by default */
	assert_int_equal(blk_file_create("f", &o, &d), 0);
	assert_int_equal(file_size(g_path), 1 << 20);
	assert_true(file_blocks(g_path) < 64);
	assert_int_equal(d->info.block_size, 512);
	assert_int_equal(d->info.num_blocks, 2048);
	assert_int_equal(d->info.opt_xfer_blocks, 2048);
	assert_int_equal(d->info.max_xfer_blocks, 16384);
	assert_true(d->info.volatile_cache);
	assert_true(d->info.unmap_zeroes);
	assert_true(d->info.supports_unmap); /* /var/tmp is ext4/xfs/btrfs here */
	assert_false(d->info.read_only);
	assert_string_equal(d->ops->name, "file");
	blk_destroy(d);

	/* size 0: use the file as it is */
	o.size_bytes = 0;
	d = open_file(g_path, 0, 4096, false, false);
	assert_int_equal(d->info.num_blocks, 256);
	blk_destroy(d);
	/* a bigger size extends it */
	d = open_file(g_path, 2 << 20, 0, false, false);
	assert_int_equal(d->info.num_blocks, 4096);
	assert_int_equal(file_size(g_path), 2 << 20);
	blk_destroy(d);
	/* a smaller size is refused and the file keeps its data */
	o.size_bytes = 1 << 20;
	assert_int_equal(blk_file_create("f", &o, &d), -EINVAL);
	assert_int_equal(file_size(g_path), 2 << 20);
	/* read-only cannot extend */
	o.size_bytes = 4 << 20;
	o.read_only = true;
	assert_int_equal(blk_file_create("f", &o, &d), -EINVAL);
	/* neither a file nor a block device */
	o.path = g_dir;
	o.size_bytes = 0;
	assert_int_equal(blk_file_create("f", &o, &d), -EINVAL);
	/* smaller than a block */
	char tiny[160];
	snprintf(tiny, sizeof(tiny), "%s/tiny", g_dir);
	int fd = open(tiny, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	o.path = tiny;
	assert_int_equal(blk_file_create("f", &o, &d), -EINVAL);
	unlink(tiny);
	assert_int_equal(blk_file_create("f", NULL, &d), -EINVAL);
	struct blk_file_stats st;
	assert_int_equal(blk_file_get_stats(NULL, &st), -EINVAL);
}

/* Random data through several odd iovecs; checked through blk and through a plain pread. */
static void roundtrip(bool direct, uint32_t bs)
{
	struct blk_dev *d = open_file(g_path, 8 << 20, bs, direct, false);
	struct blk_file_stats st0, st1;
	assert_int_equal(blk_file_get_stats(d, &st0), 0);
	if (direct) /* ext4/xfs under /var/tmp take O_DIRECT with 512 or 4096 blocks */
		assert_true(st0.direct);
	else
		assert_false(st0.direct);

	size_t len = (size_t)64 * bs + 3 * bs;
	uint32_t nb = (uint32_t)(len / bs);
	uint8_t *w = malloc(len + 64), *r = malloc(len + 64);
	h_fill(w, len, bs + direct);
	/* misaligned addresses and lengths */
	struct iovec wv[4] = {{w, 1}, {w + 1, 999}, {w + 1000, len - 1000 - 77}, {w + len - 77, 77}};
	bool bad = false;
	assert_int_equal(h_io(d, BLK_OP_WRITE, 5, nb, wv, 4, &bad), 0);
	/* r + 3: 17 bytes, r + 20: len - 37 bytes, then a 5-byte gap, r + len - 12: 20 bytes */
	struct iovec rv[3] = {{r + 3, 17}, {r + 20, len - 37}, {r + len - 12, 20}};
	memset(r, 0, len + 64);
	assert_int_equal(h_io(d, BLK_OP_READ, 5, nb, rv, 3, &bad), 0);
	assert_memory_equal(r + 3, w, 17);
	assert_memory_equal(r + 20, w + 17, len - 37);
	assert_memory_equal(r + len - 12, w + len - 20, 20);
	assert_int_equal(blk_file_get_stats(d, &st1), 0);
	if (direct)
		assert_int_equal(st1.bounced - st0.bounced, 2);
	else
		assert_int_equal(st1.bounced, st0.bounced);

	/* aligned buffers go straight through, even with direct I/O */
	uint8_t *a = buf_get(len), *b = buf_get(len);
	h_fill(a, len, 42);
	struct iovec av[2] = {{a, (size_t)4 * bs}, {a + 4 * bs, len - 4 * bs}};
	assert_int_equal(h_io_flags(d, BLK_OP_WRITE, BLK_F_FUA, 100, nb, av, 2, &bad), 0);
	struct iovec bv = {b, len};
	assert_int_equal(h_io(d, BLK_OP_READ, 100, nb, &bv, 1, &bad), 0);
	assert_memory_equal(a, b, len);
	assert_int_equal(blk_file_get_stats(d, &st0), 0);
	assert_int_equal(st0.bounced, st1.bounced);
	assert_int_equal(h_io(d, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);

	/* the bytes really are in the file, where blk said */
	int fd = open(g_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, r, len, (off_t)5 * bs), (ssize_t)len);
	assert_memory_equal(r, w, len);
	assert_int_equal(pread(fd, r, len, (off_t)100 * bs), (ssize_t)len);
	assert_memory_equal(r, a, len);
	close(fd);
	/* the last block of the device, and one past it */
	struct iovec last = {a, bs};
	assert_int_equal(h_io(d, BLK_OP_WRITE, d->info.num_blocks - 1, 1, &last, 1, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_WRITE, d->info.num_blocks, 1, &last, 1, &bad), -EINVAL);
	assert_int_equal(h_io(d, BLK_OP_READ, d->info.num_blocks - 1, 2, &bv, 1, &bad), -EINVAL);
	assert_false(bad);
	buf_put(a, len);
	buf_put(b, len);
	free(w);
	free(r);
	blk_destroy(d);
	unlink(g_path);
}

static void test_roundtrip_buffered(void **state)
{
	(void)state;
	roundtrip(false, 512);
	roundtrip(false, 4096);
}

static void test_roundtrip_direct(void **state)
{
	(void)state;
	roundtrip(true, 512);
	roundtrip(true, 4096);
}

/* More iovecs than readv takes at once: bounced, still correct. */
static void test_many_iovecs(void **state)
{
	(void)state;
	struct blk_dev *d = open_file(g_path, 4 << 20, 512, false, false);
	const int n = 1500;
	uint8_t *w = malloc((size_t)n * 512), *r = malloc((size_t)n * 512);
	struct iovec *v = calloc((size_t)n, sizeof(*v));
	h_fill(w, (size_t)n * 512, 5);
	for (int i = 0; i < n; i++)
		v[i] = (struct iovec){w + (size_t)i * 512, 512};
	bool bad = false;
	assert_int_equal(h_io(d, BLK_OP_WRITE, 0, (uint32_t)n, v, n, &bad), 0);
	struct iovec rv = {r, (size_t)n * 512};
	assert_int_equal(h_io(d, BLK_OP_READ, 0, (uint32_t)n, &rv, 1, &bad), 0);
	assert_memory_equal(r, w, (size_t)n * 512);
	struct blk_file_stats st;
	assert_int_equal(blk_file_get_stats(d, &st), 0);
	assert_int_equal(st.bounced, 1);
	assert_false(bad);
	free(v);
	free(w);
	free(r);
	blk_destroy(d);
}

static void write_pattern(struct blk_dev *d, uint64_t lba, uint32_t nb, uint8_t *buf, uint64_t seed)
{
	size_t len = (size_t)nb * d->info.block_size;
	h_fill(buf, len, seed);
	struct iovec v = {buf, len};
	bool bad = false;
	assert_int_equal(h_io(d, BLK_OP_WRITE, lba, nb, &v, 1, &bad), 0);
	assert_false(bad);
}

static void read_back(struct blk_dev *d, uint64_t lba, uint32_t nb, uint8_t *buf)
{
	struct iovec v = {buf, (size_t)nb * d->info.block_size};
	bool bad = false;
	assert_int_equal(h_io(d, BLK_OP_READ, lba, nb, &v, 1, &bad), 0);
	assert_false(bad);
}

static void unmap_and_zero(bool direct)
{
	const uint32_t nb = 4096; /* 2 MiB of 512-byte blocks */
	struct blk_dev *d = open_file(g_path, 4 << 20, 512, direct, false);
	uint8_t *w = malloc((size_t)nb * 512), *r = malloc((size_t)nb * 512);
	write_pattern(d, 0, nb, w, 77);
	bool bad = false;
	assert_int_equal(h_io(d, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
	blkcnt_t full = file_blocks(g_path);
	assert_true(full >= nb);

	/* UNMAP 1 MiB starting at a 4 KiB-aligned block: space comes back, reads are zero */
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 1024, 2048, NULL, 0, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
	blkcnt_t after = file_blocks(g_path);
	assert_true(full - after >= 2048 - 16);
	/* thin provisioning report: data in 0..1023 and 3072..4095, holes elsewhere */
	uint64_t same = 0;
	bool mapped = false;
	assert_int_equal(d->ops->get_lba_status(d, 0, &same, &mapped), 0);
	assert_true(mapped);
	assert_int_equal(same, 1024);
	assert_int_equal(d->ops->get_lba_status(d, 1024, &same, &mapped), 0);
	assert_false(mapped);
	assert_int_equal(same, 2048);
	assert_int_equal(d->ops->get_lba_status(d, 2000, &same, &mapped), 0);
	assert_false(mapped);
	assert_int_equal(same, 3072 - 2000);
	assert_int_equal(d->ops->get_lba_status(d, 3072, &same, &mapped), 0);
	assert_true(mapped);
	assert_int_equal(same, 1024);
	assert_int_equal(d->ops->get_lba_status(d, 5000, &same, &mapped), 0); /* never written */
	assert_false(mapped);
	assert_int_equal(same, 8192 - 5000);
	assert_int_equal(d->ops->get_lba_status(d, 8192, &same, &mapped), -EINVAL);
	/* UNMAP a range that is not 4 KiB aligned: neighbours keep their data */
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 3, 5, NULL, 0, &bad), 0);
	/* WRITE_ZEROES without deallocation, then with */
	assert_int_equal(h_io(d, BLK_OP_WRITE_ZEROES, 3001, 7, NULL, 0, &bad), 0);
	assert_int_equal(h_io_flags(d, BLK_OP_WRITE_ZEROES, BLK_F_UNMAP, 3500, 300, NULL, 0, &bad), 0);
	read_back(d, 0, nb, r);
	memset(w + 1024 * 512, 0, 2048 * 512);
	memset(w + 3 * 512, 0, 5 * 512);
	memset(w + 3001 * 512, 0, 7 * 512);
	memset(w + 3500 * 512, 0, 300 * 512);
	assert_memory_equal(r, w, (size_t)nb * 512);
	/* the file kept its size */
	assert_int_equal(file_size(g_path), 4 << 20);
	assert_false(bad);
	free(w);
	free(r);
	blk_destroy(d);
	unlink(g_path);
}

static void test_unmap_zeroes(void **state)
{
	(void)state;
	unmap_and_zero(false);
	unmap_and_zero(true);
}

static void test_read_only(void **state)
{
	(void)state;
	struct blk_dev *d = open_file(g_path, 1 << 20, 512, false, false);
	uint8_t *w = malloc(4096), *r = malloc(4096);
	write_pattern(d, 8, 8, w, 3);
	blk_destroy(d);
	d = open_file(g_path, 0, 512, true, true);
	assert_true(d->info.read_only);
	assert_false(d->info.supports_unmap);
	bool bad = false;
	struct iovec v = {w, 4096};
	assert_int_equal(h_io(d, BLK_OP_WRITE, 8, 8, &v, 1, &bad), -EROFS);
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 8, 8, NULL, 0, &bad), -EROFS);
	assert_int_equal(h_io(d, BLK_OP_WRITE_ZEROES, 8, 8, NULL, 0, &bad), -EROFS);
	assert_int_equal(h_io(d, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
	read_back(d, 8, 8, r);
	assert_memory_equal(r, w, 4096);
	assert_false(bad);
	free(w);
	free(r);
	blk_destroy(d);
}

/* The file grows behind our back: refresh() makes the new space addressable. */
static void test_grow_refresh(void **state)
{
	(void)state;
	struct blk_dev *d = open_file(g_path, 1 << 20, 512, false, false);
	uint8_t *buf = malloc(4096);
	struct iovec v = {buf, 4096};
	bool bad = false;
	assert_int_equal(truncate(g_path, 3 << 20), 0);
	assert_int_equal(h_io(d, BLK_OP_READ, 3000, 8, &v, 1, &bad), -EINVAL);
	assert_int_equal(blk_refresh(d), 0);
	assert_int_equal(d->info.num_blocks, 6144);
	memset(buf, 0xEE, 4096);
	assert_int_equal(h_io(d, BLK_OP_READ, 3000, 8, &v, 1, &bad), 0);
	assert_true(h_is_zero(buf, 4096));
	write_pattern(d, 6136, 8, buf, 11);
	assert_false(bad);
	free(buf);
	blk_destroy(d);
	unlink(g_path);
}

/* The file shrinks behind our back: reads past its end are short, the rest reads as zeroes. */
static void shrink_read(bool direct, size_t keep)
{
	struct blk_dev *d = open_file(g_path, 1 << 20, 4096, direct, false);
	size_t len = 1 << 20;
	uint8_t *w = malloc(len), *r = buf_get(len);
	write_pattern(d, 0, 256, w, 21);
	assert_int_equal(truncate(g_path, (off_t)keep), 0);
	memset(r, 0xCC, len);
	read_back(d, 0, 256, r);
	assert_memory_equal(r, w, keep);
	assert_true(h_is_zero(r + keep, len - keep));
	struct blk_file_stats st;
	assert_int_equal(blk_file_get_stats(d, &st), 0);
	assert_true(st.short_transfers >= 1);
	free(w);
	buf_put(r, len);
	blk_destroy(d);
	unlink(g_path);
}

static void test_shrink_short_read(void **state)
{
	(void)state;
	shrink_read(false, 300 * 1024 + 512);
	shrink_read(true, 300 * 1024 + 512);
	shrink_read(false, 300 * 1024 + 100); /* not even a whole sector */
	shrink_read(true, 300 * 1024 + 100);
}

static void test_many_inflight(void **state)
{
	(void)state;
	struct blk_dev *d = open_file(g_path, (uint64_t)MANY * 4096, 512, false, false);
	run_many(d, "file buffered");
	blk_destroy(d);
	unlink(g_path);
	d = open_file(g_path, (uint64_t)MANY * 4096, 512, true, false);
	run_many(d, "file direct");
	struct blk_file_stats st;
	assert_int_equal(blk_file_get_stats(d, &st), 0);
	assert_true(st.direct);
	blk_destroy(d);
}

/* tmpfs: no direct I/O alignment is reported, so 512-byte blocks cannot go
 * direct and the device falls back to buffered I/O; tmpfs also refuses
 * FALLOC_FL_ZERO_RANGE, so WRITE_ZEROES falls back to writing zeroes. */
static void test_tmpfs_fallbacks(void **state)
{
	(void)state;
	char path[64];
	snprintf(path, sizeof(path), "/dev/shm/softhba-blk-%d", (int)getpid());
	struct blk_dev *d = open_file(path, 1 << 20, 512, true, false);
	struct blk_file_stats st;
	assert_int_equal(blk_file_get_stats(d, &st), 0);
	assert_false(st.direct);
	uint8_t *w = malloc(1 << 20), *r = malloc(1 << 20);
	write_pattern(d, 0, 2048, w, 8);
	bool bad = false;
	assert_int_equal(h_io(d, BLK_OP_WRITE_ZEROES, 10, 100, NULL, 0, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_WRITE_ZEROES, 500, 1000, NULL, 0, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 1800, 9, NULL, 0, &bad), 0);
	read_back(d, 0, 2048, r);
	memset(w + 10 * 512, 0, 100 * 512);
	memset(w + 500 * 512, 0, 1000 * 512);
	memset(w + 1800 * 512, 0, 9 * 512);
	assert_memory_equal(r, w, 1 << 20);
	assert_int_equal(blk_file_get_stats(d, &st), 0);
	assert_int_equal(st.zero_fallbacks, 1); /* learnt once, then skipped */
	assert_false(bad);
	free(w);
	free(r);
	blk_destroy(d);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_buffered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_iovecs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrink_short_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmpfs_fallbacks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

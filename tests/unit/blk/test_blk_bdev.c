/* test_blk_bdev.c - the file backend on a real block device (a loop device); skipped where loop devices cannot be set up. */
#include "blk_harness.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bufpool.h"

static char g_img[64];
static char g_loop[64];

/* Run a shell command, keep the first line of its output in out. */
static int sh(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	if (out != NULL) {
		out[0] = '\0';
		if (fgets(out, (int)len, p) != NULL)
			out[strcspn(out, "\n")] = '\0';
	}
	char sink[256];
	while (fgets(sink, sizeof(sink), p) != NULL)
		;
	int st = pclose(p);
	return st == 0 ? 0 : -1;
}

static int setup(void **state)
{
	(void)state;
	snprintf(g_img, sizeof(g_img), "/var/tmp/softhba-bdev-%d.img", (int)getpid());
	int fd = open(g_img, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 64 << 20) != 0)
		return -1;
	close(fd);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>/dev/null", g_img);
	if (sh(cmd, g_loop, sizeof(g_loop)) != 0 || strncmp(g_loop, "/dev/loop", 9) != 0)
		g_loop[0] = '\0';
	return h_start(1);
}

static int teardown(void **state)
{
	(void)state;
	h_stop();
	if (g_loop[0] != '\0') {
		char cmd[96];
		snprintf(cmd, sizeof(cmd), "losetup -d %s", g_loop);
		sh(cmd, NULL, 0);
	}
	unlink(g_img);
	return 0;
}

static blkcnt_t img_blocks(void)
{
	struct stat st;
	assert_int_equal(stat(g_img, &st), 0);
	return st.st_blocks;
}

static void test_loop_device(void **state)
{
	(void)state;
	if (g_loop[0] == '\0') {
		fprintf(stderr, "no loop device available (needs root and losetup): skipped\n");
		skip();
	}
	struct blk_file_opts o = {.path = g_loop, .direct = true};
	struct blk_dev *d = NULL;
	assert_int_equal(blk_file_create("loop", &o, &d), 0);
	assert_int_equal(d->info.block_size, 512);
	assert_int_equal(d->info.num_blocks, (64 << 20) / 512);
	assert_true(d->info.unmap_zeroes);
	struct blk_file_stats st;
	assert_int_equal(blk_file_get_stats(d, &st), 0);
	assert_true(st.direct);

	/* opened exclusively: a second writer is refused */
	struct blk_dev *d2 = NULL;
	assert_int_equal(blk_file_create("loop2", &o, &d2), -EBUSY);

	/* data through misaligned iovecs (bounced) and aligned ones */
	size_t len = 1 << 20;
	uint8_t *w = malloc(len + 1), *r = buf_get(len);
	h_fill(w + 1, len, 4);
	struct iovec wv = {w + 1, len};
	bool bad = false;
	assert_int_equal(h_io_flags(d, BLK_OP_WRITE, BLK_F_FUA, 2048, 2048, &wv, 1, &bad), 0);
	struct iovec rv = {r, len};
	assert_int_equal(h_io(d, BLK_OP_READ, 2048, 2048, &rv, 1, &bad), 0);
	assert_memory_equal(r, w + 1, len);
	assert_int_equal(h_io(d, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
	/* the data is in the backing file */
	int fd = open(g_img, O_RDONLY);
	assert_true(fd >= 0);
	uint8_t *chk = malloc(len);
	assert_int_equal(pread(fd, chk, len, 2048 * 512), (ssize_t)len);
	assert_memory_equal(chk, w + 1, len);
	close(fd);

	/* UNMAP reads back zeroes; WRITE_ZEROES too; neighbours intact */
	blkcnt_t before = img_blocks();
	assert_int_equal(h_io(d, BLK_OP_UNMAP, 2048, 1024, NULL, 0, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_WRITE_ZEROES, 3500, 9, NULL, 0, &bad), 0);
	assert_int_equal(h_io(d, BLK_OP_READ, 2048, 2048, &rv, 1, &bad), 0);
	memset(w + 1, 0, 1024 * 512);
	memset(w + 1 + (3500 - 2048) * 512, 0, 9 * 512);
	assert_memory_equal(r, w + 1, len);
	assert_int_equal(h_io(d, BLK_OP_FLUSH, 0, 0, NULL, 0, &bad), 0);
	if (d->info.supports_unmap)
		assert_true(img_blocks() < before);

	/* past the end */
	assert_int_equal(h_io(d, BLK_OP_READ, d->info.num_blocks - 1, 2048, &rv, 1, &bad), -EINVAL);
	assert_false(bad);
	blk_destroy(d);

	/* use a prefix of the device; more than the device is refused */
	o.size_bytes = 32 << 20;
	assert_int_equal(blk_file_create("loop", &o, &d), 0);
	assert_int_equal(d->info.num_blocks, (32 << 20) / 512);
	assert_int_equal(blk_refresh(d), 0);
	assert_int_equal(d->info.num_blocks, (32 << 20) / 512);
	blk_destroy(d);
	o.size_bytes = 128 << 20;
	assert_int_equal(blk_file_create("loop", &o, &d), -EINVAL);

	/* the device grows: refresh picks it up */
	o.size_bytes = 0;
	o.block_size = 4096;
	assert_int_equal(blk_file_create("loop", &o, &d), 0);
	assert_int_equal(d->info.num_blocks, (64 << 20) / 4096);
	assert_int_equal(truncate(g_img, 96 << 20), 0);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "losetup -c %s", g_loop);
	assert_int_equal(sh(cmd, NULL, 0), 0);
	assert_int_equal(blk_refresh(d), 0);
	assert_int_equal(d->info.num_blocks, (96 << 20) / 4096);
	blk_destroy(d);

	free(w);
	free(chk);
	buf_put(r, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_loop_device, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

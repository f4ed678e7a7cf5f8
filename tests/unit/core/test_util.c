/* test_util.c - unit tests for the iovec copy helpers and big-endian accessors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/util.h"

/* Three uneven segments plus an empty one: 5 + 0 + 3 + 8 = 16 bytes. */
static char s0[5], s2[3], s3[8];
static struct iovec g_iov[4];

static int setup(void **state)
{
	(void)state;
	memset(s0, '.', sizeof(s0));
	memset(s2, '.', sizeof(s2));
	memset(s3, '.', sizeof(s3));
	g_iov[0] = (struct iovec){ s0, sizeof(s0) };
	g_iov[1] = (struct iovec){ NULL, 0 };
	g_iov[2] = (struct iovec){ s2, sizeof(s2) };
	g_iov[3] = (struct iovec){ s3, sizeof(s3) };
	return 0;
}

static void flat(char out[16])
{
	memcpy(out, s0, 5);
	memcpy(out + 5, s2, 3);
	memcpy(out + 8, s3, 8);
}

static void test_from_buf_every_offset(void **state)
{
	(void)state;
	const char *src = "ABCDEFGHIJKLMNOP";
	for (size_t off = 0; off <= 16; off++) {
		for (size_t len = 0; len <= 18; len++) {
			setup(NULL);
			size_t n = iov_from_buf(g_iov, 4, off, src, len);
			size_t want = off + len > 16 ? 16 - off : len;
			assert_int_equal(n, want);
			char out[16], exp[16];
			flat(out);
			memset(exp, '.', 16);
			memcpy(exp + off, src, want);
			assert_memory_equal(out, exp, 16);
		}
	}
}

static void test_to_buf_every_offset(void **state)
{
	(void)state;
	setup(NULL);
	assert_int_equal(iov_from_buf(g_iov, 4, 0, "abcdefghijklmnop", 16), 16);
	for (size_t off = 0; off <= 20; off++) {
		for (size_t len = 0; len <= 18; len++) {
			char out[20];
			memset(out, '#', sizeof(out));
			size_t n = iov_to_buf(g_iov, 4, off, out, len);
			size_t want = off >= 16 ? 0 : (off + len > 16 ? 16 - off : len);
			assert_int_equal(n, want);
			assert_memory_equal(out, "abcdefghijklmnop" + (off < 16 ? off : 16), want);
			assert_int_equal(out[want], '#'); /* nothing past the copied bytes */
		}
	}
}

static void test_memset(void **state)
{
	(void)state;
	setup(NULL);
	assert_int_equal(iov_memset(g_iov, 4, 3, 0, 7), 7);
	char out[16];
	flat(out);
	assert_memory_equal(out, "...\0\0\0\0\0\0\0......", 16);
	assert_int_equal(iov_memset(g_iov, 4, 14, 'z', 100), 2);
	flat(out);
	assert_memory_equal(out + 13, ".zz", 3);
	assert_int_equal(iov_memset(g_iov, 4, 16, 'z', 1), 0);
	assert_int_equal(iov_memset(g_iov, 0, 0, 'z', 1), 0);
	assert_int_equal(iov_length(g_iov, 4), 16);
}

static void test_be(void **state)
{
	(void)state;
	uint8_t b[8];
	put_be16(b, 0x1234);
	assert_int_equal(get_be16(b), 0x1234);
	assert_int_equal(b[0], 0x12);
	put_be24(b, 0xabcdef);
	assert_int_equal(get_be24(b), 0xabcdef);
	put_be32(b, 0xdeadbeef);
	assert_int_equal(b[0], 0xde);
	assert_int_equal(b[3], 0xef);
	assert_int_equal(get_be32(b), 0xdeadbeef);
	put_be64(b, 0x0102030405060708ull);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[7], 8);
	assert_true(get_be64(b) == 0x0102030405060708ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_buf_every_offset),
		cmocka_unit_test(test_to_buf_every_offset),
		cmocka_unit_test(test_memset),
		cmocka_unit_test(test_be),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

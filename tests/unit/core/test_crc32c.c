/* test_crc32c.c - CRC32C against published check values, iSCSI digest vectors and incremental/iovec forms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"

static void test_check_value(void **state)
{
	(void)state;
	assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c("", 0), 0);
}

/* RFC 3720 appendix B.4 CRC examples. */
static void test_iscsi_vectors(void **state)
{
	(void)state;
	uint8_t b[48];
	memset(b, 0, 32);
	assert_int_equal(crc32c(b, 32), 0x8A9136AAu);
	memset(b, 0xff, 32);
	assert_int_equal(crc32c(b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(crc32c(b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(crc32c(b, 32), 0x113FDB5Cu);
	static const uint8_t scsi_read[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	assert_int_equal(crc32c(scsi_read, 48), 0xD9963A56u);
}

static void test_incremental_equals_whole(void **state)
{
	(void)state;
	size_t n = 10000;
	uint8_t *b = malloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 131 + 17);
	uint32_t whole = crc32c(b, n);
	size_t cuts[] = { 0, 1, 3, 7, 64, 511, 4096, 9999, 10000 };
	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		uint32_t s = crc32c_begin();
		s = crc32c_update(s, b, cuts[c]);
		s = crc32c_update(s, b + cuts[c], n - cuts[c]);
		assert_int_equal(crc32c_end(s), whole);
	}
	/* Byte by byte. */
	uint32_t s = crc32c_begin();
	for (size_t i = 0; i < n; i++)
		s = crc32c_update(s, b + i, 1);
	assert_int_equal(crc32c_end(s), whole);
	/* A single flipped bit changes the CRC. */
	b[5000] ^= 0x10;
	assert_int_not_equal(crc32c(b, n), whole);
	free(b);
}

static void test_iov(void **state)
{
	(void)state;
	uint8_t b[300];
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i ^ 0x5a);
	struct iovec iov[4] = {
		{ b, 10 }, { b + 10, 0 }, { b + 10, 90 }, { b + 100, 200 },
	};
	for (size_t off = 0; off < 300; off += 7)
		for (size_t len = 0; off + len <= 300; len += 13)
			assert_int_equal(crc32c_iov(iov, 4, off, len), crc32c(b + off, len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_iscsi_vectors),
		cmocka_unit_test(test_incremental_equals_whole),
		cmocka_unit_test(test_iov),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

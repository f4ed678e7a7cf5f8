/* test_spc_mode.c - MODE SENSE / MODE SELECT: caching page WCE truthfulness and round-trip, control page, errors, UAs. */
#include "spc_harness.h"

static struct s_env E;

static int setup(void **state)
{
	struct scsi_lu_opts o = { .name = "vol0", .write_cache = true };
	(void)state;
	if (s_reactors_start())
		return -1;
	s_env_init(&E, &o);
	s_clear_ua(E.n1, 0);
	s_clear_ua(E.n2, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	s_env_fini(&E);
	s_reactors_stop();
	return 0;
}

static int sense6(struct s_cmd *c, struct scsi_nexus *n, uint64_t lun, uint8_t dbd, uint8_t pc, uint8_t page,
		  uint8_t *buf, uint8_t alloc)
{
	uint8_t cdb[6] = { 0x1a, dbd ? 0x08 : 0, (uint8_t)(pc << 6 | page), 0, alloc, 0 };
	return s_exec(c, n, lun, cdb, 6, SCSI_DIR_READ, buf, alloc);
}

static int select6(struct s_cmd *c, struct scsi_nexus *n, uint8_t byte1, uint8_t *buf, uint8_t len)
{
	uint8_t cdb[6] = { 0x15, byte1, 0, 0, len, 0 };
	return s_exec(c, n, 0, cdb, 6, SCSI_DIR_WRITE, buf, len);
}

/* Current caching page through MODE SENSE(6) with DBD: WCE bit. */
static bool wce_of(struct scsi_nexus *n)
{
	struct s_cmd c;
	uint8_t buf[64];
	assert_int_equal(sense6(&c, n, 0, 1, 0, 0x08, buf, 64), SCSI_STATUS_GOOD);
	assert_int_equal(buf[3], 0);                 /* no block descriptor */
	assert_int_equal(buf[4] & 0x3f, 0x08);
	assert_int_equal(buf[5], 0x12);
	return buf[6] & 0x04;
}

static void test_mode_sense_basics(void **state)
{
	struct s_cmd c;
	uint8_t buf[255];
	uint32_t off;
	unsigned pages = 0;
	(void)state;

	/* all pages with a block descriptor */
	assert_int_equal(sense6(&c, E.n1, 0, 0, 0, 0x3f, buf, 255), SCSI_STATUS_GOOD);
	assert_int_equal(buf[0], c.t.data_in_len - 1);
	assert_int_equal(buf[2] & 0x80, 0);          /* not write protected */
	assert_int_equal(buf[2] & 0x10, 0x10);       /* DPOFUA */
	assert_int_equal(buf[3], 8);
	assert_int_equal(get_be32(buf + 4), 2048);
	assert_int_equal(get_be24(buf + 9), 512);
	for (off = 12; off < c.t.data_in_len; off += buf[off + 1] + 2u)
		pages++;
	assert_int_equal(off, c.t.data_in_len);
	assert_int_equal(pages, 4);

	/* MODE SENSE(10) with LLBAA: long block descriptor */
	{
		uint8_t cdb[10] = { 0x5a, 0x10, 0x08, 0, 0, 0, 0, 0, 255, 0 };
		assert_int_equal(s_exec(&c, E.n1, 0, cdb, 10, SCSI_DIR_READ, buf, 255), SCSI_STATUS_GOOD);
		assert_int_equal(get_be16(buf), c.t.data_in_len - 2);
		assert_int_equal(buf[4] & 1, 1);
		assert_int_equal(get_be16(buf + 6), 16);
		assert_int_equal(get_be64(buf + 8), 2048);
		assert_int_equal(get_be32(buf + 8 + 12), 512);
		assert_int_equal(buf[24], 0x08);
	}
	/* saved values are not supported; unknown page; bad subpage */
	sense6(&c, E.n1, 0, 0, 3, 0x08, buf, 255);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x39, 0x00);
	sense6(&c, E.n1, 0, 0, 0, 0x05, buf, 255);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	{
		uint8_t cdb[6] = { 0x1a, 0, 0x08, 0x05, 255, 0 };
		s_exec(&c, E.n1, 0, cdb, 6, SCSI_DIR_READ, buf, 255);
		assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		assert_int_equal(get_be16(c.t.sense + 16), 3);
	}
	/* allocation length truncates */
	assert_int_equal(sense6(&c, E.n1, 0, 0, 0, 0x3f, buf, 4), SCSI_STATUS_GOOD);
	assert_int_equal(c.t.data_in_len, 4);
}

static void test_wce_round_trip(void **state)
{
	struct s_cmd c;
	uint8_t buf[64];
	uint8_t page[4 + 20];
	(void)state;

	assert_true(wce_of(E.n1));
	assert_true(scsi_lu_wce(E.lu[0]));
	/* changeable mask: WCE */
	assert_int_equal(sense6(&c, E.n1, 0, 1, 1, 0x08, buf, 64), SCSI_STATUS_GOOD);
	assert_int_equal(buf[6], 0x04);

	/* turn the write cache off, echoing the current page back */
	assert_int_equal(sense6(&c, E.n1, 0, 1, 0, 0x08, page, sizeof(page)), SCSI_STATUS_GOOD);
	page[0] = 0;
	page[4] |= 0x80; /* PS as MODE SENSE would report it: ignored by MODE SELECT */
	page[6] &= (uint8_t)~0x04;
	assert_int_equal(select6(&c, E.n1, 0x10, page, sizeof(page)), SCSI_STATUS_GOOD);
	assert_false(scsi_lu_wce(E.lu[0]));
	assert_false(wce_of(E.n1));
	/* the other I_T nexus learns about it; the issuer does not */
	s_exec(&c, E.n2, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x2a, 0x01);
	assert_int_equal(s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	/* selecting the same values again changes nothing: no unit attention */
	assert_int_equal(select6(&c, E.n1, 0x10, page, sizeof(page)), SCSI_STATUS_GOOD);
	assert_int_equal(s_exec(&c, E.n2, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);

	/* and back on with MODE SELECT(10) */
	{
		uint8_t p10[8 + 20];
		uint8_t cdb[10] = { 0x55, 0x10, 0, 0, 0, 0, 0, 0, sizeof(p10), 0 };
		memset(p10, 0, sizeof(p10));
		memcpy(p10 + 8, page + 4, 20);
		p10[8 + 2] |= 0x04;
		assert_int_equal(s_exec(&c, E.n1, 0, cdb, 10, SCSI_DIR_WRITE, p10, sizeof(p10)), SCSI_STATUS_GOOD);
		assert_true(scsi_lu_wce(E.lu[0]));
	}

	/* a bit that is not changeable (RCD) */
	page[6] = 0x04 | 0x01;
	select6(&c, E.n1, 0x10, page, sizeof(page));
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	assert_int_equal(c.t.sense[15], 0x80 | 0x08 | 0); /* field in parameter list, bit 0 */
	assert_int_equal(get_be16(c.t.sense + 16), 6);
	page[6] = 0x04;
	/* SP=1 */
	select6(&c, E.n1, 0x11, page, sizeof(page));
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	/* wrong page length */
	page[5] = 0x11;
	select6(&c, E.n1, 0x10, page, sizeof(page));
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	assert_int_equal(get_be16(c.t.sense + 16), 5);
	page[5] = 0x12;
	/* truncated page */
	select6(&c, E.n1, 0x10, page, 10);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	/* parameter list length 0: nothing to do */
	assert_int_equal(select6(&c, E.n1, 0x10, page, 0), SCSI_STATUS_GOOD);
}

static void test_wce_without_cache(void **state)
{
	struct s_cmd c;
	uint8_t buf[64];
	struct scsi_lu_opts o = { .name = "nocache", .write_cache = true };
	uint8_t page[4 + 20];
	(void)state;

	/* a device without a volatile cache never reports WCE=1 and cannot be changed */
	s_add_lu(&E, 1, 64, false, &o);
	s_clear_ua(E.n1, 1);
	{
		uint8_t cdb[6] = { 0x1a, 0x08, 0x08, 0, 64, 0 };
		assert_int_equal(s_exec(&c, E.n1, 1, cdb, 6, SCSI_DIR_READ, page, sizeof(page)), SCSI_STATUS_GOOD);
		assert_int_equal(page[6] & 0x04, 0);
		cdb[2] = 0x48; /* changeable */
		assert_int_equal(s_exec(&c, E.n1, 1, cdb, 6, SCSI_DIR_READ, buf, 64), SCSI_STATUS_GOOD);
		assert_int_equal(buf[6], 0);
	}
	assert_false(scsi_lu_wce(E.lu[1]));
	page[0] = 0;
	page[6] |= 0x04;
	{
		uint8_t cdb[6] = { 0x15, 0x10, 0, 0, sizeof(page), 0 };
		s_exec(&c, E.n1, 1, cdb, 6, SCSI_DIR_WRITE, page, sizeof(page));
		assert_sense(&c, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	}
	assert_false(scsi_lu_wce(E.lu[1]));
}

static void test_d_sense(void **state)
{
	struct s_cmd c;
	uint8_t page[4 + 12];
	uint8_t bad[6] = { 0xc1 };
	(void)state;

	assert_int_equal(sense6(&c, E.n1, 0, 1, 0, 0x0a, page, sizeof(page)), SCSI_STATUS_GOOD);
	assert_int_equal(page[4], 0x0a);
	assert_int_equal(page[6] & 0x04, 0);
	page[0] = 0;
	page[6] |= 0x04;
	assert_int_equal(select6(&c, E.n1, 0x10, page, sizeof(page)), SCSI_STATUS_GOOD);
	/* errors now come in descriptor format */
	s_exec(&c, E.n1, 0, bad, 6, SCSI_DIR_NONE, NULL, 0);
	assert_int_equal(c.t.sense[0], 0x72);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x20, 0x00);
	/* LU reset restores the defaults */
	assert_int_equal(scsi_tmf_lu(E.n1, 0, SCSI_TMF_LU_RESET), SCSI_TMF_RSP_COMPLETE);
	s_exec(&c, E.n1, 0, bad, 6, SCSI_DIR_NONE, NULL, 0);
	assert_int_equal(c.t.sense[0], 0x70);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x29, 0x03);
}

static void test_software_write_protect(void **state)
{
	struct s_cmd c;
	uint8_t page[4 + 12], buf[512];
	uint8_t w10[10] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	uint8_t r10[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	(void)state;

	assert_int_equal(sense6(&c, E.n1, 0, 1, 1, 0x0a, page, sizeof(page)), SCSI_STATUS_GOOD);
	assert_int_equal(page[8] & 0x08, 0x08);      /* SWP changeable */
	assert_int_equal(sense6(&c, E.n1, 0, 1, 0, 0x0a, page, sizeof(page)), SCSI_STATUS_GOOD);
	page[0] = 0;
	page[8] |= 0x08;
	assert_int_equal(select6(&c, E.n2, 0x10, page, sizeof(page)), SCSI_STATUS_GOOD);
	s_clear_ua(E.n1, 0);
	s_exec(&c, E.n1, 0, w10, 10, SCSI_DIR_WRITE, buf, 512);
	assert_sense(&c, SK_DATA_PROTECT, 0x27, 0x02);
	assert_int_equal(s_exec(&c, E.n1, 0, r10, 10, SCSI_DIR_READ, buf, 512), SCSI_STATUS_GOOD);
	assert_int_equal(sense6(&c, E.n1, 0, 0, 0, 0x3f, buf, 64), SCSI_STATUS_GOOD);
	assert_int_equal(buf[2] & 0x80, 0x80);       /* WP */
	page[8] &= (uint8_t)~0x08;
	assert_int_equal(select6(&c, E.n2, 0x10, page, sizeof(page)), SCSI_STATUS_GOOD);
	s_clear_ua(E.n1, 0);
	assert_int_equal(s_exec(&c, E.n1, 0, w10, 10, SCSI_DIR_WRITE, buf, 512), SCSI_STATUS_GOOD);
}

static void test_write_protect_bit(void **state)
{
	struct s_cmd c;
	uint8_t buf[64];
	struct scsi_lu_opts o = { .name = "ro", .read_only = true };
	uint8_t cdb[10] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	(void)state;

	s_add_lu(&E, 2, 64, false, &o);
	s_clear_ua(E.n1, 2);
	assert_int_equal(sense6(&c, E.n1, 2, 0, 0, 0x3f, buf, 64), SCSI_STATUS_GOOD);
	assert_int_equal(buf[2] & 0x80, 0x80);
	/* writes are refused before they reach the device */
	s_exec(&c, E.n1, 2, cdb, 10, SCSI_DIR_WRITE, buf, 512 > sizeof(buf) ? sizeof(buf) : 512);
	assert_sense(&c, SK_DATA_PROTECT, 0x27, 0x00);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mode_sense_basics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wce_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wce_without_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_d_sense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_protect_bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_software_write_protect, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

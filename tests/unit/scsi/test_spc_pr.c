/* test_spc_pr.c - persistent reservations and RESERVE/RELEASE between two I_T nexuses, conflicts, preempt, clear, resets. */
#include "spc_harness.h"

static struct s_env E;

#define KEY1 0x1111222233334444ull
#define KEY2 0xaaaabbbbccccddddull

static int setup(void **state)
{
	(void)state;
	if (s_reactors_start())
		return -1;
	s_env_init(&E, NULL);
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

static int prout(struct s_cmd *c, struct scsi_nexus *n, uint8_t sa, uint8_t type, uint64_t key, uint64_t sark,
		 uint8_t flags)
{
	uint8_t p[24] = { 0 };
	uint8_t cdb[10] = { 0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0 };
	put_be64(p, key);
	put_be64(p + 8, sark);
	p[20] = flags;
	return s_exec(c, n, 0, cdb, 10, SCSI_DIR_WRITE, p, 24);
}

static int prin(struct s_cmd *c, struct scsi_nexus *n, uint8_t sa, uint8_t *buf, uint16_t len)
{
	uint8_t cdb[10] = { 0x5e, sa, 0, 0, 0, 0, 0, (uint8_t)(len >> 8), (uint8_t)len, 0 };
	return s_exec(c, n, 0, cdb, 10, SCSI_DIR_READ, buf, len);
}

static int read10(struct s_cmd *c, struct scsi_nexus *n)
{
	static uint8_t data[512];
	uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0 };
	return s_exec(c, n, 0, cdb, 10, SCSI_DIR_READ, data, 512);
}

static int write10(struct s_cmd *c, struct scsi_nexus *n)
{
	static uint8_t data[512];
	uint8_t cdb[10] = { 0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0 };
	return s_exec(c, n, 0, cdb, 10, SCSI_DIR_WRITE, data, 512);
}

static void test_register_keys(void **state)
{
	struct s_cmd c;
	uint8_t buf[256];
	(void)state;

	/* unregistered nexus with a non-zero key: conflict */
	assert_int_equal(prout(&c, E.n1, 0x00, 0, KEY2, KEY1, 0), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prout(&c, E.n1, 0x00, 0, 0, KEY1, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(&c, E.n2, 0x06, 0, 0xdead, KEY2, 0), SCSI_STATUS_GOOD); /* ignore existing key */
	assert_int_equal(prin(&c, E.n1, 0x00, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf), 2);          /* PRgeneration */
	assert_int_equal(get_be32(buf + 4), 16);
	assert_true(get_be64(buf + 8) == KEY1);
	assert_true(get_be64(buf + 16) == KEY2);
	/* re-register with the wrong key */
	assert_int_equal(prout(&c, E.n1, 0x00, 0, KEY2, 5, 0), SCSI_STATUS_RESERVATION_CONFLICT);
	/* APTPL, ALL_TG_PT and SPEC_I_PT are refused */
	prout(&c, E.n1, 0x00, 0, KEY1, KEY1, 0x01);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	prout(&c, E.n1, 0x00, 0, KEY1, KEY1, 0x04);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	prout(&c, E.n1, 0x00, 0, KEY1, KEY1, 0x08);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	/* parameter list length must be 24 */
	{
		uint8_t p[32] = { 0 };
		uint8_t cdb[10] = { 0x5f, 0, 0, 0, 0, 0, 0, 0, 32, 0 };
		s_exec(&c, E.n1, 0, cdb, 10, SCSI_DIR_WRITE, p, 32);
		assert_sense(&c, SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	}
	/* REPORT CAPABILITIES */
	assert_int_equal(prin(&c, E.n1, 0x02, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_int_equal(get_be16(buf), 8);
	assert_int_equal(buf[2] & 0x01, 0);          /* PTPL_C */
	assert_int_equal(get_be16(buf + 4), 0xea01); /* WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX, EX_AC_AR */
	/* unregister */
	assert_int_equal(prout(&c, E.n2, 0x00, 0, KEY2, 0, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prin(&c, E.n1, 0x00, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf), 3);
	assert_int_equal(get_be32(buf + 4), 8);
}

static void test_reserve_conflict_preempt(void **state)
{
	struct s_cmd c;
	uint8_t buf[256];
	(void)state;

	assert_int_equal(prout(&c, E.n1, 0x06, 0, 0, KEY1, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(&c, E.n2, 0x06, 0, 0, KEY2, 0), SCSI_STATUS_GOOD);
	/* reserve without a matching key; bad type; then WRITE EXCLUSIVE */
	assert_int_equal(prout(&c, E.n1, 0x01, SCSI_PR_WE, KEY2, 0, 0), SCSI_STATUS_RESERVATION_CONFLICT);
	prout(&c, E.n1, 0x01, 2, KEY1, 0, 0);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	assert_int_equal(prout(&c, E.n1, 0x01, SCSI_PR_WE, KEY1, 0, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(&c, E.n1, 0x01, SCSI_PR_WE, KEY1, 0, 0), SCSI_STATUS_GOOD); /* same again */
	assert_int_equal(prin(&c, E.n2, 0x01, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf + 4), 16);
	assert_true(get_be64(buf + 8) == KEY1);
	assert_int_equal(buf[21], SCSI_PR_WE);

	/* under WRITE EXCLUSIVE the other nexus reads but does not write */
	assert_int_equal(read10(&c, E.n2), SCSI_STATUS_GOOD);
	assert_int_equal(write10(&c, E.n2), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(write10(&c, E.n1), SCSI_STATUS_GOOD);
	assert_int_equal(s_exec(&c, E.n2, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	{
		uint8_t ms[6] = { 0x1a, 0, 0x3f, 0, 255, 0 };
		assert_int_equal(s_exec(&c, E.n2, 0, ms, 6, SCSI_DIR_READ, buf, 255), SCSI_STATUS_RESERVATION_CONFLICT);
	}
	/* reserving over it, or a different type: conflict */
	assert_int_equal(prout(&c, E.n2, 0x01, SCSI_PR_WE, KEY2, 0, 0), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prout(&c, E.n1, 0x01, SCSI_PR_EA, KEY1, 0, 0), SCSI_STATUS_RESERVATION_CONFLICT);
	/* RESERVE(6) while registrations exist: conflict */
	{
		uint8_t r6[6] = { 0x16 };
		assert_int_equal(s_exec(&c, E.n1, 0, r6, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_RESERVATION_CONFLICT);
	}

	/* n2 preempts n1 and takes EXCLUSIVE ACCESS */
	assert_int_equal(prout(&c, E.n2, 0x04, SCSI_PR_EA, KEY2, KEY1, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prin(&c, E.n2, 0x00, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf + 4), 8);
	assert_true(get_be64(buf + 8) == KEY2);
	assert_int_equal(prin(&c, E.n2, 0x01, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_true(get_be64(buf + 8) == KEY2);
	assert_int_equal(buf[21], SCSI_PR_EA);
	/* n1 learns its registration is gone, then reads conflict under EA */
	s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x2a, 0x05);
	assert_int_equal(read10(&c, E.n1), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(read10(&c, E.n2), SCSI_STATUS_GOOD);

	/* release with the wrong type, then properly */
	prout(&c, E.n2, 0x02, SCSI_PR_WE, KEY2, 0, 0);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x26, 0x04);
	assert_int_equal(prout(&c, E.n2, 0x02, SCSI_PR_EA, KEY2, 0, 0), SCSI_STATUS_GOOD);
	assert_int_equal(read10(&c, E.n1), SCSI_STATUS_GOOD);
	assert_int_equal(prin(&c, E.n2, 0x01, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf + 4), 0);
}

static void test_registrants_only_and_clear(void **state)
{
	struct s_cmd c;
	uint8_t buf[512];
	(void)state;

	assert_int_equal(prout(&c, E.n1, 0x06, 0, 0, KEY1, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(&c, E.n2, 0x06, 0, 0, KEY2, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(&c, E.n1, 0x01, SCSI_PR_EA_AR, KEY1, 0, 0), SCSI_STATUS_GOOD);
	/* all-registrants: key reported as 0, every registrant has access */
	assert_int_equal(prin(&c, E.n1, 0x01, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_true(get_be64(buf + 8) == 0);
	assert_int_equal(write10(&c, E.n2), SCSI_STATUS_GOOD);
	/* READ FULL STATUS: both are holders, with iSCSI TransportIDs */
	assert_int_equal(prin(&c, E.n1, 0x03, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	{
		uint32_t len = get_be32(buf + 4), off = 8;
		unsigned n = 0;
		while (off < 8 + len) {
			uint8_t *d = buf + off;
			assert_int_equal(d[12] & 1, 1);
			assert_int_equal(d[13], SCSI_PR_EA_AR);
			assert_int_equal(get_be16(d + 18), 1);
			assert_int_equal(d[24], 0x45);
			assert_true(strstr((char *)d + 28, ",i,0x") != NULL);
			off += 24 + get_be32(d + 20);
			n++;
		}
		assert_int_equal(n, 2);
	}
	/* the holder that registered first leaves: the reservation stays with n2 */
	assert_int_equal(prout(&c, E.n1, 0x00, 0, KEY1, 0, 0), SCSI_STATUS_GOOD);
	assert_int_equal(write10(&c, E.n1), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prin(&c, E.n2, 0x01, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf + 4), 16);
	/* CLEAR by n2 with a wrong key, then right */
	assert_int_equal(prout(&c, E.n2, 0x03, 0, KEY1, 0, 0), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prout(&c, E.n1, 0x06, 0, 0, KEY1, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(&c, E.n2, 0x03, 0, KEY2, 0, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prin(&c, E.n2, 0x00, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf + 4), 0);
	s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x2a, 0x03);
	assert_int_equal(write10(&c, E.n1), SCSI_STATUS_GOOD);

	/* WE-RO: unregistered nexuses read, registered ones write */
	assert_int_equal(prout(&c, E.n1, 0x06, 0, 0, KEY1, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(&c, E.n1, 0x01, SCSI_PR_WE_RO, KEY1, 0, 0), SCSI_STATUS_GOOD);
	assert_int_equal(read10(&c, E.n2), SCSI_STATUS_GOOD);
	assert_int_equal(write10(&c, E.n2), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prout(&c, E.n2, 0x06, 0, 0, KEY2, 0), SCSI_STATUS_GOOD);
	assert_int_equal(write10(&c, E.n2), SCSI_STATUS_GOOD);
	/* the holder unregisters: a registrants-only reservation goes, the others are told */
	assert_int_equal(prout(&c, E.n1, 0x00, 0, KEY1, 0, 0), SCSI_STATUS_GOOD);
	s_exec(&c, E.n2, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x2a, 0x04);
}

static void test_register_and_move(void **state)
{
	struct s_cmd c;
	uint8_t buf[256];
	uint8_t p[24 + 4 + 64];
	const char *dst = S_PORT2;
	uint32_t nl = (uint32_t)ALIGN_UP(strlen(dst) + 1, 4);
	uint8_t cdb[10] = { 0x5f, 0x07, SCSI_PR_WE, 0, 0, 0, 0, 0, (uint8_t)(24 + 4 + nl), 0 };
	(void)state;

	assert_int_equal(prout(&c, E.n1, 0x06, 0, 0, KEY1, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(&c, E.n1, 0x01, SCSI_PR_WE, KEY1, 0, 0), SCSI_STATUS_GOOD);
	memset(p, 0, sizeof(p));
	put_be64(p, KEY1);
	put_be64(p + 8, KEY2);
	p[17] = 0x02; /* UNREG */
	put_be16(p + 18, 1);
	put_be32(p + 20, 4 + nl);
	p[24] = 0x45;
	put_be16(p + 26, (uint16_t)nl);
	memcpy(p + 28, dst, strlen(dst));
	assert_int_equal(s_exec(&c, E.n1, 0, cdb, 10, SCSI_DIR_WRITE, p, 24 + 4 + nl), SCSI_STATUS_GOOD);
	assert_int_equal(prin(&c, E.n2, 0x01, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_true(get_be64(buf + 8) == KEY2);
	assert_int_equal(prin(&c, E.n2, 0x00, buf, sizeof(buf)), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf + 4), 8);       /* n1 unregistered */
	assert_int_equal(write10(&c, E.n2), SCSI_STATUS_GOOD);
	assert_int_equal(write10(&c, E.n1), SCSI_STATUS_RESERVATION_CONFLICT);
}

static void test_reserve6(void **state)
{
	struct s_cmd c;
	uint8_t buf[255];
	uint8_t r6[6] = { 0x16 }, rel6[6] = { 0x17 };
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	uint8_t prin_cdb[10] = { 0x5e, 0, 0, 0, 0, 0, 0, 0, 64, 0 };
	(void)state;

	assert_int_equal(s_exec(&c, E.n1, 0, r6, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(s_exec(&c, E.n1, 0, r6, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(s_exec(&c, E.n2, 0, r6, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(s_exec(&c, E.n2, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(read10(&c, E.n2), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(s_exec(&c, E.n2, 0, inq, 6, SCSI_DIR_READ, buf, 36), SCSI_STATUS_GOOD);
	/* RELEASE by a non-holder: no-op */
	assert_int_equal(s_exec(&c, E.n2, 0, rel6, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(read10(&c, E.n2), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(read10(&c, E.n1), SCSI_STATUS_GOOD);
	/* PERSISTENT RESERVE IN conflicts under RESERVE, even for the holder */
	assert_int_equal(s_exec(&c, E.n1, 0, prin_cdb, 10, SCSI_DIR_READ, buf, 64), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(s_exec(&c, E.n1, 0, rel6, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(s_exec(&c, E.n2, 0, r6, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);

	/* I_T nexus loss releases it */
	scsi_nexus_destroy(E.n2);
	assert_int_equal(scsi_nexus_create(E.tgt, S_PORT2, &E.n2), 0);
	s_clear_ua(E.n2, 0);
	assert_int_equal(read10(&c, E.n1), SCSI_STATUS_GOOD);

	/* so does a logical unit reset, with a unit attention for everyone */
	assert_int_equal(s_exec(&c, E.n1, 0, r6, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(scsi_tmf_lu(E.n2, 0, SCSI_TMF_LU_RESET), SCSI_TMF_RSP_COMPLETE);
	s_exec(&c, E.n2, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x29, 0x03);
	assert_int_equal(read10(&c, E.n2), SCSI_STATUS_GOOD);
	s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x29, 0x03);
	assert_int_equal(scsi_tmf_lu(E.n1, 9, SCSI_TMF_LU_RESET), SCSI_TMF_RSP_NO_LUN);

	/* target warm reset: SCSI BUS RESET OCCURRED; CLEAR TASK SET: the others are told */
	assert_int_equal(scsi_tmf_lu(E.n1, 0, SCSI_TMF_TARGET_WARM_RESET), SCSI_TMF_RSP_COMPLETE);
	s_exec(&c, E.n2, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x29, 0x02);
	s_clear_ua(E.n1, 0);
	assert_int_equal(scsi_tmf_lu(E.n1, 0, SCSI_TMF_CLEAR_TASK_SET), SCSI_TMF_RSP_COMPLETE);
	assert_int_equal(s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	s_exec(&c, E.n2, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x2f, 0x00);
	assert_int_equal(scsi_tmf_lu(E.n1, 0, SCSI_TMF_CLEAR_ACA), SCSI_TMF_RSP_NOT_SUPPORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_conflict_preempt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registrants_only_and_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_and_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve6, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_spc.c - SPC-4 framework tests: INQUIRY and VPD pages, REPORT LUNS, unit attentions, opcode checks, RSOC, sense. */
#include "spc_harness.h"

static struct s_env E;

static int setup(void **state)
{
	struct scsi_lu_opts o = { .name = "vol0", .thin = true, .write_cache = true };
	(void)state;
	if (s_reactors_start())
		return -1;
	s_env_init(&E, &o);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	s_env_fini(&E);
	s_reactors_stop();
	return 0;
}

static void inquiry(struct s_cmd *c, struct scsi_nexus *n, uint64_t lun, bool evpd, uint8_t page, uint16_t alloc,
		    uint8_t *buf, uint32_t buflen)
{
	uint8_t cdb[6] = { 0x12, evpd ? 1 : 0, page, (uint8_t)(alloc >> 8), (uint8_t)alloc, 0 };
	s_exec(c, n, lun, cdb, 6, SCSI_DIR_READ, buf, buflen);
}

static void test_ua_sequence(void **state)
{
	struct s_cmd c;
	uint8_t buf[255];
	uint8_t rs[6] = { 0x03, 0, 0, 0, 252, 0 };
	(void)state;

	/* INQUIRY answers despite the power-on unit attention and leaves it */
	inquiry(&c, E.n1, 0, false, 0, 255, buf, sizeof(buf));
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	assert_int_equal(s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x29, 0x00);
	/* reported once, then gone */
	assert_int_equal(s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);

	/* REQUEST SENSE returns the unit attention with GOOD status and clears it */
	assert_int_equal(s_exec(&c, E.n2, 0, rs, 6, SCSI_DIR_READ, buf, 252), SCSI_STATUS_GOOD);
	assert_int_equal(c.t.data_in_len, 18);
	assert_int_equal(buf[0], 0x70);
	assert_int_equal(buf[2] & 0x0f, SK_UNIT_ATTENTION);
	assert_int_equal(buf[12], 0x29);
	assert_int_equal(s_exec(&c, E.n2, 0, rs, 6, SCSI_DIR_READ, buf, 252), SCSI_STATUS_GOOD);
	assert_int_equal(buf[2] & 0x0f, SK_NO_SENSE);
	assert_int_equal(buf[12], 0);
	/* DESC=1: descriptor format */
	rs[1] = 1;
	assert_int_equal(s_exec(&c, E.n2, 0, rs, 6, SCSI_DIR_READ, buf, 252), SCSI_STATUS_GOOD);
	assert_int_equal(buf[0], 0x72);
	assert_int_equal(c.t.data_in_len, 8);
}

static void test_inquiry_standard(void **state)
{
	struct s_cmd c;
	uint8_t buf[260];
	(void)state;

	inquiry(&c, E.n1, 0, false, 0, 260, buf, sizeof(buf));
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	assert_true(c.t.data_in_len >= 36);
	assert_int_equal(buf[0], 0x00);
	assert_int_equal(buf[1] & 0x80, 0);                 /* not removable */
	assert_int_equal(buf[2], 0x06);                     /* SPC-4 */
	assert_int_equal(buf[3] & 0x0f, 2);
	assert_int_equal(buf[4], c.t.data_in_len - 5);
	assert_true(buf[5] & 0x08);                         /* 3PC */
	assert_true(buf[7] & 0x02);                         /* CMDQUE */
	assert_memory_equal(buf + 8, "SOFTHBA ", 8);
	assert_memory_equal(buf + 16, "VIRTUAL-DISK    ", 16);
	assert_int_equal(get_be16(buf + 58), 0x00a0);       /* SAM-5 */
	assert_int_equal(get_be16(buf + 60), 0x0460);       /* SPC-4 */
	assert_int_equal(get_be16(buf + 62), 0x04c0);       /* SBC-3 */
	assert_true(c.t.resid_under);
	assert_int_equal(c.t.residual, 260 - c.t.data_in_len);

	/* allocation length shorter than the data: truncated, no residual vs. expected */
	inquiry(&c, E.n1, 0, false, 0, 5, buf, 5);
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	assert_int_equal(c.t.data_in_len, 5);
	assert_false(c.t.resid_under || c.t.resid_over);
	/* initiator expects less than the allocation length: overflow */
	inquiry(&c, E.n1, 0, false, 0, 255, buf, 10);
	assert_int_equal(c.t.data_in_len, 10);
	assert_true(c.t.resid_over);
	assert_int_equal(c.t.residual, 66 - 10); /* 58 + 4 version descriptors */
	/* allocation length 0: nothing */
	inquiry(&c, E.n1, 0, false, 0, 0, buf, 0);
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	assert_int_equal(c.t.data_in_len, 0);

	/* EVPD=0 with a page code; CMDDT; unknown VPD page */
	inquiry(&c, E.n1, 0, false, 0x80, 255, buf, 255);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	assert_int_equal(c.t.sense[15], 0x80 | 0x40);      /* SKSV, C/D, no bit pointer */
	assert_int_equal(get_be16(c.t.sense + 16), 2);
	{
		uint8_t cdb[6] = { 0x12, 0x02, 0, 0, 255, 0 };
		s_exec(&c, E.n1, 0, cdb, 6, SCSI_DIR_READ, buf, 255);
		assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		assert_int_equal(c.t.sense[15], 0x80 | 0x40 | 0x08 | 1);
	}
	inquiry(&c, E.n1, 0, true, 0x99, 255, buf, 255);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void test_inquiry_vpd(void **state)
{
	struct s_cmd c;
	uint8_t list[64], buf[1024];
	unsigned n;
	bool saw_naa = false, saw_relport = false, saw_name = false;
	(void)state;

	inquiry(&c, E.n1, 0, true, 0x00, 64, list, sizeof(list));
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	assert_int_equal(list[1], 0x00);
	n = get_be16(list + 2);
	assert_int_equal(c.t.data_in_len, 4 + n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t pg = list[4 + i];
		if (i)
			assert_true(pg > list[3 + i]);      /* ascending */
		inquiry(&c, E.n1, 0, true, pg, sizeof(buf), buf, sizeof(buf));
		assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
		assert_int_equal(buf[1], pg);
		assert_int_equal(c.t.data_in_len, 4u + get_be16(buf + 2));
	}
	assert_true(n >= 7);

	/* 80h: the serial derived from the volume name, printable */
	inquiry(&c, E.n1, 0, true, 0x80, 255, buf, 255);
	assert_int_equal(get_be16(buf + 2), strlen(E.lu[0]->serial));
	assert_memory_equal(buf + 4, E.lu[0]->serial, get_be16(buf + 2));

	/* 83h: NAA 6, relative target port 1, SCSI name string of the port */
	inquiry(&c, E.n1, 0, true, 0x83, sizeof(buf), buf, sizeof(buf));
	for (uint32_t off = 4; off < c.t.data_in_len; off += 4u + buf[off + 3]) {
		uint8_t *d = buf + off;
		uint8_t type = d[1] & 0x0f, assoc = (d[1] >> 4) & 3;
		if (type == 3) {
			assert_int_equal(d[3], 16);
			assert_int_equal(d[4] >> 4, 6);
			saw_naa = true;
		} else if (type == 4) {
			assert_int_equal(assoc, 1);
			assert_int_equal(get_be16(d + 6), 1);
			assert_int_equal(d[0] >> 4, 5);     /* iSCSI */
			saw_relport = true;
		} else if (type == 8 && assoc == 1) {
			assert_int_equal(d[3] % 4, 0);
			assert_string_equal((char *)d + 4, "iqn.2024-01.org.softhba:tgt,t,0x0001");
			saw_name = true;
		}
	}
	assert_true(saw_naa && saw_relport && saw_name);

	/* B0h: limits agree with what the SBC side enforces */
	inquiry(&c, E.n1, 0, true, 0xb0, 64, buf, 64);
	assert_int_equal(get_be16(buf + 2), 0x3c);
	assert_int_equal(buf[5], SCSI_MAX_CAW_BLOCKS);
	assert_int_equal(get_be32(buf + 8), E.lu[0]->max_xfer_blocks);
	assert_int_equal(get_be32(buf + 20), SCSI_MAX_UNMAP_BLOCKS);
	assert_int_equal(get_be32(buf + 24), SCSI_MAX_UNMAP_DESC);
	assert_int_equal(get_be64(buf + 36), SCSI_MAX_WS_BLOCKS);
	assert_int_equal(get_be32(buf + 44), SCSI_MAX_ATOMIC_BLOCKS);
	/* B1h: non-rotating */
	inquiry(&c, E.n1, 0, true, 0xb1, 64, buf, 64);
	assert_int_equal(get_be16(buf + 4), 1);
	/* B2h: thin, LBPU/LBPWS/LBPWS10 */
	inquiry(&c, E.n1, 0, true, 0xb2, 64, buf, 64);
	assert_int_equal(buf[5] & 0xe0, 0xe0);
	assert_int_equal(buf[6] & 0x07, 2);
	/* 86h: V_SUP for the volatile cache */
	inquiry(&c, E.n1, 0, true, 0x86, 64, buf, 64);
	assert_int_equal(buf[6] & 0x01, 1);
}

static void test_unknown_lun(void **state)
{
	struct s_cmd c;
	uint8_t buf[255];
	uint8_t rl[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
	uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };
	(void)state;

	inquiry(&c, E.n1, 7, false, 0, 255, buf, sizeof(buf));
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	assert_int_equal(buf[0], 0x7f);
	s_exec(&c, E.n1, 7, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x25, 0x00);
	assert_int_equal(s_exec(&c, E.n1, 7, rl, 12, SCSI_DIR_READ, buf, 255), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf), 8);
	assert_int_equal(s_exec(&c, E.n1, 7, rs, 6, SCSI_DIR_READ, buf, 18), SCSI_STATUS_GOOD);
	assert_int_equal(buf[2] & 0x0f, SK_ILLEGAL_REQUEST);
	assert_int_equal(buf[12], 0x25);
}

static void test_report_luns(void **state)
{
	struct s_cmd c;
	uint8_t buf[64];
	uint8_t rl[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0 };
	(void)state;

	s_add_lu(&E, 300, 64, false, NULL);
	/* the existing nexus sees the new LU with a unit attention; old LU learns the inventory changed */
	assert_int_equal(s_exec(&c, E.n1, 0, rl, 12, SCSI_DIR_READ, buf, 64), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf), 16);
	assert_int_equal(c.t.data_in_len, 24);
	assert_int_equal(get_be16(buf + 8), 0x0000);
	assert_int_equal(get_be16(buf + 16), 0x4000 | 300);  /* flat space */
	s_exec(&c, E.n1, 300, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x29, 0x00);
	s_clear_ua(E.n1, 0);

	rl[2] = 1; /* well-known only */
	assert_int_equal(s_exec(&c, E.n1, 0, rl, 12, SCSI_DIR_READ, buf, 64), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(buf), 0);
	rl[2] = 3;
	s_exec(&c, E.n1, 0, rl, 12, SCSI_DIR_READ, buf, 64);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	rl[2] = 0;
	rl[9] = 15; /* allocation length < 16 */
	s_exec(&c, E.n1, 0, rl, 12, SCSI_DIR_READ, buf, 64);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	assert_int_equal(get_be16(c.t.sense + 16), 6);
	/* duplicate LUN */
	assert_int_equal(scsi_lu_create(E.tgt, 300, E.dev[0], NULL, NULL), -EEXIST);
	assert_int_equal(scsi_lu_create(E.tgt, 16384, E.dev[0], NULL, NULL), -EINVAL);
}

static void test_opcode_checks(void **state)
{
	struct s_cmd c;
	uint8_t buf[512];
	(void)state;

	s_clear_ua(E.n1, 0);
	{
		uint8_t cdb[6] = { 0xc0 };
		s_exec(&c, E.n1, 0, cdb, 6, SCSI_DIR_NONE, NULL, 0);
		assert_sense(&c, SK_ILLEGAL_REQUEST, 0x20, 0x00);
	}
	{
		uint8_t cdb[16] = { 0x9e, 0x1f };
		s_exec(&c, E.n1, 0, cdb, 16, SCSI_DIR_READ, buf, 32);
		assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		assert_int_equal(get_be16(c.t.sense + 16), 1);
	}
	{
		uint8_t cdb[6] = { 0x00, 0, 0, 0, 0, 0x04 }; /* NACA */
		s_exec(&c, E.n1, 0, cdb, 6, SCSI_DIR_NONE, NULL, 0);
		assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		assert_int_equal(c.t.sense[15], 0x80 | 0x40 | 0x08 | 2);
		assert_int_equal(get_be16(c.t.sense + 16), 5);
	}
	{
		/* INQUIRY flagged as a write: nothing may land in the data-out
		 * buffer; all of it is reported as residual overflow */
		uint8_t cdb[6] = { 0x12, 0, 0, 0, 36, 0 };
		memset(buf, 0xee, 36);
		assert_int_equal(s_exec(&c, E.n1, 0, cdb, 6, SCSI_DIR_WRITE, buf, 36), SCSI_STATUS_GOOD);
		assert_int_equal(c.t.data_in_len, 0);
		assert_true(c.t.resid_over);
		assert_int_equal(c.t.residual, 36);
		assert_int_equal(c.t.exp_xfer_len, 36);
		assert_int_equal(buf[0], 0xee);
	}
	{
		/* WRITE(10) flagged as a read has no data to write */
		uint8_t cdb[10] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
		s_exec(&c, E.n1, 0, cdb, 10, SCSI_DIR_READ, buf, 512);
		assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	}
	{
		/* UNMAP exists on this thin LU; on a fully provisioned one it does not */
		uint8_t rsoc_cdb[12] = { 0xa3, 0x0c, 0x01, 0x42, 0, 0, 0, 0, 0, 64, 0, 0 };
		uint8_t unmap[10] = { 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
		assert_int_equal(s_exec(&c, E.n1, 0, rsoc_cdb, 12, SCSI_DIR_READ, buf, 64), SCSI_STATUS_GOOD);
		assert_int_equal(buf[1] & 0x07, 3);
		s_add_lu(&E, 1, 64, false, NULL);
		s_clear_ua(E.n1, 1);
		assert_int_equal(s_exec(&c, E.n1, 1, rsoc_cdb, 12, SCSI_DIR_READ, buf, 64), SCSI_STATUS_GOOD);
		assert_int_equal(buf[1] & 0x07, 1);
		s_exec(&c, E.n1, 1, unmap, 10, SCSI_DIR_NONE, NULL, 0);
		assert_sense(&c, SK_ILLEGAL_REQUEST, 0x20, 0x00);
		/* SANITIZE BLOCK ERASE: an unknown service action there */
		rsoc_cdb[2] = 0x02;
		rsoc_cdb[3] = 0x48;
		rsoc_cdb[5] = 0x02;
		assert_int_equal(s_exec(&c, E.n1, 1, rsoc_cdb, 12, SCSI_DIR_READ, buf, 64), SCSI_STATUS_GOOD);
		assert_int_equal(buf[1] & 0x07, 1);
		/* LU 0 reports REPORTED LUNS DATA HAS CHANGED first */
		s_exec(&c, E.n1, 0, rsoc_cdb, 12, SCSI_DIR_READ, buf, 64);
		assert_sense(&c, SK_UNIT_ATTENTION, 0x3f, 0x0e);
		assert_int_equal(s_exec(&c, E.n1, 0, rsoc_cdb, 12, SCSI_DIR_READ, buf, 64), SCSI_STATUS_GOOD);
		assert_int_equal(buf[1] & 0x07, 3);
	}
	/* a command that moves no data still reports the residual of what was expected */
	s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_READ, buf, 100);
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	assert_true(c.t.resid_under);
	assert_int_equal(c.t.residual, 100);
}

static void rsoc(struct s_cmd *c, uint8_t opts, uint8_t op, uint16_t sa, uint8_t *buf, uint32_t len)
{
	uint8_t cdb[12] = { 0xa3, 0x0c, opts, op, (uint8_t)(sa >> 8), (uint8_t)sa, (uint8_t)(len >> 24),
			    (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, 0, 0 };
	s_exec(c, E.n1, 0, cdb, 12, SCSI_DIR_READ, buf, len);
}

static void test_rsoc(void **state)
{
	struct s_cmd c;
	static uint8_t buf[8192];
	uint32_t len;
	bool saw_read10 = false, saw_rc16 = false, saw_prout_move = false;
	(void)state;

	s_clear_ua(E.n1, 0);
	rsoc(&c, 0, 0, 0, buf, sizeof(buf));
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	len = get_be32(buf);
	assert_int_equal(c.t.data_in_len, len + 4);
	for (uint32_t off = 4; off < len + 4; off += 8) {
		uint8_t *d = buf + off;
		assert_int_equal(d[5] & 0x02, 0);   /* no timeouts without RCTD */
		if (d[0] == 0x28) {
			saw_read10 = true;
			assert_int_equal(get_be16(d + 6), 10);
			assert_int_equal(d[5] & 1, 0);
		}
		if (d[0] == 0x9e && get_be16(d + 2) == 0x10) {
			saw_rc16 = true;
			assert_int_equal(d[5] & 1, 1);
		}
		if (d[0] == 0x5f && get_be16(d + 2) == 0x07)
			saw_prout_move = true;
	}
	assert_true(saw_read10 && saw_rc16 && saw_prout_move);

	/* RCTD: every descriptor carries a timeouts descriptor of length 0Ah */
	rsoc(&c, 0x80, 0, 0, buf, sizeof(buf));
	len = get_be32(buf);
	for (uint32_t off = 4; off < len + 4; off += 20) {
		assert_int_equal(buf[off + 5] & 0x02, 0x02);
		assert_int_equal(get_be16(buf + off + 8), 0x0a);
	}

	/* one command */
	rsoc(&c, 1, 0x28, 0, buf, 64);
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	assert_int_equal(buf[1] & 0x07, 3);
	assert_int_equal(get_be16(buf + 2), 10);
	assert_int_equal(buf[4], 0x28);
	assert_int_equal(buf[4 + 9], 0x04);       /* control byte: NACA examined */
	rsoc(&c, 1, 0x9e, 0x10, buf, 64);         /* has service actions */
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	rsoc(&c, 2, 0x9e, 0x10, buf, 64);
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	assert_int_equal(buf[4], 0x9e);
	assert_int_equal(buf[5] & 0x1f, 0x10);
	rsoc(&c, 2, 0x28, 0, buf, 64);            /* no service actions */
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	rsoc(&c, 1, 0xc0, 0, buf, 64);            /* unsupported: SUPPORT 001b */
	assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
	assert_int_equal(buf[1] & 0x07, 1);
	rsoc(&c, 0x81, 0x28, 0, buf, 64);
	assert_int_equal(buf[1] & 0x80, 0x80);
	assert_int_equal(get_be16(buf + 14), 0x0a);
	rsoc(&c, 5, 0x28, 0, buf, 64);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void test_sense_format(void **state)
{
	struct scsi_sense_info si = { .key = SK_MISCOMPARE, .asc = 0x1d, .ascq = 0, .info_valid = true, .info = 77 };
	uint8_t b[SCSI_SENSE_MAX];
	uint8_t n;
	(void)state;

	n = scsi_sense_encode(b, sizeof(b), false, &si);
	assert_int_equal(n, 18);
	assert_int_equal(b[0], 0xf0);             /* VALID | 70h */
	assert_int_equal(get_be32(b + 3), 77);
	assert_int_equal(b[7], 10);
	n = scsi_sense_encode(b, sizeof(b), true, &si);
	assert_int_equal(n, 20);
	assert_int_equal(b[0], 0x72);
	assert_int_equal(b[7], 12);
	assert_int_equal(b[8], 0x00);
	assert_int_equal(b[10], 0x80);
	assert_int_equal(get_be64(b + 12), 77);
	/* INFORMATION too big for the fixed format: VALID stays 0 */
	si.info = 1ull << 40;
	n = scsi_sense_encode(b, sizeof(b), false, &si);
	assert_int_equal(b[0], 0x70);
	/* progress indication */
	memset(&si, 0, sizeof(si));
	si.key = SK_NOT_READY;
	si.asc = 0x04;
	si.ascq = 0x1b;
	scsi_sense_progress(&si, 0x8000);
	scsi_sense_encode(b, sizeof(b), false, &si);
	assert_int_equal(b[15], 0x80);
	assert_int_equal(get_be16(b + 16), 0x8000);
	/* truncation to the caller's buffer */
	assert_int_equal(scsi_sense_encode(b, 8, false, &si), 8);

	assert_string_equal(scsi_sense_key_str(SK_UNIT_ATTENTION), "UNIT ATTENTION");
	assert_string_equal(scsi_asc_str(0x29, 0x00), "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED");
	assert_string_equal(scsi_asc_str(0x27, 0x07), "SPACE ALLOCATION FAILED WRITE PROTECT");
	assert_string_equal(scsi_asc_str(0x04, 0x1b), "LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS");
	assert_string_equal(scsi_asc_str(0x7f, 0x7f), "UNKNOWN ADDITIONAL SENSE CODE");
	assert_string_equal(scsi_asc_str(0x80, 0x01), "VENDOR SPECIFIC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ua_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inquiry_standard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inquiry_vpd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_lun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_luns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_opcode_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsoc, setup, teardown),
		cmocka_unit_test(test_sense_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_sbc_xcopy.c - EXTENDED COPY (LID1) between LUs of one target, RECEIVE COPY RESULTS and VPD 8Fh. */
#include "test_sbc_harness.h"

#define BS 512u
#define NBLK 8192u

static struct scsi_target *g_tg;
static struct blk_dev *g_dev[3], *g_err_dev;
static struct scsi_lu *g_lu[4];       /* LUN 0, 1: 512-byte blocks; LUN 2: 4096-byte blocks; LUN 3: fault injection over LUN 1's device */
static struct scsi_nexus *g_nx;

static void clear_ua(uint64_t lun)
{
	uint8_t cdb[6] = { 0 };
	struct scsi_task r;
	for (int i = 0; i < 8; i++)
		if (sh_exec(g_nx, lun, cdb, 6, SCSI_DIR_NONE, NULL, 0, 0, &r) == SCSI_STATUS_GOOD)
			return;
	fail_msg("unit attentions never cleared");
}

static int setup(void **state)
{
	(void)state;
	if (sh_start(2))
		return -1;
	if (scsi_target_create("iqn.2024-01.test:xcopy", 1, &g_tg))
		return -1;
	for (unsigned i = 0; i < 3; i++) {
		uint32_t bs = i == 2 ? 4096 : BS;
		char name[16];
		snprintf(name, sizeof(name), "x%u", i);
		if (blk_malloc_create(name, (uint64_t)NBLK * BS, bs, &g_dev[i]))
			return -1;
		struct scsi_lu_opts o = { .name = name };
		if (scsi_lu_create(g_tg, i, g_dev[i], &o, &g_lu[i]))
			return -1;
	}
	struct scsi_lu_opts oe = { .name = "xerr" };
	if (blk_error_create("xerr", g_dev[1], &g_err_dev) || scsi_lu_create(g_tg, 3, g_err_dev, &oe, &g_lu[3]))
		return -1;
	if (scsi_nexus_create(g_tg, "iqn.2024-01.test:init,i,0x000000000003", &g_nx))
		return -1;
	for (unsigned i = 0; i < 4; i++)
		clear_ua(i);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	scsi_nexus_destroy(g_nx);
	scsi_target_destroy(g_tg);
	sh_stop();
	blk_destroy(g_err_dev);
	for (unsigned i = 0; i < 3; i++)
		blk_destroy(g_dev[i]);
	return 0;
}

/* Identification CSCD descriptor (E4h) naming lu by its NAA designator. */
static void cscd(uint8_t *d, struct scsi_lu *lu, uint8_t type_code)
{
	memset(d, 0, 32);
	d[0] = type_code;
	d[1] = 0x00;                  /* block device */
	d[4] = 0x01;                  /* binary */
	d[5] = 0x03;                  /* association LU, NAA */
	d[7] = 16;
	scsi_lu_naa(lu, d + 8);
	put_be24(d + 29, lu->block_size);
}

/* Block -> block segment descriptor. */
static void seg(uint8_t *d, uint16_t src, uint16_t dst, uint16_t nblk, uint64_t src_lba, uint64_t dst_lba, bool dc)
{
	memset(d, 0, 28);
	d[0] = 0x02;
	d[1] = dc ? 0x02 : 0;
	put_be16(d + 2, 24);
	put_be16(d + 4, src);
	put_be16(d + 6, dst);
	put_be16(d + 10, nblk);
	put_be64(d + 12, src_lba);
	put_be64(d + 20, dst_lba);
}

static void header(uint8_t *p, uint8_t list_id, uint8_t usage, uint16_t tdl, uint32_t sdl)
{
	memset(p, 0, 16);
	p[0] = list_id;
	p[1] = (uint8_t)(usage << 3);
	put_be16(p + 2, tdl);
	put_be32(p + 8, sdl);
}

static uint8_t xcopy(uint64_t lun, uint8_t *pl, uint32_t len, struct scsi_task *r)
{
	uint8_t cdb[16] = { 0x83, 0x00 };
	put_be32(cdb + 10, len);
	return sh_exec(g_nx, lun, cdb, 16, len ? SCSI_DIR_WRITE : SCSI_DIR_NONE, pl, len, len, r);
}

static uint8_t rcr(uint8_t sa, uint8_t list_id, uint8_t *buf, uint32_t alloc, struct scsi_task *r)
{
	uint8_t cdb[16] = { 0x84, sa, list_id };
	put_be32(cdb + 10, alloc);
	return sh_exec(g_nx, 0, cdb, 16, SCSI_DIR_READ, buf, alloc, 0, r);
}

static uint8_t rw16(uint64_t lun, bool write, uint64_t lba, uint32_t n, uint8_t *data)
{
	uint32_t bs = g_lu[lun]->block_size;
	uint8_t cdb[16] = { write ? 0x8a : 0x88 };
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, n);
	return sh_exec(g_nx, lun, cdb, 16, write ? SCSI_DIR_WRITE : SCSI_DIR_READ, data, n * bs, write ? n * bs : 0,
		       NULL);
}

static void test_copy_between_lus(void **state)
{
	(void)state;
	/* 3000 blocks (1.5 MB: more than one chunk) from LUN 0 @ 10 to LUN 1 @ 4000 */
	const uint32_t n = 3000;
	uint8_t *src = malloc(n * BS), *dst = malloc(n * BS);
	for (uint32_t i = 0; i < n * BS; i++)
		src[i] = (uint8_t)(i * 7 + (i >> 9));
	assert_int_equal(rw16(0, true, 10, n, src), SCSI_STATUS_GOOD);

	uint8_t pl[16 + 64 + 28];
	header(pl, 7, 0, 64, 28);
	cscd(pl + 16, g_lu[0], 0xe4);
	cscd(pl + 48, g_lu[1], 0xe4);
	seg(pl + 80, 0, 1, (uint16_t)n, 10, 4000, false);
	struct scsi_task r;
	assert_int_equal(xcopy(0, pl, sizeof(pl), &r), SCSI_STATUS_GOOD);
	assert_int_equal(rw16(1, false, 4000, n, dst), SCSI_STATUS_GOOD);
	assert_memory_equal(src, dst, n * BS);

	/* COPY STATUS for list id 7 (held: LIST ID USAGE 00b) */
	uint8_t st[12];
	memset(st, 0xff, sizeof(st));
	assert_int_equal(rcr(0x00, 7, st, sizeof(st), &r), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(st), 8);
	assert_int_equal(st[4], 0x01);          /* completed without error */
	assert_int_equal(get_be16(st + 5), 1);  /* segments processed */
	assert_int_equal(st[7], 0x00);          /* bytes */
	assert_int_equal(get_be32(st + 8), n * BS);
	/* reported: released */
	rcr(0x00, 7, st, sizeof(st), &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);

	/* 512-byte LU -> 4096-byte LU with DC: 4 destination blocks = 32 source blocks */
	header(pl, 8, 3, 64, 28);
	cscd(pl + 16, g_lu[0], 0xe4);
	cscd(pl + 48, g_lu[2], 0xe4);
	seg(pl + 80, 0, 1, 4, 10, 100, true);
	xcopy(0, pl, sizeof(pl), &r); /* LIST ID USAGE 11b needs LIST IDENTIFIER 0 */
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	pl[0] = 0;
	assert_int_equal(xcopy(0, pl, sizeof(pl), &r), SCSI_STATUS_GOOD);
	assert_int_equal(rw16(2, false, 100, 4, dst), SCSI_STATUS_GOOD);
	assert_memory_equal(src, dst, 4 * 4096);
	free(src);
	free(dst);
}

static void test_copy_errors(void **state)
{
	(void)state;
	uint8_t pl[16 + 64 + 28];
	struct scsi_task r;
	/* no parameter list: nothing to do */
	assert_int_equal(xcopy(0, NULL, 0, &r), SCSI_STATUS_GOOD);
	/* truncated lists: PARAMETER LIST LENGTH ERROR */
	header(pl, 1, 0, 32, 28);
	cscd(pl + 16, g_lu[0], 0xe4);
	seg(pl + 48, 0, 0, 8, 0, 100, false);
	xcopy(0, pl, 16 + 31, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	xcopy(0, pl, 16 + 32 + 27, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	/* unsupported CSCD descriptor type (E0h: Fibre Channel N_Port_Name) */
	cscd(pl + 16, g_lu[0], 0xe0);
	xcopy(0, pl, 16 + 32 + 28, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x26, 0x07);
	/* unsupported segment descriptor type (03h stream->stream) */
	cscd(pl + 16, g_lu[0], 0xe4);
	pl[48] = 0x03;
	xcopy(0, pl, 16 + 32 + 28, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x26, 0x09);
	/* destination index without a descriptor: COPY ABORTED, UNREACHABLE COPY TARGET */
	seg(pl + 48, 0, 1, 8, 0, 100, false);
	xcopy(0, pl, 16 + 32 + 28, &r);
	sh_expect_sense(&r, SK_COPY_ABORTED, 0x08, 0x04);
	/* a designator no LU of the target has */
	seg(pl + 48, 0, 0, 8, 0, 100, false);
	pl[16 + 8 + 15] ^= 0xff;
	xcopy(0, pl, 16 + 32 + 28, &r);
	sh_expect_sense(&r, SK_COPY_ABORTED, 0x08, 0x04);
	cscd(pl + 16, g_lu[0], 0xe4);
	/* beyond the destination's capacity: COPY ABORTED, nothing copied */
	seg(pl + 48, 0, 0, 8, 0, NBLK - 1, false);
	xcopy(0, pl, 16 + 32 + 28, &r);
	assert_int_equal(r.status, SCSI_STATUS_CHECK_CONDITION);
	uint8_t k, a, q;
	sh_sense(&r, &k, &a, &q);
	assert_int_equal(k, SK_COPY_ABORTED);
	/* too many CSCD descriptors */
	uint8_t big[16 + 9 * 32 + 28];
	header(big, 2, 0, 9 * 32, 28);
	for (unsigned i = 0; i < 9; i++)
		cscd(big + 16 + i * 32, g_lu[0], 0xe4);
	seg(big + 16 + 9 * 32, 0, 0, 1, 0, 1, false);
	xcopy(0, big, sizeof(big), &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x26, 0x06);
	/* LIST ID USAGE 01b is reserved */
	header(pl, 1, 1, 32, 28);
	cscd(pl + 16, g_lu[0], 0xe4);
	seg(pl + 48, 0, 0, 8, 0, 100, false);
	xcopy(0, pl, 16 + 32 + 28, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	/* RECEIVE COPY RESULTS for an unknown list id */
	uint8_t st[12];
	rcr(0x00, 99, st, sizeof(st), &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void test_copy_io_error(void **state)
{
	(void)state;
	/* two segments from the faulty LU to LUN 0; the second one's read fails */
	uint8_t pl[16 + 64 + 56];
	struct scsi_task r;
	header(pl, 42, 0, 64, 56);
	cscd(pl + 16, g_lu[3], 0xe4);
	cscd(pl + 48, g_lu[0], 0xe4);
	seg(pl + 80, 0, 1, 8, 0, 6000, false);
	seg(pl + 108, 0, 1, 8, 100, 6100, false);
	assert_int_equal(blk_error_fail_range(g_err_dev, BLK_ERR_READ, 100, 1, -EIO), 0);
	xcopy(0, pl, sizeof(pl), &r);
	sh_expect_sense(&r, SK_COPY_ABORTED, 0x11, 0x00);
	assert_int_equal(blk_error_clear(g_err_dev), 0);
	/* COPY STATUS: completed with errors after one segment */
	uint8_t st[12];
	assert_int_equal(rcr(0x00, 42, st, sizeof(st), &r), SCSI_STATUS_GOOD);
	assert_int_equal(st[4], 0x02);
	assert_int_equal(get_be16(st + 5), 1);
	assert_int_equal(get_be32(st + 8), 8 * BS);
	/* FAILED SEGMENT DETAILS: the sense of the failure, then released */
	uint8_t fd[60 + 252];
	assert_int_equal(rcr(0x04, 42, fd, sizeof(fd), &r), SCSI_STATUS_GOOD);
	assert_int_equal(fd[56], SCSI_STATUS_CHECK_CONDITION);
	uint16_t slen = get_be16(fd + 58);
	assert_true(slen >= 14);
	struct scsi_task fake;
	memset(&fake, 0, sizeof(fake));
	memcpy(fake.sense, fd + 60, slen);
	fake.sense_len = (uint8_t)slen;
	fake.status = SCSI_STATUS_CHECK_CONDITION;
	sh_expect_sense(&fake, SK_COPY_ABORTED, 0x11, 0x00);
	rcr(0x04, 42, fd, sizeof(fd), &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	/* the same list id may be used again */
	assert_int_equal(xcopy(0, pl, sizeof(pl), &r), SCSI_STATUS_GOOD);
}

static void test_operating_params_and_vpd(void **state)
{
	(void)state;
	uint8_t b[64];
	struct scsi_task r;
	assert_int_equal(rcr(0x03, 0, b, sizeof(b), &r), SCSI_STATUS_GOOD);
	uint16_t max_cscd = get_be16(b + 8), max_seg = get_be16(b + 10);
	uint32_t max_len = get_be32(b + 12);
	assert_true(max_cscd >= 2);
	assert_true(max_seg >= 1);
	/* the limits are consistent with what the copy manager enforces */
	assert_true(max_len >= (max_cscd + 1u) * 32 + 28);
	assert_int_equal(b[43], 2);
	assert_int_equal(b[44], 0x02);
	assert_int_equal(b[45], 0xe4);
	assert_int_equal(get_be32(b), r.data_in_len - 4);

	uint8_t vpd[512];
	uint32_t len = sbc_vpd_third_party_copy(g_lu[0], vpd, sizeof(vpd));
	assert_int_equal(vpd[1], 0x8f);
	assert_int_equal(get_be16(vpd + 2), len - 4);
	/* walk the descriptors: each a multiple of 4, the mandatory ones present */
	bool seen[5] = { false };
	for (uint32_t off = 4; off < len;) {
		uint16_t type = get_be16(vpd + off), dl = get_be16(vpd + off + 2);
		assert_int_equal(dl % 4, 0);
		if (type == 0x0001) {
			seen[0] = true;
			assert_int_equal(vpd[off + 5], 0x83);
		} else if (type == 0x0004) {
			seen[1] = true;
			assert_int_equal(get_be16(vpd + off + 8), max_cscd);
			assert_int_equal(get_be16(vpd + off + 10), max_seg);
			assert_int_equal(get_be32(vpd + off + 12), max_len);
		} else if (type == 0x0008) {
			seen[2] = true;
			assert_int_equal(vpd[off + 4], 2);
		} else if (type == 0x000c) {
			seen[3] = true;
		} else if (type == 0x8001) {
			seen[4] = true;
			assert_int_equal(dl, 0x20);
		}
		off += 4u + dl;
	}
	for (unsigned i = 0; i < 5; i++)
		assert_true(seen[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_between_lus),
		cmocka_unit_test(test_copy_errors),
		cmocka_unit_test(test_copy_io_error),
		cmocka_unit_test(test_operating_params_and_vpd),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

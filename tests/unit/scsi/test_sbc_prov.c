/* test_sbc_prov.c - provisioning and capacity commands: WRITE SAME, UNMAP, GET LBA STATUS, READ CAPACITY, READ DEFECT DATA, SANITIZE. */
#include <unistd.h>

#include "test_sbc_harness.h"

#define BS 4096u                  /* one block per page: malloc deallocates whole pages */
#define NBLK 1024u

static struct scsi_target *g_tg;
static struct blk_dev *g_thin_dev, *g_full_dev, *g_err_base, *g_err_dev, *g_slow_base, *g_slow_dev, *g_big_dev;
static struct scsi_lu *g_thin, *g_full, *g_err, *g_slow, *g_big;
static struct scsi_nexus *g_nx;

/* LUN 2: fault injection over RAM; LUN 3: 2 MiB at 4 MiB/s (a sanitize lasts about half a second) */
/* LUN 4: one block more than MAXIMUM WRITE SAME LENGTH (RAM, allocated lazily) */
enum { LUN_THIN = 0, LUN_FULL = 1, LUN_ERR = 2, LUN_SLOW = 3, LUN_BIG = 4 };

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
	if (sh_start(1))
		return -1;
	if (blk_malloc_create("thin", (uint64_t)NBLK * BS, BS, &g_thin_dev) ||
	    blk_malloc_create("full", (uint64_t)NBLK * 512, 512, &g_full_dev))
		return -1;
	if (scsi_target_create("iqn.2024-01.test:prov", 1, &g_tg))
		return -1;
	if (blk_malloc_create("errbase", 256 * 512, 512, &g_err_base) ||
	    blk_error_create("err", g_err_base, &g_err_dev) ||
	    blk_malloc_create("slowbase", 2u << 20, 512, &g_slow_base) ||
	    blk_throttle_create("slow", g_slow_base, 4u << 20, 0, &g_slow_dev))
		return -1;
	struct scsi_lu_opts ot = { .name = "thin", .thin = true }, of = { .name = "full" };
	struct scsi_lu_opts oe = { .name = "err" }, os = { .name = "slow" }, ob = { .name = "big" };
	if (blk_malloc_create("big", ((uint64_t)SCSI_MAX_WS_BLOCKS + 1) * 512, 512, &g_big_dev) ||
	    scsi_lu_create(g_tg, LUN_BIG, g_big_dev, &ob, &g_big))
		return -1;
	if (scsi_lu_create(g_tg, LUN_THIN, g_thin_dev, &ot, &g_thin) ||
	    scsi_lu_create(g_tg, LUN_FULL, g_full_dev, &of, &g_full) ||
	    scsi_lu_create(g_tg, LUN_ERR, g_err_dev, &oe, &g_err) ||
	    scsi_lu_create(g_tg, LUN_SLOW, g_slow_dev, &os, &g_slow))
		return -1;
	if (!g_thin->thin)
		return -1;
	if (scsi_nexus_create(g_tg, "iqn.2024-01.test:init,i,0x000000000002", &g_nx))
		return -1;
	clear_ua(LUN_THIN);
	clear_ua(LUN_FULL);
	clear_ua(LUN_ERR);
	clear_ua(LUN_SLOW);
	clear_ua(LUN_BIG);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	scsi_nexus_destroy(g_nx);
	scsi_target_destroy(g_tg);
	sh_stop();
	blk_destroy(g_thin_dev);
	blk_destroy(g_full_dev);
	blk_destroy(g_err_dev);
	blk_destroy(g_err_base);
	blk_destroy(g_slow_dev);
	blk_destroy(g_slow_base);
	blk_destroy(g_big_dev);
	return 0;
}

static uint8_t write16(uint64_t lun, uint64_t lba, uint32_t n, uint32_t bs, const uint8_t *data)
{
	uint8_t cdb[16] = { 0x8a };
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, n);
	return sh_exec(g_nx, lun, cdb, 16, SCSI_DIR_WRITE, (void *)data, n * bs, n * bs, NULL);
}

static uint8_t read16(uint64_t lun, uint64_t lba, uint32_t n, uint32_t bs, uint8_t *data)
{
	uint8_t cdb[16] = { 0x88 };
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, n);
	return sh_exec(g_nx, lun, cdb, 16, SCSI_DIR_READ, data, n * bs, 0, NULL);
}

/* GET LBA STATUS at lba: provisioning status and length of the first descriptor. */
static uint8_t lba_status(uint64_t lba, uint8_t *prov, uint32_t *len, uint32_t *ndesc)
{
	uint8_t cdb[16] = { 0x9e, 0x12 };
	uint8_t buf[8 + 16 * 8];
	struct scsi_task r;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, sizeof(buf));
	memset(buf, 0xee, sizeof(buf));
	uint8_t st = sh_exec(g_nx, LUN_THIN, cdb, 16, SCSI_DIR_READ, buf, sizeof(buf), 0, &r);
	if (st != SCSI_STATUS_GOOD)
		return st;
	assert_int_equal(get_be64(buf + 8), lba);
	*len = get_be32(buf + 16);
	*prov = buf[20] & 0x0f;
	*ndesc = (get_be32(buf) - 4) / 16;
	return st;
}

static uint8_t ws16(uint64_t lun, uint64_t lba, uint32_t n, uint8_t flags, uint8_t *block, uint32_t len,
		    struct scsi_task *r)
{
	uint8_t cdb[16] = { 0x93, flags };
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, n);
	return sh_exec(g_nx, lun, cdb, 16, len ? SCSI_DIR_WRITE : SCSI_DIR_NONE, block, len, len, r);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_write_same(void **state)
{
	(void)state;
	uint8_t blk[BS], rd[8 * BS];
	struct scsi_task r;
	for (unsigned i = 0; i < BS; i++)
		blk[i] = (uint8_t)(i * 13 + 1);
	/* pattern over 300 blocks (more than one chunk of the replicated buffer) */
	assert_int_equal(ws16(LUN_THIN, 100, 300, 0, blk, BS, &r), SCSI_STATUS_GOOD);
	for (uint64_t lba = 100; lba < 400; lba += 8) {
		uint32_t n = (uint32_t)MIN(8u, 400 - lba);
		assert_int_equal(read16(LUN_THIN, lba, n, BS, rd), SCSI_STATUS_GOOD);
		for (uint32_t b = 0; b < n; b++)
			assert_memory_equal(rd + b * BS, blk, BS);
	}
	/* WRITE SAME(10) on the fully provisioned 512-byte LU */
	uint8_t small[512], rs[4 * 512];
	memset(small, 0x3c, sizeof(small));
	uint8_t c10[10] = { 0x41 };
	put_be32(c10 + 2, 20);
	put_be16(c10 + 7, 4);
	assert_int_equal(sh_exec(g_nx, LUN_FULL, c10, 10, SCSI_DIR_WRITE, small, 512, 512, &r), SCSI_STATUS_GOOD);
	assert_int_equal(read16(LUN_FULL, 20, 4, 512, rs), SCSI_STATUS_GOOD);
	for (unsigned i = 0; i < sizeof(rs); i++)
		assert_int_equal(rs[i], 0x3c);
	/* data-out must be exactly one block */
	sh_exec(g_nx, LUN_FULL, c10, 10, SCSI_DIR_WRITE, small, 256, 256, &r);
	assert_int_equal(r.status, SCSI_STATUS_CHECK_CONDITION);
	/* UNMAP bit on a fully provisioned LU, ANCHOR, WRPROTECT, past the end */
	c10[1] = 0x08;
	sh_exec(g_nx, LUN_FULL, c10, 10, SCSI_DIR_WRITE, small, 512, 512, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	ws16(LUN_THIN, 0, 1, 0x18, blk, BS, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	ws16(LUN_THIN, 0, 1, 0x20, blk, BS, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	/* NUMBER OF LOGICAL BLOCKS 0 (WSNZ 0): from the LBA through the last one */
	memset(blk, 0x5e, BS);
	assert_int_equal(ws16(LUN_THIN, NBLK - 3, 0, 0, blk, BS, &r), SCSI_STATUS_GOOD);
	assert_int_equal(read16(LUN_THIN, NBLK - 4, 4, BS, rd), SCSI_STATUS_GOOD);
	assert_memory_not_equal(rd, blk, BS);
	for (uint32_t b = 1; b < 4; b++)
		assert_memory_equal(rd + b * BS, blk, BS);
	c10[1] = 0;
	put_be32(c10 + 2, NBLK - 2);
	put_be16(c10 + 7, 0);
	memset(small, 0x4d, sizeof(small));
	assert_int_equal(sh_exec(g_nx, LUN_FULL, c10, 10, SCSI_DIR_WRITE, small, 512, 512, &r), SCSI_STATUS_GOOD);
	assert_int_equal(read16(LUN_FULL, NBLK - 2, 2, 512, rs), SCSI_STATUS_GOOD);
	for (unsigned i = 0; i < 2 * 512; i++)
		assert_int_equal(rs[i], 0x4d);
	/* ... at or past the end: LBA OUT OF RANGE; more than MAXIMUM WRITE SAME LENGTH: INVALID FIELD IN CDB */
	ws16(LUN_THIN, NBLK, 0, 0, blk, BS, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
	ws16(LUN_THIN, NBLK + 1, 0, 0, blk, BS, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
	memset(small, 0, sizeof(small)); /* zeroes: WRITE_ZEROES, the big LU stays unallocated */
	ws16(LUN_BIG, 0, 0, 0, small, 512, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	assert_int_equal(ws16(LUN_BIG, 1, 0, 0, small, 512, &r), SCSI_STATUS_GOOD);
	ws16(LUN_THIN, NBLK - 1, 2, 0, blk, BS, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
}

static void test_unmap_and_lba_status(void **state)
{
	(void)state;
	uint8_t data[16 * BS], zero[BS], prov;
	uint32_t len, nd;
	struct scsi_task r;
	memset(data, 0x77, sizeof(data));
	memset(zero, 0, sizeof(zero));
	/* mapped after a write */
	assert_int_equal(write16(LUN_THIN, 500, 16, BS, data), SCSI_STATUS_GOOD);
	assert_int_equal(lba_status(500, &prov, &len, &nd), SCSI_STATUS_GOOD);
	assert_int_equal(prov, 0);
	assert_true(len >= 16);
	/* WRITE SAME(16) UNMAP with a zero block deallocates */
	assert_int_equal(ws16(LUN_THIN, 504, 4, 0x08, zero, BS, &r), SCSI_STATUS_GOOD);
	assert_int_equal(lba_status(504, &prov, &len, &nd), SCSI_STATUS_GOOD);
	assert_int_equal(prov, 1);
	assert_int_equal(len, 4);
	assert_int_equal(lba_status(500, &prov, &len, &nd), SCSI_STATUS_GOOD);
	assert_int_equal(prov, 0);
	assert_int_equal(len, 4);
	assert_true(nd >= 3); /* mapped, deallocated, mapped, ... */
	/* WRITE SAME UNMAP with a non-zero block deallocates too (SBC-4: "should
	 * deallocate each LBA"); LBPRZ: the blocks read back as zeroes */
	uint8_t pat[BS];
	memset(pat, 0x42, sizeof(pat));
	assert_int_equal(write16(LUN_THIN, 504, 2, BS, data), SCSI_STATUS_GOOD);
	assert_int_equal(ws16(LUN_THIN, 504, 2, 0x08, pat, BS, &r), SCSI_STATUS_GOOD);
	uint8_t rd[2 * BS];
	assert_int_equal(read16(LUN_THIN, 504, 2, BS, rd), SCSI_STATUS_GOOD);
	assert_true(all_zero(rd, sizeof(rd)));
	assert_int_equal(lba_status(504, &prov, &len, &nd), SCSI_STATUS_GOOD);
	assert_int_equal(prov, 1);
	assert_int_equal(len, 4);
	/* without UNMAP the pattern is written */
	assert_int_equal(ws16(LUN_THIN, 504, 2, 0, pat, BS, &r), SCSI_STATUS_GOOD);
	assert_int_equal(read16(LUN_THIN, 504, 2, BS, rd), SCSI_STATUS_GOOD);
	assert_int_equal(rd[0], 0x42);
	assert_int_equal(rd[2 * BS - 1], 0x42);

	/* UNMAP with two descriptors */
	uint8_t pl[8 + 2 * 16];
	memset(pl, 0, sizeof(pl));
	put_be16(pl, sizeof(pl) - 2);
	put_be16(pl + 2, 32);
	put_be64(pl + 8, 510);
	put_be32(pl + 16, 3);
	put_be64(pl + 24, 500);
	put_be32(pl + 32, 1);
	uint8_t cdb[10] = { 0x42 };
	put_be16(cdb + 7, sizeof(pl));
	assert_int_equal(sh_exec(g_nx, LUN_THIN, cdb, 10, SCSI_DIR_WRITE, pl, sizeof(pl), sizeof(pl), &r),
			 SCSI_STATUS_GOOD);
	assert_int_equal(lba_status(510, &prov, &len, &nd), SCSI_STATUS_GOOD);
	assert_int_equal(prov, 1);
	assert_int_equal(len, 3);
	assert_int_equal(lba_status(500, &prov, &len, &nd), SCSI_STATUS_GOOD);
	assert_int_equal(prov, 1);
	assert_int_equal(len, 1);
	assert_int_equal(read16(LUN_THIN, 510, 2, BS, rd), SCSI_STATUS_GOOD);
	for (unsigned i = 0; i < 2 * BS; i++)
		assert_int_equal(rd[i], 0);

	/* UNMAP errors: range, short list, ANCHOR, fully provisioned LU */
	put_be64(pl + 8, NBLK - 1);
	put_be32(pl + 16, 2);
	sh_exec(g_nx, LUN_THIN, cdb, 10, SCSI_DIR_WRITE, pl, sizeof(pl), sizeof(pl), &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
	uint8_t c2[10] = { 0x42 };
	put_be16(c2 + 7, 6);
	sh_exec(g_nx, LUN_THIN, c2, 10, SCSI_DIR_WRITE, pl, 6, 6, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	c2[1] = 0x01;
	put_be16(c2 + 7, 0);
	sh_exec(g_nx, LUN_THIN, c2, 10, SCSI_DIR_NONE, NULL, 0, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	c2[1] = 0;
	sh_exec(g_nx, LUN_FULL, c2, 10, SCSI_DIR_NONE, NULL, 0, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x20, 0x00);
	/* a list of zero length is fine */
	assert_int_equal(sh_exec(g_nx, LUN_THIN, c2, 10, SCSI_DIR_NONE, NULL, 0, 0, &r), SCSI_STATUS_GOOD);

	/* GET LBA STATUS past the end */
	uint8_t g[16] = { 0x9e, 0x12 };
	uint8_t buf[64];
	put_be64(g + 2, NBLK);
	put_be32(g + 10, sizeof(buf));
	sh_exec(g_nx, LUN_THIN, g, 16, SCSI_DIR_READ, buf, sizeof(buf), 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
}

static void test_read_capacity(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct scsi_task r;
	uint8_t c10[10] = { 0x25 };
	assert_int_equal(sh_exec(g_nx, LUN_THIN, c10, 10, SCSI_DIR_READ, buf, 8, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, 8);
	assert_int_equal(get_be32(buf), NBLK - 1);
	assert_int_equal(get_be32(buf + 4), BS);
	put_be32(c10 + 2, 5); /* LBA without PMI */
	sh_exec(g_nx, LUN_THIN, c10, 10, SCSI_DIR_READ, buf, 8, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);

	uint8_t c16[16] = { 0x9e, 0x10 };
	put_be32(c16 + 10, 32);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(sh_exec(g_nx, LUN_THIN, c16, 16, SCSI_DIR_READ, buf, 32, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(get_be64(buf), NBLK - 1);
	assert_int_equal(get_be32(buf + 8), BS);
	assert_int_equal(buf[14] & 0xc0, 0xc0); /* LBPME, LBPRZ */
	assert_int_equal(buf[12], 0);
	assert_int_equal(sh_exec(g_nx, LUN_FULL, c16, 16, SCSI_DIR_READ, buf, 32, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(buf[14] & 0xc0, 0);
	assert_int_equal(get_be32(buf + 8), 512);
	/* allocation length 12: truncated */
	put_be32(c16 + 10, 12);
	assert_int_equal(sh_exec(g_nx, LUN_FULL, c16, 16, SCSI_DIR_READ, buf, 32, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, 12);
}

static void test_read_defect_data(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct scsi_task r;
	uint8_t c10[10] = { 0x37, 0, 0x18 | 0x03 }; /* PLIST+GLIST, long block format */
	put_be16(c10 + 7, 32);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(sh_exec(g_nx, LUN_FULL, c10, 10, SCSI_DIR_READ, buf, 32, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, 4);
	assert_int_equal(buf[1], 0x1b);
	assert_int_equal(get_be16(buf + 2), 0);
	uint8_t c12[12] = { 0xb7, 0x08 | 0x05 };
	put_be32(c12 + 6, 32);
	assert_int_equal(sh_exec(g_nx, LUN_FULL, c12, 12, SCSI_DIR_READ, buf, 32, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, 8);
	assert_int_equal(buf[1], 0x0d);
	assert_int_equal(get_be32(buf + 4), 0);
	/* vendor specific format: RECOVERED ERROR, DEFECT LIST NOT FOUND, header in short block format */
	c10[2] = 0x10 | 0x06;
	sh_exec(g_nx, LUN_FULL, c10, 10, SCSI_DIR_READ, buf, 32, 0, &r);
	sh_expect_sense(&r, SK_RECOVERED_ERROR, 0x1c, 0x00);
	assert_int_equal(r.data_in_len, 4);
	assert_int_equal(buf[1], 0x10);
}

static uint8_t sanitize(uint8_t b1, const uint8_t *pl, uint16_t plen, struct scsi_task *r)
{
	uint8_t cdb[10] = { 0x48, b1 };
	put_be16(cdb + 7, plen);
	return sh_exec(g_nx, LUN_THIN, cdb, 10, plen ? SCSI_DIR_WRITE : SCSI_DIR_NONE, (void *)pl, plen, plen, r);
}

static void test_sanitize(void **state)
{
	(void)state;
	struct scsi_task r;
	uint8_t pl[4 + 6] = { 0x01, 0, 0, 6, 'a', 'b', 'c', 'd', 'e', 'f' };
	/* OVERWRITE, one pass, 6-byte pattern repeated in every block */
	assert_int_equal(sanitize(0x01, pl, sizeof(pl), &r), SCSI_STATUS_GOOD);
	uint8_t rd[BS];
	const uint64_t probe[] = { 0, 1, 511, NBLK - 1 };
	for (unsigned i = 0; i < ARRAY_SIZE(probe); i++) {
		assert_int_equal(read16(LUN_THIN, probe[i], 1, BS, rd), SCSI_STATUS_GOOD);
		for (unsigned j = 0; j < BS; j++)
			assert_int_equal(rd[j], (uint8_t)('a' + j % 6));
	}
	/* two passes with INVERT: the second pass writes the inverted pattern */
	uint8_t inv[4 + 1] = { 0x80 | 0x02, 0, 0, 1, 0x0f };
	assert_int_equal(sanitize(0x01, inv, sizeof(inv), &r), SCSI_STATUS_GOOD);
	assert_int_equal(read16(LUN_THIN, 7, 1, BS, rd), SCSI_STATUS_GOOD);
	for (unsigned j = 0; j < BS; j++)
		assert_int_equal(rd[j], 0xf0);
	/* parameter errors */
	uint8_t zero_count[5] = { 0x00, 0, 0, 1, 0x11 };
	sanitize(0x01, zero_count, sizeof(zero_count), &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	sanitize(0x01, pl, 4, &r); /* list of 4 bytes: no pattern */
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	uint8_t badlen[5] = { 0x01, 0, 0, 2, 0x11 };
	sanitize(0x01, badlen, sizeof(badlen), &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x26, 0x00);
	sanitize(0x1f, pl, 4, &r); /* EXIT FAILURE MODE takes no list */
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	assert_int_equal(sanitize(0x1f, NULL, 0, &r), SCSI_STATUS_GOOD);
	uint8_t cdb[10] = { 0x48, 0x01, 0, 1 }; /* reserved byte */
	put_be16(cdb + 7, sizeof(pl));
	sh_exec(g_nx, LUN_THIN, cdb, 10, SCSI_DIR_WRITE, pl, sizeof(pl), sizeof(pl), &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);

	/* BLOCK ERASE with IMMED: GOOD at once; medium commands are NOT READY, SANITIZE IN PROGRESS
	 * until it ends; afterwards every block is deallocated and reads zeroes */
	assert_int_equal(sanitize(0x80 | 0x02, NULL, 0, &r), SCSI_STATUS_GOOD);
	uint8_t tur[6] = { 0 };
	int i;
	for (i = 0; i < 5000; i++) {
		if (sh_exec(g_nx, LUN_THIN, tur, 6, SCSI_DIR_NONE, NULL, 0, 0, &r) == SCSI_STATUS_GOOD)
			break;
		sh_expect_sense(&r, SK_NOT_READY, 0x04, 0x1b);
		usleep(1000);
	}
	assert_true(i < 5000);
	for (i = 0; i < 1000 && sbc_lu_busy(g_thin); i++)
		usleep(1000);
	assert_false(sbc_lu_busy(g_thin));
	uint8_t prov;
	uint32_t len, nd;
	assert_int_equal(lba_status(0, &prov, &len, &nd), SCSI_STATUS_GOOD);
	assert_int_equal(prov, 1);
	assert_int_equal(len, NBLK);
	assert_int_equal(read16(LUN_THIN, NBLK - 1, 1, BS, rd), SCSI_STATUS_GOOD);
	for (unsigned j = 0; j < BS; j++)
		assert_int_equal(rd[j], 0);
	/* BLOCK ERASE needs a LU that deallocates */
	uint8_t be[10] = { 0x48, 0x02 };
	sh_exec(g_nx, LUN_FULL, be, 10, SCSI_DIR_NONE, NULL, 0, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
}

static uint8_t sanitize_lun(uint64_t lun, uint8_t b1, const uint8_t *pl, uint16_t plen, struct scsi_task *r)
{
	uint8_t cdb[10] = { 0x48, b1 };
	put_be16(cdb + 7, plen);
	return sh_exec(g_nx, lun, cdb, 10, plen ? SCSI_DIR_WRITE : SCSI_DIR_NONE, (void *)pl, plen, plen, r);
}

static void test_sanitize_failure_mode(void **state)
{
	(void)state;
	struct scsi_task r;
	uint8_t pl[5] = { 0x01, 0, 0, 1, 0xaa };
	uint8_t rd[512];
	/* the overwrite's first write fails: failure mode, AUSE 0 */
	assert_int_equal(blk_error_fail_nth(g_err_dev, 1, -EIO, false), 0);
	sanitize_lun(LUN_ERR, 0x01, pl, sizeof(pl), &r);
	sh_expect_sense(&r, SK_MEDIUM_ERROR, 0x31, 0x03);
	assert_int_not_equal(read16(LUN_ERR, 0, 1, 512, rd), SCSI_STATUS_GOOD);
	uint8_t c16[16] = { 0x88 };
	put_be32(c16 + 10, 1);
	sh_exec(g_nx, LUN_ERR, c16, 16, SCSI_DIR_READ, rd, 512, 0, &r);
	sh_expect_sense(&r, SK_MEDIUM_ERROR, 0x31, 0x03);
	/* without AUSE, EXIT FAILURE MODE is refused */
	sanitize_lun(LUN_ERR, 0x1f, NULL, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	/* a successful SANITIZE ends failure mode */
	assert_int_equal(sanitize_lun(LUN_ERR, 0x01, pl, sizeof(pl), &r), SCSI_STATUS_GOOD);
	assert_int_equal(read16(LUN_ERR, 255, 1, 512, rd), SCSI_STATUS_GOOD);
	assert_int_equal(rd[0], 0xaa);
	/* fail again with AUSE: EXIT FAILURE MODE is accepted */
	assert_int_equal(blk_error_fail_nth(g_err_dev, 1, -EIO, false), 0);
	sanitize_lun(LUN_ERR, 0x20 | 0x01, pl, sizeof(pl), &r);
	sh_expect_sense(&r, SK_MEDIUM_ERROR, 0x31, 0x03);
	assert_int_equal(sanitize_lun(LUN_ERR, 0x1f, NULL, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(read16(LUN_ERR, 0, 1, 512, rd), SCSI_STATUS_GOOD);
	assert_false(sbc_lu_busy(g_err));
	/* plain I/O errors map to sense */
	assert_int_equal(blk_error_fail_range(g_err_dev, BLK_ERR_READ | BLK_ERR_WRITE, 10, 1, -EIO), 0);
	sh_exec(g_nx, LUN_ERR, c16, 16, SCSI_DIR_READ, rd, 512, 0, &r); /* LBA 0: fine */
	assert_int_equal(r.status, SCSI_STATUS_GOOD);
	put_be64(c16 + 2, 10);
	sh_exec(g_nx, LUN_ERR, c16, 16, SCSI_DIR_READ, rd, 512, 0, &r);
	sh_expect_sense(&r, SK_MEDIUM_ERROR, 0x11, 0x00);
	uint8_t w16[16] = { 0x8a };
	put_be64(w16 + 2, 9);
	put_be32(w16 + 10, 2);
	uint8_t two[1024] = { 0 };
	sh_exec(g_nx, LUN_ERR, w16, 16, SCSI_DIR_WRITE, two, sizeof(two), sizeof(two), &r);
	sh_expect_sense(&r, SK_MEDIUM_ERROR, 0x0c, 0x00);
	assert_int_equal(blk_error_clear(g_err_dev), 0);
}

static void test_sanitize_progress(void **state)
{
	(void)state;
	struct scsi_task r;
	uint8_t pl[6] = { 0x01, 0, 0, 2, 0x12, 0x34 };
	/* IMMED overwrite of a slow device: GOOD at once, then NOT READY with a rising progress */
	assert_int_equal(sanitize_lun(LUN_SLOW, 0x80 | 0x01, pl, sizeof(pl), &r), SCSI_STATUS_GOOD);
	assert_true(scsi_target_busy(g_tg));
	uint8_t tur[6] = { 0 };
	unsigned seen = 0, last = 0;
	int i;
	for (i = 0; i < 10000; i++) {
		if (sh_exec(g_nx, LUN_SLOW, tur, 6, SCSI_DIR_NONE, NULL, 0, 0, &r) == SCSI_STATUS_GOOD)
			break;
		sh_expect_sense(&r, SK_NOT_READY, 0x04, 0x1b);
		/* fixed format: SKSV and the progress indication in bytes 15-17 */
		if ((r.sense[0] & 0x7f) == 0x70) {
			assert_true(r.sense[15] & 0x80);
			unsigned prog = get_be16(r.sense + 16);
			assert_true(prog >= last);
			last = prog;
		}
		if (seen++ == 0) { /* another LU of the target answers meanwhile */
			uint8_t other[512];
			assert_int_equal(read16(LUN_FULL, 0, 1, 512, other), SCSI_STATUS_GOOD);
		}
		usleep(2000);
	}
	assert_true(i < 10000);
	assert_true(seen > 0);
	/* the pattern is on the medium */
	uint8_t rd[512];
	assert_int_equal(read16(LUN_SLOW, 4095, 1, 512, rd), SCSI_STATUS_GOOD);
	assert_int_equal(rd[0], 0x12);
	assert_int_equal(rd[511], 0x34);
	for (i = 0; i < 1000 && sbc_lu_busy(g_slow); i++)
		usleep(1000);
	assert_false(sbc_lu_busy(g_slow));
	assert_false(scsi_target_busy(g_tg));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_same),
		cmocka_unit_test(test_unmap_and_lba_status),
		cmocka_unit_test(test_read_capacity),
		cmocka_unit_test(test_read_defect_data),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_sanitize_failure_mode),
		cmocka_unit_test(test_sanitize_progress),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_sbc_rw.c - SBC read/write family through scsi_task_submit(): every CDB form, residuals, FUA, splitting, range checks, CAW, VERIFY, ORWRITE. */
#include <unistd.h>

#include "test_sbc_harness.h"

#define BS 512u
#define NBLK 131072u          /* 64 MiB: more than MAXIMUM TRANSFER LENGTH */

static struct scsi_target *g_tg;
static struct blk_dev *g_mem;     /* LUN 0: malloc, no volatile cache */
static struct blk_dev g_rec;      /* LUN 1: RAM device that records write flags, volatile cache */
static struct scsi_nexus *g_nx;
static struct scsi_lu *g_lu0, *g_lu1;

/* ---- recording device ---- */
static uint8_t *g_rec_mem;
static _Atomic uint32_t g_rec_last_flags;
static atomic_uint g_rec_writes, g_rec_flushes;

struct rec_io {
	struct reactor_defer d;
	struct blk_io *io;
};
_Static_assert(sizeof(struct rec_io) <= sizeof(((struct blk_io *)0)->priv), "rec_io fits");

static void rec_complete(void *arg)
{
	struct blk_io *io = arg;
	io->cb(io, 0);
}

static int rec_submit(struct blk_dev *dev, struct blk_io *io)
{
	size_t off = (size_t)io->lba * dev->info.block_size, len = (size_t)io->nblocks * dev->info.block_size;
	switch (io->op) {
	case BLK_OP_READ:
		iov_from_buf(io->iov, io->iovcnt, 0, g_rec_mem + off, len);
		break;
	case BLK_OP_WRITE:
		iov_to_buf(io->iov, io->iovcnt, 0, g_rec_mem + off, len);
		atomic_store(&g_rec_last_flags, io->flags);
		atomic_fetch_add(&g_rec_writes, 1);
		break;
	case BLK_OP_FLUSH:
		atomic_fetch_add(&g_rec_flushes, 1);
		break;
	case BLK_OP_UNMAP:
	case BLK_OP_WRITE_ZEROES:
		memset(g_rec_mem + off, 0, len);
		break;
	}
	struct rec_io *r = (struct rec_io *)(void *)io->priv.u64;
	reactor_defer(&r->d, rec_complete, io);
	return 0;
}

static void rec_destroy(struct blk_dev *dev)
{
	(void)dev;
}

static const struct blk_ops rec_ops = { .name = "rec", .submit = rec_submit, .destroy = rec_destroy };

/* ---- helpers ---- */

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
	if (blk_malloc_create("mem0", (uint64_t)NBLK * BS, BS, &g_mem))
		return -1;
	g_rec_mem = calloc(NBLK, BS);
	g_rec.ops = &rec_ops;
	snprintf(g_rec.name, sizeof(g_rec.name), "rec");
	g_rec.info.block_size = BS;
	g_rec.info.num_blocks = NBLK;
	g_rec.info.volatile_cache = true;
	g_rec.info.max_xfer_blocks = 16; /* larger SCSI transfers are split */
	if (scsi_target_create("iqn.2024-01.test:sbc", 1, &g_tg))
		return -1;
	struct scsi_lu_opts o0 = { .name = "lu0" }, o1 = { .name = "lu1", .write_cache = true };
	if (scsi_lu_create(g_tg, 0, g_mem, &o0, &g_lu0) || scsi_lu_create(g_tg, 1, &g_rec, &o1, &g_lu1))
		return -1;
	if (scsi_nexus_create(g_tg, "iqn.2024-01.test:init,i,0x000000000001", &g_nx))
		return -1;
	clear_ua(0);
	clear_ua(1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	scsi_nexus_destroy(g_nx);
	scsi_target_destroy(g_tg);
	sh_stop();
	blk_destroy(g_mem);
	free(g_rec_mem);
	return 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

/* Build a READ/WRITE CDB of the given size class. */
static uint8_t rw_cdb(uint8_t *cdb, bool write, int form, uint64_t lba, uint32_t n, uint8_t flags)
{
	memset(cdb, 0, 16);
	switch (form) {
	case 6:
		cdb[0] = write ? 0x0a : 0x08;
		cdb[1] = (uint8_t)((lba >> 16) & 0x1f);
		put_be16(cdb + 2, (uint16_t)lba);
		cdb[4] = (uint8_t)n; /* 0 means 256 */
		return 6;
	case 10:
		cdb[0] = write ? 0x2a : 0x28;
		cdb[1] = flags;
		put_be32(cdb + 2, (uint32_t)lba);
		put_be16(cdb + 7, (uint16_t)n);
		return 10;
	case 12:
		cdb[0] = write ? 0xaa : 0xa8;
		cdb[1] = flags;
		put_be32(cdb + 2, (uint32_t)lba);
		put_be32(cdb + 6, n);
		return 12;
	default:
		cdb[0] = write ? 0x8a : 0x88;
		cdb[1] = flags;
		put_be64(cdb + 2, lba);
		put_be32(cdb + 10, n);
		return 16;
	}
}

static uint8_t do_write(uint64_t lun, int form, uint64_t lba, uint32_t n, const uint8_t *data, uint8_t flags,
			struct scsi_task *r)
{
	uint8_t cdb[16];
	uint8_t len = rw_cdb(cdb, true, form, lba, n, flags);
	uint32_t bytes = (form == 6 && n == 0 ? 256 : n) * BS;
	return sh_exec(g_nx, lun, cdb, len, SCSI_DIR_WRITE, (void *)data, bytes, bytes, r);
}

static uint8_t do_read(uint64_t lun, int form, uint64_t lba, uint32_t n, uint8_t *data, struct scsi_task *r)
{
	uint8_t cdb[16];
	uint8_t len = rw_cdb(cdb, false, form, lba, n, 0);
	uint32_t bytes = (form == 6 && n == 0 ? 256 : n) * BS;
	return sh_exec(g_nx, lun, cdb, len, SCSI_DIR_READ, data, bytes, 0, r);
}

/* ---- tests ---- */

static void test_roundtrip_all_forms(void **state)
{
	(void)state;
	const int forms[] = { 6, 10, 12, 16 };
	uint8_t *w = malloc(256 * BS), *rd = malloc(256 * BS);
	struct scsi_task r;
	for (unsigned i = 0; i < ARRAY_SIZE(forms); i++) {
		uint64_t lba = 100 + i * 300;
		uint32_t n = 1 + i * 5;
		fill(w, n * BS, i + 1);
		assert_int_equal(do_write(0, forms[i], lba, n, w, 0, &r), SCSI_STATUS_GOOD);
		assert_false(r.resid_over || r.resid_under);
		memset(rd, 0, n * BS);
		assert_int_equal(do_read(0, forms[i], lba, n, rd, &r), SCSI_STATUS_GOOD);
		assert_int_equal(r.data_in_len, n * BS);
		assert_memory_equal(w, rd, n * BS);
	}
	/* READ/WRITE(6) with TRANSFER LENGTH 0 move 256 blocks */
	fill(w, 256 * BS, 77);
	assert_int_equal(do_write(0, 6, 2000, 0, w, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(do_read(0, 16, 2000, 256, rd, &r), SCSI_STATUS_GOOD);
	assert_memory_equal(w, rd, 256 * BS);
	memset(rd, 0, 256 * BS);
	assert_int_equal(do_read(0, 6, 2000, 0, rd, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, 256 * BS);
	assert_memory_equal(w, rd, 256 * BS);
	free(w);
	free(rd);
}

static void test_zero_length_and_range(void **state)
{
	(void)state;
	uint8_t buf[BS];
	struct scsi_task r;
	/* 10/12/16 with TRANSFER LENGTH 0: nothing moves, GOOD, also at the capacity */
	assert_int_equal(do_read(0, 10, NBLK, 0, buf, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, 0);
	assert_int_equal(do_write(0, 16, NBLK, 0, buf, 0, &r), SCSI_STATUS_GOOD);
	/* one past the end */
	do_read(0, 10, NBLK + 1, 0, buf, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
	do_read(0, 16, NBLK - 1, 2, buf, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
	do_write(0, 12, NBLK, 1, buf, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
	do_read(0, 16, UINT64_MAX, 1, buf, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
	/* RDPROTECT / WRPROTECT: no protection information */
	uint8_t cdb[16];
	rw_cdb(cdb, false, 10, 0, 1, 0x20);
	sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_READ, buf, BS, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	rw_cdb(cdb, true, 16, 0, 1, 0x40);
	sh_exec(g_nx, 0, cdb, 16, SCSI_DIR_WRITE, buf, BS, BS, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	/* beyond MAXIMUM TRANSFER LENGTH */
	rw_cdb(cdb, false, 16, 0, g_lu0->max_xfer_blocks + 1, 0);
	sh_exec(g_nx, 0, cdb, 16, SCSI_DIR_READ, buf, BS, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void test_residuals(void **state)
{
	(void)state;
	uint8_t a[4 * BS], b[4 * BS], big[10000];
	struct scsi_task r;
	uint8_t cdb[16];
	memset(a, 'a', sizeof(a));
	assert_int_equal(do_write(0, 10, 10, 2, a, 0, &r), SCSI_STATUS_GOOD);

	/* READ 1 block, EDTL 200: 200 bytes through a bounce, overflow BS-200 */
	rw_cdb(cdb, false, 10, 10, 1, 0);
	memset(b, 0, sizeof(b));
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_READ, b, 200, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, 200);
	assert_true(r.resid_over);
	assert_int_equal(r.residual, BS - 200);
	assert_memory_equal(b, a, 200);
	assert_int_equal(b[200], 0);
	/* READ 1 block, EDTL 10000: underflow */
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_READ, big, sizeof(big), 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, BS);
	assert_true(r.resid_under);
	assert_int_equal(r.residual, 10000 - BS);
	/* READ 2 blocks, EDTL 1 block */
	rw_cdb(cdb, false, 10, 10, 2, 0);
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_READ, b, BS, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, BS);
	assert_true(r.resid_over);
	assert_int_equal(r.residual, BS);
	/* READ 1 block, EDTL 0 */
	rw_cdb(cdb, false, 10, 10, 1, 0);
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_READ, b, 0, 0, &r), SCSI_STATUS_GOOD);
	assert_true(r.resid_over);
	assert_int_equal(r.residual, BS);

	/* WRITE 2 blocks of 'b' with EDTL of one block: only the first is written */
	memset(b, 'b', sizeof(b));
	rw_cdb(cdb, true, 10, 10, 2, 0);
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_WRITE, b, BS, BS, &r), SCSI_STATUS_GOOD);
	assert_true(r.resid_over);
	assert_int_equal(r.residual, BS);
	uint8_t chk[2 * BS];
	assert_int_equal(do_read(0, 10, 10, 2, chk, &r), SCSI_STATUS_GOOD);
	assert_memory_equal(chk, b, BS);
	assert_memory_equal(chk + BS, a, BS);
	/* WRITE 1 block with EDTL 2 blocks: underflow, the second block untouched */
	memset(b, 'c', sizeof(b));
	rw_cdb(cdb, true, 10, 10, 1, 0);
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_WRITE, b, 2 * BS, 2 * BS, &r), SCSI_STATUS_GOOD);
	assert_true(r.resid_under);
	assert_int_equal(r.residual, BS);
	assert_int_equal(do_read(0, 10, 10, 2, chk, &r), SCSI_STATUS_GOOD);
	assert_memory_equal(chk, b, BS);
	assert_memory_equal(chk + BS, a, BS);
	/* WRITE 1 block with EDTL 200: cannot write a partial block; residual still reported */
	sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_WRITE, b, 200, 200, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x0e, 0x03);
	assert_true(r.resid_over);
	assert_int_equal(r.residual, BS - 200);
	/* WRITE 1 block with EDTL 0: nothing written, GOOD, overflow */
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_WRITE, b, 0, 0, &r), SCSI_STATUS_GOOD);
	assert_true(r.resid_over);
	assert_int_equal(r.residual, BS);
}

static void test_fua_and_wce(void **state)
{
	(void)state;
	uint8_t buf[BS];
	struct scsi_task r;
	memset(buf, 1, sizeof(buf));
	atomic_store(&g_lu1->wce, true);
	assert_int_equal(do_write(1, 10, 0, 1, buf, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(atomic_load(&g_rec_last_flags) & BLK_F_FUA, 0);
	assert_int_equal(do_write(1, 10, 0, 1, buf, 0x08, &r), SCSI_STATUS_GOOD); /* FUA bit */
	assert_int_equal(atomic_load(&g_rec_last_flags) & BLK_F_FUA, BLK_F_FUA);
	assert_int_equal(do_write(1, 16, 0, 1, buf, 0x18, &r), SCSI_STATUS_GOOD); /* DPO+FUA */
	assert_int_equal(atomic_load(&g_rec_last_flags) & BLK_F_FUA, BLK_F_FUA);
	/* write cache disabled: every write is FUA */
	atomic_store(&g_lu1->wce, false);
	assert_int_equal(do_write(1, 12, 0, 1, buf, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(atomic_load(&g_rec_last_flags) & BLK_F_FUA, BLK_F_FUA);
	atomic_store(&g_lu1->wce, true);

	/* SYNCHRONIZE CACHE reaches the device, range checked */
	unsigned before = atomic_load(&g_rec_flushes);
	uint8_t cdb[16] = { 0x35 };
	assert_int_equal(sh_exec(g_nx, 1, cdb, 10, SCSI_DIR_NONE, NULL, 0, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(atomic_load(&g_rec_flushes), before + 1);
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x91;
	put_be64(cdb + 2, NBLK - 1);
	put_be32(cdb + 10, 2);
	sh_exec(g_nx, 1, cdb, 16, SCSI_DIR_NONE, NULL, 0, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
	/* IMMED: GOOD at once, the flush still happens */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x91;
	cdb[1] = 0x02;
	assert_int_equal(sh_exec(g_nx, 1, cdb, 16, SCSI_DIR_NONE, NULL, 0, 0, &r), SCSI_STATUS_GOOD);
	for (int i = 0; i < 1000 && atomic_load(&g_rec_flushes) < before + 2; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&g_rec_flushes), before + 2);
	for (int i = 0; i < 1000 && sbc_lu_busy(g_lu1); i++)
		usleep(1000);
	assert_false(sbc_lu_busy(g_lu1));
}

static void test_split_large_transfers(void **state)
{
	(void)state;
	/* LUN 1's device takes at most 16 blocks per request: 100 blocks go as 7 */
	uint8_t *w = malloc(100 * BS), *rd = malloc(100 * BS);
	struct scsi_task r;
	fill(w, 100 * BS, 5);
	unsigned before = atomic_load(&g_rec_writes);
	assert_int_equal(do_write(1, 16, 1000, 100, w, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(atomic_load(&g_rec_writes), before + 7);
	assert_int_equal(do_read(1, 12, 1000, 100, rd, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, 100 * BS);
	assert_memory_equal(w, rd, 100 * BS);
	/* a partial-block read through the bounce buffer, split as well */
	uint8_t cdb[16];
	rw_cdb(cdb, false, 16, 1000, 40, 0);
	memset(rd, 0, 100 * BS);
	assert_int_equal(sh_exec(g_nx, 1, cdb, 16, SCSI_DIR_READ, rd, 33 * BS + 7, 0, &r), SCSI_STATUS_GOOD);
	assert_int_equal(r.data_in_len, 33 * BS + 7);
	assert_memory_equal(w, rd, 33 * BS + 7);
	/* WRITE AND VERIFY and VERIFY over the split device */
	fill(w, 100 * BS, 6);
	uint8_t wv[16] = { 0x8e, 0x02 };
	put_be64(wv + 2, 1000);
	put_be32(wv + 10, 100);
	assert_int_equal(sh_exec(g_nx, 1, wv, 16, SCSI_DIR_WRITE, w, 100 * BS, 100 * BS, &r), SCSI_STATUS_GOOD);
	uint8_t v[16] = { 0x8f, 0x02 };
	put_be64(v + 2, 1000);
	put_be32(v + 10, 100);
	assert_int_equal(sh_exec(g_nx, 1, v, 16, SCSI_DIR_WRITE, w, 100 * BS, 100 * BS, &r), SCSI_STATUS_GOOD);
	free(w);
	free(rd);
}

static uint8_t caw(uint64_t lba, uint8_t n, const uint8_t *data, struct scsi_task *r)
{
	uint8_t cdb[16] = { 0x89 };
	put_be64(cdb + 2, lba);
	cdb[13] = n;
	return sh_exec(g_nx, 0, cdb, 16, SCSI_DIR_WRITE, (void *)data, 2u * n * BS, 2u * n * BS, r);
}

static void test_compare_and_write(void **state)
{
	(void)state;
	uint8_t *buf = malloc(2 * 8 * BS), rd[8 * BS];
	struct scsi_task r;
	memset(buf, 'A', 8 * BS);
	assert_int_equal(do_write(0, 16, 500, 8, buf, 0, &r), SCSI_STATUS_GOOD);
	/* match: the second half is written */
	memset(buf + 8 * BS, 'B', 8 * BS);
	assert_int_equal(caw(500, 8, buf, &r), SCSI_STATUS_GOOD);
	assert_int_equal(do_read(0, 16, 500, 8, rd, &r), SCSI_STATUS_GOOD);
	assert_memory_equal(rd, buf + 8 * BS, 8 * BS);
	/* miscompare at byte 8*BS-27 of the compare half: nothing written, offset reported */
	memset(buf, 'B', 8 * BS);
	buf[8 * BS - 27] = 'C';
	memset(buf + 8 * BS, 'D', 8 * BS);
	caw(500, 8, buf, &r);
	sh_expect_sense(&r, SK_MISCOMPARE, 0x1d, 0x00);
	uint64_t info = 0;
	assert_true(sh_sense_info(&r, &info));
	assert_int_equal(info, 8 * BS - 27);
	assert_int_equal(do_read(0, 16, 500, 8, rd, &r), SCSI_STATUS_GOOD);
	for (unsigned i = 0; i < 8 * BS; i++)
		assert_int_equal(rd[i], 'B');
	/* more than MAXIMUM COMPARE AND WRITE LENGTH: INVALID FIELD IN CDB (before the range check) */
	uint8_t *big = calloc(2 * (SCSI_MAX_CAW_BLOCKS + 1), BS);
	caw(NBLK, SCSI_MAX_CAW_BLOCKS + 1, big, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	free(big);
	/* beyond the end */
	caw(NBLK - 1, 2, buf, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
	/* short data-out */
	uint8_t cdb[16] = { 0x89 };
	put_be64(cdb + 2, 500);
	cdb[13] = 2;
	sh_exec(g_nx, 0, cdb, 16, SCSI_DIR_WRITE, buf, 3 * BS, 3 * BS, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x0e, 0x03);
	/* too much data-out: the halves would be taken from the wrong places */
	sh_exec(g_nx, 0, cdb, 16, SCSI_DIR_WRITE, buf, 8 * BS, 8 * BS, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x0e, 0x03);
	assert_true(r.resid_under);
	assert_int_equal(r.residual, 4 * BS);
	free(buf);
}

static void test_verify(void **state)
{
	(void)state;
	uint8_t buf[16 * BS];
	struct scsi_task r;
	fill(buf, sizeof(buf), 9);
	assert_int_equal(do_write(0, 10, 700, 16, buf, 0, &r), SCSI_STATUS_GOOD);
	uint8_t cdb[16] = { 0x2f };
	put_be32(cdb + 2, 700);
	put_be16(cdb + 7, 16);
	/* BYTCHK 0: medium check only */
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_NONE, NULL, 0, 0, &r), SCSI_STATUS_GOOD);
	/* BYTCHK 1: equal */
	cdb[1] = 0x02;
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_WRITE, buf, sizeof(buf), sizeof(buf), &r),
			 SCSI_STATUS_GOOD);
	/* BYTCHK 1: one byte differs in block 11 */
	uint8_t mod[16 * BS];
	memcpy(mod, buf, sizeof(mod));
	mod[11 * BS + 5] ^= 0xff;
	sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_WRITE, mod, sizeof(mod), sizeof(mod), &r);
	sh_expect_sense(&r, SK_MISCOMPARE, 0x1d, 0x00);
	uint64_t info;
	assert_true(sh_sense_info(&r, &info));
	assert_int_equal(info, 11 * BS + 5);
	/* BYTCHK 2 is reserved */
	cdb[1] = 0x04;
	sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_NONE, NULL, 0, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	/* BYTCHK 3: one block against every block */
	uint8_t pat[BS];
	memset(pat, 0x5a, BS);
	uint8_t same[4 * BS];
	memset(same, 0x5a, sizeof(same));
	assert_int_equal(do_write(0, 10, 800, 4, same, 0, &r), SCSI_STATUS_GOOD);
	same[2 * BS + 7] = 0;
	assert_int_equal(do_write(0, 10, 804, 4, same, 0, &r), SCSI_STATUS_GOOD);
	uint8_t c16[16] = { 0x8f, 0x06 };
	put_be64(c16 + 2, 800);
	put_be32(c16 + 10, 4);
	assert_int_equal(sh_exec(g_nx, 0, c16, 16, SCSI_DIR_WRITE, pat, BS, BS, &r), SCSI_STATUS_GOOD);
	put_be32(c16 + 10, 8);
	sh_exec(g_nx, 0, c16, 16, SCSI_DIR_WRITE, pat, BS, BS, &r);
	sh_expect_sense(&r, SK_MISCOMPARE, 0x1d, 0x00);
	assert_true(sh_sense_info(&r, &info));
	assert_int_equal(info, 6 * BS + 7);
	/* out of range */
	put_be64(c16 + 2, NBLK - 2);
	sh_exec(g_nx, 0, c16, 16, SCSI_DIR_WRITE, pat, BS, BS, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
}

static void test_write_verify_orwrite_atomic(void **state)
{
	(void)state;
	uint8_t buf[4 * BS], rd[4 * BS];
	struct scsi_task r;
	/* WRITE AND VERIFY(12) BYTCHK 1 */
	fill(buf, sizeof(buf), 21);
	uint8_t cdb[16] = { 0xae, 0x02 };
	put_be32(cdb + 2, 900);
	put_be32(cdb + 6, 4);
	assert_int_equal(sh_exec(g_nx, 0, cdb, 12, SCSI_DIR_WRITE, buf, sizeof(buf), sizeof(buf), &r),
			 SCSI_STATUS_GOOD);
	assert_int_equal(do_read(0, 12, 900, 4, rd, &r), SCSI_STATUS_GOOD);
	assert_memory_equal(rd, buf, sizeof(buf));
	/* ORWRITE(16): 0x0f | 0xf0 */
	memset(buf, 0x0f, sizeof(buf));
	assert_int_equal(do_write(0, 16, 950, 4, buf, 0, &r), SCSI_STATUS_GOOD);
	memset(buf, 0xf0, sizeof(buf));
	buf[3] = 0x01;
	uint8_t orw[16] = { 0x8b };
	put_be64(orw + 2, 950);
	put_be32(orw + 10, 4);
	assert_int_equal(sh_exec(g_nx, 0, orw, 16, SCSI_DIR_WRITE, buf, sizeof(buf), sizeof(buf), &r),
			 SCSI_STATUS_GOOD);
	assert_int_equal(do_read(0, 16, 950, 4, rd, &r), SCSI_STATUS_GOOD);
	for (unsigned i = 0; i < sizeof(rd); i++)
		assert_int_equal(rd[i], i == 3 ? 0x0f : 0xff);
	/* WRITE ATOMIC(16) */
	fill(buf, sizeof(buf), 33);
	uint8_t wa[16] = { 0x9c };
	put_be64(wa + 2, 960);
	put_be16(wa + 12, 4);
	assert_int_equal(sh_exec(g_nx, 0, wa, 16, SCSI_DIR_WRITE, buf, sizeof(buf), sizeof(buf), &r),
			 SCSI_STATUS_GOOD);
	assert_int_equal(do_read(0, 16, 960, 4, rd, &r), SCSI_STATUS_GOOD);
	assert_memory_equal(rd, buf, sizeof(buf));
	put_be16(wa + 12, SCSI_MAX_ATOMIC_BLOCKS + 1);
	sh_exec(g_nx, 0, wa, 16, SCSI_DIR_WRITE, buf, sizeof(buf), sizeof(buf), &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	put_be16(wa + 12, 4);
	put_be16(wa + 10, 8); /* ATOMIC BOUNDARY: not supported */
	sh_exec(g_nx, 0, wa, 16, SCSI_DIR_WRITE, buf, sizeof(buf), sizeof(buf), &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x24, 0x00);
}

static void test_prefetch(void **state)
{
	(void)state;
	struct scsi_task r;
	uint8_t cdb[16] = { 0x34 };
	put_be32(cdb + 2, 0);
	put_be16(cdb + 7, 64);
	/* a small range fits the cache: CONDITION MET */
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_NONE, NULL, 0, 0, &r), SCSI_STATUS_CONDITION_MET);
	cdb[1] = 0x02; /* IMMED */
	assert_int_equal(sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_NONE, NULL, 0, 0, &r), SCSI_STATUS_CONDITION_MET);
	put_be32(cdb + 2, NBLK - 10);
	put_be16(cdb + 7, 11);
	sh_exec(g_nx, 0, cdb, 10, SCSI_DIR_NONE, NULL, 0, 0, &r);
	sh_expect_sense(&r, SK_ILLEGAL_REQUEST, 0x21, 0x00);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_forms),
		cmocka_unit_test(test_zero_length_and_range),
		cmocka_unit_test(test_residuals),
		cmocka_unit_test(test_fua_and_wce),
		cmocka_unit_test(test_split_large_transfers),
		cmocka_unit_test(test_compare_and_write),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_write_verify_orwrite_atomic),
		cmocka_unit_test(test_prefetch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

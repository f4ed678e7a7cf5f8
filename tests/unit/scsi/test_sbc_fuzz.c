/* test_sbc_fuzz.c - random and mutated CDBs and parameter lists for every SBC/EXTENDED COPY handler: each completes once, within its buffers. */
#include <unistd.h>

#include "test_sbc_harness.h"

#define ITERS 6000u
#define MAX_XFER (64u << 10)

static struct scsi_target *g_tg;
static struct blk_dev *g_dev[2];
static struct scsi_lu *g_lu[2];
static struct scsi_nexus *g_nx;
static uint64_t g_seed = 0x5eed;

static uint64_t rnd(void)
{
	g_seed ^= g_seed << 13;
	g_seed ^= g_seed >> 7;
	g_seed ^= g_seed << 17;
	return g_seed;
}

static int setup(void **state)
{
	(void)state;
	if (sh_start(2))
		return -1;
	if (blk_malloc_create("f0", 4u << 20, 512, &g_dev[0]) || blk_malloc_create("f1", 4u << 20, 4096, &g_dev[1]))
		return -1;
	if (scsi_target_create("iqn.2024-01.test:fuzz", 1, &g_tg))
		return -1;
	struct scsi_lu_opts o0 = { .name = "f0", .thin = true, .write_cache = true }, o1 = { .name = "f1" };
	if (scsi_lu_create(g_tg, 0, g_dev[0], &o0, &g_lu[0]) || scsi_lu_create(g_tg, 1, g_dev[1], &o1, &g_lu[1]))
		return -1;
	if (scsi_nexus_create(g_tg, "iqn.2024-01.test:fuzz,i,0x000000000009", &g_nx))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* a fuzzed SANITIZE with IMMED may still run */
	for (int i = 0; i < 5000 && scsi_target_busy(g_tg); i++)
		usleep(1000);
	scsi_nexus_destroy(g_nx);
	scsi_target_destroy(g_tg);
	sh_stop();
	blk_destroy(g_dev[0]);
	blk_destroy(g_dev[1]);
	return 0;
}

struct op {
	uint8_t opcode;
	int8_t sa;          /* service action in byte 1 bits 4:0, -1 none */
	uint8_t len;
	enum scsi_dir dir;
};

static const struct op ops[] = {
	{ 0x08, -1, 6, SCSI_DIR_READ },   { 0x0a, -1, 6, SCSI_DIR_WRITE },
	{ 0x28, -1, 10, SCSI_DIR_READ },  { 0x2a, -1, 10, SCSI_DIR_WRITE },
	{ 0xa8, -1, 12, SCSI_DIR_READ },  { 0xaa, -1, 12, SCSI_DIR_WRITE },
	{ 0x88, -1, 16, SCSI_DIR_READ },  { 0x8a, -1, 16, SCSI_DIR_WRITE },
	{ 0x2e, -1, 10, SCSI_DIR_WRITE }, { 0xae, -1, 12, SCSI_DIR_WRITE }, { 0x8e, -1, 16, SCSI_DIR_WRITE },
	{ 0x2f, -1, 10, SCSI_DIR_WRITE }, { 0xaf, -1, 12, SCSI_DIR_WRITE }, { 0x8f, -1, 16, SCSI_DIR_WRITE },
	{ 0x8b, -1, 16, SCSI_DIR_WRITE }, { 0x89, -1, 16, SCSI_DIR_WRITE }, { 0x9c, -1, 16, SCSI_DIR_WRITE },
	{ 0x34, -1, 10, SCSI_DIR_NONE },  { 0x90, -1, 16, SCSI_DIR_NONE },
	{ 0x35, -1, 10, SCSI_DIR_NONE },  { 0x91, -1, 16, SCSI_DIR_NONE },
	{ 0x41, -1, 10, SCSI_DIR_WRITE }, { 0x93, -1, 16, SCSI_DIR_WRITE },
	{ 0x42, -1, 10, SCSI_DIR_WRITE },
	{ 0x9e, 0x10, 16, SCSI_DIR_READ }, { 0x9e, 0x12, 16, SCSI_DIR_READ },
	{ 0x25, -1, 10, SCSI_DIR_READ },
	{ 0x37, -1, 10, SCSI_DIR_READ },  { 0xb7, -1, 12, SCSI_DIR_READ },
	{ 0x48, 0x01, 10, SCSI_DIR_WRITE }, { 0x48, 0x02, 10, SCSI_DIR_NONE }, { 0x48, 0x1f, 10, SCSI_DIR_NONE },
	{ 0x83, 0x00, 16, SCSI_DIR_WRITE },
	{ 0x84, 0x00, 16, SCSI_DIR_READ }, { 0x84, 0x01, 16, SCSI_DIR_READ },
	{ 0x84, 0x03, 16, SCSI_DIR_READ }, { 0x84, 0x04, 16, SCSI_DIR_READ },
};

/* A plausible EXTENDED COPY list (two LUs, one segment) to mutate. */
static uint32_t xcopy_list(uint8_t *p)
{
	memset(p, 0, 16 + 64 + 28);
	p[0] = (uint8_t)rnd();
	p[1] = (uint8_t)((rnd() & 3) << 3);
	put_be16(p + 2, 64);
	put_be32(p + 8, 28);
	for (unsigned i = 0; i < 2; i++) {
		uint8_t *d = p + 16 + i * 32;
		d[0] = 0xe4;
		d[4] = 1;
		d[5] = 3;
		d[7] = 16;
		scsi_lu_naa(g_lu[i], d + 8);
		put_be24(d + 29, g_lu[i]->block_size);
	}
	uint8_t *s = p + 80;
	s[0] = 0x02;
	s[1] = (uint8_t)(rnd() & 2);
	put_be16(s + 2, 24);
	put_be16(s + 4, (uint16_t)(rnd() & 1));
	put_be16(s + 6, (uint16_t)(rnd() & 1));
	put_be16(s + 10, (uint16_t)(rnd() % 64));
	put_be64(s + 12, rnd() % 1024);
	put_be64(s + 20, rnd() % 1024);
	return 16 + 64 + 28;
}

/* A plausible UNMAP list to mutate. */
static uint32_t unmap_list(uint8_t *p)
{
	unsigned n = (unsigned)(rnd() % 5);
	put_be16(p, (uint16_t)(6 + n * 16));
	put_be16(p + 2, (uint16_t)(n * 16));
	memset(p + 4, 0, 4);
	for (unsigned i = 0; i < n; i++) {
		put_be64(p + 8 + i * 16, rnd() % 9000);
		put_be32(p + 16 + i * 16, (uint32_t)(rnd() % 300));
		memset(p + 20 + i * 16, 0, 4);
	}
	return 8 + n * 16;
}

static void test_fuzz(void **state)
{
	(void)state;
	uint8_t *buf = malloc(MAX_XFER);
	unsigned good = 0, check = 0;
	const char *seed = getenv("SBC_FUZZ_SEED"); /* reproduce or widen a run */
	if (seed && strtoull(seed, NULL, 0))
		g_seed = strtoull(seed, NULL, 0);
	print_message("seed %#llx\n", (unsigned long long)g_seed);
	for (unsigned it = 0; it < ITERS; it++) {
		const struct op *op = &ops[rnd() % ARRAY_SIZE(ops)];
		uint64_t lun = rnd() & 1;
		uint8_t cdb[16];
		for (unsigned i = 0; i < sizeof(cdb); i++)
			cdb[i] = (uint8_t)rnd();
		cdb[0] = op->opcode;
		cdb[op->len - 1] = 0; /* CONTROL: no NACA */
		if (op->sa >= 0)
			cdb[1] = (uint8_t)((cdb[1] & 0xe0) | op->sa);
		bool tame = rnd() & 1;
		if (tame) {
			/* small LBAs and lengths reach the data paths, not only the checks */
			cdb[1] &= 0x1f;
			for (unsigned i = 2; i + 1 < op->len; i++)
				if ((rnd() & 3) != 0)
					cdb[i] = 0;
			cdb[op->len - 2] &= 0x0f;
		}
		uint32_t exp = 0, out = 0;
		if (op->dir != SCSI_DIR_NONE)
			exp = (uint32_t)(rnd() % (tame ? 8192 : MAX_XFER));
		if (op->dir == SCSI_DIR_WRITE) {
			for (uint32_t i = 0; i < exp; i++)
				buf[i] = (uint8_t)rnd();
			if (op->opcode == 0x83 && tame) {
				exp = xcopy_list(buf);
				for (unsigned m = (unsigned)(rnd() % 4); m; m--)
					buf[rnd() % exp] = (uint8_t)rnd();
				put_be32(cdb + 10, exp);
			} else if (op->opcode == 0x42 && tame) {
				exp = unmap_list(buf);
				for (unsigned m = (unsigned)(rnd() % 3); m; m--)
					buf[rnd() % exp] = (uint8_t)rnd();
				put_be16(cdb + 7, (uint16_t)exp);
			}
			out = exp;
		}
		enum scsi_dir dir = exp ? op->dir : SCSI_DIR_NONE;
		struct scsi_task r;
		uint8_t st = sh_exec(g_nx, lun, cdb, op->len, dir, buf, exp, out, &r);
		assert_true(r.data_in_len <= exp);
		assert_true(st == SCSI_STATUS_GOOD || st == SCSI_STATUS_CHECK_CONDITION || st == SCSI_STATUS_CONDITION_MET ||
			    st == SCSI_STATUS_BUSY);
		if (st == SCSI_STATUS_CHECK_CONDITION) {
			assert_true(r.sense_len >= 8);
			check++;
		} else {
			good++;
		}
		if (r.resid_over || r.resid_under)
			assert_true(r.residual > 0);
	}
	/* both outcomes happened: the fuzzing reached the data paths and the checks */
	assert_true(good > ITERS / 20);
	assert_true(check > ITERS / 20);
	free(buf);
	/* nothing is left held */
	for (unsigned i = 0; i < 2; i++) {
		struct sbc_lu_state *st = sbc_state(g_lu[i]);
		assert_int_equal(atomic_load(&st->excl_active), 0);
		assert_int_equal(sbc_fast_writers(st), 0);
		assert_null(st->held);
		assert_null(st->wait_head);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

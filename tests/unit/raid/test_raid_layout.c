/* test_raid_layout.c - RAID layout maths vs reference models, parity vs a naive GF(2^8) implementation, superblock format and assembly decisions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk/raid/raid_internal.h"
#include "blk/raid/journal.h"
#include "core/util.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ---- reference models: explicit tables built by "filling" the members the way the
 * layouts are described, independent of the closed formulas under test ---- */

/* RAID 0: fill row by row. RAID 10 near-2: fill slots row by row, two per chunk.
 * Returns for array chunk c the member and row of copy k. */
static void ref_mirror(unsigned level, unsigned n, uint64_t c, unsigned k, unsigned *m, uint64_t *row)
{
	uint64_t slot = 0;
	unsigned per = level == 10 ? 2 : 1;
	/* walk slots one by one (the model), not the formula */
	for (uint64_t r = 0;; r++) {
		for (unsigned d = 0; d < n; d++, slot++) {
			if (slot / per == c && slot % per == k) {
				*m = d;
				*row = r;
				return;
			}
		}
	}
}

static void check_mirror_level(const struct raid_level_ops *lv, unsigned n, uint32_t chunk)
{
	struct raid_geom g = {.n = n, .chunk = chunk, .member_blocks = 64ull * chunk};
	lv->geom_init(&g);
	uint64_t cap = lv->capacity(&g);
	for (int iter = 0; iter < 300; iter++) {
		uint64_t lba = rnd() % cap;
		uint32_t len = (uint32_t)(1 + rnd() % MIN(cap - lba, 5ull * chunk));
		uint64_t cur = lba;
		uint32_t left = len;
		while (left) {
			struct raid_piece p;
			lv->map_piece(&g, cur, left, &p);
			assert_true(p.nblocks >= 1 && p.nblocks <= left);
			if (lv->level != 1) /* striped: a piece never crosses a chunk edge, and ends at one unless the request ends */
				assert_true(cur % chunk + p.nblocks <= chunk &&
					    (p.nblocks == left || (cur + p.nblocks) % chunk == 0));
			for (unsigned k = 0; k < p.ncopies; k++) {
				unsigned m;
				uint64_t row;
				if (lv->level == 1) {
					m = k;
					row = cur / chunk;
				} else {
					ref_mirror(lv->level, n, cur / chunk, k, &m, &row);
				}
				assert_int_equal(p.member[k], m);
				assert_int_equal(p.mlba[k], row * chunk + cur % chunk);
				assert_true(p.mlba[k] + p.nblocks <= g.member_blocks);
			}
			cur += p.nblocks;
			left -= p.nblocks;
		}
	}
}

static void test_mirror_layouts(void **state)
{
	(void)state;
	for (unsigned n = 2; n <= 7; n++) {
		check_mirror_level(&raid0_ops, n, 8);
		check_mirror_level(&raid1_ops, n, 8);
		check_mirror_level(&raid10_ops, n, 16);
	}
	/* raid10 survival: pairs of neighbours */
	struct raid_geom g = {.n = 4, .chunk = 8, .member_blocks = 64};
	raid10_ops.geom_init(&g);
	assert_true(raid10_ops.survives(&g, 0x5));   /* 0 and 2: different pairs */
	assert_false(raid10_ops.survives(&g, 0x3));  /* 0 and 1: one chunk lost */
	g.n = 3;
	assert_false(raid10_ops.survives(&g, 0x5));  /* odd count: 2 and 0 share C1 */
}

/* md's documented left-symmetric tables: RAID 5 with 4 members, RAID 6 with 5. 'P'/'Q' or data index. */
static const char *r5_4[] = {"012P", "45P3", "8P67", "P9AB"};
static const char *r6_5[] = {"Q012P", "345PQ", "78PQ6", "BPQ9A", "PQCDE"};

static int cell(char ch)
{
	return ch >= 'A' ? ch - 'A' + 10 : ch - '0';
}

static void check_table(const struct raid_level_ops *lv, unsigned n, const char **tab, unsigned rows)
{
	struct raid_geom g = {.n = n, .chunk = 4, .member_blocks = 64};
	lv->geom_init(&g);
	for (unsigned s = 0; s < rows; s++) {
		struct raid_stripe_map m;
		lv->stripe_map(&g, s, &m);
		for (unsigned d = 0; d < n; d++) {
			char ch = tab[s][d];
			if (ch == 'P')
				assert_int_equal(m.disk[g.ndata], d);
			else if (ch == 'Q')
				assert_int_equal(m.disk[g.ndata + 1], d);
			else
				assert_int_equal(m.disk[cell(ch) - s * g.ndata], d);
		}
	}
}

/* Every stripe maps its columns to distinct members (a permutation). */
static void check_permutation(const struct raid_level_ops *lv, unsigned n)
{
	struct raid_geom g = {.n = n, .chunk = 4, .member_blocks = 64};
	lv->geom_init(&g);
	for (uint64_t s = 0; s < 3ull * n; s++) {
		struct raid_stripe_map m;
		lv->stripe_map(&g, s, &m);
		uint32_t seen = 0;
		for (unsigned c = 0; c < n; c++) {
			assert_true(m.disk[c] < n);
			assert_false(seen & (1u << m.disk[c]));
			seen |= 1u << m.disk[c];
		}
		/* parity rotates from the last member backwards */
		assert_int_equal(m.disk[g.ndata], n - 1 - s % n);
	}
}

static void test_parity_layouts(void **state)
{
	(void)state;
	check_table(&raid5_ops, 4, r5_4, 4);
	check_table(&raid6_ops, 5, r6_5, 5);
	for (unsigned n = 3; n <= 12; n++)
		check_permutation(&raid5_ops, n);
	for (unsigned n = 4; n <= 12; n++)
		check_permutation(&raid6_ops, n);
}

/* ---- parity vs naive ---- */
static uint8_t naive_mul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;
	while (b) {
		if (b & 1)
			r ^= a;
		a = (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1d : 0)); /* x^8 = x^4 + x^3 + x^2 + 1 (0x11d) */
		b >>= 1;
	}
	return r;
}

static void naive_pq(unsigned k, uint8_t **d, size_t len, uint8_t *p, uint8_t *q)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t pp = 0, qq = 0, g = 1;
		for (unsigned j = 0; j < k; j++) {
			pp ^= d[j][i];
			qq ^= naive_mul(g, d[j][i]);
			g = naive_mul(g, 2);
		}
		p[i] = pp;
		q[i] = qq;
	}
}

static void test_parity_math(void **state)
{
	(void)state;
	enum { LEN = 4096 };
	assert_int_equal(parity_gf_pow2(8), 0x1d);
	for (unsigned k = 2; k <= 10; k++) {
		uint8_t *cols[RAID_MAX_MEMBERS];
		for (unsigned c = 0; c < k + 2; c++) {
			cols[c] = aligned_alloc(64, LEN);
			for (size_t i = 0; i < LEN; i++)
				cols[c][i] = (uint8_t)rnd();
		}
		uint8_t *np = malloc(LEN), *nq = malloc(LEN);
		naive_pq(k, cols, LEN, np, nq);
		parity_gen(k, 1, cols, LEN);
		assert_memory_equal(cols[k], np, LEN);
		parity_gen(k, 2, cols, LEN);
		assert_memory_equal(cols[k], np, LEN);
		assert_memory_equal(cols[k + 1], nq, LEN);

		/* iovec form with odd, unaligned pieces */
		uint8_t *flat = malloc(k * LEN + 1);
		struct iovec iov[64];
		int cnt = 0;
		for (unsigned c = 0; c < k; c++)
			memcpy(flat + 1 + c * LEN, cols[c], LEN);
		size_t pos = 0, total = (size_t)k * LEN;
		while (pos < total) {
			size_t l = MIN(total - pos, 1 + rnd() % 9000);
			iov[cnt].iov_base = flat + 1 + pos;
			iov[cnt].iov_len = l;
			cnt++;
			pos += l;
			assert_true(cnt < 64 || pos == total);
		}
		struct parity_src src[RAID_MAX_MEMBERS];
		for (unsigned c = 0; c < k; c++)
			src[c] = (struct parity_src){iov, cnt, (size_t)c * LEN};
		uint8_t *par[2] = {aligned_alloc(64, LEN), aligned_alloc(64, LEN)};
		parity_gen_iov(k, 2, src, par, LEN);
		assert_memory_equal(par[0], np, LEN);
		assert_memory_equal(par[1], nq, LEN);

		/* delta update of one column */
		unsigned j = (unsigned)(rnd() % k);
		uint8_t *newd = malloc(LEN), *delta = malloc(LEN);
		for (size_t i = 0; i < LEN; i++) {
			newd[i] = (uint8_t)rnd();
			delta[i] = newd[i] ^ cols[j][i];
		}
		parity_apply_delta(2, j, delta, cols[k], cols[k + 1], LEN);
		memcpy(cols[j], newd, LEN);
		naive_pq(k, cols, LEN, np, nq);
		assert_memory_equal(cols[k], np, LEN);
		assert_memory_equal(cols[k + 1], nq, LEN);

		/* recover every single column and every pair (RAID 6), every single (RAID 5) */
		uint8_t *saved[RAID_MAX_MEMBERS];
		for (unsigned c = 0; c < k + 2; c++) {
			saved[c] = malloc(LEN);
			memcpy(saved[c], cols[c], LEN);
		}
		for (unsigned a = 0; a < k + 2; a++) {
			for (unsigned b = a; b < k + 2; b++) {
				uint32_t miss = (1u << a) | (1u << b);
				memset(cols[a], 0xEE, LEN);
				memset(cols[b], 0xEE, LEN);
				assert_int_equal(parity_recover(k, 2, cols, miss, LEN), 0);
				assert_memory_equal(cols[a], saved[a], LEN);
				assert_memory_equal(cols[b], saved[b], LEN);
			}
			if (a <= k) {
				memset(cols[a], 0x11, LEN);
				assert_int_equal(parity_recover(k, 1, cols, 1u << a, LEN), 0);
				assert_memory_equal(cols[a], saved[a], LEN);
			}
		}
		assert_int_equal(parity_recover(k, 1, cols, 0x3, LEN), -EINVAL);
		assert_int_equal(parity_recover(k, 2, cols, 0x7, LEN), -EINVAL);
		for (unsigned c = 0; c < k + 2; c++) {
			free(cols[c]);
			free(saved[c]);
		}
		free(np);
		free(nq);
		free(flat);
		free(par[0]);
		free(par[1]);
		free(newd);
		free(delta);
	}
}

/* ---- superblock ---- */
static void sb_sample(struct raid_sb_info *s, unsigned role, uint64_t events, uint8_t uuid0)
{
	memset(s, 0, sizeof(*s));
	s->version = RAID_SB_VERSION;
	memset(s->uuid, 0x5a, 16);
	s->uuid[0] = uuid0;
	snprintf(s->name, sizeof(s->name), "%s", uuid0 == 1 ? "alpha" : "beta");
	s->level = 5;
	s->layout = RAID_LAYOUT_LEFT_SYMMETRIC;
	s->chunk_bytes = 65536;
	s->block_size = 512;
	s->nmembers = 4;
	s->role = role;
	s->data_offset = 1 << 20;
	s->data_size = 64ull << 20;
	s->events = events;
	s->ctime_s = 1700000000;
	s->utime_s = 1700000001;
	s->dirty = true;
	s->failed = 0;
}

static void test_superblock_format(void **state)
{
	(void)state;
	uint8_t buf[RAID_SB_SIZE];
	struct raid_sb_info in, out;
	char err[200];
	sb_sample(&in, 2, 77, 1);
	in.failed = 0x8;
	raid_sb_encode(&in, buf);
	assert_memory_equal(buf, "SHBARAID", 8);
	assert_int_equal(buf[88], 0x00); /* data_offset 1 MiB little-endian: 00 00 10 00 ... */
	assert_int_equal(buf[90], 0x10);
	assert_int_equal(raid_sb_decode(buf, &out, err, sizeof(err)), 0);
	assert_memory_equal(out.uuid, in.uuid, 16);
	assert_string_equal(out.name, "alpha");
	assert_int_equal(out.role, 2);
	assert_int_equal(out.events, 77);
	assert_int_equal(out.failed, 0x8);
	assert_true(out.dirty);
	assert_int_equal(out.data_size, 64ull << 20);

	uint8_t bad[RAID_SB_SIZE];
	memcpy(bad, buf, sizeof(bad));
	bad[200] ^= 1; /* a reserved byte: still covered by the CRC */
	assert_int_equal(raid_sb_decode(bad, &out, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "corrupt"));
	memcpy(bad, buf, sizeof(bad));
	bad[0] = 'X';
	assert_int_equal(raid_sb_decode(bad, &out, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "magic"));
	in.role = 9; /* beyond nmembers, with a valid CRC */
	raid_sb_encode(&in, bad);
	assert_int_equal(raid_sb_decode(bad, &out, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "role"));
}

/* New superblock fields, bitmap copies and journal headers: round trip, CRC, refusals. */
static void test_metadata_formats(void **state)
{
	(void)state;
	uint8_t buf[RAID_SB_SIZE];
	struct raid_sb_info in, out;
	char err[200];
	sb_sample(&in, 1, 5, 0);
	in.region_bytes = 64 << 20;
	in.bitmap_offset = 4096;
	in.bitmap_slot_bytes = 8192;
	in.journal_offset = 4096 + 2 * 8192;
	in.journal_slot_bytes = 4096 + 65536;
	in.journal_bytes = 8 * (uint64_t)in.journal_slot_bytes;
	in.rebuilding = 0x2;
	in.recovery_offset = 1 << 20;
	raid_sb_encode(&in, buf);
	assert_int_equal(raid_sb_decode(buf, &out, err, sizeof(err)), 0);
	assert_int_equal(out.region_bytes, 64 << 20);
	assert_int_equal(out.journal_bytes, in.journal_bytes);
	assert_int_equal(out.rebuilding, 0x2);
	assert_int_equal(out.recovery_offset, 1 << 20);
	in.journal_bytes = in.journal_slot_bytes; /* one slot: no ring */
	raid_sb_encode(&in, buf);
	assert_int_equal(raid_sb_decode(buf, &out, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "journal"));
	in.journal_bytes = 0;
	in.bitmap_offset = 1 << 20; /* overlaps the data */
	raid_sb_encode(&in, buf);
	assert_int_equal(raid_sb_decode(buf, &out, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "bitmap"));

	/* bitmap copy */
	struct raid_array *a = calloc(1, sizeof(*a));
	a->dev.info.block_size = 512;
	memset(a->uuid, 0x42, 16);
	a->bm_slot_blocks = 8;
	a->g.chunk = 32;
	a->g.member_blocks = 32 * 64;
	uint8_t bits[16] = {0x05, 0x80}, got[16] = {0};
	struct raid_bm_header h = {.seq = 9, .events_cleared = 3, .region_bytes = 65536, .nregions = 16}, hg;
	uint8_t *bm = malloc(4096);
	raid_bitmap_encode(a, &h, bits, bm);
	assert_memory_equal(bm, "SHBABMAP", 8);
	assert_int_equal(raid_bitmap_decode(bm, 4096, a->uuid, &hg, got, sizeof(got)), 0);
	assert_int_equal(hg.seq, 9);
	assert_int_equal(hg.events_cleared, 3);
	assert_int_equal(hg.nregions, 16);
	assert_memory_equal(got, bits, 2);
	bm[100] ^= 1;
	assert_int_equal(raid_bitmap_decode(bm, 4096, a->uuid, &hg, got, sizeof(got)), -EBADMSG);
	bm[100] ^= 1;
	uint8_t other[16] = {0};
	assert_int_equal(raid_bitmap_decode(bm, 4096, other, &hg, got, sizeof(got)), -EPROTO);
	free(bm);

	/* journal slot: a header written like journal.c does is parsed back; torn payloads are refused */
	a->j_slot_blocks = raid_journal_hdr_blocks(a) + a->g.chunk;
	size_t slot = a->j_slot_blocks * 512;
	uint8_t *js = calloc(1, slot);
	struct raid_jfound f;
	assert_int_equal(raid_journal_parse(a, 0, js, &f), -ENOENT);
	memcpy(js, "SHBAJRNL", 8);
	assert_int_equal(raid_journal_parse(a, 0, js, &f), -EBADMSG);
	free(js);
	free(a);
}

static void test_assembly_select(void **state)
{
	(void)state;
	struct raid_sb_info sbs[5];
	const char *names[5] = {"m0", "m1", "m2", "m3", "m4"};
	struct raid_assembly *as = calloc(1, sizeof(*as));
	char msg[1024];
	/* m0..m3 current (events 10), m4 is a member of another array */
	for (unsigned i = 0; i < 4; i++)
		sb_sample(&sbs[i], i, 10, 1);
	sb_sample(&sbs[4], 1, 50, 2);
	sbs[2].events = 7; /* stale: it missed updates */
	assert_int_equal(raid_sb_select(sbs, names, 5, as, msg, sizeof(msg)), 0);
	assert_int_equal(as->good, 3);
	assert_false(as->refused[0]);
	assert_true(as->refused[2]);
	assert_non_null(strstr(as->reason[2], "stale"));
	assert_non_null(strstr(as->reason[2], "7"));
	assert_true(as->refused[4]);
	assert_non_null(strstr(as->reason[4], "another array"));
	assert_non_null(strstr(as->reason[4], "beta"));
	assert_int_equal(as->by_role[2], -1);
	assert_int_equal(as->by_role[3], 3);

	/* two missing out of four on RAID 5: refused as a whole, message names them */
	memset(as, 0, sizeof(*as));
	as->refused[1] = true;
	snprintf(as->reason[1], sizeof(as->reason[1]), "superblock is corrupt (CRC32C ...)");
	assert_int_equal(raid_sb_select(sbs, names, 4, as, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "cannot start"));
	assert_non_null(strstr(msg, "m1: superblock is corrupt"));
	assert_non_null(strstr(msg, "m2: stale"));

	/* a member the newest superblock marks failed, and a duplicated role */
	memset(as, 0, sizeof(*as));
	for (unsigned i = 0; i < 4; i++) {
		sb_sample(&sbs[i], i, 12, 1);
		sbs[i].failed = 0x2;
	}
	sb_sample(&sbs[4], 0, 12, 1);
	sbs[4].failed = 0x2;
	assert_int_equal(raid_sb_select(sbs, names, 5, as, msg, sizeof(msg)), 0);
	assert_true(as->refused[1]);
	assert_non_null(strstr(as->reason[1], "marked failed"));
	assert_true(as->refused[4]);
	assert_non_null(strstr(as->reason[4], "already taken by m0"));
	free(as);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mirror_layouts),
		cmocka_unit_test(test_parity_layouts),
		cmocka_unit_test(test_parity_math),
		cmocka_unit_test(test_superblock_format),
		cmocka_unit_test(test_metadata_formats),
		cmocka_unit_test(test_assembly_select),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* raid_test_util.h - test helpers: arrays over malloc+error members built on reactor 0, a byte model, random I/O, GF(2^8) by hand. */
#ifndef SOFTHBA_TESTS_RAID_TEST_UTIL_H
#define SOFTHBA_TESTS_RAID_TEST_UTIL_H

#include <unistd.h>

#include "blk/raid/raid.h"
#include "core/util.h"

#define BS 512u
#define CHUNK_KIB 16u
#define CHUNK_BLOCKS (CHUNK_KIB * 1024u / BS)
#define DOFF_KIB 1024u
#define DOFF_BLOCKS (DOFF_KIB * 1024u / BS)
#define MEMBER_BYTES (4u << 20)
#define REGION_KIB 64u
#define REGION_BLOCKS (REGION_KIB * 1024u / BS)

H_FN uint8_t ref_gf_mul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;
	while (b) {
		if (b & 1)
			r ^= a;
		a = (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1d : 0));
		b >>= 1;
	}
	return r;
}

H_FN uint8_t ref_gf_pow2(unsigned e)
{
	uint8_t g = 1;
	while (e--)
		g = ref_gf_mul(g, 2);
	return g;
}

struct tarr {
	unsigned level, n;
	struct blk_dev *base[RAID_MAX_MEMBERS], *err[RAID_MAX_MEMBERS];
	struct blk_dev *dev;
	uint64_t blocks, member_blocks;
	uint8_t *model;
	uint32_t stripe_blocks; /* data blocks per stripe/row */
	uint32_t create_flags;
};

H_FN void tarr_members(struct tarr *t, unsigned n, uint64_t bytes)
{
	memset(t, 0, sizeof(*t));
	t->n = n;
	for (unsigned m = 0; m < n; m++) {
		char name[32];
		snprintf(name, sizeof(name), "mem%u", m);
		assert_int_equal(blk_malloc_create(name, bytes, BS, &t->base[m]), 0);
		snprintf(name, sizeof(name), "m%u", m);
		assert_int_equal(blk_error_create(name, t->base[m], &t->err[m]), 0);
	}
}

H_FN void tarr_free_members(struct tarr *t)
{
	for (unsigned m = 0; m < t->n; m++) {
		blk_destroy(t->err[m]);
		blk_destroy(t->base[m]);
	}
}

/* ---- create / assemble / destroy on reactor 0 ---- */
struct boot_call {
	struct raid_create_opts c;
	struct raid_assemble_opts as;
	bool assemble;
	int rc;
	int status;
	struct blk_dev *dev;
	char err[256];
	char msg[1024];
	struct h_call *call;
};

H_FN void boot_cb(void *arg, int status, struct blk_dev *dev, const char *msg)
{
	struct boot_call *b = arg;
	b->status = status;
	b->dev = dev;
	snprintf(b->msg, sizeof(b->msg), "%s", msg ? msg : "");
	h_done(b->call);
}

H_FN void boot_start(struct h_call *c)
{
	struct boot_call *b = c->arg;
	b->call = c;
	b->rc = b->assemble ? raid_assemble(&b->as, boot_cb, b, b->err, sizeof(b->err))
			    : raid_create(&b->c, boot_cb, b, b->err, sizeof(b->err));
	if (b->rc != 0)
		h_done(c);
}

H_FN int boot_run(struct boot_call *b)
{
	assert_int_equal(h_run(0, boot_start, b), 0);
	return b->rc != 0 ? b->rc : b->status;
}

H_FN int create_err(struct tarr *t, unsigned level, unsigned n, uint32_t chunk_kib, char *err, size_t errlen)
{
	struct boot_call *b = calloc(1, sizeof(*b));
	b->c = (struct raid_create_opts){.name = "t", .level = level, .chunk_kib = chunk_kib,
					 .data_offset_kib = DOFF_KIB, .members = t->err, .nmembers = n};
	int rc = boot_run(b);
	snprintf(err, errlen, "%s", b->err);
	if (rc == 0)
		fail_msg("create unexpectedly succeeded");
	free(b);
	return rc;
}

H_FN uint32_t data_cols(unsigned level, unsigned n)
{
	switch (level) {
	case 0: return n;
	case 1: return 1;
	case 10: return n / 2 ? n / 2 : 1;
	case 5: return n - 1;
	default: return n - 2;
	}
}

H_FN void tarr_open(struct tarr *t, struct blk_dev *dev)
{
	t->dev = dev;
	t->blocks = dev->info.num_blocks;
	t->member_blocks = (MEMBER_BYTES - DOFF_KIB * 1024u) / BS;
	t->stripe_blocks = CHUNK_BLOCKS * data_cols(t->level, t->n);
	t->model = calloc(1, t->blocks * BS);
}

/* Assemble from devs (any order) with a 100 ms clean delay; msg gets the result sentence. */
H_FN int assemble(struct blk_dev **devs, unsigned n, struct blk_dev **out, char *msg, size_t msglen)
{
	struct boot_call *b = calloc(1, sizeof(*b));
	b->assemble = true;
	b->as = (struct raid_assemble_opts){.members = devs, .nmembers = n, .clean_delay_ms = 100};
	int rc = boot_run(b);
	snprintf(msg, msglen, "%s", b->rc ? b->err : b->msg);
	*out = b->dev;
	free(b);
	return rc;
}

/* Wait (bounded) until no sync job runs; returns the info then. */
H_FN void wait_sync(struct blk_dev *dev, struct raid_info *info)
{
	for (int i = 0; i < 3000; i++) {
		assert_int_equal(raid_get_info(dev, info), 0);
		if (info->sync.kind == RAID_SYNC_NONE)
			return;
		usleep(2000);
	}
	fail_msg("sync job did not end");
}

/* Control calls run on the owner (reactor 0). */
struct ctl_call {
	struct blk_dev *dev, *other;
	int mode;
	unsigned role;
	uint64_t rate;
	int which;
	int rc;
};

H_FN void ctl_fn(struct h_call *c)
{
	struct ctl_call *k = c->arg;
	switch (k->which) {
	case 0: k->rc = raid_scrub_start(k->dev, (enum raid_sync_kind)k->mode); break;
	case 1: k->rc = raid_add_spare(k->dev, k->other); break;
	case 2: k->rc = raid_replace_member(k->dev, k->role, k->other); break;
	case 3: k->rc = raid_set_rebuild_rate(k->dev, k->rate); break;
	case 5: k->rc = raid_readd_member(k->dev, k->role); break;
	default: k->rc = raid_scrub_stop(k->dev); break;
	}
	h_done(c);
}

H_FN int h_ctl(struct ctl_call *k)
{
	assert_int_equal(h_run(0, ctl_fn, k), 0);
	return k->rc;
}

H_FN int h_scrub(struct blk_dev *dev, enum raid_sync_kind mode)
{
	struct ctl_call k = {.dev = dev, .mode = mode, .which = 0};
	return h_ctl(&k);
}

/* Crash: the array object goes away without any orderly stop (superblocks stay as they are). */
H_FN void destroy_fn(struct h_call *c)
{
	blk_destroy(c->arg);
	h_done(c);
}

H_FN void tarr_crash(struct tarr *t)
{
	assert_int_equal(h_run(0, destroy_fn, t->dev), 0);
	usleep(20000); /* internal work in flight finishes and frees the array */
	t->dev = NULL;
}

H_FN void tarr_create_on(struct tarr *t, unsigned level, const char *name, uint32_t deadline_ms)
{
	t->level = level;
	struct boot_call *b = calloc(1, sizeof(*b));
	b->c = (struct raid_create_opts){.name = name, .level = level, .chunk_kib = CHUNK_KIB,
					 .data_offset_kib = DOFF_KIB, .members = t->err, .nmembers = t->n,
					 .deadline_ms = deadline_ms, .clean_delay_ms = 100, .region_kib = REGION_KIB,
					 .flags = t->create_flags};
	int rc = boot_run(b);
	if (rc != 0)
		fail_msg("create raid%u: %d %s %s", level, rc, b->err, b->msg);
	tarr_open(t, b->dev);
	free(b);
}

H_FN void tarr_create(struct tarr *t, unsigned level, unsigned n, uint32_t deadline_ms)
{
	tarr_members(t, n, MEMBER_BYTES);
	tarr_create_on(t, level, "t", deadline_ms);
}

struct stop_call {
	struct blk_dev *dev;
	int rc, status;
	struct h_call *call;
};

H_FN void stop_cb(void *arg, int status)
{
	struct stop_call *s = arg;
	s->status = status;
	h_done(s->call);
}

H_FN void stop_start(struct h_call *c)
{
	struct stop_call *s = c->arg;
	s->call = c;
	s->rc = raid_stop(s->dev, stop_cb, s);
	if (s->rc != 0)
		h_done(c);
}

H_FN void tarr_stop(struct tarr *t)
{
	struct stop_call s = {.dev = t->dev};
	assert_int_equal(h_run(0, stop_start, &s), 0);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.status, 0);
	t->dev = NULL;
}

/* Orderly stop (drains I/O and superblock writes; offline arrays report -EIO). */
H_FN void tarr_close(struct tarr *t)
{
	if (t->dev) {
		struct stop_call s = {.dev = t->dev};
		assert_int_equal(h_run(0, stop_start, &s), 0);
		assert_int_equal(s.rc, 0);
	}
	t->dev = NULL;
	free(t->model);
	t->model = NULL;
}

H_FN void tarr_destroy(struct tarr *t)
{
	tarr_close(t);
	tarr_free_members(t);
}

/* ---- I/O against the model ---- */
H_FN uint64_t trand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Write buf over [lba, lba+n) split into up to three iovecs at random byte offsets. */
H_FN void write_split(struct tarr *t, uint64_t lba, uint32_t n, uint8_t *buf, uint64_t *s)
{
	size_t len = (size_t)n * BS;
	struct iovec iov[3];
	int cnt = 1;
	iov[0] = (struct iovec){buf, len};
	if (len > 64 && trand(s) % 2) {
		size_t a = 1 + trand(s) % (len - 2), b = a + trand(s) % (len - a);
		iov[0].iov_len = a;
		iov[1] = (struct iovec){buf + a, b - a};
		iov[2] = (struct iovec){buf + b, len - b};
		cnt = b > a && b < len ? 3 : 2;
		if (cnt == 2)
			iov[1].iov_len = len - a;
	}
	bool bad = false;
	int rc = h_io(t->dev, BLK_OP_WRITE, lba, n, iov, cnt, &bad);
	if (rc != 0)
		fail_msg("raid%u write lba %llu n %u: %d", t->level, (unsigned long long)lba, n, rc);
	assert_false(bad);
	memcpy(t->model + lba * BS, buf, len);
}

H_FN void random_writes(struct tarr *t, int count, uint64_t seed)
{
	uint64_t s = seed * 7919 + 17;
	for (int i = 0; i < count; i++) {
		uint64_t lba = trand(&s) % t->blocks;
		uint32_t n = (uint32_t)(1 + trand(&s) % MIN(t->blocks - lba, 3ull * t->stripe_blocks));
		uint8_t *buf = malloc((size_t)n * BS);
		h_fill(buf, (size_t)n * BS, trand(&s));
		write_split(t, lba, n, buf, &s);
		free(buf);
	}
}

H_FN void full_stripe_writes(struct tarr *t, int count, uint64_t seed)
{
	uint64_t s = seed * 31 + 5;
	uint64_t stripes = t->blocks / t->stripe_blocks;
	for (int i = 0; i < count; i++) {
		uint64_t st = trand(&s) % (stripes - 1);
		uint32_t n = t->stripe_blocks * (1 + (uint32_t)(trand(&s) % 2));
		uint8_t *buf = malloc((size_t)n * BS);
		h_fill(buf, (size_t)n * BS, trand(&s));
		write_split(t, st * t->stripe_blocks, n, buf, &s);
		free(buf);
	}
}

/* Many single-block writes to distinct blocks of the same two stripes, all in flight at once. */
H_FN void same_stripe_batch(struct tarr *t, uint64_t seed)
{
	enum { NB = 24 };
	struct blk_io ios[NB];
	struct iovec iov[NB];
	uint8_t *buf = malloc((size_t)NB * BS);
	h_fill(buf, (size_t)NB * BS, seed);
	uint64_t base = t->stripe_blocks * 3;
	uint32_t span = MIN(2 * t->stripe_blocks, (uint32_t)(t->blocks - base));
	for (int i = 0; i < NB; i++) {
		uint64_t lba = base + (uint64_t)i * (span / NB);
		iov[i] = (struct iovec){buf + (size_t)i * BS, BS};
		blk_io_prep(&ios[i], t->dev, BLK_OP_WRITE, lba, 1, &iov[i], 1, NULL, NULL);
		memcpy(t->model + lba * BS, iov[i].iov_base, BS);
	}
	assert_int_equal(h_batch_run(ios, NB), 0);
	free(buf);
}

H_FN void zero_writes(struct tarr *t, uint64_t seed)
{
	uint64_t s = seed;
	for (int i = 0; i < 6; i++) {
		uint64_t lba = trand(&s) % t->blocks;
		uint32_t n = (uint32_t)(1 + trand(&s) % MIN(t->blocks - lba, 2ull * t->stripe_blocks));
		bool bad = false;
		enum blk_op op = i % 2 ? BLK_OP_UNMAP : BLK_OP_WRITE_ZEROES;
		assert_int_equal(h_io(t->dev, op, lba, n, NULL, 0, &bad), 0);
		memset(t->model + lba * BS, 0, (size_t)n * BS);
	}
}

H_FN void verify_all(struct tarr *t)
{
	const uint32_t step = 512;
	uint8_t *buf = malloc((size_t)step * BS);
	for (uint64_t lba = 0; lba < t->blocks; lba += step) {
		uint32_t n = (uint32_t)MIN(step, t->blocks - lba);
		struct iovec iov = {buf, (size_t)n * BS};
		bool bad = false;
		int rc = h_io(t->dev, BLK_OP_READ, lba, n, &iov, 1, &bad);
		if (rc != 0)
			fail_msg("raid%u read lba %llu: %d", t->level, (unsigned long long)lba, rc);
		assert_false(bad);
		if (memcmp(buf, t->model + lba * BS, (size_t)n * BS) != 0) {
			size_t off = 0;
			while (buf[off] == t->model[lba * BS + off])
				off++;
			fail_msg("raid%u: data differs at array byte %llu", t->level,
				 (unsigned long long)(lba * BS + off));
		}
	}
	free(buf);
}

#endif

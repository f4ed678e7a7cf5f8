/* test_config_raid.c - the "raid" volume backend of the configuration: members, spares, inject, and every refusal's key path. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "config_expect.h"

/* One raid volume with the given keys after "backend", exported as LUN 0. */
#define RAID(keys)                                                                                                \
	"{\"volumes\": [{\"name\": \"r5\", \"backend\": \"raid\", " keys "}], \"iscsi\": {\"portals\": "           \
	"[\"127.0.0.1:3260\"], \"targets\": [{\"name\": \"iqn.2026-11.org.softhba:t0\", \"luns\": [{\"lun\": 0, " \
	"\"volume\": \"r5\"}]}]}}"
#define FILE_M(n) "{\"backend\": \"file\", \"path\": \"/tmp/m" #n ".img\", \"size\": \"64MiB\"}"
#define MAL_M "{\"backend\": \"malloc\", \"size\": \"64MiB\"}"
#define FOUR "\"members\": [" FILE_M(0) ", " FILE_M(1) ", " FILE_M(2) ", " MAL_M "]"

static void test_full(void **state)
{
	(void)state;
	struct softhba_config *cfg = expect_ok(RAID(
		"\"level\": 6, \"chunk\": \"128KiB\", \"create\": \"never\", \"rebuild_rate\": \"50MiB\", "
		"\"member_timeout_ms\": 5000, \"journal\": false, \"bitmap\": false, "
		"\"members\": [" FILE_M(0) ", " FILE_M(1) ", {\"backend\": \"file\", \"path\": \"/tmp/m2.img\", "
		"\"direct\": true, \"inject\": {}}, {\"backend\": \"malloc\", \"size\": \"64MiB\", \"inject\": "
		"{\"mode\": \"fail-writes\", \"lba\": 100, \"count\": 8}}], "
		"\"spares\": [{\"backend\": \"malloc\", \"size\": \"64MiB\", \"inject\": {\"mode\": \"delay\", "
		"\"delay_us\": 300}}]"));
	const struct cfg_volume *v = &cfg->volumes[0];
	assert_int_equal(v->backend, CFG_BACKEND_RAID);
	assert_int_equal(v->block_size, 512);
	assert_null(v->path);
	const struct cfg_raid *r = v->raid;
	assert_non_null(r);
	assert_int_equal(r->level, 6);
	assert_int_equal(r->chunk_kib, 128);
	assert_int_equal(r->create, CFG_RAID_CREATE_NEVER);
	assert_int_equal(r->rebuild_rate, 50ull << 20);
	assert_int_equal(r->member_timeout_ms, 5000);
	assert_false(r->journal);
	assert_false(r->bitmap);
	assert_int_equal(r->n_members, 4);
	assert_int_equal(r->members[0].backend, CFG_BACKEND_FILE);
	assert_string_equal(r->members[0].path, "/tmp/m0.img");
	assert_int_equal(r->members[0].size, 64ull << 20);
	assert_false(r->members[0].inject);
	assert_true(r->members[2].direct);
	assert_int_equal(r->members[2].size, 0);
	assert_true(r->members[2].inject);
	assert_int_equal(r->members[2].faults.mode, CFG_INJECT_NONE);
	assert_int_equal(r->members[3].backend, CFG_BACKEND_MALLOC);
	assert_int_equal(r->members[3].faults.mode, CFG_INJECT_FAIL_WRITES);
	assert_int_equal(r->members[3].faults.lba, 100);
	assert_int_equal(r->members[3].faults.count, 8);
	assert_int_equal(r->n_spares, 1);
	assert_int_equal(r->spares[0].faults.mode, CFG_INJECT_DELAY);
	assert_int_equal(r->spares[0].faults.delay_us, 300);
	config_free(cfg);

	cfg = expect_ok(RAID("\"level\": 5, " FOUR));
	r = cfg->volumes[0].raid;
	assert_int_equal(r->chunk_kib, 0); /* the engine's default */
	assert_int_equal(r->create, CFG_RAID_CREATE_IF_MISSING);
	assert_true(r->journal);
	assert_true(r->bitmap);
	assert_int_equal(r->n_spares, 0);
	config_free(cfg);
}

static void test_volume_errors(void **state)
{
	(void)state;
	expect_error(RAID("\"level\": 5, " FOUR ", \"size\": \"1GiB\""),
		     "volumes[0].size: a raid volume has no \"size\": its size follows from the level and the members' "
		     "sizes; remove it");
	expect_error(RAID("\"level\": 5, " FOUR ", \"path\": \"/x\""),
		     "volumes[0].path: a raid volume has no \"path\": set it on the members; remove it here");
	expect_error(RAID("\"level\": 5, " FOUR ", \"levle\": 5"), "volumes[0].levle: unknown key; did you mean \"level\"?");
	expect_error(RAID(FOUR), "volumes[0].level: missing; a raid volume needs its \"level\": 0, 1, 5, 6 or 10");
	expect_error(RAID("\"level\": 4, " FOUR), "volumes[0].level: RAID level 4 is not supported; use 0, 1, 5, 6 or 10");
	expect_error(RAID("\"level\": \"5\", " FOUR), "volumes[0].level: expected an integer, got a string");
	expect_error(RAID("\"level\": 6, \"members\": [" MAL_M ", " MAL_M ", " MAL_M "]"),
		     "volumes[0].members: RAID 6 needs at least 4 members, 3 are listed");
	expect_error(RAID("\"level\": 1"), "volumes[0].members: missing; list the array's members, e.g. [{\"backend\": "
					   "\"file\", \"path\": \"/srv/d0.img\", \"size\": \"1GiB\"}, ...]");
	expect_error(RAID("\"level\": 1, \"chunk\": \"64KiB\", \"members\": [" MAL_M ", " MAL_M "]"),
		     "volumes[0].chunk: RAID 1 is not striped and has no chunk size; remove \"chunk\"");
	expect_error(RAID("\"level\": 0, \"chunk\": \"96KiB\", \"members\": [" MAL_M ", " MAL_M "]"),
		     "volumes[0].chunk: 98304 bytes is not a valid chunk size; use a power of two from the block size (at "
		     "least 1KiB) to 64MiB, e.g. \"64KiB\"");
	expect_error(RAID("\"level\": 0, \"members\": [" MAL_M ", " MAL_M "], \"spares\": [" MAL_M "]"),
		     "volumes[0].spares: RAID 0 has no redundancy to rebuild onto a spare; remove \"spares\"");
	expect_error(RAID("\"level\": 5, " FOUR ", \"create\": \"always\""),
		     "volumes[0].create: unknown value \"always\"; use \"if-missing\" (create the array when no member has "
		     "a superblock) or \"never\" (only assemble)");
	expect_error(RAID("\"level\": 5, " FOUR ", \"create\": \"if_missing\""),
		     "volumes[0].create: unknown value \"if_missing\"; did you mean \"if-missing\"?");
	expect_error(RAID("\"level\": 1, \"journal\": true, \"members\": [" MAL_M ", " MAL_M "]"),
		     "volumes[0].journal: only RAID 5 and 6 have a write journal; remove \"journal\"");
	expect_error(RAID("\"level\": 5, " FOUR ", \"member_timeout_ms\": 10"),
		     "volumes[0].member_timeout_ms: 10 is out of range; use 100..3600000 (milliseconds)");
	expect_error("{\"volumes\": [{\"name\": \"a-very-long-raid-volume-name-0123\", \"backend\": \"raid\", \"level\": 1, "
		     "\"members\": [" MAL_M ", " MAL_M "]}], \"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], "
		     "\"targets\": []}}",
		     "volumes[0].name: \"a-very-long-raid-volume-name-0123\" is 33 bytes long; a raid volume's name is also "
		     "its array name, at most 31 bytes");
}

static void test_member_errors(void **state)
{
	(void)state;
	expect_error(RAID("\"level\": 1, \"members\": [" MAL_M ", {\"backend\": \"null\", \"size\": 4096}]"),
		     "volumes[0].members[1].backend: a RAID member is a \"file\" or a \"malloc\" device, not \"null\"");
	expect_error(RAID("\"level\": 1, \"members\": [" MAL_M ", {\"backend\": \"fil\", \"path\": \"/x\"}]"),
		     "volumes[0].members[1].backend: unknown member backend \"fil\"; did you mean \"file\"?");
	expect_error(RAID("\"level\": 1, \"members\": [" MAL_M ", {\"backend\": \"malloc\"}]"),
		     "volumes[0].members[1].size: missing; a malloc member needs a size, e.g. \"64MiB\"");
	expect_error(RAID("\"level\": 1, \"members\": [" MAL_M ", {\"backend\": \"file\", \"size\": \"1MiB\"}]"),
		     "volumes[0].members[1].path: missing; a file member needs the \"path\" of its file or block device");
	expect_error(RAID("\"level\": 1, \"members\": [" MAL_M ", {\"backend\": \"malloc\", \"size\": 4096, "
			  "\"path\": \"/x\"}]"),
		     "volumes[0].members[1].path: only file members have \"path\"; remove it or set \"backend\": \"file\"");
	expect_error(RAID("\"level\": 1, \"members\": [" FILE_M(0) ", " FILE_M(0) "]"),
		     "volumes[0].members[1].path: \"/tmp/m0.img\" is already members[0]; every member and spare needs its "
		     "own file");
	expect_error(RAID("\"level\": 1, \"members\": [" FILE_M(0) ", " FILE_M(1) "], \"spares\": [" FILE_M(1) "]"),
		     "volumes[0].spares[0].path: \"/tmp/m1.img\" is already members[1]; every member and spare needs its "
		     "own file");
	expect_error(RAID("\"level\": 1, \"members\": [" MAL_M ", {\"backend\": \"malloc\", \"size\": \"64MiB\", "
			  "\"block_size\": 4096}]"),
		     "volumes[0].members[1].block_size: 4096 differs from members[0]'s 512; every member and spare of an "
		     "array has one block size");
	expect_error(RAID("\"level\": 1, \"members\": [" MAL_M ", {\"backend\": \"malloc\", \"size\": 1000}]"),
		     "volumes[0].members[1].size: 1000 bytes is not a multiple of block_size 512");
	expect_error(RAID("\"level\": 1, \"members\": [" MAL_M ", {\"backend\": \"malloc\", \"sise\": 4096}]"),
		     "volumes[0].members[1].sise: unknown key; did you mean \"size\"?");
	expect_error(RAID("\"level\": 1, \"members\": [" MAL_M ", 7]"),
		     "volumes[0].members[1]: expected an object {...}, got an integer");
}

static void test_inject_errors(void **state)
{
	(void)state;
#define INJ(x) RAID("\"level\": 1, \"members\": [" MAL_M ", {\"backend\": \"malloc\", \"size\": 4096, \"inject\": " x "}]")
	expect_error(INJ("{\"mode\": \"fail-write\"}"),
		     "volumes[0].members[1].inject.mode: unknown mode \"fail-write\"; did you mean \"fail-writes\"?");
	expect_error(INJ("{\"mode\": \"explode\"}"),
		     "volumes[0].members[1].inject.mode: unknown mode \"explode\"; use none, fail-reads, fail-writes, "
		     "fail-all, disappear or delay");
	expect_error(INJ("{\"mode\": \"delay\"}"),
		     "volumes[0].members[1].inject.delay_us: missing; the delay mode needs \"delay_us\", e.g. 20000");
	expect_error(INJ("{\"mode\": \"disappear\", \"lba\": 5}"),
		     "volumes[0].members[1].inject.lba: only the fail-reads, fail-writes and fail-all modes use \"lba\"; "
		     "remove it or set \"mode\"");
	expect_error(INJ("{\"mode\": \"fail-reads\", \"delay_us\": 5}"),
		     "volumes[0].members[1].inject.delay_us: only the delay mode uses \"delay_us\"; remove it or set "
		     "\"mode\": \"delay\"");
	expect_error(INJ("{\"mode\": \"fail-reads\", \"after\": 5}"),
		     "volumes[0].members[1].inject.after: counts requests of every kind, so it goes with \"mode\": "
		     "\"fail-all\" only");
	expect_error(INJ("{\"mode\": \"fail-all\", \"after\": 5, \"lba\": 1}"),
		     "volumes[0].members[1].inject.after: cannot be combined with \"lba\"/\"count\": a fault either hits a "
		     "block range or every request from the after-th on");
	expect_error(INJ("[]"), "volumes[0].members[1].inject: expected an object {...}, got an array");
#undef INJ
}

static void test_runtime_parsers(void **state)
{
	(void)state;
	struct cfg_member m;
	struct cfg_inject f;
	char err[300];

	assert_int_equal(config_parse_member("{\"backend\": \"file\", \"path\": \"/srv/x.img\", \"size\": \"1GiB\", "
					     "\"inject\": {}}", "params.member", &m, err, sizeof(err)), 0);
	assert_string_equal(m.path, "/srv/x.img");
	assert_int_equal(m.size, 1ull << 30);
	assert_true(m.inject);
	config_member_free(&m);
	assert_int_equal(config_parse_member("{\"backend\": \"file\"}", "params.member", &m, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "params.member.path: missing; a file member needs the \"path\" of its file or block device");
	assert_int_equal(config_parse_member("{", "params.member", &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "params.member: is not valid JSON"));

	assert_int_equal(config_parse_inject("{\"mode\": \"clear\"}", "params", &f, err, sizeof(err)), 0);
	assert_int_equal(f.mode, CFG_INJECT_NONE);
	assert_int_equal(config_parse_inject("{\"mode\": \"fail-all\", \"after\": 3}", "params", &f, err, sizeof(err)), 0);
	assert_int_equal(f.mode, CFG_INJECT_FAIL_ALL);
	assert_int_equal(f.after, 3);
	assert_int_equal(config_parse_inject("{\"mode\": \"delay\", \"delay_us\": 70000000}", "params", &f, err,
					     sizeof(err)), -EINVAL);
	assert_string_equal(err, "params.delay_us: 70000000 is out of range; use 0..60000000 (microseconds)");
	for (unsigned i = 0; i < CFG_INJECT__COUNT; i++) {
		enum cfg_inject_mode back;
		assert_int_equal(config_inject_mode_parse(config_inject_mode_name((enum cfg_inject_mode)i), &back), 0);
		assert_int_equal(back, i);
	}
}

/* The raid volume example in docs/configuration.md stays valid. */
static void test_doc_example(void **state)
{
	(void)state;
	char path[512], text[8192];
	snprintf(path, sizeof(path), "%s/docs/configuration.md", SOFTHBA_SOURCE_ROOT);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char md[1 << 17];
	size_t n = fread(md, 1, sizeof(md) - 1, f);
	fclose(f);
	md[n] = '\0';
	const char *sec = strstr(md, "### RAID volumes");
	assert_non_null(sec);
	const char *start = strstr(sec, "```json\n");
	assert_non_null(start);
	start += 8;
	const char *end = strstr(start, "```");
	assert_non_null(end);
	snprintf(text, sizeof(text), "{\"volumes\": [%.*s], \"iscsi\": {\"portals\": [\"127.0.0.1:0\"], \"targets\": []}}",
		 (int)(end - start), start);
	struct softhba_config *cfg = expect_ok(text);
	const struct cfg_raid *r = cfg->volumes[0].raid;
	assert_non_null(r);
	assert_int_equal(r->level, 5);
	assert_int_equal(r->n_members, 4);
	assert_int_equal(r->n_spares, 1);
	assert_true(r->members[2].inject);
	assert_int_equal(r->rebuild_rate, 50ull << 20);
	config_free(cfg);
}

static void test_bitmap_region(void **state)
{
	(void)state;
	struct softhba_config *cfg = expect_ok(RAID("\"level\": 5, \"bitmap_region\": \"1MiB\", " FOUR));
	assert_int_equal(cfg->volumes[0].raid->region_kib, 1024);
	config_free(cfg);
	cfg = expect_ok(RAID("\"level\": 5, " FOUR));
	assert_int_equal(cfg->volumes[0].raid->region_kib, 0); /* the engine's default */
	config_free(cfg);
	expect_error(RAID("\"level\": 5, \"bitmap_region\": \"32KiB\", " FOUR),
		     "volumes[0].bitmap_region: 32768 bytes is not a valid region size; use a power of two from the chunk "
		     "size (65536 bytes) to 1TiB, e.g. \"64MiB\" (the default)");
	expect_error(RAID("\"level\": 5, \"chunk\": \"4KiB\", \"bitmap_region\": \"12KiB\", " FOUR),
		     "volumes[0].bitmap_region: 12288 bytes is not a valid region size; use a power of two from the chunk "
		     "size (4096 bytes) to 1TiB, e.g. \"64MiB\" (the default)");
	expect_error(RAID("\"level\": 5, \"bitmap\": false, \"bitmap_region\": \"1MiB\", " FOUR),
		     "volumes[0].bitmap_region: \"bitmap\" is false, so there are no bitmap regions; remove "
		     "\"bitmap_region\"");
	expect_error(RAID("\"level\": 0, \"bitmap_region\": \"1MiB\", " FOUR),
		     "volumes[0].bitmap_region: RAID 0 has no write-intent bitmap; remove \"bitmap_region\"");
}

/* A raid volume, then top-level keys (the global spares). */
#define RAID_TOP(keys, top)                                                                                       \
	"{\"volumes\": [{\"name\": \"r5\", \"backend\": \"raid\", " keys "}], " top ", \"iscsi\": {\"portals\": "   \
	"[\"127.0.0.1:3260\"], \"targets\": []}}"

static void test_global_spares(void **state)
{
	(void)state;
	struct softhba_config *cfg = expect_ok(RAID_TOP("\"level\": 5, " FOUR,
		"\"spares\": [{\"backend\": \"file\", \"path\": \"/tmp/g0.img\", \"size\": \"64MiB\", \"inject\": {}}, "
		MAL_M "]"));
	assert_int_equal(cfg->n_spares, 2);
	assert_string_equal(cfg->spares[0].path, "/tmp/g0.img");
	assert_true(cfg->spares[0].inject);
	assert_int_equal(cfg->spares[1].backend, CFG_BACKEND_MALLOC);
	assert_int_equal(cfg->spares[1].size, 64ull << 20);
	config_free(cfg);
	cfg = expect_ok(RAID_TOP("\"level\": 5, " FOUR, "\"spares\": []"));
	assert_int_equal(cfg->n_spares, 0);
	config_free(cfg);
	expect_error(RAID_TOP("\"level\": 5, " FOUR, "\"spares\": [" FILE_M(1) "]"),
		     "spares[0].path: \"/tmp/m1.img\" is already volumes[0].members[1] (\"r5\"); a global spare needs "
		     "its own file");
	expect_error(RAID_TOP("\"level\": 5, " FOUR, "\"spares\": [" FILE_M(7) ", " FILE_M(7) "]"),
		     "spares[1].path: \"/tmp/m7.img\" is already spares[0]; every spare needs its own file");
	expect_error(RAID_TOP("\"level\": 0, " FOUR, "\"spares\": [" MAL_M "]"),
		     "spares: no volume could use a global spare (only a raid volume of level 1, 5, 6 or 10 rebuilds "
		     "onto one); remove \"spares\" or add such a volume");
	expect_error(RAID_TOP("\"level\": 5, " FOUR, "\"spares\": [{\"backend\": \"malloc\"}]"),
		     "spares[0].size: missing; a malloc member needs a size, e.g. \"64MiB\"");
	expect_error(RAID_TOP("\"level\": 5, " FOUR, "\"spares\": {}"), "spares: expected an array [...], got an object");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bitmap_region),
		cmocka_unit_test(test_global_spares),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_volume_errors),
		cmocka_unit_test(test_member_errors),
		cmocka_unit_test(test_inject_errors),
		cmocka_unit_test(test_runtime_parsers),
		cmocka_unit_test(test_doc_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

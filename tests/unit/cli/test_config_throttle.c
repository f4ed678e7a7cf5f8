/* test_config_throttle.c - the "throttle" key (disk simulation) on volumes and RAID members: values and every refusal's key path. */
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

/* One volume (JSON object text), exported as LUN 0. */
#define DOC(vol)                                                                                                   \
	"{\"volumes\": [" vol "], \"iscsi\": {\"portals\": [\"127.0.0.1:3260\"], \"targets\": [{\"name\": "          \
	"\"iqn.2026-11.org.softhba:t0\", \"luns\": [{\"lun\": 0, \"volume\": \"v\"}]}]}}"
#define MAL(thr) "{\"name\": \"v\", \"backend\": \"malloc\", \"size\": \"64MiB\", \"throttle\": " thr "}"
#define MEM(thr) "{\"backend\": \"malloc\", \"size\": \"64MiB\", \"throttle\": " thr "}"
#define RAID1(m1) "{\"name\": \"v\", \"backend\": \"raid\", \"level\": 1, \"members\": [" MEM("{\"latency_us\": 5}") ", " m1 "]}"

static void test_values(void **state)
{
	(void)state;
	struct softhba_config *cfg = expect_ok(DOC(MAL("{\"bandwidth\": \"320MiB\", \"latency_us\": 100}")));
	const struct cfg_volume *v = &cfg->volumes[0];
	assert_true(v->throttle);
	assert_int_equal(v->thr.bytes_per_sec, 320ull << 20);
	assert_int_equal(v->thr.latency_us, 100);
	config_free(cfg);

	/* bandwidth alone (an integer: bytes per second), latency alone, on every plain backend */
	cfg = expect_ok(DOC("{\"name\": \"v\", \"backend\": \"null\", \"size\": \"1GiB\", \"throttle\": {\"bandwidth\": "
			    "1048576}}"));
	assert_true(cfg->volumes[0].throttle);
	assert_int_equal(cfg->volumes[0].thr.bytes_per_sec, 1048576);
	assert_int_equal(cfg->volumes[0].thr.latency_us, 0);
	config_free(cfg);
	cfg = expect_ok(DOC("{\"name\": \"v\", \"backend\": \"file\", \"path\": \"/tmp/x.img\", \"throttle\": "
			    "{\"bandwidth\": 0, \"latency_us\": 8000}}"));
	assert_true(cfg->volumes[0].throttle);
	assert_int_equal(cfg->volumes[0].thr.bytes_per_sec, 0);
	assert_int_equal(cfg->volumes[0].thr.latency_us, 8000);
	config_free(cfg);

	/* without the key: no throttle */
	cfg = expect_ok(DOC("{\"name\": \"v\", \"backend\": \"malloc\", \"size\": \"64MiB\"}"));
	assert_false(cfg->volumes[0].throttle);
	config_free(cfg);

	/* members and spares, with and without inject */
	cfg = expect_ok(DOC("{\"name\": \"v\", \"backend\": \"raid\", \"level\": 5, \"members\": ["
			    MEM("{\"bandwidth\": \"200MiB\", \"latency_us\": 4000}") ", "
			    "{\"backend\": \"malloc\", \"size\": \"64MiB\", \"inject\": {}, \"throttle\": {\"bandwidth\": "
			    "\"1GiB\"}}, {\"backend\": \"malloc\", \"size\": \"64MiB\"}], \"spares\": ["
			    MEM("{\"latency_us\": 7}") "]}"));
	const struct cfg_raid *r = cfg->volumes[0].raid;
	assert_false(cfg->volumes[0].throttle);
	assert_true(r->members[0].throttle);
	assert_int_equal(r->members[0].thr.bytes_per_sec, 200ull << 20);
	assert_int_equal(r->members[0].thr.latency_us, 4000);
	assert_true(r->members[1].throttle);
	assert_true(r->members[1].inject);
	assert_int_equal(r->members[1].thr.bytes_per_sec, 1ull << 30);
	assert_false(r->members[2].throttle);
	assert_true(r->spares[0].throttle);
	assert_int_equal(r->spares[0].thr.latency_us, 7);
	assert_int_equal(r->spares[0].thr.bytes_per_sec, 0);
	config_free(cfg);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error(DOC(MAL("{\"bandwith\": \"320MiB\"}")),
		     "volumes[0].throttle.bandwith: unknown key; did you mean \"bandwidth\"?");
	expect_error(DOC(MAL("{}")),
		     "volumes[0].throttle: sets no limit; give \"bandwidth\" (bytes per second) and/or \"latency_us\", "
		     "e.g. {\"bandwidth\": \"320MiB\", \"latency_us\": 100}, or remove \"throttle\"");
	expect_error(DOC(MAL("{\"bandwidth\": 0, \"latency_us\": 0}")),
		     "volumes[0].throttle: sets no limit; give \"bandwidth\" (bytes per second) and/or \"latency_us\", "
		     "e.g. {\"bandwidth\": \"320MiB\", \"latency_us\": 100}, or remove \"throttle\"");
	expect_error(DOC(MAL("{\"bandwidth\": 1000}")),
		     "volumes[0].throttle.bandwidth: 1000 bytes per second is too slow to be useful; use at least "
		     "\"64KiB\" (bytes per second, e.g. \"320MiB\" for a hard disk), or 0 for no cap");
	/* the smallest cap is accepted, one byte less is not */
	config_free(expect_ok(DOC(MAL("{\"bandwidth\": \"64KiB\"}"))));
	expect_error(DOC(MAL("{\"bandwidth\": 65535}")),
		     "volumes[0].throttle.bandwidth: 65535 bytes per second is too slow to be useful; use at least "
		     "\"64KiB\" (bytes per second, e.g. \"320MiB\" for a hard disk), or 0 for no cap");
	expect_error(DOC(MAL("{\"bandwidth\": \"320MB\"}")),
		     "volumes[0].throttle.bandwidth: \"320MB\" has an unknown suffix \"MB\"; use K/KiB, M/MiB, G/GiB, "
		     "T/TiB or P/PiB (powers of 1024)");
	expect_error(DOC(MAL("{\"bandwidth\": -5}")), "volumes[0].throttle.bandwidth: -5 is negative");
	expect_error(DOC(MAL("{\"latency_us\": 60000001}")),
		     "volumes[0].throttle.latency_us: 60000001 is out of range; use 0..60000000 (microseconds per "
		     "request)");
	expect_error(DOC(MAL("{\"latency_us\": \"100\"}")),
		     "volumes[0].throttle.latency_us: expected an integer, got a string");
	expect_error(DOC(MAL("\"320MiB\"")), "volumes[0].throttle: expected an object {...}, got a string");
	/* a raid volume takes it on its members */
	expect_error(DOC("{\"name\": \"v\", \"backend\": \"raid\", \"level\": 1, \"throttle\": {\"latency_us\": 5}, "
			 "\"members\": [" MEM("{\"latency_us\": 5}") ", " MEM("{\"latency_us\": 5}") "]}"),
		     "volumes[0].throttle: a raid volume has no \"throttle\": set it on the members; remove it here");
	expect_error(DOC(RAID1(MEM("{\"latency_us\": true}"))),
		     "volumes[0].members[1].throttle.latency_us: expected an integer, got a boolean");
	expect_error(DOC(RAID1(MEM("{\"rate\": 5}"))),
		     "volumes[0].members[1].throttle.rate: unknown key; the keys allowed here are: bandwidth, latency_us");
	expect_error(DOC(RAID1(MEM("[]"))), "volumes[0].members[1].throttle: expected an object {...}, got an array");
}

/* Members added at run time (raid.spare.add, raid.member.replace) read it the same way. */
static void test_runtime_member(void **state)
{
	(void)state;
	struct cfg_member m;
	char err[300];

	assert_int_equal(config_parse_member("{\"backend\": \"malloc\", \"size\": \"264MiB\", \"throttle\": "
					     "{\"bandwidth\": \"320MiB\", \"latency_us\": 100}}", "params.member", &m, err,
					     sizeof(err)), 0);
	assert_true(m.throttle);
	assert_int_equal(m.thr.bytes_per_sec, 320ull << 20);
	assert_int_equal(m.thr.latency_us, 100);
	config_member_free(&m);
	assert_int_equal(config_parse_member("{\"backend\": \"malloc\", \"size\": \"64MiB\", \"throttle\": {}}",
					     "params.member", &m, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "params.member.throttle: sets no limit; give \"bandwidth\" (bytes per second) and/or "
				 "\"latency_us\", e.g. {\"bandwidth\": \"320MiB\", \"latency_us\": 100}, or remove "
				 "\"throttle\"");
}

/* The throttle example in docs/configuration.md stays valid. */
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
	const char *sec = strstr(md, "### Disk simulation: `throttle`");
	assert_non_null(sec);
	const char *start = strstr(sec, "```json\n");
	assert_non_null(start);
	start += 8;
	const char *end = strstr(start, "```");
	assert_non_null(end);
	snprintf(text, sizeof(text), "{\"volumes\": [%.*s], \"iscsi\": {\"portals\": [\"127.0.0.1:0\"], \"targets\": []}}",
		 (int)(end - start), start);
	struct softhba_config *cfg = expect_ok(text);
	assert_int_equal(cfg->n_volumes, 2);
	assert_true(cfg->volumes[0].throttle);
	assert_int_equal(cfg->volumes[0].thr.bytes_per_sec, 320ull << 20);
	assert_int_equal(cfg->volumes[0].thr.latency_us, 100);
	const struct cfg_raid *r = cfg->volumes[1].raid;
	assert_non_null(r);
	assert_true(r->members[0].throttle);
	assert_true(r->members[1].throttle);
	assert_true(r->members[1].inject);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_runtime_member),
		cmocka_unit_test(test_doc_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

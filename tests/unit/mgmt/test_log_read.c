/* test_log_read.c - unit tests of log.read over a real control socket: fields, tail, paging, filters, gaps, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <regex.h>

#include "core/log.h"
#include "core/log_internal.h"
#include "mgmt/mgmt.h"
#include "rpc_harness.h"

struct fx {
	char dir[64];
	char path[128];
	struct mgmt_daemon dm;
	uint64_t base;          /* newest sequence number before the test's lines */
};

static struct fx g;

static uint64_t newest(void)
{
	struct log_history_pos pos;
	(void)log_history_read(LOG_READ_TAIL, 1, NULL, NULL, NULL, &pos); /* -EINVAL, pos filled all the same */
	return pos.last_seq;
}

static int setup(void **state)
{
	(void)state;
	memset(&g, 0, sizeof(g));
	snprintf(g.dir, sizeof(g.dir), "/tmp/softhba-logread-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	snprintf(g.path, sizeof(g.path), "%s/ctl.sock", g.dir);
	/* Only this test's lines in the history: the server logs nothing below error. */
	for (unsigned c = 0; c < LOGC__COUNT; c++)
		log_set_level((enum log_comp)c, LOG_ERR);
	log_test_history_limits(0, 0);
	if (reactors_init(1))
		return -1;
	g.base = newest();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mgmt_stop(&g.dm);
	reactors_fini();
	log_test_history_limits(0, 0);
	for (unsigned c = 0; c < LOGC__COUNT; c++)
		log_set_level((enum log_comp)c, c == LOGC_CONF ? LOG_INFO : LOG_NOTICE);
	unlink(g.path);
	rmdir(g.dir);
	return 0;
}

static void add(enum log_level lvl, enum log_comp comp, int reactor, const char *ctx, const char *text)
{
	log_history_append(1795946400123000000ull, lvl, comp, reactor, ctx, ctx ? strlen(ctx) : 0, text, strlen(text));
}

static void run(struct h_script *s)
{
	assert_int_equal(mgmt_start(&g.dm, g.path, true), 0);
	s->path = g.path;
	assert_int_equal(h_run_client(h_script_fn, s), 0);
	assert_false(s->connect_failed);
}

/* Steps whose request text is built at run time. */
struct dyn {
	char req[16][1024];
	struct h_step steps[16];
	unsigned n;
};

static void dyn_add(struct dyn *d, const char *params)
{
	snprintf(d->req[d->n], sizeof(d->req[d->n]), "{\"jsonrpc\":\"2.0\",\"method\":\"log.read\",\"params\":%s,"
		 "\"id\":%u}\n", params, d->n + 1);
	d->steps[d->n] = (struct h_step){ .send = d->req[d->n], .read = 1 };
	d->n++;
}

static json_t *result_of(struct h_script *s, int i)
{
	json_t *r = h_json(s, i);
	assert_non_null(r);
	if (!json_object_get(r, "result"))
		fprintf(stderr, "line %d: %s\n", i, s->lines[i]);
	json_t *res = json_incref(json_object_get(r, "result"));
	json_decref(r);
	assert_non_null(res);
	return res;
}

static uint64_t u(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	assert_true(json_is_integer(v));
	return (uint64_t)json_integer_value(v);
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void test_fields_tail_and_paging(void **state)
{
	(void)state;
	char p[256];
	struct dyn d = { 0 };
	uint64_t b = g.base;

	add(LOG_WARN, LOGC_ISCSI, 1, "sess=iqn.x:0x23d000000001", "login failed: \"bad\" CHAP");
	add(LOG_NOTICE, LOGC_CORE, -1, NULL, "softhba 0.1.0 ready");
	for (int i = 0; i < 10; i++) {
		char t[32];
		snprintf(t, sizeof(t), "n%d", i);
		add(LOG_INFO, LOGC_SCSI, 0, "vol=ram0", t);
	}
	dyn_add(&d, "{}");                                                  /* 1: tail, default max */
	dyn_add(&d, "{\"max\":3}");                                         /* 2: the newest 3 */
	snprintf(p, sizeof(p), "{\"after_seq\":%" PRIu64 ",\"max\":5}", b);  /* 3: first page */
	dyn_add(&d, p);
	snprintf(p, sizeof(p), "[%" PRIu64 ",5]", b + 5);                   /* 4: next page, by position */
	dyn_add(&d, p);
	snprintf(p, sizeof(p), "{\"after_seq\":%" PRIu64 "}", b + 12);       /* 5: up to date */
	dyn_add(&d, p);
	dyn_add(&d, "{\"after_seq\":0,\"max\":1}");                          /* 6: from the oldest held */
	struct h_script s = { .steps = d.steps, .n_steps = d.n };
	run(&s);
	assert_int_equal(s.n_lines, 6);

	json_t *r = result_of(&s, 0);
	json_t *lines = json_object_get(r, "lines");
	assert_int_equal(json_array_size(lines), 12);
	assert_int_equal(u(r, "first_seq"), b + 1);
	assert_int_equal(u(r, "last_seq"), b + 12);
	assert_int_equal(u(r, "missed"), 0);
	assert_int_equal(u(r, "cursor"), b + 12);
	assert_true(json_is_false(json_object_get(r, "more")));
	assert_int_equal(u(r, "pid"), (uint64_t)getpid());
	json_t *l0 = json_array_get(lines, 0);
	assert_int_equal(u(l0, "seq"), b + 1);
	assert_string_equal(str(l0, "time"), "2026-11-29T10:00:00.123Z");
	assert_string_equal(str(l0, "level"), "warn");
	assert_string_equal(str(l0, "component"), "iscsi");
	assert_int_equal(u(l0, "reactor"), 1);
	assert_string_equal(str(l0, "context"), "sess=iqn.x:0x23d000000001");
	assert_string_equal(str(l0, "text"), "login failed: \"bad\" CHAP");
	json_t *l1 = json_array_get(lines, 1);
	assert_true(json_is_null(json_object_get(l1, "reactor")));
	assert_true(json_is_null(json_object_get(l1, "context")));
	assert_string_equal(str(l1, "level"), "notice");
	assert_string_equal(str(l1, "component"), "core");
	json_decref(r);

	r = result_of(&s, 1);
	lines = json_object_get(r, "lines");
	assert_int_equal(json_array_size(lines), 3);
	assert_string_equal(str(json_array_get(lines, 0), "text"), "n7");
	assert_string_equal(str(json_array_get(lines, 2), "text"), "n9");
	json_decref(r);

	r = result_of(&s, 2);
	assert_int_equal(json_array_size(json_object_get(r, "lines")), 5);
	assert_int_equal(u(r, "cursor"), b + 5);
	assert_true(json_is_true(json_object_get(r, "more")));
	json_decref(r);
	r = result_of(&s, 3);
	assert_int_equal(u(json_array_get(json_object_get(r, "lines"), 0), "seq"), b + 6);
	assert_int_equal(u(r, "cursor"), b + 10);
	json_decref(r);
	r = result_of(&s, 4);
	assert_int_equal(json_array_size(json_object_get(r, "lines")), 0);
	assert_int_equal(u(r, "missed"), 0);
	assert_int_equal(u(r, "cursor"), b + 12);
	json_decref(r);
	r = result_of(&s, 5);
	assert_int_equal(u(json_array_get(json_object_get(r, "lines"), 0), "seq"), b + 1);
	/* Lines before this test's history reset fell out: counted, not hidden. */
	assert_int_equal(u(r, "missed"), b);
	json_decref(r);
	h_free_script(&s);
}

static void test_filters(void **state)
{
	(void)state;
	struct dyn d = { 0 };
	add(LOG_ERR, LOGC_RAID, 0, "arr=md0", "member failed");
	add(LOG_WARN, LOGC_ISCSI, 1, "sess=iqn.a:1", "digest error");
	add(LOG_NOTICE, LOGC_ISCSI, 1, "sess=iqn.b:2", "normal session");
	add(LOG_INFO, LOGC_SCSI, 1, "vol=ram0", "mode select");
	add(LOG_DEBUG, LOGC_MGMT, -1, NULL, "request");
	dyn_add(&d, "{\"level\":\"warn\"}");
	dyn_add(&d, "{\"component\":\"iscsi\"}");
	dyn_add(&d, "{\"component\":\"scsi, mgmt\"}");
	dyn_add(&d, "{\"component\":[\"raid\",\"mgmt\"],\"level\":\"error\"}");
	dyn_add(&d, "{\"context\":\"sess=\"}");
	dyn_add(&d, "{\"context\":\"iqn.b\",\"level\":\"NOTICE\",\"component\":\"iscsi\"}");
	dyn_add(&d, "{\"context\":\"\"}");
	struct h_script s = { .steps = d.steps, .n_steps = d.n };
	run(&s);
	assert_int_equal(s.n_lines, 7);
	static const char *const want[][5] = {
		{ "member failed", "digest error" },
		{ "digest error", "normal session" },
		{ "mode select", "request" },
		{ "member failed" },
		{ "digest error", "normal session" },
		{ "normal session" },
		{ "member failed", "digest error", "normal session", "mode select" },
	};
	for (int i = 0; i < 7; i++) {
		json_t *r = result_of(&s, i);
		json_t *lines = json_object_get(r, "lines");
		size_t n = 0;
		while (n < 5 && want[i][n])
			n++;
		if (json_array_size(lines) != n)
			fprintf(stderr, "request %d: %s\n", i + 1, s.lines[i]);
		assert_int_equal(json_array_size(lines), n);
		for (size_t k = 0; k < n; k++)
			assert_string_equal(str(json_array_get(lines, k), "text"), want[i][k]);
		json_decref(r);
	}
	h_free_script(&s);
}

static void test_gap_reported(void **state)
{
	(void)state;
	char p[128];
	struct dyn d = { 0 };
	log_test_history_limits(8, 0);
	uint64_t b = newest();
	for (int i = 1; i <= 20; i++) {
		char t[16];
		snprintf(t, sizeof(t), "line %d", i);
		add(LOG_NOTICE, LOGC_CORE, -1, NULL, t);
	}
	snprintf(p, sizeof(p), "{\"after_seq\":%" PRIu64 ",\"max\":2}", b + 3);
	dyn_add(&d, p);
	struct h_script s = { .steps = d.steps, .n_steps = d.n };
	run(&s);
	json_t *r = result_of(&s, 0);
	assert_int_equal(u(r, "missed"), 9);   /* lines 4..12 left before they were read */
	assert_int_equal(u(r, "first_seq"), b + 13);
	assert_int_equal(u(r, "last_seq"), b + 20);
	assert_string_equal(str(json_array_get(json_object_get(r, "lines"), 0), "text"), "line 13");
	assert_int_equal(u(r, "cursor"), b + 14);
	assert_true(json_is_true(json_object_get(r, "more")));
	json_decref(r);
	h_free_script(&s);
}

static void test_errors(void **state)
{
	(void)state;
	char p[600];
	struct dyn d = { 0 };
	add(LOG_NOTICE, LOGC_CORE, -1, NULL, "one line");
	uint64_t last = newest();
	dyn_add(&d, "{\"max\":0}");
	dyn_add(&d, "{\"max\":4097}");
	dyn_add(&d, "{\"level\":\"loud\"}");
	dyn_add(&d, "{\"level\":\"warning!\"}");
	dyn_add(&d, "{\"level\":3}");
	dyn_add(&d, "{\"component\":\"iscs\"}");
	dyn_add(&d, "{\"component\":[1]}");
	dyn_add(&d, "{\"component\":\"\"}");
	dyn_add(&d, "{\"after_seq\":-1}");
	dyn_add(&d, "{\"after_seq\":\"5\"}");
	snprintf(p, sizeof(p), "{\"after_seq\":%" PRIu64 "}", last + 1000);
	dyn_add(&d, p);
	dyn_add(&d, "{\"lvl\":\"warn\"}");
	char big[400];
	memset(big, 'x', 300);
	big[300] = '\0';
	snprintf(p, sizeof(p), "{\"context\":\"%s\"}", big);
	dyn_add(&d, p);
	dyn_add(&d, "{\"component\":{}}");
	struct h_script s = { .steps = d.steps, .n_steps = d.n };
	run(&s);
	assert_int_equal(s.n_lines, (int)d.n);
	static const struct { const char *param; const char *msg; } want[] = {
		{ "max", "parameter \"max\" is 0, out of range; use 1..4096" },
		{ "max", "parameter \"max\" is 4097, out of range; use 1..4096" },
		{ "level", "unknown level \"loud\"; use error, warn, notice, info or debug" },
		{ "level", "did you mean \"warn\"?" },
		{ "level", "must be a string (error, warn, notice, info or debug), not an integer" },
		{ "component", "unknown component \"iscs\"; did you mean \"iscsi\"?" },
		{ "component", "element 0 must be a component name (a string), not an integer" },
		{ "component", "must name one or more components" },
		{ "after_seq", "must be a non-negative integer" },
		{ "after_seq", "not a string" },
		{ "after_seq", "beyond the newest line" },
		{ NULL, "unknown parameter \"lvl\"; did you mean \"level\"?" },
		{ "context", "is 300 bytes long; a context filter has at most 256" },
		{ "component", "not an object" },
	};
	for (unsigned i = 0; i < d.n; i++) {
		json_t *r = h_json(&s, (int)i);
		assert_non_null(r);
		if (h_err_code(r) != RPC_ERR_INVALID_PARAMS || !strstr(h_err_msg(r), want[i].msg))
			fprintf(stderr, "request %u: %s\n", i + 1, s.lines[i]);
		assert_int_equal(h_err_code(r), RPC_ERR_INVALID_PARAMS);
		assert_non_null(strstr(h_err_msg(r), want[i].msg));
		assert_true(strncmp(h_err_msg(r), "log.read: ", 10) == 0);
		json_t *data = json_object_get(json_object_get(r, "error"), "data");
		if (want[i].param)
			assert_string_equal(json_string_value(json_object_get(data, "param")), want[i].param);
		if (i == 10)
			assert_int_equal(json_integer_value(json_object_get(data, "last_seq")), (json_int_t)last);
		json_decref(r);
	}
	h_free_script(&s);
}

/* A follower: the tail, then lines added meanwhile (from another thread) after the cursor. */
struct follow {
	bool ok;
	char why[256];
	json_t *first, *second;
};

static json_t *call(int fd, const char *req)
{
	h_send(fd, req, strlen(req));
	char *l = h_line(fd, NULL);
	json_t *r = l ? json_loads(l, 0, NULL) : NULL;
	free(l);
	json_t *res = json_incref(json_object_get(r, "result"));
	json_decref(r);
	return res;
}

static void follower(void *arg)
{
	struct follow *f = arg;
	char req[256];
	int fd = h_connect(g.path);
	if (fd < 0) {
		snprintf(f->why, sizeof(f->why), "connect: %d", fd);
		return;
	}
	f->first = call(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"log.read\",\"params\":{\"max\":2},\"id\":1}\n");
	if (!f->first) {
		snprintf(f->why, sizeof(f->why), "first call failed");
		close(fd);
		return;
	}
	json_int_t cursor = json_integer_value(json_object_get(f->first, "cursor"));
	add(LOG_WARN, LOGC_BLK, 2, "vol=v", "new 1");
	add(LOG_WARN, LOGC_BLK, 2, "vol=v", "new 2");
	snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"method\":\"log.read\",\"params\":{\"after_seq\":%lld},"
		 "\"id\":2}\n", (long long)cursor);
	f->second = call(fd, req);
	close(fd);
	f->ok = f->second != NULL;
}

static void test_follow_with_cursor(void **state)
{
	(void)state;
	struct follow f = { 0 };
	for (int i = 0; i < 5; i++)
		add(LOG_NOTICE, LOGC_CORE, -1, NULL, "old");
	assert_int_equal(mgmt_start(&g.dm, g.path, true), 0);
	assert_int_equal(h_run_client(follower, &f), 0);
	if (!f.ok)
		fprintf(stderr, "follower: %s\n", f.why);
	assert_true(f.ok);
	assert_int_equal(json_array_size(json_object_get(f.first, "lines")), 2);
	json_t *lines = json_object_get(f.second, "lines");
	assert_int_equal(json_array_size(lines), 2);
	assert_string_equal(str(json_array_get(lines, 0), "text"), "new 1");
	assert_string_equal(str(json_array_get(lines, 1), "text"), "new 2");
	assert_int_equal(u(f.second, "missed"), 0);
	assert_int_equal(u(f.second, "cursor"), g.base + 7);
	json_decref(f.first);
	json_decref(f.second);
}

static void test_listed_and_described(void **state)
{
	(void)state;
	static const struct h_step steps[] = {
		{ .send = "{\"jsonrpc\":\"2.0\",\"method\":\"rpc.describe\",\"params\":{\"method\":\"log.read\"},\"id\":1}\n",
		  .read = 1 },
	};
	struct h_script s = { .steps = steps, .n_steps = 1 };
	run(&s);
	json_t *r = result_of(&s, 0);
	json_t *params = json_object_get(r, "params");
	assert_int_equal(json_array_size(params), 5);
	static const char *const names[] = { "after_seq", "max", "level", "component", "context" };
	for (size_t i = 0; i < 5; i++) {
		json_t *pr = json_array_get(params, i);
		assert_string_equal(str(pr, "name"), names[i]);
		assert_true(json_is_false(json_object_get(pr, "required")));
	}
	json_decref(r);
	h_free_script(&s);
}

int main(void)
{
	alarm(120);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fields_tail_and_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gap_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_with_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listed_and_described, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

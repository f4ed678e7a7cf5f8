/* test_rpc.c - unit tests of the control socket: framing, JSON-RPC errors, params decoding, batches, async replies, limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <sys/wait.h>

#include "rpc_harness.h"

/* ---- methods served in these tests ---- */

struct echo_params {
	const char *s;
	int64_t n;
	bool b;
	uint32_t u;
	json_t *o;
};

static const struct rpc_param echo_params[] = {
	{ .name = "s", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct echo_params, s),
	  .help = "any text" },
	{ .name = "n", .type = RPC_T_INT64, .offset = offsetof(struct echo_params, n), .min = 0, .max = 100 },
	{ .name = "b", .type = RPC_T_BOOL, .offset = offsetof(struct echo_params, b) },
	{ .name = "u", .type = RPC_T_UINT32, .offset = offsetof(struct echo_params, u) },
	{ .name = "o", .type = RPC_T_OBJECT, .offset = offsetof(struct echo_params, o) },
};

static void echo(struct rpc_req *req, void *params)
{
	struct echo_params *p = params;
	rpc_reply(req, json_pack("{s:s, s:I, s:b, s:I, s:O?}", "s", p->s, "n", (json_int_t)p->n, "b", p->b, "u",
				 (json_int_t)p->u, "o", p->o));
}

RPC_METHOD(test_echo, "test.echo", echo, struct echo_params, echo_params, "Echo the params.", "the params");

static atomic_int g_counted;

static void count(struct rpc_req *req, void *params)
{
	(void)params;
	atomic_fetch_add(&g_counted, 1);
	rpc_reply(req, json_integer(atomic_load(&g_counted)));
}

RPC_METHOD_NOPARAMS(test_count, "test.count", count, "Count calls.", "the count");

/* Answers 30 ms later, from a timer. */
struct async_req {
	struct reactor_timer t;
	struct rpc_req *req;
};

static void async_fire(struct reactor_timer *t)
{
	struct async_req *a = t->arg;
	rpc_reply(a->req, json_string("late"));
	free(a);
}

static void async_method(struct rpc_req *req, void *params)
{
	(void)params;
	struct async_req *a = calloc(1, sizeof(*a));
	if (!a)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory");
	a->req = req;
	reactor_timer_init(&a->t, async_fire, a);
	reactor_timer_start(&a->t, 30 * 1000000ull);
}

RPC_METHOD_NOPARAMS(test_async, "test.async", async_method, "Answer later.", "\"late\"");

static void whoami(struct rpc_req *req, void *params)
{
	(void)params;
	const struct rpc_ctx *c = rpc_req_ctx(req);
	rpc_reply(req, json_pack("{s:i, s:i, s:i, s:b}", "uid", (int)c->uid, "gid", (int)c->gid, "pid", (int)c->pid,
				 "app", c->app == (void *)&g_counted));
}

RPC_METHOD_NOPARAMS(test_whoami, "test.whoami", whoami, "The caller's credentials.", "{uid, gid, pid}");

static void fail_method(struct rpc_req *req, void *params)
{
	(void)params;
	rpc_reply_error(req, RPC_ERR_NOT_FOUND, json_pack("{s:s}", "what", "x"), "no such thing \"%s\"", "x");
}

RPC_METHOD_NOPARAMS(test_fail, "test.fail", fail_method, "Always fails.", "never");

static const struct rpc_method *const test_methods[] = {
	&rpc_method_test_echo, &rpc_method_test_count, &rpc_method_test_async, &rpc_method_test_whoami,
	&rpc_method_test_fail,
};

/* ---- fixture: reactor 0 on this thread, a server on a socket in a temp dir ---- */

struct fx {
	char dir[64];
	char path[128];
	struct rpc_server *srv;
};

static struct fx g_fx;

static int start_server(const struct rpc_server_opts *opts)
{
	char err[512];
	snprintf(g_fx.dir, sizeof(g_fx.dir), "/tmp/softhba-rpc-XXXXXX");
	if (!mkdtemp(g_fx.dir))
		return -1;
	snprintf(g_fx.path, sizeof(g_fx.path), "%s/ctl.sock", g_fx.dir);
	if (reactors_init(1))
		return -1;
	if (rpc_server_create(test_methods, RPC_ARRAY_LEN(test_methods), &g_counted, opts, &g_fx.srv))
		return -1;
	if (rpc_server_listen(g_fx.srv, g_fx.path, err, sizeof(err))) {
		fprintf(stderr, "listen: %s\n", err);
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	(void)state;
	atomic_store(&g_counted, 0);
	return start_server(NULL);
}

static int setup_small(void **state)
{
	(void)state;
	struct rpc_server_opts o = { .max_request = 1024, .max_conns = 2 };
	return start_server(&o);
}

static int teardown(void **state)
{
	(void)state;
	rpc_server_destroy(g_fx.srv);
	g_fx.srv = NULL;
	reactors_fini();
	struct stat st;
	/* destroy removed the socket file */
	int gone = lstat(g_fx.path, &st) != 0 && errno == ENOENT;
	rmdir(g_fx.dir);
	return gone ? 0 : -1;
}

/* Run scripts one after the other, each on its own connection (one reactors_run() per test). */
struct many {
	struct h_script **v;
	size_t n;
};

static void many_fn(void *arg)
{
	struct many *m = arg;
	for (size_t i = 0; i < m->n; i++)
		h_run_script(m->v[i]);
}

static void run_many(struct h_script **v, size_t n)
{
	struct many m = { v, n };
	for (size_t i = 0; i < n; i++)
		v[i]->path = g_fx.path;
	assert_int_equal(h_run_client(many_fn, &m), 0);
	for (size_t i = 0; i < n; i++)
		assert_false(v[i]->connect_failed);
}

static void run1(struct h_script *s)
{
	run_many(&s, 1);
}

#define SCRIPT(name, check, ...)                                        \
	static const struct h_step name##_steps[] = { __VA_ARGS__ };    \
	struct h_script name = { .steps = name##_steps, .n_steps = RPC_ARRAY_LEN(name##_steps), .check_eof = (check) }

static void assert_result_id(json_t *r, json_int_t id)
{
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
	assert_null(json_object_get(r, "error"));
	assert_non_null(json_object_get(r, "result"));
	assert_int_equal(json_integer_value(json_object_get(r, "id")), id);
}

static void assert_error(json_t *r, int code, const char *substr)
{
	assert_non_null(r);
	assert_int_equal(h_err_code(r), code);
	if (substr && !strstr(h_err_msg(r), substr)) {
		fprintf(stderr, "message \"%s\" lacks \"%s\"\n", h_err_msg(r), substr);
		fail();
	}
}

/* ---- tests ---- */

static void test_single_request_and_eof_without_newline(void **state)
{
	(void)state;
	SCRIPT(s, true,
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":{\"s\":\"hi\",\"n\":7,\"b\":true},"
			 "\"id\":1}\n", .read = 1 },
	       /* the last request may come without its newline when the client shuts down writing */
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":[\"pos\", 3],\"id\":\"two\"}",
		 .shut_wr = true, .read = 1 });
	run1(&s);
	assert_int_equal(s.n_lines, 2);
	json_t *r = h_json(&s, 0);
	assert_result_id(r, 1);
	json_t *res = json_object_get(r, "result");
	assert_string_equal(json_string_value(json_object_get(res, "s")), "hi");
	assert_int_equal(json_integer_value(json_object_get(res, "n")), 7);
	assert_true(json_is_true(json_object_get(res, "b")));
	json_decref(r);
	r = h_json(&s, 1);
	assert_string_equal(json_string_value(json_object_get(r, "id")), "two");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"), "s")), "pos");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "n")), 3);
	json_decref(r);
	assert_true(s.eof_seen); /* the server closed after answering */
	h_free_script(&s);
}

static void test_parse_error_keeps_connection(void **state)
{
	(void)state;
	SCRIPT(s, false,
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\n", .read = 1 },
	       { .send = "\n   \r\n", .read = 0 }, /* blank lines are skipped */
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":9}\n", .read = 1 });
	run1(&s);
	assert_int_equal(s.n_lines, 2);
	json_t *r = h_json(&s, 0);
	assert_error(r, RPC_ERR_PARSE, "parse error");
	assert_true(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	r = h_json(&s, 1);
	assert_result_id(r, 9);
	json_decref(r);
	h_free_script(&s);
}

static void test_invalid_requests(void **state)
{
	(void)state;
	SCRIPT(s, false,
	       { .send = "42\n", .read = 1 },
	       { .send = "{\"method\":\"test.count\",\"id\":1}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"1.0\",\"method\":\"test.count\",\"id\":2}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":3}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":{\"x\":1}}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"param\":{\"s\":\"x\"},\"id\":5}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":\"s\",\"id\":6}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":7,\"id\":8}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\\u0000x\",\"id\":9}\n", .read = 1 });
	run1(&s);
	assert_int_equal(s.n_lines, 9);
	json_t *r;
	r = h_json(&s, 0); assert_error(r, RPC_ERR_INVALID_REQUEST, "must be an object"); json_decref(r);
	r = h_json(&s, 1); assert_error(r, RPC_ERR_INVALID_REQUEST, "\"jsonrpc\" must be the string \"2.0\"");
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 1); json_decref(r);
	r = h_json(&s, 2); assert_error(r, RPC_ERR_INVALID_REQUEST, "\"2.0\""); json_decref(r);
	r = h_json(&s, 3); assert_error(r, RPC_ERR_INVALID_REQUEST, "\"method\" must be"); json_decref(r);
	r = h_json(&s, 4); assert_error(r, RPC_ERR_INVALID_REQUEST, "\"id\" must be");
	assert_true(json_is_null(json_object_get(r, "id"))); json_decref(r);
	r = h_json(&s, 5); assert_error(r, RPC_ERR_INVALID_REQUEST, "did you mean \"params\"?"); json_decref(r);
	r = h_json(&s, 6); assert_error(r, RPC_ERR_INVALID_REQUEST, "\"params\" must be an object"); json_decref(r);
	r = h_json(&s, 7); assert_error(r, RPC_ERR_PARSE, "duplicate"); json_decref(r);
	r = h_json(&s, 8); assert_error(r, RPC_ERR_INVALID_REQUEST, "\"method\" must be"); json_decref(r);
	assert_int_equal(atomic_load(&g_counted), 0); /* nothing invalid ran */
	h_free_script(&s);
}

static void test_params_decoding(void **state)
{
	(void)state;
#define ECHO(params, id) "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":" params ",\"id\":" #id "}\n"
	SCRIPT(s, false,
	       { .send = ECHO("{\"s\":5}", 1), .read = 1 },
	       { .send = ECHO("{}", 2), .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"id\":3}\n", .read = 1 },
	       { .send = ECHO("{\"s\":\"x\",\"nn\":1}", 4), .read = 1 },
	       { .send = ECHO("{\"s\":\"x\",\"n\":1000}", 5), .read = 1 },
	       { .send = ECHO("[\"x\",1,true,2,{},6]", 6), .read = 1 },
	       { .send = ECHO("{\"s\":\"x\",\"u\":-1}", 7), .read = 1 },
	       { .send = ECHO("{\"s\":\"x\",\"u\":4294967296}", 8), .read = 1 },
	       { .send = ECHO("{\"s\":\"x\",\"b\":1}", 9), .read = 1 },
	       { .send = ECHO("{\"s\":\"a\\u0000b\"}", 10), .read = 1 },
	       { .send = ECHO("{\"s\":\"x\",\"o\":[]}", 11), .read = 1 },
	       { .send = ECHO("{\"s\":\"x\",\"u\":4294967295,\"o\":{\"k\":1}}", 12), .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"params\":{\"x\":1},\"id\":13}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"params\":[],\"id\":14}\n", .read = 1 });
#undef ECHO
	run1(&s);
	assert_int_equal(s.n_lines, 14);
	json_t *r;
	r = h_json(&s, 0);
	assert_error(r, RPC_ERR_INVALID_PARAMS, "parameter \"s\" must be a string, not an integer");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(r, "error"), "data"),
							      "param")), "s");
	json_decref(r);
	r = h_json(&s, 1); assert_error(r, RPC_ERR_INVALID_PARAMS, "missing parameter \"s\""); json_decref(r);
	r = h_json(&s, 2); assert_error(r, RPC_ERR_INVALID_PARAMS, "missing parameter \"s\""); json_decref(r);
	r = h_json(&s, 3); assert_error(r, RPC_ERR_INVALID_PARAMS, "unknown parameter \"nn\"; did you mean \"n\"?");
	json_decref(r);
	r = h_json(&s, 4); assert_error(r, RPC_ERR_INVALID_PARAMS, "out of range; use 0..100"); json_decref(r);
	r = h_json(&s, 5); assert_error(r, RPC_ERR_INVALID_PARAMS, "too many parameters"); json_decref(r);
	r = h_json(&s, 6); assert_error(r, RPC_ERR_INVALID_PARAMS, "parameter \"u\" is -1"); json_decref(r);
	r = h_json(&s, 7); assert_error(r, RPC_ERR_INVALID_PARAMS, "use 0..4294967295"); json_decref(r);
	r = h_json(&s, 8); assert_error(r, RPC_ERR_INVALID_PARAMS, "must be true or false"); json_decref(r);
	r = h_json(&s, 9); assert_error(r, RPC_ERR_INVALID_PARAMS, "NUL"); json_decref(r);
	r = h_json(&s, 10); assert_error(r, RPC_ERR_INVALID_PARAMS, "must be an object, not an array"); json_decref(r);
	r = h_json(&s, 11);
	assert_result_id(r, 12);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "u")), 4294967295ll);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(r, "result"), "o"), "k")), 1);
	json_decref(r);
	r = h_json(&s, 12); assert_error(r, RPC_ERR_INVALID_PARAMS, "takes no parameters"); json_decref(r);
	r = h_json(&s, 13); assert_result_id(r, 14); json_decref(r);
	h_free_script(&s);
}

static void test_method_not_found_and_notifications(void **state)
{
	(void)state;
	SCRIPT(s, false,
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.ech\",\"id\":1}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test\",\"id\":2}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"zzzzzzzz\",\"id\":3}\n", .read = 1 },
	       /* notifications: run (count), never answered, even when unknown or with bad params */
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\"}\n"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}\n"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":{\"s\":1}}\n"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":4}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.fail\",\"id\":null}\n", .read = 1 });
	run1(&s);
	assert_int_equal(s.n_lines, 5);
	json_t *r = h_json(&s, 0);
	assert_error(r, RPC_ERR_METHOD_NOT_FOUND, "did you mean \"test.echo\"?");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(r, "error"), "data"),
							      "hint")), "test.echo");
	json_decref(r);
	r = h_json(&s, 1); assert_error(r, RPC_ERR_METHOD_NOT_FOUND, "unknown method \"test\""); json_decref(r);
	r = h_json(&s, 2); assert_error(r, RPC_ERR_METHOD_NOT_FOUND, "rpc.list"); json_decref(r);
	r = h_json(&s, 3);
	assert_result_id(r, 4);
	assert_int_equal(json_integer_value(json_object_get(r, "result")), 2); /* the notification ran first */
	json_decref(r);
	r = h_json(&s, 4);
	assert_error(r, RPC_ERR_NOT_FOUND, "no such thing \"x\"");
	assert_true(json_is_null(json_object_get(r, "id")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(r, "error"), "data"),
							      "what")), "x");
	json_decref(r);
	h_free_script(&s);
}

static void test_batch(void **state)
{
	(void)state;
	SCRIPT(s, false,
	       { .send = "[{\"jsonrpc\":\"2.0\",\"method\":\"test.async\",\"id\":1},"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\"},"
			 "42,"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"tset.count\",\"id\":4},"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":{\"s\":\"b\"},\"id\":5}]\n", .read = 1 },
	       { .send = "[]\n", .read = 1 },
	       /* a batch of notifications gets no answer at all */
	       { .send = "[{\"jsonrpc\":\"2.0\",\"method\":\"test.count\"},{\"jsonrpc\":\"2.0\",\"method\":\"test.count\"}]\n"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":6}\n", .read = 1 });
	run1(&s);
	assert_int_equal(s.n_lines, 3);
	json_t *b = h_json(&s, 0);
	assert_true(json_is_array(b));
	assert_int_equal(json_array_size(b), 4); /* in request order, the notification left out */
	assert_result_id(json_array_get(b, 0), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "result")), "late");
	assert_error(json_array_get(b, 1), RPC_ERR_INVALID_REQUEST, "must be an object");
	assert_error(json_array_get(b, 2), RPC_ERR_METHOD_NOT_FOUND, "did you mean \"test.count\"?");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(b, 2), "id")), 4);
	assert_result_id(json_array_get(b, 3), 5);
	json_decref(b);
	json_t *r = h_json(&s, 1);
	assert_true(json_is_object(r));
	assert_error(r, RPC_ERR_INVALID_REQUEST, "empty batch");
	json_decref(r);
	r = h_json(&s, 2);
	assert_result_id(r, 6);
	assert_int_equal(json_integer_value(json_object_get(r, "result")), 4);
	json_decref(r);
	h_free_script(&s);
}

static void test_async_answers_keep_order(void **state)
{
	(void)state;
	SCRIPT(s, false,
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.async\",\"id\":1}\n"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":2}\n", .read = 2 });
	run1(&s);
	assert_int_equal(s.n_lines, 2);
	json_t *r = h_json(&s, 0);
	assert_result_id(r, 1);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "late");
	json_decref(r);
	r = h_json(&s, 1);
	assert_result_id(r, 2);
	json_decref(r);
	h_free_script(&s);
}

/* A client that leaves while its answer is pending: the late answer is dropped, nothing leaks. */
static void leave_early(void *arg)
{
	(void)arg;
	int fd = h_connect(g_fx.path);
	if (fd >= 0) {
		static const char req[] = "{\"jsonrpc\":\"2.0\",\"method\":\"test.async\",\"id\":1}\n";
		h_send(fd, req, sizeof(req) - 1);
		close(fd);
	}
	usleep(100 * 1000); /* the timer fires after the close */
	SCRIPT(s, false, { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":2}\n", .read = 1 });
	s.path = g_fx.path;
	h_run_script(&s);
	atomic_store(&g_counted, s.n_lines == 1 && strstr(s.lines[0], "\"id\":2") ? 100 : -1);
	h_free_script(&s);
}

static void test_client_leaves_before_answer(void **state)
{
	(void)state;
	assert_int_equal(h_run_client(leave_early, NULL), 0);
	assert_int_equal(atomic_load(&g_counted), 100);
}

/* The daemon stops its control socket while an answer is pending: the
 * file goes, the connection closes, the late answer is dropped safely. */
static void destroy_msg(void *arg)
{
	(void)arg;
	rpc_server_destroy(g_fx.srv);
	g_fx.srv = NULL;
}

static void destroy_while_pending(void *arg)
{
	struct h_script *s = arg;
	int fd = h_connect(g_fx.path);
	if (fd < 0)
		return;
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"method\":\"test.async\",\"id\":1}\n";
	h_send(fd, req, sizeof(req) - 1);
	usleep(10 * 1000); /* the request is in the handler (its timer is 30 ms) */
	reactor_send_msg(reactor_get(0), destroy_msg, NULL);
	char *l = h_line(fd, &s->eof_seen); /* nothing comes: the connection just closes */
	if (l)
		s->lines[s->n_lines++] = l;
	usleep(60 * 1000); /* the timer fires and answers into the void */
	close(fd);
}

static void test_destroy_with_answer_pending(void **state)
{
	(void)state;
	struct h_script s = { 0 };
	assert_int_equal(h_run_client(destroy_while_pending, &s), 0);
	assert_int_equal(s.n_lines, 0);
	assert_true(s.eof_seen);
	assert_null(g_fx.srv);
}

static void test_oversized_request(void **state)
{
	(void)state;
	static char big[2000];
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"jsonrpc\":\"2.0\",", 17);
	/* a line that fits is fine (max 1024 here) */
	SCRIPT(ok, false, { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":1}\n", .read = 1 });
	SCRIPT(s, true, { .send = big, .send_len = sizeof(big), .read = 1 });
	struct h_script *v[] = { &ok, &s };
	run_many(v, 2);
	assert_int_equal(ok.n_lines, 1);
	h_free_script(&ok);
	assert_int_equal(s.n_lines, 1);
	json_t *r = h_json(&s, 0);
	assert_error(r, RPC_ERR_INVALID_REQUEST, "request too large");
	assert_true(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	assert_true(s.eof_seen);
	h_free_script(&s);
}

struct two_clients {
	struct h_script a, b, c;
};

/* max_conns is 2 here: the third concurrent client is refused with a reason. */
static void three_at_once(void *arg)
{
	struct two_clients *t = arg;
	int fa = h_connect(g_fx.path), fb = h_connect(g_fx.path);
	t->c.path = g_fx.path;
	usleep(50 * 1000);
	t->c.check_eof = true;
	h_run_script(&t->c);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
}

static void test_too_many_connections(void **state)
{
	(void)state;
	static const struct h_step steps[] = { { .read = 1 } };
	struct two_clients t = { .c = { .steps = steps, .n_steps = 1 } };
	assert_int_equal(h_run_client(three_at_once, &t), 0);
	assert_int_equal(t.c.n_lines, 1);
	json_t *r = h_json(&t.c, 0);
	assert_error(r, RPC_ERR_TOO_MANY, "too many control connections");
	json_decref(r);
	assert_true(t.c.eof_seen);
	h_free_script(&t.c);
}

static void test_peer_credentials_in_context(void **state)
{
	(void)state;
	SCRIPT(s, false, { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"test.whoami\",\"id\":1}\n", .read = 1 });
	run1(&s);
	json_t *r = h_json(&s, 0);
	assert_result_id(r, 1);
	json_t *res = json_object_get(r, "result");
	assert_int_equal(json_integer_value(json_object_get(res, "uid")), (int)getuid());
	assert_int_equal(json_integer_value(json_object_get(res, "gid")), (int)getgid());
	assert_int_equal(json_integer_value(json_object_get(res, "pid")), (int)getpid());
	assert_true(json_is_true(json_object_get(res, "app")));
	json_decref(r);
	h_free_script(&s);
}

/* Another uid is refused: as root, a child with uid 65534 connects (the
 * socket is opened to it for the test); otherwise the server admits a uid
 * that is not ours. */
struct refused {
	char line[1024];
	ssize_t got;
	bool eof;
};

static void other_uid_client(void *arg)
{
	struct refused *rf = arg;
	int pfd[2];
	if (pipe(pfd))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(3);
		int fd = h_connect(g_fx.path);
		if (fd < 0)
			_exit(4);
		char buf[1024];
		size_t len = 0;
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, H_TIMEOUT_MS) <= 0)
				break;
			ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
			if (n <= 0) {
				if (n == 0)
					buf[sizeof(buf) - 1] = 'E'; /* marks EOF */
				break;
			}
			len += (size_t)n;
		}
		(void)!write(pfd[1], buf, sizeof(buf));
		_exit(0);
	}
	close(pfd[1]);
	char buf[1024];
	rf->got = read(pfd[0], buf, sizeof(buf));
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	if (rf->got == (ssize_t)sizeof(buf)) {
		rf->eof = buf[sizeof(buf) - 1] == 'E';
		buf[sizeof(buf) - 1] = '\0';
		char *nl = strchr(buf, '\n');
		if (nl)
			*nl = '\0';
		snprintf(rf->line, sizeof(rf->line), "%s", buf);
	}
}

static int setup_other_uid(void **state)
{
	(void)state;
	struct rpc_server_opts o = { .allow_uid_set = geteuid() != 0, .allow_uid = geteuid() + 1 };
	if (start_server(&o))
		return -1;
	if (geteuid() == 0 && (chmod(g_fx.dir, 0755) || chmod(g_fx.path, 0666)))
		return -1;
	return 0;
}

static void test_other_uid_refused(void **state)
{
	(void)state;
	struct refused rf = { 0 };
	assert_int_equal(h_run_client(other_uid_client, &rf), 0);
	assert_int_equal(rf.got, 1024);
	json_t *r = json_loads(rf.line, 0, NULL);
	assert_error(r, RPC_ERR_ACCESS_DENIED, "access denied: uid");
	assert_non_null(strstr(h_err_msg(r), "only root and the daemon's user"));
	json_decref(r);
	assert_true(rf.eof);
	struct rpc_server_stats st;
	rpc_server_get_stats(g_fx.srv, &st);
	assert_int_equal(st.refused, 1);
}

static void test_introspection(void **state)
{
	(void)state;
	SCRIPT(s, false,
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"rpc.list\",\"id\":1}\n", .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"rpc.describe\",\"params\":{\"method\":\"test.echo\"},\"id\":2}\n",
		 .read = 1 },
	       { .send = "{\"jsonrpc\":\"2.0\",\"method\":\"rpc.describe\",\"params\":[\"test.eco\"],\"id\":3}\n", .read = 1 });
	run1(&s);
	assert_int_equal(s.n_lines, 3);
	json_t *r = h_json(&s, 0);
	json_t *list = json_object_get(r, "result");
	assert_int_equal(json_array_size(list), 2 + RPC_ARRAY_LEN(test_methods));
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")), "rpc.list");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "name")), "test.echo");
	json_decref(r);
	r = h_json(&s, 1);
	json_t *d = json_object_get(r, "result");
	json_t *p0 = json_array_get(json_object_get(d, "params"), 0);
	assert_string_equal(json_string_value(json_object_get(p0, "name")), "s");
	assert_string_equal(json_string_value(json_object_get(p0, "type")), "a string");
	assert_true(json_is_true(json_object_get(p0, "required")));
	json_t *p1 = json_array_get(json_object_get(d, "params"), 1);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(p1, "range"), 1)), 100);
	json_decref(r);
	r = h_json(&s, 2);
	assert_error(r, RPC_ERR_NOT_FOUND, "did you mean \"test.echo\"?");
	json_decref(r);
	h_free_script(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_single_request_and_eof_without_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_error_keeps_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_params_decoding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_method_not_found_and_notifications, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_answers_keep_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_leaves_before_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_with_answer_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_request, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_connections, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_peer_credentials_in_context, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_uid_refused, setup_other_uid, teardown),
		cmocka_unit_test_setup_teardown(test_introspection, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

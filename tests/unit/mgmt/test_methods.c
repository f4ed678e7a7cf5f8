/* test_methods.c - unit tests of the management methods over a real socket, and of the socket file's life (0600, stale, live). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "blk/blk.h"
#include "core/config.h"
#include "core/log.h"
#include "mgmt/mgmt.h"
#include "rpc_harness.h"

#include <fcntl.h>

static const char cfg_text[] =
	"{\"reactors\": 1,"
	" \"volumes\": [{\"name\": \"ram0\", \"backend\": \"malloc\", \"size\": \"4MiB\", \"block_size\": 4096},"
	"               {\"name\": \"nul1\", \"backend\": \"null\", \"size\": \"1GiB\"}],"
	" \"control\": {\"socket\": \"/tmp/x.sock\"},"
	" \"iscsi\": {\"portals\": [\"127.0.0.1:0\"], \"targets\": ["
	"   {\"name\": \"iqn.2026-11.org.softhba:t0\", \"alias\": \"zero\", \"luns\": ["
	"     {\"lun\": 0, \"volume\": \"ram0\", \"thin\": true}, {\"lun\": 3, \"volume\": \"nul1\", \"read_only\": true}]}]}}";

struct fx {
	char dir[64];
	char path[128];
	struct softhba_config *cfg;
	struct blk_dev *devs[2];
	const char *portals[1];
	struct mgmt_daemon dm;
};

static struct fx g;

static int setup(void **state)
{
	(void)state;
	char err[256];
	memset(&g, 0, sizeof(g));
	snprintf(g.dir, sizeof(g.dir), "/tmp/softhba-mgmt-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	snprintf(g.path, sizeof(g.path), "%s/ctl.sock", g.dir);
	if (config_load_string(cfg_text, &g.cfg, err, sizeof(err))) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	if (reactors_init(1))
		return -1;
	if (blk_malloc_create("ram0", 4 << 20, 4096, &g.devs[0]))
		return -1;
	/* devs[1] stays NULL: a volume not created (yet) */
	g.portals[0] = "127.0.0.1:3999";
	g.dm = (struct mgmt_daemon){ .cfg = g.cfg, .devs = g.devs, .portals = g.portals, .n_portals = 1,
				     .start_ns = now_ns() - 5000000000ull };
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mgmt_stop(&g.dm);
	if (g.devs[0])
		blk_destroy(g.devs[0]);
	reactors_fini();
	config_free(g.cfg);
	unlink(g.path);
	rmdir(g.dir);
	return 0;
}

static void run(struct h_script *s)
{
	assert_int_equal(mgmt_start(&g.dm, g.path, true), 0);
	assert_non_null(g.dm.rpc);
	s->path = g.path;
	assert_int_equal(h_run_client(h_script_fn, s), 0);
	assert_false(s->connect_failed);
}

#define REQ(method, params, id) "{\"jsonrpc\":\"2.0\",\"method\":\"" method "\",\"params\":" params ",\"id\":" #id "}\n"

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

static void test_version_and_status(void **state)
{
	(void)state;
	static const struct h_step steps[] = { { .send = REQ("version", "{}", 1), .read = 1 },
					       { .send = REQ("daemon.status", "[]", 2), .read = 1 } };
	struct h_script s = { .steps = steps, .n_steps = 2 };
	run(&s);
	assert_int_equal(s.n_lines, 2);
	json_t *v = result_of(&s, 0);
	assert_string_equal(json_string_value(json_object_get(v, "version")), SOFTHBA_VERSION);
	json_decref(v);
	json_t *st = result_of(&s, 1);
	assert_int_equal(json_integer_value(json_object_get(st, "pid")), getpid());
	assert_true(json_integer_value(json_object_get(st, "uptime_s")) >= 5);
	assert_int_equal(json_integer_value(json_object_get(st, "reactors")), 1);
	assert_int_equal(json_integer_value(json_object_get(st, "volumes")), 2);
	assert_int_equal(json_integer_value(json_object_get(st, "targets")), 1);
	assert_string_equal(json_string_value(json_object_get(st, "state")), "running");
	assert_string_equal(json_string_value(json_object_get(st, "control_socket")), g.path);
	assert_string_equal(json_string_value(json_array_get(json_object_get(st, "portals"), 0)), "127.0.0.1:3999");
	json_t *log = json_object_get(st, "log");
	assert_true(json_is_integer(json_object_get(log, "written")));
	assert_true(json_is_integer(json_object_get(log, "dropped")));
	assert_true(json_is_integer(json_object_get(log, "squashed")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "control"), "requests")), 2);
	json_decref(st);
	h_free_script(&s);
}

static void test_volume_and_target_list(void **state)
{
	(void)state;
	static const struct h_step steps[] = { { .send = REQ("volume.list", "{}", 1), .read = 1 },
					       { .send = REQ("iscsi.target.list", "{}", 2), .read = 1 },
					       { .send = REQ("iscsi.session.list", "{}", 3), .read = 1 } };
	struct h_script s = { .steps = steps, .n_steps = 3 };
	run(&s);
	assert_int_equal(s.n_lines, 3);
	json_t *vl = result_of(&s, 0);
	assert_int_equal(json_array_size(vl), 2);
	json_t *v0 = json_array_get(vl, 0);
	assert_string_equal(json_string_value(json_object_get(v0, "name")), "ram0");
	assert_string_equal(json_string_value(json_object_get(v0, "backend")), "malloc");
	assert_string_equal(json_string_value(json_object_get(v0, "state")), "online");
	assert_int_equal(json_integer_value(json_object_get(v0, "size")), 4 << 20);
	assert_int_equal(json_integer_value(json_object_get(v0, "block_size")), 4096);
	assert_int_equal(json_integer_value(json_object_get(v0, "blocks")), 1024);
	bool unmap = false;
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(v0, "flags"), i, f)
		unmap = unmap || strcmp(json_string_value(f), "unmap") == 0;
	assert_int_equal(unmap, g.devs[0]->info.supports_unmap);
	json_t *v1 = json_array_get(vl, 1);
	assert_string_equal(json_string_value(json_object_get(v1, "state")), "absent");
	assert_int_equal(json_integer_value(json_object_get(v1, "size")), 1ll << 30);
	json_decref(vl);

	json_t *tl = result_of(&s, 1);
	assert_int_equal(json_array_size(tl), 1);
	json_t *t0 = json_array_get(tl, 0);
	assert_string_equal(json_string_value(json_object_get(t0, "name")), "iqn.2026-11.org.softhba:t0");
	assert_string_equal(json_string_value(json_object_get(t0, "alias")), "zero");
	json_t *luns = json_object_get(t0, "luns");
	assert_int_equal(json_array_size(luns), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(luns, 1), "lun")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(luns, 1), "volume")), "nul1");
	assert_true(json_is_true(json_object_get(json_array_get(luns, 1), "read_only")));
	assert_true(json_is_true(json_object_get(json_array_get(luns, 0), "thin")));
	json_decref(tl);

	/* no iSCSI server in the registry: a clear "unavailable" */
	json_t *r = h_json(&s, 2);
	assert_int_equal(h_err_code(r), RPC_ERR_UNAVAILABLE);
	assert_non_null(strstr(h_err_msg(r), "iSCSI is not running"));
	json_decref(r);
	h_free_script(&s);
}

static void test_log_level_set(void **state)
{
	(void)state;
	static const struct h_step steps[] = {
		{ .send = REQ("log.level.set", "{\"component\":\"scsi\",\"level\":\"debug\"}", 1), .read = 1 },
		{ .send = REQ("log.level.set", "[\"all\",\"warn\"]", 2), .read = 1 },
		{ .send = REQ("log.level.set", "{\"component\":\"iscs\",\"level\":\"info\"}", 3), .read = 1 },
		{ .send = REQ("log.level.set", "{\"component\":\"iscsi\",\"level\":\"loud\"}", 4), .read = 1 },
		{ .send = REQ("log.level.set", "{\"component\":\"iscsi\",\"level\":3}", 5), .read = 1 },
		{ .send = REQ("log.level.set", "{\"component\":\"iscsi\"}", 6), .read = 1 },
		{ .send = REQ("log.level.get", "{}", 7), .read = 1 },
	};
	struct h_script s = { .steps = steps, .n_steps = RPC_ARRAY_LEN(steps) };
	log_set_level(LOGC_SCSI, LOG_NOTICE);
	run(&s);
	assert_int_equal(s.n_lines, 7);
	json_t *r = result_of(&s, 0);
	json_t *c0 = json_array_get(json_object_get(r, "changed"), 0);
	assert_string_equal(json_string_value(json_object_get(c0, "component")), "scsi");
	assert_string_equal(json_string_value(json_object_get(c0, "previous")), "notice");
	assert_string_equal(json_string_value(json_object_get(c0, "level")), "debug");
	json_decref(r);
	r = result_of(&s, 1);
	assert_int_equal(json_array_size(json_object_get(r, "changed")), LOGC__COUNT);
	json_decref(r);
	for (unsigned c = 0; c < LOGC__COUNT; c++)
		assert_int_equal(log_get_level((enum log_comp)c), LOG_WARN);
	r = h_json(&s, 2);
	assert_int_equal(h_err_code(r), RPC_ERR_INVALID_PARAMS);
	assert_non_null(strstr(h_err_msg(r), "unknown component \"iscs\"; did you mean \"iscsi\"?"));
	json_decref(r);
	r = h_json(&s, 3);
	assert_int_equal(h_err_code(r), RPC_ERR_INVALID_PARAMS);
	assert_non_null(strstr(h_err_msg(r), "use error, warn, notice, info or debug"));
	json_decref(r);
	r = h_json(&s, 4);
	assert_int_equal(h_err_code(r), RPC_ERR_INVALID_PARAMS);
	assert_non_null(strstr(h_err_msg(r), "must be a string"));
	json_decref(r);
	r = h_json(&s, 5);
	assert_int_equal(h_err_code(r), RPC_ERR_INVALID_PARAMS);
	assert_non_null(strstr(h_err_msg(r), "missing parameter \"level\""));
	json_decref(r);
	r = result_of(&s, 6);
	assert_string_equal(json_string_value(json_object_get(r, "iscsi")), "warn");
	json_decref(r);
	for (unsigned c = 0; c < LOGC__COUNT; c++)
		log_set_level((enum log_comp)c, LOG_NOTICE);
	h_free_script(&s);
}

/* ---- the socket file ---- */

static void test_socket_mode_and_removal(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(mgmt_start(&g.dm, g.path, true), 0);
	assert_int_equal(lstat(g.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	mgmt_stop(&g.dm);
	assert_null(g.dm.rpc);
	assert_int_not_equal(lstat(g.path, &st), 0);
	mgmt_stop(&g.dm); /* idempotent */
}

static void test_stale_socket_replaced_live_refused(void **state)
{
	(void)state;
	/* a stale socket: bound, never listening, fd closed (a crashed daemon) */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	assert_true(strlen(g.path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, g.path, strlen(g.path));
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(mgmt_start(&g.dm, g.path, true), 0);

	/* a live one is refused, and left alone */
	struct mgmt_daemon other = g.dm;
	other.rpc = NULL;
	char err[512];
	struct rpc_server *s2;
	assert_int_equal(rpc_server_create(mgmt_methods, mgmt_n_methods, &other, NULL, &s2), 0);
	assert_int_equal(rpc_server_listen(s2, g.path, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "another daemon is listening on it"));
	rpc_server_destroy(s2);
	struct stat st;
	assert_int_equal(lstat(g.path, &st), 0); /* still the first daemon's */
	/* not required: a warning, 0, and no server */
	assert_int_equal(mgmt_start(&other, g.path, false), 0);
	assert_null(other.rpc);
	assert_int_equal(mgmt_start(&other, g.path, true), -EADDRINUSE);
	mgmt_stop(&g.dm);
}

static void test_bad_paths(void **state)
{
	(void)state;
	char err[512], path[300];
	struct rpc_server *s;
	assert_int_equal(rpc_server_create(mgmt_methods, mgmt_n_methods, &g.dm, NULL, &s), 0);

	/* a regular file is not replaced */
	int fd = open(g.path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rpc_server_listen(s, g.path, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "is not a socket"));
	unlink(g.path);

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(rpc_server_listen(s, path, err, sizeof(err)), -ENAMETOOLONG);
	assert_non_null(strstr(err, "at most 107"));

	snprintf(path, sizeof(path), "%s/no/such/dir/ctl.sock", g.dir);
	assert_int_equal(rpc_server_listen(s, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "does not exist"));

	/* the last directory is created when missing (as /run/softhba), 0700 */
	snprintf(path, sizeof(path), "%s/sub/ctl.sock", g.dir);
	assert_int_equal(rpc_server_listen(s, path, err, sizeof(err)), 0);
	struct stat st;
	char sub[200];
	snprintf(sub, sizeof(sub), "%s/sub", g.dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	rpc_server_destroy(s);
	assert_int_not_equal(lstat(path, &st), 0);
	rmdir(sub);
}

static void nop(struct rpc_req *req, void *params)
{
	(void)params;
	rpc_reply(req, NULL);
}

RPC_METHOD_NOPARAMS(shadow, "rpc.list", nop, "Would hide the built-in.", "null");

static void test_duplicate_methods_refused(void **state)
{
	(void)state;
	const struct rpc_method *const dup[] = { mgmt_methods[0], mgmt_methods[0] };
	const struct rpc_method *const shadow[] = { &rpc_method_shadow };
	struct rpc_server *s = NULL;
	assert_int_equal(rpc_server_create(dup, 2, NULL, NULL, &s), -EEXIST);
	assert_int_equal(rpc_server_create(shadow, 1, NULL, NULL, &s), -EEXIST);
	assert_null(s);
	/* every method in the daemon's table has a name, a handler and a summary */
	for (size_t i = 0; i < mgmt_n_methods; i++) {
		assert_non_null(mgmt_methods[i]->name);
		assert_non_null(mgmt_methods[i]->handler);
		assert_non_null(mgmt_methods[i]->summary);
	}
}

/* The configuration key the socket path comes from (control.socket). */
static void test_config_control_key(void **state)
{
	(void)state;
	static const char base[] = "{\"iscsi\": {\"portals\": [\"127.0.0.1:0\"], \"targets\": []}, \"control\": %s}";
	char text[600], err[300], longpath[200];
	struct softhba_config *cfg = NULL;

	assert_string_equal(g.cfg->control_socket, "/tmp/x.sock");
	snprintf(text, sizeof(text), base, "{\"socket\": \"run/ctl.sock\"}");
	assert_int_equal(config_load_string(text, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "control.socket: \"run/ctl.sock\" is not an absolute path"));
	memset(longpath, 'a', 120);
	longpath[0] = '/';
	longpath[120] = '\0';
	char obj[300];
	snprintf(obj, sizeof(obj), "{\"socket\": \"%s\"}", longpath);
	snprintf(text, sizeof(text), base, obj);
	assert_int_equal(config_load_string(text, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "control.socket: is 120 bytes long; at most 107"));
	snprintf(text, sizeof(text), base, "{\"sockte\": \"/x\"}");
	assert_int_equal(config_load_string(text, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "did you mean \"socket\""));
	snprintf(text, sizeof(text), base, "\"/x\"");
	assert_int_equal(config_load_string(text, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(text, sizeof(text), base, "{}");
	assert_int_equal(config_load_string(text, &cfg, err, sizeof(err)), 0);
	assert_null(cfg->control_socket);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_volume_and_target_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_level_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_mode_and_removal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced_live_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_methods_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_control_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

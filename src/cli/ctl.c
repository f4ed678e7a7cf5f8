/* ctl.c - the softhba client subcommands (status, volume list, target list, session list, log-level, rpc): arguments and output. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/ctl.h"
#include "core/config.h"
#include "core/util.h"

const char cli_usage_ctl[] =
	"usage: softhba [--socket PATH] [--json] COMMAND\n"
	"\n"
	"Ask a running daemon (softhba serve or softhba demo) through its control\n"
	"socket. Commands:\n"
	"  status                   version, pid, uptime, reactors, portals, log counters\n"
	"  volume list              volumes: name, backend, size, block size, flags\n"
	"  target list              iSCSI targets, their LUNs and the volume behind each\n"
	"  session list             iSCSI sessions logged in now\n"
	"  log-level                the log level of every component\n"
	"  log-level COMP LEVEL     set a component's level (COMP: core, blk, raid, scsi,\n"
	"                           iscsi, nbd, mgmt, conf or all; LEVEL: error, warn,\n"
	"                           notice, info, debug)\n"
	"  log [-n N] [--follow]    the daemon's recent log lines ('softhba help log')\n"
	"  rpc METHOD [JSON]        call any method (JSON: its params, an object or an\n"
	"                           array); 'softhba rpc rpc.list' lists the methods\n"
	"  raid ...                 RAID arrays: list, show, fail, add, replace, spare,\n"
	"                           scrub, rate, inject ('softhba help raid')\n"
	"\n"
	"  --socket PATH   the control socket (default: $SOFTHBA_SOCKET, else\n"
	"                  /run/softhba/softhba.sock, else the demo's ctl.sock in its\n"
	"                  state directory)\n"
	"  --json          print the daemon's JSON result instead of a table\n"
	"  -h, --help      show this text\n"
	"\n"
	"Exit status: 0 done, 1 the daemon refused or could not be reached, 2 bad\n"
	"command line. The API is described in docs/mgmt-api.md.\n";

bool ctl_is_option(const char *arg)
{
	return strcmp(arg, "--json") == 0 || strcmp(arg, "--socket") == 0 || strncmp(arg, "--socket=", 9) == 0;
}

/* ---- output helpers ---- */

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

static long long int_or(json_t *o, const char *key, long long dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static void human_size(uint64_t b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)b;
	unsigned u = 0;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", b);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void human_duration(long long s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%lldd %02lldh %02lldm", s / 86400, s % 86400 / 3600, s % 3600 / 60);
	else if (s >= 3600)
		snprintf(buf, len, "%lldh %02lldm %02llds", s / 3600, s % 3600 / 60, s % 60);
	else if (s >= 60)
		snprintf(buf, len, "%lldm %02llds", s / 60, s % 60);
	else
		snprintf(buf, len, "%llds", s);
}

/* Elements of a JSON string array joined with sep into buf ("-" when empty). */
static void join(json_t *arr, const char *sep, char *buf, size_t len)
{
	size_t used = 0, i;
	json_t *v;
	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? sep : "", json_string_value(v));
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s) {
		puts(s);
		free(s);
	}
}

/* ---- per command ---- */

static void print_status(json_t *r)
{
	char up[64], portals[512];
	json_t *log = json_object_get(r, "log");
	json_t *ctl = json_object_get(r, "control");

	human_duration(int_or(r, "uptime_s", 0), up, sizeof(up));
	join(json_object_get(r, "portals"), ", ", portals, sizeof(portals));
	printf("%s %s: %s, pid %lld, up %s, %lld reactor(s)\n", str_or(r, "name", "softhba"), str_or(r, "version", "?"),
	       str_or(r, "state", "?"), int_or(r, "pid", 0), up, int_or(r, "reactors", 0));
	printf("volumes:  %lld\ntargets:  %lld\nportals:  %s\n", int_or(r, "volumes", 0), int_or(r, "targets", 0),
	       portals);
	printf("control:  %s (%lld connection(s), %lld request(s), %lld error(s))\n",
	       str_or(r, "control_socket", "-"), int_or(ctl, "connections", 0), int_or(ctl, "requests", 0),
	       int_or(ctl, "errors", 0));
	printf("log:      %lld line(s) written, %lld dropped, %lld squashed\n", int_or(log, "written", 0),
	       int_or(log, "dropped", 0), int_or(log, "squashed", 0));
}

static void print_volumes(json_t *r)
{
	size_t i, w = 4;
	json_t *v;
	char size[32], flags[256];

	json_array_foreach(r, i, v) {
		size_t l = strlen(str_or(v, "name", ""));
		w = l > w ? l : w;
	}
	printf("%-*s  %-7s  %-7s  %10s  %5s  %s\n", (int)w, "NAME", "BACKEND", "STATE", "SIZE", "BLOCK", "FLAGS");
	json_array_foreach(r, i, v) {
		human_size((uint64_t)int_or(v, "size", 0), size, sizeof(size));
		join(json_object_get(v, "flags"), ",", flags, sizeof(flags));
		printf("%-*s  %-7s  %-7s  %10s  %5lld  %s\n", (int)w, str_or(v, "name", "?"), str_or(v, "backend", "?"),
		       str_or(v, "state", "?"), size, int_or(v, "block_size", 0), flags);
	}
	if (json_array_size(r) == 0)
		printf("(no volumes)\n");
}

static void print_targets(json_t *r)
{
	size_t i, j, w = 6;
	json_t *t, *l;

	json_array_foreach(r, i, t) {
		size_t len = strlen(str_or(t, "name", ""));
		w = len > w ? len : w;
	}
	printf("%-*s  %5s  %-16s  %s\n", (int)w, "TARGET", "LUN", "VOLUME", "FLAGS");
	json_array_foreach(r, i, t) {
		json_t *luns = json_object_get(t, "luns");
		if (json_array_size(luns) == 0)
			printf("%-*s  %5s  %-16s  %s\n", (int)w, str_or(t, "name", "?"), "-", "-", "");
		json_array_foreach(luns, j, l) {
			char flags[128] = "";
			size_t used = 0;
			static const char *const keys[] = { "read_only", "thin", "removable", "write_cache" };
			for (size_t k = 0; k < ARRAY_SIZE(keys) && used < sizeof(flags); k++)
				if (json_is_true(json_object_get(l, keys[k])))
					used += (size_t)snprintf(flags + used, sizeof(flags) - used, "%s%s", used ? "," : "",
								 keys[k]);
			printf("%-*s  %5lld  %-16s  %s\n", (int)w, str_or(t, "name", "?"), int_or(l, "lun", 0),
			       str_or(l, "volume", "?"), flags[0] ? flags : "-");
		}
	}
	if (json_array_size(r) == 0)
		printf("(no targets)\n");
}

static void print_sessions(json_t *r)
{
	size_t i;
	json_t *s;

	printf("%-40s  %-12s  %5s  %-9s  %s\n", "INITIATOR", "ISID", "TSIH", "TYPE", "TARGET");
	json_array_foreach(r, i, s)
		printf("%-40s  %-12s  %5lld  %-9s  %s\n", str_or(s, "initiator", "?"), str_or(s, "isid", "?"),
		       int_or(s, "tsih", 0), str_or(s, "type", "?"), str_or(s, "target", "") [0] ? str_or(s, "target", "")
												      : "-");
	if (json_array_size(r) == 0)
		printf("(no sessions)\n");
}

static void print_levels(json_t *r)
{
	const char *k;
	json_t *v;
	json_object_foreach(r, k, v)
		printf("%-6s %s\n", k, json_is_string(v) ? json_string_value(v) : "?");
}

static void print_level_set(json_t *r)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(r, "changed"), i, c)
		printf("%-6s %s -> %s\n", str_or(c, "component", "?"), str_or(c, "previous", "?"), str_or(c, "level", "?"));
}

/* ---- running one call ---- */

int ctl_run(const struct ctl *o, const char *method, json_t *params, void (*print)(json_t *r))
{
	char path[4096], also[4096], why[512];
	json_t *result, *error;
	int rc;

	ctl_socket_path(o->socket, path, sizeof(path), also, sizeof(also));
	rc = ctl_call(path, method, params, &result, &error, why, sizeof(why));
	if (rc < 0) {
		if (rc == -ENOENT || rc == -ECONNREFUSED || rc == -ENOTDIR)
			fprintf(stderr, "softhba: cannot connect to the daemon at %s: %s%s%s%s; the daemon may not be "
					"running (start it with 'softhba serve' or 'softhba demo'), or give its socket "
					"with --socket PATH or $SOFTHBA_SOCKET\n", path, why, also[0] ? " (also tried " : "",
				also, also[0] ? ")" : "");
		else if (rc == -EACCES)
			fprintf(stderr, "softhba: cannot connect to the daemon at %s: %s; the socket is mode 0600: run as "
					"the daemon's user or root\n", path, why);
		else
			fprintf(stderr, "softhba: %s: %s\n", path, why);
		return CLI_EXIT_FAIL;
	}
	if (rc == 1) {
		const char *msg = json_string_value(json_object_get(error, "message"));
		fprintf(stderr, "softhba: %s (error %lld)\n", msg ? msg : "the daemon answered with an error",
			int_or(error, "code", 0));
		json_decref(error);
		return CLI_EXIT_FAIL;
	}
	if (o->json || !print)
		print_json(result);
	else
		print(result);
	json_decref(result);
	fflush(stdout);
	return CLI_EXIT_OK;
}

static int want_words(const struct ctl *o, unsigned n, const char *usage)
{
	if (o->n_words == n)
		return 0;
	if (o->n_words < n)
		return cli_usage_error(o->words[0], "missing arguments; usage: softhba %s", usage);
	return cli_usage_error(o->words[0], "unexpected argument '%s'; usage: softhba %s", o->words[n], usage);
}

/* "volume list", "target list", "session list": the one verb they have. */
static int listing(const struct ctl *o, const char *method, void (*print)(json_t *r))
{
	static const char *const verbs[] = { "list" };
	char usage[64];
	snprintf(usage, sizeof(usage), "%s list", o->words[0]);
	if (o->n_words < 2)
		return cli_usage_error(o->words[0], "what should '%s' do? usage: softhba %s", o->words[0], usage);
	if (strcmp(o->words[1], "list") != 0) {
		const char *hint = config_suggest(o->words[1], verbs, 1);
		if (hint)
			return cli_usage_error(o->words[0], "unknown action '%s'; did you mean '%s'?", o->words[1], hint);
		return cli_usage_error(o->words[0], "unknown action '%s'; usage: softhba %s", o->words[1], usage);
	}
	if (want_words(o, 2, usage))
		return CLI_EXIT_USAGE;
	return ctl_run(o, method, NULL, print);
}

static int cmd_rpc(const struct ctl *o)
{
	if (o->n_words < 2)
		return cli_usage_error("rpc", "which method? usage: softhba rpc METHOD [JSON-PARAMS] ('softhba rpc "
					      "rpc.list' lists them)");
	if (o->n_words > 3)
		return cli_usage_error("rpc", "unexpected argument '%s'; put every parameter into one JSON object, e.g. "
					      "'{\"component\": \"iscsi\", \"level\": \"debug\"}'", o->words[3]);
	json_t *params = NULL;
	if (o->n_words == 3) {
		json_error_t je;
		params = json_loads(o->words[2], 0, &je);
		if (!params)
			return cli_usage_error("rpc", "JSON-PARAMS is not valid JSON (column %d: %s); quote it for the "
						      "shell, e.g. '{\"method\": \"volume.list\"}'", je.column, je.text);
		if (!json_is_object(params) && !json_is_array(params)) {
			json_decref(params);
			return cli_usage_error("rpc", "JSON-PARAMS must be an object {...} or an array [...]");
		}
	}
	return ctl_run(o, o->words[1], params, NULL);
}

static int cmd_log_level(const struct ctl *o)
{
	if (o->n_words == 1)
		return ctl_run(o, "log.level.get", NULL, print_levels);
	if (want_words(o, 3, "log-level [COMPONENT LEVEL]"))
		return CLI_EXIT_USAGE;
	/* The daemon checks both names and says what to write instead. */
	return ctl_run(o, "log.level.set", json_pack("{s:s, s:s}", "component", o->words[1], "level", o->words[2]),
		   print_level_set);
}

static const char *const ctl_words[] = { "status", "volume", "target", "session", "log-level", "rpc", "raid", "log" };

int cmd_ctl(int argc, char **argv)
{
	struct ctl o = { 0 };
	bool opts_done = false;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!opts_done && strcmp(a, "--") == 0) {
			opts_done = true;
		} else if (!opts_done && strcmp(a, "--json") == 0) {
			o.json = true;
		} else if (!opts_done && strcmp(a, "--socket") == 0) {
			if (i + 1 >= argc)
				return cli_usage_error(NULL, "option '--socket' needs a value (the control socket's path)");
			o.socket = argv[++i];
		} else if (!opts_done && strncmp(a, "--socket=", 9) == 0) {
			o.socket = a + 9;
		} else if (!opts_done && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
			fputs(cli_usage_ctl, stdout);
			return CLI_EXIT_OK;
		} else if (!opts_done && a[0] == '-' && a[1]) {
			static const char *const names[] = { "--json", "--socket", "--help" };
			const char *hint = config_suggest(a, names, ARRAY_SIZE(names));
			if (hint)
				return cli_usage_error(NULL, "unknown option '%s'; did you mean '%s'?", a, hint);
			return cli_usage_error(NULL, "unknown option '%s'; the client's options are --socket PATH and "
						     "--json", a);
		} else if (o.n_words == 0 && strcmp(a, "log") == 0) {
			return ctl_log(&o, argc - i, argv + i); /* it has options of its own */
		} else if (o.n_words < ARRAY_SIZE(o.words)) {
			o.words[o.n_words++] = a;
		} else {
			return cli_usage_error(o.words[0], "too many arguments");
		}
	}
	if (o.socket && !*o.socket)
		return cli_usage_error(NULL, "--socket wants a path, not an empty string");
	if (o.n_words == 0) {
		fputs(cli_usage_ctl, stderr);
		return CLI_EXIT_USAGE;
	}
	const char *w = o.words[0];
	if (strcmp(w, "status") == 0)
		return want_words(&o, 1, "status") ? CLI_EXIT_USAGE : ctl_run(&o, "daemon.status", NULL, print_status);
	if (strcmp(w, "volume") == 0)
		return listing(&o, "volume.list", print_volumes);
	if (strcmp(w, "target") == 0)
		return listing(&o, "iscsi.target.list", print_targets);
	if (strcmp(w, "session") == 0)
		return listing(&o, "iscsi.session.list", print_sessions);
	if (strcmp(w, "log-level") == 0)
		return cmd_log_level(&o);
	if (strcmp(w, "rpc") == 0)
		return cmd_rpc(&o);
	if (strcmp(w, "raid") == 0)
		return ctl_raid(&o);
	const char *hint = config_suggest(w, ctl_words, ARRAY_SIZE(ctl_words));
	if (hint)
		return cli_usage_error(NULL, "unknown command '%s'; did you mean '%s'?", w, hint);
	return cli_usage_error(NULL, "unknown command '%s'; the client commands are status, volume list, target list, "
				     "session list, log-level, rpc and raid", w);
}

/* ctl_log.c - `softhba log`: the daemon's recent log lines through log.read, filtered, once or followed. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/ctl.h"
#include "core/log.h"
#include "core/util.h"

#define LOG_FOLLOW_POLL_MS 500
#define LOG_FOLLOW_MAX 4096

const char cli_usage_log[] =
	"usage: softhba [--socket PATH] log [-n N] [--level L] [--component C] [--context S]\n"
	"                                   [--follow] [--json]\n"
	"\n"
	"Print the running daemon's recent log lines (it keeps the newest 4096 lines,\n"
	"or 1 MiB of them), in the daemon's own format:\n"
	"  2026-11-24T10:00:00.123Z WARN  iscsi r1 sess=iqn...:0x23d000000001: text\n"
	"\n"
	"  -n, --lines N        the newest N lines, 1..4096 (default 200)\n"
	"      --level L        only L and more severe: error, warn, notice, info, debug\n"
	"      --component C    only component C (core, blk, raid, scsi, iscsi, nbd, mgmt,\n"
	"                       conf); repeat it or write C1,C2 for several\n"
	"      --context S      only lines whose context contains S (vol=NAME, arr=NAME,\n"
	"                       sess=INITIATOR...)\n"
	"  -f, --follow         keep printing new lines (polled every 0.5 s) until\n"
	"                       Ctrl-C; lines the daemon's history lost before they\n"
	"                       could be read are reported as '... N lines missed ...';\n"
	"                       a daemon that stops is waited for, and its successor's\n"
	"                       log follows a '... the daemon restarted ...' line\n"
	"      --json           the log.read result as JSON; with --follow, one JSON\n"
	"                       object per line (and {\"missed\": N} for a gap)\n"
	"      --socket PATH    the control socket (see 'softhba help status')\n"
	"  -h, --help           show this text\n"
	"\n"
	"Lines the daemon itself dropped (a full ring) are reported in the log as\n"
	"'log: N lines dropped'; 'softhba status' shows the totals. Exit status: 0\n"
	"done (or stopped with Ctrl-C), 1 the daemon refused or could not be reached,\n"
	"2 bad command line.\n";

struct log_opts {
	struct ctl c;
	long lines;          /* 0: the daemon's default */
	const char *level;
	char component[256]; /* comma-separated, "" when none */
	const char *context;
	bool follow;
};

/* Follow state: where the next read starts, and whether lines are waiting. */
static struct {
	bool json;
	uint64_t cursor;
	bool more;
	long long pid;  /* the daemon's: another one means its numbering started again */
} g_f;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* ---- printing ---- */

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static void print_line(json_t *l)
{
	enum log_level lvl;
	char tag[24];
	json_t *r = json_object_get(l, "reactor");
	const char *ctx = json_string_value(json_object_get(l, "context"));

	if (json_is_integer(r))
		snprintf(tag, sizeof(tag), "r%lld", (long long)json_integer_value(r));
	else
		snprintf(tag, sizeof(tag), "t");
	printf("%s %-5s %s %s%s%s: %s\n", jstr(l, "time"),
	       log_level_parse(jstr(l, "level"), &lvl) == 0 ? log_level_name(lvl) : jstr(l, "level"),
	       jstr(l, "component"), tag, ctx ? " " : "", ctx ? ctx : "", jstr(l, "text"));
}

static void print_missed(uint64_t n)
{
	if (g_f.json)
		printf("{\"missed\": %" PRIu64 "}\n", n);
	else
		printf("... %" PRIu64 " line%s missed: they left the daemon's log history before they could be read ...\n",
		       n, n == 1 ? "" : "s");
}

/* One log.read result: the gap marker, the lines, and the cursor for the next read. */
static void print_restarted(void)
{
	if (g_f.json)
		printf("{\"restarted\": true}\n");
	else
		printf("... the daemon restarted: its log follows from the oldest line it holds ...\n");
}

static void print_result(json_t *res)
{
	size_t i;
	json_t *l;
	json_t *missed = json_object_get(res, "missed");

	if (json_is_integer(missed) && json_integer_value(missed) > 0)
		print_missed((uint64_t)json_integer_value(missed));
	json_array_foreach(json_object_get(res, "lines"), i, l) {
		if (g_f.json) {
			char *s = json_dumps(l, JSON_COMPACT | JSON_PRESERVE_ORDER);
			if (s) {
				puts(s);
				free(s);
			}
		} else {
			print_line(l);
		}
	}
	g_f.cursor = (uint64_t)json_integer_value(json_object_get(res, "cursor"));
	g_f.pid = json_integer_value(json_object_get(res, "pid"));
	g_f.more = json_is_true(json_object_get(res, "more"));
}

/* ---- the calls ---- */

static json_t *read_params(const struct log_opts *o, bool after, uint64_t after_seq, long max)
{
	json_t *p = json_object();
	if (!p)
		return NULL;
	if (after)
		json_object_set_new(p, "after_seq", json_integer((json_int_t)after_seq));
	if (max)
		json_object_set_new(p, "max", json_integer(max));
	if (o->level)
		json_object_set_new(p, "level", json_string(o->level));
	if (o->component[0])
		json_object_set_new(p, "component", json_string(o->component));
	if (o->context)
		json_object_set_new(p, "context", json_string(o->context));
	return p;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	(void)nanosleep(&ts, NULL); /* a signal ends it early: the loop then sees g_stop */
}

static int follow(const struct log_opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: the sleep ends at once */
	char path[4096], why[512];
	bool waiting = false;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ctl_socket_path(o->c.socket, path, sizeof(path), NULL, 0);
	while (!g_stop) {
		if (!g_f.more)
			sleep_ms(LOG_FOLLOW_POLL_MS);
		if (g_stop)
			break;
		json_t *res = NULL, *err = NULL;
		int rc = ctl_call(path, "log.read", read_params(o, true, g_f.cursor, LOG_FOLLOW_MAX), &res, &err, why,
				  sizeof(why));
		if (rc < 0) {
			if (g_stop)
				break;
			if (rc != -ENOENT && rc != -ECONNREFUSED && rc != -ECONNRESET) {
				fprintf(stderr, "softhba: log --follow: %s: %s\n", path, why);
				return CLI_EXIT_FAIL;
			}
			/* The daemon stopped (or is restarting): wait for it, as long as the user does. */
			if (!waiting)
				fprintf(stderr, "softhba: log --follow: the daemon at %s is gone (%s); waiting for it to come "
					"back (Ctrl-C to stop)\n", path, why);
			waiting = true;
			g_f.more = false;
			continue;
		}
		if (waiting)
			fprintf(stderr, "softhba: log --follow: the daemon at %s answers again\n", path);
		waiting = false;
		if (rc == 1) {
			json_t *data = json_object_get(err, "data");
			bool restarted = json_is_integer(json_object_get(data, "last_seq")) &&
					 strcmp(jstr(data, "param"), "after_seq") == 0;
			if (!restarted) {
				fprintf(stderr, "softhba: %s (error %lld)\n", jstr(err, "message"),
					(long long)json_integer_value(json_object_get(err, "code")));
				json_decref(err);
				return CLI_EXIT_FAIL;
			}
			/* The numbering started again: a new daemon. Read its log from the start. */
			print_restarted();
			fflush(stdout);
			json_decref(err);
			g_f.cursor = 0;
			g_f.pid = 0; /* whichever daemon answers next is the one followed */
			g_f.more = true;
			continue;
		}
		long long pid = json_integer_value(json_object_get(res, "pid"));
		if (g_f.pid && pid != g_f.pid) {
			/* Another daemon whose numbering already passed our cursor: its lines from the start. */
			g_f.pid = pid;
			print_restarted();
			json_decref(res);
			fflush(stdout);
			g_f.cursor = 0;
			g_f.more = true;
			continue;
		}
		print_result(res);
		json_decref(res);
		fflush(stdout);
	}
	return CLI_EXIT_OK;
}

/* ---- command line ---- */

static int add_component(struct log_opts *o, const char *c)
{
	size_t used = strlen(o->component);
	int n = snprintf(o->component + used, sizeof(o->component) - used, "%s%s", used ? "," : "", c);
	if (n < 0 || (size_t)n >= sizeof(o->component) - used)
		return cli_usage_error("log", "too many components; there are only core, blk, raid, scsi, iscsi, nbd, "
					      "mgmt and conf");
	return 0;
}

int ctl_log(const struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lines", required_argument, NULL, 'n' },
		{ "level", required_argument, NULL, 'L' },
		{ "component", required_argument, NULL, 'C' },
		{ "context", required_argument, NULL, 'X' },
		{ "follow", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct log_opts o = { .c = *c };
	char *end;
	int ch;

	opterr = 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, ":n:fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			errno = 0;
			o.lines = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o.lines < 1 || o.lines > LOG_FOLLOW_MAX)
				return cli_usage_error("log", "-n wants a number of lines from 1 to %d, not '%s'",
						       LOG_FOLLOW_MAX, optarg);
			break;
		case 'L': {
			enum log_level l;
			if (log_level_parse(optarg, &l))
				return cli_usage_error("log", "--level wants error, warn, notice, info or debug, not '%s'",
						       optarg);
			o.level = optarg;
			break;
		}
		case 'C':
			if (!*optarg)
				return cli_usage_error("log", "--component wants a component name (core, blk, raid, scsi, "
							      "iscsi, nbd, mgmt, conf)");
			if (add_component(&o, optarg))
				return CLI_EXIT_USAGE;
			break;
		case 'X':
			o.context = optarg;
			break;
		case 'f':
			o.follow = true;
			break;
		case 'j':
			o.c.json = true;
			break;
		case 'S':
			o.c.socket = optarg;
			break;
		case 'h':
			fputs(cli_usage_log, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_getopt_error("log", ch, argv, opts);
		}
	}
	if (optind < argc)
		return cli_usage_error("log", "unexpected argument '%s'; filters are options: --level, --component, "
					      "--context", argv[optind]);
	if (o.c.socket && !*o.c.socket)
		return cli_usage_error("log", "--socket wants a path, not an empty string");

	/* The newest lines (the daemon checks the component names and says what to write instead). */
	struct ctl once = o.c;
	g_f.json = o.c.json;
	if (o.follow)
		once.json = false; /* print_result handles --json line by line */
	int rc = ctl_run(&once, "log.read", read_params(&o, false, 0, o.lines), print_result);
	if (rc != CLI_EXIT_OK || !o.follow)
		return rc;
	g_f.more = false;
	return follow(&o);
}

int cmd_log(int argc, char **argv)
{
	struct ctl c = { 0 };
	return ctl_log(&c, argc, argv);
}

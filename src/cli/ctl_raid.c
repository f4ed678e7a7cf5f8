/* ctl_raid.c - `softhba raid ...`: list, show, fail, remove, add, replace, spare, scrub, rate and inject over the control socket. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/ctl.h"
#include "core/config.h"
#include "core/util.h"

const char cli_usage_raid[] =
	"usage: softhba [--socket PATH] [--json] raid ACTION ...\n"
	"\n"
	"RAID volumes of a running daemon. MEMBER is a role number (0, 1, ...), a\n"
	"device name as 'raid show' lists it (r5.m1, r5.s0) or the device's file path.\n"
	"\n"
	"  raid list                        every array: level, state, size, members, job\n"
	"  raid show NAME                   roles, devices (and why one was refused),\n"
	"                                   rebuild/scrub progress, scrub mismatches\n"
	"  raid fail NAME MEMBER            mark a member failed (a spare takes over)\n"
	"  raid remove NAME MEMBER          take a failed member out of its role (the role\n"
	"                                   stays missing until a spare or add fills it)\n"
	"  raid add NAME MEMBER             re-add a device that left the array (failed,\n"
	"                                   its fault gone, or refused as stale): it is\n"
	"                                   rebuilt from the others\n"
	"  raid replace NAME MEMBER NEW [SIZE]\n"
	"                                   copy MEMBER onto NEW, then swap them (a failed\n"
	"                                   role is rebuilt onto NEW); NEW is a file path\n"
	"                                   (created with SIZE when given) or an unused\n"
	"                                   device of the volume\n"
	"  raid spare NAME FILE [SIZE]      add FILE as a hot spare (created with SIZE)\n"
	"  raid scrub NAME [check|repair|stop]\n"
	"                                   start a scrub (check by default) or stop it\n"
	"  raid rate NAME RATE              rebuild/scrub rate in bytes per second, e.g.\n"
	"                                   50MiB (0 = unlimited)\n"
	"  raid inject NAME MEMBER MODE [lba=N] [count=N] [delay_us=N] [after=N]\n"
	"                                   fault injection on a member configured with\n"
	"                                   \"inject\": MODE is none, fail-reads,\n"
	"                                   fail-writes, fail-all, disappear or delay\n"
	"\n"
	"Exit status: 0 done, 1 the daemon refused or could not be reached, 2 bad\n"
	"command line. See docs/mgmt-api.md for the methods behind these.\n";

static const char *jstr(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

static long long jint(json_t *o, const char *key, long long dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static void size_str(uint64_t b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
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

/* "rebuild 42% (12.0 MiB/s, 30s left)" or "-" */
static void sync_str(json_t *sync, char *buf, size_t len)
{
	const char *kind = jstr(sync, "kind", "none");
	char rate[32];
	if (!sync || strcmp(kind, "none") == 0) {
		json_t *last = json_object_get(sync, "last");
		if (last)
			snprintf(buf, len, "last %s: %s", jstr(last, "kind", "?"), jstr(last, "status", "?"));
		else
			snprintf(buf, len, "-");
		return;
	}
	size_str((uint64_t)jint(sync, "rate_bps", 0), rate, sizeof(rate));
	snprintf(buf, len, "%s %lld%% (%s/s, %llds left)", kind, jint(sync, "percent", 0), rate, jint(sync, "eta_s", 0));
}

static void print_list(json_t *r)
{
	size_t i, w = 4;
	json_t *a;
	char size[32], sync[128];

	json_array_foreach(r, i, a) {
		size_t l = strlen(jstr(a, "name", ""));
		w = l > w ? l : w;
	}
	printf("%-*s  %5s  %-8s  %10s  %7s  %6s  %6s  %s\n", (int)w, "NAME", "LEVEL", "STATE", "SIZE", "MEMBERS", "FAILED",
	       "SPARES", "JOB");
	json_array_foreach(r, i, a) {
		size_str((uint64_t)jint(a, "size", 0), size, sizeof(size));
		sync_str(json_object_get(a, "sync"), sync, sizeof(sync));
		printf("%-*s  %5lld  %-8s  %10s  %7lld  %6lld  %6lld  %s\n", (int)w, jstr(a, "name", "?"), jint(a, "level", 0),
		       jstr(a, "state", "?"), size, jint(a, "members", 0), jint(a, "failed", 0), jint(a, "spares", 0), sync);
	}
	if (json_array_size(r) == 0)
		printf("(no raid volumes)\n");
}

static void inject_str(json_t *inj, char *buf, size_t len)
{
	if (!json_is_object(inj)) {
		snprintf(buf, len, "-");
		return;
	}
	const char *mode = jstr(inj, "mode", "?");
	if (strncmp(mode, "fail-", 5) == 0 && json_object_get(inj, "after"))
		snprintf(buf, len, "%s after %lld", mode, jint(inj, "after", 0));
	else if (strncmp(mode, "fail-", 5) == 0)
		snprintf(buf, len, "%s lba %lld+%lld", mode, jint(inj, "lba", 0), jint(inj, "count", 0));
	else if (strcmp(mode, "delay") == 0)
		snprintf(buf, len, "delay %lld us", jint(inj, "delay_us", 0));
	else
		snprintf(buf, len, "%s", mode);
}

static void print_show(json_t *r)
{
	char size[32], sync[160], inj[96];
	size_t i;
	json_t *x;

	size_str((uint64_t)jint(r, "size", 0), size, sizeof(size));
	printf("%s: RAID %lld, %s, %s", jstr(r, "name", "?"), jint(r, "level", 0), jstr(r, "state", "?"), size);
	if (json_object_get(r, "chunk_kib") && jint(r, "level", 0) != 1)
		printf(", chunk %lld KiB", jint(r, "chunk_kib", 0));
	printf("\n");
	if (json_object_get(r, "uuid"))
		printf("uuid %s, events %lld, %s%s\n", jstr(r, "uuid", "?"), jint(r, "events", 0),
		       json_is_true(json_object_get(r, "dirty")) ? "dirty" : "clean",
		       json_is_true(json_object_get(r, "journal")) ? ", journal on" : "");
	sync_str(json_object_get(r, "sync"), sync, sizeof(sync));
	printf("job:   %s\n", sync);
	json_t *scrub = json_object_get(r, "scrub");
	if (scrub && jint(scrub, "mismatches", 0)) {
		printf("scrub: %lld mismatch(es)", jint(scrub, "mismatches", 0));
		json_array_foreach(json_object_get(scrub, "locations"), i, x)
			printf("%s array lba %lld (member %lld lba %lld)", i ? "," : ":", jint(x, "array_lba", 0),
			       jint(x, "member", 0), jint(x, "member_lba", 0));
		printf("\n");
	}
	if (jstr(r, "start", "")[0])
		printf("start: %s\n", jstr(r, "start", ""));
	json_t *roles = json_object_get(r, "roles");
	if (json_array_size(roles)) {
		printf("\n%4s  %-8s  %s\n", "ROLE", "STATE", "DEVICE");
		json_array_foreach(roles, i, x) {
			printf("%4lld  %-8s  %s", jint(x, "role", 0), jstr(x, "state", "?"), jstr(x, "device", "-"));
			if (json_is_true(json_object_get(x, "rebuilding")))
				printf(" (rebuilding)");
			if (json_object_get(x, "replacing_with"))
				printf(" (being replaced by %s)", jstr(x, "replacing_with", "?"));
			printf("\n");
		}
	}
	printf("\n%-12s  %-7s  %4s  %-8s  %-22s  %s\n", "DEVICE", "ORIGIN", "ROLE", "STATE", "INJECT", "PATH / NOTE");
	json_array_foreach(json_object_get(r, "devices"), i, x) {
		char role[16];
		json_t *rv = json_object_get(x, "role");
		snprintf(role, sizeof(role), json_is_integer(rv) ? "%lld" : "-", jint(x, "role", 0));
		inject_str(json_object_get(x, "inject"), inj, sizeof(inj));
		printf("%-12s  %-7s  %4s  %-8s  %-22s  %s", jstr(x, "name", "?"), jstr(x, "origin", "?"), role,
		       jstr(x, "state", "?"), inj, jstr(x, "path", jstr(x, "backend", "")));
		if (json_object_get(x, "note"))
			printf(" (%s)", jstr(x, "note", ""));
		printf("\n");
		if (json_object_get(x, "refused"))
			printf("%14srefused: %s\n", "", jstr(x, "refused", ""));
	}
}

static void print_dev(json_t *r)
{
	char inj[96];
	inject_str(json_object_get(r, "inject"), inj, sizeof(inj));
	printf("%s: %s\n", jstr(r, "name", "?"), inj);
}

/* MEMBER: a number is a role, anything else a device name or path. */
static void put_member(json_t *params, const char *arg)
{
	bool digits = *arg != '\0';
	for (const char *p = arg; *p; p++)
		digits &= isdigit((unsigned char)*p) != 0;
	if (digits && strlen(arg) < 4)
		json_object_set_new(params, "role", json_integer(atoi(arg)));
	else
		json_object_set_new(params, "member", json_string(arg));
}

/* A new file device, as the configuration writes a member. */
static json_t *file_member(const char *path, const char *size)
{
	json_t *m = json_pack("{s:s, s:s}", "backend", "file", "path", path);
	if (m && size)
		json_object_set_new(m, "size", json_string(size));
	return m;
}

static int usage(const struct ctl *o, unsigned want_min, unsigned want_max, const char *form)
{
	if (o->n_words < want_min)
		return cli_usage_error("raid", "missing arguments; usage: softhba raid %s", form);
	if (o->n_words > want_max)
		return cli_usage_error("raid", "unexpected argument '%s'; usage: softhba raid %s", o->words[want_max], form);
	return 0;
}

static int do_inject(const struct ctl *o)
{
	static const char *const keys[] = { "lba", "count", "delay_us", "after" };
	if (usage(o, 5, ARRAY_SIZE(o->words) - 1, "inject NAME MEMBER MODE [lba=N] [count=N] [delay_us=N] [after=N]"))
		return CLI_EXIT_USAGE;
	json_t *p = json_pack("{s:s, s:s}", "volume", o->words[2], "mode", o->words[4]);
	put_member(p, o->words[3]);
	for (unsigned i = 5; i < o->n_words; i++) {
		const char *eq = strchr(o->words[i], '=');
		char *end = NULL;
		size_t klen = eq ? (size_t)(eq - o->words[i]) : 0;
		unsigned long long v = eq ? strtoull(eq + 1, &end, 0) : 0;
		bool known = false;
		for (size_t k = 0; k < ARRAY_SIZE(keys) && eq; k++)
			known |= strlen(keys[k]) == klen && strncmp(keys[k], o->words[i], klen) == 0;
		if (!eq || !known || !end || end == eq + 1 || *end || eq[1] == '-') {
			json_decref(p);
			return cli_usage_error("raid", "'%s' is not KEY=NUMBER with KEY lba, count, delay_us or after",
					       o->words[i]);
		}
		char key[16];
		snprintf(key, sizeof(key), "%.*s", (int)klen, o->words[i]);
		json_object_set_new(p, key, json_integer((json_int_t)v));
	}
	return ctl_run(o, "volume.inject", p, print_dev);
}

static const char *const actions[] = { "list",  "show",  "fail", "remove", "add",
				       "replace", "spare", "scrub", "rate",  "inject" };

int ctl_raid(const struct ctl *o)
{
	if (o->n_words < 2)
		return cli_usage_error("raid", "what should 'raid' do? one of: list, show, fail, remove, add, replace, spare, scrub, "
					       "rate, inject ('softhba help raid')");
	const char *a = o->words[1];
	json_t *p;

	if (strcmp(a, "list") == 0)
		return usage(o, 2, 2, "list") ? CLI_EXIT_USAGE : ctl_run(o, "raid.list", NULL, print_list);
	if (strcmp(a, "show") == 0) {
		if (usage(o, 3, 3, "show NAME"))
			return CLI_EXIT_USAGE;
		return ctl_run(o, "raid.get", json_pack("{s:s}", "name", o->words[2]), print_show);
	}
	if (strcmp(a, "fail") == 0 || strcmp(a, "add") == 0) {
		bool fail = a[0] == 'f';
		if (usage(o, 4, 4, fail ? "fail NAME MEMBER" : "add NAME MEMBER"))
			return CLI_EXIT_USAGE;
		p = json_pack("{s:s}", "name", o->words[2]);
		if (fail)
			put_member(p, o->words[3]);
		else
			json_object_set_new(p, "member", json_string(o->words[3]));
		return ctl_run(o, fail ? "raid.member.fail" : "raid.member.add", p, print_show);
	}
	if (strcmp(a, "remove") == 0) {
		if (usage(o, 4, 4, "remove NAME MEMBER"))
			return CLI_EXIT_USAGE;
		p = json_pack("{s:s}", "name", o->words[2]);
		put_member(p, o->words[3]);
		return ctl_run(o, "raid.member.remove", p, print_show);
	}
	if (strcmp(a, "replace") == 0) {
		if (usage(o, 5, 6, "replace NAME MEMBER NEW [SIZE]"))
			return CLI_EXIT_USAGE;
		p = json_pack("{s:s}", "name", o->words[2]);
		put_member(p, o->words[3]);
		const char *nw = o->words[4];
		if (strchr(nw, '/') || o->n_words == 6)
			json_object_set_new(p, "with", file_member(nw, o->n_words == 6 ? o->words[5] : NULL));
		else
			json_object_set_new(p, "with", json_string(nw));
		return ctl_run(o, "raid.member.replace", p, print_show);
	}
	if (strcmp(a, "spare") == 0) {
		if (usage(o, 4, 5, "spare NAME FILE [SIZE]"))
			return CLI_EXIT_USAGE;
		p = json_pack("{s:s, s:o}", "name", o->words[2], "member",
			      file_member(o->words[3], o->n_words == 5 ? o->words[4] : NULL));
		return ctl_run(o, "raid.spare.add", p, print_show);
	}
	if (strcmp(a, "scrub") == 0) {
		if (usage(o, 3, 4, "scrub NAME [check|repair|stop]"))
			return CLI_EXIT_USAGE;
		const char *mode = o->n_words == 4 ? o->words[3] : "check";
		if (strcmp(mode, "stop") == 0)
			return ctl_run(o, "raid.scrub.stop", json_pack("{s:s}", "name", o->words[2]), print_show);
		if (strcmp(mode, "check") != 0 && strcmp(mode, "repair") != 0)
			return cli_usage_error("raid", "scrub mode '%s': use check, repair or stop", mode);
		return ctl_run(o, "raid.scrub.start", json_pack("{s:s, s:s}", "name", o->words[2], "mode", mode),
			       print_show);
	}
	if (strcmp(a, "rate") == 0) {
		if (usage(o, 4, 4, "rate NAME RATE"))
			return CLI_EXIT_USAGE;
		return ctl_run(o, "raid.rebuild.rate.set", json_pack("{s:s, s:s}", "name", o->words[2], "rate", o->words[3]),
			       print_show);
	}
	if (strcmp(a, "inject") == 0)
		return do_inject(o);
	const char *hint = config_suggest(a, actions, ARRAY_SIZE(actions));
	if (hint)
		return cli_usage_error("raid", "unknown action '%s'; did you mean '%s'?", a, hint);
	return cli_usage_error("raid", "unknown action '%s'; use list, show, fail, remove, add, replace, spare, scrub, rate or "
				       "inject", a);
}

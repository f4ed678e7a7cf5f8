/* methods_log.c - log.read: the daemon's recent log lines from the history, filtered, with gaps counted. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "mgmt/mgmt.h"

#define LOG_READ_MAX_DEFAULT 200u
#define LOG_READ_CONTEXT_MAX 256u

struct opt_seq {
	bool set;
	uint64_t v;
};

struct opt_level {
	bool set;
	enum log_level v;
};

struct log_read_params {
	struct opt_seq after_seq;
	uint32_t max;
	struct opt_level level;
	uint32_t comp_mask;   /* 0: not given */
	const char *context;
};

static int decode_seq(json_t *v, void *field, char *why, size_t whylen)
{
	struct opt_seq *o = field;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(why, whylen, "must be a non-negative integer (the \"cursor\" of the previous answer, or 0 for "
			 "the oldest line held), not %s", json_is_integer(v) ? "a negative integer" : rpc_json_type_name(v));
		return -EINVAL;
	}
	o->set = true;
	o->v = (uint64_t)json_integer_value(v);
	return 0;
}

static int decode_level(json_t *v, void *field, char *why, size_t whylen)
{
	static const char *const names[] = { "error", "warn", "notice", "info", "debug" };
	struct opt_level *o = field;
	const char *s = json_string_value(v);
	enum log_level l;

	if (!s) {
		snprintf(why, whylen, "must be a string (error, warn, notice, info or debug), not %s",
			 rpc_json_type_name(v));
		return -EINVAL;
	}
	if (log_level_parse(s, &l) == 0) {
		o->set = true;
		o->v = l;
		return 0;
	}
	const char *hint = config_suggest(s, names, RPC_ARRAY_LEN(names));
	if (hint)
		snprintf(why, whylen, "unknown level \"%s\"; did you mean \"%s\"? (use error, warn, notice, info or "
			 "debug)", s, hint);
	else
		snprintf(why, whylen, "unknown level \"%s\"; use error, warn, notice, info or debug", s);
	return -EINVAL;
}

static void comp_names(char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (unsigned c = 0; c < LOGC__COUNT && used < len; c++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", c ? ", " : "", log_comp_name((enum log_comp)c));
}

/* One component name into *mask; -EINVAL with a hint otherwise. */
static int add_comp(const char *s, uint32_t *mask, char *why, size_t whylen)
{
	const char *names[LOGC__COUNT];
	char list[160];
	enum log_comp c;

	if (log_comp_parse(s, &c) == 0) {
		*mask |= 1u << c;
		return 0;
	}
	for (unsigned i = 0; i < LOGC__COUNT; i++)
		names[i] = log_comp_name((enum log_comp)i);
	const char *hint = config_suggest(s, names, LOGC__COUNT);
	comp_names(list, sizeof(list));
	if (hint)
		snprintf(why, whylen, "unknown component \"%s\"; did you mean \"%s\"? (use %s)", s, hint, list);
	else
		snprintf(why, whylen, "unknown component \"%s\"; use %s", s, list);
	return -EINVAL;
}

/* "iscsi", "iscsi,scsi" or ["iscsi", "scsi"]. */
static int decode_comp(json_t *v, void *field, char *why, size_t whylen)
{
	uint32_t *mask = field;
	char buf[128];
	size_t i;
	json_t *e;

	if (json_is_string(v)) {
		if (json_string_length(v) >= sizeof(buf) || json_string_length(v) == 0) {
			snprintf(why, whylen, "must name one or more components separated by commas (e.g. \"iscsi,scsi\")");
			return -EINVAL;
		}
		memcpy(buf, json_string_value(v), json_string_length(v) + 1);
		char *save = NULL;
		for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
			if (add_comp(t, mask, why, whylen))
				return -EINVAL;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			if (!json_is_string(e)) {
				snprintf(why, whylen, "element %zu must be a component name (a string), not %s", i,
					 rpc_json_type_name(e));
				return -EINVAL;
			}
			if (add_comp(json_string_value(e), mask, why, whylen))
				return -EINVAL;
		}
	} else {
		snprintf(why, whylen, "must be a component name, a comma-separated list of them, or an array of them, "
			 "not %s", rpc_json_type_name(v));
		return -EINVAL;
	}
	if (!*mask) {
		snprintf(why, whylen, "names no component; give at least one (e.g. \"iscsi\")");
		return -EINVAL;
	}
	return 0;
}

static int decode_context(json_t *v, void *field, char *why, size_t whylen)
{
	(void)field;
	if (json_string_length(v) > LOG_READ_CONTEXT_MAX) {
		snprintf(why, whylen, "is %zu bytes long; a context filter has at most %u (e.g. \"sess=iqn\" or "
			 "\"vol=ram0\")", json_string_length(v), LOG_READ_CONTEXT_MAX);
		return -EINVAL;
	}
	return 0;
}

static const struct rpc_param log_read_params[] = {
	{ .name = "after_seq", .type = RPC_T_CUSTOM, .type_name = "a non-negative integer", .decode = decode_seq,
	  .offset = offsetof(struct log_read_params, after_seq),
	  .help = "return the lines after this sequence number (the previous answer's cursor; 0: from the oldest "
		  "held); without it, the newest lines" },
	{ .name = "max", .type = RPC_T_UINT32, .min = 1, .max = LOG_HISTORY_LINES,
	  .offset = offsetof(struct log_read_params, max), .help = "at most this many lines, 1..4096 (default 200)" },
	{ .name = "level", .type = RPC_T_CUSTOM, .type_name = "a string", .decode = decode_level,
	  .offset = offsetof(struct log_read_params, level),
	  .help = "only lines at this level or more severe: error, warn, notice, info or debug" },
	{ .name = "component", .type = RPC_T_CUSTOM, .type_name = "a string or an array of strings",
	  .decode = decode_comp, .offset = offsetof(struct log_read_params, comp_mask),
	  .help = "only these components: core, blk, raid, scsi, iscsi, nbd, mgmt, conf (\"iscsi,scsi\" or an "
		  "array)" },
	{ .name = "context", .type = RPC_T_STRING, .decode = decode_context,
	  .offset = offsetof(struct log_read_params, context),
	  .help = "only lines whose context (\"vol=...\", \"arr=...\", \"sess=...\") contains this text" },
};

static int add_line(const struct log_record *r, void *arg)
{
	json_t *lines = arg;
	char t[40];

	log_format_time(t, sizeof(t), r->ts_ns);
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:s}", "seq", (json_int_t)r->seq, "time", t, "level",
			      mgmt_level_name(r->level), "component", log_comp_name(r->comp), "reactor",
			      r->reactor >= 0 ? json_integer(r->reactor) : json_null(), "context",
			      r->context ? json_string(r->context) : json_null(), "text", r->text);
	if (!o || json_array_append_new(lines, o))
		return -ENOMEM;
	return 0;
}

static void log_read(struct rpc_req *req, void *params)
{
	struct log_read_params *p = params;
	struct log_filter f = {
		.max_level = p->level.set ? p->level.v : LOG_DEBUG, .comp_mask = p->comp_mask, .context = p->context,
	};
	struct log_history_pos pos;
	json_t *lines = json_array();

	if (!lines)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	int rc = log_history_read(p->after_seq.set ? p->after_seq.v : LOG_READ_TAIL,
				  p->max ? p->max : LOG_READ_MAX_DEFAULT, &f, add_line, lines, &pos);
	if (rc == -ERANGE) {
		json_decref(lines);
		return rpc_reply_error(req, RPC_ERR_INVALID_PARAMS,
				       json_pack("{s:s, s:I}", "param", "after_seq", "last_seq", (json_int_t)pos.last_seq),
				       "log.read: parameter \"after_seq\" is %" PRIu64 ", beyond the newest line (%" PRIu64
				       "); the daemon may have restarted: read without after_seq for the newest lines, "
				       "or with after_seq 0 for the oldest held", p->after_seq.v, pos.last_seq);
	}
	if (rc < 0) {
		json_decref(lines);
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry, or ask for fewer lines (max)");
	}
	json_t *r = json_pack("{s:o, s:I, s:I, s:I, s:I, s:b, s:i}", "lines", lines, "first_seq",
			      (json_int_t)pos.first_seq, "last_seq", (json_int_t)pos.last_seq, "missed",
			      (json_int_t)pos.missed, "cursor", (json_int_t)pos.cursor, "more", pos.more, "pid",
			      (int)getpid());
	if (!r)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, r);
}

RPC_METHOD(log_read, "log.read", log_read, struct log_read_params, log_read_params,
	   "The daemon's recent log lines (newest, or after a sequence number), filtered by level, component and "
	   "context.",
	   "{lines: [{seq, time, level, component, reactor, context, text}], first_seq, last_seq, missed, cursor, "
	   "more, pid}: first/last_seq are the oldest/newest lines held, missed counts the lines after after_seq that "
	   "left the history before this read, cursor is the after_seq for the next call, more says the next call "
	   "has lines already, pid tells a restarted daemon (its numbering starts again)");

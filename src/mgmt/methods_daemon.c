/* methods_daemon.c - management methods about the daemon itself: version, daemon.status, log.level.get/set. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/reactor.h"
#include "mgmt/mgmt.h"

static struct mgmt_daemon *daemon_of(struct rpc_req *req)
{
	return rpc_req_ctx(req)->app;
}

/* ---- version ---- */

static void version(struct rpc_req *req, void *params)
{
	(void)params;
	rpc_reply(req, json_pack("{s:s, s:s}", "name", "softhba", "version", SOFTHBA_VERSION));
}

RPC_METHOD_NOPARAMS(version, "version", version, "The daemon's name and version.", "{name, version}");

/* ---- daemon.status ---- */

static void daemon_status(struct rpc_req *req, void *params)
{
	(void)params;
	struct mgmt_daemon *dm = daemon_of(req);
	struct log_stats ls;
	struct rpc_server_stats rs;
	uint64_t up_ns = dm && dm->start_ns ? now_ns() - dm->start_ns : 0;

	log_stats(&ls);
	rpc_server_get_stats(rpc_req_server(req), &rs);
	json_t *portals = json_array();
	for (unsigned i = 0; portals && dm && i < dm->n_portals; i++)
		json_array_append_new(portals, json_string(dm->portals[i]));
	const struct softhba_config *cfg = dm ? dm->cfg : NULL;
	const char *sock = rpc_server_path(rpc_req_server(req));
	json_t *r = json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:i, s:s, s:i, s:i, s:o, s:s?,"
			      " s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:i}}",
			      "name", "softhba", "version", SOFTHBA_VERSION, "pid", (int)getpid(), "uid", (int)geteuid(),
			      "uptime_s", (json_int_t)(up_ns / 1000000000ull), "uptime_ms", (json_int_t)(up_ns / 1000000ull),
			      "reactors", (int)reactor_count(), "state", reactors_stopping() ? "stopping" : "running",
			      "volumes", cfg ? (int)cfg->n_volumes : 0, "targets", cfg ? (int)cfg->iscsi.n_targets : 0,
			      "portals", portals ? portals : json_array(), "control_socket", sock,
			      "log", "written", (json_int_t)ls.written, "dropped", (json_int_t)ls.dropped, "squashed",
			      (json_int_t)ls.squashed,
			      "control", "connections", (json_int_t)rs.connections, "refused", (json_int_t)rs.refused,
			      "requests", (json_int_t)rs.requests, "errors", (json_int_t)rs.errors, "open", (int)rs.open);
	if (!r)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, r);
}

RPC_METHOD_NOPARAMS(daemon_status, "daemon.status", daemon_status,
		    "Uptime, reactors, pid, portals and the log's written/dropped/squashed counters.",
		    "{name, version, pid, uid, uptime_s, uptime_ms, reactors, state, volumes, targets, portals, "
		    "control_socket, log: {written, dropped, squashed}, control: {connections, refused, requests, "
		    "errors, open}}");

/* ---- log levels ---- */

static json_t *levels_object(void)
{
	json_t *o = json_object();
	for (unsigned c = 0; o && c < LOGC__COUNT; c++)
		json_object_set_new(o, log_comp_name((enum log_comp)c),
				    json_string(mgmt_level_name(log_get_level((enum log_comp)c))));
	return o;
}

static void log_level_get(struct rpc_req *req, void *params)
{
	(void)params;
	json_t *o = levels_object();
	if (!o)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, o);
}

RPC_METHOD_NOPARAMS(log_level_get, "log.level.get", log_level_get, "The log level of every component.",
		    "{component: level, ...}");

struct level_set_params {
	int comp;                /* -1: every component */
	enum log_level level;
};

static void comp_list(char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "all");
	for (unsigned c = 0; c < LOGC__COUNT && used < len; c++)
		used += (size_t)snprintf(buf + used, len - used, ", %s", log_comp_name((enum log_comp)c));
}

static int decode_comp(json_t *v, void *field, char *why, size_t whylen)
{
	const char *s = json_string_value(v);
	enum log_comp c;
	char list[200];

	if (strcmp(s, "all") == 0) {
		*(int *)field = -1;
		return 0;
	}
	if (log_comp_parse(s, &c) == 0) {
		*(int *)field = (int)c;
		return 0;
	}
	const char *names[LOGC__COUNT + 1];
	names[0] = "all";
	for (unsigned i = 0; i < LOGC__COUNT; i++)
		names[i + 1] = log_comp_name((enum log_comp)i);
	const char *hint = config_suggest(s, names, LOGC__COUNT + 1);
	comp_list(list, sizeof(list));
	if (hint)
		snprintf(why, whylen, "unknown component \"%s\"; did you mean \"%s\"? (use one of: %s)", s, hint, list);
	else
		snprintf(why, whylen, "unknown component \"%s\"; use one of: %s", s, list);
	return -EINVAL;
}

static int decode_level(json_t *v, void *field, char *why, size_t whylen)
{
	const char *s = json_string_value(v);
	static const char *const names[] = { "error", "warn", "notice", "info", "debug" };
	enum log_level l;

	if (log_level_parse(s, &l) == 0) {
		*(enum log_level *)field = l;
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

static int decode_comp_str(json_t *v, void *field, char *why, size_t whylen)
{
	if (!json_is_string(v)) {
		snprintf(why, whylen, "must be a string (a component name such as \"iscsi\", or \"all\"), not %s",
			 rpc_json_type_name(v));
		return -EINVAL;
	}
	return decode_comp(v, field, why, whylen);
}

static int decode_level_str(json_t *v, void *field, char *why, size_t whylen)
{
	if (!json_is_string(v)) {
		snprintf(why, whylen, "must be a string (error, warn, notice, info or debug), not %s",
			 rpc_json_type_name(v));
		return -EINVAL;
	}
	return decode_level(v, field, why, whylen);
}

static const struct rpc_param level_set_params[] = {
	{ .name = "component", .type = RPC_T_CUSTOM, .required = true, .type_name = "a string",
	  .offset = offsetof(struct level_set_params, comp), .decode = decode_comp_str,
	  .help = "core, blk, raid, scsi, iscsi, nbd, mgmt, conf, or all" },
	{ .name = "level", .type = RPC_T_CUSTOM, .required = true, .type_name = "a string",
	  .offset = offsetof(struct level_set_params, level), .decode = decode_level_str,
	  .help = "error, warn, notice, info or debug" },
};

static void log_level_set(struct rpc_req *req, void *params)
{
	struct level_set_params *p = params;
	const struct rpc_ctx *ctx = rpc_req_ctx(req);
	json_t *changed = json_array();

	if (!changed)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	for (unsigned c = 0; c < LOGC__COUNT; c++) {
		if (p->comp >= 0 && (unsigned)p->comp != c)
			continue;
		enum log_level prev = log_get_level((enum log_comp)c);
		log_set_level((enum log_comp)c, p->level);
		json_array_append_new(changed, json_pack("{s:s, s:s, s:s}", "component", log_comp_name((enum log_comp)c),
							  "level", mgmt_level_name(p->level), "previous",
							  mgmt_level_name(prev)));
	}
	log_notice(LOGC_MGMT, NULL, "log level of %s set to %s by uid %u pid %d",
		   p->comp >= 0 ? log_comp_name((enum log_comp)p->comp) : "every component", mgmt_level_name(p->level),
		   (unsigned)ctx->uid, (int)ctx->pid);
	rpc_reply(req, json_pack("{s:o}", "changed", changed));
}

RPC_METHOD(log_level_set, "log.level.set", log_level_set, struct level_set_params, level_set_params,
	   "Set the log level of one component (or all) at run time.",
	   "{changed: [{component, level, previous}]}");

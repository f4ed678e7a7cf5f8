/* rpc_builtin.c - the methods every control socket answers: rpc.list and rpc.describe (introspection from the method tables). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "mgmt/rpc_internal.h"

static json_t *describe(const struct rpc_method *m)
{
	json_t *params = json_array();
	for (size_t i = 0; params && i < m->n_params; i++) {
		const struct rpc_param *p = &m->params[i];
		json_t *o = json_pack("{s:s, s:s, s:b}", "name", p->name, "type", rpc_param_type_name(p), "required",
				      p->required);
		if (o && p->help)
			json_object_set_new(o, "description", json_string(p->help));
		if (o && p->min < p->max && (p->type == RPC_T_INT64 || p->type == RPC_T_UINT64 || p->type == RPC_T_UINT32))
			json_object_set_new(o, "range", json_pack("[I, I]", (json_int_t)p->min, (json_int_t)p->max));
		if (!o || json_array_append_new(params, o)) {
			json_decref(params);
			return NULL;
		}
	}
	if (!params)
		return NULL;
	return json_pack("{s:s, s:s, s:o, s:s}", "name", m->name, "summary", m->summary ? m->summary : "",
			 "params", params, "result", m->result ? m->result : "");
}

static void rpc_list(struct rpc_req *req, void *params)
{
	(void)params;
	const struct rpc_method *const *ms;
	size_t n = rpc_server_methods(rpc_req_server(req), &ms);
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		json_t *o = json_pack("{s:s, s:s}", "name", ms[i]->name, "summary", ms[i]->summary ? ms[i]->summary : "");
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (!arr)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, arr);
}

RPC_METHOD_NOPARAMS(rpc_list, "rpc.list", rpc_list, "List the methods this daemon answers, with a one-line summary each.",
		    "array of {name, summary}");

struct describe_params {
	const char *method;
};

static const struct rpc_param describe_params[] = {
	{ .name = "method", .type = RPC_T_STRING, .required = true, .offset = offsetof(struct describe_params, method),
	  .help = "a method name as rpc.list gives it, e.g. \"volume.list\"" },
};

static void rpc_describe(struct rpc_req *req, void *params)
{
	struct describe_params *p = params;
	struct rpc_server *s = rpc_req_server(req);
	const struct rpc_method *m = rpc_server_find(s, p->method);

	if (!m) {
		const struct rpc_method *const *ms;
		size_t n = rpc_server_methods(s, &ms);
		const char *names[256];
		size_t k = 0;
		for (size_t i = 0; i < n && k < RPC_ARRAY_LEN(names); i++)
			names[k++] = ms[i]->name;
		const char *hint = config_suggest(p->method, names, k);
		if (hint)
			return rpc_reply_error(req, RPC_ERR_NOT_FOUND, json_pack("{s:s}", "hint", hint),
					       "no method \"%s\"; did you mean \"%s\"?", p->method, hint);
		return rpc_reply_error(req, RPC_ERR_NOT_FOUND, NULL, "no method \"%s\"; \"rpc.list\" lists them",
				       p->method);
	}
	json_t *d = describe(m);
	if (!d)
		return rpc_reply_error(req, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
	rpc_reply(req, d);
}

RPC_METHOD(rpc_describe, "rpc.describe", rpc_describe, struct describe_params, describe_params,
	   "Describe one method: its parameters (name, type, required, meaning) and its result.",
	   "{name, summary, params: [{name, type, required, description, range}], result}");

/* rpc_params.c - table-driven decoding of JSON-RPC params into a handler's struct, with messages that say what to send. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "mgmt/rpc.h"

const char *rpc_json_type_name(const json_t *v)
{
	if (!v)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

const char *rpc_param_type_name(const struct rpc_param *p)
{
	switch (p->type) {
	case RPC_T_STRING: return "a string";
	case RPC_T_BOOL: return "true or false";
	case RPC_T_INT64: return "an integer";
	case RPC_T_UINT64:
	case RPC_T_UINT32: return "a non-negative integer";
	case RPC_T_OBJECT: return "an object";
	case RPC_T_ARRAY: return "an array";
	case RPC_T_ANY: return "any JSON value";
	case RPC_T_CUSTOM: return p->type_name ? p->type_name : "a value";
	}
	return "a value";
}

/* "component, level" */
static void param_list(const struct rpc_method *m, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < m->n_params && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", m->params[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int bad_param(const struct rpc_param *p, const char **bad, char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int bad_param(const struct rpc_param *p, const char **bad, char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	if (bad)
		*bad = p ? p->name : NULL;
	return -EINVAL;
}

/* Range check for integer types; min < max enables it. */
static int check_range(const struct rpc_param *p, json_int_t x, int64_t lo, int64_t hi, char *msg, size_t msglen,
		       const char **bad)
{
	if (p->min < p->max) {
		lo = p->min > lo ? p->min : lo;
		hi = p->max < hi ? p->max : hi;
	}
	if ((int64_t)x < lo || (int64_t)x > hi)
		return bad_param(p, bad, msg, msglen, "parameter \"%s\" is %" PRId64 ", out of range; use %" PRId64
				 "..%" PRId64 "%s%s", p->name, (int64_t)x, lo, hi, p->help ? " (" : "",
				 p->help ? p->help : "");
	return 0;
}

static int type_error(const struct rpc_param *p, json_t *v, char *msg, size_t msglen, const char **bad)
{
	return bad_param(p, bad, msg, msglen, "parameter \"%s\" must be %s, not %s%s%s%s", p->name,
			 rpc_param_type_name(p), rpc_json_type_name(v), p->help ? " (" : "", p->help ? p->help : "",
			 p->help ? ")" : "");
}

static int decode_one(const struct rpc_param *p, json_t *v, void *out, char *msg, size_t msglen, const char **bad)
{
	char *field = (char *)out + p->offset;
	char why[256];
	int rc;

	switch (p->type) {
	case RPC_T_STRING:
		if (!json_is_string(v))
			return type_error(p, v, msg, msglen, bad);
		if (strlen(json_string_value(v)) != json_string_length(v))
			return bad_param(p, bad, msg, msglen, "parameter \"%s\" contains a NUL character; send the "
					 "text without \\u0000", p->name);
		*(const char **)(void *)field = json_string_value(v);
		break;
	case RPC_T_BOOL:
		if (!json_is_boolean(v))
			return type_error(p, v, msg, msglen, bad);
		*(bool *)(void *)field = json_is_true(v);
		break;
	case RPC_T_INT64:
		if (!json_is_integer(v))
			return type_error(p, v, msg, msglen, bad);
		if ((rc = check_range(p, json_integer_value(v), INT64_MIN, INT64_MAX, msg, msglen, bad)))
			return rc;
		*(int64_t *)(void *)field = json_integer_value(v);
		break;
	case RPC_T_UINT64:
		if (!json_is_integer(v))
			return type_error(p, v, msg, msglen, bad);
		if ((rc = check_range(p, json_integer_value(v), 0, INT64_MAX, msg, msglen, bad)))
			return rc;
		*(uint64_t *)(void *)field = (uint64_t)json_integer_value(v);
		break;
	case RPC_T_UINT32:
		if (!json_is_integer(v))
			return type_error(p, v, msg, msglen, bad);
		if ((rc = check_range(p, json_integer_value(v), 0, UINT32_MAX, msg, msglen, bad)))
			return rc;
		*(uint32_t *)(void *)field = (uint32_t)json_integer_value(v);
		break;
	case RPC_T_OBJECT:
		if (!json_is_object(v))
			return type_error(p, v, msg, msglen, bad);
		*(json_t **)(void *)field = v;
		break;
	case RPC_T_ARRAY:
		if (!json_is_array(v))
			return type_error(p, v, msg, msglen, bad);
		*(json_t **)(void *)field = v;
		break;
	case RPC_T_ANY:
		*(json_t **)(void *)field = v;
		break;
	case RPC_T_CUSTOM:
		break;
	}
	if (p->decode) {
		why[0] = '\0';
		if (p->decode(v, field, why, sizeof(why)))
			return bad_param(p, bad, msg, msglen, "parameter \"%s\": %s", p->name,
					 why[0] ? why : "not a valid value");
	}
	return 0;
}

static int decode_object(const struct rpc_method *m, json_t *params, void *out, char *msg, size_t msglen,
			 const char **bad)
{
	const char *key;
	json_t *v;
	char list[256];
	int rc;

	/* Unknown names first: a typo explains a "missing" one better. */
	json_object_foreach(params, key, v) {
		bool known = false;
		for (size_t i = 0; i < m->n_params && !known; i++)
			known = strcmp(key, m->params[i].name) == 0;
		if (known)
			continue;
		if (bad)
			*bad = NULL;
		param_list(m, list, sizeof(list));
		if (m->n_params == 0)
			return bad_param(NULL, bad, msg, msglen, "method \"%s\" takes no parameters, got \"%s\"; send "
					 "no \"params\" (or {})", m->name, key);
		const char *names[64];
		size_t n = 0;
		for (size_t i = 0; i < m->n_params && n < RPC_ARRAY_LEN(names); i++)
			names[n++] = m->params[i].name;
		const char *hint = config_suggest(key, names, n);
		if (hint)
			return bad_param(NULL, bad, msg, msglen, "unknown parameter \"%s\"; did you mean \"%s\"? (%s "
					 "takes: %s)", key, hint, m->name, list);
		return bad_param(NULL, bad, msg, msglen, "unknown parameter \"%s\"; %s takes: %s", key, m->name,
				 list);
	}
	for (size_t i = 0; i < m->n_params; i++) {
		const struct rpc_param *p = &m->params[i];
		v = json_object_get(params, p->name);
		if (!v) {
			if (p->required)
				return bad_param(p, bad, msg, msglen, "missing parameter \"%s\" (%s%s%s); add it to "
						 "\"params\"", p->name, rpc_param_type_name(p), p->help ? ": " : "",
						 p->help ? p->help : "");
			continue;
		}
		if ((rc = decode_one(p, v, out, msg, msglen, bad)))
			return rc;
	}
	return 0;
}

static int decode_array(const struct rpc_method *m, json_t *params, void *out, char *msg, size_t msglen,
			const char **bad)
{
	size_t n = json_array_size(params);
	char list[256];
	int rc;

	if (n > m->n_params) {
		param_list(m, list, sizeof(list));
		if (m->n_params == 0)
			return bad_param(NULL, bad, msg, msglen, "method \"%s\" takes no parameters, got %zu; send no "
					 "\"params\" (or [])", m->name, n);
		return bad_param(NULL, bad, msg, msglen, "too many parameters: %s takes %zu (%s), got %zu", m->name,
				 m->n_params, list, n);
	}
	for (size_t i = 0; i < m->n_params; i++) {
		const struct rpc_param *p = &m->params[i];
		if (i >= n) {
			if (p->required)
				return bad_param(p, bad, msg, msglen, "missing parameter \"%s\" (position %zu, %s%s%s); "
						 "add it to \"params\"", p->name, i + 1, rpc_param_type_name(p),
						 p->help ? ": " : "", p->help ? p->help : "");
			continue;
		}
		if ((rc = decode_one(p, json_array_get(params, i), out, msg, msglen, bad)))
			return rc;
	}
	return 0;
}

int rpc_params_decode(const struct rpc_method *m, json_t *params, void *out, char *msg, size_t msglen,
		      const char **bad)
{
	if (bad)
		*bad = NULL;
	if (!params) {
		json_t *empty = json_object();
		if (!empty)
			return -ENOMEM;
		int rc = decode_object(m, empty, out, msg, msglen, bad);
		json_decref(empty);
		return rc;
	}
	if (json_is_object(params))
		return decode_object(m, params, out, msg, msglen, bad);
	if (json_is_array(params))
		return decode_array(m, params, out, msg, msglen, bad);
	return bad_param(NULL, bad, msg, msglen, "\"params\" must be an object or an array, not %s",
			 rpc_json_type_name(params));
}

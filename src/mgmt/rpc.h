/* rpc.h - JSON-RPC 2.0 over a Unix stream socket: the server, methods registered as data, table-driven params, async replies. */
#ifndef SOFTHBA_MGMT_RPC_H
#define SOFTHBA_MGMT_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/*
 * Wire format (docs/mgmt-api.md): each request is one JSON-RPC 2.0 object
 * (or a batch array of them) on one line ending in '\n'; the last request
 * before the client shuts down its sending side may lack the '\n'. Each
 * answer is one line. A connection handles one request line at a time (a
 * batch counts as one): the next line is read once every answer of the
 * previous one is out, so answers come in request order.
 *
 * Everything here runs on the reactor that created the server (reactor 0
 * in the daemon); a handler may finish later (from a timer, a message
 * coming back, an I/O completion) but must call rpc_reply_*() exactly
 * once, on that reactor.
 */

/* Standard JSON-RPC codes. */
#define RPC_ERR_PARSE            (-32700) /* the line is not JSON */
#define RPC_ERR_INVALID_REQUEST  (-32600) /* not a request object; also "request too large" */
#define RPC_ERR_METHOD_NOT_FOUND (-32601)
#define RPC_ERR_INVALID_PARAMS   (-32602)
#define RPC_ERR_INTERNAL         (-32603) /* out of memory and other failures inside the daemon */
/* softhba's own codes (-32000..-32099, "server error" range). */
#define RPC_ERR_ACCESS_DENIED    (-32001) /* the peer may not use the socket / this method */
#define RPC_ERR_NOT_FOUND        (-32002) /* a named object (volume, target, ...) does not exist */
#define RPC_ERR_SHUTTING_DOWN    (-32003) /* the daemon is stopping: nothing new starts */
#define RPC_ERR_UNAVAILABLE      (-32004) /* the feature is not configured / not running */
#define RPC_ERR_TOO_MANY         (-32005) /* too many control connections */
#define RPC_ERR_FAILED           (-32010) /* the operation was tried and failed; the message says why */

#define RPC_MAX_REQUEST_DEFAULT (1u << 20) /* longest request line, bytes */
#define RPC_MAX_CONNS_DEFAULT 64u

/* Who is calling: the peer's credentials (SO_PEERCRED), taken at accept. */
struct rpc_ctx {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	uint64_t conn_id;      /* 1, 2, ... per server, for logs */
	void *app;             /* what rpc_server_create() got (the daemon registry) */
};

struct rpc_server;
struct rpc_req;

/* ---- parameters: decoded by table into a handler's params struct ---- */

enum rpc_type {
	RPC_T_STRING = 0, /* const char * into the request (valid until the reply) */
	RPC_T_BOOL,       /* bool */
	RPC_T_INT64,      /* int64_t, within [min, max] when min < max */
	RPC_T_UINT64,     /* uint64_t, within [min, max] when min < max (negative refused) */
	RPC_T_UINT32,     /* uint32_t, within [min, max] when min < max, else 0..UINT32_MAX */
	RPC_T_OBJECT,     /* json_t * (borrowed, valid until the reply) */
	RPC_T_ARRAY,      /* json_t * (borrowed) */
	RPC_T_ANY,        /* json_t * (borrowed), any JSON value */
	RPC_T_CUSTOM,     /* decode() writes the field */
};

struct rpc_param {
	const char *name;
	enum rpc_type type;
	bool required;
	size_t offset;         /* offsetof(params struct, field) */
	int64_t min, max;      /* integer range when min < max */
	/* RPC_T_CUSTOM (and optional refinement of RPC_T_STRING: called after
	 * the string is stored): 0, or -EINVAL with why = what is wrong and
	 * what to send instead. */
	int (*decode)(json_t *v, void *field, char *why, size_t whylen);
	const char *type_name; /* RPC_T_CUSTOM: how rpc.describe names the type ("string") */
	const char *help;      /* one sentence: what it is, allowed values */
};

typedef void (*rpc_handler)(struct rpc_req *req, void *params);

struct rpc_method {
	const char *name;      /* "volume.list" */
	rpc_handler handler;
	const struct rpc_param *params;
	size_t n_params;
	size_t params_size;    /* sizeof the handler's params struct (zeroed before decoding) */
	const char *summary;   /* one sentence for rpc.list / rpc.describe */
	const char *result;    /* what the result holds, for rpc.describe */
};

#define RPC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Define a method beside its handler: rpc_method_<ident>, listed in the init
 * table (mgmt_methods.c). pstruct is the params struct type, ptable an array
 * of struct rpc_param. */
#define RPC_METHOD(ident, mname, fn, pstruct, ptable, msummary, mresult)                                  \
	const struct rpc_method rpc_method_##ident = {                                                    \
		.name = (mname), .handler = (fn), .params = (ptable), .n_params = RPC_ARRAY_LEN(ptable),   \
		.params_size = sizeof(pstruct), .summary = (msummary), .result = (mresult),               \
	}
/* A method without parameters (any non-empty params are refused). */
#define RPC_METHOD_NOPARAMS(ident, mname, fn, msummary, mresult)                                            \
	const struct rpc_method rpc_method_##ident = {                                                    \
		.name = (mname), .handler = (fn), .params = NULL, .n_params = 0, .params_size = 0,         \
		.summary = (msummary), .result = (mresult),                                               \
	}

/* ---- server ---- */

struct rpc_server_opts {
	size_t max_request;    /* 0 = RPC_MAX_REQUEST_DEFAULT */
	unsigned max_conns;    /* 0 = RPC_MAX_CONNS_DEFAULT */
	/* Besides root, the one uid admitted (the daemon's euid by default);
	 * every other peer gets RPC_ERR_ACCESS_DENIED and is disconnected. */
	bool allow_uid_set;
	uid_t allow_uid;
};

/* A server on the calling reactor with the given methods (plus the
 * built-in rpc.list and rpc.describe). methods must outlive the server;
 * two methods with one name: -EEXIST. app goes into every rpc_ctx.
 * Returns 0, -EINVAL, -EEXIST or -ENOMEM. */
int rpc_server_create(const struct rpc_method *const *methods, size_t n, void *app,
		      const struct rpc_server_opts *opts, struct rpc_server **out);
/* Listen at path: created mode 0600 atomically (bound under a temporary
 * name in the same directory, then renamed), a stale socket (no listener)
 * replaced, a live one refused (-EADDRINUSE). On failure err receives one
 * sentence naming the path, what is wrong and what to change. Returns 0
 * or -errno. */
int rpc_server_listen(struct rpc_server *s, const char *path, char *err, size_t errlen);
/* Serve an already connected stream socket (tests, socket activation);
 * the server owns fd from now on. Returns 0 or -errno (fd closed). */
int rpc_server_adopt(struct rpc_server *s, int fd);
/* The path listened on, or NULL. */
const char *rpc_server_path(const struct rpc_server *s);
/* Stop listening (the socket file is removed if it still is ours), close
 * every connection (answers not yet sent are dropped) and free the server
 * once no handler holds a request. Callable once, on the owning reactor. */
void rpc_server_destroy(struct rpc_server *s);

struct rpc_server_stats {
	uint64_t connections;  /* accepted (admitted or not) */
	uint64_t refused;      /* refused: credentials or too many connections */
	uint64_t requests;     /* request objects seen (batch elements count one each) */
	uint64_t errors;       /* error answers sent */
	unsigned open;         /* connections open now */
};
void rpc_server_get_stats(const struct rpc_server *s, struct rpc_server_stats *out);

/* ---- replies (exactly one per request, on the server's reactor) ---- */

const struct rpc_ctx *rpc_req_ctx(const struct rpc_req *req);
const struct rpc_method *rpc_req_method(const struct rpc_req *req);
/* The server a request came to (for the built-in introspection methods). */
struct rpc_server *rpc_req_server(const struct rpc_req *req);
/* Answer with result (reference stolen; NULL means JSON null). */
void rpc_reply(struct rpc_req *req, json_t *result);
/* Answer with an error: code, a message saying what to change, optional
 * data (reference stolen, may be NULL). */
void rpc_reply_error(struct rpc_req *req, int code, json_t *data, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- helpers shared by the server and its tests ---- */

/* Decode params (NULL, an object or an array in table order) into out
 * (m->params_size bytes, zeroed by the caller). On -EINVAL msg holds the
 * sentence for a -32602 answer and *bad the parameter's name (or NULL). */
int rpc_params_decode(const struct rpc_method *m, json_t *params, void *out, char *msg, size_t msglen,
		      const char **bad);
/* "a string", "an integer", ... for a param (for messages and rpc.describe). */
const char *rpc_param_type_name(const struct rpc_param *p);
/* "a string", "an integer", ... for a value received. */
const char *rpc_json_type_name(const json_t *v);
/* The methods a server answers (built-ins first). */
size_t rpc_server_methods(const struct rpc_server *s, const struct rpc_method *const **out);
const struct rpc_method *rpc_server_find(const struct rpc_server *s, const char *name);

#endif

/* rpc.c - the control socket server: accept with peer credentials, newline framing, JSON-RPC 2.0 dispatch, batches, async replies. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "core/config.h"
#include "core/log.h"
#include "core/reactor.h"
#include "mgmt/rpc_internal.h"

/*
 * Lifetimes. The server is freed when it was destroyed and its last
 * connection is gone. A connection is freed when it is closed and nothing
 * refers to it: the call in flight and an armed deferred call each hold a
 * reference. A call (one request line) is freed when its last request is
 * answered; an answer to a closed connection is dropped.
 */

struct rpc_conn;

struct rpc_call {
	struct rpc_conn *conn;
	bool batch;
	size_t n_slots;
	json_t **slots;             /* batch: one answer per element, NULL = none (notification) */
	json_t *single;             /* not a batch: the answer, NULL = none */
	unsigned outstanding;       /* requests not answered yet, +1 while dispatching */
};

struct rpc_req {
	struct rpc_call *call;
	size_t slot;
	const struct rpc_method *m;
	json_t *id;                 /* NULL: a notification (no answer) */
	json_t *request;            /* held: string params point into it */
	void *params;
};

struct rpc_conn {
	struct rpc_server *srv;
	struct rpc_conn *next, *prev;
	int fd;
	struct reactor_fd w;
	uint32_t ev;                /* watched events */
	struct rpc_ctx ctx;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	bool eof;                   /* the peer shut down its sending side */
	bool close_after;           /* close once the output is out (fatal error sent) */
	bool closed;
	bool processing;            /* inside process_input(): no re-entry */
	bool defer_armed;
	struct rpc_call *call;      /* the request line in flight */
	unsigned refs;
	struct reactor_defer defer;
};

struct rpc_server {
	const struct rpc_method **methods;
	size_t n_methods;
	void *app;
	size_t max_request;
	unsigned max_conns;
	uid_t allow_uid;
	struct reactor *owner;
	int lfd;
	struct reactor_fd lw;
	char *path;
	dev_t dev;
	ino_t ino;
	struct rpc_conn *conns;
	unsigned refs;              /* 1 until destroyed + 1 per connection struct */
	uint64_t next_conn_id;
	struct rpc_server_stats st;
};

static void process_input(struct rpc_conn *c);
static void conn_close(struct rpc_conn *c);

/* ---- small things ---- */

static void server_put(struct rpc_server *s)
{
	if (--s->refs)
		return;
	free(s->methods);
	free(s->path);
	free(s);
}

static void conn_put(struct rpc_conn *c)
{
	if (--c->refs)
		return;
	struct rpc_server *s = c->srv;
	free(c->in);
	free(c->out);
	free(c);
	server_put(s);
}

static json_t *make_error(struct rpc_server *s, json_t *id, int code, json_t *data, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	s->st.errors++;
	json_t *err = json_pack("{s:i, s:s}", "code", code, "message", msg);
	if (err && data)
		json_object_set(err, "data", data);
	json_decref(data);
	if (!err)
		return NULL;
	return json_pack("{s:s, s:o, s:O}", "jsonrpc", "2.0", "error", err, "id", id ? id : json_null());
}

static json_t *make_errorf(struct rpc_server *s, json_t *id, int code, json_t *data, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static json_t *make_errorf(struct rpc_server *s, json_t *id, int code, json_t *data, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *r = make_error(s, id, code, data, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- output ---- */

static void update_watch(struct rpc_conn *c)
{
	if (c->closed)
		return;
	uint32_t want = 0;
	if (!c->eof && !c->call && !c->close_after && c->in_len <= c->srv->max_request)
		want |= REACTOR_EV_IN;
	if (c->out_off < c->out_len)
		want |= REACTOR_EV_OUT;
	if (want != c->ev && reactor_fd_mod(&c->w, want) == 0)
		c->ev = want;
}

/* Send what is queued; closes the connection on a send error. */
static void flush_out(struct rpc_conn *c)
{
	while (!c->closed && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			log_debug(LOGC_MGMT, NULL, "control connection %llu: send: %s", (unsigned long long)c->ctx.conn_id,
				  strerror(errno));
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
}

/* Queue one answer line (reference stolen). */
static void queue_json(struct rpc_conn *c, json_t *resp)
{
	if (c->closed || !resp) {
		json_decref(resp);
		return;
	}
	char *text = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	if (!text) {
		/* Only when out of memory: say so with a line that needs no allocation. */
		static const char oom[] = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,\"message\":\"out of memory "
					  "while writing the answer; retry\"},\"id\":null}";
		text = strdup(oom);
		if (!text) {
			conn_close(c);
			return;
		}
	}
	size_t len = strlen(text);
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len + 1)
			cap *= 2;
		char *p = realloc(c->out, cap);
		if (!p) {
			free(text);
			conn_close(c);
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	free(text);
	flush_out(c);
}

/* ---- calls and replies ---- */

static void resume_input(void *arg)
{
	struct rpc_conn *c = arg;
	c->defer_armed = false;
	if (!c->closed)
		process_input(c);
	conn_put(c);
}

static void call_finish(struct rpc_call *call)
{
	struct rpc_conn *c = call->conn;

	if (call->batch) {
		json_t *arr = json_array();
		for (size_t i = 0; i < call->n_slots; i++)
			if (call->slots[i] && arr)
				json_array_append_new(arr, call->slots[i]);
			else
				json_decref(call->slots[i]);
		free(call->slots);
		if (arr && json_array_size(arr) == 0) {
			json_decref(arr); /* a batch of notifications: nothing is sent */
			arr = NULL;
		}
		queue_json(c, arr);
	} else {
		queue_json(c, call->single);
	}
	c->call = NULL;
	free(call);
	if (!c->closed && !c->processing && !c->defer_armed) {
		/* An answer that came later: read on from the next loop iteration. */
		c->defer_armed = true;
		c->refs++;
		reactor_defer(&c->defer, resume_input, c);
	}
	conn_put(c);
}

static void call_put(struct rpc_call *call)
{
	if (--call->outstanding == 0)
		call_finish(call);
}

static void call_set(struct rpc_call *call, size_t slot, json_t *resp)
{
	if (call->batch)
		call->slots[slot] = resp;
	else
		call->single = resp;
}

static void req_done(struct rpc_req *req, json_t *resp)
{
	struct rpc_call *call = req->call;
	call_set(call, req->slot, resp);
	json_decref(req->id);
	json_decref(req->request);
	free(req->params);
	free(req);
	call_put(call);
}

const struct rpc_ctx *rpc_req_ctx(const struct rpc_req *req)
{
	return &req->call->conn->ctx;
}

const struct rpc_method *rpc_req_method(const struct rpc_req *req)
{
	return req->m;
}

struct rpc_server *rpc_req_server(const struct rpc_req *req)
{
	return req->call->conn->srv;
}

void rpc_reply(struct rpc_req *req, json_t *result)
{
	reactor_assert_on(req->call->conn->srv->owner);
	json_t *resp = NULL;
	if (req->id)
		resp = json_pack("{s:s, s:o, s:O}", "jsonrpc", "2.0", "result", result ? result : json_null(), "id",
				 req->id);
	else
		json_decref(result);
	if (req->id && !resp)
		resp = make_errorf(req->call->conn->srv, req->id, RPC_ERR_INTERNAL, NULL,
				   "out of memory while building the answer; retry");
	req_done(req, resp);
}

void rpc_reply_error(struct rpc_req *req, int code, json_t *data, const char *fmt, ...)
{
	reactor_assert_on(req->call->conn->srv->owner);
	json_t *resp = NULL;
	if (req->id) {
		va_list ap;
		va_start(ap, fmt);
		resp = make_error(req->call->conn->srv, req->id, code, data, fmt, ap);
		va_end(ap);
	} else {
		json_decref(data);
	}
	req_done(req, resp);
}

/* ---- dispatch ---- */

const struct rpc_method *rpc_server_find(const struct rpc_server *s, const char *name)
{
	for (size_t i = 0; i < s->n_methods; i++)
		if (strcmp(s->methods[i]->name, name) == 0)
			return s->methods[i];
	return NULL;
}

size_t rpc_server_methods(const struct rpc_server *s, const struct rpc_method *const **out)
{
	*out = s->methods;
	return s->n_methods;
}

static json_t *method_not_found(struct rpc_server *s, json_t *id, const char *name)
{
	const char *names[256];
	size_t n = 0;
	for (size_t i = 0; i < s->n_methods && n < RPC_ARRAY_LEN(names); i++)
		names[n++] = s->methods[i]->name;
	const char *hint = config_suggest(name, names, n);
	if (!hint) /* "volume" -> "volume.list": the one method under that prefix */
		for (size_t i = 0, len = strlen(name); i < n && len; i++)
			if (strncmp(names[i], name, len) == 0 && names[i][len] == '.')
				hint = hint ? NULL : names[i];
	if (hint)
		return make_errorf(s, id, RPC_ERR_METHOD_NOT_FOUND, json_pack("{s:s}", "hint", hint),
				   "unknown method \"%s\"; did you mean \"%s\"? (\"rpc.list\" lists every method)", name,
				   hint);
	return make_errorf(s, id, RPC_ERR_METHOD_NOT_FOUND, NULL,
			   "unknown method \"%s\"; call \"rpc.list\" for the methods this daemon answers", name);
}

static const char *const envelope_keys[] = { "jsonrpc", "method", "params", "id" };

/* One request object (alone or a batch element). */
static void dispatch(struct rpc_call *call, size_t slot, json_t *r)
{
	struct rpc_server *s = call->conn->srv;
	json_t *id, *v;
	const char *key;
	char msg[1024];

	s->st.requests++;
	if (!json_is_object(r)) {
		call_set(call, slot, make_errorf(s, NULL, RPC_ERR_INVALID_REQUEST, NULL, "a request must be an object "
						 "{\"jsonrpc\": \"2.0\", \"method\": NAME, \"id\": N}, not %s",
						 rpc_json_type_name(r)));
		return;
	}
	id = json_object_get(r, "id");
	bool id_ok = !id || json_is_string(id) || json_is_number(id) || json_is_null(id);
	json_t *rid = id_ok ? id : NULL;
	json_object_foreach(r, key, v) {
		bool known = false;
		for (size_t i = 0; i < RPC_ARRAY_LEN(envelope_keys); i++)
			known = known || strcmp(key, envelope_keys[i]) == 0;
		if (known)
			continue;
		const char *hint = config_suggest(key, envelope_keys, RPC_ARRAY_LEN(envelope_keys));
		call_set(call, slot, make_errorf(s, rid, RPC_ERR_INVALID_REQUEST, NULL, "unknown member \"%s\" in the "
						 "request%s%s%s; a request has only jsonrpc, method, params and id",
						 key, hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : ""));
		return;
	}
	v = json_object_get(r, "jsonrpc");
	if (!v || !json_is_string(v) || json_string_length(v) != 3 || strcmp(json_string_value(v), "2.0") != 0) {
		call_set(call, slot, make_errorf(s, rid, RPC_ERR_INVALID_REQUEST, NULL,
						 "\"jsonrpc\" must be the string \"2.0\"%s", v ? "" : " and is missing"));
		return;
	}
	if (!id_ok) {
		call_set(call, slot, make_errorf(s, NULL, RPC_ERR_INVALID_REQUEST, NULL, "\"id\" must be a string, a "
						 "number or null, not %s", rpc_json_type_name(id)));
		return;
	}
	v = json_object_get(r, "method");
	if (!v || !json_is_string(v) || json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v)) {
		call_set(call, slot, make_errorf(s, rid, RPC_ERR_INVALID_REQUEST, NULL, "\"method\" must be a "
						 "non-empty string without NUL (the method name, e.g. \"daemon.status\"), "
						 "not %s", json_is_string(v) ? "this one" : rpc_json_type_name(v)));
		return;
	}
	const char *name = json_string_value(v);
	json_t *params = json_object_get(r, "params");
	if (params && !json_is_object(params) && !json_is_array(params)) {
		call_set(call, slot, make_errorf(s, rid, RPC_ERR_INVALID_REQUEST, NULL, "\"params\" must be an object "
						 "(by name) or an array (by position), not %s; leave it out when the "
						 "method takes none", rpc_json_type_name(params)));
		return;
	}
	const struct rpc_method *m = rpc_server_find(s, name);
	if (!m) {
		if (id)
			call_set(call, slot, method_not_found(s, id, name));
		return;
	}
	void *p = calloc(1, m->params_size ? m->params_size : 1);
	struct rpc_req *req = calloc(1, sizeof(*req));
	if (!p || !req) {
		free(p);
		free(req);
		if (id)
			call_set(call, slot, make_errorf(s, id, RPC_ERR_INTERNAL, NULL, "out of memory; retry"));
		return;
	}
	const char *bad = NULL;
	int rc = rpc_params_decode(m, params, p, msg, sizeof(msg), &bad);
	if (rc) {
		free(p);
		free(req);
		if (!id)
			return;
		if (rc == -ENOMEM)
			call_set(call, slot, make_errorf(s, id, RPC_ERR_INTERNAL, NULL, "out of memory; retry"));
		else
			call_set(call, slot, make_errorf(s, id, RPC_ERR_INVALID_PARAMS,
							 bad ? json_pack("{s:s}", "param", bad) : NULL, "%s: %s",
							 m->name, msg));
		return;
	}
	req->call = call;
	req->slot = slot;
	req->m = m;
	req->id = id ? json_incref(id) : NULL;
	req->request = json_incref(r);
	req->params = p;
	call->outstanding++;
	m->handler(req, p);
}

static bool blank(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

/* One request line (a request or a batch). */
static void handle_line(struct rpc_conn *c, const char *buf, size_t len)
{
	struct rpc_server *s = c->srv;
	json_error_t je;

	if (blank(buf, len))
		return;
	/* NUL in strings is let through so the method/params checks can name it. */
	json_t *root = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!root) {
		s->st.requests++;
		queue_json(c, make_errorf(s, NULL, RPC_ERR_PARSE, NULL, "parse error at byte %d: %s; send one JSON-RPC "
					  "request object (or a batch array) per line", je.position, je.text));
		return;
	}
	struct rpc_call *call = calloc(1, sizeof(*call));
	if (!call) {
		json_decref(root);
		queue_json(c, make_errorf(s, NULL, RPC_ERR_INTERNAL, NULL, "out of memory; retry"));
		return;
	}
	call->conn = c;
	call->outstanding = 1;
	c->refs++;
	c->call = call;
	if (json_is_array(root) && json_array_size(root) == 0) {
		s->st.requests++;
		call->single = make_errorf(s, NULL, RPC_ERR_INVALID_REQUEST, NULL, "empty batch []; send at least "
					   "one request object");
	} else if (json_is_array(root)) {
		call->batch = true;
		call->n_slots = json_array_size(root);
		call->slots = calloc(call->n_slots, sizeof(*call->slots));
		if (!call->slots) {
			call->batch = false;
			call->single = make_errorf(s, NULL, RPC_ERR_INTERNAL, NULL, "out of memory; retry");
		} else {
			for (size_t i = 0; i < call->n_slots; i++)
				dispatch(call, i, json_array_get(root, i));
		}
	} else {
		dispatch(call, 0, root);
	}
	json_decref(root);
	call_put(call);
}

static void too_large(struct rpc_conn *c)
{
	struct rpc_server *s = c->srv;
	s->st.requests++;
	queue_json(c, make_errorf(s, NULL, RPC_ERR_INVALID_REQUEST, NULL, "request too large: more than %zu bytes "
				  "without a newline; send at most %zu bytes per request line", s->max_request,
				  s->max_request));
	c->in_len = 0;
	c->close_after = true;
}

/* Run every complete request line buffered, one call at a time. */
static void process_input(struct rpc_conn *c)
{
	if (c->processing)
		return;
	c->processing = true;
	c->refs++;
	while (!c->closed && !c->call && !c->close_after && c->in_len) {
		char *nl = memchr(c->in, '\n', c->in_len);
		if (nl) {
			size_t len = (size_t)(nl - c->in);
			handle_line(c, c->in, len);
			c->in_len -= len + 1;
			memmove(c->in, nl + 1, c->in_len);
			continue;
		}
		if (c->in_len > c->srv->max_request) {
			too_large(c);
			break;
		}
		if (c->eof) { /* the last request may lack its newline */
			size_t len = c->in_len;
			c->in_len = 0;
			handle_line(c, c->in, len);
		}
		break;
	}
	c->processing = false;
	if (!c->closed) {
		update_watch(c);
		bool drained = c->out_off == c->out_len;
		if (drained && !c->call && (c->close_after || (c->eof && c->in_len == 0)))
			conn_close(c);
	}
	conn_put(c);
}

/* ---- connections ---- */

static int read_in(struct rpc_conn *c)
{
	size_t limit = c->srv->max_request + 1;
	while (!c->eof && c->in_len < limit) {
		if (c->in_len == c->in_cap) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
			if (cap > limit)
				cap = limit;
			char *p = realloc(c->in, cap);
			if (!p)
				return -ENOMEM;
			c->in = p;
			c->in_cap = cap;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -errno;
		if (n == 0)
			c->eof = true;
		c->in_len += (size_t)n;
	}
	return 0;
}

static void conn_event(struct reactor_fd *w, uint32_t events)
{
	struct rpc_conn *c = w->arg;

	if (events & REACTOR_EV_ERR) {
		/* The peer is gone: nobody can read answers. */
		conn_close(c);
		return;
	}
	c->refs++;
	if (events & REACTOR_EV_OUT)
		flush_out(c);
	if (!c->closed && (events & REACTOR_EV_IN) && !c->call) {
		int rc = read_in(c);
		if (rc) {
			log_debug(LOGC_MGMT, NULL, "control connection %llu: receive: %s",
				  (unsigned long long)c->ctx.conn_id, strerror(-rc));
			conn_close(c);
		}
	}
	if (!c->closed)
		process_input(c);
	conn_put(c);
}

static void conn_close(struct rpc_conn *c)
{
	struct rpc_server *s = c->srv;
	if (c->closed)
		return;
	c->closed = true;
	reactor_fd_del(&c->w);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->st.open--;
	conn_put(c); /* the open connection's reference */
}

/* Refuse a peer with one error line, sent best effort, then close. */
static void refuse(struct rpc_server *s, int fd, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void refuse(struct rpc_server *s, int fd, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	json_t *resp = make_error(s, NULL, code, NULL, fmt, ap);
	va_end(ap);
	s->st.refused++;
	char *text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
	json_decref(resp);
	if (text) {
		size_t len = strlen(text);
		text[len] = '\n'; /* replaces the NUL: send len + 1 bytes, free as a buffer */
		(void)!send(fd, text, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(text);
	}
	close(fd);
}

static int conn_new(struct rpc_server *s, int fd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	s->st.connections++;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (cred.uid != 0 && cred.uid != s->allow_uid) {
		log_warn(LOGC_MGMT, NULL, "control socket: refused uid %u (pid %d): only root and uid %u may connect",
			 (unsigned)cred.uid, (int)cred.pid, (unsigned)s->allow_uid);
		refuse(s, fd, RPC_ERR_ACCESS_DENIED, "access denied: uid %u (pid %d) may not use this control socket; "
		       "only root and the daemon's user (uid %u) may; run the client as one of them",
		       (unsigned)cred.uid, (int)cred.pid, (unsigned)s->allow_uid);
		return -EACCES;
	}
	if (s->st.open >= s->max_conns) {
		log_warn(LOGC_MGMT, NULL, "control socket: refused pid %d: %u connections are open already",
			 (int)cred.pid, s->st.open);
		refuse(s, fd, RPC_ERR_TOO_MANY, "too many control connections (%u are open); close idle clients and "
		       "retry", s->st.open);
		return -EMFILE;
	}
	struct rpc_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->srv = s;
	c->fd = fd;
	c->refs = 1;
	c->ctx = (struct rpc_ctx){ .uid = cred.uid, .gid = cred.gid, .pid = cred.pid, .conn_id = ++s->next_conn_id,
				   .app = s->app };
	c->ev = REACTOR_EV_IN;
	int rc = reactor_fd_add(&c->w, fd, c->ev, conn_event, c);
	if (rc) {
		close(fd);
		free(c);
		return rc;
	}
	s->refs++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->st.open++;
	log_debug(LOGC_MGMT, NULL, "control connection %llu from uid %u pid %d", (unsigned long long)c->ctx.conn_id,
		  (unsigned)cred.uid, (int)cred.pid);
	return 0;
}

int rpc_server_adopt(struct rpc_server *s, int fd)
{
	reactor_assert_on(s->owner);
	return conn_new(s, fd);
}

static void listener_event(struct reactor_fd *w, uint32_t events)
{
	struct rpc_server *s = w->arg;
	(void)events;
	for (int i = 0; i < 16; i++) { /* bounded: other watchers get their turn */
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				log_warn(LOGC_MGMT, NULL, "control socket %s: accept: %s", s->path, strerror(errno));
			return;
		}
		(void)conn_new(s, fd);
	}
}

/* ---- server ---- */

int rpc_server_create(const struct rpc_method *const *methods, size_t n, void *app,
		      const struct rpc_server_opts *opts, struct rpc_server **out)
{
	static const struct rpc_method *const builtin[] = { &rpc_method_rpc_list, &rpc_method_rpc_describe };
	struct reactor *self = reactor_self();
	if (!self || (n && !methods))
		return -EINVAL;
	struct rpc_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->methods = calloc(n + RPC_ARRAY_LEN(builtin), sizeof(*s->methods));
	if (!s->methods) {
		free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < RPC_ARRAY_LEN(builtin) + n; i++) {
		const struct rpc_method *m = i < RPC_ARRAY_LEN(builtin) ? builtin[i] : methods[i - RPC_ARRAY_LEN(builtin)];
		if (!m || !m->name || !m->handler || rpc_server_find(s, m->name)) {
			free(s->methods);
			free(s);
			return m && m->name && m->handler ? -EEXIST : -EINVAL;
		}
		s->methods[s->n_methods++] = m;
	}
	s->app = app;
	s->max_request = opts && opts->max_request ? opts->max_request : RPC_MAX_REQUEST_DEFAULT;
	s->max_conns = opts && opts->max_conns ? opts->max_conns : RPC_MAX_CONNS_DEFAULT;
	s->allow_uid = opts && opts->allow_uid_set ? opts->allow_uid : geteuid();
	s->owner = self;
	s->lfd = -1;
	s->refs = 1;
	*out = s;
	return 0;
}

int rpc_server_listen(struct rpc_server *s, const char *path, char *err, size_t errlen)
{
	reactor_assert_on(s->owner);
	if (s->lfd >= 0)
		return -EBUSY;
	char *copy = strdup(path ? path : "");
	if (!copy)
		return -ENOMEM;
	int fd = rpc_sock_listen(path, &s->dev, &s->ino, err, errlen);
	if (fd < 0) {
		free(copy);
		return fd;
	}
	int rc = reactor_fd_add(&s->lw, fd, REACTOR_EV_IN, listener_event, s);
	if (rc) {
		rpc_sock_unlink(copy, s->dev, s->ino);
		close(fd);
		free(copy);
		snprintf(err, errlen, "control socket %s: cannot watch it: %s", path, strerror(-rc));
		return rc;
	}
	s->lfd = fd;
	s->path = copy;
	log_notice(LOGC_MGMT, NULL, "control socket listening on %s", copy);
	return 0;
}

const char *rpc_server_path(const struct rpc_server *s)
{
	return s->lfd >= 0 ? s->path : NULL;
}

void rpc_server_get_stats(const struct rpc_server *s, struct rpc_server_stats *out)
{
	*out = s->st;
}

void rpc_server_destroy(struct rpc_server *s)
{
	if (!s)
		return;
	reactor_assert_on(s->owner);
	if (s->lfd >= 0) {
		reactor_fd_del(&s->lw);
		close(s->lfd);
		s->lfd = -1;
		rpc_sock_unlink(s->path, s->dev, s->ino);
	}
	while (s->conns)
		conn_close(s->conns);
	server_put(s);
}

/* rpc_harness.h - test harness for the control socket: a server on reactor 0, scripted clients on a thread, JSON checks. */
#ifndef SOFTHBA_TEST_RPC_HARNESS_H
#define SOFTHBA_TEST_RPC_HARNESS_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <jansson.h>

#include "core/reactor.h"
#include "mgmt/rpc.h"

#define H_MAX_LINES 64
#define H_TIMEOUT_MS 5000

/* One client connection's script: send each step's bytes, then read that
 * many answer lines; at the end optionally shut down writing and check
 * that the server closes. Runs on a client thread: no cmocka asserts. */
struct h_step {
	const char *send;      /* NULL: send nothing */
	size_t send_len;       /* 0: strlen(send) */
	int read;              /* answer lines to read after sending */
	bool shut_wr;          /* shutdown(SHUT_WR) after sending */
};

struct h_script {
	const char *path;      /* connect here */
	const struct h_step *steps;
	size_t n_steps;
	bool check_eof;        /* after the steps, expect the server to close */
	/* results */
	char *lines[H_MAX_LINES];
	int n_lines;
	bool eof_seen;
	bool connect_failed;
	int connect_errno;
};

static inline int h_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static inline void h_send(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* One byte at a time so nothing after the line is consumed. NULL on EOF/timeout. */
static inline char *h_line(int fd, bool *eof)
{
	size_t cap = 256, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, H_TIMEOUT_MS) <= 0)
			break;
		char ch;
		ssize_t n = recv(fd, &ch, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* closed; a close with our bytes unread shows as a reset */
			if ((n == 0 || errno == ECONNRESET) && eof)
				*eof = true;
			break;
		}
		if (ch == '\n') {
			buf[len] = '\0';
			return buf;
		}
		if (len + 2 > cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		buf[len++] = ch;
	}
	free(buf);
	return NULL;
}

static inline void h_run_script(struct h_script *s)
{
	int fd = h_connect(s->path);
	if (fd < 0) {
		s->connect_failed = true;
		s->connect_errno = -fd;
		return;
	}
	for (size_t i = 0; i < s->n_steps; i++) {
		const struct h_step *st = &s->steps[i];
		if (st->send)
			h_send(fd, st->send, st->send_len ? st->send_len : strlen(st->send));
		if (st->shut_wr)
			shutdown(fd, SHUT_WR);
		for (int k = 0; k < st->read && s->n_lines < H_MAX_LINES; k++) {
			char *l = h_line(fd, &s->eof_seen);
			if (!l)
				break;
			s->lines[s->n_lines++] = l;
		}
	}
	if (s->check_eof && !s->eof_seen) {
		char *l = h_line(fd, &s->eof_seen);
		if (l && s->n_lines < H_MAX_LINES)
			s->lines[s->n_lines++] = l; /* an unexpected extra line: the test sees it */
		else
			free(l);
	}
	close(fd);
}

static inline void h_free_script(struct h_script *s)
{
	for (int i = 0; i < s->n_lines; i++)
		free(s->lines[i]);
	s->n_lines = 0;
}

/* Run fn(arg) on a client thread while reactor 0 (this thread) serves; the
 * loop ends when the client is done. */
struct h_runner {
	void (*fn)(void *arg);
	void *arg;
};

static inline void *h_client_main(void *p)
{
	struct h_runner *r = p;
	r->fn(r->arg);
	reactors_stop();
	return NULL;
}

static inline int h_run_client(void (*fn)(void *arg), void *arg)
{
	pthread_t t;
	struct h_runner r = { fn, arg };
	if (pthread_create(&t, NULL, h_client_main, &r))
		return -1;
	int rc = reactors_run();
	pthread_join(t, NULL);
	return rc;
}

static inline void h_script_fn(void *arg)
{
	h_run_script(arg);
}

/* ---- JSON checks (main thread) ---- */

/* Parsed answer line i (caller decrefs); NULL when absent or not JSON. */
static inline json_t *h_json(const struct h_script *s, int i)
{
	if (i >= s->n_lines)
		return NULL;
	return json_loads(s->lines[i], JSON_DECODE_ANY, NULL);
}

static inline int h_err_code(json_t *resp)
{
	json_t *e = json_object_get(resp, "error");
	return e ? (int)json_integer_value(json_object_get(e, "code")) : 0;
}

static inline const char *h_err_msg(json_t *resp)
{
	const char *m = json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
	return m ? m : "";
}

#endif

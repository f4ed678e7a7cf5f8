/* ctl_conn.c - the client side of the control socket: which path, connect, one JSON-RPC request, its answer. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "cli/ctl.h"
#include "mgmt/mgmt.h"

/* The demo's control socket: <state dir>/ctl.sock, the state dir chosen as
 * `softhba demo` chooses it without --state-dir (see cli_usage_demo). */
static int demo_socket(char *out, size_t len)
{
	const char *env = getenv("SOFTHBA_STATE_DIR");
	int n;

	if (env && *env)
		n = snprintf(out, len, "%s/ctl.sock", env);
	else if (geteuid() == 0)
		n = snprintf(out, len, "/var/lib/softhba/demo/ctl.sock");
	else if ((env = getenv("XDG_STATE_HOME")) && env[0] == '/')
		n = snprintf(out, len, "%s/softhba/demo/ctl.sock", env);
	else {
		const char *home = getenv("HOME");
		if (!home || !*home) {
			struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home || !*home)
			return -ENOENT;
		n = snprintf(out, len, "%s/.local/state/softhba/demo/ctl.sock", home);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool is_socket(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

void ctl_socket_path(const char *explicit_path, char *out, size_t len, char *also, size_t alsolen)
{
	const char *env = getenv("SOFTHBA_SOCKET");
	char demo[4096];

	if (also && alsolen)
		also[0] = '\0';
	if (explicit_path) {
		snprintf(out, len, "%s", explicit_path);
		return;
	}
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return;
	}
	bool have_demo = demo_socket(demo, sizeof(demo)) == 0;
	if (is_socket(MGMT_SOCKET_DEFAULT) || !have_demo || !is_socket(demo)) {
		snprintf(out, len, "%s", MGMT_SOCKET_DEFAULT);
		if (have_demo && also && alsolen)
			snprintf(also, alsolen, "%s", demo);
		return;
	}
	snprintf(out, len, "%s", demo);
	if (also && alsolen)
		snprintf(also, alsolen, "%s", MGMT_SOCKET_DEFAULT);
}

static int connect_to(const char *path, char *why, size_t whylen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CTL_TIMEOUT_S };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(why, whylen, "the path is %zu bytes long; a socket path has at most %zu", strlen(path),
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket(): %s", strerror(errno));
		return -errno;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		snprintf(why, whylen, "%s", strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One line (without its newline) into a malloc'd buffer; -errno, or -ECONNRESET when nothing came. */
static int recv_line(int fd, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap >= CTL_MAX_ANSWER) {
				free(buf);
				return -EMSGSIZE;
			}
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			return e == EAGAIN || e == EWOULDBLOCK ? -ETIMEDOUT : -e;
		}
		if (n == 0)
			break;
		char *nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			len = (size_t)(nl - buf);
			break;
		}
	}
	if (len == 0) {
		free(buf);
		return -ECONNRESET;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int ctl_call(const char *path, const char *method, json_t *params, json_t **result, json_t **error, char *why,
	     size_t whylen)
{
	json_t *req = json_pack("{s:s, s:s, s:i}", "jsonrpc", "2.0", "method", method, "id", 1);
	char *text = NULL, *line = NULL;
	size_t linelen = 0;
	int rc;

	*result = *error = NULL;
	if (req && params)
		json_object_set(req, "params", params);
	json_decref(params);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	int fd = connect_to(path, why, whylen);
	if (fd < 0) {
		free(text);
		return fd;
	}
	size_t tl = strlen(text);
	text[tl] = '\n'; /* replaces the NUL: the request goes out as one line */
	rc = send_all(fd, text, tl + 1);
	free(text);
	if (rc == 0)
		(void)shutdown(fd, SHUT_WR);
	/* Even when sending failed, the daemon may have said why before closing (access denied). */
	int rrc = recv_line(fd, &line, &linelen);
	close(fd);
	if (rrc) {
		if (rrc == -ETIMEDOUT)
			snprintf(why, whylen, "no answer within %d s", CTL_TIMEOUT_S);
		else if (rrc == -ECONNRESET)
			snprintf(why, whylen, "the daemon closed the connection without answering (it may be shutting "
				 "down)");
		else if (rrc == -EMSGSIZE)
			snprintf(why, whylen, "the answer is larger than %u bytes", CTL_MAX_ANSWER);
		else
			snprintf(why, whylen, "%s%s%s", rc ? "sending failed: " : "", strerror(rc ? -rc : -rrc),
				 rc ? "" : " while reading the answer");
		return rrc;
	}
	json_error_t je;
	json_t *resp = json_loadb(line, linelen, 0, &je);
	free(line);
	if (!resp || !json_is_object(resp)) {
		snprintf(why, whylen, "the answer is not a JSON-RPC response%s%s", resp ? "" : ": ", resp ? "" : je.text);
		json_decref(resp);
		return -EPROTO;
	}
	json_t *err = json_object_get(resp, "error");
	json_t *res = json_object_get(resp, "result");
	if (err) {
		*error = json_incref(err);
		json_decref(resp);
		return 1;
	}
	if (!res) {
		snprintf(why, whylen, "the answer has neither \"result\" nor \"error\"");
		json_decref(resp);
		return -EPROTO;
	}
	*result = json_incref(res);
	json_decref(resp);
	return 0;
}

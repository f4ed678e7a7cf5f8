/* rpc_sock.c - the control socket file: created 0600 atomically (temp name, chmod, rename), stale ones replaced, live ones refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "mgmt/rpc_internal.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static int failf(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int failf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	size_t len = strlen(path);
	if (len == 0 || len > SUN_PATH_MAX)
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, len);
	return 0;
}

/* Is something accepting connections at path? 1 live, 0 stale/absent, -errno unknown. */
static int probe_live(const char *path)
{
	struct sockaddr_un sa;
	int rc = fill_addr(&sa, path);
	if (rc)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = rc ? errno : 0;
	close(fd);
	if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
		return 1; /* accepted, or its backlog is full: someone listens */
	if (e == ECONNREFUSED || e == ENOENT)
		return 0;
	return -e;
}

/* The directory part of path ("/run/softhba"), "." for a bare name, "/" for "/x". */
static void dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/* The directory must exist; its last component is created (0700) when missing, as /run/softhba is. */
static int ensure_dir(const char *path, const char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return failf(err, errlen, -ENOTDIR, "control socket %s: %s is not a directory; choose another "
				     "path", path, dir);
		return 0;
	}
	if (errno != ENOENT)
		return failf(err, errlen, -errno, "control socket %s: cannot use directory %s: %s", path, dir,
			     strerror(errno));
	if (mkdir(dir, 0700) == 0)
		return 0;
	int e = errno;
	if (e == ENOENT)
		return failf(err, errlen, -ENOENT, "control socket %s: the directory above %s does not exist; create "
			     "it or choose another path", path, dir);
	return failf(err, errlen, -e, "control socket %s: cannot create directory %s: %s%s", path, dir, strerror(e),
		     e == EACCES ? " (run as root, or choose a path you may write)" : "");
}

int rpc_sock_listen(const char *path, dev_t *dev, ino_t *ino, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	char tmp[sizeof(dir) + 48];
	struct sockaddr_un sa;
	struct stat st;
	int fd, rc;

	if (!path || !*path)
		return failf(err, errlen, -EINVAL, "control socket: the path is empty; give a file name such as "
			     "/run/softhba/softhba.sock");
	if (strlen(path) > SUN_PATH_MAX)
		return failf(err, errlen, -ENAMETOOLONG, "control socket %s: the path is %zu bytes long; a Unix "
			     "socket path may have at most %zu, choose a shorter one", path, strlen(path), SUN_PATH_MAX);
	dir_of(path, dir, sizeof(dir));
	if ((rc = ensure_dir(path, dir, err, errlen)))
		return rc;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return failf(err, errlen, -EEXIST, "control socket %s: the file exists and is not a socket; "
				     "remove it or choose another path", path);
		rc = probe_live(path);
		if (rc == 1)
			return failf(err, errlen, -EADDRINUSE, "control socket %s: another daemon is listening on it; "
				     "stop it first, or give this one its own control socket path", path);
		if (rc < 0)
			return failf(err, errlen, rc, "control socket %s: cannot tell whether a daemon still listens on "
				     "it: %s", path, strerror(-rc));
		/* stale: the rename below replaces it */
	} else if (errno != ENOENT) {
		return failf(err, errlen, -errno, "control socket %s: %s", path, strerror(errno));
	}

	int n = snprintf(tmp, sizeof(tmp), "%s/.softhba-ctl.%ld", strcmp(dir, "/") ? dir : "", (long)getpid());
	if (n < 0 || (size_t)n > SUN_PATH_MAX)
		return failf(err, errlen, -ENAMETOOLONG, "control socket %s: the directory name is too long to create "
			     "the socket under a temporary name (at most %zu bytes); choose a shorter path", path,
			     SUN_PATH_MAX - 24);
	fill_addr(&sa, tmp);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return failf(err, errlen, -errno, "control socket %s: socket(): %s", path, strerror(errno));
	(void)unlink(tmp); /* left over by an earlier process with our pid */
	/* umask is process-wide: the file is born 0600, never briefly wider. */
	mode_t old = umask(077);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	umask(old);
	if (rc) {
		close(fd);
		return failf(err, errlen, -e, "control socket %s: cannot create it in %s: %s%s", path, dir, strerror(e),
			     e == EACCES ? " (run as root, or choose a path you may write)" : "");
	}
	if (chmod(tmp, 0600) || listen(fd, 64)) {
		e = errno;
		goto fail_tmp;
	}
	if (rename(tmp, path)) {
		e = errno;
		goto fail_tmp;
	}
	if (stat(path, &st)) {
		e = errno;
		close(fd);
		return failf(err, errlen, -e, "control socket %s: %s", path, strerror(e));
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	return fd;

fail_tmp:
	(void)unlink(tmp);
	close(fd);
	return failf(err, errlen, -e, "control socket %s: cannot put it in place: %s", path, strerror(e));
}

void rpc_sock_unlink(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;
	if (path && lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		(void)unlink(path);
}

/* server.c - the iSCSI server: targets, listening portals, accept and round-robin placement on reactors, shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "iscsi/iscsi_internal.h"

int iscsi_server_create(const struct iscsi_server_opts *opts, struct iscsi_server **out)
{
	struct iscsi_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (opts)
		s->opts = *opts;
	struct iscsi_server_opts *o = &s->opts;
	iscsi_limits_from_opts(&s->lim, o->max_recv_data_segment_length, o->max_burst_length, o->first_burst_length,
			       o->max_outstanding_r2t);
	o->max_recv_data_segment_length = s->lim.max_recv_dsl;
	o->max_burst_length = s->lim.max_burst;
	o->first_burst_length = s->lim.first_burst;
	o->max_outstanding_r2t = s->lim.max_outstanding_r2t;
	if (!o->max_queue_depth)
		o->max_queue_depth = 128;
	if (o->max_queue_depth > 4096)
		o->max_queue_depth = 4096;
	if (!o->nop_interval_s)
		o->nop_interval_s = 30;
	if (!o->nop_timeout_s)
		o->nop_timeout_s = 30;
	if (!o->login_timeout_s)
		o->login_timeout_s = 15;
	if (!o->stall_timeout_s)
		o->stall_timeout_s = 30;
	pthread_mutex_init(&s->lock, NULL);
	s->next_tsih = 1;
	*out = s;
	return 0;
}

int iscsi_server_add_target(struct iscsi_server *s, struct scsi_target *t, const char *alias)
{
	const char *name = scsi_target_name(t);
	if (!name || !*name || strlen(name) > ISCSI_NAME_MAX)
		return -EINVAL;
	if (alias && strlen(alias) > ISCSI_VALUE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->ntargets; i++)
		if (!strcmp(scsi_target_name(s->targets[i].t), name)) {
			pthread_mutex_unlock(&s->lock);
			return -EEXIST;
		}
	struct iscsi_target_entry *nt = realloc(s->targets, (s->ntargets + 1) * sizeof(*nt));
	if (!nt) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	s->targets = nt;
	nt[s->ntargets].t = t;
	nt[s->ntargets].alias = alias ? strdup(alias) : NULL;
	if (alias && !nt[s->ntargets].alias) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	s->ntargets++;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

struct scsi_target *iscsi_server_find_target(struct iscsi_server *srv, const char *name, const char **alias)
{
	struct scsi_target *found = NULL;
	pthread_mutex_lock(&srv->lock);
	for (unsigned i = 0; i < srv->ntargets; i++)
		if (!strcasecmp(scsi_target_name(srv->targets[i].t), name)) {
			found = srv->targets[i].t;
			if (alias)
				*alias = srv->targets[i].alias;
			break;
		}
	pthread_mutex_unlock(&srv->lock);
	return found;
}

int iscsi_sockaddr_str(const struct sockaddr_storage *ss, char *buf, size_t len, uint16_t *port)
{
	char host[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s", host);
		if (port)
			*port = ntohs(sin->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], host, sizeof(host));
			snprintf(buf, len, "%s", host);
		} else {
			inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
			snprintf(buf, len, "[%s]", host);
		}
		if (port)
			*port = ntohs(sin6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* ---- accept ---- */

static void conn_start_msg(void *arg)
{
	iscsi_conn_start(arg);
}

static void listener_event(struct reactor_fd *w, uint32_t events)
{
	struct iscsi_listener *l = w->arg;
	struct iscsi_server *s = l->srv;
	(void)events;
	for (int i = 0; i < 64 && !atomic_load(&s->shutting_down); i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn(LOGC_ISCSI, NULL, "accept on port %u: %s", l->port, strerror(errno));
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct iscsi_conn *c = iscsi_conn_new(s, fd);
		if (!c) {
			log_err(LOGC_ISCSI, NULL, "out of memory accepting a connection");
			close(fd);
			continue;
		}
		atomic_fetch_add(&s->live_conns, 1);
		unsigned n = reactor_count();
		unsigned idx = atomic_fetch_add(&s->rr_next, 1) % (n ? n : 1);
		struct reactor *dst = reactor_get(idx);
		if (!dst || dst == reactor_self() || reactor_send_msg(dst, conn_start_msg, c) != 0)
			iscsi_conn_start(c);
	}
}

int iscsi_server_listen(struct iscsi_server *s, const char *host, uint16_t port)
{
	if (!reactor_self())
		return -EPERM;
	if (s->nlisteners >= ISCSI_MAX_LISTENERS)
		return -ENOSPC;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	if (getaddrinfo(host, portstr, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = -errno;
		freeaddrinfo(ai);
		return e;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		int e = -errno;
		freeaddrinfo(ai);
		close(fd);
		return e;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint16_t actual = port;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		char buf[64];
		iscsi_sockaddr_str(&ss, buf, sizeof(buf), &actual);
	}
	struct iscsi_listener *l = &s->listeners[s->nlisteners];
	memset(l, 0, sizeof(*l));
	l->srv = s;
	l->fd = fd;
	l->port = actual;
	l->owner = reactor_self();
	int rc = reactor_fd_add(&l->w, fd, REACTOR_EV_IN, listener_event, l);
	if (rc) {
		close(fd);
		return rc;
	}
	l->active = true;
	s->nlisteners++;
	log_notice(LOGC_ISCSI, NULL, "listening on %s port %u", host, actual);
	return 0;
}

uint16_t iscsi_server_port(const struct iscsi_server *s, unsigned idx)
{
	return idx < s->nlisteners ? s->listeners[idx].port : 0;
}

/* ---- shutdown ---- */

static void shutdown_done_msg(void *arg)
{
	struct iscsi_server *s = arg;
	log_notice(LOGC_ISCSI, NULL, "iSCSI server stopped");
	if (s->shutdown_done)
		s->shutdown_done(s->shutdown_arg);
}

void iscsi_server_conn_gone(struct iscsi_server *s)
{
	if (atomic_fetch_sub(&s->live_conns, 1) == 1 && atomic_load(&s->shutting_down) &&
	    !atomic_exchange(&s->shutdown_done_sent, true)) {
		if (reactor_send_msg(s->shutdown_reactor, shutdown_done_msg, s) != 0)
			shutdown_done_msg(s);
	}
}

static void close_listener_msg(void *arg)
{
	struct iscsi_listener *l = arg;
	struct iscsi_server *s = l->srv;
	if (l->active) {
		reactor_fd_del(&l->w);
		close(l->fd);
		l->fd = -1;
		l->active = false;
	}
	iscsi_server_conn_gone(s);
}

static void close_all_msg(void *arg)
{
	struct iscsi_server *s = arg;
	unsigned idx = reactor_index(reactor_self());
	for (struct iscsi_conn *c = s->conns[idx]; c; c = c->next)
		iscsi_conn_shutdown(c);
	iscsi_server_conn_gone(s);
}

void iscsi_server_shutdown(struct iscsi_server *s, void (*done)(void *arg), void *arg)
{
	s->shutdown_done = done;
	s->shutdown_arg = arg;
	s->shutdown_reactor = reactor_self();
	/* One count for this call, one per message in flight: done() runs after all of them. */
	atomic_fetch_add(&s->live_conns, 1);
	atomic_store(&s->shutting_down, true);
	for (unsigned i = 0; i < s->nlisteners; i++) {
		struct iscsi_listener *l = &s->listeners[i];
		atomic_fetch_add(&s->live_conns, 1);
		if (l->owner == reactor_self() || reactor_send_msg(l->owner, close_listener_msg, l) != 0)
			close_listener_msg(l);
	}
	unsigned n = reactor_count();
	for (unsigned i = 0; i < n && i < ISCSI_MAX_REACTORS; i++) {
		atomic_fetch_add(&s->live_conns, 1);
		if (reactor_send_msg(reactor_get(i), close_all_msg, s) != 0)
			iscsi_server_conn_gone(s);
	}
	iscsi_server_conn_gone(s);
}

void iscsi_server_destroy(struct iscsi_server *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nlisteners; i++)
		if (s->listeners[i].active && s->listeners[i].fd >= 0)
			close(s->listeners[i].fd); /* never listened on a reactor loop that ran */
	for (unsigned i = 0; i < s->ntargets; i++)
		free(s->targets[i].alias);
	free(s->targets);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* session.c - iSCSI sessions: the server-wide table (login path, under a mutex), reinstatement, the CmdSN window and ordering. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "iscsi/iscsi_internal.h"

struct iscsi_cmd_hold {
	struct iscsi_cmd_hold *next;
	uint32_t cmdsn;
	uint8_t hdr[ISCSI_BHS_LEN];
	uint32_t dlen;
	uint8_t data[];
};

/* ---- CmdSN window (RFC 7143 4.2.2.1) ---- */

int iscsi_cmdsn_classify(const struct iscsi_session *s, uint32_t cmdsn, bool immediate)
{
	if (immediate || cmdsn == s->exp_cmd_sn)
		return 0;
	if (sn_in_window(cmdsn, s->exp_cmd_sn + 1, s->max_cmd_sn)) {
		/* A duplicate of a command already held is ignored. */
		for (struct iscsi_task *t = s->held; t; t = t->held_next)
			if (t->cmdsn == cmdsn)
				return -1;
		for (struct iscsi_cmd_hold *h = s->held_pdus; h; h = h->next)
			if (h->cmdsn == cmdsn)
				return -1;
		return 1;
	}
	return -1;
}

int iscsi_cmdsn_check(struct iscsi_session *s, uint32_t cmdsn, bool immediate)
{
	int r = iscsi_cmdsn_classify(s, cmdsn, immediate);
	if (r == 0 && !immediate)
		s->exp_cmd_sn++;
	return r;
}

void iscsi_session_update_window(struct iscsi_session *s)
{
	uint32_t depth = s->srv->opts.max_queue_depth;
	uint32_t free_slots = s->window_used >= depth ? 0 : depth - s->window_used;
	uint32_t max = s->exp_cmd_sn + free_slots - 1;
	/* MaxCmdSN never moves backwards: the initiator may already use the old window. */
	if (sn_gt(max, s->max_cmd_sn))
		s->max_cmd_sn = max;
}

void iscsi_session_cmd_finished(struct iscsi_session *s, bool immediate)
{
	if (immediate) {
		if (s->immediate_used)
			s->immediate_used--;
	} else if (s->window_used) {
		s->window_used--;
	}
}

int iscsi_session_hold_pdu(struct iscsi_session *s, uint32_t cmdsn, const uint8_t *hdr, size_t hdr_len,
			   const uint8_t *data, uint32_t dlen)
{
	(void)hdr_len;
	unsigned n = 0;
	for (struct iscsi_cmd_hold *h = s->held_pdus; h; h = h->next)
		n++;
	if (n >= s->srv->opts.max_queue_depth)
		return 0; /* cannot be legal: more held than the window holds; drop */
	struct iscsi_cmd_hold *h = malloc(sizeof(*h) + dlen);
	if (!h)
		return -ENOMEM;
	h->cmdsn = cmdsn;
	memcpy(h->hdr, hdr, ISCSI_BHS_LEN);
	h->dlen = dlen;
	if (dlen)
		memcpy(h->data, data, dlen);
	h->next = s->held_pdus;
	s->held_pdus = h;
	return 0;
}

void iscsi_session_hold_task(struct iscsi_session *s, struct iscsi_task *t)
{
	/* Held tasks stay on the connection's task list too; held_next chains the held ones. */
	t->state = TASK_WAIT_ORDER;
	t->held_next = s->held;
	s->held = t;
}

void iscsi_session_unhold_task(struct iscsi_session *s, struct iscsi_task *t)
{
	for (struct iscsi_task **pp = &s->held; *pp; pp = &(*pp)->held_next)
		if (*pp == t) {
			*pp = t->held_next;
			t->held_next = NULL;
			return;
		}
}

void iscsi_session_run_held(struct iscsi_session *s)
{
	bool progress = true;
	while (progress && !s->closing) {
		progress = false;
		for (struct iscsi_task *t = s->held; t; t = t->held_next)
			if (t->cmdsn == s->exp_cmd_sn) {
				iscsi_session_unhold_task(s, t);
				s->exp_cmd_sn++;
				iscsi_task_start(t);
				progress = true;
				break;
			}
		if (progress)
			continue;
		for (struct iscsi_cmd_hold **pp = &s->held_pdus; *pp; pp = &(*pp)->next) {
			struct iscsi_cmd_hold *h = *pp;
			if (h->cmdsn != s->exp_cmd_sn)
				continue;
			*pp = h->next;
			s->exp_cmd_sn++;
			if (s->conn)
				iscsi_dispatch_ordered(s->conn, h->hdr, h->dlen ? h->data : NULL, h->dlen);
			free(h);
			progress = true;
			break;
		}
	}
}

void iscsi_session_drop_held(struct iscsi_session *s)
{
	while (s->held_pdus) {
		struct iscsi_cmd_hold *h = s->held_pdus;
		s->held_pdus = h->next;
		free(h);
	}
	while (s->held) {
		struct iscsi_task *t = s->held;
		s->held = t->held_next;
		t->held_next = NULL;
	}
}

void iscsi_dispatch_ordered(struct iscsi_conn *c, const uint8_t *hdr, const uint8_t *data, uint32_t dlen)
{
	if (c->state != CONN_FULL_FEATURE)
		return;
	switch (bhs_opcode(hdr)) {
	case ISCSI_OP_NOP_OUT:
		iscsi_nop_out_rx(c, hdr, data, dlen);
		break;
	case ISCSI_OP_TEXT_REQ:
		iscsi_text_rx(c, hdr, data, dlen);
		break;
	case ISCSI_OP_TMF_REQ:
		iscsi_tmf_rx(c, hdr);
		break;
	case ISCSI_OP_LOGOUT_REQ:
		iscsi_logout_rx(c, hdr);
		break;
	default:
		iscsi_send_reject(c, ISCSI_REJECT_CMD_NOT_SUPPORTED, hdr);
		break;
	}
}

/* ---- table ---- */

struct iscsi_session *iscsi_session_find_locked(struct iscsi_server *srv, const char *iname, const uint8_t isid[6],
						const char *tname)
{
	for (struct iscsi_session *s = srv->sessions; s; s = s->next)
		if (!memcmp(s->isid, isid, 6) && !strcmp(s->initiator_name, iname) &&
		    !strcasecmp(s->target_name, tname))
			return s;
	return NULL;
}

struct iscsi_session *iscsi_session_find_tsih_locked(struct iscsi_server *srv, uint16_t tsih)
{
	for (struct iscsi_session *s = srv->sessions; s; s = s->next)
		if (s->tsih == tsih)
			return s;
	return NULL;
}

static uint16_t alloc_tsih_locked(struct iscsi_server *srv)
{
	for (unsigned tries = 0; tries < 65536; tries++) {
		uint16_t t = srv->next_tsih++;
		if (srv->next_tsih == 0)
			srv->next_tsih = 1;
		if (t && !iscsi_session_find_tsih_locked(srv, t))
			return t;
	}
	return 0;
}

int iscsi_session_create(struct iscsi_conn *c, struct iscsi_session **out)
{
	struct iscsi_server *srv = c->srv;
	struct iscsi_session *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->srv = srv;
	s->conn = c;
	s->reactor = c->reactor;
	memcpy(s->isid, c->login.isid, 6);
	s->cid = c->login.cid;
	snprintf(s->initiator_name, sizeof(s->initiator_name), "%s", c->params.initiator_name);
	snprintf(s->target_name, sizeof(s->target_name), "%s", c->params.discovery ? "" : c->params.target_name);
	s->discovery = c->params.discovery;
	s->target = c->login.target;
	s->exp_cmd_sn = c->login.exp_cmd_sn;
	s->max_cmd_sn = s->exp_cmd_sn + srv->opts.max_queue_depth - 1;
	if (!s->discovery) {
		char port[ISCSI_NAME_MAX + 32];
		snprintf(port, sizeof(port), "%s,i,0x%02x%02x%02x%02x%02x%02x", s->initiator_name, s->isid[0],
			 s->isid[1], s->isid[2], s->isid[3], s->isid[4], s->isid[5]);
		int rc = scsi_nexus_create(s->target, port, &s->nexus);
		if (rc) {
			free(s);
			return rc;
		}
	}
	pthread_mutex_lock(&srv->lock);
	/* A login that named a TSIH (connection reinstatement) keeps it when it is free again. */
	if (c->login.tsih && !iscsi_session_find_tsih_locked(srv, c->login.tsih))
		s->tsih = c->login.tsih;
	else
		s->tsih = alloc_tsih_locked(srv);
	if (!s->tsih) {
		pthread_mutex_unlock(&srv->lock);
		if (s->nexus)
			scsi_nexus_destroy(s->nexus);
		free(s);
		return -ENOSPC;
	}
	s->next = srv->sessions;
	srv->sessions = s;
	pthread_mutex_unlock(&srv->lock);
	*out = s;
	return 0;
}

struct on_closed_msg {
	void (*fn)(void *arg);
	void *arg;
};

static void on_closed_run(void *arg)
{
	struct on_closed_msg *m = arg;
	m->fn(m->arg);
	free(m);
}

void iscsi_session_destroy(struct iscsi_session *s)
{
	struct iscsi_server *srv = s->srv;
	iscsi_session_drop_held(s);
	pthread_mutex_lock(&srv->lock);
	for (struct iscsi_session **pp = &srv->sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	void (*fn)(void *) = s->on_closed;
	void *arg = s->on_closed_arg;
	struct reactor *r = s->on_closed_reactor;
	pthread_mutex_unlock(&srv->lock);
	if (s->nexus)
		scsi_nexus_destroy(s->nexus);
	free(s);
	if (fn) {
		struct on_closed_msg *m = malloc(sizeof(*m));
		if (m) {
			m->fn = fn;
			m->arg = arg;
			if (reactor_send_msg(r, on_closed_run, m) == 0)
				return;
			free(m);
		}
		/* Cannot reach the waiter's reactor: it would wait forever; run here only if it is ours. */
		if (r == reactor_self())
			fn(arg);
	}
}

int iscsi_server_sessions(struct iscsi_server *srv, struct iscsi_session_info **out, unsigned *n)
{
	struct iscsi_session_info *a = NULL;
	unsigned cnt = 0, i = 0;

	/* Only fields fixed at creation are read, under the lock that keeps the session in the list. */
	pthread_mutex_lock(&srv->lock);
	for (struct iscsi_session *s = srv->sessions; s; s = s->next)
		cnt++;
	if (cnt && !(a = calloc(cnt, sizeof(*a)))) {
		pthread_mutex_unlock(&srv->lock);
		return -ENOMEM;
	}
	for (struct iscsi_session *s = srv->sessions; s && i < cnt; s = s->next, i++) {
		snprintf(a[i].initiator_name, sizeof(a[i].initiator_name), "%s", s->initiator_name);
		snprintf(a[i].target_name, sizeof(a[i].target_name), "%s", s->target_name);
		memcpy(a[i].isid, s->isid, sizeof(a[i].isid));
		a[i].tsih = s->tsih;
		a[i].cid = s->cid;
		a[i].reactor = reactor_index(s->reactor);
		a[i].discovery = s->discovery;
	}
	pthread_mutex_unlock(&srv->lock);
	*out = a;
	*n = cnt;
	return 0;
}

struct kill_req {
	struct iscsi_server *srv;
	struct iscsi_session *sess;
	uint16_t tsih;
};

static void kill_msg(void *arg)
{
	struct kill_req *k = arg;
	struct iscsi_server *srv = k->srv;
	struct iscsi_conn *victim = NULL;
	pthread_mutex_lock(&srv->lock);
	for (struct iscsi_session *s = srv->sessions; s; s = s->next)
		if (s == k->sess && s->tsih == k->tsih) {
			victim = s->conn;
			break;
		}
	pthread_mutex_unlock(&srv->lock);
	/* The session lives on this reactor, so it cannot go away between the unlock and here. */
	if (victim)
		iscsi_conn_close(victim, "session reinstated");
	free(k);
}

int iscsi_session_reinstate(struct iscsi_conn *c, void (*fn)(void *arg))
{
	struct iscsi_server *srv = c->srv;
	pthread_mutex_lock(&srv->lock);
	struct iscsi_session *old =
		iscsi_session_find_locked(srv, c->params.initiator_name, c->login.isid, c->params.target_name);
	if (!old) {
		pthread_mutex_unlock(&srv->lock);
		return 0;
	}
	if (old->on_closed) {
		pthread_mutex_unlock(&srv->lock);
		return -EBUSY; /* another login is already reinstating it */
	}
	struct kill_req *k = malloc(sizeof(*k));
	if (!k) {
		pthread_mutex_unlock(&srv->lock);
		return -ENOMEM;
	}
	k->srv = srv;
	k->sess = old;
	k->tsih = old->tsih;
	old->on_closed = fn;
	old->on_closed_arg = c;
	old->on_closed_reactor = c->reactor;
	struct reactor *r = old->reactor;
	pthread_mutex_unlock(&srv->lock);
	c->refs++;
	log_notice(LOGC_ISCSI, c->ctx, "reinstating session TSIH %u of %s", k->tsih, c->params.initiator_name);
	if (reactor_send_msg(r, kill_msg, k) != 0) {
		pthread_mutex_lock(&srv->lock);
		if (iscsi_session_find_tsih_locked(srv, k->tsih) == old)
			old->on_closed = NULL;
		pthread_mutex_unlock(&srv->lock);
		c->refs--;
		free(k);
		return -ENOMEM;
	}
	return 1;
}

/* login.c - the iSCSI login phase (RFC 7143 section 6): stages, text spanning PDUs, checks, session binding and reinstatement. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "iscsi/iscsi_internal.h"

#define LOGIN_FLAGS(t, c, csg, nsg) \
	(uint8_t)(((t) ? LOGIN_FLAG_TRANSIT : 0) | ((c) ? LOGIN_FLAG_CONTINUE : 0) | ((csg) << 2) | (nsg))

static void login_hdr(struct iscsi_conn *c, uint8_t *h, uint8_t flags, uint16_t status, uint16_t tsih)
{
	struct iscsi_login *L = &c->login;
	h[0] = ISCSI_OP_LOGIN_RSP;
	h[1] = flags;
	h[LOGIN_VMAX] = 0;
	h[LOGIN_VMIN] = 0;
	memcpy(h + LOGIN_ISID, L->isid, 6);
	put_be16(h + LOGIN_TSIH, tsih);
	put_be32(h + BHS_ITT, L->itt);
	put_be32(h + LOGIN_STATSN, c->stat_sn++);
	put_be32(h + LOGIN_EXPCMDSN, L->exp_cmd_sn);
	put_be32(h + LOGIN_MAXCMDSN, L->exp_cmd_sn + c->srv->opts.max_queue_depth - 1);
	h[LOGIN_STATUS_CLASS] = (uint8_t)(status >> 8);
	h[LOGIN_STATUS_DETAIL] = (uint8_t)status;
}

/* Refuse the login with status and close once the response is out. */
static int login_fail(struct iscsi_conn *c, uint16_t status, const char *why)
{
	struct iscsi_txpdu *p = iscsi_txpdu_get(c);
	log_notice(LOGC_ISCSI, c->ctx, "login of %s to %s refused: %s (status 0x%04x, %s)",
		   c->params.initiator_name[0] ? c->params.initiator_name : "?",
		   c->params.target_name[0] ? c->params.target_name : "-", why, status,
		   iscsi_login_status_str(status));
	if (!p)
		return -ENOMEM;
	login_hdr(c, p->hdr, LOGIN_FLAGS(0, 0, c->login.csg, 0), status, c->login.tsih);
	p->close_after = true;
	iscsi_conn_queue(c, p);
	c->state = CONN_LOGGED_OUT; /* read nothing more */
	return 0;
}

/* Queue the next chunk of the response text; the last chunk carries flags. */
static int login_send_chunk(struct iscsi_conn *c, uint8_t final_flags, uint16_t tsih)
{
	struct iscsi_login *L = &c->login;
	size_t left = L->out.len - L->out_sent;
	uint32_t n = (uint32_t)MIN(left, (size_t)ISCSI_LOGIN_DSL);
	bool more = left > n;
	struct iscsi_txpdu *p = iscsi_txpdu_get(c);
	if (!p)
		return -ENOMEM;
	uint8_t flags = more ? LOGIN_FLAGS(0, 1, L->csg, 0) : final_flags;
	login_hdr(c, p->hdr, flags, LOGIN_OK, more ? L->tsih : tsih);
	if (n && iscsi_txpdu_set_data(p, L->out.buf + L->out_sent, n)) {
		free(p);
		return -ENOMEM;
	}
	L->out_sent += n;
	iscsi_conn_queue(c, p);
	if (!more) {
		iscsi_text_reset(&L->out);
		L->out_sent = 0;
	}
	return 0;
}

/* Login is complete: bind the session and answer with its TSIH. */
static int login_finish(struct iscsi_conn *c)
{
	struct iscsi_login *L = &c->login;
	struct iscsi_session *s;
	int rc = iscsi_session_create(c, &s);
	if (rc)
		return login_fail(c, LOGIN_OUT_OF_RESOURCES, "cannot create the session");
	c->sess = s;
	struct iscsi_params *p = &c->params;
	p->max_recv_dsl = L->mrdsl_sent ? c->srv->lim.max_recv_dsl : ISCSI_LOGIN_DSL;
	if (p->first_burst > p->max_burst)
		p->first_burst = p->max_burst;
	if (p->max_outstanding_r2t > ISCSI_MAX_R2T_LIMIT)
		p->max_outstanding_r2t = ISCSI_MAX_R2T_LIMIT;
	rc = login_send_chunk(c, L->final_flags, s->tsih);
	if (rc)
		return rc;
	/* Digests apply from the first PDU after the final Login Response. */
	c->hdigest = p->header_digest;
	c->ddigest = p->data_digest;
	c->state = CONN_FULL_FEATURE;
	snprintf(c->ctx, sizeof(c->ctx), "sess=%s:0x%02x%02x%02x%02x%02x%02x", p->initiator_name, L->isid[0],
		 L->isid[1], L->isid[2], L->isid[3], L->isid[4], L->isid[5]);
	/* INFO, not NOTICE: initiators (and test suites) open sessions by the
	 * hundred, and refusals, reinstatements and drops are the news. */
	log_info(LOGC_ISCSI, c->ctx,
		   "%s session TSIH %u to %s from %s: MRDSL %u/%u burst %u/%u R2T %u InitialR2T=%s "
		   "ImmediateData=%s digests %s/%s",
		   p->discovery ? "discovery" : "normal", s->tsih, p->discovery ? "-" : p->target_name, c->peer,
		   p->max_recv_dsl, p->max_xmit_dsl, p->first_burst, p->max_burst, p->max_outstanding_r2t,
		   p->initial_r2t ? "Yes" : "No", p->immediate_data ? "Yes" : "No", p->header_digest ? "CRC32C" : "None",
		   p->data_digest ? "CRC32C" : "None");
	iscsi_text_free(&L->in);
	iscsi_text_free(&L->out);
	return 0;
}

static void reinstate_done(void *arg)
{
	struct iscsi_conn *c = arg;
	c->refs--;
	c->login.waiting_reinstate = false;
	if (c->state == CONN_CLOSING) {
		iscsi_conn_maybe_free(c);
		return;
	}
	if (login_finish(c))
		iscsi_conn_close(c, "out of memory");
}

/* Checks on the first complete request (RFC 7143 6.1, 13.x): names, target, TSIH. */
static int login_first_checks(struct iscsi_conn *c)
{
	struct iscsi_login *L = &c->login;
	struct iscsi_params *p = &c->params;
	if (!p->initiator_name_seen)
		return login_fail(c, LOGIN_MISSING_PARAM, "no InitiatorName");
	if (!p->discovery) {
		if (!p->target_name_seen)
			return login_fail(c, LOGIN_MISSING_PARAM, "normal session without TargetName");
		L->target = iscsi_server_find_target(c->srv, p->target_name, &L->target_alias);
		if (!L->target)
			return login_fail(c, LOGIN_NOT_FOUND, "unknown target");
	}
	if (L->tsih) {
		/* Adding a connection (or reinstating one) in an existing session. */
		pthread_mutex_lock(&c->srv->lock);
		struct iscsi_session *s = iscsi_session_find_tsih_locked(c->srv, L->tsih);
		bool same = s && !memcmp(s->isid, L->isid, 6) && !strcmp(s->initiator_name, p->initiator_name);
		uint16_t cid = s ? s->cid : 0;
		pthread_mutex_unlock(&c->srv->lock);
		if (!same)
			return login_fail(c, LOGIN_NO_SESSION, "TSIH names no session of this initiator");
		if (cid != L->cid)
			return login_fail(c, LOGIN_TOO_MANY_CONNS, "MaxConnections is 1");
	}
	return 1;
}

static int login_respond(struct iscsi_conn *c);

static int login_process(struct iscsi_conn *c, bool transit, int nsg)
{
	struct iscsi_login *L = &c->login;
	struct iscsi_params *p = &c->params;

	if (!L->neg_init) {
		iscsi_neg_init(&L->neg, p, &c->srv->lim, ISCSI_NEG_SECURITY, &L->out);
		L->neg_init = true;
	}
	L->neg.phase = L->csg == ISCSI_STAGE_SECURITY ? ISCSI_NEG_SECURITY : ISCSI_NEG_OPERATIONAL;
	iscsi_text_reset(&L->out);
	L->out_sent = 0;
	int rc = iscsi_neg_process(&L->neg, L->in.buf ? L->in.buf : "", L->in.len);
	iscsi_text_reset(&L->in);
	if (rc || L->neg.fail)
		return login_fail(c, L->neg.fail ? L->neg.fail : LOGIN_INITIATOR_ERROR,
				  L->neg.fail_why ? L->neg.fail_why : "bad key=value text");
	if (!L->first_done) {
		L->first_done = true;
		rc = login_first_checks(c);
		if (rc <= 0)
			return rc;
	}
	if (L->out.overflow)
		return login_fail(c, LOGIN_INITIATOR_ERROR, "response text too long");

	/* Our declarations. */
	if (!L->tpgt_sent && !p->discovery) {
		iscsi_text_add(&L->out, "TargetPortalGroupTag", "1");
		L->tpgt_sent = true;
		if (L->target_alias)
			iscsi_text_add(&L->out, "TargetAlias", L->target_alias);
	}
	if (L->csg == ISCSI_STAGE_OPERATIONAL && !L->mrdsl_sent) {
		char v[16];
		snprintf(v, sizeof(v), "%u", c->srv->lim.max_recv_dsl);
		iscsi_text_add(&L->out, "MaxRecvDataSegmentLength", v);
		L->mrdsl_sent = true;
	}

	if (L->csg == ISCSI_STAGE_SECURITY && transit && L->neg.auth_rejected)
		return login_fail(c, LOGIN_AUTH_FAILED, "no acceptable AuthMethod (only None is supported)");

	int next = L->csg;
	if (transit) {
		bool ok = (L->csg == ISCSI_STAGE_SECURITY &&
			   (nsg == ISCSI_STAGE_OPERATIONAL || nsg == ISCSI_STAGE_FULL_FEATURE)) ||
			  (L->csg == ISCSI_STAGE_OPERATIONAL && nsg == ISCSI_STAGE_FULL_FEATURE);
		if (!ok)
			return login_fail(c, LOGIN_INITIATOR_ERROR, "invalid stage transition");
		next = nsg;
	}
	L->final_flags = LOGIN_FLAGS(transit, 0, L->csg, transit ? next : 0);
	L->pending_transit = transit;
	L->pending_next = next;
	return login_respond(c);
}

/* Send the response (or its next chunk); the last chunk applies the stage transition. */
static int login_respond(struct iscsi_conn *c)
{
	struct iscsi_login *L = &c->login;
	if (L->out.len - L->out_sent > ISCSI_LOGIN_DSL)
		return login_send_chunk(c, 0, L->tsih); /* C bit: the initiator asks for more */
	if (L->pending_transit && L->pending_next == ISCSI_STAGE_FULL_FEATURE) {
		if (!c->params.discovery) {
			int rc = iscsi_session_reinstate(c, reinstate_done);
			if (rc < 0)
				return login_fail(c, LOGIN_SERVICE_UNAVAILABLE, "session reinstatement in progress");
			if (rc == 1) {
				L->waiting_reinstate = true;
				return 0;
			}
		}
		return login_finish(c);
	}
	int rc = login_send_chunk(c, L->final_flags, L->tsih);
	if (!rc && L->pending_transit)
		L->csg = L->pending_next;
	L->pending_transit = false;
	return rc;
}

int iscsi_login_rx(struct iscsi_conn *c, const uint8_t *h, const uint8_t *data, uint32_t dlen)
{
	struct iscsi_login *L = &c->login;
	uint8_t flags = h[1];
	bool transit = flags & LOGIN_FLAG_TRANSIT, cont = flags & LOGIN_FLAG_CONTINUE;
	int csg = LOGIN_CSG(flags), nsg = LOGIN_NSG(flags);

	if (L->waiting_reinstate)
		return 0; /* the initiator must wait for our answer; ignore */
	if (!L->started) {
		L->started = true;
		memcpy(L->isid, h + LOGIN_ISID, 6);
		L->tsih = get_be16(h + LOGIN_TSIH);
		L->cid = get_be16(h + LOGIN_CID);
		L->exp_cmd_sn = get_be32(h + LOGIN_CMDSN);
		c->stat_sn = get_be32(h + LOGIN_EXPSTATSN);
		L->csg = csg;
		L->itt = bhs_itt(h);
		if (h[LOGIN_VMIN] > 0)
			return login_fail(c, LOGIN_UNSUPPORTED_VERSION, "only iSCSI version 0 is supported");
		if (csg != ISCSI_STAGE_SECURITY && csg != ISCSI_STAGE_OPERATIONAL)
			return login_fail(c, LOGIN_INITIATOR_ERROR, "first login request in an invalid stage");
	} else {
		L->itt = bhs_itt(h);
		if (memcmp(L->isid, h + LOGIN_ISID, 6) || L->tsih != get_be16(h + LOGIN_TSIH) ||
		    L->cid != get_be16(h + LOGIN_CID))
			return login_fail(c, LOGIN_INITIATOR_ERROR, "ISID/TSIH/CID changed during login");
		if (csg != L->csg)
			return login_fail(c, LOGIN_INITIATOR_ERROR, "CSG does not match the current stage");
	}
	if (transit && cont)
		return login_fail(c, LOGIN_INITIATOR_ERROR, "T and C bits both set");
	if (transit && nsg == 2)
		return login_fail(c, LOGIN_INITIATOR_ERROR, "reserved NSG");

	/* Our previous response spans PDUs: the initiator asks for the rest with an empty request. */
	if (L->out_sent && L->out_sent < L->out.len) {
		if (dlen)
			return login_fail(c, LOGIN_INITIATOR_ERROR, "text sent while our response continues");
		return login_respond(c);
	}
	if (dlen && iscsi_text_append(&L->in, data, dlen))
		return login_fail(c, LOGIN_INITIATOR_ERROR, "login text too long");
	if (cont) {
		/* More text follows: acknowledge with an empty response. */
		struct iscsi_txpdu *p = iscsi_txpdu_get(c);
		if (!p)
			return -ENOMEM;
		login_hdr(c, p->hdr, LOGIN_FLAGS(0, 0, L->csg, 0), LOGIN_OK, L->tsih);
		iscsi_conn_queue(c, p);
		return 0;
	}
	return login_process(c, transit, nsg);
}

void iscsi_login_cleanup(struct iscsi_conn *c)
{
	iscsi_text_free(&c->login.in);
	iscsi_text_free(&c->login.out);
}

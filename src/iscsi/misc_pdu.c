/* misc_pdu.c - NOP-Out/NOP-In pings, Text requests (SendTargets, key renegotiation, continuation) and Logout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "iscsi/iscsi_internal.h"

/* ---- NOP ---- */

void iscsi_nop_out_rx(struct iscsi_conn *c, const uint8_t *h, const uint8_t *data, uint32_t dlen)
{
	uint32_t itt = bhs_itt(h), ttt = get_be32(h + NOP_TTT);
	if (ttt != ISCSI_RSVD_TAG) {
		/* The answer to our ping. */
		if (ttt == c->nop_ttt)
			c->nop_ttt = ISCSI_RSVD_TAG;
		if (itt == ISCSI_RSVD_TAG)
			return;
	}
	if (itt == ISCSI_RSVD_TAG)
		return; /* a one-way NOP-Out: no answer */
	struct iscsi_txpdu *p = iscsi_txpdu_get(c);
	if (!p) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	p->hdr[0] = ISCSI_OP_NOP_IN;
	p->hdr[1] = ISCSI_FLAG_FINAL;
	memcpy(p->hdr + BHS_LUN, h + BHS_LUN, 8);
	put_be32(p->hdr + BHS_ITT, itt);
	put_be32(p->hdr + NOP_TTT, ISCSI_RSVD_TAG);
	iscsi_conn_fill_sn(c, p->hdr, true);
	/* Echo the ping data, within what the initiator accepts. */
	uint32_t n = MIN(dlen, c->params.max_xmit_dsl);
	if (n && data && iscsi_txpdu_set_data(p, data, n)) {
		free(p);
		iscsi_conn_close(c, "out of memory");
		return;
	}
	iscsi_conn_queue(c, p);
}

void iscsi_nop_ping(struct iscsi_conn *c)
{
	struct iscsi_txpdu *p = iscsi_txpdu_get(c);
	if (!p)
		return;
	if (++c->next_ttt == ISCSI_RSVD_TAG)
		c->next_ttt = 1;
	c->nop_ttt = c->next_ttt;
	c->nop_sent_ns = now_ns();
	p->hdr[0] = ISCSI_OP_NOP_IN;
	p->hdr[1] = ISCSI_FLAG_FINAL;
	put_be32(p->hdr + BHS_ITT, ISCSI_RSVD_TAG);
	put_be32(p->hdr + NOP_TTT, c->nop_ttt);
	iscsi_conn_fill_sn(c, p->hdr, false); /* a ping does not advance StatSN */
	iscsi_conn_queue(c, p);
}

/* ---- SendTargets ---- */

static void add_target_entry(struct iscsi_conn *c, struct scsi_target *t, struct iscsi_text *out)
{
	char addr[96];
	iscsi_text_add(out, "TargetName", scsi_target_name(t));
	snprintf(addr, sizeof(addr), "%s:%u,1", c->local_addr, c->local_port);
	iscsi_text_add(out, "TargetAddress", addr);
}

void iscsi_send_targets(struct iscsi_conn *c, const char *val, struct iscsi_text *out)
{
	struct iscsi_server *srv = c->srv;
	bool discovery = c->sess && c->sess->discovery;
	if (!strcmp(val, "All")) {
		if (!discovery) {
			/* "All" belongs to discovery sessions (RFC 7143 13.3). */
			iscsi_text_add(out, "SendTargets", "Reject");
			return;
		}
		pthread_mutex_lock(&srv->lock);
		unsigned n = srv->ntargets;
		pthread_mutex_unlock(&srv->lock);
		for (unsigned i = 0; i < n; i++)
			add_target_entry(c, srv->targets[i].t, out);
		return;
	}
	if (!*val) {
		if (discovery) {
			iscsi_text_add(out, "SendTargets", "Reject");
			return;
		}
		add_target_entry(c, c->sess->target, out);
		return;
	}
	struct scsi_target *t = iscsi_server_find_target(srv, val, NULL);
	if (t)
		add_target_entry(c, t, out);
}

/* ---- Text ---- */

static void text_send_chunk(struct iscsi_conn *c, const uint8_t *req)
{
	size_t left = c->text_out.len - c->text_out_sent;
	uint32_t n = (uint32_t)MIN(left, (size_t)c->params.max_xmit_dsl);
	bool more = left > n;
	struct iscsi_txpdu *p = iscsi_txpdu_get(c);
	if (!p) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	p->hdr[0] = ISCSI_OP_TEXT_RSP;
	p->hdr[1] = more ? TEXT_FLAG_CONTINUE : ISCSI_FLAG_FINAL;
	memcpy(p->hdr + BHS_LUN, req + BHS_LUN, 8);
	put_be32(p->hdr + BHS_ITT, bhs_itt(req));
	if (more) {
		if (++c->next_ttt == ISCSI_RSVD_TAG)
			c->next_ttt = 1;
		c->text_ttt = c->next_ttt;
		c->text_itt = bhs_itt(req);
	} else {
		c->text_ttt = ISCSI_RSVD_TAG;
	}
	put_be32(p->hdr + TEXT_TTT, c->text_ttt);
	iscsi_conn_fill_sn(c, p->hdr, true);
	if (n && iscsi_txpdu_set_data(p, c->text_out.buf + c->text_out_sent, n)) {
		free(p);
		iscsi_conn_close(c, "out of memory");
		return;
	}
	c->text_out_sent += n;
	if (!more) {
		iscsi_text_reset(&c->text_out);
		c->text_out_sent = 0;
	}
	iscsi_conn_queue(c, p);
}

void iscsi_text_rx(struct iscsi_conn *c, const uint8_t *h, const uint8_t *data, uint32_t dlen)
{
	uint32_t itt = bhs_itt(h), ttt = get_be32(h + TEXT_TTT);
	bool cont = h[1] & TEXT_FLAG_CONTINUE;

	if (ttt != ISCSI_RSVD_TAG) {
		if (ttt != c->text_ttt || itt != c->text_itt) {
			iscsi_send_reject(c, ISCSI_REJECT_INVALID_FIELD, h);
			return;
		}
		if (c->text_out_sent < c->text_out.len) {
			text_send_chunk(c, h); /* the initiator asks for the rest of our answer */
			return;
		}
	} else {
		/* A new exchange resets any unfinished one. */
		if (c->text_in.len && itt != c->text_itt)
			iscsi_text_reset(&c->text_in);
		iscsi_text_reset(&c->text_out);
		c->text_out_sent = 0;
		c->text_ttt = ISCSI_RSVD_TAG;
	}
	if (dlen && iscsi_text_append(&c->text_in, data, dlen)) {
		iscsi_text_reset(&c->text_in);
		iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL, h);
		return;
	}
	c->text_itt = itt;
	if (cont) {
		/* More request text follows: an empty answer with a tag to continue under. */
		iscsi_text_reset(&c->text_out);
		c->text_out_sent = 0;
		struct iscsi_txpdu *p = iscsi_txpdu_get(c);
		if (!p) {
			iscsi_conn_close(c, "out of memory");
			return;
		}
		if (++c->next_ttt == ISCSI_RSVD_TAG)
			c->next_ttt = 1;
		c->text_ttt = c->next_ttt;
		p->hdr[0] = ISCSI_OP_TEXT_RSP;
		p->hdr[1] = 0;
		memcpy(p->hdr + BHS_LUN, h + BHS_LUN, 8);
		put_be32(p->hdr + BHS_ITT, itt);
		put_be32(p->hdr + TEXT_TTT, c->text_ttt);
		iscsi_conn_fill_sn(c, p->hdr, true);
		iscsi_conn_queue(c, p);
		return;
	}
	struct iscsi_neg n;
	iscsi_neg_init(&n, &c->params, &c->srv->lim, ISCSI_NEG_FULL_FEATURE, &c->text_out);
	int rc = iscsi_neg_process(&n, c->text_in.buf ? c->text_in.buf : "", c->text_in.len);
	iscsi_text_reset(&c->text_in);
	if (rc) {
		log_info(LOGC_ISCSI, c->ctx, "Text request rejected: %s", n.fail_why ? n.fail_why : "?");
		iscsi_text_reset(&c->text_out);
		iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL, h);
		return;
	}
	if (n.send_targets)
		iscsi_send_targets(c, n.send_targets_val, &c->text_out);
	if (c->text_out.overflow) {
		iscsi_text_reset(&c->text_out);
		iscsi_send_reject(c, ISCSI_REJECT_OUT_OF_RESOURCES, h);
		return;
	}
	text_send_chunk(c, h);
}

/* ---- Logout ---- */

void iscsi_logout_check(struct iscsi_conn *c)
{
	if (!c->logout_pending || c->tasks_in_scsi || c->state == CONN_CLOSING)
		return;
	c->logout_pending = false;
	struct iscsi_txpdu *p = iscsi_txpdu_get(c);
	if (!p) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	p->hdr[0] = ISCSI_OP_LOGOUT_RSP;
	p->hdr[1] = ISCSI_FLAG_FINAL;
	p->hdr[LOGOUT_RSP_RESPONSE] = ISCSI_LOGOUT_RSP_OK;
	put_be32(p->hdr + BHS_ITT, bhs_itt(c->logout_hdr));
	iscsi_conn_fill_sn(c, p->hdr, true);
	put_be16(p->hdr + LOGOUT_T2W, 0);
	put_be16(p->hdr + LOGOUT_T2R, 0);
	p->close_after = true;
	iscsi_conn_queue(c, p);
	log_info(LOGC_ISCSI, c->ctx, "logged out");
}

void iscsi_logout_rx(struct iscsi_conn *c, const uint8_t *h)
{
	uint8_t reason = h[1] & LOGOUT_REASON_MASK;
	uint16_t cid = get_be16(h + LOGOUT_CID);
	uint8_t rsp = ISCSI_LOGOUT_RSP_OK;

	if (reason == ISCSI_LOGOUT_CLOSE_CONN && cid != c->login.cid)
		rsp = ISCSI_LOGOUT_RSP_CID_NOT_FOUND;
	else if (reason == ISCSI_LOGOUT_REMOVE_FOR_RECOVERY)
		rsp = ISCSI_LOGOUT_RSP_NO_RECOVERY;
	else if (reason > ISCSI_LOGOUT_REMOVE_FOR_RECOVERY) {
		iscsi_send_reject(c, ISCSI_REJECT_INVALID_FIELD, h);
		return;
	}
	if (rsp != ISCSI_LOGOUT_RSP_OK) {
		struct iscsi_txpdu *p = iscsi_txpdu_get(c);
		if (!p) {
			iscsi_conn_close(c, "out of memory");
			return;
		}
		p->hdr[0] = ISCSI_OP_LOGOUT_RSP;
		p->hdr[1] = ISCSI_FLAG_FINAL;
		p->hdr[LOGOUT_RSP_RESPONSE] = rsp;
		put_be32(p->hdr + BHS_ITT, bhs_itt(h));
		iscsi_conn_fill_sn(c, p->hdr, true);
		iscsi_conn_queue(c, p);
		return;
	}
	/* Close the session/connection: nothing more is read; tasks waiting for data are dropped,
	 * those in the SCSI layer finish and are answered, then the Logout Response goes out. */
	c->state = CONN_LOGGED_OUT;
	c->logout_pending = true;
	memcpy(c->logout_hdr, h, ISCSI_BHS_LEN);
	struct iscsi_task *t = c->tasks;
	while (t) {
		struct iscsi_task *next = t->next;
		if (t->state == TASK_WAIT_DATA || t->state == TASK_WAIT_ORDER)
			iscsi_task_abort(t);
		t = next;
	}
	iscsi_logout_check(c);
}

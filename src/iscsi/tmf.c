/* tmf.c - Task Management Function requests (RFC 7143 11.5/11.6): abort our tasks, call the SCSI layer for LU effects, answer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "iscsi/iscsi_internal.h"

static const char *tmf_name(uint8_t fn)
{
	switch (fn) {
	case ISCSI_TMF_ABORT_TASK: return "ABORT TASK";
	case ISCSI_TMF_ABORT_TASK_SET: return "ABORT TASK SET";
	case ISCSI_TMF_CLEAR_ACA: return "CLEAR ACA";
	case ISCSI_TMF_CLEAR_TASK_SET: return "CLEAR TASK SET";
	case ISCSI_TMF_LU_RESET: return "LOGICAL UNIT RESET";
	case ISCSI_TMF_TARGET_WARM_RESET: return "TARGET WARM RESET";
	case ISCSI_TMF_TARGET_COLD_RESET: return "TARGET COLD RESET";
	case ISCSI_TMF_TASK_REASSIGN: return "TASK REASSIGN";
	default: return "unknown function";
	}
}

static uint8_t map_scsi_rsp(int rsp)
{
	switch (rsp) {
	case SCSI_TMF_RSP_COMPLETE: return ISCSI_TMF_RSP_COMPLETE;
	case SCSI_TMF_RSP_NO_TASK: return ISCSI_TMF_RSP_NO_TASK;
	case SCSI_TMF_RSP_NO_LUN: return ISCSI_TMF_RSP_NO_LUN;
	case SCSI_TMF_RSP_NOT_SUPPORTED: return ISCSI_TMF_RSP_NOT_SUPPORTED;
	default: return ISCSI_TMF_RSP_REJECTED;
	}
}

static void tmf_respond(struct iscsi_tmf_wait *w)
{
	struct iscsi_conn *c = w->conn;
	if (c->state != CONN_CLOSING) {
		struct iscsi_txpdu *p = iscsi_txpdu_get(c);
		if (!p) {
			iscsi_conn_close(c, "out of memory");
		} else {
			p->hdr[0] = ISCSI_OP_TMF_RSP;
			p->hdr[1] = ISCSI_FLAG_FINAL;
			p->hdr[TMF_RSP_RESPONSE] = w->response;
			put_be32(p->hdr + BHS_ITT, bhs_itt(w->hdr));
			iscsi_conn_fill_sn(c, p->hdr, true);
			p->close_after = w->close_after;
			iscsi_conn_queue(c, p);
			log_info(LOGC_ISCSI, c->ctx, "%s: response %u", tmf_name(w->hdr[1] & TMF_FUNC_MASK),
				 w->response);
		}
	}
	free(w);
}

void iscsi_tmf_task_gone(struct iscsi_tmf_wait *w)
{
	if (w->waiting && --w->waiting == 0)
		tmf_respond(w);
}

/* Abort t for TMF w: tasks in the SCSI layer are waited for. */
static void abort_for(struct iscsi_tmf_wait *w, struct iscsi_task *t)
{
	if (t->state == TASK_IN_SCSI && !t->tmf_wait) {
		t->tmf_wait = w;
		w->waiting++;
	}
	iscsi_task_abort(t);
}

/* Abort our tasks on lun (all LUNs when all_luns). */
static void abort_matching(struct iscsi_tmf_wait *w, struct iscsi_conn *c, const uint8_t lun[8], bool all_luns)
{
	struct iscsi_task *t = c->tasks;
	while (t) {
		struct iscsi_task *next = t->next;
		if (t->state != TASK_SENDING && (all_luns || !memcmp(t->lun_field, lun, 8)))
			abort_for(w, t);
		t = next;
	}
}

/* RFC 7143 11.5.1: after a TARGET COLD RESET the target ends every
 * connection of every session to that target, not only the issuer's (the
 * issuer's closes once its response is sent). Each reactor closes its own. */
struct cold_reset_msg {
	struct iscsi_server *srv;
	struct scsi_target *target;
	const struct iscsi_conn *issuer; /* compared, never dereferenced */
};

static void cold_reset_close_msg(void *arg)
{
	struct cold_reset_msg *m = arg;
	struct iscsi_conn *x = m->srv->conns[reactor_index(reactor_self())];
	while (x) {
		struct iscsi_conn *next = x->next;
		if (x != m->issuer && x->sess && x->sess->target == m->target)
			iscsi_conn_close(x, "TARGET COLD RESET by another session");
		x = next;
	}
	free(m);
}

static void cold_reset_close_others(struct iscsi_conn *c)
{
	for (unsigned i = 0; i < reactor_count(); i++) {
		struct cold_reset_msg *m = malloc(sizeof(*m));
		if (!m) {
			log_err(LOGC_ISCSI, c->ctx, "TARGET COLD RESET: out of memory; sessions on reactor %u stay open", i);
			continue;
		}
		*m = (struct cold_reset_msg){ .srv = c->srv, .target = c->sess->target, .issuer = c };
		if (reactor_send_msg(reactor_get(i), cold_reset_close_msg, m) != 0) {
			log_err(LOGC_ISCSI, c->ctx, "TARGET COLD RESET: cannot reach reactor %u; its sessions stay open", i);
			free(m);
		}
	}
}

void iscsi_tmf_rx(struct iscsi_conn *c, const uint8_t *h)
{
	struct iscsi_session *s = c->sess;
	uint8_t fn = h[1] & TMF_FUNC_MASK;
	if (s->discovery) {
		iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL, h);
		return;
	}
	struct iscsi_tmf_wait *w = calloc(1, sizeof(*w));
	if (!w) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	w->conn = c;
	memcpy(w->hdr, h, ISCSI_BHS_LEN);
	w->waiting = 1; /* held while we work: released below */
	uint64_t lun = UINT64_MAX;
	bool lun_ok = iscsi_lun_decode(h + BHS_LUN, &lun) == 0;

	switch (fn) {
	case ISCSI_TMF_ABORT_TASK: {
		uint32_t ref = get_be32(h + TMF_REF_ITT), refsn = get_be32(h + TMF_REF_CMDSN);
		uint32_t cmdsn = get_be32(h + TMF_CMDSN);
		struct iscsi_task *t = iscsi_task_find(c, ref);
		if (t && t->state != TASK_SENDING) {
			abort_for(w, t);
			w->response = ISCSI_TMF_RSP_COMPLETE;
		} else if (!t && sn_in_window(refsn, s->exp_cmd_sn, s->max_cmd_sn) && sn_lt(refsn, cmdsn)) {
			/* Not received yet: consider it received and aborted (RFC 7143 4.2.3.3). */
			w->response = ISCSI_TMF_RSP_COMPLETE;
		} else {
			w->response = ISCSI_TMF_RSP_NO_TASK;
		}
		break;
	}
	case ISCSI_TMF_ABORT_TASK_SET:
	case ISCSI_TMF_CLEAR_TASK_SET:
	case ISCSI_TMF_LU_RESET: {
		if (!lun_ok || !scsi_target_lu(s->target, lun)) {
			w->response = ISCSI_TMF_RSP_NO_LUN;
			break;
		}
		abort_matching(w, c, h + BHS_LUN, false);
		enum scsi_tmf sf = fn == ISCSI_TMF_ABORT_TASK_SET   ? SCSI_TMF_ABORT_TASK_SET
				   : fn == ISCSI_TMF_CLEAR_TASK_SET ? SCSI_TMF_CLEAR_TASK_SET
								    : SCSI_TMF_LU_RESET;
		w->response = map_scsi_rsp(scsi_tmf_lu(s->nexus, lun, sf));
		break;
	}
	case ISCSI_TMF_CLEAR_ACA:
		if (!lun_ok || !scsi_target_lu(s->target, lun)) {
			w->response = ISCSI_TMF_RSP_NO_LUN;
			break;
		}
		w->response = map_scsi_rsp(scsi_tmf_lu(s->nexus, lun, SCSI_TMF_CLEAR_ACA));
		break;
	case ISCSI_TMF_TARGET_WARM_RESET:
	case ISCSI_TMF_TARGET_COLD_RESET: {
		abort_matching(w, c, NULL, true);
		enum scsi_tmf sf = fn == ISCSI_TMF_TARGET_WARM_RESET ? SCSI_TMF_TARGET_WARM_RESET
								     : SCSI_TMF_TARGET_COLD_RESET;
		w->response = map_scsi_rsp(scsi_tmf_lu(s->nexus, lun_ok ? lun : 0, sf));
		/* A cold reset ends the connection after the response (RFC 7143 11.5.1). */
		w->close_after = fn == ISCSI_TMF_TARGET_COLD_RESET;
		if (w->close_after)
			cold_reset_close_others(c);
		break;
	}
	case ISCSI_TMF_TASK_REASSIGN:
		/* ErrorRecoveryLevel 0: no task reassignment. */
		w->response = ISCSI_TMF_RSP_NO_REASSIGN;
		break;
	default:
		w->response = ISCSI_TMF_RSP_NOT_SUPPORTED;
		break;
	}
	log_info(LOGC_ISCSI, c->ctx, "%s (ITT 0x%08x, ref 0x%08x)", tmf_name(fn), bhs_itt(h), get_be32(h + TMF_REF_ITT));
	iscsi_tmf_task_gone(w);
}

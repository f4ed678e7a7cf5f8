/* scsi_cmd.c - SCSI Command PDUs to scsi_tasks: immediate/unsolicited data, R2T and Data-Out checks, Data-In and SCSI Response. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bufpool.h"
#include "core/log.h"
#include "iscsi/iscsi_internal.h"

/* ---- task structs ---- */

struct iscsi_task *iscsi_task_get(struct iscsi_conn *c)
{
	struct iscsi_task *t = c->task_free;
	if (t) {
		c->task_free = t->next;
		c->task_free_n--;
	} else {
		t = malloc(sizeof(*t));
		if (!t)
			return NULL;
	}
	memset(t, 0, offsetof(struct iscsi_task, r2t));
	memset(t->r2t, 0, MIN(c->params.max_outstanding_r2t, ISCSI_MAX_R2T_LIMIT) * sizeof(t->r2t[0]));
	t->conn = c;
	t->next = c->tasks;
	if (c->tasks)
		c->tasks->prev = t;
	c->tasks = t;
	return t;
}

void iscsi_task_put(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	if (c->rx.task == t) {
		/* Its data may still be arriving: drop the rest. */
		c->rx.task = NULL;
		if (c->rx.state == RX_DATA && c->rx.task_data) {
			c->rx.dst = NULL;
			c->rx.discard = true;
		}
		c->rx.task_data = false;
	}
	if (t->state == TASK_WAIT_ORDER && c->sess)
		iscsi_session_unhold_task(c->sess, t);
	if (t->prev)
		t->prev->next = t->next;
	else
		c->tasks = t->next;
	if (t->next)
		t->next->prev = t->prev;
	if (t->buf)
		buf_put(t->buf, t->buf_len);
	struct iscsi_tmf_wait *w = t->tmf_wait;
	if (c->task_free_n < ISCSI_TASK_CACHE) {
		t->next = c->task_free;
		c->task_free = t;
		c->task_free_n++;
	} else {
		free(t);
	}
	if (w)
		iscsi_tmf_task_gone(w);
}

struct iscsi_task *iscsi_task_find(struct iscsi_conn *c, uint32_t itt)
{
	for (struct iscsi_task *t = c->tasks; t; t = t->next)
		if (t->itt == itt)
			return t;
	return NULL;
}

/* The task no longer occupies a CmdSN window slot. */
static void task_window_release(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	if (c->sess && !t->window_released) {
		t->window_released = true;
		iscsi_session_cmd_finished(c->sess, t->immediate);
	}
}

void iscsi_task_tx_done(struct iscsi_task *t)
{
	if (t->tx_refs)
		t->tx_refs--;
	if (!t->tx_refs && t->state == TASK_SENDING)
		iscsi_task_put(t);
}

void iscsi_task_abort(struct iscsi_task *t)
{
	switch (t->state) {
	case TASK_WAIT_ORDER:
	case TASK_WAIT_DATA:
		task_window_release(t);
		iscsi_task_put(t);
		break;
	case TASK_IN_SCSI:
		t->aborted = true; /* its done() frees it and answers nothing */
		scsi_task_abort(&t->st); /* a command that runs in steps stops at its next one */
		break;
	case TASK_SENDING:
		break; /* the response is already queued */
	}
}

/* ---- responses ---- */

static void put_lun(uint8_t *h, const struct iscsi_task *t) { memcpy(h + BHS_LUN, t->lun_field, 8); }

static void send_response(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	struct scsi_task *st = &t->st;
	uint32_t dlen = 0;
	if (t->dir_read && t->buf)
		dlen = MIN(st->data_in_len, t->edtl);
	bool collapse = st->status == SCSI_STATUS_GOOD && st->sense_len == 0 && dlen > 0;
	uint8_t resid_flags = (st->resid_over ? RSP_FLAG_OVER : 0) | (st->resid_under ? RSP_FLAG_UNDER : 0);

	task_window_release(t);
	t->state = TASK_SENDING;
	uint32_t mdsl = c->params.max_xmit_dsl, burst = c->params.max_burst, in_burst = 0;
	for (uint32_t off = 0; off < dlen;) {
		uint32_t n = MIN(mdsl, dlen - off);
		n = MIN(n, burst - in_burst);
		struct iscsi_txpdu *p = iscsi_txpdu_get(c);
		if (!p) {
			iscsi_conn_close(c, "out of memory");
			break;
		}
		bool last = off + n == dlen;
		in_burst += n;
		uint8_t *h = p->hdr;
		h[0] = ISCSI_OP_DATA_IN;
		h[1] = (last || in_burst == burst) ? ISCSI_FLAG_FINAL : 0;
		put_lun(h, t);
		put_be32(h + BHS_ITT, t->itt);
		put_be32(h + DATA_TTT, ISCSI_RSVD_TAG);
		put_be32(h + DATA_DATASN, t->datasn++);
		put_be32(h + DATA_OFFSET, off);
		if (last && collapse) {
			h[1] |= DATA_FLAG_STATUS | resid_flags;
			h[DATA_STATUS] = st->status;
			put_be32(h + DATA_RESID, st->resid_over || st->resid_under ? st->residual : 0);
			iscsi_conn_fill_sn(c, h, true);
		} else {
			iscsi_conn_fill_sn(c, h, false);
		}
		if (in_burst == burst)
			in_burst = 0;
		p->data = t->buf + off;
		p->dlen = n;
		p->task = t;
		t->tx_refs++;
		iscsi_conn_queue(c, p);
		off += n;
	}
	if (!collapse && c->state != CONN_CLOSING) {
		struct iscsi_txpdu *p = iscsi_txpdu_get(c);
		if (!p) {
			iscsi_conn_close(c, "out of memory");
		} else {
			uint8_t *h = p->hdr;
			h[0] = ISCSI_OP_SCSI_RSP;
			h[1] = ISCSI_FLAG_FINAL | resid_flags;
			h[RSP_RESPONSE] = ISCSI_RESPONSE_COMPLETED;
			h[RSP_STATUS] = st->status;
			put_be32(h + BHS_ITT, t->itt);
			put_be32(h + RSP_EXPDATASN, t->datasn + t->r2tsn);
			put_be32(h + RSP_RESID, st->resid_over || st->resid_under ? st->residual : 0);
			iscsi_conn_fill_sn(c, h, true);
			if (st->sense_len) {
				uint8_t sl = st->sense_len;
				p->inline_data[0] = 0;
				p->inline_data[1] = sl;
				memcpy(p->inline_data + 2, st->sense, sl);
				p->data = p->inline_data;
				p->dlen = 2u + sl;
			}
			iscsi_conn_queue(c, p);
		}
	}
	if (!t->tx_refs)
		iscsi_task_put(t);
}

/* Answer locally (the SCSI layer never sees the task) with CHECK CONDITION. */
static void fail_task(struct iscsi_task *t, uint8_t key, uint8_t asc, uint8_t ascq)
{
	memset(&t->st, 0, offsetof(struct scsi_task, lu));
	scsi_task_set_sense(&t->st, key, asc, ascq);
	t->dir_read = false;
	send_response(t);
}

static void scsi_done(struct scsi_task *st)
{
	struct iscsi_task *t = st->transport_priv;
	struct iscsi_conn *c = t->conn;
	c->tasks_in_scsi--;
	if (c->state == CONN_CLOSING) {
		t->state = TASK_SENDING;
		iscsi_task_put(t);
		iscsi_conn_maybe_free(c);
		return;
	}
	if (t->aborted) {
		/* Aborted by a TMF: no response; the TMF answers once this returns. */
		task_window_release(t);
		t->state = TASK_SENDING;
		iscsi_task_put(t);
	} else {
		send_response(t);
	}
	if (c->sess)
		iscsi_session_update_window(c->sess);
	iscsi_logout_check(c);
	iscsi_conn_drain_check(c);
}

static void submit(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	if (t->seq_error) {
		fail_task(t, SK_ABORTED_COMMAND, t->seq_asc, t->seq_ascq);
		return;
	}
	if (t->crc_error) {
		/* RFC 7143 7.8 / 13.5: protocol service CRC error. */
		fail_task(t, SK_ABORTED_COMMAND, 0x47, 0x05);
		return;
	}
	if (t->too_big) {
		fail_task(t, SK_ILLEGAL_REQUEST, 0x24, 0x00); /* INVALID FIELD IN CDB */
		return;
	}
	if (t->no_mem) {
		memset(&t->st, 0, offsetof(struct scsi_task, lu));
		t->st.status = SCSI_STATUS_BUSY;
		t->dir_read = false;
		send_response(t);
		return;
	}
	if (t->bidi) {
		fail_task(t, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	struct scsi_task *st = &t->st;
	st->nexus = c->sess->nexus;
	st->tag = t->itt;
	st->exp_xfer_len = t->edtl;
	if (t->buf) {
		t->iov.iov_base = t->buf;
		t->iov.iov_len = t->edtl;
		st->iov = &t->iov;
		st->iovcnt = 1;
	}
	st->data_out_len = t->dir_write ? t->data_rcvd : 0;
	st->done = scsi_done;
	st->transport_priv = t;
	t->state = TASK_IN_SCSI;
	c->tasks_in_scsi++;
	scsi_task_submit(st);
}

static int send_r2ts(struct iscsi_task *t)
{
	struct iscsi_conn *c = t->conn;
	uint32_t maxr2t = c->params.max_outstanding_r2t;
	while (t->r2t_active < maxr2t && t->r2t_next_offset < t->edtl) {
		struct iscsi_r2t *r = NULL;
		for (uint32_t i = 0; i < maxr2t && i < ISCSI_MAX_R2T_LIMIT; i++)
			if (!t->r2t[i].active) {
				r = &t->r2t[i];
				break;
			}
		if (!r)
			break;
		struct iscsi_txpdu *p = iscsi_txpdu_get(c);
		if (!p)
			return -ENOMEM;
		uint32_t len = MIN(c->params.max_burst, t->edtl - t->r2t_next_offset);
		if (++c->next_ttt == ISCSI_RSVD_TAG)
			c->next_ttt = 1;
		r->ttt = c->next_ttt;
		r->offset = t->r2t_next_offset;
		r->len = len;
		r->rcvd = 0;
		r->next_datasn = 0;
		r->active = true;
		t->r2t_active++;
		t->r2t_next_offset += len;
		uint8_t *h = p->hdr;
		h[0] = ISCSI_OP_R2T;
		h[1] = ISCSI_FLAG_FINAL;
		put_lun(h, t);
		put_be32(h + BHS_ITT, t->itt);
		put_be32(h + R2T_TTT, r->ttt);
		put_be32(h + R2T_R2TSN, t->r2tsn++);
		put_be32(h + R2T_OFFSET, r->offset);
		put_be32(h + R2T_DDTL, len);
		iscsi_conn_fill_sn(c, h, false);
		iscsi_conn_queue(c, p);
	}
	return 0;
}

/* Move a task forward after data arrived or its CmdSN came up. */
static void task_progress(struct iscsi_task *t)
{
	if (t->state != TASK_WAIT_DATA)
		return;
	if (t->discard) {
		/* We ask for nothing more: answer once the initiator's data phase is over. */
		if ((t->unsol_done || t->data_rcvd >= t->edtl) && !t->r2t_active)
			submit(t);
		return;
	}
	if (!t->dir_write || t->data_rcvd >= t->edtl) {
		submit(t);
		return;
	}
	if (!t->unsol_done)
		return; /* unsolicited Data-Out still to come */
	if (!t->r2t_started) {
		t->r2t_started = true;
		t->r2t_next_offset = t->data_rcvd;
	}
	if (send_r2ts(t))
		iscsi_conn_close(t->conn, "out of memory");
}

void iscsi_task_start(struct iscsi_task *t)
{
	t->state = TASK_WAIT_DATA;
	task_progress(t);
}

/* ---- SCSI Command ---- */

static void reject_and_discard(struct iscsi_conn *c, uint8_t reason)
{
	iscsi_send_reject(c, reason, c->rx.hdr);
	c->rx.discard = true;
}

int iscsi_scsi_cmd_hdr(struct iscsi_conn *c)
{
	const uint8_t *h = c->rx.hdr;
	struct iscsi_session *s = c->sess;
	struct iscsi_params *prm = &c->params;
	uint8_t flags = h[1];
	bool rd = flags & CMD_FLAG_READ, wr = flags & CMD_FLAG_WRITE, final = flags & ISCSI_FLAG_FINAL;
	bool imm = bhs_immediate(h);
	uint32_t itt = bhs_itt(h), edtl = get_be32(h + CMD_EDTL), cmdsn = get_be32(h + CMD_CMDSN);
	uint32_t dlen = c->rx.dlen;

	/* Checks that make the PDU itself invalid: Reject, CmdSN not consumed (RFC 7143 11.17.1). */
	if (itt == ISCSI_RSVD_TAG) {
		reject_and_discard(c, ISCSI_REJECT_INVALID_FIELD);
		return 0;
	}
	if (dlen && (!wr || !prm->immediate_data || dlen > edtl || dlen > prm->first_burst)) {
		reject_and_discard(c, ISCSI_REJECT_PROTOCOL);
		return 0;
	}
	if (!final && (!wr || prm->initial_r2t)) {
		reject_and_discard(c, ISCSI_REJECT_PROTOCOL);
		return 0;
	}
	/* AHS: extended CDB (type 1), bidirectional read length (type 2). */
	uint8_t cdb[32];
	uint32_t cdb_len = 16;
	bool bidi_ahs = false, bad_cdb = false;
	memcpy(cdb, h + CMD_CDB, 16);
	for (uint32_t off = 0; off < c->rx.ahs_len;) {
		const uint8_t *a = h + ISCSI_BHS_LEN + off;
		if (c->rx.ahs_len - off < 4) {
			reject_and_discard(c, ISCSI_REJECT_INVALID_FIELD);
			return 0;
		}
		uint32_t alen = get_be16(a), type = a[2];
		uint32_t total = ALIGN_UP(alen + 3, 4);
		if (total > c->rx.ahs_len - off) {
			reject_and_discard(c, ISCSI_REJECT_INVALID_FIELD);
			return 0;
		}
		if (type == AHS_TYPE_EXT_CDB && alen >= 1) {
			uint32_t extra = alen - 1;
			if (16 + extra > sizeof(cdb))
				bad_cdb = true;
			else {
				memcpy(cdb + 16, a + 4, extra);
				cdb_len = 16 + extra;
			}
		} else if (type == AHS_TYPE_BIDI_READ_LEN) {
			bidi_ahs = true;
		}
		off += total;
	}
	if (iscsi_task_find(c, itt) && !imm) {
		reject_and_discard(c, ISCSI_REJECT_TASK_IN_PROGRESS);
		return 0;
	}
	if (imm && s->immediate_used >= ISCSI_IMMEDIATE_MAX) {
		reject_and_discard(c, ISCSI_REJECT_IMM_TOO_MANY);
		return 0;
	}
	/* With immediate data the command counts as received only once its data (and digest) arrived:
	 * a data digest error discards the whole PDU and its CmdSN stays expected (RFC 7143 7.3, 7.8). */
	int order = dlen ? iscsi_cmdsn_classify(s, cmdsn, imm) : iscsi_cmdsn_check(s, cmdsn, imm);
	if (order < 0) {
		/* Outside the window or a duplicate: silently ignored (RFC 7143 4.2.2.1). */
		log_debug(LOGC_ISCSI, c->ctx, "CmdSN %u outside [%u, %u]: ignored", cmdsn, s->exp_cmd_sn,
			  s->max_cmd_sn);
		c->rx.discard = true;
		return 0;
	}
	struct iscsi_task *t = iscsi_task_get(c);
	if (!t)
		return -ENOMEM;
	t->itt = itt;
	t->cmdsn = cmdsn;
	t->edtl = edtl;
	t->immediate = imm;
	t->dir_read = rd;
	t->dir_write = wr;
	t->bidi = (rd && wr) || bidi_ahs;
	memcpy(t->lun_field, h + BHS_LUN, 8);
	if (imm)
		s->immediate_used++;
	else
		s->window_used++;

	struct scsi_task *st = &t->st;
	uint64_t lun;
	st->lun = iscsi_lun_decode(h + BHS_LUN, &lun) == 0 ? lun : UINT64_MAX;
	memcpy(st->cdb, cdb, sizeof(cdb));
	st->cdb_len = (uint8_t)cdb_len;
	switch (flags & CMD_ATTR_MASK) {
	case 2: st->attr = SCSI_ATTR_ORDERED; break;
	case 3: st->attr = SCSI_ATTR_HEAD_OF_QUEUE; break;
	case 4: st->attr = SCSI_ATTR_ACA; break;
	default: st->attr = SCSI_ATTR_SIMPLE; break;
	}
	st->dir = t->bidi ? SCSI_DIR_BIDI : rd ? SCSI_DIR_READ : wr ? SCSI_DIR_WRITE : SCSI_DIR_NONE;
	if (bad_cdb) {
		t->too_big = true;
		t->discard = true;
	} else if (edtl > ISCSI_MAX_EDTL) {
		t->too_big = true;
		t->discard = true;
	} else if (edtl) {
		t->buf = buf_get(edtl);
		if (!t->buf) {
			t->no_mem = true;
			t->discard = true;
		} else {
			t->buf_len = edtl;
		}
	}
	if (t->bidi)
		t->discard = true;

	/* Unsolicited data: immediate data now, then Data-Out up to FirstBurstLength unless F is set. */
	t->unsol_done = final;
	t->unsol_end = final ? dlen : MIN(prm->first_burst, edtl);
	if (dlen) {
		c->rx.task = t;
		c->rx.task_data = true;
		c->rx.task_off = 0;
		if (t->discard || !t->buf)
			c->rx.discard = true;
		else
			c->rx.dst = t->buf;
	} else {
		c->rx.task = t;
	}
	if (order > 0)
		iscsi_session_hold_task(s, t);
	else
		t->state = TASK_WAIT_DATA;
	t->cmdsn_pending = dlen && order == 0 && !imm;
	return 0;
}

void iscsi_scsi_cmd_drop(struct iscsi_conn *c)
{
	struct iscsi_task *t = c->rx.task;
	c->rx.task = NULL;
	if (!t)
		return;
	/* Not received after all: ExpCmdSN was never advanced for it (cmdsn_pending), so the initiator
	 * resends it with the same CmdSN. */
	t->cmdsn_pending = false;
	task_window_release(t);
	iscsi_task_put(t);
}

int iscsi_scsi_cmd_done_rx(struct iscsi_conn *c)
{
	struct iscsi_task *t = c->rx.task;
	c->rx.task = NULL;
	if (!t)
		return 0;
	if (t->cmdsn_pending) {
		t->cmdsn_pending = false;
		c->sess->exp_cmd_sn++;
	}
	t->data_rcvd = c->rx.dlen;
	if (t->data_rcvd >= t->unsol_end)
		t->unsol_done = true;
	if (t->state == TASK_WAIT_ORDER)
		return 0;
	task_progress(t);
	struct iscsi_session *s = c->sess;
	if (c->state == CONN_FULL_FEATURE && (s->held || s->held_pdus))
		iscsi_session_run_held(s);
	return 0;
}

/* ---- Data-Out ---- */

/* A Data-Out that breaks the sequence rules: the task's data is dropped from here on and it ends with
 * CHECK CONDITION once the initiator finished its data phase (ERL0 cannot recover in-task). */
static int data_out_violation(struct iscsi_conn *c, struct iscsi_task *t, uint8_t asc, uint8_t ascq, const char *why)
{
	log_warn(LOGC_ISCSI, c->ctx, "Data-Out ITT 0x%08x TTT 0x%08x DataSN %u offset %u len %u: %s",
		 bhs_itt(c->rx.hdr), get_be32(c->rx.hdr + DATA_TTT), get_be32(c->rx.hdr + DATA_DATASN),
		 get_be32(c->rx.hdr + DATA_OFFSET), c->rx.dlen, why);
	t->discard = true;
	if (!t->seq_error) {
		t->seq_error = true;
		t->seq_asc = asc;
		t->seq_ascq = ascq;
	}
	c->rx.task = t;
	c->rx.task_data = true;
	c->rx.r2t_slot = -1;
	c->rx.discard = true;
	return 0;
}

/* A Data-Out whose TTT or buffer offset describes no data the target asked for: Reject "invalid PDU
 * field" (RFC 7143 11.17.1, note 2) and discard it. The task is left as it was: a Reject does not end a
 * task (7.3), so it still waits for the right data (or a TMF). */
static int data_out_invalid(struct iscsi_conn *c, const char *why)
{
	log_warn(LOGC_ISCSI, c->ctx, "Data-Out ITT 0x%08x TTT 0x%08x DataSN %u offset %u len %u: %s: rejected",
		 bhs_itt(c->rx.hdr), get_be32(c->rx.hdr + DATA_TTT), get_be32(c->rx.hdr + DATA_DATASN),
		 get_be32(c->rx.hdr + DATA_OFFSET), c->rx.dlen, why);
	reject_and_discard(c, ISCSI_REJECT_INVALID_FIELD);
	return 0;
}

int iscsi_data_out_hdr(struct iscsi_conn *c)
{
	const uint8_t *h = c->rx.hdr;
	uint32_t itt = bhs_itt(h), ttt = get_be32(h + DATA_TTT), datasn = get_be32(h + DATA_DATASN);
	uint32_t off = get_be32(h + DATA_OFFSET), dlen = c->rx.dlen;
	struct iscsi_task *t = iscsi_task_find(c, itt);

	if (!t || !t->dir_write || (t->state != TASK_WAIT_DATA && t->state != TASK_WAIT_ORDER)) {
		/* No such task waiting for data. */
		reject_and_discard(c, ISCSI_REJECT_INVALID_FIELD);
		return 0;
	}
	int slot = -1;
	if (ttt != ISCSI_RSVD_TAG) {
		for (int i = 0; i < (int)MIN(c->params.max_outstanding_r2t, ISCSI_MAX_R2T_LIMIT); i++)
			if (t->r2t[i].active && t->r2t[i].ttt == ttt) {
				slot = i;
				break;
			}
	}
	if (t->seq_error) {
		/* Already failed: swallow the rest of its data phase. */
		data_out_violation(c, t, 0, 0, "data for a failed task dropped");
		c->rx.r2t_slot = slot;
		return 0;
	}
	if (dlen == 0)
		return data_out_violation(c, t, 0x4b, 0x05, "empty Data-Out");
	if (ttt == ISCSI_RSVD_TAG) {
		if (t->unsol_done)
			return data_out_violation(c, t, 0x0c, 0x0c, "unexpected unsolicited data");
		if (datasn != t->unsol_next_datasn)
			return data_out_violation(c, t, 0x47, 0x05, "DataSN out of order");
		if (off != t->data_rcvd)
			return data_out_invalid(c, "buffer offset out of order");
		if ((uint64_t)off + dlen > t->unsol_end)
			return data_out_violation(c, t, 0x4b, 0x02, "unsolicited data beyond FirstBurstLength");
	} else {
		if (slot < 0)
			return data_out_invalid(c, "unknown Target Transfer Tag");
		struct iscsi_r2t *r = &t->r2t[slot];
		if (datasn != r->next_datasn) {
			data_out_violation(c, t, 0x47, 0x05, "DataSN out of order");
			c->rx.r2t_slot = slot;
			return 0;
		}
		if (off != r->offset + r->rcvd)
			return data_out_invalid(c, "buffer offset out of order");
		if (r->rcvd + dlen > r->len || (uint64_t)off + dlen > t->edtl) {
			data_out_violation(c, t, 0x4b, 0x02, "more data than the R2T asked for");
			c->rx.r2t_slot = slot;
			return 0;
		}
	}
	c->rx.task = t;
	c->rx.task_data = true;
	c->rx.task_off = off;
	c->rx.r2t_slot = slot;
	if (t->discard || !t->buf)
		c->rx.discard = true;
	else
		c->rx.dst = t->buf + off;
	return 0;
}

int iscsi_data_out_done_rx(struct iscsi_conn *c)
{
	struct iscsi_task *t = c->rx.task;
	const uint8_t *h = c->rx.hdr;
	bool final = bhs_final(h);
	uint32_t dlen = c->rx.dlen;
	c->rx.task = NULL;
	if (!t)
		return 0;
	if (c->rx.digest_bad)
		t->crc_error = true; /* the bytes stay unused: the task fails after all data arrived */
	t->data_rcvd += dlen;
	int slot = c->rx.r2t_slot;
	if (slot < 0) {
		if (get_be32(h + DATA_TTT) == ISCSI_RSVD_TAG) {
			t->unsol_next_datasn++;
			if (final || t->data_rcvd >= t->unsol_end)
				t->unsol_done = true;
		}
	} else {
		struct iscsi_r2t *r = &t->r2t[slot];
		r->rcvd += dlen;
		r->next_datasn++;
		if (r->rcvd >= r->len || final) {
			if (r->rcvd < r->len && !t->seq_error) {
				t->seq_error = true; /* the initiator ended the sequence early */
				t->discard = true;
				t->seq_asc = 0x0c;
				t->seq_ascq = 0x0d;
			}
			r->active = false;
			t->r2t_active--;
		}
	}
	task_progress(t);
	return 0;
}

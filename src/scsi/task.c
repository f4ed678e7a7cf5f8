/* task.c - task dispatch (LUN, unit attention, CDB, reservation, medium and direction checks) and completion. */
#include <assert.h>
#include <string.h>

#include "core/util.h"
#include "scsi/scsi_internal.h"

/* Framework record kept in the tail of task->priv (handlers own the head). */
struct scsi_task_fw {
	struct reactor_defer defer;
	uint16_t reactor_idx;
	uint8_t tracked;
	uint8_t restore_exp;     /* exp_xfer_len was hidden from a data-in handler (see dispatch) */
	uint32_t saved_exp;
};
_Static_assert(sizeof(struct scsi_task_fw) <= (48 - SCSI_TASK_PRIV_WORDS) * sizeof(uint64_t),
	       "framework record must fit in the tail of task->priv");

static struct scsi_task_fw *task_fw(struct scsi_task *t)
{
	return (struct scsi_task_fw *)(void *)&t->priv.u64[SCSI_TASK_PRIV_WORDS];
}

/* ---- in-flight lists (per LU, per reactor; only the owning reactor touches its list) ---- */

static void inflight_add(struct scsi_task *t)
{
	struct scsi_task_fw *fw = task_fw(t);
	struct reactor *r = reactor_self();
	unsigned idx = r ? reactor_index(r) : UINT32_MAX;
	struct scsi_lu *lu = t->lu;

	fw->tracked = 0;
	if (!lu || idx >= lu->n_inflight || idx > UINT16_MAX)
		return;
	fw->reactor_idx = (uint16_t)idx;
	fw->tracked = 1;
	t->prev_in_lu = NULL;
	t->next_in_lu = lu->inflight[idx].head;
	if (t->next_in_lu)
		t->next_in_lu->prev_in_lu = t;
	lu->inflight[idx].head = t;
}

static void inflight_del(struct scsi_task *t)
{
	struct scsi_task_fw *fw = task_fw(t);

	if (!fw->tracked)
		return;
	fw->tracked = 0;
	if (t->prev_in_lu)
		t->prev_in_lu->next_in_lu = t->next_in_lu;
	else
		t->lu->inflight[fw->reactor_idx].head = t->next_in_lu;
	if (t->next_in_lu)
		t->next_in_lu->prev_in_lu = t->prev_in_lu;
	t->next_in_lu = t->prev_in_lu = NULL;
}

/* ---- completion ---- */

static void task_done_deferred(void *arg)
{
	struct scsi_task *t = arg;
	t->done(t);
}

void scsi_task_complete(struct scsi_task *t)
{
	struct scsi_task_fw *fw = task_fw(t);

	inflight_del(t);
	if (fw->restore_exp) {
		t->exp_xfer_len = fw->saved_exp;
		fw->restore_exp = 0;
	}
	if (t->aborted) {
		t->status = SCSI_STATUS_TASK_ABORTED;
		t->sense_len = 0;
		t->data_in_len = 0;
	}
	reactor_defer(&task_fw(t)->defer, task_done_deferred, t);
}

void scsi_task_good(struct scsi_task *t)
{
	t->status = SCSI_STATUS_GOOD;
	t->sense_len = 0;
	if (t->data_in_len > t->exp_xfer_len)
		t->data_in_len = t->exp_xfer_len;
	scsi_task_complete(t);
}

void scsi_task_set_residual(struct scsi_task *t, uint32_t cdb_xfer_len)
{
	t->resid_over = t->resid_under = false;
	t->residual = 0;
	if (cdb_xfer_len > t->exp_xfer_len) {
		t->resid_over = true;
		t->residual = cdb_xfer_len - t->exp_xfer_len;
	} else if (cdb_xfer_len < t->exp_xfer_len) {
		t->resid_under = true;
		t->residual = t->exp_xfer_len - cdb_xfer_len;
	}
}

void scsi_task_data_in(struct scsi_task *t, const void *buf, uint32_t len, uint32_t alloc_len)
{
	uint32_t want = MIN(len, alloc_len);
	uint32_t n = MIN(want, t->exp_xfer_len);

	n = (uint32_t)iov_from_buf(t->iov, t->iovcnt, 0, buf, n);
	t->data_in_len = n;
	scsi_task_set_residual(t, want);
}

/* ---- dispatch ---- */

static void fail_conflict(struct scsi_task *t)
{
	t->status = SCSI_STATUS_RESERVATION_CONFLICT;
	t->sense_len = 0;
	t->data_in_len = 0;
	scsi_task_complete(t);
}

/* Under lu->lock: does a reservation keep this command out? */
static bool resv_conflict(struct scsi_lu *lu, const struct scsi_nexus *n, const struct scsi_opcode *op,
			  const uint8_t *cdb)
{
	uint8_t bits = op->resv_fn ? op->resv_fn(cdb) : op->resv;

	if (lu->spc2_holder) {
		if (bits & SCSI_RESV_PR_ANY)
			return true;
		if (lu->spc2_holder != n && !(bits & SCSI_RESV_SPC2_OK))
			return true;
	}
	if (lu->pr.holder && !scsi_pr_allows(lu, n, bits))
		return true;
	return false;
}

static void fail_ua(struct scsi_task *t, uint16_t code)
{
	scsi_task_fail(t, SK_UNIT_ATTENTION, (uint8_t)(code >> 8), (uint8_t)code);
}

void scsi_task_submit(struct scsi_task *t)
{
	struct scsi_nexus *n = t->nexus;
	struct scsi_lu *lu;
	struct scsi_itl *itl = NULL;
	const struct scsi_opcode *op;
	bool sa_invalid;
	unsigned gate;

	t->status = SCSI_STATUS_GOOD;
	t->sense_len = 0;
	t->data_in_len = 0;
	t->aborted = false;
	t->state = 0;
	t->next_in_lu = t->prev_in_lu = NULL;
	task_fw(t)->tracked = 0;
	task_fw(t)->restore_exp = 0;
	scsi_task_set_residual(t, 0);

	lu = scsi_target_lu(n->target, t->lun);
	if (lu)
		itl = scsi_itl_get(n, lu);
	if (!itl)
		lu = NULL;
	t->lu = lu;
	inflight_add(t);

	if (t->cdb_len == 0 || t->cdb_len > sizeof(t->cdb)) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	op = scsi_opcode_lookup(t->cdb, &sa_invalid);
	if (op && lu && !scsi_opcode_avail(op, lu)) {
		bool has_sa;
		scsi_opcode_find(t->cdb[0], 0, &has_sa);
		sa_invalid = has_sa; /* this LU does not offer it (thin-only): answered as an unknown one */
		op = NULL;
	}

	if (!lu) {
		if (op && (op->flags & SCSI_OPF_NO_LUN_OK) && t->cdb_len >= op->cdb_len &&
		    !(t->cdb[op->cdb_len - 1] & 0x04)) {
			op->fn(t);
			return;
		}
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x25, 0x00); /* LOGICAL UNIT NOT SUPPORTED */
		return;
	}

	/* a pending unit attention ends every command but INQUIRY, REPORT LUNS
	 * and REQUEST SENSE; reporting it clears it (SAM-5 5.14) */
	if (unlikely(atomic_load_explicit(&itl->ua_count, memory_order_acquire)) &&
	    !(op && (op->flags & SCSI_OPF_UA_OK))) {
		uint16_t code;
		pthread_mutex_lock(&lu->lock);
		code = scsi_ua_take(itl);
		pthread_mutex_unlock(&lu->lock);
		if (code) {
			fail_ua(t, code);
			return;
		}
	}

	if (!op) {
		if (sa_invalid)
			scsi_task_fail_field_cdb(t, 1, 4);
		else
			scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x20, 0x00); /* INVALID COMMAND OPERATION CODE */
		return;
	}
	if (t->cdb_len < op->cdb_len) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	/* NACA=1 asks for ACA, which this device server does not support */
	if (t->cdb[op->cdb_len - 1] & 0x04) {
		scsi_task_fail_field_cdb(t, (uint16_t)(op->cdb_len - 1), 2);
		return;
	}

	gate = atomic_load_explicit(&lu->gate, memory_order_acquire);
	if (unlikely(gate)) {
		if ((gate & SCSI_GATE_SANITIZE) && !(op->flags & SCSI_OPF_SANITIZE_OK)) {
			struct scsi_sense_info si = { .key = SK_NOT_READY, .asc = 0x04, .ascq = 0x1b };
			scsi_sense_progress(&si, (uint16_t)atomic_load(&lu->sanitize_progress));
			scsi_task_fail_ex(t, &si);
			return;
		}
		if (gate & SCSI_GATE_RESERVED) {
			bool conflict;
			pthread_mutex_lock(&lu->lock);
			conflict = resv_conflict(lu, n, op, t->cdb);
			pthread_mutex_unlock(&lu->lock);
			if (conflict) {
				fail_conflict(t);
				return;
			}
		}
		if ((gate & SCSI_GATE_SANITIZE_FAILED) && (op->flags & SCSI_OPF_MEDIUM) && op->opcode != 0x48) {
			scsi_task_fail(t, SK_MEDIUM_ERROR, 0x31, 0x03); /* SANITIZE COMMAND FAILED */
			return;
		}
		if ((gate & SCSI_GATE_NOMEDIUM) && (op->flags & SCSI_OPF_MEDIUM)) {
			scsi_task_fail(t, SK_NOT_READY, 0x3a, 0x00); /* MEDIUM NOT PRESENT */
			return;
		}
		if ((gate & SCSI_GATE_SWP) && (op->flags & SCSI_OPF_MEDIUM_WRITE) && !lu->read_only) {
			scsi_task_fail(t, SK_DATA_PROTECT, 0x27, 0x02); /* LOGICAL UNIT SOFTWARE WRITE PROTECTED */
			return;
		}
	}

	if (lu->read_only && (op->flags & SCSI_OPF_MEDIUM_WRITE)) {
		scsi_task_fail(t, SK_DATA_PROTECT, 0x27, 0x00); /* WRITE PROTECTED */
		return;
	}

	/* the transport's direction must agree with the command's: data-out
	 * commands need data-out, no-data commands take none, nothing is
	 * bidirectional */
	if (((op->flags & SCSI_OPF_DATA_OUT) && t->dir == SCSI_DIR_READ) ||
	    (!(op->flags & (SCSI_OPF_DATA_IN | SCSI_OPF_DATA_OUT)) && t->dir == SCSI_DIR_WRITE && t->data_out_len) ||
	    t->dir == SCSI_DIR_BIDI) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x24, 0x00);
		return;
	}
	/* a data-in command flagged as write: the initiator expects no data-in,
	 * so the handler sees an expected length of 0 and everything it would
	 * have sent is reported as residual overflow (nothing lands silently) */
	if ((op->flags & SCSI_OPF_DATA_IN) && t->dir == SCSI_DIR_WRITE) {
		struct scsi_task_fw *fw = task_fw(t);
		fw->saved_exp = t->exp_xfer_len;
		fw->restore_exp = 1;
		t->exp_xfer_len = 0;
		scsi_task_set_residual(t, 0);
	}

	op->fn(t);
}

/* ---- aborting ---- */

void scsi_task_abort(struct scsi_task *t)
{
	t->aborted = true;
}


unsigned scsi_lu_abort_local(struct scsi_lu *lu, unsigned idx, const struct scsi_nexus *only)
{
	unsigned n = 0;

	if (idx >= lu->n_inflight)
		return 0;
	for (struct scsi_task *t = lu->inflight[idx].head; t; t = t->next_in_lu) {
		if (!only || t->nexus == only) {
			t->aborted = true;
			n++;
		}
	}
	return n;
}

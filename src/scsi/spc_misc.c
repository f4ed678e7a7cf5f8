/* spc_misc.c - TEST UNIT READY, REQUEST SENSE, REPORT LUNS, REPORT SUPPORTED OPERATION CODES, START STOP UNIT, PREVENT ALLOW, RESERVE/RELEASE. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "scsi/scsi_internal.h"

/* ---- TEST UNIT READY ---- */

void spc_test_unit_ready(struct scsi_task *t)
{
	/* sanitize in progress is reported by the dispatcher (TUR is not SANITIZE_OK) */
	if (atomic_load(&t->lu->gate) & SCSI_GATE_NOMEDIUM) {
		scsi_task_fail(t, SK_NOT_READY, 0x3a, 0x00); /* MEDIUM NOT PRESENT */
		return;
	}
	scsi_task_good(t);
}

/* ---- REQUEST SENSE ---- */

void spc_request_sense(struct scsi_task *t)
{
	struct scsi_sense_info si = { .key = SK_NO_SENSE };
	struct scsi_lu *lu = t->lu;
	bool desc = t->cdb[1] & 0x01;
	uint8_t alloc = t->cdb[4];
	uint8_t buf[SCSI_SENSE_MAX];
	uint8_t len;

	if (t->cdb[1] & 0xfe) {
		scsi_task_fail_field_cdb(t, 1, (int8_t)(31 - __builtin_clz(t->cdb[1] & 0xfe)));
		return;
	}
	if (!lu) {
		si.key = SK_ILLEGAL_REQUEST;
		si.asc = 0x25; /* LOGICAL UNIT NOT SUPPORTED */
	} else {
		struct scsi_itl *itl = scsi_itl_get(t->nexus, lu);
		unsigned gate = atomic_load(&lu->gate);
		uint16_t ua = 0;

		if (itl && atomic_load(&itl->ua_count)) {
			/* REQUEST SENSE reports the unit attention and clears it */
			pthread_mutex_lock(&lu->lock);
			ua = scsi_ua_take(itl);
			pthread_mutex_unlock(&lu->lock);
		}
		if (ua) {
			si.key = SK_UNIT_ATTENTION;
			si.asc = (uint8_t)(ua >> 8);
			si.ascq = (uint8_t)ua;
		} else if (gate & SCSI_GATE_SANITIZE) {
			si.key = SK_NOT_READY;
			si.asc = 0x04;
			si.ascq = 0x1b; /* SANITIZE IN PROGRESS */
			scsi_sense_progress(&si, (uint16_t)atomic_load(&lu->sanitize_progress));
		} else if (gate & SCSI_GATE_NOMEDIUM) {
			si.key = SK_NOT_READY;
			si.asc = 0x3a;
		}
	}
	len = scsi_sense_encode(buf, sizeof(buf), desc, &si);
	scsi_task_data_in(t, buf, len, alloc);
	scsi_task_good(t);
}

/* ---- REPORT LUNS ---- */

void spc_report_luns(struct scsi_task *t)
{
	struct scsi_target *tg = t->nexus->target;
	uint8_t select = t->cdb[2];
	uint32_t alloc = get_be32(t->cdb + 6);
	unsigned cnt = 0;
	uint8_t *buf;
	uint32_t len;

	if (alloc < 16) {
		scsi_task_fail_field_cdb(t, 6, -1);
		return;
	}
	switch (select) {
	case 0x00: /* every LU but well-known ones (we have none) */
	case 0x02: /* every LU */
		cnt = scsi_target_lu_count(tg);
		break;
	case 0x01: /* well-known LUs only: none */
		cnt = 0;
		break;
	default:
		scsi_task_fail_field_cdb(t, 2, -1);
		return;
	}
	len = 8 + 8 * cnt;
	buf = calloc(1, len);
	if (!buf) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	for (unsigned i = 0; i < cnt; i++) {
		uint64_t lun = scsi_target_lun_at(tg, i);
		uint8_t *e = buf + 8 + 8 * i;
		if (lun == UINT64_MAX) { /* the LU list grew meanwhile: report what we saw */
			cnt = i;
			break;
		}
		if (lun < 256) {
			e[0] = 0x00;                         /* peripheral device addressing, bus 0 */
			e[1] = (uint8_t)lun;
		} else {
			e[0] = (uint8_t)(0x40 | (lun >> 8)); /* flat space addressing */
			e[1] = (uint8_t)lun;
		}
	}
	len = 8 + 8 * cnt;
	put_be32(buf, 8 * cnt);
	scsi_task_data_in(t, buf, len, alloc);
	free(buf);
	scsi_task_good(t);
}

/* ---- REPORT SUPPORTED OPERATION CODES ---- */

static uint32_t put_timeouts(uint8_t *p, const struct scsi_opcode *op)
{
	memset(p, 0, 12);
	put_be16(p, 0x0a);
	put_be32(p + 4, op->nominal_timeout);
	put_be32(p + 8, op->recommended_timeout);
	return 12;
}

void spc_report_supported_opcodes(struct scsi_task *t)
{
	bool rctd = t->cdb[2] & 0x80;
	uint8_t options = t->cdb[2] & 0x07;
	uint8_t req_op = t->cdb[3];
	uint16_t req_sa = get_be16(t->cdb + 4);
	uint32_t alloc = get_be32(t->cdb + 6);
	const struct scsi_opcode *op;
	uint8_t *buf;
	uint32_t len = 0;
	bool has_sa;

	if (t->cdb[2] & 0x78) {
		scsi_task_fail_field_cdb(t, 2, (int8_t)(31 - __builtin_clz(t->cdb[2] & 0x78)));
		return;
	}
	buf = calloc(1, 8192);
	if (!buf) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	switch (options) {
	case 0x0: { /* all commands */
		len = 4;
		for (unsigned i = 0; (op = scsi_opcode_at(i)) != NULL && len + 20 <= 8192; i++) {
			uint8_t *d = buf + len;
			bool sa;
			if (!scsi_opcode_avail(op, t->lu))
				continue;
			scsi_opcode_find(op->opcode, op->sa, &has_sa);
			sa = has_sa;
			d[0] = op->opcode;
			put_be16(d + 2, sa ? op->sa : 0);
			d[5] = (uint8_t)((rctd ? 0x02 : 0) | (sa ? 0x01 : 0)); /* CTDP, SERVACTV */
			put_be16(d + 6, op->cdb_len);
			len += 8;
			if (rctd)
				len += put_timeouts(buf + len, op);
		}
		put_be32(buf, len - 4);
		break;
	}
	case 0x1:   /* one command, no service action */
	case 0x2:   /* one command with service action */
	case 0x3: { /* one command, service action if it has them */
		op = scsi_opcode_find(req_op, req_sa, &has_sa);
		if (op && !scsi_opcode_avail(op, t->lu))
			op = NULL;
		if ((options == 0x1 && has_sa) || (options == 0x2 && !has_sa)) {
			free(buf);
			scsi_task_fail_field_cdb(t, 2, 2);
			return;
		}
		if (options == 0x1 && req_sa) {
			free(buf);
			scsi_task_fail_field_cdb(t, 4, -1);
			return;
		}
		if (!op) {
			buf[1] = 0x01;                 /* SUPPORT: not supported */
			len = 4;
			break;
		}
		buf[1] = (uint8_t)((rctd ? 0x80 : 0) | 0x03); /* CTDP, SUPPORT: per standard */
		put_be16(buf + 2, op->cdb_len);
		/* usage[] omits byte 0, the operation code */
		buf[4] = op->opcode;
		memcpy(buf + 5, op->usage, op->cdb_len - 1u);
		if (has_sa)
			buf[5] = (uint8_t)((buf[5] & 0xe0) | (op->sa & 0x1f));
		len = 4u + op->cdb_len;
		if (rctd)
			len += put_timeouts(buf + len, op);
		break;
	}
	default:
		free(buf);
		scsi_task_fail_field_cdb(t, 2, 2);
		return;
	}
	scsi_task_data_in(t, buf, len, alloc);
	free(buf);
	scsi_task_good(t);
}

/* ---- START STOP UNIT / PREVENT ALLOW MEDIUM REMOVAL ---- */

struct ssu_ctx {
	struct blk_io io;
	bool eject;
	bool load;
};
_Static_assert(sizeof(struct ssu_ctx) <= SCSI_TASK_PRIV_WORDS * sizeof(uint64_t), "START STOP UNIT context size");

static bool any_prevent(struct scsi_lu *lu)
{
	for (struct scsi_itl *itl = lu->itls; itl; itl = itl->next_in_lu)
		if (itl->prevent)
			return true;
	return false;
}

static void ssu_finish(struct scsi_task *t, bool eject, bool load)
{
	struct scsi_lu *lu = t->lu;

	if (eject || load) {
		pthread_mutex_lock(&lu->lock);
		if (any_prevent(lu)) {
			pthread_mutex_unlock(&lu->lock);
			scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x53, 0x02); /* MEDIUM REMOVAL PREVENTED */
			return;
		}
		if (eject) {
			atomic_fetch_or(&lu->gate, SCSI_GATE_NOMEDIUM);
		} else if (atomic_load(&lu->gate) & SCSI_GATE_NOMEDIUM) {
			atomic_fetch_and(&lu->gate, ~SCSI_GATE_NOMEDIUM);
			/* the other I_T nexuses learn the medium may have changed */
			scsi_ua_add_all(lu, t->nexus, SCSI_UA_MEDIUM_CHANGED);
		}
		pthread_mutex_unlock(&lu->lock);
	}
	scsi_task_good(t);
}

static void ssu_flush_done(struct blk_io *io, int status)
{
	struct scsi_task *t = io->cb_arg;
	struct ssu_ctx *c = (struct ssu_ctx *)(void *)t->priv.u64;

	if (status) {
		scsi_task_fail_blk(t, status);
		return;
	}
	ssu_finish(t, c->eject, c->load);
}

void spc_start_stop_unit(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	uint8_t pc = t->cdb[4] >> 4;
	bool no_flush = t->cdb[4] & 0x04;
	bool loej = t->cdb[4] & 0x02;
	bool start = t->cdb[4] & 0x01;
	struct ssu_ctx *c = (struct ssu_ctx *)(void *)t->priv.u64;
	int rc;

	if (t->cdb[1] & 0xfe) {
		scsi_task_fail_field_cdb(t, 1, (int8_t)(31 - __builtin_clz(t->cdb[1] & 0xfe)));
		return;
	}
	if (t->cdb[3] & 0xf0) {
		scsi_task_fail_field_cdb(t, 3, (int8_t)(31 - __builtin_clz(t->cdb[3] & 0xf0)));
		return;
	}
	if (t->cdb[4] & 0x08) {
		scsi_task_fail_field_cdb(t, 4, 3);
		return;
	}
	if (pc != 0) {
		/* a virtual disk has no power conditions to move between: it stays
		 * active. START and LOEJ are ignored when POWER CONDITION is not 0
		 * (SBC-3 5.25), whatever the value, as iscsi-test-cu expects. */
		scsi_task_good(t);
		return;
	}
	if (loej && !lu->removable) {
		scsi_task_fail_field_cdb(t, 4, 1);
		return;
	}
	c->eject = loej && !start;
	c->load = loej && start;
	/* stopping (or ejecting) writes the cache back first unless NO_FLUSH */
	if (!start && !no_flush && lu->dev->info.volatile_cache &&
	    !(atomic_load(&lu->gate) & SCSI_GATE_NOMEDIUM)) {
		blk_io_prep(&c->io, lu->dev, BLK_OP_FLUSH, 0, 0, NULL, 0, ssu_flush_done, t);
		rc = blk_submit(lu->dev, &c->io);
		if (rc)
			scsi_task_fail_blk(t, rc);
		return;
	}
	ssu_finish(t, c->eject, c->load);
}

void spc_prevent_allow(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	uint8_t prevent = t->cdb[4] & 0x03;
	struct scsi_itl *itl;

	if (t->cdb[4] & 0xfc) {
		scsi_task_fail_field_cdb(t, 4, (int8_t)(31 - __builtin_clz(t->cdb[4] & 0xfc)));
		return;
	}
	if (prevent > 1) { /* 10b/11b: obsolete in SPC-4 */
		scsi_task_fail_field_cdb(t, 4, 1);
		return;
	}
	itl = scsi_itl_get(t->nexus, lu);
	pthread_mutex_lock(&lu->lock);
	itl->prevent = prevent == 1;
	pthread_mutex_unlock(&lu->lock);
	scsi_task_good(t);
}

/* ---- RESERVE / RELEASE (SPC-2, with the SPC-3 5.6.3 interplay with PR) ---- */

void spc_reserve(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	bool conflict = false;

	/* 3RDPTY / LONGID / EXTENT are obsolete and not supported */
	if (t->cdb[1] & 0xff) {
		scsi_task_fail_field_cdb(t, 1, (int8_t)(31 - __builtin_clz(t->cdb[1])));
		return;
	}
	pthread_mutex_lock(&lu->lock);
	if (lu->pr.regs || lu->pr.holder)
		conflict = true; /* any persistent registration makes RESERVE conflict */
	else if (lu->spc2_holder && lu->spc2_holder != t->nexus)
		conflict = true;
	else {
		lu->spc2_holder = t->nexus;
		scsi_lu_update_resv_gate(lu);
	}
	pthread_mutex_unlock(&lu->lock);
	if (conflict) {
		t->status = SCSI_STATUS_RESERVATION_CONFLICT;
		scsi_task_complete(t);
		return;
	}
	scsi_task_good(t);
}

void spc_release(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;

	if (t->cdb[1] & 0xff) {
		scsi_task_fail_field_cdb(t, 1, (int8_t)(31 - __builtin_clz(t->cdb[1])));
		return;
	}
	pthread_mutex_lock(&lu->lock);
	/* releasing someone else's reservation (or none) is a no-op with GOOD */
	if (lu->spc2_holder == t->nexus) {
		lu->spc2_holder = NULL;
		scsi_lu_update_resv_gate(lu);
	}
	pthread_mutex_unlock(&lu->lock);
	scsi_task_good(t);
}

/* pr.c - persistent reservations (SPC-4 5.9): PERSISTENT RESERVE IN/OUT, all six types, conflict rules. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "scsi/scsi_internal.h"

/*
 * Registrations belong to an I_T nexus, identified by its initiator port
 * name (the target port is the target's only port), so they survive the
 * session that made them. APTPL (persist through power loss) is refused:
 * nothing is written to disk yet, and REPORT CAPABILITIES says so (PTPL_C=0).
 */

static bool type_valid(uint8_t type)
{
	return type == SCSI_PR_WE || type == SCSI_PR_EA || type == SCSI_PR_WE_RO || type == SCSI_PR_EA_RO ||
	       type == SCSI_PR_WE_AR || type == SCSI_PR_EA_AR;
}

static bool type_all_reg(uint8_t type)
{
	return type == SCSI_PR_WE_AR || type == SCSI_PR_EA_AR;
}

static bool type_reg_only(uint8_t type)
{
	return type == SCSI_PR_WE_RO || type == SCSI_PR_EA_RO || type_all_reg(type);
}

static bool type_write_excl(uint8_t type)
{
	return type == SCSI_PR_WE || type == SCSI_PR_WE_RO || type == SCSI_PR_WE_AR;
}

struct scsi_pr_reg *scsi_pr_find(struct scsi_lu *lu, const char *port)
{
	for (struct scsi_pr_reg *r = lu->pr.regs; r; r = r->next)
		if (strcasecmp(r->initiator_port, port) == 0)
			return r;
	return NULL;
}

/* Is reg a holder of the current reservation? */
static bool is_holder(const struct scsi_lu *lu, const struct scsi_pr_reg *reg)
{
	if (!reg || !lu->pr.holder)
		return false;
	return type_all_reg(lu->pr.type) || lu->pr.holder == reg;
}

bool scsi_pr_allows(struct scsi_lu *lu, const struct scsi_nexus *n, uint8_t resv_bits)
{
	struct scsi_pr_reg *reg = scsi_pr_find(lu, n->initiator_port);

	if (!lu->pr.holder || is_holder(lu, reg))
		return true;
	/* registrants-only and all-registrants types let every registrant in */
	if (reg && type_reg_only(lu->pr.type))
		return true;
	return type_write_excl(lu->pr.type) ? (resv_bits & SCSI_RESV_WE_OK) != 0 : (resv_bits & SCSI_RESV_EA_OK) != 0;
}

static void ua_port(struct scsi_lu *lu, const char *port, uint16_t code)
{
	struct scsi_itl *itl = scsi_lu_itl_by_port(lu, port);
	if (itl)
		scsi_ua_add(itl, code);
}

/* UA to every registrant but `except`. */
static void ua_registrants(struct scsi_lu *lu, const struct scsi_pr_reg *except, uint16_t code)
{
	for (struct scsi_pr_reg *r = lu->pr.regs; r; r = r->next)
		if (r != except)
			ua_port(lu, r->initiator_port, code);
}

static void release_resv(struct scsi_lu *lu)
{
	lu->pr.holder = NULL;
	lu->pr.type = SCSI_PR_NONE;
	scsi_lu_update_resv_gate(lu);
}

/* Remove reg; the reservation follows SPC-4 5.9.11 (holder leaves: released,
 * except all-registrants types which last while a registrant remains). */
static void unregister(struct scsi_lu *lu, struct scsi_pr_reg *reg, bool ua_on_release)
{
	struct scsi_pr_reg **pp;

	for (pp = &lu->pr.regs; *pp && *pp != reg; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = reg->next;
	if (lu->pr.holder == reg) {
		if (type_all_reg(lu->pr.type) && lu->pr.regs) {
			lu->pr.holder = lu->pr.regs;
		} else {
			uint8_t type = lu->pr.type;
			release_resv(lu);
			if (ua_on_release && (type == SCSI_PR_WE_RO || type == SCSI_PR_EA_RO))
				ua_registrants(lu, NULL, SCSI_UA_RESV_RELEASED);
		}
	}
	free(reg->initiator_port);
	free(reg);
}

static struct scsi_pr_reg *add_reg(struct scsi_lu *lu, const char *port, uint64_t key)
{
	struct scsi_pr_reg *r = calloc(1, sizeof(*r)), **pp;

	if (!r || !(r->initiator_port = strdup(port))) {
		free(r);
		return NULL;
	}
	r->key = key;
	for (pp = &lu->pr.regs; *pp; pp = &(*pp)->next)
		;
	*pp = r;
	return r;
}

void scsi_pr_fini(struct scsi_lu *lu)
{
	while (lu->pr.regs) {
		struct scsi_pr_reg *r = lu->pr.regs;
		lu->pr.regs = r->next;
		free(r->initiator_port);
		free(r);
	}
	lu->pr.holder = NULL;
	lu->pr.type = SCSI_PR_NONE;
}

/* ---- PERSISTENT RESERVE IN ---- */

static uint32_t transport_id(uint8_t *d, const char *port)
{
	/* iSCSI TransportID, format 01b: initiator port name "<name>,i,0x<ISID>" */
	uint32_t n = (uint32_t)strlen(port) + 1;
	uint32_t padded = ALIGN_UP(n, 4u);

	memset(d, 0, 4 + padded);
	d[0] = 0x40 | 0x05;
	put_be16(d + 2, (uint16_t)padded);
	memcpy(d + 4, port, n - 1);
	return 4 + padded;
}

void spc_pr_in(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	uint8_t sa = t->cdb[1] & 0x1f;
	uint16_t alloc = get_be16(t->cdb + 7);
	uint32_t cap = 8, len = 8;
	uint8_t *buf;

	pthread_mutex_lock(&lu->lock);
	for (struct scsi_pr_reg *r = lu->pr.regs; r; r = r->next)
		cap += 24 + 4 + ALIGN_UP((uint32_t)strlen(r->initiator_port) + 1, 4u) + 8;
	cap += 32;
	buf = calloc(1, cap);
	if (!buf) {
		pthread_mutex_unlock(&lu->lock);
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	put_be32(buf, lu->pr.generation);
	switch (sa) {
	case 0x00: /* READ KEYS */
		for (struct scsi_pr_reg *r = lu->pr.regs; r; r = r->next, len += 8)
			put_be64(buf + len, r->key);
		put_be32(buf + 4, len - 8);
		break;
	case 0x01: /* READ RESERVATION */
		if (lu->pr.holder) {
			/* all-registrants types report key 0 (SPC-4 6.16.3) */
			put_be64(buf + 8, type_all_reg(lu->pr.type) ? 0 : lu->pr.holder->key);
			buf[21] = lu->pr.type & 0x0f; /* scope 0h: logical unit */
			len += 16;
		}
		put_be32(buf + 4, len - 8);
		break;
	case 0x02: /* REPORT CAPABILITIES */
		memset(buf, 0, 8);
		put_be16(buf, 8);
		buf[2] = 0x10;          /* CRH: RESERVE/RELEASE interplay per SPC-3 5.6.3; no SIP_C, ATP_C, PTPL_C */
		buf[3] = 0x80 | 0x10;   /* TMV, ALLOW COMMANDS 001b; PTPL_A 0 */
		buf[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; /* WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX */
		buf[5] = 0x01;          /* EX_AC_AR */
		len = 8;
		break;
	case 0x03: /* READ FULL STATUS */
		for (struct scsi_pr_reg *r = lu->pr.regs; r; r = r->next) {
			uint8_t *d = buf + len;
			uint32_t tl;
			put_be64(d, r->key);
			if (is_holder(lu, r)) {
				d[12] = 0x01;   /* R_HOLDER */
				d[13] = lu->pr.type & 0x0f;
			}
			put_be16(d + 18, lu->target->rel_port);
			tl = transport_id(d + 24, r->initiator_port);
			put_be32(d + 20, tl);
			len += 24 + tl;
		}
		put_be32(buf + 4, len - 8);
		break;
	default: /* the opcode table admits only 00h..03h */
		pthread_mutex_unlock(&lu->lock);
		free(buf);
		scsi_task_fail_field_cdb(t, 1, 4);
		return;
	}
	pthread_mutex_unlock(&lu->lock);
	scsi_task_data_in(t, buf, len, alloc);
	free(buf);
	scsi_task_good(t);
}

/* ---- PERSISTENT RESERVE OUT ---- */

enum pr_result { PR_OK, PR_CONFLICT, PR_NOMEM, PR_FIELD_CDB, PR_FIELD_PARAM, PR_BAD_RELEASE };

struct pr_out {
	uint8_t sa, scope, type;
	uint64_t key, sark;
	const uint8_t *p;            /* parameter list */
	uint32_t plen;
	uint16_t field;              /* field pointer for PR_FIELD_* */
	int8_t bit;
};

static enum pr_result pr_register(struct scsi_lu *lu, struct scsi_nexus *n, struct pr_out *o, bool ignore_key)
{
	struct scsi_pr_reg *reg = scsi_pr_find(lu, n->initiator_port);

	if (!reg) {
		if (!ignore_key && o->key != 0)
			return PR_CONFLICT;
		if (o->sark == 0)
			return PR_OK;
		if (!add_reg(lu, n->initiator_port, o->sark))
			return PR_NOMEM;
	} else {
		if (!ignore_key && o->key != reg->key)
			return PR_CONFLICT;
		if (o->sark == 0)
			unregister(lu, reg, true);
		else
			reg->key = o->sark;
	}
	lu->pr.generation++;
	return PR_OK;
}

static enum pr_result pr_reserve(struct scsi_lu *lu, struct scsi_pr_reg *reg, struct pr_out *o)
{
	if (lu->pr.holder) {
		if (is_holder(lu, reg) && lu->pr.type == o->type)
			return PR_OK;
		return PR_CONFLICT;
	}
	lu->pr.holder = reg;
	lu->pr.type = o->type;
	scsi_lu_update_resv_gate(lu);
	return PR_OK;
}

static enum pr_result pr_release(struct scsi_lu *lu, struct scsi_pr_reg *reg, struct pr_out *o)
{
	uint8_t type = lu->pr.type;

	if (!lu->pr.holder || !is_holder(lu, reg))
		return PR_OK; /* nothing of ours to release */
	if (o->type != type)
		return PR_BAD_RELEASE;
	release_resv(lu);
	if (type != SCSI_PR_WE && type != SCSI_PR_EA)
		ua_registrants(lu, reg, SCSI_UA_RESV_RELEASED);
	return PR_OK;
}

static void pr_clear(struct scsi_lu *lu, struct scsi_pr_reg *reg)
{
	ua_registrants(lu, reg, SCSI_UA_RESV_PREEMPTED);
	release_resv(lu);
	scsi_pr_fini(lu);
	lu->pr.generation++;
}

/* Remove every registration with key sark except `keep`; UA (and abort) for
 * each removed I_T nexus. Returns how many were removed. */
static unsigned preempt_regs(struct scsi_lu *lu, uint64_t sark, bool all_others, struct scsi_pr_reg *keep, bool abort)
{
	unsigned n = 0;
	struct scsi_pr_reg *r = lu->pr.regs;

	while (r) {
		struct scsi_pr_reg *next = r->next;
		if (r != keep && (all_others || r->key == sark)) {
			struct scsi_itl *itl = scsi_lu_itl_by_port(lu, r->initiator_port);
			if (itl) {
				scsi_ua_add(itl, SCSI_UA_REG_PREEMPTED);
				if (abort)
					scsi_lu_abort(lu, itl->nexus);
			}
			if (lu->pr.holder == r)
				lu->pr.holder = NULL; /* re-established by the caller */
			unregister(lu, r, false);
			n++;
		}
		r = next;
	}
	return n;
}

static enum pr_result pr_preempt(struct scsi_lu *lu, struct scsi_pr_reg *reg, struct pr_out *o, bool abort)
{
	if (!lu->pr.holder) {
		if (o->sark == 0) {
			o->field = 8;
			return PR_FIELD_PARAM;
		}
		if (!preempt_regs(lu, o->sark, false, NULL, abort))
			return PR_CONFLICT;
	} else if (type_all_reg(lu->pr.type)) {
		if (o->sark == 0) {
			/* preempt the all-registrants reservation: everyone else goes */
			if (!type_valid(o->type))
				return PR_FIELD_CDB;
			preempt_regs(lu, 0, true, reg, abort);
			lu->pr.holder = reg;
			lu->pr.type = o->type;
		} else {
			if (!preempt_regs(lu, o->sark, false, reg, abort))
				return PR_CONFLICT;
			if (!lu->pr.holder)
				lu->pr.holder = reg; /* the removed one stood for all registrants */
		}
	} else if (lu->pr.holder->key == o->sark) {
		/* the holder is preempted: the preempting I_T nexus takes over */
		if (!type_valid(o->type))
			return PR_FIELD_CDB;
		preempt_regs(lu, o->sark, false, reg, abort);
		lu->pr.holder = reg;
		lu->pr.type = o->type;
	} else {
		if (o->sark == 0) {
			o->field = 8;
			return PR_FIELD_PARAM;
		}
		if (!preempt_regs(lu, o->sark, false, reg, abort))
			return PR_CONFLICT;
	}
	scsi_lu_update_resv_gate(lu);
	lu->pr.generation++;
	return PR_OK;
}

static enum pr_result pr_register_move(struct scsi_lu *lu, struct scsi_nexus *n, struct scsi_pr_reg *reg,
				       struct pr_out *o)
{
	const uint8_t *p = o->p;
	uint32_t tid_len;
	char port[256];
	uint32_t name_len;
	struct scsi_pr_reg *dst;

	if (!lu->pr.holder || lu->pr.holder != reg || type_all_reg(lu->pr.type))
		return PR_CONFLICT;
	if (o->sark == 0) {
		o->field = 8;
		return PR_FIELD_PARAM;
	}
	if (p[17] & 0x01) { /* APTPL */
		o->field = 17;
		o->bit = 0;
		return PR_FIELD_PARAM;
	}
	if (get_be16(p + 18) != lu->target->rel_port) {
		o->field = 18;
		return PR_FIELD_PARAM;
	}
	tid_len = get_be32(p + 20);
	if (tid_len < 8 || 24 + tid_len > o->plen) {
		o->field = 20;
		return PR_FIELD_PARAM;
	}
	p += 24;
	/* iSCSI TransportID, format 01b (initiator port name with ISID) */
	if ((p[0] & 0x0f) != 0x05 || (p[0] & 0xc0) != 0x40) {
		o->field = 24;
		o->bit = 0;
		return PR_FIELD_PARAM;
	}
	name_len = get_be16(p + 2);
	if (name_len < 4 || 4 + name_len > tid_len || name_len >= sizeof(port)) {
		o->field = 26;
		return PR_FIELD_PARAM;
	}
	memcpy(port, p + 4, name_len);
	port[name_len] = 0;
	if (strlen(port) == 0 || !strstr(port, ",i,0x")) {
		o->field = 28;
		return PR_FIELD_PARAM;
	}
	if (strcasecmp(port, n->initiator_port) == 0) {
		o->field = 28;
		return PR_FIELD_PARAM;
	}
	dst = scsi_pr_find(lu, port);
	if (!dst && !(dst = add_reg(lu, port, o->sark)))
		return PR_NOMEM;
	dst->key = o->sark;
	lu->pr.holder = dst;
	if (o->p[17] & 0x02) /* UNREG: the source leaves */
		unregister(lu, reg, false);
	lu->pr.generation++;
	return PR_OK;
}

void spc_pr_out(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	struct pr_out o = { 0 };
	uint8_t buf[24 + 4 + 256];
	uint32_t plen = get_be32(t->cdb + 5);
	struct scsi_pr_reg *reg;
	enum pr_result res;

	o.sa = t->cdb[1] & 0x1f;
	o.scope = t->cdb[2] >> 4;
	o.type = t->cdb[2] & 0x0f;
	o.bit = -1;
	scsi_task_set_residual(t, plen);

	if ((o.sa == 0x01 || o.sa == 0x02 || o.sa == 0x04 || o.sa == 0x05) && o.scope != 0) {
		scsi_task_fail_field_cdb(t, 2, 7);
		return;
	}
	if ((o.sa == 0x01 || o.sa == 0x02) && !type_valid(o.type)) {
		scsi_task_fail_field_cdb(t, 2, 3);
		return;
	}
	if ((o.sa != 0x07 && plen != 24) || (o.sa == 0x07 && (plen < 24 || plen > sizeof(buf)))) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x1a, 0x00); /* PARAMETER LIST LENGTH ERROR */
		return;
	}
	if (iov_to_buf(t->iov, t->iovcnt, 0, buf, MIN(plen, t->data_out_len)) < plen) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x1a, 0x00);
		return;
	}
	o.key = get_be64(buf);
	o.sark = get_be64(buf + 8);
	o.p = buf;
	o.plen = plen;
	if (o.sa != 0x07) {
		if (buf[20] & 0x08) { /* SPEC_I_PT: not supported (SIP_C=0) */
			scsi_task_fail_field_param(t, 20, 3);
			return;
		}
		if ((o.sa == 0x00 || o.sa == 0x06) && (buf[20] & 0x04)) { /* ALL_TG_PT (ATP_C=0) */
			scsi_task_fail_field_param(t, 20, 2);
			return;
		}
		if (buf[20] & 0x01) { /* APTPL: registrations are not persisted (PTPL_C=0) */
			scsi_task_fail_field_param(t, 20, 0);
			return;
		}
	}

	pthread_mutex_lock(&lu->lock);
	reg = scsi_pr_find(lu, t->nexus->initiator_port);
	if (o.sa == 0x00 || o.sa == 0x06) {
		res = pr_register(lu, t->nexus, &o, o.sa == 0x06);
	} else if (!reg || reg->key != o.key) {
		res = PR_CONFLICT;
	} else {
		switch (o.sa) {
		case 0x01: res = pr_reserve(lu, reg, &o); break;
		case 0x02: res = pr_release(lu, reg, &o); break;
		case 0x03: pr_clear(lu, reg); res = PR_OK; break;
		case 0x04: res = pr_preempt(lu, reg, &o, false); break;
		case 0x05: res = pr_preempt(lu, reg, &o, true); break;
		case 0x07: res = pr_register_move(lu, t->nexus, reg, &o); break;
		default: res = PR_FIELD_CDB; o.field = 1; o.bit = 4; break;
		}
	}
	scsi_lu_update_resv_gate(lu);
	pthread_mutex_unlock(&lu->lock);

	switch (res) {
	case PR_OK:
		scsi_task_good(t);
		break;
	case PR_CONFLICT:
		t->status = SCSI_STATUS_RESERVATION_CONFLICT;
		scsi_task_complete(t);
		break;
	case PR_NOMEM:
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x55, 0x04); /* INSUFFICIENT REGISTRATION RESOURCES */
		break;
	case PR_FIELD_CDB:
		scsi_task_fail_field_cdb(t, 2, 3);
		break;
	case PR_FIELD_PARAM:
		scsi_task_fail_field_param(t, o.field, o.bit);
		break;
	case PR_BAD_RELEASE:
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x26, 0x04); /* INVALID RELEASE OF PERSISTENT RESERVATION */
		break;
	}
}

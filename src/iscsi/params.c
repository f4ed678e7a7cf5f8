/* params.c - iSCSI key negotiation: one table row per RFC 7143 section 13 key, its result function and our answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi/params.h"
#include "iscsi/pdu.h"

/* ---- text buffer ---- */

void iscsi_text_init(struct iscsi_text *t) { memset(t, 0, sizeof(*t)); }

void iscsi_text_free(struct iscsi_text *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

void iscsi_text_reset(struct iscsi_text *t)
{
	t->len = 0;
	t->overflow = false;
}

int iscsi_text_append(struct iscsi_text *t, const void *data, size_t len)
{
	if (len > ISCSI_TEXT_MAX || t->len + len > ISCSI_TEXT_MAX) {
		t->overflow = true;
		return -ENOSPC;
	}
	if (t->len + len > t->cap) {
		size_t cap = t->cap ? t->cap : 1024;
		while (cap < t->len + len)
			cap *= 2;
		if (cap > ISCSI_TEXT_MAX)
			cap = ISCSI_TEXT_MAX;
		char *nb = realloc(t->buf, cap);
		if (!nb) {
			t->overflow = true;
			return -ENOMEM;
		}
		t->buf = nb;
		t->cap = cap;
	}
	if (len)
		memcpy(t->buf + t->len, data, len);
	t->len += len;
	return 0;
}

int iscsi_text_add(struct iscsi_text *t, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);
	if (t->len + kl + vl + 2 > ISCSI_TEXT_MAX) {
		t->overflow = true;
		return -ENOSPC;
	}
	int rc = iscsi_text_append(t, key, kl);
	if (!rc)
		rc = iscsi_text_append(t, "=", 1);
	if (!rc)
		rc = iscsi_text_append(t, value, vl);
	if (!rc)
		rc = iscsi_text_append(t, "", 1);
	return rc;
}

/* ---- defaults ---- */

void iscsi_params_defaults(struct iscsi_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_recv_dsl = ISCSI_LOGIN_DSL;
	p->max_xmit_dsl = ISCSI_LOGIN_DSL;
	p->max_burst = 262144;
	p->first_burst = 65536;
	p->max_outstanding_r2t = 1;
	p->max_connections = 1;
	p->initial_r2t = true;
	p->immediate_data = true;
	p->data_pdu_in_order = true;
	p->data_seq_in_order = true;
	p->time2wait = 2;
	p->time2retain = 20;
	p->erl = 0;
	p->protocol_level = 0;
}

static uint32_t clamp_u32(uint32_t v, uint32_t def, uint32_t lo, uint32_t hi)
{
	if (v == 0)
		v = def;
	return v < lo ? lo : v > hi ? hi : v;
}

void iscsi_limits_from_opts(struct iscsi_limits *lim, uint32_t mrdsl, uint32_t max_burst, uint32_t first_burst,
			    uint32_t max_r2t)
{
	lim->max_recv_dsl = clamp_u32(mrdsl, 262144, 512, ISCSI_DSL_MAX);
	lim->max_burst = clamp_u32(max_burst, 1048576, 512, ISCSI_DSL_MAX);
	lim->first_burst = clamp_u32(first_burst, 262144, 512, ISCSI_DSL_MAX);
	if (lim->first_burst > lim->max_burst)
		lim->first_burst = lim->max_burst;
	lim->max_outstanding_r2t = clamp_u32(max_r2t, 16, 1, ISCSI_MAX_R2T_LIMIT);
	lim->initial_r2t = false;
	lim->immediate_data = true;
	lim->time2wait = 2;
	lim->time2retain = 0;
}

int iscsi_parse_number(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;
	if (!*s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		p = s + 2;
		if (!*p)
			return -EINVAL;
		for (; *p; p++) {
			int d;
			if (*p >= '0' && *p <= '9')
				d = *p - '0';
			else if (*p >= 'a' && *p <= 'f')
				d = *p - 'a' + 10;
			else if (*p >= 'A' && *p <= 'F')
				d = *p - 'A' + 10;
			else
				return -EINVAL;
			if (v >> 60)
				return -ERANGE;
			v = v << 4 | (uint64_t)d;
		}
	} else {
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			if (v > (UINT64_MAX - 9) / 10)
				return -ERANGE;
			v = v * 10 + (uint64_t)(*p - '0');
		}
	}
	*out = v;
	return 0;
}

/* ---- key table ---- */

enum key_kind {
	KK_DIGEST,       /* list of None,CRC32C: first we support */
	KK_AUTH,         /* AuthMethod list: we take None */
	KK_BOOL_OR,
	KK_BOOL_AND,
	KK_NUM_MIN,
	KK_NUM_MAX,
	KK_MRDSL,        /* declarative, per direction */
	KK_MAXCONN,      /* min with our 1 */
	KK_INIT_NAME,
	KK_INIT_ALIAS,
	KK_TARGET_NAME,
	KK_SESSION_TYPE,
	KK_SEND_TARGETS,
	KK_TARGET_ONLY,  /* keys only a target may send */
	KK_MARKER,       /* obsolete IFMarker/OFMarker: answer No */
	KK_MARKINT,      /* obsolete IFMarkInt/OFMarkInt: Irrelevant */
	KK_TASK_REPORTING,
	KK_PROTO_LEVEL,
	KK_CHAP,         /* CHAP_*: only meaningful after AuthMethod=CHAP, which we never select */
};

/* Where a key may be used. */
#define KU_LOGIN 0x1   /* during login */
#define KU_FFP 0x2     /* in full feature phase (Text) */
#define KU_LEADING 0x4 /* leading-only: session-wide */

struct key_def {
	const char *name;
	enum key_kind kind;
	uint8_t use;
	uint32_t min, max;
	size_t off;      /* offset of the uint32_t/bool in struct iscsi_params (numeric/bool kinds) */
	size_t lim_off;  /* offset of our value in struct iscsi_limits (SIZE_MAX: fixed answer) */
};

#define P(f) offsetof(struct iscsi_params, f)
#define L(f) offsetof(struct iscsi_limits, f)
#define NOLIM SIZE_MAX

static const struct key_def keys[] = {
	{ "HeaderDigest", KK_DIGEST, KU_LOGIN, 0, 0, P(header_digest), NOLIM },
	{ "DataDigest", KK_DIGEST, KU_LOGIN, 0, 0, P(data_digest), NOLIM },
	{ "MaxConnections", KK_MAXCONN, KU_LOGIN | KU_LEADING, 1, 65535, P(max_connections), NOLIM },
	{ "SendTargets", KK_SEND_TARGETS, KU_FFP, 0, 0, 0, NOLIM },
	{ "TargetName", KK_TARGET_NAME, KU_LOGIN | KU_LEADING, 0, 0, 0, NOLIM },
	{ "InitiatorName", KK_INIT_NAME, KU_LOGIN | KU_LEADING, 0, 0, 0, NOLIM },
	{ "TargetAlias", KK_TARGET_ONLY, KU_LOGIN | KU_FFP, 0, 0, 0, NOLIM },
	{ "InitiatorAlias", KK_INIT_ALIAS, KU_LOGIN | KU_FFP, 0, 0, 0, NOLIM },
	{ "TargetAddress", KK_TARGET_ONLY, KU_LOGIN | KU_FFP, 0, 0, 0, NOLIM },
	{ "TargetPortalGroupTag", KK_TARGET_ONLY, KU_LOGIN, 0, 0, 0, NOLIM },
	{ "InitialR2T", KK_BOOL_OR, KU_LOGIN | KU_LEADING, 0, 0, P(initial_r2t), L(initial_r2t) },
	{ "ImmediateData", KK_BOOL_AND, KU_LOGIN | KU_LEADING, 0, 0, P(immediate_data), L(immediate_data) },
	{ "MaxRecvDataSegmentLength", KK_MRDSL, KU_LOGIN | KU_FFP, 512, ISCSI_DSL_MAX, P(max_xmit_dsl), NOLIM },
	{ "MaxBurstLength", KK_NUM_MIN, KU_LOGIN | KU_LEADING, 512, ISCSI_DSL_MAX, P(max_burst), L(max_burst) },
	{ "FirstBurstLength", KK_NUM_MIN, KU_LOGIN | KU_LEADING, 512, ISCSI_DSL_MAX, P(first_burst), L(first_burst) },
	{ "DefaultTime2Wait", KK_NUM_MAX, KU_LOGIN | KU_LEADING, 0, 3600, P(time2wait), L(time2wait) },
	{ "DefaultTime2Retain", KK_NUM_MIN, KU_LOGIN | KU_LEADING, 0, 3600, P(time2retain), L(time2retain) },
	{ "MaxOutstandingR2T", KK_NUM_MIN, KU_LOGIN | KU_LEADING, 1, 65535, P(max_outstanding_r2t),
	  L(max_outstanding_r2t) },
	/* We only support in-order data: our value Yes makes the OR result Yes. */
	{ "DataPDUInOrder", KK_BOOL_OR, KU_LOGIN | KU_LEADING, 0, 0, P(data_pdu_in_order), NOLIM },
	{ "DataSequenceInOrder", KK_BOOL_OR, KU_LOGIN | KU_LEADING, 0, 0, P(data_seq_in_order), NOLIM },
	{ "ErrorRecoveryLevel", KK_NUM_MIN, KU_LOGIN | KU_LEADING, 0, 2, P(erl), NOLIM },
	{ "SessionType", KK_SESSION_TYPE, KU_LOGIN | KU_LEADING, 0, 0, 0, NOLIM },
	{ "AuthMethod", KK_AUTH, KU_LOGIN, 0, 0, 0, NOLIM },
	{ "IFMarker", KK_MARKER, KU_LOGIN, 0, 0, 0, NOLIM },
	{ "OFMarker", KK_MARKER, KU_LOGIN, 0, 0, 0, NOLIM },
	{ "IFMarkInt", KK_MARKINT, KU_LOGIN, 0, 0, 0, NOLIM },
	{ "OFMarkInt", KK_MARKINT, KU_LOGIN, 0, 0, 0, NOLIM },
	{ "TaskReporting", KK_TASK_REPORTING, KU_LOGIN | KU_LEADING, 0, 0, 0, NOLIM },
	{ "iSCSIProtocolLevel", KK_PROTO_LEVEL, KU_LOGIN | KU_LEADING, 0, 31, P(protocol_level), NOLIM },
	{ "CHAP_A", KK_CHAP, KU_LOGIN, 0, 0, 0, NOLIM },
	{ "CHAP_I", KK_CHAP, KU_LOGIN, 0, 0, 0, NOLIM },
	{ "CHAP_C", KK_CHAP, KU_LOGIN, 0, 0, 0, NOLIM },
	{ "CHAP_N", KK_CHAP, KU_LOGIN, 0, 0, 0, NOLIM },
	{ "CHAP_R", KK_CHAP, KU_LOGIN, 0, 0, 0, NOLIM },
};
_Static_assert(ARRAY_SIZE(keys) <= 64, "seen bitmap is 64 bits");

/* Our fixed answers for keys with no iscsi_limits field. */
static uint32_t fixed_value(const struct key_def *k)
{
	if (k->off == P(erl))
		return 0; /* ErrorRecoveryLevel: we implement level 0 */
	return 1;         /* DataPDUInOrder / DataSequenceInOrder = Yes */
}

void iscsi_neg_init(struct iscsi_neg *n, struct iscsi_params *p, const struct iscsi_limits *lim,
		    enum iscsi_neg_phase phase, struct iscsi_text *out)
{
	memset(n, 0, sizeof(*n));
	n->p = p;
	n->lim = lim;
	n->phase = phase;
	n->out = out;
}

static void neg_fail(struct iscsi_neg *n, uint16_t status, const char *why)
{
	if (!n->fail) {
		n->fail = status;
		n->fail_why = why;
	}
}

static uint32_t *u32_at(struct iscsi_params *p, size_t off) { return (uint32_t *)(void *)((char *)p + off); }
static bool *bool_at(struct iscsi_params *p, size_t off) { return (bool *)(void *)((char *)p + off); }

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "Yes"))
		*out = true;
	else if (!strcmp(v, "No"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* Choose from a comma-separated list the first entry accept() likes; NULL if none. */
static const char *pick_from_list(const char *list, const char *const *supported, size_t nsup)
{
	const char *p = list;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		for (size_t i = 0; i < nsup; i++)
			if (strlen(supported[i]) == len && !memcmp(p, supported[i], len))
				return supported[i];
		if (!comma)
			break;
		p = comma + 1;
	}
	return NULL;
}

/* A list value: non-empty entries, no empty element. */
static bool list_well_formed(const char *v)
{
	size_t len = strlen(v);
	if (!len || v[0] == ',' || v[len - 1] == ',' || strstr(v, ",,"))
		return false;
	return true;
}

static bool valid_iscsi_name(const char *v)
{
	size_t len = strlen(v);
	if (len == 0 || len > ISCSI_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

static void answer(struct iscsi_neg *n, const char *key, const char *value) { (void)iscsi_text_add(n->out, key, value); }

static void answer_num(struct iscsi_neg *n, const char *key, uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	answer(n, key, buf);
}

/* Handle one key=value pair whose key is in the table. */
static void neg_key(struct iscsi_neg *n, const struct key_def *k, const char *v)
{
	struct iscsi_params *p = n->p;
	bool login = n->phase != ISCSI_NEG_FULL_FEATURE;
	uint64_t num;
	bool b;

	/* Keys used in the wrong phase. */
	if (login && !(k->use & KU_LOGIN)) {
		answer(n, k->name, "Irrelevant");
		return;
	}
	if (!login && !(k->use & KU_FFP)) {
		answer(n, k->name, "Reject");
		return;
	}
	/* A peer's answer to something we declared: nothing to say back. */
	if (!strcmp(v, "NotUnderstood") || !strcmp(v, "Irrelevant") || !strcmp(v, "Reject"))
		return;

	switch (k->kind) {
	case KK_DIGEST: {
		static const char *const sup[] = { "None", "CRC32C" };
		const char *pick = list_well_formed(v) ? pick_from_list(v, sup, 2) : NULL;
		if (!pick) {
			answer(n, k->name, "Reject");
			return;
		}
		*bool_at(p, k->off) = !strcmp(pick, "CRC32C");
		answer(n, k->name, pick);
		return;
	}
	case KK_AUTH: {
		static const char *const sup[] = { "None" };
		n->auth_offered = true;
		if (n->phase != ISCSI_NEG_SECURITY) {
			answer(n, k->name, "Irrelevant");
			return;
		}
		const char *pick = list_well_formed(v) ? pick_from_list(v, sup, 1) : NULL;
		if (!pick) {
			n->auth_rejected = true;
			answer(n, k->name, "Reject");
			return;
		}
		n->auth_none_ok = true;
		answer(n, k->name, pick);
		return;
	}
	case KK_BOOL_OR:
	case KK_BOOL_AND: {
		if (parse_bool(v, &b)) {
			answer(n, k->name, "Reject");
			return;
		}
		bool ours = k->lim_off == NOLIM ? fixed_value(k) != 0
						: *(const bool *)(const void *)((const char *)n->lim + k->lim_off);
		bool res = k->kind == KK_BOOL_OR ? (b || ours) : (b && ours);
		*bool_at(p, k->off) = res;
		answer(n, k->name, res ? "Yes" : "No");
		return;
	}
	case KK_NUM_MIN:
	case KK_NUM_MAX: {
		if (iscsi_parse_number(v, &num) || num < k->min || num > k->max) {
			answer(n, k->name, "Reject");
			return;
		}
		uint32_t ours = k->lim_off == NOLIM ? fixed_value(k)
						    : *(const uint32_t *)(const void *)((const char *)n->lim + k->lim_off);
		uint32_t res = k->kind == KK_NUM_MIN ? MIN((uint32_t)num, ours) : MAX((uint32_t)num, ours);
		*u32_at(p, k->off) = res;
		answer_num(n, k->name, res);
		return;
	}
	case KK_MAXCONN:
		if (iscsi_parse_number(v, &num) || num < k->min || num > k->max) {
			answer(n, k->name, "Reject");
			return;
		}
		p->max_connections = 1;
		answer_num(n, k->name, 1);
		return;
	case KK_MRDSL:
		/* Declarative: the initiator tells us how much it accepts; no answer. */
		if (iscsi_parse_number(v, &num) || num < k->min || num > k->max) {
			answer(n, k->name, "Reject");
			return;
		}
		p->max_xmit_dsl = (uint32_t)num;
		n->mrdsl_changed = true;
		return;
	case KK_INIT_NAME:
		if (!valid_iscsi_name(v)) {
			neg_fail(n, LOGIN_INITIATOR_ERROR, "invalid InitiatorName");
			return;
		}
		snprintf(p->initiator_name, sizeof(p->initiator_name), "%s", v);
		p->initiator_name_seen = true;
		return;
	case KK_INIT_ALIAS:
		if (strlen(v) > ISCSI_VALUE_MAX) {
			answer(n, k->name, "Reject");
			return;
		}
		snprintf(p->initiator_alias, sizeof(p->initiator_alias), "%s", v);
		return;
	case KK_TARGET_NAME:
		if (!valid_iscsi_name(v)) {
			neg_fail(n, LOGIN_NOT_FOUND, "invalid TargetName");
			return;
		}
		snprintf(p->target_name, sizeof(p->target_name), "%s", v);
		p->target_name_seen = true;
		return;
	case KK_SESSION_TYPE:
		if (!strcmp(v, "Discovery"))
			p->discovery = true;
		else if (!strcmp(v, "Normal"))
			p->discovery = false;
		else {
			neg_fail(n, LOGIN_SESSION_TYPE_UNSUPPORTED, "unknown SessionType");
			return;
		}
		p->session_type_seen = true;
		return;
	case KK_SEND_TARGETS:
		if (strlen(v) > ISCSI_NAME_MAX) {
			answer(n, k->name, "Reject");
			return;
		}
		n->send_targets = true;
		snprintf(n->send_targets_val, sizeof(n->send_targets_val), "%s", v);
		return;
	case KK_TARGET_ONLY:
		answer(n, k->name, "Reject");
		return;
	case KK_MARKER:
		if (parse_bool(v, &b)) {
			answer(n, k->name, "Reject");
			return;
		}
		answer(n, k->name, "No");
		return;
	case KK_MARKINT:
		answer(n, k->name, "Irrelevant");
		return;
	case KK_TASK_REPORTING: {
		static const char *const sup[] = { "RFC3720" };
		const char *pick = list_well_formed(v) ? pick_from_list(v, sup, 1) : NULL;
		answer(n, k->name, pick ? pick : "Reject");
		return;
	}
	case KK_PROTO_LEVEL:
		if (iscsi_parse_number(v, &num) || num > k->max) {
			answer(n, k->name, "Reject");
			return;
		}
		p->protocol_level = (uint32_t)MIN(num, 1u);
		answer_num(n, k->name, p->protocol_level);
		return;
	case KK_CHAP:
		/* We never select CHAP, so CHAP keys are out of place. */
		neg_fail(n, LOGIN_AUTH_FAILED, "CHAP key without AuthMethod=CHAP");
		return;
	}
}

static bool valid_key_name(const char *k, size_t len)
{
	if (len == 0 || len > ISCSI_KEY_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '-' || c == '+' || c == '@' || c == '_' || c == '#'))
			return false;
	}
	return true;
}

int iscsi_neg_process(struct iscsi_neg *n, const char *text, size_t len)
{
	size_t pos = 0;
	while (pos < len) {
		const char *pair = text + pos;
		const char *end = memchr(pair, '\0', len - pos);
		size_t plen = end ? (size_t)(end - pair) : len - pos;
		pos += plen + 1;
		if (plen == 0)
			continue; /* tolerate padding NULs */
		const char *eq = memchr(pair, '=', plen);
		if (!eq || !valid_key_name(pair, (size_t)(eq - pair))) {
			neg_fail(n, LOGIN_INITIATOR_ERROR, "malformed key=value pair");
			return -EPROTO;
		}
		char key[ISCSI_KEY_NAME_MAX + 1];
		size_t kl = (size_t)(eq - pair);
		memcpy(key, pair, kl);
		key[kl] = '\0';
		size_t vl = plen - kl - 1;
		if (vl > 8192) {
			neg_fail(n, LOGIN_INITIATOR_ERROR, "value too long");
			return -EPROTO;
		}
		char *value = malloc(vl + 1);
		if (!value) {
			neg_fail(n, LOGIN_OUT_OF_RESOURCES, "out of memory");
			return -ENOMEM;
		}
		memcpy(value, eq + 1, vl);
		value[vl] = '\0';

		const struct key_def *k = NULL;
		size_t idx = 0;
		for (idx = 0; idx < ARRAY_SIZE(keys); idx++)
			if (!strcmp(keys[idx].name, key)) {
				k = &keys[idx];
				break;
			}
		if (!k) {
			/* Unknown keys, including X- and X# extension keys. */
			answer(n, key, "NotUnderstood");
		} else if (n->seen & (1ull << idx)) {
			free(value);
			neg_fail(n, LOGIN_INITIATOR_ERROR, "key sent twice");
			return -EPROTO;
		} else {
			n->seen |= 1ull << idx;
			if (vl > ISCSI_VALUE_MAX && k->kind != KK_DIGEST && k->kind != KK_AUTH)
				answer(n, key, "Reject");
			else
				neg_key(n, k, value);
		}
		free(value);
		if (n->fail)
			return -EPROTO;
	}
	return 0;
}

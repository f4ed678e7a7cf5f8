/* params.h - iSCSI text key negotiation (RFC 7143 sections 6 and 13): key table, result functions, response text. */
#ifndef SOFTHBA_ISCSI_PARAMS_H
#define SOFTHBA_ISCSI_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISCSI_NAME_MAX 223          /* iSCSI names: at most 223 bytes (RFC 7143 4.2.7.1) */
#define ISCSI_VALUE_MAX 255         /* simple values: at most 255 bytes */
#define ISCSI_KEY_NAME_MAX 63
#define ISCSI_TEXT_MAX (64u * 1024) /* cap on one negotiation's text, in either direction */
#define ISCSI_LOGIN_DSL 8192u       /* data segment limit during login */
#define ISCSI_MAX_R2T_LIMIT 64u     /* largest MaxOutstandingR2T we ever offer */

/* Negotiated (or default) values of one session + its connection. */
struct iscsi_params {
	bool header_digest;
	bool data_digest;
	uint32_t max_recv_dsl;        /* we accept data segments this large (our declaration) */
	uint32_t max_xmit_dsl;        /* the initiator's MaxRecvDataSegmentLength: our send limit */
	uint32_t max_burst;
	uint32_t first_burst;
	uint32_t max_outstanding_r2t;
	uint32_t max_connections;
	bool initial_r2t;
	bool immediate_data;
	bool data_pdu_in_order;
	bool data_seq_in_order;
	uint32_t time2wait;
	uint32_t time2retain;
	uint32_t erl;
	uint32_t protocol_level;
	bool discovery;               /* SessionType=Discovery */
	bool session_type_seen;
	char initiator_name[ISCSI_NAME_MAX + 1];
	char initiator_alias[ISCSI_VALUE_MAX + 1];
	char target_name[ISCSI_NAME_MAX + 1];
	bool initiator_name_seen;
	bool target_name_seen;
};

/* What the target offers (from iscsi_server_opts, clamped to legal ranges). */
struct iscsi_limits {
	uint32_t max_recv_dsl;
	uint32_t max_burst;
	uint32_t first_burst;
	uint32_t max_outstanding_r2t;
	bool initial_r2t;     /* our preference; OR with the initiator's */
	bool immediate_data;  /* our preference; AND with the initiator's */
	uint32_t time2wait;
	uint32_t time2retain;
};

/* A growable text buffer of key=value\0 pairs (bounded by ISCSI_TEXT_MAX). */
struct iscsi_text {
	char *buf;
	size_t len;
	size_t cap;
	bool overflow;   /* a pair did not fit: the response is incomplete */
};
void iscsi_text_init(struct iscsi_text *t);
void iscsi_text_free(struct iscsi_text *t);
void iscsi_text_reset(struct iscsi_text *t);
/* Append "key=value\0". Returns 0 or -ENOSPC/-ENOMEM (and sets overflow). */
int iscsi_text_add(struct iscsi_text *t, const char *key, const char *value);
/* Append raw bytes (continuation of a text spanning PDUs). */
int iscsi_text_append(struct iscsi_text *t, const void *data, size_t len);

/* Where the negotiation happens. */
enum iscsi_neg_phase {
	ISCSI_NEG_SECURITY = 0,
	ISCSI_NEG_OPERATIONAL = 1,
	ISCSI_NEG_FULL_FEATURE = 3, /* Text request in full feature phase */
};

/* State of one negotiation (a whole login, or one text exchange). */
struct iscsi_neg {
	struct iscsi_params *p;
	const struct iscsi_limits *lim;
	enum iscsi_neg_phase phase;
	uint64_t seen;          /* bit per key-table index: a key may be negotiated once */
	uint16_t fail;          /* login status to fail with (0 = fine) */
	const char *fail_why;   /* short reason for the log */
	bool auth_none_ok;      /* AuthMethod offered and None selected */
	bool auth_offered;
	bool auth_rejected;
	bool send_targets;      /* SendTargets was asked (value in send_targets_val) */
	char send_targets_val[ISCSI_NAME_MAX + 1];
	bool mrdsl_changed;     /* MaxRecvDataSegmentLength (re)declared */
	struct iscsi_text *out; /* response pairs go here */
};

/* Defaults of RFC 7143 section 13 (before any negotiation). */
void iscsi_params_defaults(struct iscsi_params *p);
/* Clamp server options into legal limits; 0 fields get the documented defaults. */
void iscsi_limits_from_opts(struct iscsi_limits *lim, uint32_t mrdsl, uint32_t max_burst, uint32_t first_burst,
			    uint32_t max_r2t);

void iscsi_neg_init(struct iscsi_neg *n, struct iscsi_params *p, const struct iscsi_limits *lim,
		    enum iscsi_neg_phase phase, struct iscsi_text *out);
/* Process a complete text (key=value\0 pairs, len bytes). Appends answers to
 * n->out. Returns 0, or -EPROTO when the text is malformed or a key was
 * negotiated twice (n->fail holds the login status to use). */
int iscsi_neg_process(struct iscsi_neg *n, const char *text, size_t len);

/* Parse a numeric value: decimal, or 0x-prefixed hex (RFC 7143 5.1). Returns 0 or -EINVAL/-ERANGE. */
int iscsi_parse_number(const char *s, uint64_t *out);

#endif

/* pdu.h - iSCSI PDU layout (RFC 7143 section 11): opcodes, BHS field offsets, status codes, serial-number arithmetic. */
#ifndef SOFTHBA_ISCSI_PDU_H
#define SOFTHBA_ISCSI_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

#define ISCSI_BHS_LEN 48u
#define ISCSI_DIGEST_LEN 4u
#define ISCSI_RSVD_TAG 0xffffffffu
#define ISCSI_MAX_AHS_LEN (255u * 4u)
#define ISCSI_DSL_MAX 0xffffffu /* DataSegmentLength is 24 bits */

/* Initiator opcodes (byte 0, low 6 bits) */
#define ISCSI_OP_NOP_OUT    0x00
#define ISCSI_OP_SCSI_CMD   0x01
#define ISCSI_OP_TMF_REQ    0x02
#define ISCSI_OP_LOGIN_REQ  0x03
#define ISCSI_OP_TEXT_REQ   0x04
#define ISCSI_OP_DATA_OUT   0x05
#define ISCSI_OP_LOGOUT_REQ 0x06
#define ISCSI_OP_SNACK_REQ  0x10
/* Target opcodes */
#define ISCSI_OP_NOP_IN     0x20
#define ISCSI_OP_SCSI_RSP   0x21
#define ISCSI_OP_TMF_RSP    0x22
#define ISCSI_OP_LOGIN_RSP  0x23
#define ISCSI_OP_TEXT_RSP   0x24
#define ISCSI_OP_DATA_IN    0x25
#define ISCSI_OP_LOGOUT_RSP 0x26
#define ISCSI_OP_R2T        0x31
#define ISCSI_OP_ASYNC      0x32
#define ISCSI_OP_REJECT     0x3f

#define ISCSI_OPCODE_MASK 0x3f
#define ISCSI_FLAG_IMMEDIATE 0x40 /* byte 0 */
#define ISCSI_FLAG_FINAL 0x80     /* byte 1 */

/* Common BHS offsets */
#define BHS_OPCODE 0
#define BHS_FLAGS 1
#define BHS_AHSLEN 4
#define BHS_DSL 5
#define BHS_LUN 8
#define BHS_ITT 16

/* SCSI Command (0x01) */
#define CMD_FLAG_READ 0x40
#define CMD_FLAG_WRITE 0x20
#define CMD_ATTR_MASK 0x07
#define CMD_EDTL 20
#define CMD_CMDSN 24
#define CMD_EXPSTATSN 28
#define CMD_CDB 32
#define AHS_TYPE_EXT_CDB 1
#define AHS_TYPE_BIDI_READ_LEN 2

/* SCSI Response (0x21) */
#define RSP_FLAG_BIDI_OVER 0x10
#define RSP_FLAG_BIDI_UNDER 0x08
#define RSP_FLAG_OVER 0x04
#define RSP_FLAG_UNDER 0x02
#define RSP_RESPONSE 2
#define RSP_STATUS 3
#define RSP_STATSN 24
#define RSP_EXPCMDSN 28
#define RSP_MAXCMDSN 32
#define RSP_EXPDATASN 36
#define RSP_BIDI_RESID 40
#define RSP_RESID 44
#define ISCSI_RESPONSE_COMPLETED 0x00
#define ISCSI_RESPONSE_TARGET_FAILURE 0x01

/* Data-In (0x25) / Data-Out (0x05) */
#define DATA_FLAG_ACK 0x40
#define DATA_FLAG_OVER 0x04
#define DATA_FLAG_UNDER 0x02
#define DATA_FLAG_STATUS 0x01
#define DATA_STATUS 3
#define DATA_TTT 20
#define DATA_STATSN 24
#define DATA_EXPSTATSN 28 /* Data-Out */
#define DATA_EXPCMDSN 28  /* Data-In */
#define DATA_MAXCMDSN 32
#define DATA_DATASN 36
#define DATA_OFFSET 40
#define DATA_RESID 44

/* R2T (0x31) */
#define R2T_TTT 20
#define R2T_STATSN 24
#define R2T_EXPCMDSN 28
#define R2T_MAXCMDSN 32
#define R2T_R2TSN 36
#define R2T_OFFSET 40
#define R2T_DDTL 44

/* NOP-Out (0x00) / NOP-In (0x20) */
#define NOP_TTT 20
#define NOP_CMDSN 24   /* NOP-Out */
#define NOP_EXPSTATSN 28
#define NOP_STATSN 24  /* NOP-In */
#define NOP_EXPCMDSN 28
#define NOP_MAXCMDSN 32

/* Task Management (0x02 / 0x22) */
#define TMF_FUNC_MASK 0x7f
#define TMF_REF_ITT 20
#define TMF_CMDSN 24
#define TMF_EXPSTATSN 28
#define TMF_REF_CMDSN 32
#define TMF_EXPDATASN 36
#define TMF_RSP_RESPONSE 2
#define ISCSI_TMF_ABORT_TASK 1
#define ISCSI_TMF_ABORT_TASK_SET 2
#define ISCSI_TMF_CLEAR_ACA 3
#define ISCSI_TMF_CLEAR_TASK_SET 4
#define ISCSI_TMF_LU_RESET 5
#define ISCSI_TMF_TARGET_WARM_RESET 6
#define ISCSI_TMF_TARGET_COLD_RESET 7
#define ISCSI_TMF_TASK_REASSIGN 8
#define ISCSI_TMF_RSP_COMPLETE 0
#define ISCSI_TMF_RSP_NO_TASK 1
#define ISCSI_TMF_RSP_NO_LUN 2
#define ISCSI_TMF_RSP_STILL_ALLEGIANT 3
#define ISCSI_TMF_RSP_NO_REASSIGN 4
#define ISCSI_TMF_RSP_NOT_SUPPORTED 5
#define ISCSI_TMF_RSP_AUTH_FAILED 6
#define ISCSI_TMF_RSP_REJECTED 255

/* Login (0x03 / 0x23) */
#define LOGIN_FLAG_TRANSIT 0x80
#define LOGIN_FLAG_CONTINUE 0x40
#define LOGIN_CSG(f) (((f) >> 2) & 3)
#define LOGIN_NSG(f) ((f) & 3)
#define LOGIN_VMAX 2
#define LOGIN_VMIN 3 /* request; response: version active */
#define LOGIN_ISID 8
#define LOGIN_TSIH 14
#define LOGIN_CID 20
#define LOGIN_CMDSN 24
#define LOGIN_EXPSTATSN 28
#define LOGIN_STATSN 24
#define LOGIN_EXPCMDSN 28
#define LOGIN_MAXCMDSN 32
#define LOGIN_STATUS_CLASS 36
#define LOGIN_STATUS_DETAIL 37
#define ISCSI_STAGE_SECURITY 0
#define ISCSI_STAGE_OPERATIONAL 1
#define ISCSI_STAGE_FULL_FEATURE 3
/* Status-Class << 8 | Status-Detail */
#define LOGIN_OK 0x0000
#define LOGIN_INITIATOR_ERROR 0x0200
#define LOGIN_AUTH_FAILED 0x0201
#define LOGIN_AUTHZ_FAILED 0x0202
#define LOGIN_NOT_FOUND 0x0203
#define LOGIN_TARGET_REMOVED 0x0204
#define LOGIN_UNSUPPORTED_VERSION 0x0205
#define LOGIN_TOO_MANY_CONNS 0x0206
#define LOGIN_MISSING_PARAM 0x0207
#define LOGIN_CANT_INCLUDE 0x0208
#define LOGIN_SESSION_TYPE_UNSUPPORTED 0x0209
#define LOGIN_NO_SESSION 0x020a
#define LOGIN_INVALID_DURING_LOGIN 0x020b
#define LOGIN_TARGET_ERROR 0x0300
#define LOGIN_SERVICE_UNAVAILABLE 0x0301
#define LOGIN_OUT_OF_RESOURCES 0x0302

/* Text (0x04 / 0x24) */
#define TEXT_FLAG_CONTINUE 0x40
#define TEXT_TTT 20
#define TEXT_CMDSN 24
#define TEXT_STATSN 24
#define TEXT_EXPCMDSN 28
#define TEXT_MAXCMDSN 32

/* Logout (0x06 / 0x26) */
#define LOGOUT_REASON_MASK 0x7f
#define LOGOUT_CID 20
#define LOGOUT_CMDSN 24
#define LOGOUT_RSP_RESPONSE 2
#define LOGOUT_STATSN 24
#define LOGOUT_EXPCMDSN 28
#define LOGOUT_MAXCMDSN 32
#define LOGOUT_T2W 40
#define LOGOUT_T2R 42
#define ISCSI_LOGOUT_CLOSE_SESSION 0
#define ISCSI_LOGOUT_CLOSE_CONN 1
#define ISCSI_LOGOUT_REMOVE_FOR_RECOVERY 2
#define ISCSI_LOGOUT_RSP_OK 0
#define ISCSI_LOGOUT_RSP_CID_NOT_FOUND 1
#define ISCSI_LOGOUT_RSP_NO_RECOVERY 2

/* Reject (0x3f) */
#define REJECT_REASON 2
#define REJECT_STATSN 24
#define REJECT_EXPCMDSN 28
#define REJECT_MAXCMDSN 32
#define ISCSI_REJECT_DIGEST 0x02
#define ISCSI_REJECT_SNACK 0x03
#define ISCSI_REJECT_PROTOCOL 0x04
#define ISCSI_REJECT_CMD_NOT_SUPPORTED 0x05
#define ISCSI_REJECT_IMM_TOO_MANY 0x06
#define ISCSI_REJECT_TASK_IN_PROGRESS 0x07
#define ISCSI_REJECT_INVALID_DATA_ACK 0x08
#define ISCSI_REJECT_INVALID_FIELD 0x09
#define ISCSI_REJECT_OUT_OF_RESOURCES 0x0a
#define ISCSI_REJECT_WAITING_LOGOUT 0x0c

/* Async Message (0x32) */
#define ASYNC_EVENT 36
#define ASYNC_PARAM3 42
#define ISCSI_ASYNC_LOGOUT_REQUEST 1

static inline uint8_t bhs_opcode(const uint8_t *bhs) { return bhs[0] & ISCSI_OPCODE_MASK; }
static inline bool bhs_immediate(const uint8_t *bhs) { return (bhs[0] & ISCSI_FLAG_IMMEDIATE) != 0; }
static inline bool bhs_final(const uint8_t *bhs) { return (bhs[1] & ISCSI_FLAG_FINAL) != 0; }
static inline uint32_t bhs_ahs_len(const uint8_t *bhs) { return (uint32_t)bhs[BHS_AHSLEN] * 4u; }
static inline uint32_t bhs_dsl(const uint8_t *bhs) { return get_be24(bhs + BHS_DSL); }
static inline uint32_t bhs_itt(const uint8_t *bhs) { return get_be32(bhs + BHS_ITT); }
static inline void bhs_set_dsl(uint8_t *bhs, uint32_t len) { put_be24(bhs + BHS_DSL, len); }
/* Bytes of padding after a data segment of len bytes (to a 4-byte boundary). */
static inline uint32_t iscsi_pad(uint32_t len) { return (4u - (len & 3u)) & 3u; }

/* Serial number arithmetic (RFC 1982, 32 bits) used for CmdSN, StatSN, DataSN. */
static inline bool sn_lt(uint32_t a, uint32_t b) { return a != b && (int32_t)(a - b) < 0; }
static inline bool sn_gt(uint32_t a, uint32_t b) { return a != b && (int32_t)(a - b) > 0; }
static inline bool sn_le(uint32_t a, uint32_t b) { return a == b || sn_lt(a, b); }
static inline bool sn_ge(uint32_t a, uint32_t b) { return a == b || sn_gt(a, b); }
/* a within [lo, hi] in serial order. */
static inline bool sn_in_window(uint32_t a, uint32_t lo, uint32_t hi) { return sn_ge(a, lo) && sn_le(a, hi); }

/* ---- pdu.c ---- */
/* Name of an opcode for logs ("SCSI Command", "unknown"). */
const char *iscsi_opcode_name(uint8_t op);
/* True for opcodes an initiator may send (the target understands). */
bool iscsi_opcode_is_initiator(uint8_t op);
/* Decode the 8-byte LUN field (SAM-5 peripheral / flat addressing; single
 * level only). Returns 0 and the LUN, or -EINVAL for other address methods
 * or multi-level LUNs. */
int iscsi_lun_decode(const uint8_t lun[8], uint64_t *out);
/* Encode a LUN (< 256: peripheral, else flat space) into 8 bytes. */
void iscsi_lun_encode(uint64_t lun, uint8_t out[8]);
/* Text for a login status (class<<8|detail). */
const char *iscsi_login_status_str(uint16_t status);
/* Text for a Reject reason code. */
const char *iscsi_reject_reason_str(uint8_t reason);

#endif

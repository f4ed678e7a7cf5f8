/* pdu.c - iSCSI PDU helpers: opcode and status names, LUN field encoding (SAM-5 single-level addressing). */
#include <errno.h>

#include "iscsi/pdu.h"

const char *iscsi_opcode_name(uint8_t op)
{
	switch (op) {
	case ISCSI_OP_NOP_OUT: return "NOP-Out";
	case ISCSI_OP_SCSI_CMD: return "SCSI Command";
	case ISCSI_OP_TMF_REQ: return "Task Management Request";
	case ISCSI_OP_LOGIN_REQ: return "Login Request";
	case ISCSI_OP_TEXT_REQ: return "Text Request";
	case ISCSI_OP_DATA_OUT: return "SCSI Data-Out";
	case ISCSI_OP_LOGOUT_REQ: return "Logout Request";
	case ISCSI_OP_SNACK_REQ: return "SNACK Request";
	case ISCSI_OP_NOP_IN: return "NOP-In";
	case ISCSI_OP_SCSI_RSP: return "SCSI Response";
	case ISCSI_OP_TMF_RSP: return "Task Management Response";
	case ISCSI_OP_LOGIN_RSP: return "Login Response";
	case ISCSI_OP_TEXT_RSP: return "Text Response";
	case ISCSI_OP_DATA_IN: return "SCSI Data-In";
	case ISCSI_OP_LOGOUT_RSP: return "Logout Response";
	case ISCSI_OP_R2T: return "R2T";
	case ISCSI_OP_ASYNC: return "Async Message";
	case ISCSI_OP_REJECT: return "Reject";
	default: return "unknown";
	}
}

bool iscsi_opcode_is_initiator(uint8_t op)
{
	switch (op) {
	case ISCSI_OP_NOP_OUT:
	case ISCSI_OP_SCSI_CMD:
	case ISCSI_OP_TMF_REQ:
	case ISCSI_OP_LOGIN_REQ:
	case ISCSI_OP_TEXT_REQ:
	case ISCSI_OP_DATA_OUT:
	case ISCSI_OP_LOGOUT_REQ:
	case ISCSI_OP_SNACK_REQ:
		return true;
	default:
		return false;
	}
}

int iscsi_lun_decode(const uint8_t lun[8], uint64_t *out)
{
	uint8_t method = lun[0] >> 6;

	/* Only single-level LUNs: the other levels must be zero. */
	for (int i = 2; i < 8; i++)
		if (lun[i])
			return -EINVAL;
	switch (method) {
	case 0: /* peripheral device addressing: bus 0 only */
		if (lun[0] & 0x3f)
			return -EINVAL;
		*out = lun[1];
		return 0;
	case 1: /* flat space addressing: 14 bits */
		*out = ((uint64_t)(lun[0] & 0x3f) << 8) | lun[1];
		return 0;
	default:
		return -EINVAL;
	}
}

void iscsi_lun_encode(uint64_t lun, uint8_t out[8])
{
	memset(out, 0, 8);
	if (lun < 256) {
		out[1] = (uint8_t)lun;
	} else {
		out[0] = (uint8_t)(0x40 | ((lun >> 8) & 0x3f));
		out[1] = (uint8_t)lun;
	}
}

const char *iscsi_login_status_str(uint16_t status)
{
	switch (status) {
	case LOGIN_OK: return "success";
	case LOGIN_INITIATOR_ERROR: return "initiator error";
	case LOGIN_AUTH_FAILED: return "authentication failure";
	case LOGIN_AUTHZ_FAILED: return "authorization failure";
	case LOGIN_NOT_FOUND: return "target not found";
	case LOGIN_TARGET_REMOVED: return "target removed";
	case LOGIN_UNSUPPORTED_VERSION: return "unsupported version";
	case LOGIN_TOO_MANY_CONNS: return "too many connections";
	case LOGIN_MISSING_PARAM: return "missing parameter";
	case LOGIN_CANT_INCLUDE: return "can't include in session";
	case LOGIN_SESSION_TYPE_UNSUPPORTED: return "session type not supported";
	case LOGIN_NO_SESSION: return "session does not exist";
	case LOGIN_INVALID_DURING_LOGIN: return "invalid during login";
	case LOGIN_TARGET_ERROR: return "target error";
	case LOGIN_SERVICE_UNAVAILABLE: return "service unavailable";
	case LOGIN_OUT_OF_RESOURCES: return "out of resources";
	default: return "unknown status";
	}
}

const char *iscsi_reject_reason_str(uint8_t reason)
{
	switch (reason) {
	case ISCSI_REJECT_DIGEST: return "data digest error";
	case ISCSI_REJECT_SNACK: return "SNACK reject";
	case ISCSI_REJECT_PROTOCOL: return "protocol error";
	case ISCSI_REJECT_CMD_NOT_SUPPORTED: return "command not supported";
	case ISCSI_REJECT_IMM_TOO_MANY: return "too many immediate commands";
	case ISCSI_REJECT_TASK_IN_PROGRESS: return "task in progress";
	case ISCSI_REJECT_INVALID_DATA_ACK: return "invalid data ack";
	case ISCSI_REJECT_INVALID_FIELD: return "invalid PDU field";
	case ISCSI_REJECT_OUT_OF_RESOURCES: return "long operation reject";
	case ISCSI_REJECT_WAITING_LOGOUT: return "waiting for logout";
	default: return "unknown reason";
	}
}

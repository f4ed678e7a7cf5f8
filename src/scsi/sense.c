/* sense.c - sense data (fixed 70h and descriptor 72h formats), failure helpers, blk status mapping, sense text tables. */
#include <errno.h>
#include <string.h>

#include "core/util.h"
#include "scsi/scsi_internal.h"

static void put_info_fixed(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)v);
}

uint8_t scsi_sense_encode(uint8_t *buf, uint8_t cap, bool desc, const struct scsi_sense_info *si)
{
	uint8_t tmp[SCSI_SENSE_MAX];
	uint32_t len;

	memset(tmp, 0, sizeof(tmp));
	if (!desc) {
		/* SPC-4 4.5.3: fixed format, 18 bytes */
		tmp[0] = si->deferred ? 0x71 : 0x70;
		/* VALID only when the INFORMATION value fits its 4 bytes */
		if (si->info_valid && si->info <= UINT32_MAX) {
			tmp[0] |= 0x80;
			put_info_fixed(tmp + 3, si->info);
		}
		tmp[2] = si->key & 0x0f;
		tmp[7] = 10;
		if (si->cmd_info_valid)
			put_be32(tmp + 8, (uint32_t)si->cmd_info);
		tmp[12] = si->asc;
		tmp[13] = si->ascq;
		if (si->sks_valid) {
			tmp[15] = (uint8_t)(si->sks[0] | 0x80);
			tmp[16] = si->sks[1];
			tmp[17] = si->sks[2];
		}
		len = 18;
	} else {
		/* SPC-4 4.5.2: descriptor format header + descriptors */
		tmp[0] = si->deferred ? 0x73 : 0x72;
		tmp[1] = si->key & 0x0f;
		tmp[2] = si->asc;
		tmp[3] = si->ascq;
		len = 8;
		if (si->info_valid) {
			uint8_t *d = tmp + len;
			d[0] = 0x00; /* information */
			d[1] = 0x0a;
			d[2] = 0x80; /* VALID */
			put_be64(d + 4, si->info);
			len += 12;
		}
		if (si->cmd_info_valid) {
			uint8_t *d = tmp + len;
			d[0] = 0x01; /* command-specific information */
			d[1] = 0x0a;
			put_be64(d + 4, si->cmd_info);
			len += 12;
		}
		if (si->sks_valid) {
			uint8_t *d = tmp + len;
			d[0] = 0x02; /* sense key specific */
			d[1] = 0x06;
			d[4] = (uint8_t)(si->sks[0] | 0x80);
			d[5] = si->sks[1];
			d[6] = si->sks[2];
			len += 8;
		}
		tmp[7] = (uint8_t)(len - 8);
	}
	if (len > cap)
		len = cap;
	memcpy(buf, tmp, len);
	return (uint8_t)len;
}

void scsi_sense_progress(struct scsi_sense_info *si, uint16_t progress)
{
	si->sks_valid = true;
	si->sks[0] = 0;
	put_be16(si->sks + 1, progress);
}

void scsi_sense_field(struct scsi_sense_info *si, bool cdb, uint16_t byte, int8_t bit)
{
	si->sks_valid = true;
	si->sks[0] = cdb ? 0x40 : 0;
	if (bit >= 0 && bit <= 7)
		si->sks[0] |= (uint8_t)(0x08 | bit);
	put_be16(si->sks + 1, byte);
}

static bool task_d_sense(const struct scsi_task *t)
{
	return t->lu && atomic_load_explicit(&t->lu->d_sense, memory_order_relaxed);
}

void scsi_sense_build(struct scsi_task *t, const struct scsi_sense_info *si)
{
	t->status = SCSI_STATUS_CHECK_CONDITION;
	t->sense_len = scsi_sense_encode(t->sense, sizeof(t->sense), task_d_sense(t), si);
	t->data_in_len = 0;
	t->resid_over = false;
	t->resid_under = false;
	t->residual = 0;
}

void scsi_task_set_sense(struct scsi_task *task, uint8_t key, uint8_t asc, uint8_t ascq)
{
	struct scsi_sense_info si = { .key = key, .asc = asc, .ascq = ascq };
	scsi_sense_build(task, &si);
}

void scsi_task_fail_ex(struct scsi_task *t, const struct scsi_sense_info *si)
{
	scsi_sense_build(t, si);
	scsi_task_complete(t);
}

void scsi_task_fail(struct scsi_task *t, uint8_t key, uint8_t asc, uint8_t ascq)
{
	scsi_task_set_sense(t, key, asc, ascq);
	scsi_task_complete(t);
}

void scsi_task_fail_info(struct scsi_task *t, uint8_t key, uint8_t asc, uint8_t ascq, uint64_t info)
{
	struct scsi_sense_info si = { .key = key, .asc = asc, .ascq = ascq, .info_valid = true, .info = info };
	scsi_task_fail_ex(t, &si);
}

void scsi_task_fail_field_cdb(struct scsi_task *t, uint16_t byte, int8_t bit)
{
	struct scsi_sense_info si = { .key = SK_ILLEGAL_REQUEST, .asc = 0x24, .ascq = 0x00 };
	scsi_sense_field(&si, true, byte, bit);
	scsi_task_fail_ex(t, &si);
}

void scsi_task_fail_field_param(struct scsi_task *t, uint16_t byte, int8_t bit)
{
	struct scsi_sense_info si = { .key = SK_ILLEGAL_REQUEST, .asc = 0x26, .ascq = 0x00 };
	scsi_sense_field(&si, false, byte, bit);
	scsi_task_fail_ex(t, &si);
}

/* Does this CDB store data on the medium (so an I/O error is a WRITE ERROR)? */
static bool cdb_is_write(const struct scsi_task *t)
{
	bool sa_invalid;
	const struct scsi_opcode *op = scsi_opcode_lookup(t->cdb, &sa_invalid);

	if (t->cdb[0] == 0x35 || t->cdb[0] == 0x91) /* SYNCHRONIZE CACHE: the flush is a write */
		return true;
	return op && (op->flags & SCSI_OPF_MEDIUM_WRITE);
}

void scsi_task_fail_blk(struct scsi_task *t, int status)
{
	switch (status) {
	case 0:
		scsi_task_good(t);
		return;
	case -EIO:
		if (cdb_is_write(t))
			scsi_task_fail(t, SK_MEDIUM_ERROR, 0x0c, 0x00);  /* WRITE ERROR */
		else
			scsi_task_fail(t, SK_MEDIUM_ERROR, 0x11, 0x00);  /* UNRECOVERED READ ERROR */
		return;
	case -ENOSPC:
		scsi_task_fail(t, SK_DATA_PROTECT, 0x27, 0x07);      /* SPACE ALLOCATION FAILED WRITE PROTECT */
		return;
	case -EROFS:
		scsi_task_fail(t, SK_DATA_PROTECT, 0x27, 0x00);      /* WRITE PROTECTED */
		return;
	case -ENODEV:
		/* the backing device is gone: the LU cannot become ready by itself */
		scsi_task_fail(t, SK_NOT_READY, 0x04, 0x03);         /* NOT READY, MANUAL INTERVENTION REQUIRED */
		return;
	case -EINVAL:
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x21, 0x00);   /* LBA OUT OF RANGE */
		return;
	case -ENOMEM:
	case -EAGAIN:
	case -EBUSY:
		/* transient: BUSY makes the initiator retry; no sense data */
		t->status = SCSI_STATUS_BUSY;
		t->sense_len = 0;
		t->data_in_len = 0;
		t->resid_over = t->resid_under = false;
		t->residual = 0;
		scsi_task_complete(t);
		return;
	case -ECANCELED:
		scsi_task_fail(t, SK_ABORTED_COMMAND, 0x00, 0x00);
		return;
	case -ETIMEDOUT:
		scsi_task_fail(t, SK_ABORTED_COMMAND, 0x3e, 0x02);   /* TIMEOUT ON LOGICAL UNIT */
		return;
	default:
		scsi_task_fail(t, SK_HARDWARE_ERROR, 0x44, 0x00);    /* INTERNAL TARGET FAILURE */
		return;
	}
}

/* ---- text ---- */

const char *scsi_sense_key_str(uint8_t key)
{
	static const char *const names[16] = {
		"NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR",
		"HARDWARE ERROR", "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
		"BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED", "ABORTED COMMAND",
		"RESERVED (0Ch)", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
	};
	return names[key & 0x0f];
}

struct asc_row {
	uint16_t code;
	const char *text;
};

/* SPC-4 annex D, the codes an SBC disk target and its initiators commonly see. */
static const struct asc_row asc_rows[] = {
	{ 0x0000, "NO ADDITIONAL SENSE INFORMATION" },
	{ 0x0006, "I/O PROCESS TERMINATED" },
	{ 0x0016, "OPERATION IN PROGRESS" },
	{ 0x0017, "CLEANING REQUESTED" },
	{ 0x0100, "NO INDEX/SECTOR SIGNAL" },
	{ 0x0200, "NO SEEK COMPLETE" },
	{ 0x0300, "PERIPHERAL DEVICE WRITE FAULT" },
	{ 0x0400, "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE" },
	{ 0x0401, "LOGICAL UNIT IS IN PROCESS OF BECOMING READY" },
	{ 0x0402, "LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED" },
	{ 0x0403, "LOGICAL UNIT NOT READY, MANUAL INTERVENTION REQUIRED" },
	{ 0x0404, "LOGICAL UNIT NOT READY, FORMAT IN PROGRESS" },
	{ 0x0407, "LOGICAL UNIT NOT READY, OPERATION IN PROGRESS" },
	{ 0x0409, "LOGICAL UNIT NOT READY, SELF-TEST IN PROGRESS" },
	{ 0x040a, "LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION" },
	{ 0x040b, "LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE" },
	{ 0x040c, "LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE STATE" },
	{ 0x0411, "LOGICAL UNIT NOT READY, NOTIFY (ENABLE SPINUP) REQUIRED" },
	{ 0x041b, "LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS" },
	{ 0x0500, "LOGICAL UNIT DOES NOT RESPOND TO SELECTION" },
	{ 0x0800, "LOGICAL UNIT COMMUNICATION FAILURE" },
	{ 0x0801, "LOGICAL UNIT COMMUNICATION TIME-OUT" },
	{ 0x0c00, "WRITE ERROR" },
	{ 0x0c02, "WRITE ERROR - AUTO REALLOCATION FAILED" },
	{ 0x0c03, "WRITE ERROR - RECOMMEND REASSIGNMENT" },
	{ 0x0c0d, "WRITE ERROR - NOT ENOUGH UNSOLICITED DATA" },
	{ 0x0d00, "ERROR DETECTED BY THIRD PARTY TEMPORARY INITIATOR" },
	{ 0x0d01, "THIRD PARTY DEVICE FAILURE" },
	{ 0x0d02, "COPY TARGET DEVICE NOT REACHABLE" },
	{ 0x0d03, "INCORRECT COPY TARGET DEVICE TYPE" },
	{ 0x0d04, "COPY TARGET DEVICE DATA UNDERRUN" },
	{ 0x0d05, "COPY TARGET DEVICE DATA OVERRUN" },
	{ 0x0e01, "INFORMATION UNIT TOO SHORT" },
	{ 0x0e02, "INFORMATION UNIT TOO LONG" },
	{ 0x0e03, "INVALID FIELD IN COMMAND INFORMATION UNIT" },
	{ 0x1000, "ID CRC OR ECC ERROR" },
	{ 0x1001, "LOGICAL BLOCK GUARD CHECK FAILED" },
	{ 0x1002, "LOGICAL BLOCK APPLICATION TAG CHECK FAILED" },
	{ 0x1003, "LOGICAL BLOCK REFERENCE TAG CHECK FAILED" },
	{ 0x1100, "UNRECOVERED READ ERROR" },
	{ 0x1101, "READ RETRIES EXHAUSTED" },
	{ 0x1104, "UNRECOVERED READ ERROR - AUTO REALLOCATE FAILED" },
	{ 0x1114, "READ ERROR - LBA MARKED BAD BY APPLICATION CLIENT" },
	{ 0x1400, "RECORDED ENTITY NOT FOUND" },
	{ 0x1401, "RECORD NOT FOUND" },
	{ 0x1500, "RANDOM POSITIONING ERROR" },
	{ 0x1700, "RECOVERED DATA WITH NO ERROR CORRECTION APPLIED" },
	{ 0x1800, "RECOVERED DATA WITH ERROR CORRECTION APPLIED" },
	{ 0x1a00, "PARAMETER LIST LENGTH ERROR" },
	{ 0x1b00, "SYNCHRONOUS DATA TRANSFER ERROR" },
	{ 0x1c00, "DEFECT LIST NOT FOUND" },
	{ 0x1c01, "PRIMARY DEFECT LIST NOT FOUND" },
	{ 0x1c02, "GROWN DEFECT LIST NOT FOUND" },
	{ 0x1d00, "MISCOMPARE DURING VERIFY OPERATION" },
	{ 0x1d01, "MISCOMPARE VERIFY OF UNMAPPED LBA" },
	{ 0x2000, "INVALID COMMAND OPERATION CODE" },
	{ 0x2001, "ACCESS DENIED - INITIATOR PENDING-ENROLLED" },
	{ 0x2002, "ACCESS DENIED - NO ACCESS RIGHTS" },
	{ 0x2009, "ACCESS DENIED - INVALID LU IDENTIFIER" },
	{ 0x200c, "ILLEGAL COMMAND WHILE IN WRITE CAPABLE STATE" },
	{ 0x2100, "LOGICAL BLOCK ADDRESS OUT OF RANGE" },
	{ 0x2101, "INVALID ELEMENT ADDRESS" },
	{ 0x2102, "INVALID ADDRESS FOR WRITE" },
	{ 0x2103, "INVALID WRITE CROSSING LAYER JUMP" },
	{ 0x2200, "ILLEGAL FUNCTION (USE 20 00, 24 00, OR 26 00)" },
	{ 0x2300, "INVALID TOKEN OPERATION, CAUSE NOT REPORTABLE" },
	{ 0x2400, "INVALID FIELD IN CDB" },
	{ 0x2401, "CDB DECRYPTION ERROR" },
	{ 0x2408, "INVALID XCDB" },
	{ 0x2500, "LOGICAL UNIT NOT SUPPORTED" },
	{ 0x2600, "INVALID FIELD IN PARAMETER LIST" },
	{ 0x2601, "PARAMETER NOT SUPPORTED" },
	{ 0x2602, "PARAMETER VALUE INVALID" },
	{ 0x2603, "THRESHOLD PARAMETERS NOT SUPPORTED" },
	{ 0x2604, "INVALID RELEASE OF PERSISTENT RESERVATION" },
	{ 0x2606, "TOO MANY TARGET DESCRIPTORS" },
	{ 0x2607, "UNSUPPORTED TARGET DESCRIPTOR TYPE CODE" },
	{ 0x2608, "TOO MANY SEGMENT DESCRIPTORS" },
	{ 0x2609, "UNSUPPORTED SEGMENT DESCRIPTOR TYPE CODE" },
	{ 0x260a, "UNEXPECTED INEXACT SEGMENT" },
	{ 0x260b, "INLINE DATA LENGTH EXCEEDED" },
	{ 0x260c, "INVALID OPERATION FOR COPY SOURCE OR DESTINATION" },
	{ 0x260d, "COPY SEGMENT GRANULARITY VIOLATION" },
	{ 0x2610, "DATA DECRYPTION KEY FAIL LIMIT REACHED" },
	{ 0x2700, "WRITE PROTECTED" },
	{ 0x2701, "HARDWARE WRITE PROTECTED" },
	{ 0x2702, "LOGICAL UNIT SOFTWARE WRITE PROTECTED" },
	{ 0x2707, "SPACE ALLOCATION FAILED WRITE PROTECT" },
	{ 0x2800, "NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED" },
	{ 0x2900, "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED" },
	{ 0x2901, "POWER ON OCCURRED" },
	{ 0x2902, "SCSI BUS RESET OCCURRED" },
	{ 0x2903, "BUS DEVICE RESET FUNCTION OCCURRED" },
	{ 0x2904, "DEVICE INTERNAL RESET" },
	{ 0x2907, "I_T NEXUS LOSS OCCURRED" },
	{ 0x2a00, "PARAMETERS CHANGED" },
	{ 0x2a01, "MODE PARAMETERS CHANGED" },
	{ 0x2a02, "LOG PARAMETERS CHANGED" },
	{ 0x2a03, "RESERVATIONS PREEMPTED" },
	{ 0x2a04, "RESERVATIONS RELEASED" },
	{ 0x2a05, "REGISTRATIONS PREEMPTED" },
	{ 0x2a06, "ASYMMETRIC ACCESS STATE CHANGED" },
	{ 0x2a07, "IMPLICIT ASYMMETRIC ACCESS STATE TRANSITION FAILED" },
	{ 0x2a09, "CAPACITY DATA HAS CHANGED" },
	{ 0x2a10, "TIMESTAMP CHANGED" },
	{ 0x2c00, "COMMAND SEQUENCE ERROR" },
	{ 0x2c0c, "ORWRITE GENERATION DOES NOT MATCH" },
	{ 0x2f00, "COMMANDS CLEARED BY ANOTHER INITIATOR" },
	{ 0x2f01, "COMMANDS CLEARED BY POWER LOSS NOTIFICATION" },
	{ 0x2f02, "COMMANDS CLEARED BY DEVICE SERVER" },
	{ 0x3000, "INCOMPATIBLE MEDIUM INSTALLED" },
	{ 0x3100, "MEDIUM FORMAT CORRUPTED" },
	{ 0x3101, "FORMAT COMMAND FAILED" },
	{ 0x3103, "SANITIZE COMMAND FAILED" },
	{ 0x3200, "NO DEFECT SPARE LOCATION AVAILABLE" },
	{ 0x3700, "ROUNDED PARAMETER" },
	{ 0x3900, "SAVING PARAMETERS NOT SUPPORTED" },
	{ 0x3a00, "MEDIUM NOT PRESENT" },
	{ 0x3a01, "MEDIUM NOT PRESENT - TRAY CLOSED" },
	{ 0x3a02, "MEDIUM NOT PRESENT - TRAY OPEN" },
	{ 0x3d00, "INVALID BITS IN IDENTIFY MESSAGE" },
	{ 0x3e00, "LOGICAL UNIT HAS NOT SELF-CONFIGURED YET" },
	{ 0x3e01, "LOGICAL UNIT FAILURE" },
	{ 0x3e02, "TIMEOUT ON LOGICAL UNIT" },
	{ 0x3e03, "LOGICAL UNIT FAILED SELF-TEST" },
	{ 0x3f00, "TARGET OPERATING CONDITIONS HAVE CHANGED" },
	{ 0x3f01, "MICROCODE HAS BEEN CHANGED" },
	{ 0x3f02, "CHANGED OPERATING DEFINITION" },
	{ 0x3f03, "INQUIRY DATA HAS CHANGED" },
	{ 0x3f05, "DEVICE IDENTIFIER CHANGED" },
	{ 0x3f0e, "REPORTED LUNS DATA HAS CHANGED" },
	{ 0x3f0f, "ECHO BUFFER OVERWRITTEN" },
	{ 0x4000, "RAM FAILURE" },
	{ 0x4300, "MESSAGE ERROR" },
	{ 0x4400, "INTERNAL TARGET FAILURE" },
	{ 0x4500, "SELECT OR RESELECT FAILURE" },
	{ 0x4700, "SCSI PARITY ERROR" },
	{ 0x4701, "DATA PHASE CRC ERROR DETECTED" },
	{ 0x4703, "INFORMATION UNIT IUCRC ERROR DETECTED" },
	{ 0x4800, "INITIATOR DETECTED ERROR MESSAGE RECEIVED" },
	{ 0x4900, "INVALID MESSAGE ERROR" },
	{ 0x4a00, "COMMAND PHASE ERROR" },
	{ 0x4b00, "DATA PHASE ERROR" },
	{ 0x4b01, "INVALID TARGET PORT TRANSFER TAG RECEIVED" },
	{ 0x4b02, "TOO MUCH WRITE DATA" },
	{ 0x4b03, "ACK/NAK TIMEOUT" },
	{ 0x4b04, "NAK RECEIVED" },
	{ 0x4b05, "DATA OFFSET ERROR" },
	{ 0x4b06, "INITIATOR RESPONSE TIMEOUT" },
	{ 0x4c00, "LOGICAL UNIT FAILED SELF-CONFIGURATION" },
	{ 0x4e00, "OVERLAPPED COMMANDS ATTEMPTED" },
	{ 0x5300, "MEDIA LOAD OR EJECT FAILED" },
	{ 0x5302, "MEDIUM REMOVAL PREVENTED" },
	{ 0x5500, "SYSTEM RESOURCE FAILURE" },
	{ 0x5503, "INSUFFICIENT RESOURCES" },
	{ 0x5504, "INSUFFICIENT REGISTRATION RESOURCES" },
	{ 0x5506, "AUXILIARY MEMORY OUT OF SPACE" },
	{ 0x5507, "QUOTA ERROR" },
	{ 0x5d00, "FAILURE PREDICTION THRESHOLD EXCEEDED" },
	{ 0x5dff, "FAILURE PREDICTION THRESHOLD EXCEEDED (FALSE)" },
	{ 0x5e00, "LOW POWER CONDITION ON" },
	{ 0x5e01, "IDLE CONDITION ACTIVATED BY TIMER" },
	{ 0x5e02, "STANDBY CONDITION ACTIVATED BY TIMER" },
	{ 0x5e03, "IDLE CONDITION ACTIVATED BY COMMAND" },
	{ 0x5e04, "STANDBY CONDITION ACTIVATED BY COMMAND" },
	{ 0x6700, "CONFIGURATION FAILURE" },
	{ 0x6701, "CONFIGURATION OF INCAPABLE LOGICAL UNITS FAILED" },
	{ 0x6702, "ADD LOGICAL UNIT FAILED" },
	{ 0x670a, "SET TARGET PORT GROUPS COMMAND FAILED" },
	{ 0x6800, "LOGICAL UNIT NOT CONFIGURED" },
	{ 0x6900, "DATA LOSS ON LOGICAL UNIT" },
	{ 0x6901, "MULTIPLE LOGICAL UNIT FAILURES" },
	{ 0x6902, "PARITY/DATA MISMATCH" },
	{ 0x7400, "SECURITY ERROR" },
};

const char *scsi_asc_str(uint8_t asc, uint8_t ascq)
{
	uint16_t code = (uint16_t)(asc << 8 | ascq);
	size_t lo = 0, hi = ARRAY_SIZE(asc_rows);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (asc_rows[mid].code == code)
			return asc_rows[mid].text;
		if (asc_rows[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (asc >= 0x80)
		return "VENDOR SPECIFIC";
	return "UNKNOWN ADDITIONAL SENSE CODE";
}

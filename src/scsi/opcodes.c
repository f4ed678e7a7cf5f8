/* opcodes.c - the opcode table: one row per CDB opcode (and service action) with handler, checks, reservation rules and RSOC data. */
#include "core/util.h"
#include "scsi/sbc.h"
#include "scsi/scsi_internal.h"

/*
 * One place answers "what happens to opcode X". Every opcode without a
 * row (fn == NULL) is refused by the dispatcher with ILLEGAL REQUEST,
 * INVALID COMMAND OPERATION CODE. Rows with SCSI_OPF_SA point to a
 * service action sub-table; the service action is CDB byte 1 bits 4:0.
 *
 * usage[] is the CDB USAGE DATA of REPORT SUPPORTED OPERATION CODES
 * without byte 0 (the opcode) filled in: the bits of each CDB byte the
 * device server examines. The service action bits are filled in by RSOC.
 * The control byte reports NACA (bit 2), which the dispatcher checks.
 */

#define CTL 0x04

/* Reservation rules computed from the CDB (SPC-4 / SBC-3 reservation tables). */
static uint8_t resv_prevent_allow(const uint8_t *cdb)
{
	/* PREVENT field 0 is allowed everywhere; anything else conflicts */
	return (cdb[4] & 0x03) == 0 ? SCSI_RESV_ALL : 0;
}

static uint8_t resv_start_stop(const uint8_t *cdb)
{
	/* START=1 with POWER CONDITION=0 is allowed everywhere */
	bool start = cdb[4] & 0x01;
	uint8_t pc = cdb[4] >> 4;
	return (start && pc == 0) ? SCSI_RESV_ALL : 0;
}

static bool avail_thin(const struct scsi_lu *lu)
{
	return lu->thin;
}

/* timeouts (seconds): nominal, recommended */
#define TO_FAST .nominal_timeout = 1, .recommended_timeout = 10
#define TO_IO   .nominal_timeout = 1, .recommended_timeout = 30
#define TO_SYNC .nominal_timeout = 5, .recommended_timeout = 120
#define TO_LONG .nominal_timeout = 60, .recommended_timeout = 3600

#define RW_FLAGS_IN   (SCSI_OPF_DATA_IN | SCSI_OPF_MEDIUM)
#define RW_FLAGS_OUT  (SCSI_OPF_DATA_OUT | SCSI_OPF_MEDIUM | SCSI_OPF_MEDIUM_WRITE)
#define INFO_FLAGS    (SCSI_OPF_DATA_IN | SCSI_OPF_UA_OK | SCSI_OPF_NO_LUN_OK | SCSI_OPF_SANITIZE_OK)

/* ---- service action sub-tables ---- */

static const struct scsi_opcode sa_9e[] = {
	{ .name = "READ CAPACITY(16)", .fn = sbc_read_capacity16, .opcode = 0x9e, .sa = 0x10, .cdb_len = 16,
	  .flags = SCSI_OPF_DATA_IN | SCSI_OPF_MEDIUM, .resv = SCSI_RESV_ALL,
	  .usage = { 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x00, CTL }, TO_FAST },
	{ .name = "GET LBA STATUS", .fn = sbc_get_lba_status, .opcode = 0x9e, .sa = 0x12, .cdb_len = 16,
	  .flags = SCSI_OPF_DATA_IN | SCSI_OPF_MEDIUM, .resv = SCSI_RESV_WE_OK,
	  .usage = { 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL }, TO_IO },
};

static const struct scsi_opcode sa_a3[] = {
	{ .name = "REPORT SUPPORTED OPERATION CODES", .fn = spc_report_supported_opcodes, .opcode = 0xa3, .sa = 0x0c,
	  .cdb_len = 12, .flags = SCSI_OPF_DATA_IN, .resv = SCSI_RESV_WE_OK | SCSI_RESV_EA_OK,
	  .usage = { 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL }, TO_FAST },
};

#define PRIN(sa_, nm) \
	{ .name = nm, .fn = spc_pr_in, .opcode = 0x5e, .sa = sa_, .cdb_len = 10, \
	  .flags = SCSI_OPF_DATA_IN, .resv = SCSI_RESV_WE_OK | SCSI_RESV_EA_OK | SCSI_RESV_PR_ANY, \
	  .usage = { 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, CTL }, TO_FAST }
static const struct scsi_opcode sa_5e[] = {
	PRIN(0x00, "PERSISTENT RESERVE IN (READ KEYS)"),
	PRIN(0x01, "PERSISTENT RESERVE IN (READ RESERVATION)"),
	PRIN(0x02, "PERSISTENT RESERVE IN (REPORT CAPABILITIES)"),
	PRIN(0x03, "PERSISTENT RESERVE IN (READ FULL STATUS)"),
};

#define PROUT(sa_, nm) \
	{ .name = nm, .fn = spc_pr_out, .opcode = 0x5f, .sa = sa_, .cdb_len = 10, \
	  .flags = SCSI_OPF_DATA_OUT, .resv = SCSI_RESV_WE_OK | SCSI_RESV_EA_OK | SCSI_RESV_PR_ANY, \
	  .usage = { 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, CTL }, TO_FAST }
static const struct scsi_opcode sa_5f[] = {
	PROUT(0x00, "PERSISTENT RESERVE OUT (REGISTER)"),
	PROUT(0x01, "PERSISTENT RESERVE OUT (RESERVE)"),
	PROUT(0x02, "PERSISTENT RESERVE OUT (RELEASE)"),
	PROUT(0x03, "PERSISTENT RESERVE OUT (CLEAR)"),
	PROUT(0x04, "PERSISTENT RESERVE OUT (PREEMPT)"),
	PROUT(0x05, "PERSISTENT RESERVE OUT (PREEMPT AND ABORT)"),
	PROUT(0x06, "PERSISTENT RESERVE OUT (REGISTER AND IGNORE EXISTING KEY)"),
	PROUT(0x07, "PERSISTENT RESERVE OUT (REGISTER AND MOVE)"),
};

static const struct scsi_opcode sa_83[] = {
	{ .name = "EXTENDED COPY(LID1)", .fn = sbc_extended_copy, .opcode = 0x83, .sa = 0x00, .cdb_len = 16,
	  .flags = SCSI_OPF_DATA_OUT | SCSI_OPF_MEDIUM, .resv = 0,
	  .usage = { 0x1f, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x00, CTL }, TO_LONG },
};

#define RCR(sa_, nm) \
	{ .name = nm, .fn = sbc_receive_copy_results, .opcode = 0x84, .sa = sa_, .cdb_len = 16, \
	  .flags = SCSI_OPF_DATA_IN, .resv = 0, \
	  .usage = { 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x00, CTL }, TO_FAST }
static const struct scsi_opcode sa_84[] = {
	RCR(0x00, "RECEIVE COPY RESULTS (COPY STATUS)"),
	RCR(0x01, "RECEIVE COPY RESULTS (RECEIVE DATA)"),
	RCR(0x03, "RECEIVE COPY RESULTS (OPERATING PARAMETERS)"),
	RCR(0x04, "RECEIVE COPY RESULTS (FAILED SEGMENT DETAILS)"),
};

#define SANITIZE(sa_, nm) \
	{ .name = nm, .fn = sbc_sanitize, .opcode = 0x48, .sa = sa_, .cdb_len = 10, \
	  .flags = SCSI_OPF_DATA_OUT | SCSI_OPF_MEDIUM | SCSI_OPF_MEDIUM_WRITE, .resv = 0, \
	  .usage = { 0xff, 0, 0, 0, 0, 0, 0xff, 0xff, CTL }, TO_LONG }
static const struct scsi_opcode sa_48[] = {
	SANITIZE(0x01, "SANITIZE (OVERWRITE)"),
	{ .name = "SANITIZE (BLOCK ERASE)", .fn = sbc_sanitize, .opcode = 0x48, .sa = 0x02, .cdb_len = 10,
	  .flags = SCSI_OPF_DATA_OUT | SCSI_OPF_MEDIUM | SCSI_OPF_MEDIUM_WRITE, .resv = 0, .avail = avail_thin,
	  .usage = { 0xff, 0, 0, 0, 0, 0, 0xff, 0xff, CTL }, TO_LONG },
	SANITIZE(0x1f, "SANITIZE (EXIT FAILURE MODE)"),
};

#define SA_HDR(op_, rows) \
	[op_] = { .name = #rows, .opcode = op_, .flags = SCSI_OPF_SA | SCSI_OPF_SA_CDB1, .sa_rows = rows, \
		  .n_sa = ARRAY_SIZE(rows) }

/* ---- the table ---- */

static const struct scsi_opcode table[256] = {
	[0x00] = { .name = "TEST UNIT READY", .fn = spc_test_unit_ready, .opcode = 0x00, .cdb_len = 6,
		   .flags = 0, .resv = SCSI_RESV_WE_OK | SCSI_RESV_EA_OK,
		   .usage = { 0, 0, 0, 0, CTL }, TO_FAST },
	[0x03] = { .name = "REQUEST SENSE", .fn = spc_request_sense, .opcode = 0x03, .cdb_len = 6,
		   .flags = INFO_FLAGS, .resv = SCSI_RESV_ALL,
		   .usage = { 0x01, 0, 0, 0xff, CTL }, TO_FAST },
	[0x08] = { .name = "READ(6)", .fn = sbc_read, .opcode = 0x08, .cdb_len = 6,
		   .flags = RW_FLAGS_IN, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0x1f, 0xff, 0xff, 0xff, CTL }, TO_IO },
	[0x0a] = { .name = "WRITE(6)", .fn = sbc_write, .opcode = 0x0a, .cdb_len = 6,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0x1f, 0xff, 0xff, 0xff, CTL }, TO_IO },
	[0x12] = { .name = "INQUIRY", .fn = spc_inquiry, .opcode = 0x12, .cdb_len = 6,
		   .flags = INFO_FLAGS, .resv = SCSI_RESV_ALL,
		   .usage = { 0x01, 0xff, 0xff, 0xff, CTL }, TO_FAST },
	[0x15] = { .name = "MODE SELECT(6)", .fn = spc_mode_select, .opcode = 0x15, .cdb_len = 6,
		   .flags = SCSI_OPF_DATA_OUT, .resv = 0,
		   .usage = { 0x11, 0, 0, 0xff, CTL }, TO_FAST },
	[0x16] = { .name = "RESERVE(6)", .fn = spc_reserve, .opcode = 0x16, .cdb_len = 6,
		   .flags = 0, .resv = SCSI_RESV_SPC2_OK | SCSI_RESV_WE_OK | SCSI_RESV_EA_OK,
		   .usage = { 0, 0, 0, 0, CTL }, TO_FAST },
	[0x17] = { .name = "RELEASE(6)", .fn = spc_release, .opcode = 0x17, .cdb_len = 6,
		   .flags = 0, .resv = SCSI_RESV_ALL,
		   .usage = { 0, 0, 0, 0, CTL }, TO_FAST },
	[0x1a] = { .name = "MODE SENSE(6)", .fn = spc_mode_sense, .opcode = 0x1a, .cdb_len = 6,
		   .flags = SCSI_OPF_DATA_IN, .resv = 0,
		   .usage = { 0x08, 0xff, 0xff, 0xff, CTL }, TO_FAST },
	[0x1b] = { .name = "START STOP UNIT", .fn = spc_start_stop_unit, .opcode = 0x1b, .cdb_len = 6,
		   .flags = 0, .resv_fn = resv_start_stop,
		   .usage = { 0x01, 0, 0x0f, 0xf7, CTL }, TO_SYNC },
	[0x1e] = { .name = "PREVENT ALLOW MEDIUM REMOVAL", .fn = spc_prevent_allow, .opcode = 0x1e, .cdb_len = 6,
		   .flags = 0, .resv_fn = resv_prevent_allow,
		   .usage = { 0, 0, 0, 0x03, CTL }, TO_FAST },
	[0x25] = { .name = "READ CAPACITY(10)", .fn = sbc_read_capacity10, .opcode = 0x25, .cdb_len = 10,
		   .flags = SCSI_OPF_DATA_IN | SCSI_OPF_MEDIUM, .resv = SCSI_RESV_ALL,
		   .usage = { 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, CTL }, TO_FAST },
	[0x28] = { .name = "READ(10)", .fn = sbc_read, .opcode = 0x28, .cdb_len = 10,
		   .flags = RW_FLAGS_IN, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0xf8, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, CTL }, TO_IO },
	[0x2a] = { .name = "WRITE(10)", .fn = sbc_write, .opcode = 0x2a, .cdb_len = 10,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xf8, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, CTL }, TO_IO },
	[0x2e] = { .name = "WRITE AND VERIFY(10)", .fn = sbc_write_verify, .opcode = 0x2e, .cdb_len = 10,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xf2, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, CTL }, TO_IO },
	[0x2f] = { .name = "VERIFY(10)", .fn = sbc_verify, .opcode = 0x2f, .cdb_len = 10,
		   .flags = SCSI_OPF_DATA_OUT | SCSI_OPF_MEDIUM, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0xf6, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, CTL }, TO_IO },
	[0x34] = { .name = "PRE-FETCH(10)", .fn = sbc_prefetch, .opcode = 0x34, .cdb_len = 10,
		   .flags = SCSI_OPF_MEDIUM, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0x02, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, CTL }, TO_IO },
	[0x35] = { .name = "SYNCHRONIZE CACHE(10)", .fn = sbc_sync_cache, .opcode = 0x35, .cdb_len = 10,
		   .flags = SCSI_OPF_MEDIUM, .resv = 0,
		   .usage = { 0x02, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, CTL }, TO_SYNC },
	[0x37] = { .name = "READ DEFECT DATA(10)", .fn = sbc_read_defect_data, .opcode = 0x37, .cdb_len = 10,
		   .flags = SCSI_OPF_DATA_IN | SCSI_OPF_MEDIUM, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, CTL }, TO_FAST },
	[0x41] = { .name = "WRITE SAME(10)", .fn = sbc_write_same, .opcode = 0x41, .cdb_len = 10,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xfa, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, CTL }, TO_SYNC },
	[0x42] = { .name = "UNMAP", .fn = sbc_unmap, .opcode = 0x42, .cdb_len = 10,
		   .flags = RW_FLAGS_OUT, .resv = 0, .avail = avail_thin,
		   .usage = { 0x01, 0, 0, 0, 0, 0x00, 0xff, 0xff, CTL }, TO_SYNC },
	SA_HDR(0x48, sa_48),
	[0x55] = { .name = "MODE SELECT(10)", .fn = spc_mode_select, .opcode = 0x55, .cdb_len = 10,
		   .flags = SCSI_OPF_DATA_OUT, .resv = 0,
		   .usage = { 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, CTL }, TO_FAST },
	[0x56] = { .name = "RESERVE(10)", .fn = spc_reserve, .opcode = 0x56, .cdb_len = 10,
		   .flags = 0, .resv = SCSI_RESV_SPC2_OK | SCSI_RESV_WE_OK | SCSI_RESV_EA_OK,
		   .usage = { 0, 0, 0, 0, 0, 0, 0, 0, CTL }, TO_FAST },
	[0x57] = { .name = "RELEASE(10)", .fn = spc_release, .opcode = 0x57, .cdb_len = 10,
		   .flags = 0, .resv = SCSI_RESV_ALL,
		   .usage = { 0, 0, 0, 0, 0, 0, 0, 0, CTL }, TO_FAST },
	[0x5a] = { .name = "MODE SENSE(10)", .fn = spc_mode_sense, .opcode = 0x5a, .cdb_len = 10,
		   .flags = SCSI_OPF_DATA_IN, .resv = 0,
		   .usage = { 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, CTL }, TO_FAST },
	SA_HDR(0x5e, sa_5e),
	SA_HDR(0x5f, sa_5f),
	SA_HDR(0x83, sa_83),
	SA_HDR(0x84, sa_84),
	[0x88] = { .name = "READ(16)", .fn = sbc_read, .opcode = 0x88, .cdb_len = 16,
		   .flags = RW_FLAGS_IN, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL },
		   TO_IO },
	[0x89] = { .name = "COMPARE AND WRITE", .fn = sbc_compare_and_write, .opcode = 0x89, .cdb_len = 16,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0x00, CTL }, TO_IO },
	[0x8a] = { .name = "WRITE(16)", .fn = sbc_write, .opcode = 0x8a, .cdb_len = 16,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL },
		   TO_IO },
	[0x8b] = { .name = "ORWRITE(16)", .fn = sbc_orwrite, .opcode = 0x8b, .cdb_len = 16,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL },
		   TO_IO },
	[0x8e] = { .name = "WRITE AND VERIFY(16)", .fn = sbc_write_verify, .opcode = 0x8e, .cdb_len = 16,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xf2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL },
		   TO_IO },
	[0x8f] = { .name = "VERIFY(16)", .fn = sbc_verify, .opcode = 0x8f, .cdb_len = 16,
		   .flags = SCSI_OPF_DATA_OUT | SCSI_OPF_MEDIUM, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL },
		   TO_IO },
	[0x90] = { .name = "PRE-FETCH(16)", .fn = sbc_prefetch, .opcode = 0x90, .cdb_len = 16,
		   .flags = SCSI_OPF_MEDIUM, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL },
		   TO_IO },
	[0x91] = { .name = "SYNCHRONIZE CACHE(16)", .fn = sbc_sync_cache, .opcode = 0x91, .cdb_len = 16,
		   .flags = SCSI_OPF_MEDIUM, .resv = 0,
		   .usage = { 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL },
		   TO_SYNC },
	[0x93] = { .name = "WRITE SAME(16)", .fn = sbc_write_same, .opcode = 0x93, .cdb_len = 16,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL },
		   TO_SYNC },
	[0x9c] = { .name = "WRITE ATOMIC(16)", .fn = sbc_write_atomic16, .opcode = 0x9c, .cdb_len = 16,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0x00, CTL }, TO_IO },
	SA_HDR(0x9e, sa_9e),
	[0xa0] = { .name = "REPORT LUNS", .fn = spc_report_luns, .opcode = 0xa0, .cdb_len = 12,
		   .flags = INFO_FLAGS, .resv = SCSI_RESV_ALL,
		   .usage = { 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL }, TO_FAST },
	SA_HDR(0xa3, sa_a3),
	[0xa8] = { .name = "READ(12)", .fn = sbc_read, .opcode = 0xa8, .cdb_len = 12,
		   .flags = RW_FLAGS_IN, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL }, TO_IO },
	[0xaa] = { .name = "WRITE(12)", .fn = sbc_write, .opcode = 0xaa, .cdb_len = 12,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL }, TO_IO },
	[0xae] = { .name = "WRITE AND VERIFY(12)", .fn = sbc_write_verify, .opcode = 0xae, .cdb_len = 12,
		   .flags = RW_FLAGS_OUT, .resv = 0,
		   .usage = { 0xf2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL }, TO_IO },
	[0xaf] = { .name = "VERIFY(12)", .fn = sbc_verify, .opcode = 0xaf, .cdb_len = 12,
		   .flags = SCSI_OPF_DATA_OUT | SCSI_OPF_MEDIUM, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CTL }, TO_IO },
	[0xb7] = { .name = "READ DEFECT DATA(12)", .fn = sbc_read_defect_data, .opcode = 0xb7, .cdb_len = 12,
		   .flags = SCSI_OPF_DATA_IN | SCSI_OPF_MEDIUM, .resv = SCSI_RESV_WE_OK,
		   .usage = { 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, CTL }, TO_FAST },
};

const struct scsi_opcode *scsi_opcode_lookup(const uint8_t *cdb, bool *sa_invalid)
{
	const struct scsi_opcode *op = &table[cdb[0]];

	*sa_invalid = false;
	if (op->flags & SCSI_OPF_SA) {
		uint16_t sa = cdb[1] & 0x1f;
		for (unsigned i = 0; i < op->n_sa; i++)
			if (op->sa_rows[i].sa == sa)
				return &op->sa_rows[i];
		*sa_invalid = true;
		return NULL;
	}
	return op->fn ? op : NULL;
}

const struct scsi_opcode *scsi_opcode_find(uint8_t opcode, uint16_t sa, bool *has_sa)
{
	const struct scsi_opcode *op = &table[opcode];

	*has_sa = (op->flags & SCSI_OPF_SA) != 0;
	if (*has_sa) {
		for (unsigned i = 0; i < op->n_sa; i++)
			if (op->sa_rows[i].sa == sa)
				return &op->sa_rows[i];
		return NULL;
	}
	return op->fn ? op : NULL;
}

const struct scsi_opcode *scsi_opcode_at(unsigned idx)
{
	unsigned n = 0;

	for (unsigned o = 0; o < 256; o++) {
		const struct scsi_opcode *op = &table[o];
		if (op->flags & SCSI_OPF_SA) {
			for (unsigned i = 0; i < op->n_sa; i++) {
				if (op->sa_rows[i].flags & SCSI_OPF_NO_RSOC)
					continue;
				if (n++ == idx)
					return &op->sa_rows[i];
			}
		} else if (op->fn && !(op->flags & SCSI_OPF_NO_RSOC)) {
			if (n++ == idx)
				return op;
		}
	}
	return NULL;
}

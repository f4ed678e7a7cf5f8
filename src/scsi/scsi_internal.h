/* scsi_internal.h - what the SCSI layer's files share: LU and nexus state, the opcode table row, completion helpers. */
#ifndef SOFTHBA_SCSI_INTERNAL_H
#define SOFTHBA_SCSI_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/reactor.h"
#include "scsi/scsi.h"

/*
 * Ownership inside scsi/:
 *   lu.c, spc_*.c, pr.c, mode.c, sense.c, opcodes.c, ua.c : the LU framework and SPC commands
 *   sbc_*.c, xcopy.c                                       : block commands (SBC-3) and EXTENDED COPY
 *
 * A command handler is called on a reactor with a task whose LU exists,
 * whose unit attentions and reservation conflicts were already checked
 * (from the opcode table row), and whose CDB length was checked. It must
 * finish by calling scsi_task_complete() exactly once (possibly later,
 * from a blk completion). scsi_task_complete() calls task->done through
 * reactor_defer(), never re-entrantly.
 *
 * What the dispatcher (lu.c) has already done before a handler runs:
 *   - LUN exists (or the row has SCSI_OPF_NO_LUN_OK, then t->lu may be NULL)
 *   - CDB length matches the row, NACA=0 in the control byte
 *   - no unit attention pending for this I_T nexus (unless SCSI_OPF_UA_OK)
 *   - reservation conflict rules of the row
 *   - medium present and started (SCSI_OPF_MEDIUM), no sanitize running
 *   - read-only LU refuses SCSI_OPF_MEDIUM_WRITE rows with DATA PROTECT, WRITE PROTECTED
 *   - data direction: a data-out row never arrives with SCSI_DIR_READ and
 *     a data-in row never with SCSI_DIR_WRITE
 * Handlers still check every CDB field they define, the transfer length
 * against t->exp_xfer_len (scsi_task_set_residual) and the LBA range.
 *
 * Locking: lu->lock guards control state (PR, RESERVE, unit attentions,
 * mode pages, prevent/start state). The data path never takes it: it reads
 * lu->gate (any bit set = take the slow path) and itl->ua_count.
 * Lock order: target->lock before lu->lock.
 */

typedef void (*scsi_cmd_fn)(struct scsi_task *t);

/* ---- limits the SBC handlers enforce and VPD B0h (Block Limits) reports ---- */
#define SCSI_MAX_CAW_BLOCKS     64u          /* MAXIMUM COMPARE AND WRITE LENGTH (1 byte, <= 255) */
#define SCSI_MAX_WS_BLOCKS      (1u << 20)   /* MAXIMUM WRITE SAME LENGTH */
#define SCSI_MAX_UNMAP_BLOCKS   (1u << 20)   /* MAXIMUM UNMAP LBA COUNT (per command) */
#define SCSI_MAX_UNMAP_DESC     256u         /* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
#define SCSI_MAX_ATOMIC_BLOCKS  256u         /* MAXIMUM ATOMIC TRANSFER LENGTH */
#define SCSI_ATOMIC_ALIGNMENT   1u           /* ATOMIC ALIGNMENT */
#define SCSI_ATOMIC_GRANULARITY 1u           /* ATOMIC TRANSFER LENGTH GRANULARITY */
#define SCSI_MAX_XFER_BYTES     (32u << 20)  /* MAXIMUM TRANSFER LENGTH when the device states no limit */
#define SCSI_WSNZ               0            /* VPD B0h WSNZ: 0 = WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 writes to the last LBA */
/* Provisioning: lu->thin is true only when opts.thin was asked AND the device
 * deallocates (dev->info.supports_unmap): it drives LBPME (READ CAPACITY 16),
 * LBPU/LBPWS/LBPWS10 (VPD B2h), UNMAP and GET LBA STATUS. LBPRZ is
 * lu->thin && dev->info.unmap_zeroes (scsi_lu_lbprz()). */

/* ---- unit attention codes (ASC << 8 | ASCQ) ---- */
#define SCSI_UA_POWER_ON          0x2900 /* POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (nexus creation) */
#define SCSI_UA_COLD_RESET        0x2901 /* POWER ON OCCURRED (target cold reset) */
#define SCSI_UA_TARGET_RESET      0x2902 /* SCSI BUS RESET OCCURRED (target warm reset) */
#define SCSI_UA_LU_RESET          0x2903 /* BUS DEVICE RESET FUNCTION OCCURRED (logical unit reset) */
#define SCSI_UA_NEXUS_LOSS        0x2907 /* I_T NEXUS LOSS OCCURRED */
#define SCSI_UA_MODE_CHANGED      0x2a01 /* MODE PARAMETERS CHANGED */
#define SCSI_UA_RESV_PREEMPTED    0x2a03 /* RESERVATIONS PREEMPTED */
#define SCSI_UA_RESV_RELEASED     0x2a04 /* RESERVATIONS RELEASED */
#define SCSI_UA_REG_PREEMPTED     0x2a05 /* REGISTRATIONS PREEMPTED */
#define SCSI_UA_CAPACITY_CHANGED  0x2a09 /* CAPACITY DATA HAS CHANGED */
#define SCSI_UA_CMDS_CLEARED      0x2f00 /* COMMANDS CLEARED BY ANOTHER INITIATOR */
#define SCSI_UA_LUNS_CHANGED      0x3f0e /* REPORTED LUNS DATA HAS CHANGED */
#define SCSI_UA_MEDIUM_CHANGED    0x2800 /* NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED */

#define SCSI_UA_QUEUE 8

/* ---- persistent reservations (pr.c) ---- */
enum scsi_pr_type {
	SCSI_PR_NONE = 0,
	SCSI_PR_WE = 1,
	SCSI_PR_EA = 3,
	SCSI_PR_WE_RO = 5,
	SCSI_PR_EA_RO = 6,
	SCSI_PR_WE_AR = 7,
	SCSI_PR_EA_AR = 8,
};

struct scsi_pr_reg {
	uint64_t key;
	char *initiator_port;          /* SCSI initiator port name ("iqn...,i,0x<isid>") */
	struct scsi_pr_reg *next;
};

struct scsi_pr {
	uint32_t generation;           /* PRgeneration */
	struct scsi_pr_reg *regs;      /* registrations, in registration order */
	struct scsi_pr_reg *holder;    /* reservation holder (any registrant for *_AR types), NULL = none */
	uint8_t type;                  /* enum scsi_pr_type when holder != NULL */
};

/* ---- I_T_L nexus: one per (nexus, LU) ---- */
struct scsi_itl {
	struct scsi_nexus *nexus;
	struct scsi_lu *lu;
	atomic_uint ua_count;          /* = ua_n, readable without the lock */
	unsigned ua_n;                 /* under lu->lock */
	uint16_t ua[SCSI_UA_QUEUE];    /* queued unit attentions, oldest first */
	bool prevent;                  /* PREVENT ALLOW MEDIUM REMOVAL state of this I_T nexus */
	struct scsi_itl *next_in_lu;   /* lu->itls list, under lu->lock */
};

/* Growable map LU slot -> itl, replaced copy-on-write (old copies live until the nexus dies). */
struct scsi_itl_vec {
	unsigned n;
	struct scsi_itl_vec *retired;  /* previous copies, freed with the nexus */
	struct scsi_itl *itl[];
};

struct scsi_nexus {
	struct scsi_target *target;
	char *initiator_port;          /* full SCSI initiator port name */
	_Atomic(struct scsi_itl_vec *) itls;   /* indexed by lu->slot */
	struct scsi_nexus *next;       /* target->nexuses, under target->lock */
};

/* ---- LU ---- */

/* lu->gate bits: anything set sends tasks through the locked slow path */
#define SCSI_GATE_RESERVED  0x1u  /* RESERVE(6/10) or a persistent reservation is held */
#define SCSI_GATE_NOMEDIUM  0x4u  /* removable medium ejected (LOEJ) */
#define SCSI_GATE_SANITIZE  0x8u  /* SANITIZE in progress */
#define SCSI_GATE_SWP       0x10u /* control mode page SWP: software write protect */
#define SCSI_GATE_SANITIZE_FAILED 0x20u /* the last SANITIZE failed (sbc_sanitize.c): medium access commands
					 * get MEDIUM ERROR, SANITIZE COMMAND FAILED until a SANITIZE succeeds
					 * or EXIT FAILURE MODE is accepted */

/* mode page state (mode.c): current values of the pages this LU has */
struct scsi_mode_state {
	uint8_t rw_err[12];            /* 01h read-write error recovery */
	uint8_t caching[20];           /* 08h caching */
	uint8_t control[12];           /* 0Ah control */
	uint8_t iec[12];               /* 1Ch informational exceptions control */
};

/* one reactor's in-flight tasks of an LU; a cache line each so reactors do not share */
struct scsi_inflight {
	struct scsi_task *head;
} __attribute__((aligned(64)));

struct scsi_lu {
	struct scsi_target *target;
	uint64_t lun;
	unsigned slot;                 /* index into each nexus's itl vector (creation order) */
	struct blk_dev *dev;

	/* identity (from opts, padded/terminated) */
	char name[64];
	char vendor[9];
	char product[17];
	char revision[5];
	char serial[33];
	uint64_t naa_id;               /* 36-bit vendor specific identifier */
	bool thin;                     /* thin provisioned and the device can deallocate (see above) */
	bool removable;
	bool read_only;                /* opts.read_only || dev->info.read_only */
	bool wce_default;              /* opts.write_cache && dev->info.volatile_cache */

	/* geometry (from dev->info; num_blocks updated by scsi_lu_capacity_changed) */
	uint32_t block_size;
	uint32_t block_shift;
	_Atomic uint64_t num_blocks;
	uint32_t max_xfer_blocks;      /* what VPD B0h reports and SBC enforces (never 0) */
	uint32_t opt_xfer_blocks;      /* 0 = not stated */
	uint32_t opt_gran_blocks;      /* physical block in logical blocks */
	uint64_t sanitize_bps;         /* SANITIZE OVERWRITE rate cap, bytes/s (0 = none) */

	/* fast-path state (atomics) */
	atomic_uint gate;              /* SCSI_GATE_* */
	atomic_bool wce;               /* caching page WCE; false -> every write is FUA */
	atomic_bool d_sense;           /* control page D_SENSE: descriptor format sense */
	atomic_uint sanitize_progress; /* 0..65535 while SCSI_GATE_SANITIZE */

	/* control state, under lock */
	pthread_mutex_t lock;
	struct scsi_itl *itls;         /* every I_T nexus of this LU */
	struct scsi_mode_state mode;
	struct scsi_nexus *spc2_holder;/* RESERVE(6/10) holder */
	struct scsi_pr pr;

	/* in-flight tasks, one list per reactor (each touched only by its reactor) */
	unsigned n_inflight;
	struct scsi_inflight *inflight;

	/* ==== SBC section: fields owned by sbc_*.c / xcopy.c (add below) ==== */
	void *sbc_priv;
	atomic_bool bg_stop;           /* scsi_target_quiesce(): no work may outlive its task any more */

	/* ==== end of SBC section ==== */
};

struct scsi_lu_vec {
	unsigned n;
	struct scsi_lu_vec *retired;
	struct scsi_lu *lu[];          /* sorted by lun */
};

struct scsi_target {
	char *name;
	uint16_t rel_port;
	pthread_mutex_t lock;          /* LU creation, nexus list */
	_Atomic(struct scsi_lu_vec *) lus;
	unsigned next_slot;
	struct scsi_nexus *nexuses;
};

/* ---- opcode table (opcodes.c) ---- */

/* row flags */
#define SCSI_OPF_DATA_IN      0x0001u /* moves data to the initiator */
#define SCSI_OPF_DATA_OUT     0x0002u /* moves data from the initiator */
#define SCSI_OPF_MEDIUM_WRITE 0x0004u /* changes the medium: DATA PROTECT on a read-only LU */
#define SCSI_OPF_MEDIUM       0x0008u /* needs the medium present and the LU started */
#define SCSI_OPF_UA_OK        0x0010u /* runs while a unit attention is pending (INQUIRY, REPORT LUNS, REQUEST SENSE) */
#define SCSI_OPF_NO_LUN_OK    0x0020u /* runs for a LUN that does not exist (t->lu == NULL) */
#define SCSI_OPF_SANITIZE_OK  0x0040u /* runs while a sanitize is in progress */
#define SCSI_OPF_SA           0x0080u /* row is a service action table header (see sa) */
#define SCSI_OPF_SA_CDB1      0x0100u /* service action in CDB byte 1 bits 4:0 */
#define SCSI_OPF_NO_RSOC      0x0200u /* hidden from REPORT SUPPORTED OPERATION CODES */

/* reservation rules: which reservation holders let the command through
 * from an I_T nexus that is not the holder (SPC-4 table "SPC commands that
 * are allowed in the presence of various reservations", SBC-3 equivalent) */
#define SCSI_RESV_WE_OK   0x1u  /* allowed under Write Exclusive (and *_RO/AR from unregistered) */
#define SCSI_RESV_EA_OK   0x2u  /* allowed under Exclusive Access (and *_RO/AR from unregistered) */
#define SCSI_RESV_SPC2_OK 0x4u  /* allowed while another I_T nexus holds RESERVE(6/10) */
#define SCSI_RESV_PR_ANY  0x8u  /* PR IN/OUT: conflicts with any RESERVE(6/10), even the I_T nexus's own */
#define SCSI_RESV_ALL     (SCSI_RESV_WE_OK | SCSI_RESV_EA_OK | SCSI_RESV_SPC2_OK)

struct scsi_opcode {
	const char *name;
	scsi_cmd_fn fn;
	uint8_t opcode;
	uint16_t sa;                   /* service action for rows of a sub-table */
	uint8_t cdb_len;               /* 0 for a service action header (the sub-table rows say) */
	uint16_t flags;                /* SCSI_OPF_* */
	uint8_t resv;                  /* SCSI_RESV_* */
	/* optional: false when this LU does not implement the command (e.g. UNMAP on a
	 * fully provisioned LU): refused like an unknown opcode / service action and
	 * left out of REPORT SUPPORTED OPERATION CODES */
	bool (*avail)(const struct scsi_lu *lu);
	/* optional: computes the SCSI_RESV_* bits from the CDB (e.g. PREVENT=0 is allowed) */
	uint8_t (*resv_fn)(const uint8_t *cdb);
	/* service actions: sub-table */
	const struct scsi_opcode *sa_rows;
	uint8_t n_sa;
	/* CDB USAGE DATA for REPORT SUPPORTED OPERATION CODES (cdb_len bytes) */
	uint8_t usage[16];
	/* command timeouts descriptor: nominal and recommended, seconds */
	uint32_t nominal_timeout;
	uint32_t recommended_timeout;
};

/* Row for this CDB (resolving service actions); NULL = unsupported opcode.
 * *sa_invalid is set when the opcode exists but the service action does not. */
const struct scsi_opcode *scsi_opcode_lookup(const uint8_t *cdb, bool *sa_invalid);
/* Is row op implemented by lu (op->avail)? */
static inline bool scsi_opcode_avail(const struct scsi_opcode *op, const struct scsi_lu *lu)
{
	return !op->avail || !lu || op->avail(lu);
}
/* Row for an opcode/service action pair (RSOC); NULL when absent. */
const struct scsi_opcode *scsi_opcode_find(uint8_t opcode, uint16_t sa, bool *has_sa);
/* Iterate every supported command (RSOC "all commands"): idx from 0 until NULL. */
const struct scsi_opcode *scsi_opcode_at(unsigned idx);

/* ---- completion helpers (lu.c / sense.c) ---- */

/* Task scratch: handlers may use t->priv.u64[0 .. SCSI_TASK_PRIV_WORDS-1];
 * the framework keeps its deferred-completion record in the rest. */
#define SCSI_TASK_PRIV_WORDS 44

void scsi_task_complete(struct scsi_task *t);
/* GOOD status, data_in_len = n (already clamped to exp_xfer_len by the caller or by this). */
void scsi_task_good(struct scsi_task *t);
/* CHECK CONDITION with fixed-format sense, then complete. */
void scsi_task_fail(struct scsi_task *t, uint8_t key, uint8_t asc, uint8_t ascq);
/* ILLEGAL REQUEST, INVALID FIELD IN CDB with sense-key-specific field pointer (byte, bit). */
void scsi_task_fail_field_cdb(struct scsi_task *t, uint16_t byte, int8_t bit);
/* ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST with field pointer. */
void scsi_task_fail_field_param(struct scsi_task *t, uint16_t byte, int8_t bit);
/* Map a blk status (-errno) to sense and complete. */
void scsi_task_fail_blk(struct scsi_task *t, int status);
/* Copy len bytes of response into the data-in buffer, clamped to
 * exp_xfer_len and the allocation length; sets data_in_len and residuals. */
void scsi_task_data_in(struct scsi_task *t, const void *buf, uint32_t len, uint32_t alloc_len);
/* Set residual fields from the number of bytes the CDB asked to transfer. */
void scsi_task_set_residual(struct scsi_task *t, uint32_t cdb_xfer_len);

/* Full sense builder: format (fixed 70h / descriptor 72h) follows the
 * LU's D_SENSE; every optional part is chosen by its *_valid flag. */
struct scsi_sense_info {
	uint8_t key, asc, ascq;
	bool info_valid;               /* INFORMATION field (e.g. MISCOMPARE offset, bad LBA) */
	uint64_t info;
	bool sks_valid;                /* sense-key specific: sks[0] bit 7 (SKSV) is set by the builder */
	uint8_t sks[3];
	bool cmd_info_valid;           /* COMMAND-SPECIFIC INFORMATION (e.g. EXTENDED COPY) */
	uint64_t cmd_info;
	bool deferred;                 /* 71h/73h deferred error */
};
void scsi_sense_build(struct scsi_task *t, const struct scsi_sense_info *si);
/* CHECK CONDITION with sense from si, then complete. */
void scsi_task_fail_ex(struct scsi_task *t, const struct scsi_sense_info *si);
/* CHECK CONDITION with the INFORMATION field set (MISCOMPARE offset, failing LBA), then complete. */
void scsi_task_fail_info(struct scsi_task *t, uint8_t key, uint8_t asc, uint8_t ascq, uint64_t info);
/* Sense-key specific progress indication bytes (value 0..65535). */
void scsi_sense_progress(struct scsi_sense_info *si, uint16_t progress);
/* Sense-key specific field pointer bytes. cdb: C/D bit; bit < 0: no bit pointer. */
void scsi_sense_field(struct scsi_sense_info *si, bool cdb, uint16_t byte, int8_t bit);
/* Build sense into buf (cap bytes); returns its length. */
uint8_t scsi_sense_encode(uint8_t *buf, uint8_t cap, bool desc, const struct scsi_sense_info *si);

/* ---- LU state the SBC side reads ---- */
static inline bool scsi_lu_wce(const struct scsi_lu *lu)
{
	return atomic_load_explicit(&lu->wce, memory_order_relaxed);
}
static inline bool scsi_lu_lbprz(const struct scsi_lu *lu)
{
	return lu->thin && lu->dev->info.unmap_zeroes;
}
/* Write-protected now: read-only LU or software write protect (control page SWP). */
static inline bool scsi_lu_write_protected(const struct scsi_lu *lu)
{
	return lu->read_only || (atomic_load_explicit(&lu->gate, memory_order_relaxed) & SCSI_GATE_SWP);
}
static inline uint64_t scsi_lu_num_blocks(const struct scsi_lu *lu)
{
	return atomic_load_explicit(&lu->num_blocks, memory_order_relaxed);
}
/* The 16-byte NAA 6 designator VPD 83h reports for lu (spc_inquiry.c);
 * EXTENDED COPY matches identification descriptors against it. */
void scsi_lu_naa(const struct scsi_lu *lu, uint8_t out[16]);
/* SANITIZE progress (sbc_cap.c): begin marks the LU busy (TEST UNIT READY,
 * REQUEST SENSE and medium commands report NOT READY, SANITIZE IN PROGRESS
 * with this progress); end clears it. progress: 0..65535 of the total. */
void scsi_lu_sanitize_begin(struct scsi_lu *lu);
void scsi_lu_sanitize_progress(struct scsi_lu *lu, uint16_t progress);
void scsi_lu_sanitize_end(struct scsi_lu *lu);

/* ---- unit attentions (ua.c); callers hold lu->lock ---- */
/* Queue code (SCSI_UA_*) for one I_T_L nexus. */
void scsi_ua_add(struct scsi_itl *itl, uint16_t code);
/* Queue code for every I_T nexus of lu except `except` (NULL = all). */
void scsi_ua_add_all(struct scsi_lu *lu, const struct scsi_nexus *except, uint16_t code);
/* Take the oldest unit attention (0 when none). */
uint16_t scsi_ua_take(struct scsi_itl *itl);
/* Drop every queued unit attention. */
void scsi_ua_clear(struct scsi_itl *itl);

/* ---- lookups (lu.c) ---- */
struct scsi_itl *scsi_itl_get(const struct scsi_nexus *n, const struct scsi_lu *lu);
/* The LU's itl whose initiator port name is port (NULL when not connected); under lu->lock. */
struct scsi_itl *scsi_lu_itl_by_port(struct scsi_lu *lu, const char *port);
/* Mark aborted the in-flight tasks of lu that reactor idx owns (caller runs on
 * that reactor); only != NULL limits it to one nexus. Returns how many. */
unsigned scsi_lu_abort_local(struct scsi_lu *lu, unsigned idx, const struct scsi_nexus *only);
/* tmf.c: mark aborted every in-flight task of lu (only != NULL: of that nexus), on all reactors */
void scsi_lu_abort(struct scsi_lu *lu, const struct scsi_nexus *only);
/* Recompute the SCSI_GATE_RESERVED bit from spc2_holder and pr; under lu->lock. */
void scsi_lu_update_resv_gate(struct scsi_lu *lu);

/* ---- command handlers (SPC side) ---- */
void spc_test_unit_ready(struct scsi_task *t);
void spc_request_sense(struct scsi_task *t);
void spc_inquiry(struct scsi_task *t);
void spc_report_luns(struct scsi_task *t);
void spc_report_supported_opcodes(struct scsi_task *t);
void spc_start_stop_unit(struct scsi_task *t);
void spc_prevent_allow(struct scsi_task *t);
void spc_reserve(struct scsi_task *t);       /* RESERVE(6/10) */
void spc_release(struct scsi_task *t);       /* RELEASE(6/10) */
void spc_mode_sense(struct scsi_task *t);    /* MODE SENSE(6/10) */
void spc_mode_select(struct scsi_task *t);   /* MODE SELECT(6/10) */
void spc_pr_in(struct scsi_task *t);
void spc_pr_out(struct scsi_task *t);

/* mode.c: initial page values for a new LU (under no lock: LU not yet visible) */
void scsi_mode_init(struct scsi_lu *lu, bool write_cache);
/* mode.c: back to the default values (logical unit reset; under lu->lock) */
void scsi_mode_reset(struct scsi_lu *lu);
/* pr.c: release every registration and reservation (target destroy) */
void scsi_pr_fini(struct scsi_lu *lu);
/* pr.c: does the PR state let this task through? (under lu->lock) */
bool scsi_pr_allows(struct scsi_lu *lu, const struct scsi_nexus *n, uint8_t resv_bits);
/* pr.c: the registration of initiator port name port, NULL when not registered (under lu->lock) */
struct scsi_pr_reg *scsi_pr_find(struct scsi_lu *lu, const char *port);

#endif

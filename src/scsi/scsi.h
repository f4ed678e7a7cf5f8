/* scsi.h - transport-independent SCSI target API: targets, logical units, I_T nexuses and tasks. */
#ifndef SOFTHBA_SCSI_SCSI_H
#define SOFTHBA_SCSI_SCSI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "blk/blk.h"

/*
 * A transport (iSCSI, later others) owns I_T nexuses (one per session) and
 * hands the SCSI layer tasks. The SCSI layer decodes the CDB, checks
 * direction and length, talks to the LU's blk device and completes the
 * task with status, sense and residual. It never touches the network.
 *
 * Data model for a task:
 *   - Data-out (initiator -> target) is fully received by the transport
 *     into task->iov before scsi_task_submit() (task->data_out_len bytes).
 *   - Data-in (target -> initiator): the transport provides task->iov with
 *     room for task->exp_xfer_len bytes; the SCSI layer writes
 *     task->data_in_len bytes (never more than exp_xfer_len) and sets the
 *     residual.
 *   - Residuals: SCSI layer sets resid_over/resid_under/residual by
 *     comparing what the CDB asked to move with exp_xfer_len, as iSCSI
 *     (RFC 7143 11.4.5) and SAM-5 define them.
 *
 * Threading: scsi_task_submit() is called on a reactor and task->done is
 * called on that same reactor, never from inside scsi_task_submit().
 * LU control state (reservations, mode pages, unit attentions) is shared
 * by all reactors; the common data path reads it without locks.
 */

/* SAM status codes */
#define SCSI_STATUS_GOOD                 0x00
#define SCSI_STATUS_CHECK_CONDITION      0x02
#define SCSI_STATUS_CONDITION_MET        0x04
#define SCSI_STATUS_BUSY                 0x08
#define SCSI_STATUS_RESERVATION_CONFLICT 0x18
#define SCSI_STATUS_TASK_SET_FULL        0x28
#define SCSI_STATUS_ACA_ACTIVE           0x30
#define SCSI_STATUS_TASK_ABORTED         0x40

/* Sense keys */
#define SK_NO_SENSE        0x0
#define SK_RECOVERED_ERROR 0x1
#define SK_NOT_READY       0x2
#define SK_MEDIUM_ERROR    0x3
#define SK_HARDWARE_ERROR  0x4
#define SK_ILLEGAL_REQUEST 0x5
#define SK_UNIT_ATTENTION  0x6
#define SK_DATA_PROTECT    0x7
#define SK_BLANK_CHECK     0x8
#define SK_VENDOR_SPECIFIC 0x9
#define SK_COPY_ABORTED    0xa
#define SK_ABORTED_COMMAND 0xb
#define SK_VOLUME_OVERFLOW 0xd
#define SK_MISCOMPARE      0xe

/* Task attributes (SAM) */
enum scsi_task_attr { SCSI_ATTR_SIMPLE = 0, SCSI_ATTR_ORDERED, SCSI_ATTR_HEAD_OF_QUEUE, SCSI_ATTR_ACA };

enum scsi_dir { SCSI_DIR_NONE = 0, SCSI_DIR_READ = 1 /* data-in */, SCSI_DIR_WRITE = 2 /* data-out */, SCSI_DIR_BIDI = 3 };

struct scsi_target;
struct scsi_lu;
struct scsi_nexus;
struct scsi_task;

#define SCSI_SENSE_MAX 252

struct scsi_task {
	/* set by the transport */
	struct scsi_nexus *nexus;
	uint64_t lun;               /* LUN as the transport decoded it (flat 0..16383) */
	uint8_t cdb[32];
	uint8_t cdb_len;
	enum scsi_task_attr attr;
	uint64_t tag;               /* transport task tag, for abort matching */
	enum scsi_dir dir;          /* from the transport's R/W flags */
	uint32_t exp_xfer_len;      /* expected data transfer length from the initiator */
	struct iovec *iov;          /* data buffer (see data model above) */
	int iovcnt;
	uint32_t data_out_len;      /* bytes of data-out actually received */
	void (*done)(struct scsi_task *t);
	void *transport_priv;

	/* set by the SCSI layer */
	uint8_t status;
	uint8_t sense_len;
	uint8_t sense[SCSI_SENSE_MAX];
	uint32_t data_in_len;       /* bytes placed in iov for the initiator */
	bool resid_over;
	bool resid_under;
	uint32_t residual;

	/* SCSI layer private */
	struct scsi_lu *lu;
	uint32_t state;
	bool aborted;
	struct scsi_task *next_in_lu;   /* private: LU's in-flight list (owned per reactor) */
	struct scsi_task *prev_in_lu;
	union {
		uint64_t u64[48];
		void *ptr[48];
	} priv;
};

/* ---- target: a set of LUs behind one name ---- */

struct scsi_lu_opts {
	const char *name;           /* volume name for logs */
	const char *vendor;         /* INQUIRY vendor (8 chars), default "SOFTHBA" */
	const char *product;        /* INQUIRY product (16 chars), default "VIRTUAL-DISK" */
	const char *revision;       /* 4 chars, default from the build */
	const char *serial;         /* unit serial number (VPD 80h); default derived from name */
	uint64_t naa_id;            /* low 36 bits of vendor-specific id for NAA 6 designator; 0 = derived */
	bool thin;                  /* thin provisioned: LBPME, UNMAP, GET LBA STATUS */
	bool removable;             /* RMB bit; START STOP UNIT ejects; PREVENT ALLOW locks */
	bool read_only;             /* write-protected: DATA PROTECT on writes, WP bit in mode header */
	bool write_cache;           /* initial WCE (only honoured when the device has a volatile cache) */
	/* SANITIZE OVERWRITE runs in the background at most at this rate, so the
	 * volumes sharing the devices keep their bandwidth: MiB/s, 0 = the
	 * default SCSI_SANITIZE_DEFAULT_MIB_S, UINT32_MAX = no limit */
	uint32_t sanitize_mib_s;
};
#define SCSI_SANITIZE_DEFAULT_MIB_S 16u

/* Create a target named name (iSCSI: its IQN), with relative port id rel_port. */
int scsi_target_create(const char *name, uint16_t rel_port, struct scsi_target **out);
void scsi_target_destroy(struct scsi_target *t);
const char *scsi_target_name(const struct scsi_target *t);
/* Attach dev as LUN lun of target t. The LU does not own dev. Returns 0 or -errno (-EEXIST, -EINVAL). */
int scsi_lu_create(struct scsi_target *t, uint64_t lun, struct blk_dev *dev, const struct scsi_lu_opts *opts,
		   struct scsi_lu **out);
struct scsi_lu *scsi_target_lu(struct scsi_target *t, uint64_t lun);
/* Number of LUs and the LUN of the idx-th one (ascending). */
unsigned scsi_target_lu_count(const struct scsi_target *t);
uint64_t scsi_target_lun_at(const struct scsi_target *t, unsigned idx);
/* True while a LU of t runs work that outlived its task (a SANITIZE, a
 * SYNCHRONIZE CACHE with IMMED): destroy t and its devices only after this
 * turned false (a shutdown polls it, bounded by its deadline). */
bool scsi_target_busy(struct scsi_target *t);
/* Stop the background work of every LU of t and call cb(arg) on the calling
 * reactor (later, never inline) once none runs any more: a running
 * SANITIZE is interrupted (it ends as failed), background flushes finish;
 * from now on nothing outlives its task (SYNCHRONIZE CACHE with IMMED
 * answers after the flush, a new SANITIZE stops at once). For a shutdown,
 * before the sessions are closed; the caller bounds the wait with its own
 * deadline. Call on a reactor. Returns 0, or -errno (cb will not be called). */
int scsi_target_quiesce(struct scsi_target *t, void (*cb)(void *arg), void *arg);
/* Tell the LU its device changed size: capacity-changed unit attention. */
void scsi_lu_capacity_changed(struct scsi_lu *lu);

/* ---- I_T nexus: one per session/connection ---- */

/* initiator_port: e.g. "iqn.1993-08.org.debian:01:abc,i,0x23d000000001"
 * (SPC-4 iSCSI initiator port name); the nexus is registered with every
 * LU of t (power-on unit attention pending). Callable from any reactor. */
int scsi_nexus_create(struct scsi_target *t, const char *initiator_port, struct scsi_nexus **out);
/* Unregister (releases RESERVE(6/10) reservations held by it; persistent
 * reservations stay as SPC-4 requires). No task of the nexus may be in flight. */
void scsi_nexus_destroy(struct scsi_nexus *n);

/* ---- tasks ---- */

/* Execute a task. Completion through task->done (status, sense, data_in_len,
 * residual set). Unknown LUN: CHECK CONDITION, LOGICAL UNIT NOT SUPPORTED
 * (INQUIRY and REPORT LUNS still answer as SPC-4 requires). */
void scsi_task_submit(struct scsi_task *task);
/* The transport aborts one task it submitted (ABORT TASK): the task still
 * completes through done(), with TASK ABORTED, and a command that runs in
 * steps stops at its next one (a SANITIZE answers at once and its
 * operation goes on). Call on the reactor that submitted the task, before
 * done() ran. */
void scsi_task_abort(struct scsi_task *task);

/* Task management (SAM-5). Each returns a SAM TMF response:
 * 0 = FUNCTION COMPLETE, 5 = FUNCTION REJECTED / not supported,
 * 9 = INCORRECT LUN... (the transport maps to its own codes). The call
 * marks matching tasks aborted (their done is still called, with status
 * TASK ABORTED unless they already completed) and establishes the unit
 * attentions SAM requires. Tasks already handed to the blk layer finish
 * there first; done() reports whether they were aborted. */
enum scsi_tmf {
	SCSI_TMF_ABORT_TASK = 1,
	SCSI_TMF_ABORT_TASK_SET,
	SCSI_TMF_CLEAR_ACA,
	SCSI_TMF_CLEAR_TASK_SET,
	SCSI_TMF_LU_RESET,
	SCSI_TMF_TARGET_WARM_RESET,
	SCSI_TMF_TARGET_COLD_RESET,
	SCSI_TMF_QUERY_TASK,
};
#define SCSI_TMF_RSP_COMPLETE      0
#define SCSI_TMF_RSP_NO_TASK       1
#define SCSI_TMF_RSP_NO_LUN        2
#define SCSI_TMF_RSP_NOT_SUPPORTED 5
#define SCSI_TMF_RSP_REJECTED      255
/* Side effects on LU state (reservations released by LU reset, unit
 * attentions for other nexuses, CLEAR TASK SET ...). Aborting the
 * transport's own queued tasks is the transport's job; it calls this for
 * the LU-level effects. Returns a SCSI_TMF_RSP_* value. */
int scsi_tmf_lu(struct scsi_nexus *n, uint64_t lun, enum scsi_tmf fn);

/* Build fixed-format sense into task and set CHECK CONDITION. */
void scsi_task_set_sense(struct scsi_task *task, uint8_t key, uint8_t asc, uint8_t ascq);
/* Human text for sense key / additional sense code (for logs and the CLI). */
const char *scsi_sense_key_str(uint8_t key);
const char *scsi_asc_str(uint8_t asc, uint8_t ascq);

#endif

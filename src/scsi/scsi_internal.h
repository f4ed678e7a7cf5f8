/* scsi_internal.h - what the SCSI layer's files share: LU and nexus state, the opcode table row, completion helpers. */
#ifndef SOFTHBA_SCSI_INTERNAL_H
#define SOFTHBA_SCSI_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "scsi/scsi.h"

/*
 * Ownership inside scsi/:
 *   lu.c, spc_*.c, pr.c, mode.c, sense.c, opcodes.c : the LU framework and SPC commands
 *   sbc_*.c, xcopy.c                                : block commands (SBC-3) and EXTENDED COPY
 *
 * A command handler is called on a reactor with a task whose LU exists,
 * whose unit attentions and reservation conflicts were already checked
 * (from the opcode table row), and whose CDB length was checked. It must
 * finish by calling scsi_task_complete() exactly once (possibly later,
 * from a blk completion). scsi_task_complete() calls task->done through
 * reactor_defer(), never re-entrantly.
 */

typedef void (*scsi_cmd_fn)(struct scsi_task *t);

/* ---- completion helpers (lu.c / sense.c) ---- */
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

#endif

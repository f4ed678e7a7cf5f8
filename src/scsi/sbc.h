/* sbc.h - block command (SBC-3) and EXTENDED COPY handlers the opcode table dispatches to. */
#ifndef SOFTHBA_SCSI_SBC_H
#define SOFTHBA_SCSI_SBC_H

#include "scsi/scsi_internal.h"

/* sbc_rw.c: reads, writes, verifies, compares */
void sbc_read(struct scsi_task *t);            /* READ 6/10/12/16 (opcode picks the CDB form) */
void sbc_write(struct scsi_task *t);           /* WRITE 6/10/12/16 */
void sbc_write_verify(struct scsi_task *t);    /* WRITE AND VERIFY 10/12/16 */
void sbc_verify(struct scsi_task *t);          /* VERIFY 10/12/16 */
void sbc_orwrite(struct scsi_task *t);         /* ORWRITE 16 */
void sbc_compare_and_write(struct scsi_task *t);
void sbc_write_atomic16(struct scsi_task *t);
void sbc_prefetch(struct scsi_task *t);        /* PRE-FETCH 10/16 */
void sbc_sync_cache(struct scsi_task *t);      /* SYNCHRONIZE CACHE 10/16 */

/* sbc_prov.c: provisioning */
void sbc_write_same(struct scsi_task *t);      /* WRITE SAME 10/16 (UNMAP, ANCHOR, NDOB bits) */
void sbc_unmap(struct scsi_task *t);
void sbc_get_lba_status(struct scsi_task *t);  /* SERVICE ACTION IN(16) / 12h */

/* sbc_cap.c: capacity, defects, sanitize */
void sbc_read_capacity10(struct scsi_task *t);
void sbc_read_capacity16(struct scsi_task *t); /* SERVICE ACTION IN(16) / 10h */
void sbc_read_defect_data(struct scsi_task *t);/* READ DEFECT DATA 10/12 */
void sbc_sanitize(struct scsi_task *t);

/* xcopy.c: third-party copy */
void sbc_extended_copy(struct scsi_task *t);   /* EXTENDED COPY (LID1), opcode 83h / 00h */
void sbc_receive_copy_results(struct scsi_task *t); /* 84h: COPY STATUS, RECEIVE DATA, OPERATING PARAMETERS, FAILED SEGMENT DETAILS */
/* sbc_common.c: free the LU's SBC state (range lock, copy results); lu.c calls it
 * when the LU is destroyed, after every task finished. Safe when never used. */
void sbc_lu_fini(struct scsi_lu *lu);
/* True while work that outlives its task runs on the LU (a SANITIZE or a
 * SYNCHRONIZE CACHE with IMMED): the LU and its device must not be
 * destroyed before this turns false. */
bool sbc_lu_busy(struct scsi_lu *lu);

/* Build the third-party copy VPD page (8Fh) into buf (size cap); returns its length. */
uint32_t sbc_vpd_third_party_copy(struct scsi_lu *lu, uint8_t *buf, uint32_t cap);

#endif

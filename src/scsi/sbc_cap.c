/* sbc_cap.c - READ CAPACITY 10/16 and READ DEFECT DATA 10/12 (an emulated disk has empty defect lists). */
#include <string.h>

#include "core/util.h"
#include "scsi/sbc_int.h"

/* ---- READ CAPACITY ---- */

void sbc_read_capacity10(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	const uint8_t *cdb = t->cdb;
	bool pmi = cdb[8] & 0x01;
	/* LOGICAL BLOCK ADDRESS must be zero unless PMI is set (SBC-3 5.16) */
	if (!pmi && get_be32(cdb + 2) != 0) {
		scsi_task_fail_field_cdb(t, 2, -1);
		return;
	}
	uint64_t last = scsi_lu_num_blocks(lu) - 1;
	uint8_t buf[8];
	/* too big for 32 bits: FFFFFFFFh tells the initiator to use READ CAPACITY(16) */
	put_be32(buf, last > 0xfffffffeull ? 0xffffffffu : (uint32_t)last);
	put_be32(buf + 4, lu->block_size);
	scsi_task_data_in(t, buf, sizeof(buf), sizeof(buf));
	scsi_task_good(t);
}

void sbc_read_capacity16(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	const uint8_t *cdb = t->cdb;
	uint32_t alloc = get_be32(cdb + 10);
	bool pmi = cdb[14] & 0x01;
	if (!pmi && get_be64(cdb + 2) != 0) {
		scsi_task_fail_field_cdb(t, 2, -1);
		return;
	}
	uint8_t buf[32];
	memset(buf, 0, sizeof(buf));
	put_be64(buf, scsi_lu_num_blocks(lu) - 1);
	put_be32(buf + 8, lu->block_size);
	/* byte 12: no protection information (P_TYPE 0, PROT_EN 0) */
	buf[13] = (uint8_t)(lu->dev->info.phys_block_exp & 0x0f); /* LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT */
	uint16_t w = 0;             /* LOWEST ALIGNED LOGICAL BLOCK ADDRESS: 0 */
	if (lu->thin)
		w |= 0x8000;            /* LBPME */
	if (scsi_lu_lbprz(lu))
		w |= 0x4000;            /* LBPRZ: deallocated blocks read as zeroes */
	put_be16(buf + 14, w);
	scsi_task_data_in(t, buf, sizeof(buf), alloc);
	scsi_task_good(t);
}

/* ---- READ DEFECT DATA ---- */

/*
 * Address descriptor formats (SBC-3 6.2): 000b short block, 001b extended
 * bytes from index, 010b extended physical sector, 011b long block, 100b
 * bytes from index, 101b physical sector. Every one of them describes an
 * empty list the same way, so the requested format is echoed. 110b
 * (vendor specific) and 111b are not supported: the header comes back in
 * short block format with RECOVERED ERROR, DEFECT LIST NOT FOUND, as SBC-3
 * asks for a format the device server does not support.
 */
static void rdd_reply(struct scsi_task *t, uint8_t *hdr, uint32_t hdr_len, uint8_t fmt, uint32_t alloc)
{
	if (fmt <= 5) {
		scsi_task_data_in(t, hdr, hdr_len, alloc);
		scsi_task_good(t);
		return;
	}
	hdr[1] &= (uint8_t)~0x07;   /* short block format */
	struct scsi_sense_info si = { .key = SK_RECOVERED_ERROR, .asc = 0x1c, .ascq = 0x00 };
	scsi_sense_build(t, &si);
	/* the header still goes to the initiator with the CHECK CONDITION */
	uint32_t n = MIN(MIN(hdr_len, alloc), sbc_data_in_cap(t));
	t->data_in_len = (uint32_t)iov_from_buf(t->iov, t->iovcnt, 0, hdr, n);
	scsi_task_set_residual(t, MIN(hdr_len, alloc));
	scsi_task_complete(t);
}

void sbc_read_defect_data(struct scsi_task *t)
{
	const uint8_t *cdb = t->cdb;
	if (cdb[0] == 0x37) {       /* READ DEFECT DATA(10) */
		uint8_t b = cdb[2];
		uint32_t alloc = get_be16(cdb + 7);
		uint8_t hdr[4] = { 0, (uint8_t)(b & 0x1f), 0, 0 }; /* PLISTV/GLISTV as asked, format, length 0 */
		rdd_reply(t, hdr, sizeof(hdr), b & 0x07, alloc);
		return;
	}
	/* READ DEFECT DATA(12) */
	uint8_t b = cdb[1];
	uint32_t alloc = get_be32(cdb + 6);
	uint8_t hdr[8] = { 0, (uint8_t)(b & 0x1f), 0, 0, 0, 0, 0, 0 };
	rdd_reply(t, hdr, sizeof(hdr), b & 0x07, alloc);
}

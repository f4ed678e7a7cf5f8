/* sbc_cmp.c - commands that read the medium back: VERIFY, WRITE AND VERIFY, ORWRITE and COMPARE AND WRITE. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bufpool.h"
#include "core/util.h"
#include "scsi/sbc_int.h"

/*
 * One engine, four commands. The medium is streamed through a bounce
 * buffer in SBC_CHUNK_BYTES pieces:
 *   VERIFY          read chunk [compare with data-out]            -> next chunk
 *   WRITE AND VERIFY write everything (FUA), then read back like VERIFY
 *   ORWRITE         read chunk, OR data-out into it, write chunk   -> next chunk (exclusive range)
 *   COMPARE AND WRITE read N blocks, compare with the first half, write the second half (exclusive range)
 * A miscompare reports MISCOMPARE DURING VERIFY OPERATION with the
 * INFORMATION field set to the offset of the first differing byte in the
 * data-out buffer.
 */

enum cmp_op { OP_VERIFY, OP_WRITE_VERIFY, OP_ORWRITE, OP_CAW };
enum cmp_phase { PH_WRITE_ALL, PH_READ, PH_WRITE_CHUNK };

struct cmp_ctx {
	struct scsi_task *t;
	struct scsi_lu *lu;
	enum cmp_op op;
	enum cmp_phase phase;
	struct blk_io io;
	struct sbc_range rng;
	bool locked;
	struct iovec iov;
	struct iovec *wiov;        /* WRITE AND VERIFY: data-out as the write iovec */
	int wiovcnt;
	uint8_t *buf;
	uint32_t buf_len;
	uint64_t lba;
	uint32_t nblocks;          /* blocks the command covers */
	uint32_t pos;              /* blocks finished */
	uint32_t chunk;            /* blocks of the current step */
	uint8_t bytchk;
	uint32_t cdb_bytes;        /* data-out the CDB asked for (residual) */
	uint32_t flags;            /* write flags */
};

static void cmp_free(struct cmp_ctx *c)
{
	if (c->locked)
		sbc_range_unlock(&c->rng);
	if (c->buf)
		buf_put(c->buf, c->buf_len);
	free(c->wiov);
	free(c);
}

static void cmp_finish(struct cmp_ctx *c, int status)
{
	struct scsi_task *t = c->t;
	uint32_t cdb_bytes = c->cdb_bytes;
	cmp_free(c);
	if (status) {
		scsi_task_fail_blk(t, status);
		return;
	}
	scsi_task_set_residual(t, cdb_bytes);
	scsi_task_good(t);
}

static void cmp_miscompare(struct cmp_ctx *c, uint64_t offset)
{
	struct scsi_task *t = c->t;
	cmp_free(c);
	sbc_fail_miscompare(t, offset);
}

static void cmp_cb(struct blk_io *io, int status);

static void cmp_submit(struct cmp_ctx *c, enum blk_op op, uint64_t lba, uint32_t nb, struct iovec *iov, int iovcnt,
		       uint32_t flags)
{
	blk_io_prep(&c->io, c->lu->dev, op, lba, nb, iov, iovcnt, cmp_cb, c);
	c->io.flags = flags;
	int rc = sbc_submit_split(c->lu->dev, &c->io);
	if (rc)
		cmp_finish(c, rc);
}

/* Read the next chunk into the bounce buffer. */
static void cmp_read_next(struct cmp_ctx *c)
{
	uint32_t per = c->buf_len >> c->lu->block_shift;
	c->chunk = MIN(per, c->nblocks - c->pos);
	c->iov.iov_base = c->buf;
	c->iov.iov_len = (size_t)c->chunk << c->lu->block_shift;
	c->phase = PH_READ;
	cmp_submit(c, BLK_OP_READ, c->lba + c->pos, c->chunk, &c->iov, 1, 0);
}

/* The chunk at c->pos is in c->buf: check or merge it. Returns false when the command ended. */
static bool cmp_after_read(struct cmp_ctx *c)
{
	struct scsi_task *t = c->t;
	uint32_t shift = c->lu->block_shift;
	uint32_t bs = c->lu->block_size;
	size_t off = (size_t)c->pos << shift;
	size_t len = (size_t)c->chunk << shift;

	switch (c->op) {
	case OP_VERIFY:
	case OP_WRITE_VERIFY:
		if (c->bytchk == 1) {
			int64_t d = sbc_iov_cmp(t->iov, t->iovcnt, off, c->buf, len);
			if (d >= 0) {
				cmp_miscompare(c, off + (uint64_t)d);
				return false;
			}
		} else if (c->bytchk == 3) {
			/* one block of data-out against every block */
			for (uint32_t i = 0; i < c->chunk; i++) {
				int64_t d = sbc_iov_cmp(t->iov, t->iovcnt, 0, c->buf + ((size_t)i << shift), bs);
				if (d >= 0) {
					cmp_miscompare(c, off + ((size_t)i << shift) + (uint64_t)d);
					return false;
				}
			}
		}
		c->pos += c->chunk;
		return true;
	case OP_ORWRITE: {
		/* OR the data-out into what was read, then write it back */
		uint8_t tmp[512];
		for (size_t done = 0; done < len;) {
			size_t n = MIN(sizeof(tmp), len - done);
			iov_to_buf(t->iov, t->iovcnt, off + done, tmp, n);
			for (size_t i = 0; i < n; i++)
				c->buf[done + i] |= tmp[i];
			done += n;
		}
		c->phase = PH_WRITE_CHUNK;
		cmp_submit(c, BLK_OP_WRITE, c->lba + c->pos, c->chunk, &c->iov, 1, c->flags);
		return false;
	}
	case OP_CAW: {
		int64_t d = sbc_iov_cmp(t->iov, t->iovcnt, 0, c->buf, len);
		if (d >= 0) {
			cmp_miscompare(c, (uint64_t)d);
			return false;
		}
		/* equal: write the second half of the data-out */
		iov_to_buf(t->iov, t->iovcnt, len, c->buf, len);
		c->phase = PH_WRITE_CHUNK;
		cmp_submit(c, BLK_OP_WRITE, c->lba, c->chunk, &c->iov, 1, c->flags);
		return false;
	}
	}
	return false;
}

static void cmp_cb(struct blk_io *io, int status)
{
	struct cmp_ctx *c = io->cb_arg;
	if (status) {
		cmp_finish(c, status);
		return;
	}
	switch (c->phase) {
	case PH_WRITE_ALL: /* WRITE AND VERIFY: now read it back */
		free(c->wiov);
		c->wiov = NULL;
		break;
	case PH_READ:
		if (!cmp_after_read(c))
			return;
		break;
	case PH_WRITE_CHUNK:
		c->pos += c->chunk;
		break;
	}
	if (c->pos >= c->nblocks) {
		cmp_finish(c, 0);
		return;
	}
	if (c->t->aborted) { /* stop between chunks */
		cmp_finish(c, -ECANCELED);
		return;
	}
	cmp_read_next(c);
}

static void cmp_start(struct cmp_ctx *c)
{
	if (c->op == OP_WRITE_VERIFY && c->wiov) {
		c->phase = PH_WRITE_ALL;
		cmp_submit(c, BLK_OP_WRITE, c->lba, c->nblocks, c->wiov, c->wiovcnt, c->flags);
		return;
	}
	cmp_read_next(c);
}

static void cmp_granted(struct sbc_range *r)
{
	cmp_start(r->arg);
}

/* Allocate the context and its bounce buffer (chunk bytes, at most the range). */
static struct cmp_ctx *cmp_new(struct scsi_task *t, enum cmp_op op, uint64_t lba, uint32_t nblocks)
{
	struct cmp_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->t = t;
	c->lu = t->lu;
	c->op = op;
	c->lba = lba;
	c->nblocks = nblocks;
	uint64_t want = (uint64_t)nblocks << t->lu->block_shift;
	c->buf_len = (uint32_t)MIN(want, (uint64_t)sbc_chunk_bytes(t->lu->dev));
	c->buf = buf_get(c->buf_len);
	if (!c->buf) {
		free(c);
		return NULL;
	}
	return c;
}

/* Take the range (if any) and run. */
static void cmp_go(struct cmp_ctx *c, bool lock, bool excl)
{
	if (!lock) {
		cmp_start(c);
		return;
	}
	int rc = sbc_range_lock(c->lu, &c->rng, c->lba, c->nblocks, excl, cmp_granted, c);
	if (rc < 0) {
		cmp_finish(c, rc);
		return;
	}
	c->locked = true;
	if (rc == 0)
		cmp_start(c);
}

static bool decode_or_fail(struct scsi_task *t, struct sbc_cdb *cdb)
{
	if (!sbc_decode(t->cdb, cdb)) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return false;
	}
	if (cdb->protect) {
		scsi_task_fail_field_cdb(t, 1, 7);
		return false;
	}
	if (!sbc_check_lba(t, cdb->lba, cdb->nblocks))
		return false;
	if (cdb->nblocks > t->lu->max_xfer_blocks) {
		scsi_task_fail_field_cdb(t, cdb->len_byte, -1);
		return false;
	}
	return true;
}

/* ---- VERIFY 10/12/16 ---- */

void sbc_verify(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	struct sbc_cdb cdb;
	if (!sbc_decode(t->cdb, &cdb)) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return;
	}
	if (cdb.bytchk == 2) { /* reserved */
		scsi_task_fail_field_cdb(t, 1, 2);
		return;
	}
	if (!decode_or_fail(t, &cdb))
		return;
	uint32_t want = 0;
	if (cdb.bytchk == 1)
		want = cdb.nblocks << lu->block_shift;
	else if (cdb.bytchk == 3)
		want = cdb.nblocks ? lu->block_size : 0;
	if (cdb.nblocks == 0) {
		scsi_task_set_residual(t, 0);
		scsi_task_good(t);
		return;
	}
	if (sbc_data_out(t, want) < want) {
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x0e, 0x03, want);
		return;
	}
	struct cmp_ctx *c = cmp_new(t, OP_VERIFY, cdb.lba, cdb.nblocks);
	if (!c) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	c->bytchk = cdb.bytchk;
	c->cdb_bytes = want;
	cmp_go(c, false, false);
}

/* ---- WRITE AND VERIFY 10/12/16 ---- */

void sbc_write_verify(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	struct sbc_cdb cdb;
	if (!sbc_decode(t->cdb, &cdb)) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return;
	}
	if (cdb.bytchk >= 2) { /* 10b reserved; 11b is VERIFY-only */
		scsi_task_fail_field_cdb(t, 1, 2);
		return;
	}
	if (!decode_or_fail(t, &cdb))
		return;
	uint32_t cdb_bytes = cdb.nblocks << lu->block_shift;
	uint32_t got = sbc_data_out(t, cdb_bytes);
	if (got < cdb_bytes && (got & (lu->block_size - 1))) {
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x0e, 0x03, cdb_bytes);
		return;
	}
	uint32_t nb = got >> lu->block_shift;
	if (nb == 0) {
		scsi_task_set_residual(t, cdb_bytes);
		scsi_task_good(t);
		return;
	}
	struct cmp_ctx *c = cmp_new(t, OP_WRITE_VERIFY, cdb.lba, nb);
	int n = c ? sbc_iov_sub_count(t->iov, t->iovcnt, 0, got) : -1;
	if (c && n > 0 && (c->wiov = calloc((size_t)n, sizeof(struct iovec))) != NULL)
		c->wiovcnt = sbc_iov_sub(t->iov, t->iovcnt, 0, got, c->wiov, n);
	if (!c || !c->wiov) {
		if (c)
			cmp_free(c);
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	/* verify means the medium: the write goes through to it */
	c->flags = BLK_F_FUA;
	c->bytchk = cdb.bytchk;
	c->cdb_bytes = cdb_bytes;
	cmp_go(c, true, false);
}

/* ---- ORWRITE(16) ---- */

void sbc_orwrite(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	struct sbc_cdb cdb;
	if (!decode_or_fail(t, &cdb))
		return;
	uint32_t cdb_bytes = cdb.nblocks << lu->block_shift;
	uint32_t got = sbc_data_out(t, cdb_bytes);
	if (got < cdb_bytes && (got & (lu->block_size - 1))) {
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x0e, 0x03, cdb_bytes);
		return;
	}
	uint32_t nb = got >> lu->block_shift;
	if (nb == 0) {
		scsi_task_set_residual(t, cdb_bytes);
		scsi_task_good(t);
		return;
	}
	struct cmp_ctx *c = cmp_new(t, OP_ORWRITE, cdb.lba, nb);
	if (!c) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	c->flags = sbc_write_flags(lu, cdb.fua);
	c->cdb_bytes = cdb_bytes;
	cmp_go(c, true, true);
}

/* ---- COMPARE AND WRITE ---- */

void sbc_compare_and_write(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	const uint8_t *cdb = t->cdb;
	uint64_t lba = get_be64(cdb + 2);
	uint32_t n = cdb[13];
	if (cdb[1] >> 5) {
		scsi_task_fail_field_cdb(t, 1, 7);
		return;
	}
	/* the compare and the write must each be one request */
	if (n > SCSI_MAX_CAW_BLOCKS || n > lu->max_xfer_blocks || n > sbc_dev_max_blocks(lu->dev)) {
		scsi_task_fail_field_cdb(t, 13, -1);
		return;
	}
	if (!sbc_check_lba(t, lba, n))
		return;
	uint32_t want = 2 * (n << lu->block_shift);
	if (n == 0) {
		/* no read, no compare, no write (SBC-3 5.2) - unless the initiator
		 * sends data-out: then the 8-bit field cannot mean what it wants
		 * (e.g. 256 blocks truncated to 0) */
		if (t->exp_xfer_len) {
			scsi_task_fail_field_cdb(t, 13, -1);
			return;
		}
		scsi_task_set_residual(t, 0);
		scsi_task_good(t);
		return;
	}
	/* the buffer is compare data then write data: its size must be exactly 2 * N blocks */
	if (t->exp_xfer_len != want || sbc_data_out(t, want) < want) {
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x0e, 0x03, want);
		return;
	}
	struct cmp_ctx *c = cmp_new(t, OP_CAW, lba, n);
	if (!c) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	c->flags = sbc_write_flags(lu, cdb[1] & 0x08);
	c->cdb_bytes = want;
	cmp_go(c, true, true);
}

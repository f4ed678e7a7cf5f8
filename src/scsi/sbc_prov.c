/* sbc_prov.c - logical block provisioning: WRITE SAME 10/16, UNMAP and GET LBA STATUS. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bufpool.h"
#include "core/util.h"
#include "scsi/sbc_int.h"

bool sbc_lu_can_unmap(const struct scsi_lu *lu)
{
	return lu->thin && lu->dev->info.supports_unmap;
}

/* ---- WRITE SAME ---- */

/*
 * The one block of data-out is replicated into a bounded buffer (at most
 * SBC_CHUNK_BYTES) that is written again and again over the range. With
 * the UNMAP bit (thin LUs only) the range is deallocated whatever the
 * block holds (SBC-4: the device server "should deallocate each LBA");
 * an all-zero block (or NDOB) without UNMAP becomes one WRITE_ZEROES. NUMBER OF LOGICAL BLOCKS 0 (WSNZ = 0) means
 * through the last LBA, bounded by MAXIMUM WRITE SAME LENGTH.
 */
struct ws_ctx {
	struct scsi_task *t;
	struct scsi_lu *lu;
	struct blk_io io;
	struct sbc_range rng;
	bool locked;
	struct iovec iov;
	uint8_t *buf;
	uint32_t buf_len;
	uint64_t lba, end;         /* remaining range [lba, end) */
	enum blk_op op;
	uint32_t flags;
	uint32_t cdb_bytes;
};

static void ws_finish(struct ws_ctx *w, int status)
{
	struct scsi_task *t = w->t;
	uint32_t cdb_bytes = w->cdb_bytes;
	if (w->locked)
		sbc_range_unlock(&w->rng);
	if (w->buf)
		buf_put(w->buf, w->buf_len);
	free(w);
	if (status) {
		scsi_task_fail_blk(t, status);
		return;
	}
	scsi_task_set_residual(t, cdb_bytes);
	scsi_task_good(t);
}

static void ws_next(struct ws_ctx *w);

static void ws_cb(struct blk_io *io, int status)
{
	struct ws_ctx *w = io->cb_arg;
	if (status || w->lba >= w->end) {
		ws_finish(w, status);
		return;
	}
	if (w->t->aborted) {
		ws_finish(w, -ECANCELED);
		return;
	}
	ws_next(w);
}

static void ws_next(struct ws_ctx *w)
{
	uint64_t n = w->end - w->lba;
	if (w->op == BLK_OP_WRITE) {
		n = MIN(n, (uint64_t)(w->buf_len >> w->lu->block_shift));
		w->iov.iov_base = w->buf;
		w->iov.iov_len = (size_t)n << w->lu->block_shift;
	}
	blk_io_prep(&w->io, w->lu->dev, w->op, w->lba, (uint32_t)n, w->op == BLK_OP_WRITE ? &w->iov : NULL,
		    w->op == BLK_OP_WRITE ? 1 : 0, ws_cb, w);
	w->io.flags = w->flags;
	w->lba += n;
	int rc = blk_submit(w->lu->dev, &w->io);
	if (rc)
		ws_finish(w, rc);
}

static void ws_granted(struct sbc_range *r)
{
	ws_next(r->arg);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

void sbc_write_same(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	const uint8_t *cdb = t->cdb;
	bool is16 = cdb[0] == 0x93;
	uint64_t lba = is16 ? get_be64(cdb + 2) : get_be32(cdb + 2);
	uint64_t nb = is16 ? get_be32(cdb + 10) : get_be16(cdb + 7);
	uint8_t len_byte = is16 ? 10 : 7;
	bool anchor = cdb[1] & 0x10, unmap = cdb[1] & 0x08, ndob = is16 && (cdb[1] & 0x01);

	if (cdb[1] >> 5) {             /* WRPROTECT: no protection information */
		scsi_task_fail_field_cdb(t, 1, 7);
		return;
	}
	if (cdb[1] & 0x06) {           /* PBDATA / LBDATA (obsolete) */
		scsi_task_fail_field_cdb(t, 1, (cdb[1] & 0x04) ? 2 : 1);
		return;
	}
	if (!is16 && (cdb[1] & 0x01)) { /* obsolete RELADR */
		scsi_task_fail_field_cdb(t, 1, 0);
		return;
	}
	if (anchor) {                   /* ANC_SUP is zero (and ANCHOR without UNMAP is invalid anyway) */
		scsi_task_fail_field_cdb(t, 1, 4);
		return;
	}
	if (unmap && !lu->thin) {       /* LBPWS/LBPWS10 are zero on a fully provisioned LU */
		scsi_task_fail_field_cdb(t, 1, 3);
		return;
	}
	uint64_t cap = scsi_lu_num_blocks(lu);
	if (lba > cap || (nb == 0 && lba == cap)) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x21, 0x00);
		return;
	}
	if (nb == 0) {
		if (SCSI_WSNZ) {        /* VPD B0h WSNZ: zero blocks is refused */
			scsi_task_fail_field_cdb(t, len_byte, -1);
			return;
		}
		/* SBC-3 5.42: from LBA through the last logical block on the medium,
		 * refused below when that is more than MAXIMUM WRITE SAME LENGTH */
		nb = cap - lba;
	}
	if (nb > SCSI_MAX_WS_BLOCKS) {
		scsi_task_fail_field_cdb(t, len_byte, -1);
		return;
	}
	if (!sbc_check_lba(t, lba, nb))
		return;

	uint32_t want = ndob ? 0 : lu->block_size;
	if (t->data_out_len != want || t->exp_xfer_len != want) {
		/* exactly one logical block of data-out (none with NDOB) */
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x0e, 0x03, want);
		return;
	}
	struct ws_ctx *w = calloc(1, sizeof(*w));
	if (!w) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	w->t = t;
	w->lu = lu;
	w->lba = lba;
	w->end = lba + nb;
	w->cdb_bytes = want;
	w->flags = sbc_write_flags(lu, false);

	bool zero = ndob;
	uint8_t *block = NULL;
	if (!ndob) {
		block = buf_get(lu->block_size);
		if (!block) {
			free(w);
			scsi_task_fail_blk(t, -ENOMEM);
			return;
		}
		iov_to_buf(t->iov, t->iovcnt, 0, block, lu->block_size);
		zero = all_zero(block, lu->block_size);
	}
	if (unmap && lu->dev->info.supports_unmap) {
		/* SBC-4 WRITE SAME, UNMAP 1 / ANCHOR 0: a thin LU "should deallocate
		 * each LBA", whatever the block holds; reads then give what LBPRZ says */
		w->op = BLK_OP_UNMAP;
		w->flags = 0;
	} else if (zero) {
		w->op = BLK_OP_WRITE_ZEROES; /* written, stays mapped */
	} else {
		w->op = BLK_OP_WRITE;
		uint64_t span = MIN(nb << lu->block_shift, (uint64_t)sbc_chunk_bytes(lu->dev));
		w->buf_len = (uint32_t)span;
		w->buf = buf_get(w->buf_len);
		if (w->buf)
			for (uint32_t off = 0; off < w->buf_len; off += lu->block_size)
				memcpy(w->buf + off, block, lu->block_size);
	}
	if (block)
		buf_put(block, lu->block_size);
	if (w->op == BLK_OP_WRITE && !w->buf) {
		ws_finish(w, -ENOMEM);
		return;
	}
	int rc = sbc_range_lock(lu, &w->rng, lba, nb, false, ws_granted, w);
	if (rc < 0) {
		ws_finish(w, rc);
		return;
	}
	w->locked = true;
	if (rc == 0)
		ws_next(w);
}

/* ---- UNMAP ---- */

struct unmap_desc {
	uint64_t lba;
	uint32_t nblocks;
};

struct unmap_ctx {
	struct scsi_task *t;
	struct scsi_lu *lu;
	struct blk_io io;
	struct sbc_range rng;
	bool locked;
	unsigned n, i;
	uint32_t cdb_bytes;
	struct unmap_desc d[];
};

static void unmap_finish(struct unmap_ctx *u, int status)
{
	struct scsi_task *t = u->t;
	uint32_t cdb_bytes = u->cdb_bytes;
	free(u);
	if (status) {
		scsi_task_fail_blk(t, status);
		return;
	}
	scsi_task_set_residual(t, cdb_bytes);
	scsi_task_good(t);
}

static void unmap_next(struct unmap_ctx *u);

static void unmap_cb(struct blk_io *io, int status)
{
	struct unmap_ctx *u = io->cb_arg;
	sbc_range_unlock(&u->rng);
	u->locked = false;
	if (status) {
		unmap_finish(u, status);
		return;
	}
	u->i++;
	unmap_next(u);
}

static void unmap_submit(struct unmap_ctx *u)
{
	const struct unmap_desc *d = &u->d[u->i];
	struct blk_dev *dev = u->lu->dev;
	/* a device that cannot deallocate still gives the zeroes LBPRZ promises */
	enum blk_op op = dev->info.supports_unmap ? BLK_OP_UNMAP : BLK_OP_WRITE_ZEROES;
	blk_io_prep(&u->io, dev, op, d->lba, d->nblocks, NULL, 0, unmap_cb, u);
	u->io.flags = dev->info.supports_unmap ? BLK_F_UNMAP : 0;
	int rc = blk_submit(dev, &u->io);
	if (rc) {
		sbc_range_unlock(&u->rng);
		u->locked = false;
		unmap_finish(u, rc);
	}
}

static void unmap_granted(struct sbc_range *r)
{
	unmap_submit(r->arg);
}

static void unmap_next(struct unmap_ctx *u)
{
	while (u->i < u->n && u->d[u->i].nblocks == 0)
		u->i++;
	if (u->i >= u->n) {
		unmap_finish(u, 0);
		return;
	}
	if (u->t->aborted) {
		unmap_finish(u, -ECANCELED);
		return;
	}
	const struct unmap_desc *d = &u->d[u->i];
	int rc = sbc_range_lock(u->lu, &u->rng, d->lba, d->nblocks, false, unmap_granted, u);
	if (rc < 0) {
		unmap_finish(u, rc);
		return;
	}
	u->locked = true;
	if (rc == 0)
		unmap_submit(u);
}

void sbc_unmap(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	const uint8_t *cdb = t->cdb;
	uint32_t plen = get_be16(cdb + 7);

	if (!lu->thin) { /* LBPU is zero: the LU does not implement UNMAP */
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return;
	}
	if (cdb[1] & 0x01) { /* ANCHOR: ANC_SUP is zero */
		scsi_task_fail_field_cdb(t, 1, 0);
		return;
	}
	if (plen == 0) {
		scsi_task_set_residual(t, 0);
		scsi_task_good(t);
		return;
	}
	uint32_t got = sbc_data_out(t, plen);
	if (plen < 8 || got < 8) {
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x1a, 0x00, plen); /* PARAMETER LIST LENGTH ERROR */
		return;
	}
	uint8_t hdr[8];
	iov_to_buf(t->iov, t->iovcnt, 0, hdr, sizeof(hdr));
	uint32_t bd_len = get_be16(hdr + 2);
	/* a truncated last descriptor is ignored (SBC-3 5.28.2) */
	uint32_t avail = MIN(bd_len, got - 8);
	unsigned n = avail / 16;
	if (n > SCSI_MAX_UNMAP_DESC) {
		scsi_task_fail_field_param(t, 2, -1);
		return;
	}
	struct unmap_ctx *u = calloc(1, sizeof(*u) + n * sizeof(struct unmap_desc));
	if (!u) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	u->t = t;
	u->lu = lu;
	u->n = n;
	u->cdb_bytes = plen;
	uint64_t cap = scsi_lu_num_blocks(lu);
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++) {
		uint8_t d[16];
		iov_to_buf(t->iov, t->iovcnt, 8 + (size_t)i * 16, d, sizeof(d));
		u->d[i].lba = get_be64(d);
		u->d[i].nblocks = get_be32(d + 8);
		if (u->d[i].lba > cap || u->d[i].nblocks > cap - u->d[i].lba) {
			free(u);
			scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x21, 0x00);
			return;
		}
		total += u->d[i].nblocks;
		if (total > SCSI_MAX_UNMAP_BLOCKS) { /* MAXIMUM UNMAP LBA COUNT */
			free(u);
			scsi_task_fail_field_param(t, (uint16_t)(8 + i * 16 + 8), -1);
			return;
		}
	}
	unmap_next(u);
}

/* ---- GET LBA STATUS ---- */

#define GLS_MAX_DESC 64u
/* Bound on backend queries per command: the reactor never scans a huge LU at once. */
#define GLS_MAX_CALLS 4096u

void sbc_get_lba_status(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	uint64_t start = get_be64(t->cdb + 2);
	uint32_t alloc = get_be32(t->cdb + 10);
	uint64_t cap = scsi_lu_num_blocks(lu);
	if (start >= cap) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x21, 0x00);
		return;
	}
	if (alloc == 0) {
		scsi_task_data_in(t, NULL, 0, 0);
		scsi_task_good(t);
		return;
	}
	unsigned max_desc = alloc > 8 ? MIN(GLS_MAX_DESC, (alloc - 8 + 15) / 16) : 1;
	if (max_desc == 0)
		max_desc = 1;
	uint8_t buf[8 + GLS_MAX_DESC * 16];
	memset(buf, 0, sizeof(buf));
	unsigned nd = 0, calls = 0;
	uint64_t lba = start;
	const struct blk_ops *ops = lu->dev->ops;
	bool ask = lu->thin && ops->get_lba_status;
	while (nd < max_desc && lba < cap) {
		uint64_t same = cap - lba;
		bool mapped = true;
		if (ask) {
			/* merge the backend's runs (it may answer in windows) while the status stays */
			same = 0;
			while (lba + same < cap && same < UINT32_MAX && calls < GLS_MAX_CALLS) {
				uint64_t n = 0;
				bool m = true;
				int rc = ops->get_lba_status(lu->dev, lba + same, &n, &m);
				calls++;
				if (rc) {
					scsi_task_fail_blk(t, rc);
					return;
				}
				if (same && m != mapped)
					break;
				mapped = m;
				same += (n == 0 || n > cap - lba - same) ? cap - lba - same : n;
			}
			if (same == 0)
				break;
		}
		same = MIN(same, (uint64_t)UINT32_MAX);
		uint8_t *d = buf + 8 + nd * 16;
		put_be64(d, lba);
		put_be32(d + 8, (uint32_t)same);
		d[12] = mapped ? 0x0 : 0x1; /* PROVISIONING STATUS: mapped / deallocated */
		nd++;
		lba += same;
	}
	put_be32(buf, 4 + nd * 16);  /* PARAMETER DATA LENGTH */
	scsi_task_data_in(t, buf, 8 + nd * 16, alloc);
	scsi_task_good(t);
}

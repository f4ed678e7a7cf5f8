/* sbc_rw.c - READ/WRITE 6/10/12/16, WRITE ATOMIC(16), PRE-FETCH and SYNCHRONIZE CACHE: CDB checks, residuals, zero-copy blk I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"
#include "scsi/sbc_int.h"

/*
 * Residuals (RFC 7143 11.4.5.1, checked by libiscsi's iSCSIResiduals):
 *   - the CDB asks for N bytes, the initiator's expected length is E.
 *   - READ: min(N, E) bytes are sent; E < N is an overflow of N - E,
 *     E > N an underflow of E - N. A partial last block goes through a
 *     bounce buffer, whole blocks straight into the transport's iovec.
 *   - WRITE: only whole blocks that actually arrived are written (never
 *     more than the CDB asked). A data-out that ends inside a block cannot
 *     be written: ILLEGAL REQUEST, INVALID FIELD IN COMMAND INFORMATION
 *     UNIT, residual still reported.
 */

/* Task scratch for the plain read/write path (lives in t->priv). */
struct rw_ctx {
	struct blk_io io;
	struct sbc_range rng;
	struct iovec *iov;         /* what the I/O uses: inl, an allocated array or t->iov */
	struct iovec inl[2];
	uint8_t *bounce;           /* partial-block read */
	uint32_t bounce_len;
	uint32_t cdb_bytes;        /* what the CDB asked to move */
	uint32_t xfer_bytes;       /* what is really moved */
	bool iov_alloc;
	bool locked;
};
_Static_assert(sizeof(struct rw_ctx) <= SCSI_TASK_PRIV_WORDS * sizeof(uint64_t), "rw_ctx must fit the task scratch");

static struct rw_ctx *rw_ctx(struct scsi_task *t)
{
	return (struct rw_ctx *)(void *)t->priv.u64;
}

/* Point c->iov at the first len bytes of the task's buffer. Returns its count or -ENOMEM. */
static int rw_prefix(struct scsi_task *t, struct rw_ctx *c, size_t len)
{
	int n = sbc_iov_sub_count(t->iov, t->iovcnt, 0, len);
	if (n < 0)
		return -EINVAL;
	c->iov_alloc = false;
	size_t whole = 0;
	for (int i = 0; i < n; i++)
		whole += t->iov[i].iov_len;
	if (whole == len) { /* the prefix is made of whole entries: use them as they are */
		c->iov = t->iov;
		return n;
	}
	if ((size_t)n <= ARRAY_SIZE(c->inl)) {
		c->iov = c->inl;
	} else {
		c->iov = malloc(sizeof(struct iovec) * (size_t)n);
		if (!c->iov)
			return -ENOMEM;
		c->iov_alloc = true;
	}
	return sbc_iov_sub(t->iov, t->iovcnt, 0, len, c->iov, n);
}

static void rw_release(struct rw_ctx *c)
{
	if (c->iov_alloc)
		free(c->iov);
	c->iov_alloc = false;
	if (c->bounce)
		buf_put(c->bounce, c->bounce_len);
	c->bounce = NULL;
	if (c->locked)
		sbc_range_unlock(&c->rng);
	c->locked = false;
}

/* Common CDB checks of the read/write family. Returns false after failing t. */
static bool rw_check(struct scsi_task *t, const struct sbc_cdb *c)
{
	struct scsi_lu *lu = t->lu;
	if (c->protect) { /* no protection information on this LU */
		scsi_task_fail_field_cdb(t, 1, 7);
		return false;
	}
	if (!sbc_check_lba(t, c->lba, c->nblocks))
		return false;
	if (c->nblocks > lu->max_xfer_blocks) {
		scsi_task_fail_field_cdb(t, c->len_byte, -1);
		return false;
	}
	return true;
}

/* ---- READ ---- */

static void read_done(struct blk_io *io, int status)
{
	struct scsi_task *t = io->cb_arg;
	struct rw_ctx *c = rw_ctx(t);
	if (status == 0 && c->bounce)
		iov_from_buf(t->iov, t->iovcnt, 0, c->bounce, c->xfer_bytes);
	rw_release(c);
	if (status) {
		scsi_task_fail_blk(t, status);
		return;
	}
	t->data_in_len = c->xfer_bytes;
	scsi_task_set_residual(t, c->cdb_bytes);
	scsi_task_good(t);
}

void sbc_read(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	struct sbc_cdb cdb;
	if (!sbc_decode(t->cdb, &cdb)) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return;
	}
	if (!rw_check(t, &cdb))
		return;
	struct rw_ctx *c = rw_ctx(t);
	memset(c, 0, sizeof(*c));
	c->cdb_bytes = cdb.nblocks << lu->block_shift;
	c->xfer_bytes = MIN(c->cdb_bytes, sbc_data_in_cap(t));
	if (c->xfer_bytes > iov_length(t->iov, t->iovcnt))
		c->xfer_bytes = (uint32_t)iov_length(t->iov, t->iovcnt);
	if (c->xfer_bytes == 0) {
		t->data_in_len = 0;
		scsi_task_set_residual(t, c->cdb_bytes);
		scsi_task_good(t);
		return;
	}
	uint32_t nb = (c->xfer_bytes + lu->block_size - 1) >> lu->block_shift;
	int iovcnt;
	if ((c->xfer_bytes & (lu->block_size - 1)) == 0) {
		iovcnt = rw_prefix(t, c, c->xfer_bytes);
	} else {
		c->bounce_len = nb << lu->block_shift;
		c->bounce = buf_get(c->bounce_len);
		c->inl[0].iov_base = c->bounce;
		c->inl[0].iov_len = c->bounce_len;
		c->iov = c->inl;
		iovcnt = c->bounce ? 1 : -ENOMEM;
	}
	if (iovcnt < 0) {
		rw_release(c);
		scsi_task_fail_blk(t, iovcnt == -ENOMEM ? -ENOMEM : -EIO);
		return;
	}
	blk_io_prep(&c->io, lu->dev, BLK_OP_READ, cdb.lba, nb, c->iov, iovcnt, read_done, t);
	int rc = sbc_submit_split(lu->dev, &c->io);
	if (rc) {
		rw_release(c);
		scsi_task_fail_blk(t, rc);
	}
}

/* ---- WRITE (and WRITE ATOMIC) ---- */

static void write_done(struct blk_io *io, int status)
{
	struct scsi_task *t = io->cb_arg;
	struct rw_ctx *c = rw_ctx(t);
	rw_release(c);
	if (status) {
		scsi_task_fail_blk(t, status);
		return;
	}
	scsi_task_set_residual(t, c->cdb_bytes);
	scsi_task_good(t);
}

static void write_submit(struct scsi_task *t)
{
	struct rw_ctx *c = rw_ctx(t);
	int rc = sbc_submit_split(t->lu->dev, &c->io);
	if (rc) {
		rw_release(c);
		scsi_task_fail_blk(t, rc);
	}
}

static void write_granted(struct sbc_range *r)
{
	write_submit(r->arg);
}

/* Write the whole blocks of data-out that arrived to [lba, ...), under a range lock. */
static void write_start(struct scsi_task *t, uint64_t lba, uint32_t nblocks, bool fua, bool excl)
{
	struct scsi_lu *lu = t->lu;
	struct rw_ctx *c = rw_ctx(t);
	memset(c, 0, sizeof(*c));
	c->cdb_bytes = nblocks << lu->block_shift;
	uint32_t got = sbc_data_out(t, c->cdb_bytes);
	if (got < c->cdb_bytes && (got & (lu->block_size - 1))) {
		/* the data-out ends inside a block */
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x0e, 0x03, c->cdb_bytes);
		return;
	}
	c->xfer_bytes = got;
	uint32_t nb = got >> lu->block_shift;
	if (nb == 0) {
		scsi_task_set_residual(t, c->cdb_bytes);
		scsi_task_good(t);
		return;
	}
	int iovcnt = rw_prefix(t, c, got);
	if (iovcnt < 0) {
		rw_release(c);
		scsi_task_fail_blk(t, iovcnt == -ENOMEM ? -ENOMEM : -EIO);
		return;
	}
	blk_io_prep(&c->io, lu->dev, BLK_OP_WRITE, lba, nb, c->iov, iovcnt, write_done, t);
	c->io.flags = sbc_write_flags(lu, fua);
	int rc = sbc_range_lock(lu, &c->rng, lba, nb, excl, write_granted, t);
	if (rc < 0) {
		rw_release(c);
		scsi_task_fail_blk(t, rc);
		return;
	}
	c->locked = true;
	if (rc == 0)
		write_submit(t);
}

void sbc_write(struct scsi_task *t)
{
	struct sbc_cdb cdb;
	if (!sbc_decode(t->cdb, &cdb)) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x20, 0x00);
		return;
	}
	if (!rw_check(t, &cdb))
		return;
	write_start(t, cdb.lba, cdb.nblocks, cdb.fua, false);
}

void sbc_write_atomic16(struct scsi_task *t)
{
	const uint8_t *cdb = t->cdb;
	uint64_t lba = get_be64(cdb + 2);
	uint16_t boundary = get_be16(cdb + 10);
	uint32_t nblocks = get_be16(cdb + 12);
	if (cdb[1] >> 5) {
		scsi_task_fail_field_cdb(t, 1, 7);
		return;
	}
	if (boundary != 0) { /* MAXIMUM ATOMIC BOUNDARY SIZE is zero: no boundaries */
		scsi_task_fail_field_cdb(t, 10, -1);
		return;
	}
	/* the range is checked first: a request past the end is LBA OUT OF RANGE whatever its size */
	if (!sbc_check_lba(t, lba, nblocks))
		return;
	if (nblocks > SCSI_MAX_ATOMIC_BLOCKS || nblocks > t->lu->max_xfer_blocks ||
	    nblocks % SCSI_ATOMIC_GRANULARITY) {
		scsi_task_fail_field_cdb(t, 12, -1);
		return;
	}
	if (lba % SCSI_ATOMIC_ALIGNMENT) {
		scsi_task_fail_field_cdb(t, 2, -1);
		return;
	}
	/* A partial atomic write would break atomicity: the whole data-out must be there. */
	uint32_t want = nblocks << t->lu->block_shift;
	if (sbc_data_out(t, want) < want) {
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x0e, 0x03, want);
		return;
	}
	write_start(t, lba, nblocks, cdb[1] & 0x08, true);
}

/* ---- PRE-FETCH ---- */

/* How much a PRE-FETCH may pull in: the "cache" it reports against. */
#define SBC_PREFETCH_CACHE_BYTES (16u << 20)

struct prefetch_ctx {
	struct scsi_task *t;
	struct blk_io io;
	struct iovec iov;
	uint8_t *buf;
	uint64_t lba, end;
	bool fits;
};

static void prefetch_finish(struct prefetch_ctx *p, int status)
{
	struct scsi_task *t = p->t;
	buf_put(p->buf, SBC_CHUNK_BYTES);
	bool fits = p->fits;
	free(p);
	if (status) {
		scsi_task_fail_blk(t, status);
		return;
	}
	t->status = fits ? SCSI_STATUS_CONDITION_MET : SCSI_STATUS_GOOD;
	t->sense_len = 0;
	t->data_in_len = 0;
	scsi_task_complete(t);
}

static void prefetch_next(struct prefetch_ctx *p);

static void prefetch_done(struct blk_io *io, int status)
{
	struct prefetch_ctx *p = io->cb_arg;
	if (status || p->lba >= p->end || p->t->aborted) {
		prefetch_finish(p, status);
		return;
	}
	prefetch_next(p);
}

static void prefetch_next(struct prefetch_ctx *p)
{
	struct blk_dev *dev = p->io.dev;
	uint32_t bs = dev->info.block_size;
	uint64_t n = MIN(p->end - p->lba, sbc_chunk_bytes(dev) / bs);
	p->iov.iov_base = p->buf;
	p->iov.iov_len = n * bs;
	blk_io_prep(&p->io, dev, BLK_OP_READ, p->lba, (uint32_t)n, &p->iov, 1, prefetch_done, p);
	p->lba += n;
	int rc = blk_submit(dev, &p->io);
	if (rc)
		prefetch_finish(p, rc);
}

void sbc_prefetch(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	struct sbc_cdb cdb;
	sbc_decode(t->cdb, &cdb);
	bool immed = t->cdb[1] & 0x02;
	uint64_t cap = scsi_lu_num_blocks(lu);
	if (cdb.lba > cap) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x21, 0x00);
		return;
	}
	/* PREFETCH LENGTH 0: through the last logical block */
	uint64_t n = cdb.nblocks ? cdb.nblocks : cap - cdb.lba;
	if (!sbc_check_lba(t, cdb.lba, n))
		return;
	bool fits = (n << lu->block_shift) <= SBC_PREFETCH_CACHE_BYTES;
	uint64_t load = MIN(n, (uint64_t)(SBC_PREFETCH_CACHE_BYTES >> lu->block_shift));
	if (load == 0) {
		t->status = SCSI_STATUS_CONDITION_MET;
		t->sense_len = 0;
		scsi_task_complete(t);
		return;
	}
	if (immed) {
		/* IMMED: the answer is whether the range fits. There is no cache
		 * owned by this layer to fill after the command ended, and a
		 * background read could outlive the LU, so nothing is read. */
		t->status = fits ? SCSI_STATUS_CONDITION_MET : SCSI_STATUS_GOOD;
		t->sense_len = 0;
		scsi_task_complete(t);
		return;
	}
	struct prefetch_ctx *p = calloc(1, sizeof(*p));
	uint8_t *buf = p ? buf_get(SBC_CHUNK_BYTES) : NULL;
	if (!buf) {
		free(p);
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	p->t = t;
	p->buf = buf;
	p->lba = cdb.lba;
	p->end = cdb.lba + load;
	p->fits = fits;
	p->io.dev = lu->dev;
	prefetch_next(p);
}

/* ---- SYNCHRONIZE CACHE ---- */

/* In t->priv, or allocated with IMMED (the flush outlives the task). */
struct sync_ctx {
	struct scsi_task *t;       /* NULL when IMMED already answered */
	struct sbc_lu_state *st;   /* IMMED: counted in st->bg_ops */
	struct blk_io io;
	char name[64];
};
_Static_assert(sizeof(struct sync_ctx) <= SCSI_TASK_PRIV_WORDS * sizeof(uint64_t), "sync_ctx must fit the task scratch");

static void sync_done(struct blk_io *io, int status)
{
	struct sync_ctx *s = io->cb_arg;
	struct scsi_task *t = s->t;
	if (!t && status)
		log_err(LOGC_SCSI, s->name, "SYNCHRONIZE CACHE (IMMED) failed: %s", blk_strerror(status));
	if (s->st) {
		atomic_fetch_sub(&s->st->bg_ops, 1);
		free(s);
	}
	if (!t)
		return;
	if (status)
		scsi_task_fail_blk(t, status);
	else
		scsi_task_good(t);
}

void sbc_sync_cache(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	struct sbc_cdb cdb;
	sbc_decode(t->cdb, &cdb);
	bool immed = t->cdb[1] & 0x02;
	uint64_t cap = scsi_lu_num_blocks(lu);
	uint64_t n = cdb.nblocks;
	if (cdb.lba > cap || n > cap - cdb.lba) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x21, 0x00);
		return;
	}
	struct sync_ctx *s = NULL;
	if (immed) {
		struct sbc_lu_state *st = sbc_state(lu);
		s = st ? calloc(1, sizeof(*s)) : NULL;
		if (!s) {
			scsi_task_fail_blk(t, -ENOMEM);
			return;
		}
		s->st = st;
		snprintf(s->name, sizeof(s->name), "%s", lu->name);
		/* counted first, then the quiesce flag checked (scsi_target_quiesce sets
		 * the flag, then waits for the count): one of the two sees the other */
		atomic_fetch_add(&st->bg_ops, 1);
		if (atomic_load(&lu->bg_stop)) {
			/* quiesced: nothing may outlive its task, the status waits for the flush */
			atomic_fetch_sub(&st->bg_ops, 1);
			free(s);
			s = NULL;
			immed = false;
		}
	}
	if (!s) {
		s = (struct sync_ctx *)(void *)t->priv.u64;
		memset(s, 0, sizeof(*s));
	}
	s->t = t;
	/* The whole device is flushed: a range flush is a subset of it. */
	blk_io_prep(&s->io, lu->dev, BLK_OP_FLUSH, 0, 0, NULL, 0, sync_done, s);
	int rc = blk_submit(lu->dev, &s->io);
	if (rc) {
		if (s->st) {
			atomic_fetch_sub(&s->st->bg_ops, 1);
			free(s);
		}
		scsi_task_fail_blk(t, rc);
		return;
	}
	if (immed) {
		s->t = NULL;
		scsi_task_good(t);
	}
}

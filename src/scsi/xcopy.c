/* xcopy.c - third-party copy (SPC-4 LID1): EXTENDED COPY block->block, RECEIVE COPY RESULTS, VPD page 8Fh. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"
#include "scsi/sbc_int.h"

/*
 * Supported: identification CSCD descriptors (E4h) naming a block LU of
 * the same target by its NAA designator (the one VPD 83h reports), and
 * block->block segment descriptors (02h). The copy manager validates the
 * whole parameter list first (nothing is copied when a descriptor is
 * bad), then copies segment by segment in SBC_CHUNK_BYTES pieces: read
 * from the source device, write to the destination under a shared range
 * lock. Results are kept per (initiator port, list identifier) on the LU
 * that received the command, for RECEIVE COPY RESULTS.
 */

#define XC_MAX_CSCD      8u
#define XC_MAX_SEGS      64u
#define XC_MAX_DESC_LEN  2048u              /* CSCD + segment descriptor lists */
#define XC_MAX_SEG_BYTES (256u << 20)       /* a 02h segment moves at most 65535 blocks */
#define XC_MAX_ACTIVE    16u                /* TOTAL CONCURRENT COPIES per LU */
#define XC_MAX_RECORDS   64u                /* held results per LU */
#define XC_PORT_MAX      232

enum { XC_IN_PROGRESS = 0x00, XC_DONE_OK = 0x01, XC_DONE_ERR = 0x02 };

struct xcopy_rec {
	struct xcopy_rec *next;
	char port[XC_PORT_MAX];
	uint8_t list_id;
	uint8_t status;
	bool hold;                     /* LIST ID USAGE 00b: keep after completion */
	uint16_t segs_done;
	uint64_t bytes;
	uint8_t sense_len;
	uint8_t sense[SCSI_SENSE_MAX];
};

struct xc_seg {
	struct scsi_lu *src, *dst;
	uint64_t src_lba, dst_lba;
	uint64_t bytes;
};

struct xc_ctx {
	struct scsi_task *t;
	struct scsi_lu *lu;
	struct xcopy_rec *rec;         /* NULL for LIST ID USAGE 11b */
	struct blk_io io;
	struct sbc_range rng;
	bool locked;
	struct iovec iov;
	uint8_t *buf;
	uint32_t buf_len;
	unsigned nseg, seg;
	uint64_t off;                  /* bytes of the current segment done */
	uint32_t chunk;                /* bytes of the chunk in flight */
	bool writing;
	uint32_t cdb_bytes;
	struct xc_seg segs[];
};

/* ---- results ---- */

void xcopy_results_free(struct sbc_lu_state *st)
{
	while (st->copies) {
		struct xcopy_rec *r = st->copies;
		st->copies = r->next;
		free(r);
	}
	st->n_copies = 0;
}

/* Under st->lock. */
static struct xcopy_rec *rec_find(struct sbc_lu_state *st, const char *port, uint8_t list_id)
{
	for (struct xcopy_rec *r = st->copies; r; r = r->next)
		if (r->list_id == list_id && strcmp(r->port, port) == 0)
			return r;
	return NULL;
}

/* Under st->lock. */
static void rec_unlink(struct sbc_lu_state *st, struct xcopy_rec *r)
{
	for (struct xcopy_rec **pp = &st->copies; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			st->n_copies--;
			return;
		}
	}
}

static const char *task_port(const struct scsi_task *t)
{
	return t->nexus && t->nexus->initiator_port ? t->nexus->initiator_port : "";
}

/* Register a new copy; 0, -EBUSY (same list id in progress), -ENOMEM. */
static int rec_start(struct sbc_lu_state *st, const struct scsi_task *t, uint8_t list_id, bool hold,
		     struct xcopy_rec **out)
{
	struct xcopy_rec *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	snprintf(n->port, sizeof(n->port), "%s", task_port(t));
	n->list_id = list_id;
	n->hold = hold;
	n->status = XC_IN_PROGRESS;
	pthread_mutex_lock(&st->lock);
	struct xcopy_rec *old = rec_find(st, n->port, list_id);
	if (old && old->status == XC_IN_PROGRESS) {
		pthread_mutex_unlock(&st->lock);
		free(n);
		return -EBUSY;
	}
	if (old) { /* a finished copy with this list id: its results are replaced */
		rec_unlink(st, old);
		free(old);
	}
	if (st->n_copies >= XC_MAX_RECORDS) { /* drop the oldest finished result */
		struct xcopy_rec *victim = NULL;
		for (struct xcopy_rec *r = st->copies; r; r = r->next)
			if (r->status != XC_IN_PROGRESS)
				victim = r;
		if (victim) {
			rec_unlink(st, victim);
			free(victim);
		}
	}
	n->next = st->copies;
	st->copies = n;
	st->n_copies++;
	pthread_mutex_unlock(&st->lock);
	*out = n;
	return 0;
}

/* ---- copy engine ---- */

static void xc_finish(struct xc_ctx *x, int status, bool reading)
{
	struct scsi_task *t = x->t;
	struct sbc_lu_state *st = x->lu->sbc_priv;
	if (x->locked)
		sbc_range_unlock(&x->rng);
	if (x->buf)
		buf_put(x->buf, x->buf_len);
	if (status) {
		/* COPY ABORTED; COMMAND-SPECIFIC INFORMATION = segment number */
		struct scsi_sense_info si = { .key = SK_COPY_ABORTED, .cmd_info_valid = true, .cmd_info = x->seg };
		if (status == -EIO) {
			si.asc = reading ? 0x11 : 0x0c; /* UNRECOVERED READ ERROR / WRITE ERROR */
		} else if (status == -ECANCELED) {
			si.key = SK_ABORTED_COMMAND;
			si.cmd_info_valid = false;
		} else {
			si.asc = 0x0d;                  /* COPY TARGET DEVICE NOT REACHABLE */
			si.ascq = 0x02;
		}
		scsi_sense_build(t, &si);
	} else {
		scsi_task_set_residual(t, x->cdb_bytes);
		t->status = SCSI_STATUS_GOOD;
		t->sense_len = 0;
	}
	if (x->rec) {
		pthread_mutex_lock(&st->lock);
		x->rec->status = status ? XC_DONE_ERR : XC_DONE_OK;
		x->rec->sense_len = t->sense_len;
		memcpy(x->rec->sense, t->sense, t->sense_len);
		if (!x->rec->hold) {
			rec_unlink(st, x->rec);
			free(x->rec);
		}
		pthread_mutex_unlock(&st->lock);
	}
	atomic_fetch_sub(&st->copies_active, 1);
	free(x);
	scsi_task_complete(t);
}

static void xc_progress(struct xc_ctx *x, uint64_t bytes, bool seg_done)
{
	if (!x->rec)
		return;
	struct sbc_lu_state *st = x->lu->sbc_priv;
	pthread_mutex_lock(&st->lock);
	x->rec->bytes += bytes;
	if (seg_done)
		x->rec->segs_done++;
	pthread_mutex_unlock(&st->lock);
}

static void xc_next(struct xc_ctx *x);

static void xc_write_granted(struct sbc_range *r);

static void xc_cb(struct blk_io *io, int status)
{
	struct xc_ctx *x = io->cb_arg;
	if (status) {
		xc_finish(x, status, !x->writing);
		return;
	}
	struct xc_seg *s = &x->segs[x->seg];
	if (!x->writing) {
		/* the chunk is read: write it to the destination */
		x->writing = true;
		int rc = sbc_range_lock(s->dst, &x->rng, s->dst_lba + (x->off >> s->dst->block_shift),
					x->chunk >> s->dst->block_shift, false, xc_write_granted, x);
		if (rc < 0) {
			xc_finish(x, rc, false);
			return;
		}
		x->locked = true;
		if (rc == 0)
			xc_write_granted(&x->rng);
		return;
	}
	sbc_range_unlock(&x->rng);
	x->locked = false;
	x->writing = false;
	x->off += x->chunk;
	bool seg_done = x->off >= s->bytes;
	xc_progress(x, x->chunk, seg_done);
	if (seg_done) {
		x->seg++;
		x->off = 0;
	}
	if (x->t->aborted) {
		xc_finish(x, -ECANCELED, false);
		return;
	}
	xc_next(x);
}

static void xc_write_granted(struct sbc_range *r)
{
	struct xc_ctx *x = r->arg;
	struct xc_seg *s = &x->segs[x->seg];
	uint64_t lba = s->dst_lba + (x->off >> s->dst->block_shift);
	blk_io_prep(&x->io, s->dst->dev, BLK_OP_WRITE, lba, x->chunk >> s->dst->block_shift, &x->iov, 1, xc_cb, x);
	x->io.flags = sbc_write_flags(s->dst, false);
	int rc = blk_submit(s->dst->dev, &x->io);
	if (rc)
		xc_finish(x, rc, false);
}

static void xc_next(struct xc_ctx *x)
{
	while (x->seg < x->nseg && x->segs[x->seg].bytes == 0) {
		xc_progress(x, 0, true);
		x->seg++;
	}
	if (x->seg >= x->nseg) {
		xc_finish(x, 0, false);
		return;
	}
	struct xc_seg *s = &x->segs[x->seg];
	/* at most one request on either device, whole blocks of both */
	uint32_t unit = MAX(s->src->block_size, s->dst->block_size);
	uint32_t lim = MIN(x->buf_len, MIN(sbc_chunk_bytes(s->src->dev), sbc_chunk_bytes(s->dst->dev)));
	lim = MAX(lim / unit * unit, unit);
	x->chunk = (uint32_t)MIN(s->bytes - x->off, (uint64_t)lim);
	x->iov.iov_base = x->buf;
	x->iov.iov_len = x->chunk;
	uint64_t lba = s->src_lba + (x->off >> s->src->block_shift);
	blk_io_prep(&x->io, s->src->dev, BLK_OP_READ, lba, x->chunk >> s->src->block_shift, &x->iov, 1, xc_cb, x);
	int rc = blk_submit(s->src->dev, &x->io);
	if (rc)
		xc_finish(x, rc, true);
}

/* ---- parameter list ---- */

/* The LU of lu's target whose NAA designator is desig (len bytes), or NULL. */
static struct scsi_lu *lu_by_naa(struct scsi_lu *lu, const uint8_t *desig, uint8_t len)
{
	struct scsi_target *tg = lu->target;
	unsigned n = scsi_target_lu_count(tg);
	for (unsigned i = 0; i < n; i++) {
		struct scsi_lu *cand = scsi_target_lu(tg, scsi_target_lun_at(tg, i));
		uint8_t naa[16];
		if (!cand)
			continue;
		scsi_lu_naa(cand, naa);
		if (len == 16 && memcmp(naa, desig, 16) == 0)
			return cand;
	}
	return NULL;
}

static void fail_copy(struct scsi_task *t, uint8_t asc, uint8_t ascq, unsigned seg, uint16_t seg_byte)
{
	struct scsi_sense_info si = { .key = SK_COPY_ABORTED, .asc = asc, .ascq = ascq,
				      .cmd_info_valid = true, .cmd_info = seg, .sks_valid = true };
	si.sks[0] = 0x20;              /* SD: the pointer is inside the segment descriptor */
	put_be16(si.sks + 1, seg_byte);
	scsi_task_fail_ex(t, &si);
}

/* ILLEGAL REQUEST with a parameter list field pointer. */
static void fail_param(struct scsi_task *t, uint8_t asc, uint8_t ascq, uint32_t byte)
{
	struct scsi_sense_info si = { .key = SK_ILLEGAL_REQUEST, .asc = asc, .ascq = ascq };
	scsi_sense_field(&si, false, (uint16_t)MIN(byte, 0xffffu), -1);
	scsi_task_fail_ex(t, &si);
}

void sbc_extended_copy(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	uint32_t plen = get_be32(t->cdb + 10);
	if (plen == 0) {               /* no parameter list: nothing to do */
		scsi_task_set_residual(t, 0);
		scsi_task_good(t);
		return;
	}
	uint32_t got = sbc_data_out(t, plen);
	if (got < 16) {
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x1a, 0x00, plen);
		return;
	}
	uint8_t h[16];
	iov_to_buf(t->iov, t->iovcnt, 0, h, sizeof(h));
	uint8_t list_id = h[0];
	uint8_t usage = (h[1] >> 3) & 0x3;
	uint32_t tdl = get_be16(h + 2), sdl = get_be32(h + 8), inl = get_be32(h + 12);
	if (usage == 1) {              /* reserved */
		fail_param(t, 0x26, 0x00, 1);
		return;
	}
	if (usage == 3 && list_id != 0) {
		fail_param(t, 0x26, 0x00, 0);
		return;
	}
	if ((uint64_t)tdl + sdl > XC_MAX_DESC_LEN) {
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x1a, 0x00, plen);
		return;
	}
	if (16ull + tdl + sdl + inl > got) {
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x1a, 0x00, plen);
		return;
	}
	if (inl) {                     /* MAXIMUM INLINE DATA LENGTH is zero */
		fail_param(t, 0x26, 0x00, 12);
		return;
	}
	if (tdl % 32) {
		fail_param(t, 0x26, 0x00, 2);
		return;
	}
	unsigned ncscd = tdl / 32;
	if (ncscd > XC_MAX_CSCD) {
		fail_param(t, 0x26, 0x06, 2); /* TOO MANY TARGET DESCRIPTORS */
		return;
	}
	uint8_t *pl = malloc(16 + tdl + sdl);
	if (!pl) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	iov_to_buf(t->iov, t->iovcnt, 0, pl, 16 + tdl + sdl);

	/* count the segment descriptors */
	unsigned nseg = 0;
	for (uint32_t off = 0; off < sdl; nseg++) {
		if (sdl - off < 4) {
			free(pl);
			sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x1a, 0x00, plen);
			return;
		}
		uint32_t dlen = 4 + get_be16(pl + 16 + tdl + off + 2);
		if (dlen > sdl - off) {
			free(pl);
			sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x1a, 0x00, plen);
			return;
		}
		off += dlen;
	}
	if (nseg > XC_MAX_SEGS) {
		free(pl);
		fail_param(t, 0x26, 0x08, 8); /* TOO MANY SEGMENT DESCRIPTORS */
		return;
	}

	/* CSCD descriptors */
	struct scsi_lu *cscd[XC_MAX_CSCD];
	for (unsigned i = 0; i < ncscd; i++) {
		const uint8_t *d = pl + 16 + i * 32;
		uint32_t at = 16 + i * 32;
		cscd[i] = NULL;
		if (d[0] != 0xe4) {
			free(pl);
			fail_param(t, 0x26, 0x07, at); /* UNSUPPORTED TARGET DESCRIPTOR TYPE CODE */
			return;
		}
		/* LU ID TYPE and NUL are obsolete in SPC-4 and ignored */
		if ((d[1] & 0x1f) != 0x00) {       /* only block devices */
			free(pl);
			fail_param(t, 0x26, 0x00, at + 1);
			return;
		}
		uint8_t assoc = (d[5] >> 4) & 0x3, type = d[5] & 0xf, dlen = d[7];
		if (dlen > 20) {
			free(pl);
			fail_param(t, 0x26, 0x00, at + 7);
			return;
		}
		if (assoc == 0 && type == 3) /* NAA designator of a logical unit */
			cscd[i] = lu_by_naa(lu, d + 8, dlen);
		uint32_t blen = get_be24(d + 29);
		if (cscd[i] && blen != cscd[i]->block_size) {
			free(pl);
			fail_param(t, 0x26, 0x00, at + 29);
			return;
		}
	}

	struct xc_ctx *x = calloc(1, sizeof(*x) + nseg * sizeof(struct xc_seg));
	if (!x) {
		free(pl);
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	x->t = t;
	x->lu = lu;
	x->nseg = nseg;
	x->cdb_bytes = plen;

	/* segment descriptors: validate everything before copying anything */
	uint32_t off = 0;
	for (unsigned i = 0; i < nseg; i++) {
		const uint8_t *d = pl + 16 + tdl + off;
		uint32_t at = 16 + tdl + off;
		uint32_t dlen = 4 + get_be16(d + 2);
		off += dlen;
		if (d[0] != 0x02) {
			free(pl);
			free(x);
			fail_param(t, 0x26, 0x09, at); /* UNSUPPORTED SEGMENT DESCRIPTOR TYPE CODE */
			return;
		}
		if (dlen != 28) {
			free(pl);
			free(x);
			fail_param(t, 0x26, 0x00, at + 2);
			return;
		}
		uint16_t si = get_be16(d + 4), di = get_be16(d + 6);
		if (si >= ncscd || di >= ncscd || !cscd[si] || !cscd[di]) {
			free(pl);
			free(x);
			fail_copy(t, 0x08, 0x04, i, (si >= ncscd || !cscd[si]) ? 4 : 6); /* UNREACHABLE COPY TARGET */
			return;
		}
		struct xc_seg *s = &x->segs[i];
		s->src = cscd[si];
		s->dst = cscd[di];
		bool dc = d[1] & 0x02;     /* block count in destination blocks */
		uint64_t nblk = get_be16(d + 10);
		s->src_lba = get_be64(d + 12);
		s->dst_lba = get_be64(d + 20);
		s->bytes = nblk * (dc ? s->dst->block_size : s->src->block_size);
		if (s->bytes % s->src->block_size || s->bytes % s->dst->block_size) {
			free(pl);
			free(x);
			fail_param(t, 0x26, 0x00, at + 10);
			return;
		}
		uint64_t sn = s->bytes >> s->src->block_shift, dn = s->bytes >> s->dst->block_shift;
		uint64_t scap = scsi_lu_num_blocks(s->src), dcap = scsi_lu_num_blocks(s->dst);
		if (s->src_lba > scap || sn > scap - s->src_lba) {
			free(pl);
			free(x);
			fail_copy(t, 0x00, 0x00, i, 12);
			return;
		}
		if (s->dst_lba > dcap || dn > dcap - s->dst_lba) {
			free(pl);
			free(x);
			fail_copy(t, 0x00, 0x00, i, 20);
			return;
		}
		if (scsi_lu_write_protected(s->dst)) {
			uint8_t ascq = s->dst->read_only ? 0x00 : 0x02; /* WRITE PROTECTED / SOFTWARE WRITE PROTECTED */
			free(pl);
			free(x);
			scsi_task_fail(t, SK_DATA_PROTECT, 0x27, ascq);
			return;
		}
	}
	free(pl);

	struct sbc_lu_state *st = sbc_state(lu);
	x->buf_len = SBC_CHUNK_BYTES;
	x->buf = st ? buf_get(x->buf_len) : NULL;
	if (!x->buf) {
		free(x);
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	if (atomic_fetch_add(&st->copies_active, 1) >= XC_MAX_ACTIVE) {
		atomic_fetch_sub(&st->copies_active, 1);
		buf_put(x->buf, x->buf_len);
		free(x);
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x55, 0x03); /* INSUFFICIENT RESOURCES */
		return;
	}
	if (usage != 3) {
		int rc = rec_start(st, t, list_id, usage == 0, &x->rec);
		if (rc) {
			atomic_fetch_sub(&st->copies_active, 1);
			buf_put(x->buf, x->buf_len);
			free(x);
			if (rc == -EBUSY)
				scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x00, 0x16); /* OPERATION IN PROGRESS */
			else
				scsi_task_fail_blk(t, rc);
			return;
		}
	}
	xc_next(x);
}

/* ---- RECEIVE COPY RESULTS ---- */

static void rcr_op_params(struct scsi_task *t, uint32_t alloc)
{
	struct scsi_lu *lu = t->lu;
	uint8_t b[46];
	memset(b, 0, sizeof(b));
	put_be32(b, sizeof(b) - 4);    /* AVAILABLE DATA */
	b[4] = 0x01;                   /* SNLID: LIST ID USAGE 11b supported */
	put_be16(b + 8, XC_MAX_CSCD);
	put_be16(b + 10, XC_MAX_SEGS);
	put_be32(b + 12, XC_MAX_DESC_LEN);
	put_be32(b + 16, XC_MAX_SEG_BYTES);
	put_be32(b + 20, 0);           /* MAXIMUM INLINE DATA LENGTH */
	put_be32(b + 24, 0);           /* HELD DATA LIMIT: no data is held */
	put_be32(b + 28, 0);           /* MAXIMUM STREAM DEVICE TRANSFER SIZE */
	put_be16(b + 34, XC_MAX_ACTIVE);
	b[36] = (uint8_t)XC_MAX_ACTIVE; /* MAXIMUM CONCURRENT COPIES */
	b[37] = (uint8_t)lu->block_shift; /* DATA SEGMENT GRANULARITY (log2) */
	b[38] = 0;
	b[39] = 0;
	b[43] = 2;                     /* IMPLEMENTED DESCRIPTOR LIST LENGTH */
	b[44] = 0x02;                  /* block -> block */
	b[45] = 0xe4;                  /* identification CSCD descriptor */
	scsi_task_data_in(t, b, sizeof(b), alloc);
	scsi_task_good(t);
}

void sbc_receive_copy_results(struct scsi_task *t)
{
	const uint8_t *cdb = t->cdb;
	uint8_t sa = cdb[1] & 0x1f;
	uint8_t list_id = cdb[2];
	uint32_t alloc = get_be32(cdb + 10);
	if (sa == 0x03) {
		rcr_op_params(t, alloc);
		return;
	}
	struct sbc_lu_state *st = sbc_state(t->lu);
	if (!st) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	uint8_t b[60 + SCSI_SENSE_MAX];
	uint32_t len = 0;
	memset(b, 0, sizeof(b));
	pthread_mutex_lock(&st->lock);
	struct xcopy_rec *r = rec_find(st, task_port(t), list_id);
	if (!r) {
		pthread_mutex_unlock(&st->lock);
		scsi_task_fail_field_cdb(t, 2, -1); /* no copy with this list identifier */
		return;
	}
	switch (sa) {
	case 0x00: { /* COPY STATUS */
		uint64_t v = r->bytes;
		uint8_t units = 0;
		while (v > UINT32_MAX) { /* 00h bytes, 01h KiB, 02h MiB, ... */
			v >>= 10;
			units++;
		}
		put_be32(b, 8);
		b[4] = r->status;          /* HDD 0: no held data discarded */
		put_be16(b + 5, r->segs_done);
		b[7] = units;
		put_be32(b + 8, (uint32_t)v);
		len = 12;
		if (r->status == XC_DONE_OK) { /* completion reported: the results are released */
			rec_unlink(st, r);
			free(r);
		}
		break;
	}
	case 0x01: /* RECEIVE DATA: this copy manager never holds data */
		put_be32(b, 0);
		len = 4;
		break;
	case 0x04: /* FAILED SEGMENT DETAILS */
		if (r->status != XC_DONE_ERR) {
			put_be32(b, 0);
			len = 4;
			break;
		}
		put_be32(b, 56 + r->sense_len);
		b[56] = SCSI_STATUS_CHECK_CONDITION;
		put_be16(b + 58, r->sense_len);
		memcpy(b + 60, r->sense, r->sense_len);
		len = 60 + r->sense_len;
		/* the details were delivered: the held results are released */
		rec_unlink(st, r);
		free(r);
		break;
	default:
		pthread_mutex_unlock(&st->lock);
		scsi_task_fail_field_cdb(t, 1, 4);
		return;
	}
	pthread_mutex_unlock(&st->lock);
	scsi_task_data_in(t, b, len, alloc);
	scsi_task_good(t);
}

/* ---- VPD 8Fh ---- */

/* Append a third-party copy descriptor (type, body of blen bytes) padded to 4 bytes. */
static uint32_t tpc_desc(uint8_t *buf, uint32_t cap, uint32_t off, uint16_t type, const uint8_t *body, uint32_t blen)
{
	uint32_t len = ALIGN_UP(blen, 4u);
	if (off + 4 + len > cap)
		return off;
	put_be16(buf + off, type);
	put_be16(buf + off + 2, (uint16_t)len);
	memset(buf + off + 4, 0, len);
	memcpy(buf + off + 4, body, blen);
	return off + 4 + len;
}

uint32_t sbc_vpd_third_party_copy(struct scsi_lu *lu, uint8_t *buf, uint32_t cap)
{
	uint8_t body[32];
	uint32_t off = 4;
	if (cap < 4)
		return 0;
	memset(buf, 0, 4);
	buf[1] = 0x8f;

	/* 0001h supported commands: 83h/00h EXTENDED COPY(LID1), 84h/00h,01h,03h,04h RECEIVE COPY RESULTS */
	const uint8_t cmds[] = { 0x83, 1, 0x00, 0x84, 4, 0x00, 0x01, 0x03, 0x04 };
	body[0] = sizeof(cmds);
	memcpy(body + 1, cmds, sizeof(cmds));
	off = tpc_desc(buf, cap, off, 0x0001, body, 1 + sizeof(cmds));

	/* 0004h parameter data */
	memset(body, 0, sizeof(body));
	put_be16(body + 4, XC_MAX_CSCD);
	put_be16(body + 6, XC_MAX_SEGS);
	put_be32(body + 8, XC_MAX_DESC_LEN);
	put_be32(body + 12, 0);        /* MAXIMUM INLINE DATA LENGTH */
	off = tpc_desc(buf, cap, off, 0x0004, body, 28);

	/* 0008h supported descriptors */
	const uint8_t descs[] = { 0x02, 0xe4 };
	body[0] = sizeof(descs);
	memcpy(body + 1, descs, sizeof(descs));
	off = tpc_desc(buf, cap, off, 0x0008, body, 1 + sizeof(descs));

	/* 000Ch supported CSCD descriptor IDs: none beyond the descriptor list indexes */
	memset(body, 0, 2);
	off = tpc_desc(buf, cap, off, 0x000c, body, 2);

	/* 8001h general copy operations */
	memset(body, 0, sizeof(body));
	put_be32(body, XC_MAX_ACTIVE);      /* TOTAL CONCURRENT COPIES */
	put_be32(body + 4, XC_MAX_ACTIVE);  /* MAXIMUM IDENTIFIED CONCURRENT COPIES */
	put_be32(body + 8, XC_MAX_SEG_BYTES);
	body[12] = (uint8_t)lu->block_shift; /* DATA SEGMENT GRANULARITY (log2) */
	body[13] = 0;                       /* INLINE DATA GRANULARITY (log2) */
	off = tpc_desc(buf, cap, off, 0x8001, body, 32);

	put_be16(buf + 2, (uint16_t)(off - 4));
	return off;
}

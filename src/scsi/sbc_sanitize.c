/* sbc_sanitize.c - SANITIZE (SBC-3 5.19): OVERWRITE and BLOCK ERASE of the whole medium in bounded asynchronous chunks, EXIT FAILURE MODE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bufpool.h"
#include "core/log.h"
#include "core/util.h"
#include "scsi/sbc_int.h"

/*
 * While a sanitize runs the LU gate carries SCSI_GATE_SANITIZE: the
 * dispatcher answers medium commands with NOT READY, SANITIZE IN PROGRESS
 * and the progress this file publishes after every chunk. The operation
 * belongs to the LU, not to the task: a task abort or a reset does not
 * stop it (SBC-3: a sanitize survives resets); without IMMED the task is
 * completed when the medium is done, or with TASK ABORTED at the next
 * chunk when it was aborted (the operation then runs on as with IMMED).
 * The last step is a FLUSH so the result is durable.
 *
 * OVERWRITE is paced: chunk k+1 starts no earlier than start + bytes
 * written / lu->sanitize_bps (scsi_lu_opts.sanitize_mib_s, default
 * SCSI_SANITIZE_DEFAULT_MIB_S), on a timer of the reactor that runs it.
 * Sanitize is a background job (DESIGN.md: slow work runs asynchronously
 * with progress): it must not take the bandwidth of the other volumes on
 * the same members, and the time it takes is the rate's, whatever the
 * medium (a RAM or page-cached LU would otherwise be done in a blink).
 * BLOCK ERASE deallocates, moves no data and is not paced.
 * scsi_target_quiesce() (lu->bg_stop) interrupts it between chunks.
 *
 * A sanitize that fails leaves the LU in failure mode (gate bit
 * SCSI_GATE_SANITIZE_FAILED): medium access commands get MEDIUM ERROR,
 * SANITIZE COMMAND FAILED until a new SANITIZE succeeds, or until EXIT
 * FAILURE MODE when the failed command had AUSE set.
 */

#define SA_OVERWRITE   0x01
#define SA_BLOCK_ERASE 0x02
#define SA_EXIT_FAIL   0x1f

/* Blocks per BLOCK ERASE request. */
#define ERASE_CHUNK_BLOCKS (1u << 20)

struct san_ctx {
	struct scsi_task *t;       /* NULL once IMMED answered */
	struct scsi_lu *lu;
	struct blk_io io;
	struct iovec iov;
	uint8_t sa;
	bool ause;
	uint8_t *buf;              /* OVERWRITE: pattern replicated over buf_len bytes */
	uint32_t buf_len;
	bool invert;
	unsigned passes, pass;
	uint64_t lba, cap;
	bool flushing;
	uint64_t start_ns;         /* pacing: when the first chunk went down */
	uint64_t bytes;            /* pacing: bytes submitted so far */
	struct reactor_timer pace;
};

static void san_end(struct san_ctx *s, int status)
{
	struct scsi_lu *lu = s->lu;
	struct sbc_lu_state *st = lu->sbc_priv;
	struct scsi_task *t = s->t;
	bool ause = s->ause;
	reactor_timer_cancel(&s->pace);
	if (s->buf)
		buf_put(s->buf, s->buf_len);
	free(s);
	if (status) {
		log_err(LOGC_SCSI, lu->name, "SANITIZE failed: %s; medium access refused until a SANITIZE succeeds%s",
			blk_strerror(status), ause ? " or EXIT FAILURE MODE" : "");
		atomic_store(&st->failed_ause, ause);
		atomic_fetch_or(&lu->gate, SCSI_GATE_SANITIZE_FAILED);
	} else {
		log_notice(LOGC_SCSI, lu->name, "SANITIZE complete");
		atomic_fetch_and(&lu->gate, ~SCSI_GATE_SANITIZE_FAILED);
	}
	scsi_lu_sanitize_progress(lu, 0xffff);
	scsi_lu_sanitize_end(lu);
	atomic_store(&st->sanitizing, false);
	atomic_fetch_sub(&st->bg_ops, 1);
	if (!t)
		return;
	if (status)
		scsi_task_fail(t, SK_MEDIUM_ERROR, 0x31, 0x03); /* SANITIZE COMMAND FAILED */
	else
		scsi_task_good(t);
}

static void san_step(struct san_ctx *s);

static void san_cb(struct blk_io *io, int status)
{
	struct san_ctx *s = io->cb_arg;
	if (status || s->flushing) {
		san_end(s, status);
		return;
	}
	san_step(s);
}

/* An aborted SANITIZE command (ABORT TASK, a reset) ends with TASK ABORTED
 * at once, but the sanitize operation goes on as if IMMED had been set. */
static void san_detach_aborted(struct san_ctx *s)
{
	if (s->t && s->t->aborted) {
		struct scsi_task *t = s->t;
		s->t = NULL;
		log_notice(LOGC_SCSI, s->lu->name, "SANITIZE command aborted; the sanitize operation continues");
		scsi_task_complete(t);
	}
}

static void san_submit(struct san_ctx *s)
{
	int rc = blk_submit(s->lu->dev, &s->io);
	if (rc)
		san_end(s, rc);
}

static void san_pace_fire(struct reactor_timer *tm)
{
	struct san_ctx *s = tm->arg;
	if (atomic_load(&s->lu->bg_stop)) {
		san_end(s, -ECANCELED);
		return;
	}
	san_detach_aborted(s);
	san_submit(s);
}

/* Nanoseconds to wait before the next chunk so the LU stays under its rate. */
static uint64_t san_pace_delay(struct san_ctx *s, uint64_t chunk_bytes)
{
	uint64_t bps = s->lu->sanitize_bps;
	uint64_t now = now_ns();
	if (!bps)
		return 0;
	if (!s->start_ns)
		s->start_ns = now;
	uint64_t due = s->start_ns + (uint64_t)((unsigned __int128)s->bytes * 1000000000u / bps);
	s->bytes += chunk_bytes;
	return due > now ? due - now : 0;
}

static void san_step(struct san_ctx *s)
{
	struct scsi_lu *lu = s->lu;
	if (atomic_load(&lu->bg_stop)) { /* quiesced (shutdown): stop between chunks */
		san_end(s, -ECANCELED);
		return;
	}
	san_detach_aborted(s);
	if (s->lba >= s->cap) {
		if (++s->pass < s->passes) {
			s->lba = 0;
			if (s->invert) /* the pattern is inverted between consecutive passes */
				for (uint32_t i = 0; i < s->buf_len; i++)
					s->buf[i] = (uint8_t)~s->buf[i];
		} else {
			s->flushing = true;
			blk_io_prep(&s->io, lu->dev, BLK_OP_FLUSH, 0, 0, NULL, 0, san_cb, s);
			int rc = blk_submit(lu->dev, &s->io);
			if (rc)
				san_end(s, rc);
			return;
		}
	}
	uint64_t total = s->cap * s->passes;
	uint64_t done = s->cap * s->pass + s->lba;
	scsi_lu_sanitize_progress(lu, (uint16_t)(done * 65535 / (total ? total : 1)));
	uint64_t n = s->cap - s->lba;
	uint64_t delay = 0;
	if (s->sa == SA_OVERWRITE) {
		n = MIN(n, (uint64_t)(s->buf_len >> lu->block_shift));
		s->iov.iov_base = s->buf;
		s->iov.iov_len = (size_t)n << lu->block_shift;
		blk_io_prep(&s->io, lu->dev, BLK_OP_WRITE, s->lba, (uint32_t)n, &s->iov, 1, san_cb, s);
		delay = san_pace_delay(s, s->iov.iov_len);
	} else {
		n = MIN(n, (uint64_t)ERASE_CHUNK_BLOCKS);
		blk_io_prep(&s->io, lu->dev, BLK_OP_UNMAP, s->lba, (uint32_t)n, NULL, 0, san_cb, s);
		s->io.flags = BLK_F_UNMAP;
	}
	s->lba += n;
	if (delay) {
		reactor_timer_start(&s->pace, delay);
		return;
	}
	san_submit(s);
}

/* OVERWRITE parameter list: build the replicated pattern. Returns false after failing t. */
static bool overwrite_params(struct scsi_task *t, struct san_ctx *s, uint32_t plen)
{
	struct scsi_lu *lu = t->lu;
	uint32_t bs = lu->block_size;
	/* the list is a 4-byte header plus 1..block size bytes of pattern */
	if (plen <= 4 || plen > bs + 4) {
		scsi_task_fail_field_cdb(t, 7, -1);
		return false;
	}
	if (sbc_data_out(t, plen) < plen) {
		sbc_fail_resid(t, SK_ILLEGAL_REQUEST, 0x1a, 0x00, plen); /* PARAMETER LIST LENGTH ERROR */
		return false;
	}
	uint8_t hdr[4];
	iov_to_buf(t->iov, t->iovcnt, 0, hdr, 4);
	s->invert = hdr[0] & 0x80;
	s->passes = hdr[0] & 0x1f;
	uint32_t patlen = get_be16(hdr + 2);
	if ((hdr[0] >> 5) & 0x3) {      /* TEST: vendor test modes are not offered */
		scsi_task_fail_field_param(t, 0, 6);
		return false;
	}
	if (s->passes == 0) {            /* OVERWRITE COUNT 0 is reserved */
		scsi_task_fail_field_param(t, 0, 4);
		return false;
	}
	if (hdr[1]) {
		scsi_task_fail_field_param(t, 1, -1);
		return false;
	}
	if (patlen == 0 || patlen > bs || patlen + 4 != plen) {
		scsi_task_fail_field_param(t, 2, -1);
		return false;
	}
	uint64_t span = MIN(scsi_lu_num_blocks(lu) << lu->block_shift, (uint64_t)sbc_chunk_bytes(lu->dev));
	s->buf_len = (uint32_t)span;
	s->buf = buf_get(s->buf_len);
	if (!s->buf) {
		scsi_task_fail_blk(t, -ENOMEM);
		return false;
	}
	/* each logical block starts with the pattern, repeated to its end */
	iov_to_buf(t->iov, t->iovcnt, 4, s->buf, patlen);
	for (uint32_t off = patlen; off < bs; off += MIN(patlen, bs - off))
		memcpy(s->buf + off, s->buf, MIN(patlen, bs - off));
	for (uint32_t off = bs; off < s->buf_len; off += bs)
		memcpy(s->buf + off, s->buf, bs);
	return true;
}

void sbc_sanitize(struct scsi_task *t)
{
	struct scsi_lu *lu = t->lu;
	const uint8_t *cdb = t->cdb;
	bool immed = cdb[1] & 0x80;
	uint8_t sa = cdb[1] & 0x1f;
	uint32_t plen = get_be16(cdb + 7);

	if (cdb[1] & 0x40) {            /* reserved bit */
		scsi_task_fail_field_cdb(t, 1, 6);
		return;
	}
	for (uint16_t i = 2; i <= 6; i++) {
		if (cdb[i]) {
			scsi_task_fail_field_cdb(t, i, -1);
			return;
		}
	}
	struct sbc_lu_state *st = sbc_state(lu);
	if (!st) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	if (sa == SA_EXIT_FAIL) {
		if (plen) {
			scsi_task_fail_field_cdb(t, 7, -1);
			return;
		}
		if ((atomic_load(&lu->gate) & SCSI_GATE_SANITIZE_FAILED) && !atomic_load(&st->failed_ause)) {
			/* the failed SANITIZE did not allow an unrestricted exit: only a new one helps */
			scsi_task_fail_field_cdb(t, 1, 4);
			return;
		}
		atomic_fetch_and(&lu->gate, ~SCSI_GATE_SANITIZE_FAILED);
		scsi_task_set_residual(t, 0);
		scsi_task_good(t);
		return;
	}
	if (sa != SA_OVERWRITE && sa != SA_BLOCK_ERASE) {
		scsi_task_fail_field_cdb(t, 1, 4);
		return;
	}
	if (sa == SA_BLOCK_ERASE) {
		if (plen) {
			scsi_task_fail_field_cdb(t, 7, -1);
			return;
		}
		if (!sbc_lu_can_unmap(lu)) { /* block erase needs a device that deallocates */
			scsi_task_fail_field_cdb(t, 1, 4);
			return;
		}
	}
	struct san_ctx *s = calloc(1, sizeof(*s));
	if (!s) {
		scsi_task_fail_blk(t, -ENOMEM);
		return;
	}
	s->t = t;
	s->lu = lu;
	reactor_timer_init(&s->pace, san_pace_fire, s);
	s->sa = sa;
	s->ause = cdb[1] & 0x20;
	s->passes = 1;
	s->cap = scsi_lu_num_blocks(lu);
	if (sa == SA_OVERWRITE && !overwrite_params(t, s, plen)) {
		free(s);
		return;
	}
	bool idle = false;
	if (!atomic_compare_exchange_strong(&st->sanitizing, &idle, true)) {
		/* another one runs (the gate normally refuses this earlier) */
		if (s->buf)
			buf_put(s->buf, s->buf_len);
		free(s);
		struct scsi_sense_info si = { .key = SK_NOT_READY, .asc = 0x04, .ascq = 0x1b };
		scsi_sense_progress(&si, (uint16_t)atomic_load(&lu->sanitize_progress));
		scsi_task_fail_ex(t, &si);
		return;
	}
	if (sa == SA_OVERWRITE && lu->sanitize_bps)
		log_notice(LOGC_SCSI, lu->name, "SANITIZE OVERWRITE started (%u pass%s at %llu MiB/s: about %llu s)", s->passes,
			   s->passes == 1 ? "" : "es", (unsigned long long)(lu->sanitize_bps >> 20),
			   (unsigned long long)((s->cap << lu->block_shift) * s->passes / lu->sanitize_bps));
	else
		log_notice(LOGC_SCSI, lu->name, "SANITIZE %s started (%u pass%s)",
			   sa == SA_OVERWRITE ? "OVERWRITE" : "BLOCK ERASE", s->passes, s->passes == 1 ? "" : "es");
	atomic_fetch_add(&st->bg_ops, 1);
	scsi_lu_sanitize_begin(lu);
	scsi_task_set_residual(t, plen);
	if (immed) {
		s->t = NULL;
		scsi_task_good(t);
	}
	san_step(s);
}

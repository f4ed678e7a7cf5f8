/* sbc_common.c - shared SBC machinery: per-LU state, the LBA range lock, CDB decoding, sense and iovec helpers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "scsi/sbc_int.h"

/* ---- per-LU state ---- */

struct sbc_lu_state *sbc_state(struct scsi_lu *lu)
{
	struct sbc_lu_state *st = __atomic_load_n((struct sbc_lu_state **)&lu->sbc_priv, __ATOMIC_ACQUIRE);
	if (likely(st != NULL))
		return st;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->n_slots = reactor_count() ? reactor_count() : 1;
	st->fast_writers = aligned_alloc(64, st->n_slots * sizeof(struct sbc_writer_slot));
	if (!st->fast_writers) {
		free(st);
		return NULL;
	}
	for (unsigned i = 0; i < st->n_slots; i++)
		atomic_init(&st->fast_writers[i].n, 0);
	pthread_mutex_init(&st->lock, NULL);
	atomic_init(&st->excl_active, 0);
	atomic_init(&st->copies_active, 0);
	atomic_init(&st->bg_ops, 0);
	atomic_init(&st->failed_ause, false);
	atomic_init(&st->sanitizing, false);
	void *expected = NULL;
	if (!__atomic_compare_exchange_n(&lu->sbc_priv, &expected, st, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		/* another reactor installed its copy first */
		pthread_mutex_destroy(&st->lock);
		free(st->fast_writers);
		free(st);
		return expected;
	}
	return st;
}

bool sbc_lu_busy(struct scsi_lu *lu)
{
	struct sbc_lu_state *st = __atomic_load_n((struct sbc_lu_state **)&lu->sbc_priv, __ATOMIC_ACQUIRE);
	return st && atomic_load(&st->bg_ops) != 0;
}

bool scsi_target_busy(struct scsi_target *t)
{
	unsigned n = scsi_target_lu_count(t);
	for (unsigned i = 0; i < n; i++) {
		struct scsi_lu *lu = scsi_target_lu(t, scsi_target_lun_at(t, i));
		if (lu && sbc_lu_busy(lu))
			return true;
	}
	return false;
}

/* ---- quiesce (shutdown): stop background work, wait until none runs ---- */

#define QUIESCE_POLL_NS (5ull * 1000000ull)

struct quiesce_ctx {
	struct scsi_target *t;
	struct reactor_timer tm;
	void (*cb)(void *arg);
	void *arg;
};

static void quiesce_poll(struct reactor_timer *tm)
{
	struct quiesce_ctx *q = tm->arg;
	if (scsi_target_busy(q->t)) {
		reactor_timer_start(tm, QUIESCE_POLL_NS);
		return;
	}
	void (*cb)(void *) = q->cb;
	void *arg = q->arg;
	free(q);
	cb(arg);
}

int scsi_target_quiesce(struct scsi_target *t, void (*cb)(void *arg), void *arg)
{
	if (!t || !cb || !reactor_self())
		return -EINVAL;
	struct quiesce_ctx *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->t = t;
	q->cb = cb;
	q->arg = arg;
	unsigned n = scsi_target_lu_count(t);
	for (unsigned i = 0; i < n; i++) {
		struct scsi_lu *lu = scsi_target_lu(t, scsi_target_lun_at(t, i));
		if (lu)
			atomic_store(&lu->bg_stop, true);
	}
	/* polled: background work ends on whichever reactor runs it; a shutdown is not a data path */
	reactor_timer_init(&q->tm, quiesce_poll, q);
	reactor_timer_start(&q->tm, 0);
	return 0;
}

void sbc_lu_fini(struct scsi_lu *lu)
{
	struct sbc_lu_state *st = lu->sbc_priv;
	if (!st)
		return;
	if (atomic_load(&st->bg_ops))
		log_err(LOGC_SCSI, lu->name, "destroyed while %u background operation(s) run", atomic_load(&st->bg_ops));
	xcopy_results_free(st);
	pthread_mutex_destroy(&st->lock);
	free(st->fast_writers);
	free(st);
	lu->sbc_priv = NULL;
}

/* ---- range lock ---- */

unsigned sbc_fast_writers(struct sbc_lu_state *st)
{
	unsigned n = 0;
	for (unsigned i = 0; i < st->n_slots; i++)
		n += atomic_load(&st->fast_writers[i].n);
	return n;
}

static unsigned my_slot(const struct sbc_lu_state *st)
{
	struct reactor *r = reactor_self();
	unsigned i = r ? reactor_index(r) : 0;
	return i < st->n_slots ? i : 0;
}

static bool overlap(const struct sbc_range *a, const struct sbc_range *b)
{
	return a->lba < b->lba + b->nblocks && b->lba < a->lba + a->nblocks;
}

static bool conflicts(const struct sbc_range *a, const struct sbc_range *b)
{
	return (a->excl || b->excl) && overlap(a, b);
}

/* Can waiter w run now? It must not conflict with a held range nor with
 * a range that waits before it; an exclusive one also needs the lock-free
 * writers drained. Under st->lock. */
static bool grantable(struct sbc_lu_state *st, const struct sbc_range *w)
{
	if (w->excl && sbc_fast_writers(st) != 0)
		return false;
	for (const struct sbc_range *h = st->held; h; h = h->next)
		if (conflicts(w, h))
			return false;
	for (const struct sbc_range *p = st->wait_head; p && p != w; p = p->next)
		if (conflicts(w, p))
			return false;
	return true;
}

static void list_push(struct sbc_range **head, struct sbc_range *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	*head = r;
}

static void list_del(struct sbc_range **head, struct sbc_range *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
}

static void wait_del(struct sbc_lu_state *st, struct sbc_range *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		st->wait_head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		st->wait_tail = r->prev;
	r->next = r->prev = NULL;
}

static void grant_msg(void *arg)
{
	struct sbc_range *r = arg;
	r->granted(r);
}

/* Grant what can run and notify each on its reactor. */
static void wake_waiters(struct sbc_lu_state *st)
{
	struct sbc_range *notify[64];
	unsigned n;
	do {
		n = 0;
		pthread_mutex_lock(&st->lock);
		struct sbc_range *w = st->wait_head;
		while (w && n < ARRAY_SIZE(notify)) {
			struct sbc_range *next = w->next;
			if (grantable(st, w)) {
				wait_del(st, w);
				w->held = true;
				list_push(&st->held, w);
				notify[n++] = w;
			}
			w = next;
		}
		pthread_mutex_unlock(&st->lock);
		for (unsigned i = 0; i < n; i++) {
			int rc;
			unsigned tries = 0;
			while ((rc = reactor_send_msg(notify[i]->owner, grant_msg, notify[i])) != 0 && tries++ < 1000)
				;
			if (rc) {
				log_err(LOGC_SCSI, notify[i]->lu->name, "range lock: cannot deliver a grant (%d)", rc);
				abort();
			}
		}
	} while (n == ARRAY_SIZE(notify));
}

int sbc_range_lock(struct scsi_lu *lu, struct sbc_range *r, uint64_t lba, uint64_t n, bool excl,
		   void (*granted)(struct sbc_range *r), void *arg)
{
	struct sbc_lu_state *st = sbc_state(lu);
	if (!st)
		return -ENOMEM;
	r->lba = lba;
	r->nblocks = n ? n : 1;
	r->excl = excl;
	r->fast = false;
	r->held = false;
	r->lu = lu;
	r->owner = reactor_self();
	r->granted = granted;
	r->arg = arg;
	r->next = r->prev = NULL;

	if (!excl) {
		r->slot = (uint16_t)my_slot(st);
		atomic_uint *slot = &st->fast_writers[r->slot].n;
		atomic_fetch_add(slot, 1);
		if (likely(atomic_load(&st->excl_active) == 0)) {
			r->fast = true;
			r->held = true;
			return 0;
		}
		/* an exclusive range exists: go through the tracked path */
		if (atomic_fetch_sub(slot, 1) == 1)
			wake_waiters(st);
	} else {
		atomic_fetch_add(&st->excl_active, 1);
	}

	pthread_mutex_lock(&st->lock);
	/* append to the wait queue, then see whether it can run at once */
	r->prev = st->wait_tail;
	r->next = NULL;
	if (st->wait_tail)
		st->wait_tail->next = r;
	else
		st->wait_head = r;
	st->wait_tail = r;
	bool now = grantable(st, r);
	if (now) {
		wait_del(st, r);
		r->held = true;
		list_push(&st->held, r);
	}
	pthread_mutex_unlock(&st->lock);
	return now ? 0 : 1;
}

void sbc_range_unlock(struct sbc_range *r)
{
	struct sbc_lu_state *st = r->lu->sbc_priv;
	if (!r->held)
		return;
	r->held = false;
	if (r->fast) {
		r->fast = false;
		if (atomic_fetch_sub(&st->fast_writers[r->slot].n, 1) == 1 && atomic_load(&st->excl_active) != 0)
			wake_waiters(st);
		return;
	}
	pthread_mutex_lock(&st->lock);
	list_del(&st->held, r);
	pthread_mutex_unlock(&st->lock);
	if (r->excl)
		atomic_fetch_sub(&st->excl_active, 1);
	wake_waiters(st);
}

/* ---- CDB decoding ---- */

bool sbc_decode(const uint8_t *cdb, struct sbc_cdb *o)
{
	memset(o, 0, sizeof(*o));
	switch (cdb[0]) {
	case 0x08: /* READ(6) */
	case 0x0a: /* WRITE(6) */
		o->lba = (uint64_t)(cdb[1] & 0x1f) << 16 | get_be16(cdb + 2);
		o->nblocks = cdb[4] ? cdb[4] : 256;
		o->len_byte = 4;
		return true;
	case 0x28: case 0x2a: case 0x2e: case 0x2f: /* READ/WRITE/WRITE AND VERIFY/VERIFY (10) */
	case 0x34: case 0x35:                       /* PRE-FETCH(10), SYNCHRONIZE CACHE(10) */
		o->lba = get_be32(cdb + 2);
		o->nblocks = get_be16(cdb + 7);
		o->len_byte = 7;
		break;
	case 0xa8: case 0xaa: case 0xae: case 0xaf: /* (12) */
		o->lba = get_be32(cdb + 2);
		o->nblocks = get_be32(cdb + 6);
		o->len_byte = 6;
		break;
	case 0x88: case 0x8a: case 0x8e: case 0x8f: /* (16) */
	case 0x8b: case 0x90: case 0x91:            /* ORWRITE(16), PRE-FETCH(16), SYNCHRONIZE CACHE(16) */
		o->lba = get_be64(cdb + 2);
		o->nblocks = get_be32(cdb + 10);
		o->len_byte = 10;
		break;
	default:
		return false;
	}
	o->protect = cdb[1] >> 5;
	o->dpo = cdb[1] & 0x10;
	o->fua = cdb[1] & 0x08;
	o->bytchk = (cdb[1] >> 1) & 0x3;
	return true;
}

bool sbc_check_lba(struct scsi_task *t, uint64_t lba, uint64_t n)
{
	uint64_t cap = scsi_lu_num_blocks(t->lu);
	if (lba > cap || n > cap - lba) {
		scsi_task_fail(t, SK_ILLEGAL_REQUEST, 0x21, 0x00); /* LOGICAL BLOCK ADDRESS OUT OF RANGE */
		return false;
	}
	return true;
}

void sbc_fail_resid(struct scsi_task *t, uint8_t key, uint8_t asc, uint8_t ascq, uint32_t cdb_bytes)
{
	scsi_task_set_sense(t, key, asc, ascq);
	scsi_task_set_residual(t, cdb_bytes);
	scsi_task_complete(t);
}

void sbc_fail_miscompare(struct scsi_task *t, uint64_t offset)
{
	scsi_task_fail_info(t, SK_MISCOMPARE, 0x1d, 0x00, offset);
}

/* ---- iovec helpers ---- */

int sbc_iov_sub_count(const struct iovec *src, int cnt, size_t off, size_t len)
{
	int n = 0;
	for (int i = 0; i < cnt && len; i++) {
		size_t l = src[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = MIN(l - off, len);
		len -= take;
		off = 0;
		n++;
	}
	return len ? -1 : n;
}

int sbc_iov_sub(const struct iovec *src, int cnt, size_t off, size_t len, struct iovec *dst, int max)
{
	int n = 0;
	for (int i = 0; i < cnt && len; i++) {
		size_t l = src[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		if (n == max)
			return -1;
		size_t take = MIN(l - off, len);
		dst[n].iov_base = (uint8_t *)src[i].iov_base + off;
		dst[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return len ? -1 : n;
}

int64_t sbc_mem_cmp(const uint8_t *a, const uint8_t *b, size_t len)
{
	if (memcmp(a, b, len) == 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (a[i] != b[i])
			return (int64_t)i;
	return -1;
}

int64_t sbc_iov_cmp(const struct iovec *iov, int cnt, size_t off, const uint8_t *buf, size_t len)
{
	size_t done = 0;
	for (int i = 0; i < cnt && done < len; i++) {
		size_t l = iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = MIN(l - off, len - done);
		int64_t d = sbc_mem_cmp((const uint8_t *)iov[i].iov_base + off, buf + done, take);
		if (d >= 0)
			return (int64_t)done + d;
		done += take;
		off = 0;
	}
	return done < len ? (int64_t)done : -1;
}

/* ---- READ/WRITE larger than the device takes at once ---- */

struct split_piece {
	struct blk_io io;
	struct iovec *iov;
};

struct split {
	struct blk_io *parent;
	unsigned pending;
	unsigned n;
	int status;
	struct split_piece p[];
};

static void split_end(struct split *s)
{
	struct blk_io *parent = s->parent;
	int status = s->status;
	for (unsigned i = 0; i < s->n; i++)
		free(s->p[i].iov);
	free(s);
	parent->cb(parent, status);
}

static void split_piece_done(struct blk_io *io, int status)
{
	struct split *s = io->cb_arg;
	if (status && !s->status)
		s->status = status;
	if (--s->pending == 0)
		split_end(s);
}

int sbc_submit_split(struct blk_dev *dev, struct blk_io *io)
{
	uint32_t max = sbc_dev_max_blocks(dev);
	if ((io->op != BLK_OP_READ && io->op != BLK_OP_WRITE) || io->nblocks <= max)
		return blk_submit(dev, io);
	uint32_t bs = dev->info.block_size;
	unsigned n = (unsigned)((io->nblocks + (uint64_t)max - 1) / max);
	struct split *s = calloc(1, sizeof(*s) + n * sizeof(struct split_piece));
	if (!s)
		return -ENOMEM;
	s->parent = io;
	s->n = n;
	for (unsigned i = 0; i < n; i++) {
		uint64_t first = (uint64_t)i * max;
		uint32_t nb = (uint32_t)MIN((uint64_t)max, io->nblocks - first);
		size_t off = (size_t)first * bs, len = (size_t)nb * bs;
		int cnt = sbc_iov_sub_count(io->iov, io->iovcnt, off, len);
		struct split_piece *p = &s->p[i];
		p->iov = cnt > 0 ? calloc((size_t)cnt, sizeof(struct iovec)) : NULL;
		if (!p->iov) {
			for (unsigned j = 0; j < i; j++)
				free(s->p[j].iov);
			free(s);
			return cnt > 0 ? -ENOMEM : -EINVAL;
		}
		sbc_iov_sub(io->iov, io->iovcnt, off, len, p->iov, cnt);
		blk_io_prep(&p->io, dev, io->op, io->lba + first, nb, p->iov, cnt, split_piece_done, s);
		p->io.flags = io->flags;
	}
	/* pending holds one extra reference until every piece was handed over */
	s->pending = n + 1;
	unsigned submitted = 0;
	for (unsigned i = 0; i < n; i++) {
		int rc = blk_submit(dev, &s->p[i].io);
		if (rc) {
			if (submitted == 0) {
				for (unsigned j = 0; j < n; j++)
					free(s->p[j].iov);
				free(s);
				return rc;
			}
			s->status = rc;
			s->pending -= n - i; /* those never start */
			break;
		}
		submitted++;
	}
	/* callbacks never run inside blk_submit: at least one piece is in flight */
	s->pending--;
	return 0;
}

/* raid1.c - RAID 1 (every member a full copy) and the mirror engine that also runs RAID 0 and RAID 10 pieces. */
#include <errno.h>
#include <stdlib.h>

#include "blk/raid/raid_internal.h"
#include "core/util.h"

/*
 * Mirror engine: the level's map_piece() cuts a request into pieces, each
 * a contiguous range with its copies (1 for RAID 0, 2 for RAID 10, n for
 * RAID 1). Reads go to one healthy copy, chosen round-robin per reactor
 * (no shared counter), and retry the next copy when a member fails.
 * Writes, UNMAP and WRITE_ZEROES go to every healthy copy and succeed
 * when at least one copy took them and the array is still online (a
 * failed copy is marked failed, so it is never read again until rebuilt).
 * Everything runs on the submitting reactor; the only shared state is
 * the members' health bits (atomics).
 */

void raid1_map_piece(const struct raid_geom *g, uint64_t lba, uint32_t nblocks, struct raid_piece *out)
{
	out->nblocks = nblocks;
	out->ncopies = g->n;
	for (unsigned k = 0; k < g->n; k++) {
		out->member[k] = k;
		out->mlba[k] = lba;
	}
}

static void raid1_geom_init(struct raid_geom *g)
{
	g->ndata = 1;
	g->nparity = 0;
	g->ncopies = g->n;
}

static uint64_t raid1_capacity(const struct raid_geom *g)
{
	return g->member_blocks;
}

static bool raid1_survives(const struct raid_geom *g, uint32_t failed)
{
	return (failed & ((1u << g->n) - 1)) != ((1u << g->n) - 1);
}

const struct raid_level_ops raid1_ops = {
	.level = 1,
	.name = "raid1",
	.min_members = 2,
	.redundant = true,
	.geom_init = raid1_geom_init,
	.capacity = raid1_capacity,
	.survives = raid1_survives,
	.map_piece = raid1_map_piece,
	.submit = raid_mirror_submit,
};

/* ---- the engine ---- */

struct mpiece {
	struct raid_opref ref;
	struct raid_lockw lw;    /* chunk lock while a sync runs (lock-aware writes) */
	struct raid_req *req;
	struct raid_piece p;
	size_t uoff;             /* byte offset of the piece in the request's iovec */
	uint32_t tried;          /* copy indexes tried (reads) */
	unsigned outstanding;
	unsigned ok;
	int err;
	bool finished;
};

static __thread unsigned mirror_rr;

static void mpiece_release(struct raid_opref *r)
{
	free(container_of(r, struct mpiece, ref));
}

static void mpiece_finish(struct mpiece *mp, int status)
{
	mp->finished = true;
	if (mp->lw.locked)
		raid_unlock(mp->req->a, &mp->lw);
	raid_req_piece_done(mp->req, status);
	raid_opref_put(&mp->ref);
}

static struct raid_sub *mpiece_sub(struct mpiece *mp, unsigned k, void (*done)(struct raid_sub *, int))
{
	struct raid_req *req = mp->req;
	struct blk_io *io = req->io;
	bool data = io->op == BLK_OP_READ || io->op == BLK_OP_WRITE;
	size_t len = (size_t)mp->p.nblocks * io->dev->info.block_size;
	int cnt = data ? raid_iov_count(io->iov, io->iovcnt, mp->uoff, len) : 0;
	struct raid_sub *s = raid_sub_new(req->a, mp->p.member[k], io->op, mp->p.mlba[k], mp->p.nblocks, cnt, done,
					  mp, &mp->ref);
	if (s == NULL)
		return NULL;
	s->tag = k;
	s->io.flags = io->flags;
	if (data)
		s->io.iovcnt = raid_iov_slice(io->iov, io->iovcnt, mp->uoff, len, s->iov, cnt);
	s->bounce = io->op == BLK_OP_READ;
	s->shadow_copy = io->op != BLK_OP_READ && mp->p.mlba[k] < atomic_load(&req->a->shadow_pos);
	return s;
}

static void mirror_read_next(struct mpiece *mp, int last_status);

static void mirror_read_done(struct raid_sub *s, int status)
{
	struct mpiece *mp = s->ctx;
	if (status == 0) {
		mpiece_finish(mp, 0);
		return;
	}
	if (!raid_status_fails_member(status) || raid_offline(mp->req->a)) {
		mpiece_finish(mp, status);
		return;
	}
	mirror_read_next(mp, status);
}

/* Read from a healthy copy not tried yet, starting at a per-reactor rotating index. */
static void mirror_read_next(struct mpiece *mp, int last_status)
{
	struct raid_array *a = mp->req->a;
	unsigned nc = mp->p.ncopies;
	unsigned start = mirror_rr++ % nc;
	for (unsigned i = 0; i < nc; i++) {
		unsigned k = (start + i) % nc;
		if ((mp->tried & (1u << k)) || !raid_member_readable(a, mp->p.member[k], mp->p.mlba[k] + mp->p.nblocks))
			continue;
		mp->tried |= 1u << k;
		struct raid_sub *s = mpiece_sub(mp, k, mirror_read_done);
		if (s == NULL) {
			mpiece_finish(mp, -ENOMEM);
			return;
		}
		raid_sub_submit(s);
		return;
	}
	mpiece_finish(mp, last_status ? last_status : -EIO);
}

static void mirror_write_done(struct raid_sub *s, int status)
{
	struct mpiece *mp = s->ctx;
	if (status == 0)
		mp->ok++;
	else if (mp->err == 0 || !raid_status_fails_member(status))
		mp->err = status;
	if (--mp->outstanding > 0)
		return;
	if (mp->ok > 0 && !raid_offline(mp->req->a) && (mp->err == 0 || raid_status_fails_member(mp->err)))
		mpiece_finish(mp, 0);
	else
		mpiece_finish(mp, mp->err ? mp->err : -EIO);
}

static void mirror_write(struct mpiece *mp)
{
	struct raid_array *a = mp->req->a;
	struct raid_sub *subs[RAID_MAX_MEMBERS];
	unsigned n = 0;
	for (unsigned k = 0; k < mp->p.ncopies; k++) {
		if (!raid_member_ok(a, mp->p.member[k]))
			continue;
		subs[n] = mpiece_sub(mp, k, mirror_write_done);
		if (subs[n] == NULL) {
			for (unsigned i = 0; i < n; i++) {
				raid_opref_put(&mp->ref);
				free(subs[i]);
			}
			mpiece_finish(mp, -ENOMEM);
			return;
		}
		n++;
	}
	if (n == 0) {
		mpiece_finish(mp, -EIO);
		return;
	}
	mp->outstanding = n;
	for (unsigned i = 0; i < n; i++)
		raid_sub_submit(subs[i]);
}

static void mirror_locked(struct raid_lockw *w, int status)
{
	struct mpiece *mp = container_of(w, struct mpiece, lw);
	if (status != 0)
		mpiece_finish(mp, status);
	else
		mirror_write(mp);
}

void raid_mirror_submit(struct raid_req *req)
{
	struct raid_array *a = req->a;
	struct blk_io *io = req->io;
	uint32_t bs = io->dev->info.block_size;
	uint64_t lba = io->lba;
	uint32_t left = io->nblocks;
	size_t uoff = 0;
	req->pending = 1; /* guard until every piece is started */
	while (left > 0) {
		struct mpiece *mp = calloc(1, sizeof(*mp));
		if (mp == NULL) {
			raid_req_piece_done(req, -ENOMEM);
			return;
		}
		mp->ref.refs = 1;
		mp->ref.release = mpiece_release;
		mp->req = req;
		mp->uoff = uoff;
		a->ops->map_piece(&a->g, lba, left, &mp->p);
		uint32_t edge = a->g.chunk - (uint32_t)(lba % a->g.chunk);
		if (req->lockaware && mp->p.nblocks > edge) /* RAID 1 pieces: one chunk each under locks */
			mp->p.nblocks = edge;
		uint32_t nb = mp->p.nblocks; /* mp may be gone once started */
		req->pending++;
		if (io->op == BLK_OP_READ)
			mirror_read_next(mp, 0);
		else if (req->lockaware)
			raid_lock(a, &mp->lw, lba / a->g.chunk, mirror_locked);
		else
			mirror_write(mp);
		lba += nb;
		uoff += (size_t)nb * bs;
		left -= nb;
	}
	raid_req_piece_done(req, 0);
}

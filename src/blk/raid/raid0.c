/* raid0.c - RAID 0: chunks striped round-robin over every member, no redundancy. */
#include "blk/raid/raid_internal.h"

/*
 * Chunk c of the array lives on member c % n, in member chunk row c / n:
 *   member:   0   1   2
 *   row 0:   C0  C1  C2
 *   row 1:   C3  C4  C5
 */
void raid0_map_piece(const struct raid_geom *g, uint64_t lba, uint32_t nblocks, struct raid_piece *out)
{
	uint64_t c = lba / g->chunk;
	uint32_t off = (uint32_t)(lba % g->chunk);
	uint32_t left = g->chunk - off;
	out->nblocks = nblocks < left ? nblocks : left;
	out->ncopies = 1;
	out->member[0] = (unsigned)(c % g->n);
	out->mlba[0] = c / g->n * g->chunk + off;
}

static void raid0_geom_init(struct raid_geom *g)
{
	g->ndata = g->n;
	g->nparity = 0;
	g->ncopies = 1;
}

static uint64_t raid0_capacity(const struct raid_geom *g)
{
	return g->member_blocks * g->n;
}

static bool raid0_survives(const struct raid_geom *g, uint32_t failed)
{
	(void)g;
	return failed == 0;
}

const struct raid_level_ops raid0_ops = {
	.level = 0,
	.name = "raid0",
	.min_members = 2,
	.striped = true,
	.geom_init = raid0_geom_init,
	.capacity = raid0_capacity,
	.survives = raid0_survives,
	.map_piece = raid0_map_piece,
	.submit = raid_mirror_submit,
};

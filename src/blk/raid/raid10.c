/* raid10.c - RAID 10, md's "near 2" layout: each chunk written to two neighbouring member slots, rows striped. */
#include "blk/raid/raid_internal.h"

#define R10_COPIES 2u

/*
 * md near layout with near_copies = 2, far = 1: number the chunk slots of
 * the members row by row (slot = row * n + member); array chunk c takes
 * slots 2c and 2c + 1. With 4 members:
 *   member:   0   1   2   3
 *   row 0:   C0  C0  C1  C1
 *   row 1:   C2  C2  C3  C3
 * With an odd count (3) the copies wrap onto the next row:
 *   row 0:   C0  C0  C1
 *   row 1:   C1  C2  C2
 */
void raid10_map_piece(const struct raid_geom *g, uint64_t lba, uint32_t nblocks, struct raid_piece *out)
{
	uint64_t c = lba / g->chunk;
	uint32_t off = (uint32_t)(lba % g->chunk);
	uint32_t left = g->chunk - off;
	out->nblocks = nblocks < left ? nblocks : left;
	out->ncopies = R10_COPIES;
	for (unsigned k = 0; k < R10_COPIES; k++) {
		uint64_t slot = c * R10_COPIES + k;
		out->member[k] = (unsigned)(slot % g->n);
		out->mlba[k] = slot / g->n * g->chunk + off;
	}
}

static void raid10_geom_init(struct raid_geom *g)
{
	g->ndata = g->n;
	g->nparity = 0;
	g->ncopies = R10_COPIES;
}

static uint64_t raid10_capacity(const struct raid_geom *g)
{
	uint64_t rows = g->member_blocks / g->chunk;
	return rows * g->n / R10_COPIES * g->chunk;
}

/* The copy pairs repeat every n chunks: chunk c uses slots 2c, 2c+1 (mod n). */
static bool raid10_survives(const struct raid_geom *g, uint32_t failed)
{
	for (unsigned c = 0; c < g->n; c++) {
		unsigned m0 = (unsigned)((2u * c) % g->n), m1 = (unsigned)((2u * c + 1) % g->n);
		if ((failed & (1u << m0)) && (failed & (1u << m1)))
			return false;
	}
	return true;
}

const struct raid_level_ops raid10_ops = {
	.level = 10,
	.name = "raid10",
	.min_members = 2,
	.redundant = true,
	.striped = true,
	.geom_init = raid10_geom_init,
	.capacity = raid10_capacity,
	.survives = raid10_survives,
	.map_piece = raid10_map_piece,
	.submit = raid_mirror_submit,
};

/* raid6.c - RAID 6, md's left-symmetric layout: P (XOR) and Q (GF(2^8), poly 0x11d, generator {02}) rotating per stripe. */
#include "blk/raid/raid_internal.h"

/*
 * md ALGORITHM_LEFT_SYMMETRIC for level 6: P of stripe s on member
 * n-1 - s%n, Q on the next member (wrapping), data chunk i on member
 * (P + 2 + i) % n. With 5 members:
 *   member:    0   1   2   3   4
 *   stripe 0:  Q  D0  D1  D2  P
 *   stripe 1: D3  D4  D5  P   Q
 *   stripe 2: D7  D8  P   Q   D6
 * Q = sum over data chunks i of {02}^i * D_i in GF(2^8) with polynomial
 * 0x11d, D_0 being the chunk right after Q: the syndrome Linux md computes
 * and ISA-L's pq_gen() produces with the data in chunk order.
 */
void raid6_stripe_map(const struct raid_geom *g, uint64_t stripe, struct raid_stripe_map *out)
{
	unsigned pd = g->n - 1 - (unsigned)(stripe % g->n);
	for (unsigned i = 0; i < g->ndata; i++)
		out->disk[i] = (pd + 2 + i) % g->n;
	out->disk[g->ndata] = pd;
	out->disk[g->ndata + 1] = (pd + 1) % g->n;
}

static void raid6_geom_init(struct raid_geom *g)
{
	g->nparity = 2;
	g->ndata = g->n - 2;
	g->ncopies = 1;
}

static uint64_t raid6_capacity(const struct raid_geom *g)
{
	return g->member_blocks * g->ndata;
}

static bool raid6_survives(const struct raid_geom *g, uint32_t failed)
{
	(void)g;
	return __builtin_popcount(failed) <= 2;
}

const struct raid_level_ops raid6_ops = {
	.level = 6,
	.name = "raid6",
	.min_members = 4,
	.nparity = 2,
	.owner_path = true,
	.redundant = true,
	.striped = true,
	.geom_init = raid6_geom_init,
	.capacity = raid6_capacity,
	.survives = raid6_survives,
	.stripe_map = raid6_stripe_map,
	.submit = raid_stripe_submit,
};

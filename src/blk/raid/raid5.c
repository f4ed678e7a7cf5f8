/* raid5.c - RAID 5, md's left-symmetric layout: one rotating parity chunk per stripe (XOR). */
#include "blk/raid/raid_internal.h"

/*
 * Left-symmetric (md ALGORITHM_LEFT_SYMMETRIC, mdadm's default): parity
 * of stripe s sits on member n-1 - s%n, rotating from the last member
 * backwards; data chunk i of the stripe sits on member (parity + 1 + i) % n,
 * i.e. it starts right after parity and wraps. With 4 members:
 *   member:    0   1   2   3
 *   stripe 0: D0  D1  D2  P
 *   stripe 1: D4  D5  P   D3
 *   stripe 2: D8  P   D6  D7
 *   stripe 3: P   D9  D10 D11
 * The stripe work itself (locks, RMW/RCW, reconstruction) is stripe.c.
 */
void raid5_stripe_map(const struct raid_geom *g, uint64_t stripe, struct raid_stripe_map *out)
{
	unsigned pd = g->n - 1 - (unsigned)(stripe % g->n);
	for (unsigned i = 0; i < g->ndata; i++)
		out->disk[i] = (pd + 1 + i) % g->n;
	out->disk[g->ndata] = pd;
}

static void raid5_geom_init(struct raid_geom *g)
{
	g->nparity = 1;
	g->ndata = g->n - 1;
	g->ncopies = 1;
}

static uint64_t raid5_capacity(const struct raid_geom *g)
{
	return g->member_blocks * g->ndata;
}

static bool raid5_survives(const struct raid_geom *g, uint32_t failed)
{
	(void)g;
	return __builtin_popcount(failed) <= 1;
}

const struct raid_level_ops raid5_ops = {
	.level = 5,
	.name = "raid5",
	.min_members = 3,
	.nparity = 1,
	.owner_path = true,
	.redundant = true,
	.striped = true,
	.geom_init = raid5_geom_init,
	.capacity = raid5_capacity,
	.survives = raid5_survives,
	.stripe_map = raid5_stripe_map,
	.submit = raid_stripe_submit,
};

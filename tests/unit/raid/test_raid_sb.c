/* test_raid_sb.c - superblocks through real member I/O: clean/dirty marks, stop and reassembly, stale/foreign/corrupt members refused with the reason. */
#include "../blk/blk_harness.h"

#include "blk/raid/raid.h"
#include "blk/raid/raid_internal.h"
#include "raid_test_util.h"

static void read_sb(struct blk_dev *base, struct raid_sb_info *out, int expect)
{
	uint8_t *buf = aligned_alloc(4096, RAID_SB_SIZE);
	struct iovec iov = {buf, RAID_SB_SIZE};
	bool bad = false;
	assert_int_equal(h_io(base, BLK_OP_READ, 0, RAID_SB_SIZE / BS, &iov, 1, &bad), 0);
	char err[200];
	assert_int_equal(raid_sb_decode(buf, out, err, sizeof(err)), expect);
	free(buf);
}

static void test_clean_dirty_marks(void **state)
{
	(void)state;
	struct tarr t;
	tarr_create(&t, 5, 4, 0);
	struct raid_sb_info sb;
	read_sb(t.base[1], &sb, 0);
	assert_false(sb.dirty);
	assert_int_equal(sb.role, 1);
	uint64_t ev0 = sb.events;
	random_writes(&t, 5, 1);
	struct raid_info info;
	assert_int_equal(raid_get_info(t.dev, &info), 0);
	assert_true(info.dirty);
	read_sb(t.base[3], &sb, 0);
	assert_true(sb.dirty); /* written before the first write went out */
	assert_true(sb.events > ev0);
	usleep(500000); /* clean_delay is 100 ms */
	assert_int_equal(raid_get_info(t.dev, &info), 0);
	assert_false(info.dirty);
	read_sb(t.base[0], &sb, 0);
	assert_false(sb.dirty);
	verify_all(&t);
	tarr_destroy(&t);
}

static void test_stop_and_reassemble(void **state)
{
	(void)state;
	struct tarr t;
	char msg[1024];
	tarr_create(&t, 5, 4, 0);
	random_writes(&t, 40, 2);
	uint8_t *model = t.model;
	t.model = NULL;
	tarr_stop(&t);
	struct raid_sb_info sb;
	for (unsigned m = 0; m < 4; m++) {
		read_sb(t.base[m], &sb, 0);
		assert_false(sb.dirty);
		assert_int_equal(sb.role, m);
	}
	/* any order: roles come from the superblocks */
	struct blk_dev *devs[4] = {t.err[3], t.err[1], t.err[0], t.err[2]};
	struct blk_dev *dev;
	assert_int_equal(assemble(devs, 4, &dev, msg, sizeof(msg)), 0);
	tarr_open(&t, dev);
	memcpy(t.model, model, t.blocks * BS);
	verify_all(&t);
	struct raid_info info;
	assert_int_equal(raid_get_info(dev, &info), 0);
	assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
	assert_string_equal(info.members[2].name, "m2");

	/* member 2 fails at run time; the others move on without it */
	assert_int_equal(raid_fail_member(dev, 2), 0);
	assert_int_equal(raid_fail_member(dev, 2), -EALREADY);
	random_writes(&t, 20, 3);
	memcpy(model, t.model, t.blocks * BS);
	free(t.model);
	t.model = NULL;
	tarr_stop(&t);
	read_sb(t.base[0], &sb, 0);
	assert_int_equal(sb.failed, 0x4);
	struct raid_sb_info stale;
	read_sb(t.base[2], &stale, 0);
	assert_true(stale.events < sb.events);

	/* without it: degraded, role 2 missing */
	struct blk_dev *three[3] = {t.err[0], t.err[1], t.err[3]};
	assert_int_equal(assemble(three, 3, &dev, msg, sizeof(msg)), 0);
	tarr_open(&t, dev);
	memcpy(t.model, model, t.blocks * BS);
	verify_all(&t);
	assert_int_equal(raid_get_info(dev, &info), 0);
	assert_int_equal(info.state, RAID_ARRAY_DEGRADED);
	assert_int_equal(info.members[2].state, RAID_MEMBER_MISSING);
	free(t.model);
	t.model = NULL;
	tarr_stop(&t);

	/* all four offered: the stale one missed only writes the bitmap tracked: re-added, dirty regions rebuilt */
	struct blk_dev *all[4] = {t.err[0], t.err[1], t.err[2], t.err[3]};
	assert_int_equal(assemble(all, 4, &dev, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "re-added m2 as role 2"));
	tarr_open(&t, dev);
	memcpy(t.model, model, t.blocks * BS);
	wait_sync(dev, &info);
	assert_int_equal(info.state, RAID_ARRAY_OPTIMAL);
	assert_int_equal(info.sync.last_kind, RAID_SYNC_REBUILD);
	assert_int_equal(info.sync.last_status, 0);
	verify_all(&t);
	/* member 2 is current again: fail it once more so it is stale below */
	assert_int_equal(raid_fail_member(dev, 2), 0);
	random_writes(&t, 5, 4);
	memcpy(model, t.model, t.blocks * BS);
	free(t.model);
	t.model = NULL;
	tarr_stop(&t);

	/* a member of another array is refused by UUID */
	struct tarr o;
	tarr_members(&o, 2, MEMBER_BYTES);
	tarr_create_on(&o, 1, "other", 0);
	tarr_close(&o);
	struct blk_dev *mixed[4] = {t.err[0], o.err[0], t.err[1], t.err[3]};
	assert_int_equal(assemble(mixed, 4, &dev, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "another array ('other'"));
	tarr_open(&t, dev);
	memcpy(t.model, model, t.blocks * BS);
	verify_all(&t);
	free(t.model);
	t.model = NULL;
	tarr_stop(&t);

	/* a corrupt superblock: with member 2 stale too, RAID 5 cannot start; the message says why for each */
	uint8_t *buf = aligned_alloc(4096, RAID_SB_SIZE);
	struct iovec iov = {buf, RAID_SB_SIZE};
	bool bad = false;
	assert_int_equal(h_io(t.base[1], BLK_OP_READ, 0, 8, &iov, 1, &bad), 0);
	buf[1000] ^= 0x40;
	assert_int_equal(h_io(t.base[1], BLK_OP_WRITE, 0, 8, &iov, 1, &bad), 0);
	read_sb(t.base[1], &sb, -EBADMSG);
	assert_int_equal(assemble(all, 4, &dev, msg, sizeof(msg)), -EINVAL);
	assert_null(dev);
	assert_non_null(strstr(msg, "cannot start"));
	assert_non_null(strstr(msg, "m1: superblock is corrupt"));
	assert_non_null(strstr(msg, "m2: stale"));
	/* nothing that is not an array member */
	struct blk_dev *blank;
	assert_int_equal(blk_malloc_create("blank", MEMBER_BYTES, BS, &blank), 0);
	assert_int_equal(assemble(&blank, 1, &dev, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "no member carries a valid softhba superblock"));
	blk_destroy(blank);
	free(buf);
	free(model);
	tarr_free_members(&o);
	tarr_free_members(&t);
}

static int setup(void **state)
{
	(void)state;
	return h_start(1);
}

static int teardown(void **state)
{
	(void)state;
	h_stop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_dirty_marks),
		cmocka_unit_test(test_stop_and_reassemble),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

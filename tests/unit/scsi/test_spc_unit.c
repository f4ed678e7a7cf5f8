/* test_spc_unit.c - START STOP UNIT, PREVENT ALLOW, sanitize and capacity gates, task abort through TMFs. */
#include "spc_harness.h"

static struct s_env E;

static int setup(void **state)
{
	struct scsi_lu_opts o = { .name = "rmb", .removable = true, .write_cache = true };
	(void)state;
	if (s_reactors_start())
		return -1;
	s_env_init(&E, &o);
	s_clear_ua(E.n1, 0);
	s_clear_ua(E.n2, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	s_env_fini(&E);
	s_reactors_stop();
	return 0;
}

static int ssu(struct s_cmd *c, struct scsi_nexus *n, uint64_t lun, bool immed, uint8_t pc, bool loej, bool start)
{
	uint8_t cdb[6] = { 0x1b, immed ? 1 : 0, 0, 0, (uint8_t)(pc << 4 | (loej ? 2 : 0) | (start ? 1 : 0)), 0 };
	return s_exec(c, n, lun, cdb, 6, SCSI_DIR_NONE, NULL, 0);
}

static int prevent(struct s_cmd *c, struct scsi_nexus *n, uint8_t v)
{
	uint8_t cdb[6] = { 0x1e, 0, 0, 0, v, 0 };
	return s_exec(c, n, 0, cdb, 6, SCSI_DIR_NONE, NULL, 0);
}

static void test_eject_load(void **state)
{
	struct s_cmd c;
	uint8_t buf[64];
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	uint8_t rc10[10] = { 0x25 };
	(void)state;

	assert_int_equal(s_exec(&c, E.n1, 0, inq, 6, SCSI_DIR_READ, buf, 36), SCSI_STATUS_GOOD);
	assert_int_equal(buf[1] & 0x80, 0x80);       /* RMB */

	/* stop without eject: still ready (no spindle to stop) */
	assert_int_equal(ssu(&c, E.n1, 0, false, 0, false, false), SCSI_STATUS_GOOD);
	assert_int_equal(s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);

	assert_int_equal(ssu(&c, E.n1, 0, true, 0, true, false), SCSI_STATUS_GOOD);
	s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_NOT_READY, 0x3a, 0x00);
	s_exec(&c, E.n1, 0, rc10, 10, SCSI_DIR_READ, buf, 8);
	assert_sense(&c, SK_NOT_READY, 0x3a, 0x00);
	{
		uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };
		assert_int_equal(s_exec(&c, E.n1, 0, rs, 6, SCSI_DIR_READ, buf, 18), SCSI_STATUS_GOOD);
		assert_int_equal(buf[2], SK_NOT_READY);
		assert_int_equal(buf[12], 0x3a);
	}
	/* INQUIRY still works without medium */
	assert_int_equal(s_exec(&c, E.n1, 0, inq, 6, SCSI_DIR_READ, buf, 36), SCSI_STATUS_GOOD);

	/* prevented: neither load nor eject */
	assert_int_equal(prevent(&c, E.n2, 1), SCSI_STATUS_GOOD);
	ssu(&c, E.n1, 0, false, 0, true, true);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x53, 0x02);
	assert_int_equal(prevent(&c, E.n2, 0), SCSI_STATUS_GOOD);
	assert_int_equal(ssu(&c, E.n1, 0, false, 0, true, true), SCSI_STATUS_GOOD);
	assert_int_equal(s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	/* the other nexus is told the medium may have changed */
	s_exec(&c, E.n2, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x28, 0x00);

	assert_int_equal(prevent(&c, E.n1, 1), SCSI_STATUS_GOOD);
	ssu(&c, E.n1, 0, false, 0, true, false);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x53, 0x02);
	/* I_T nexus loss clears that nexus's prevention */
	scsi_nexus_destroy(E.n1);
	assert_int_equal(scsi_nexus_create(E.tgt, S_PORT1, &E.n1), 0);
	s_clear_ua(E.n1, 0);
	assert_int_equal(ssu(&c, E.n1, 0, false, 0, true, false), SCSI_STATUS_GOOD);
	assert_int_equal(ssu(&c, E.n1, 0, false, 0, true, true), SCSI_STATUS_GOOD);

	/* invalid PREVENT values, power conditions */
	prevent(&c, E.n1, 2);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	assert_int_equal(ssu(&c, E.n1, 0, false, 0x3, true, false), SCSI_STATUS_GOOD); /* LOEJ ignored */
	assert_int_equal(s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(ssu(&c, E.n1, 0, false, 0x5, true, false), SCSI_STATUS_GOOD);
	assert_int_equal(s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
}

static void test_non_removable(void **state)
{
	struct s_cmd c;
	(void)state;

	s_add_lu(&E, 1, 64, false, NULL);
	s_clear_ua(E.n1, 1);
	ssu(&c, E.n1, 1, true, 0, true, false);
	assert_sense(&c, SK_ILLEGAL_REQUEST, 0x24, 0x00);
	assert_int_equal(get_be16(c.t.sense + 16), 4);
	assert_int_equal(ssu(&c, E.n1, 1, false, 0, false, true), SCSI_STATUS_GOOD);
	assert_int_equal(s_exec(&c, E.n1, 1, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
}

static void test_sanitize_and_capacity(void **state)
{
	struct s_cmd c;
	uint8_t buf[64];
	uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	(void)state;

	scsi_lu_sanitize_begin(E.lu[0]);
	scsi_lu_sanitize_progress(E.lu[0], 0x4000);
	s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_NOT_READY, 0x04, 0x1b);
	assert_int_equal(c.t.sense[15], 0x80);
	assert_int_equal(get_be16(c.t.sense + 16), 0x4000);
	assert_int_equal(s_exec(&c, E.n1, 0, rs, 6, SCSI_DIR_READ, buf, 18), SCSI_STATUS_GOOD);
	assert_int_equal(buf[2], SK_NOT_READY);
	assert_int_equal(buf[13], 0x1b);
	assert_int_equal(get_be16(buf + 16), 0x4000);
	assert_int_equal(s_exec(&c, E.n1, 0, inq, 6, SCSI_DIR_READ, buf, 36), SCSI_STATUS_GOOD);
	scsi_lu_sanitize_end(E.lu[0]);
	assert_int_equal(s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);

	/* capacity change: every nexus hears about it once */
	E.dev[0]->info.num_blocks = 4096;
	scsi_lu_capacity_changed(E.lu[0]);
	assert_int_equal(scsi_lu_num_blocks(E.lu[0]), 4096);
	s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x2a, 0x09);
	s_exec(&c, E.n2, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0);
	assert_sense(&c, SK_UNIT_ATTENTION, 0x2a, 0x09);
	scsi_lu_capacity_changed(E.lu[0]);       /* no change: no unit attention */
	assert_int_equal(s_exec(&c, E.n1, 0, s_tur, 6, SCSI_DIR_NONE, NULL, 0), SCSI_STATUS_GOOD);
	E.dev[0]->info.num_blocks = 2048;
	scsi_lu_capacity_changed(E.lu[0]);
}

/* ---- abort: a device that holds I/O until the test releases it ---- */

static struct blk_io *g_held;
static sem_t g_held_sem;

static int hold_submit(struct blk_dev *dev, struct blk_io *io)
{
	(void)dev;
	g_held = io;
	sem_post(&g_held_sem);
	return 0;
}

static void hold_destroy(struct blk_dev *dev)
{
	(void)dev;
}

static const struct blk_ops hold_ops = { .name = "hold", .submit = hold_submit, .destroy = hold_destroy };

static void release_held(void *arg)
{
	struct blk_io *io = arg;
	iov_memset(io->iov, io->iovcnt, 0, 0, (size_t)io->nblocks * 512);
	io->cb(io, 0);
}

static void submit_only(void *arg)
{
	scsi_task_submit(arg);
}

static void test_abort_in_flight(void **state)
{
	static struct blk_dev hold = { .ops = &hold_ops, .name = "hold",
				       .info = { .block_size = 512, .num_blocks = 64 } };
	struct scsi_lu *lu;
	struct s_cmd c;
	uint8_t data[512];
	uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	(void)state;

	assert_int_equal(scsi_lu_create(E.tgt, 5, &hold, NULL, &lu), 0);
	s_clear_ua(E.n1, 5);
	s_clear_ua(E.n2, 5);
	sem_init(&g_held_sem, 0, 0);

	for (int round = 0; round < 3; round++) {
		enum scsi_tmf fn = round == 0 ? SCSI_TMF_ABORT_TASK_SET : round == 1 ? SCSI_TMF_LU_RESET : SCSI_TMF_QUERY_TASK;
		memset(&c, 0, sizeof(c));
		sem_init(&c.done, 0, 0);
		c.t.nexus = E.n1;
		c.t.lun = 5;
		memcpy(c.t.cdb, cdb, 10);
		c.t.cdb_len = 16;
		c.t.dir = SCSI_DIR_READ;
		c.t.exp_xfer_len = 512;
		c.iov.iov_base = data;
		c.iov.iov_len = 512;
		c.t.iov = &c.iov;
		c.t.iovcnt = 1;
		c.t.done = s_done;
		assert_int_equal(reactor_send_msg(reactor_get(0), submit_only, &c.t), 0);
		assert_int_equal(s_wait(&g_held_sem), 0);

		/* another nexus's ABORT TASK SET leaves it alone; this one's aborts it */
		if (fn == SCSI_TMF_ABORT_TASK_SET)
			assert_int_equal(scsi_tmf_lu(E.n2, 5, fn), SCSI_TMF_RSP_COMPLETE);
		assert_int_equal(scsi_tmf_lu(fn == SCSI_TMF_ABORT_TASK_SET ? E.n1 : E.n2, 5, fn), SCSI_TMF_RSP_COMPLETE);
		/* the abort marking travels as a message; the release queues behind it */
		assert_int_equal(reactor_send_msg(reactor_get(0), release_held, g_held), 0);
		assert_int_equal(s_wait(&c.done), 0);
		sem_destroy(&c.done);
		assert_int_equal(c.done_calls, 1);
		if (fn == SCSI_TMF_QUERY_TASK) {
			assert_int_equal(c.t.status, SCSI_STATUS_GOOD);
		} else {
			assert_int_equal(c.t.status, SCSI_STATUS_TASK_ABORTED);
			assert_int_equal(c.t.sense_len, 0);
		}
		if (fn == SCSI_TMF_LU_RESET) {
			s_clear_ua(E.n1, 5);
			s_clear_ua(E.n2, 5);
		}
	}
	sem_destroy(&g_held_sem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_eject_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_removable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sanitize_and_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_in_flight, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_sbc_lock.c - the LBA range lock: shared vs exclusive ranges, draining lock-free writers, COMPARE AND WRITE races across reactors. */
#include <unistd.h>

#include "test_sbc_harness.h"

#define BS 512u
#define NBLK 65536u

static struct scsi_target *g_tg;
static struct blk_dev *g_mem;
static struct scsi_nexus *g_nx;
static struct scsi_lu *g_lu0;

static int setup(void **state)
{
	(void)state;
	if (sh_start(2))
		return -1;
	if (blk_malloc_create("lock0", (uint64_t)NBLK * BS, BS, &g_mem))
		return -1;
	if (scsi_target_create("iqn.2024-01.test:lock", 1, &g_tg))
		return -1;
	struct scsi_lu_opts o = { .name = "lock0" };
	if (scsi_lu_create(g_tg, 0, g_mem, &o, &g_lu0))
		return -1;
	if (scsi_nexus_create(g_tg, "iqn.2024-01.test:init,i,0x000000000004", &g_nx))
		return -1;
	uint8_t tur[6] = { 0 };
	for (int i = 0; i < 8; i++)
		if (sh_exec(g_nx, 0, tur, 6, SCSI_DIR_NONE, NULL, 0, 0, NULL) == SCSI_STATUS_GOOD)
			return 0;
	return -1;
}

static int teardown(void **state)
{
	(void)state;
	scsi_nexus_destroy(g_nx);
	scsi_target_destroy(g_tg);
	sh_stop();
	blk_destroy(g_mem);
	return 0;
}

static uint8_t rw16(bool write, uint64_t lba, uint32_t n, uint8_t *data)
{
	uint8_t cdb[16] = { write ? 0x8a : 0x88 };
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, n);
	return sh_exec(g_nx, 0, cdb, 16, write ? SCSI_DIR_WRITE : SCSI_DIR_READ, data, n * BS, write ? n * BS : 0,
		       NULL);
}

/* ---- the range lock itself ---- */

struct lock_case {
	struct sbc_range a, b, c;
	int rc_b, rc_c;
	bool b_granted, c_granted;
	bool b_before_unlock;
	struct sh_call *call;
};

static void lock_granted(struct sbc_range *r)
{
	struct lock_case *lc = r->arg;
	if (r == &lc->b)
		lc->b_granted = true;
	else
		lc->c_granted = true;
	if (lc->b_granted && lc->c_granted) {
		sbc_range_unlock(&lc->b);
		sbc_range_unlock(&lc->c);
		sem_post(&lc->call->done);
	}
}

static void lock_run(struct sh_call *call)
{
	struct lock_case *lc = call->arg;
	lc->call = call;
	/* exclusive [100, 110) */
	assert_int_equal(sbc_range_lock(g_lu0, &lc->a, 100, 10, true, lock_granted, lc), 0);
	/* shared overlapping: waits; shared elsewhere: tracked but granted at once */
	lc->rc_b = sbc_range_lock(g_lu0, &lc->b, 105, 2, false, lock_granted, lc);
	lc->rc_c = sbc_range_lock(g_lu0, &lc->c, 200, 2, false, lock_granted, lc);
	if (lc->rc_c == 0)
		lc->c_granted = true;
	lc->b_before_unlock = lc->b_granted;
	sbc_range_unlock(&lc->a);
	if (lc->b_granted && lc->c_granted) {
		sbc_range_unlock(&lc->b);
		sbc_range_unlock(&lc->c);
		sem_post(&call->done);
	}
}

static void test_range_lock(void **state)
{
	(void)state;
	struct lock_case lc;
	memset(&lc, 0, sizeof(lc));
	assert_int_equal(sh_run(0, lock_run, &lc), 0);
	assert_int_equal(lc.rc_b, 1);
	assert_int_equal(lc.rc_c, 0);
	assert_false(lc.b_before_unlock);
	assert_true(lc.b_granted);
	struct sbc_lu_state *st = sbc_state(g_lu0);
	assert_int_equal(atomic_load(&st->excl_active), 0);
	assert_int_equal(sbc_fast_writers(st), 0);
	assert_null(st->held);
	assert_null(st->wait_head);
}

/* A lock-free writer on reactor 1 holds back an exclusive range on reactor
 * 0 (even for a disjoint LBA range: it is not tracked) until it ends. */
struct drain_case {
	struct sbc_range shared, excl;
	int rc_shared, rc_excl;
	bool fast;
	sem_t granted;
	atomic_bool got;
};

static void drain_granted(struct sbc_range *r)
{
	struct drain_case *d = r->arg;
	atomic_store(&d->got, true);
	sem_post(&d->granted);
}

static void drain_take_shared(struct sh_call *call)
{
	struct drain_case *d = call->arg;
	d->rc_shared = sbc_range_lock(g_lu0, &d->shared, 9000, 4, false, drain_granted, d);
	d->fast = d->shared.fast;
	sem_post(&call->done);
}

static void drain_take_excl(struct sh_call *call)
{
	struct drain_case *d = call->arg;
	d->rc_excl = sbc_range_lock(g_lu0, &d->excl, 20000, 4, true, drain_granted, d);
	if (d->rc_excl == 0)
		drain_granted(&d->excl);
	sem_post(&call->done);
}

static void drain_release_shared(struct sh_call *call)
{
	struct drain_case *d = call->arg;
	sbc_range_unlock(&d->shared);
	sem_post(&call->done);
}

static void drain_release_excl(struct sh_call *call)
{
	struct drain_case *d = call->arg;
	sbc_range_unlock(&d->excl);
	sem_post(&call->done);
}

static void test_range_lock_drain(void **state)
{
	(void)state;
	struct drain_case d;
	memset(&d, 0, sizeof(d));
	sem_init(&d.granted, 0, 0);
	assert_int_equal(sh_run(1, drain_take_shared, &d), 0);
	assert_int_equal(d.rc_shared, 0);
	assert_true(d.fast);
	assert_int_equal(sh_run(0, drain_take_excl, &d), 0);
	assert_int_equal(d.rc_excl, 1);
	usleep(20000);
	assert_false(atomic_load(&d.got));
	assert_int_equal(sh_run(1, drain_release_shared, &d), 0);
	assert_int_equal(sh_wait(&d.granted), 0);
	assert_true(atomic_load(&d.got));
	assert_int_equal(sh_run(0, drain_release_excl, &d), 0);
	struct sbc_lu_state *st = sbc_state(g_lu0);
	assert_int_equal(atomic_load(&st->excl_active), 0);
	assert_int_equal(sbc_fast_writers(st), 0);
	sem_destroy(&d.granted);
}

/* Two reactors increment one block as a counter with READ + COMPARE AND
 * WRITE(cur -> cur+1), retrying on MISCOMPARE. If CAW were not atomic two
 * racers could both succeed from the same value and an increment would be
 * lost: the final value must equal the number of successful CAWs. */
#define RACE_INCS 100u

struct race {
	struct sh_call *call;
	unsigned done_incs, miscompares, other;
	bool reading;
	uint8_t cur;
	struct scsi_task task;
	struct iovec iov;
	uint8_t data[2 * BS];
};

static void race_next(struct race *rc);

static void race_done(struct scsi_task *t)
{
	struct race *rc = container_of(t, struct race, task);
	uint8_t k = 0, a = 0, q = 0;
	if (rc->reading) {
		if (t->status == SCSI_STATUS_GOOD)
			rc->cur = rc->data[0];
		else
			rc->other++;
		rc->reading = false;
	} else {
		if (t->status == SCSI_STATUS_GOOD)
			rc->done_incs++;
		else if (t->status == SCSI_STATUS_CHECK_CONDITION && (sh_sense(t, &k, &a, &q), k == SK_MISCOMPARE))
			rc->miscompares++;
		else
			rc->other++;
		rc->reading = true;
	}
	race_next(rc);
}

static void race_next(struct race *rc)
{
	if (rc->done_incs == RACE_INCS || rc->other) {
		sem_post(&rc->call->done);
		return;
	}
	struct scsi_task *t = &rc->task;
	memset(t, 0, sizeof(*t));
	t->nexus = g_nx;
	t->lun = 0;
	t->done = race_done;
	t->iov = &rc->iov;
	t->iovcnt = 1;
	rc->iov.iov_base = rc->data;
	put_be64(t->cdb + 2, 3000);
	t->cdb_len = 16;
	if (rc->reading) {
		t->cdb[0] = 0x88;
		put_be32(t->cdb + 10, 1);
		t->dir = SCSI_DIR_READ;
		t->exp_xfer_len = BS;
		rc->iov.iov_len = BS;
	} else {
		memset(rc->data, rc->cur, BS);
		memset(rc->data + BS, (uint8_t)(rc->cur + 1), BS);
		t->cdb[0] = 0x89;
		t->cdb[13] = 1;
		t->dir = SCSI_DIR_WRITE;
		t->exp_xfer_len = t->data_out_len = 2 * BS;
		rc->iov.iov_len = 2 * BS;
	}
	scsi_task_submit(t);
}

static void race_start(struct sh_call *call)
{
	struct race *rc = call->arg;
	rc->call = call;
	rc->reading = true;
	race_next(rc);
}

struct race_thread {
	struct race *rc;
	unsigned idx;
};

static void *race_thread_fn(void *arg)
{
	struct race_thread *rt = arg;
	sh_run(rt->idx, race_start, rt->rc);
	return NULL;
}

static void test_caw_race(void **state)
{
	(void)state;
	uint8_t z[BS];
	memset(z, 0, sizeof(z));
	assert_int_equal(rw16(true, 3000, 1, z), SCSI_STATUS_GOOD);
	struct race *r0 = calloc(1, sizeof(*r0)), *r1 = calloc(1, sizeof(*r1));
	pthread_t th[2];
	struct race_thread a0 = { r0, 0 }, a1 = { r1, 1 };
	pthread_create(&th[0], NULL, race_thread_fn, &a0);
	pthread_create(&th[1], NULL, race_thread_fn, &a1);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	assert_int_equal(r0->other + r1->other, 0);
	assert_int_equal(r0->done_incs, RACE_INCS);
	assert_int_equal(r1->done_incs, RACE_INCS);
	uint8_t rd[BS];
	assert_int_equal(rw16(false, 3000, 1, rd), SCSI_STATUS_GOOD);
	for (unsigned i = 0; i < BS; i++)
		assert_int_equal(rd[i], (uint8_t)(2 * RACE_INCS));
	free(r0);
	free(r1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_lock),
		cmocka_unit_test(test_range_lock_drain),
		cmocka_unit_test(test_caw_race),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

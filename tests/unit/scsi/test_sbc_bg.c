/* test_sbc_bg.c - work that outlives its task: SANITIZE pacing, an aborted SANITIZE going on, scsi_target_quiesce. */
#include <unistd.h>

#include "test_sbc_harness.h"

/* LUN 0: 4 MiB of RAM, sanitize at 8 MiB/s; LUN 1: 4 MiB, sanitize at 1 MiB/s (4 s);
 * LUN 2: 4 MiB, no sanitize limit */
enum { LUN_PACED = 0, LUN_CRAWL = 1, LUN_FREE = 2 };
#define LU_BYTES (4u << 20)

static struct scsi_target *g_tg;
static struct blk_dev *g_dev[3];
static struct scsi_nexus *g_nx;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void clear_ua(uint64_t lun)
{
	uint8_t cdb[6] = { 0 };
	struct scsi_task r;
	for (int i = 0; i < 8; i++)
		if (sh_exec(g_nx, lun, cdb, 6, SCSI_DIR_NONE, NULL, 0, 0, &r) == SCSI_STATUS_GOOD)
			return;
	fail_msg("unit attentions never cleared");
}

static int setup(void **state)
{
	(void)state;
	if (sh_start(1))
		return -1;
	if (scsi_target_create("iqn.2024-01.test:bg", 1, &g_tg))
		return -1;
	static const uint32_t rate[3] = { 8, 1, UINT32_MAX };
	for (unsigned i = 0; i < 3; i++) {
		struct scsi_lu_opts o = { .name = i == 0 ? "paced" : i == 1 ? "crawl" : "free", .sanitize_mib_s = rate[i] };
		if (blk_malloc_create(o.name, LU_BYTES, 512, &g_dev[i]) || scsi_lu_create(g_tg, i, g_dev[i], &o, NULL))
			return -1;
	}
	if (scsi_nexus_create(g_tg, "iqn.2024-01.test:init,i,0x000000000007", &g_nx))
		return -1;
	for (unsigned i = 0; i < 3; i++)
		clear_ua(i);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	scsi_nexus_destroy(g_nx);
	scsi_target_destroy(g_tg);
	sh_stop();
	for (unsigned i = 0; i < 3; i++)
		blk_destroy(g_dev[i]);
	return 0;
}

static const uint8_t g_pattern[5] = { 0x01, 0, 0, 1, 0xc3 }; /* OVERWRITE, 1 pass, pattern C3h */

static uint8_t sanitize(uint64_t lun, uint8_t b1, struct scsi_task *r)
{
	uint8_t cdb[10] = { 0x48, b1 };
	put_be16(cdb + 7, sizeof(g_pattern));
	return sh_exec(g_nx, lun, cdb, 10, SCSI_DIR_WRITE, (void *)g_pattern, sizeof(g_pattern), sizeof(g_pattern), r);
}

static uint8_t tur(uint64_t lun, struct scsi_task *r)
{
	uint8_t cdb[6] = { 0 };
	return sh_exec(g_nx, lun, cdb, 6, SCSI_DIR_NONE, NULL, 0, 0, r);
}

static uint8_t read_first(uint64_t lun, uint8_t *b512, struct scsi_task *r)
{
	uint8_t cdb[16] = { 0x88 };
	put_be32(cdb + 10, 1);
	return sh_exec(g_nx, lun, cdb, 16, SCSI_DIR_READ, b512, 512, 0, r);
}

static void wait_idle(uint64_t lun)
{
	struct scsi_task r;
	for (int i = 0; i < 3000; i++) {
		if (tur(lun, &r) == SCSI_STATUS_GOOD)
			return;
		usleep(10000);
	}
	fail_msg("sanitize never ended");
}

/* The overwrite is paced: 4 MiB at 8 MiB/s goes down as 1 MiB chunks no
 * faster than one per 125 ms; without a limit it is done much sooner. */
static void test_sanitize_paced(void **state)
{
	(void)state;
	struct scsi_task r;
	uint8_t b[512];
	double t0 = now_s();
	assert_int_equal(sanitize(LUN_PACED, 0x01, &r), SCSI_STATUS_GOOD);
	double paced = now_s() - t0;
	assert_true(paced >= 0.37);
	assert_true(paced < 20.0);
	assert_int_equal(read_first(LUN_PACED, b, &r), SCSI_STATUS_GOOD);
	assert_int_equal(b[0], 0xc3);
	assert_int_equal(b[511], 0xc3);

	t0 = now_s();
	assert_int_equal(sanitize(LUN_FREE, 0x01, &r), SCSI_STATUS_GOOD);
	assert_true(now_s() - t0 < paced);
	assert_int_equal(read_first(LUN_FREE, b, &r), SCSI_STATUS_GOOD);
	assert_int_equal(b[100], 0xc3);
	assert_false(scsi_target_busy(g_tg));
}

/* ---- a SANITIZE without IMMED, submitted and then aborted by the "transport" ---- */

struct async_cmd {
	struct scsi_task task;
	struct iovec iov;
	uint8_t pl[sizeof(g_pattern)];
	sem_t done;
};

static void async_done(struct scsi_task *t)
{
	struct async_cmd *a = container_of(t, struct async_cmd, task);
	sem_post(&a->done);
}

static void async_submit(struct sh_call *c)
{
	struct async_cmd *a = c->arg;
	scsi_task_submit(&a->task);
	sem_post(&c->done);
}

static void async_abort(struct sh_call *c)
{
	struct async_cmd *a = c->arg;
	scsi_task_abort(&a->task);
	sem_post(&c->done);
}

static struct async_cmd *sanitize_async(uint64_t lun)
{
	struct async_cmd *a = calloc(1, sizeof(*a));
	assert_non_null(a);
	sem_init(&a->done, 0, 0);
	memcpy(a->pl, g_pattern, sizeof(g_pattern));
	a->iov.iov_base = a->pl;
	a->iov.iov_len = sizeof(a->pl);
	struct scsi_task *t = &a->task;
	t->nexus = g_nx;
	t->lun = lun;
	t->cdb[0] = 0x48;
	t->cdb[1] = 0x01;
	put_be16(t->cdb + 7, sizeof(a->pl));
	t->cdb_len = 10;
	t->dir = SCSI_DIR_WRITE;
	t->exp_xfer_len = t->data_out_len = sizeof(a->pl);
	t->iov = &a->iov;
	t->iovcnt = 1;
	t->done = async_done;
	assert_int_equal(sh_run(0, async_submit, a), 0);
	return a;
}

static int timed_wait(sem_t *s, double seconds)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long ns = ts.tv_nsec + (long)((seconds - (long)seconds) * 1e9);
	ts.tv_sec += (long)seconds + ns / 1000000000L;
	ts.tv_nsec = ns % 1000000000L;
	while (sem_timedwait(s, &ts) != 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* ABORT TASK of a running SANITIZE: the command ends with TASK ABORTED at
 * the next chunk, the sanitize operation goes on (SBC: it survives task
 * management) and the LU stays NOT READY, SANITIZE IN PROGRESS. */
static void test_sanitize_abort_goes_on(void **state)
{
	(void)state;
	struct scsi_task r;
	struct async_cmd *a = sanitize_async(LUN_PACED);
	usleep(50000);
	assert_int_equal(sem_trywait(&a->done), -1); /* still running: 4 MiB at 8 MiB/s */
	assert_int_equal(sh_run(0, async_abort, a), 0);
	assert_int_equal(timed_wait(&a->done, 2.0), 0);
	assert_int_equal(a->task.status, SCSI_STATUS_TASK_ABORTED);
	assert_true(scsi_target_busy(g_tg));
	tur(LUN_PACED, &r);
	sh_expect_sense(&r, SK_NOT_READY, 0x04, 0x1b);
	wait_idle(LUN_PACED);
	assert_false(scsi_target_busy(g_tg));
	sem_destroy(&a->done);
	free(a);
}

/* ---- scsi_target_quiesce ---- */

struct quiesce_wait {
	sem_t done;
	int rc;
	double at;
};

static void quiesced(void *arg)
{
	struct quiesce_wait *q = arg;
	q->at = now_s();
	sem_post(&q->done);
}

static void start_quiesce(struct sh_call *c)
{
	struct quiesce_wait *q = c->arg;
	q->rc = scsi_target_quiesce(g_tg, quiesced, q);
	sem_post(&c->done);
}

/* Quiesce interrupts a long SANITIZE between chunks (it ends as failed),
 * answers once nothing runs, and afterwards nothing outlives its task. */
static void test_quiesce(void **state)
{
	(void)state;
	struct scsi_task r;
	uint8_t b[512];
	/* 4 MiB at 1 MiB/s: about 4 s if left alone */
	assert_int_equal(sanitize(LUN_CRAWL, 0x80 | 0x01, &r), SCSI_STATUS_GOOD);
	assert_true(scsi_target_busy(g_tg));
	struct quiesce_wait q = { .rc = 1 };
	sem_init(&q.done, 0, 0);
	double t0 = now_s();
	assert_int_equal(sh_run(0, start_quiesce, &q), 0);
	assert_int_equal(q.rc, 0);
	assert_int_equal(timed_wait(&q.done, 3.0), 0);
	assert_true(q.at - t0 < 2.0);
	assert_false(scsi_target_busy(g_tg));
	/* the interrupted sanitize failed: medium access refused */
	read_first(LUN_CRAWL, b, &r);
	sh_expect_sense(&r, SK_MEDIUM_ERROR, 0x31, 0x03);
	/* SYNCHRONIZE CACHE with IMMED answers after its flush */
	uint8_t sc[10] = { 0x35, 0x02 };
	assert_int_equal(sh_exec(g_nx, LUN_FREE, sc, 10, SCSI_DIR_NONE, NULL, 0, 0, &r), SCSI_STATUS_GOOD);
	assert_false(scsi_target_busy(g_tg));
	/* a new SANITIZE stops at once (IMMED or not) and nothing keeps running */
	sanitize(LUN_FREE, 0x01, &r);
	sh_expect_sense(&r, SK_MEDIUM_ERROR, 0x31, 0x03);
	assert_int_equal(sanitize(LUN_PACED, 0x80 | 0x01, &r), SCSI_STATUS_GOOD);
	assert_false(scsi_target_busy(g_tg));
	/* quiesce with nothing running answers too (later, never inline) */
	struct quiesce_wait q2 = { .rc = 1 };
	sem_init(&q2.done, 0, 0);
	assert_int_equal(sh_run(0, start_quiesce, &q2), 0);
	assert_int_equal(q2.rc, 0);
	assert_int_equal(timed_wait(&q2.done, 3.0), 0);
	sem_destroy(&q.done);
	sem_destroy(&q2.done);
	/* off a reactor: refused */
	assert_int_equal(scsi_target_quiesce(g_tg, quiesced, &q2), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize_paced),
		cmocka_unit_test(test_sanitize_abort_goes_on),
		cmocka_unit_test(test_quiesce),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

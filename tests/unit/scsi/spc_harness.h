/* spc_harness.h - test helper for the SCSI layer: reactors on a thread, a target with malloc LUs, blocking command execution. */
#ifndef SOFTHBA_TESTS_SPC_HARNESS_H
#define SOFTHBA_TESTS_SPC_HARNESS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blk/blk.h"
#include "core/reactor.h"
#include "core/util.h"
#include "scsi/scsi_internal.h"

#define S_FN static __attribute__((unused))
#define S_WAIT_S 30

struct s_reactors {
	pthread_t th;
	sem_t ready;
	int rc;
};
static struct s_reactors g_sr;

S_FN void *s_thread(void *arg)
{
	(void)arg;
	g_sr.rc = reactors_init(1);
	sem_post(&g_sr.ready);
	if (g_sr.rc)
		return NULL;
	reactors_run();
	reactors_fini();
	return NULL;
}

S_FN int s_wait(sem_t *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += S_WAIT_S;
	while (sem_timedwait(s, &ts) != 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

S_FN int s_reactors_start(void)
{
	sem_init(&g_sr.ready, 0, 0);
	if (pthread_create(&g_sr.th, NULL, s_thread, NULL))
		return -EAGAIN;
	s_wait(&g_sr.ready);
	sem_destroy(&g_sr.ready);
	if (g_sr.rc)
		pthread_join(g_sr.th, NULL);
	return g_sr.rc;
}

S_FN void s_reactors_stop(void)
{
	reactors_stop();
	pthread_join(g_sr.th, NULL);
}

/* ---- a target with LUs ---- */

struct s_env {
	struct scsi_target *tgt;
	struct blk_dev *dev[4];
	struct scsi_lu *lu[4];
	unsigned nlu;
	struct scsi_nexus *n1, *n2;
};

#define S_PORT1 "iqn.2024-01.org.test:host1,i,0x23d000000001"
#define S_PORT2 "iqn.2024-01.org.test:host2,i,0x23d000000002"

/* Add LUN lun: a malloc device of nblocks x 512; volatile cache as asked. */
S_FN struct scsi_lu *s_add_lu(struct s_env *e, uint64_t lun, uint64_t nblocks, bool volatile_cache,
			      const struct scsi_lu_opts *opts)
{
	struct blk_dev *dev;
	struct scsi_lu *lu;

	assert_int_equal(blk_malloc_create("mem", nblocks * 512, 512, &dev), 0);
	dev->info.volatile_cache = volatile_cache;
	assert_int_equal(scsi_lu_create(e->tgt, lun, dev, opts, &lu), 0);
	e->dev[e->nlu] = dev;
	e->lu[e->nlu++] = lu;
	return lu;
}

S_FN void s_env_init(struct s_env *e, const struct scsi_lu_opts *opts)
{
	memset(e, 0, sizeof(*e));
	assert_int_equal(scsi_target_create("iqn.2024-01.org.softhba:tgt", 1, &e->tgt), 0);
	s_add_lu(e, 0, 2048, true, opts);
	assert_int_equal(scsi_nexus_create(e->tgt, S_PORT1, &e->n1), 0);
	assert_int_equal(scsi_nexus_create(e->tgt, S_PORT2, &e->n2), 0);
}

S_FN void s_env_fini(struct s_env *e)
{
	scsi_target_destroy(e->tgt);
	for (unsigned i = 0; i < e->nlu; i++)
		blk_destroy(e->dev[i]);
}

/* ---- blocking execution ---- */

struct s_cmd {
	struct scsi_task t;
	struct iovec iov;
	sem_t done;
	int done_calls;
};

static void s_done(struct scsi_task *t)
{
	struct s_cmd *c = container_of(t, struct s_cmd, t);
	c->done_calls++;
	sem_post(&c->done);
}

static void s_submit_msg(void *arg)
{
	struct s_cmd *c = arg;
	scsi_task_submit(&c->t);
}

/* Run one command on reactor 0. dir READ: buf receives up to len bytes;
 * dir WRITE: buf holds len bytes of data-out. Returns the SAM status. */
S_FN int s_exec(struct s_cmd *c, struct scsi_nexus *n, uint64_t lun, const uint8_t *cdb, uint8_t cdb_len,
		enum scsi_dir dir, void *buf, uint32_t len)
{
	memset(c, 0, sizeof(*c));
	sem_init(&c->done, 0, 0);
	c->t.nexus = n;
	c->t.lun = lun;
	memcpy(c->t.cdb, cdb, cdb_len);
	c->t.cdb_len = 16 > cdb_len ? 16 : cdb_len;
	c->t.dir = dir;
	c->t.exp_xfer_len = dir == SCSI_DIR_NONE ? 0 : len;
	c->iov.iov_base = buf;
	c->iov.iov_len = len;
	c->t.iov = &c->iov;
	c->t.iovcnt = 1;
	c->t.data_out_len = dir == SCSI_DIR_WRITE ? len : 0;
	c->t.done = s_done;
	assert_int_equal(reactor_send_msg(reactor_get(0), s_submit_msg, c), 0);
	assert_int_equal(s_wait(&c->done), 0);
	sem_destroy(&c->done);
	assert_int_equal(c->done_calls, 1);
	return c->t.status;
}

/* Sense key / ASC / ASCQ of a finished command (fixed or descriptor format). */
S_FN void s_sense(const struct scsi_task *t, uint8_t *key, uint8_t *asc, uint8_t *ascq)
{
	if ((t->sense[0] & 0x7f) >= 0x72) {
		*key = t->sense[1] & 0x0f;
		*asc = t->sense[2];
		*ascq = t->sense[3];
	} else {
		*key = t->sense[2] & 0x0f;
		*asc = t->sense[12];
		*ascq = t->sense[13];
	}
}

/* Assert CHECK CONDITION with key/asc/ascq. */
#define assert_sense(c, k, a, q)                                              \
	do {                                                                  \
		uint8_t k_, a_, q_;                                           \
		assert_int_equal((c)->t.status, SCSI_STATUS_CHECK_CONDITION); \
		s_sense(&(c)->t, &k_, &a_, &q_);                              \
		assert_int_equal(k_, (k));                                    \
		assert_int_equal(a_, (a));                                    \
		assert_int_equal(q_, (q));                                    \
	} while (0)

static const uint8_t s_tur[6] = { 0x00 };

/* Send TEST UNIT READY until it stops reporting unit attentions (bounded). */
S_FN void s_clear_ua(struct scsi_nexus *n, uint64_t lun)
{
	struct s_cmd c;
	for (int i = 0; i < 16; i++) {
		if (s_exec(&c, n, lun, s_tur, 6, SCSI_DIR_NONE, NULL, 0) == SCSI_STATUS_GOOD)
			return;
		assert_int_equal(c.t.sense[2] & 0x0f, SK_UNIT_ATTENTION);
	}
	fail_msg("unit attentions never cleared");
}

#endif

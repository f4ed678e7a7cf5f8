/* test_sbc_harness.h - test helper for the SBC tests: reactors on a thread, a target with LUs, blocking SCSI commands. */
#ifndef SOFTHBA_TESTS_SBC_HARNESS_H
#define SOFTHBA_TESTS_SBC_HARNESS_H

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
#include "scsi/sbc_int.h"

/*
 * reactors_init() and reactors_run() run on one harness thread; the test
 * thread posts work to a reactor with reactor_send_msg() and waits on a
 * semaphore, every wait bounded by SH_WAIT_S.
 */
#define SH_WAIT_S 60
#define SH_FN static __attribute__((unused))

static pthread_t sh_th;
static sem_t sh_ready;
static unsigned sh_n;
static int sh_rc;

SH_FN void *sh_thread(void *arg)
{
	(void)arg;
	sh_rc = reactors_init(sh_n);
	sem_post(&sh_ready);
	if (sh_rc)
		return NULL;
	reactors_run();
	reactors_fini();
	return NULL;
}

SH_FN int sh_wait(sem_t *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += SH_WAIT_S;
	while (sem_timedwait(s, &ts) != 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

SH_FN int sh_start(unsigned n)
{
	sh_n = n;
	sem_init(&sh_ready, 0, 0);
	if (pthread_create(&sh_th, NULL, sh_thread, NULL))
		return -EAGAIN;
	sh_wait(&sh_ready);
	sem_destroy(&sh_ready);
	if (sh_rc)
		pthread_join(sh_th, NULL);
	return sh_rc;
}

SH_FN void sh_stop(void)
{
	reactors_stop();
	pthread_join(sh_th, NULL);
}

struct sh_call {
	void (*fn)(struct sh_call *c);
	void *arg;
	sem_t done;
};

SH_FN void sh_call_msg(void *arg)
{
	struct sh_call *c = arg;
	c->fn(c);
}

/* Run fn on reactor idx and wait until it (or a callback) posts c->done. */
SH_FN int sh_run(unsigned idx, void (*fn)(struct sh_call *c), void *arg)
{
	struct sh_call c = { .fn = fn, .arg = arg };
	sem_init(&c.done, 0, 0);
	int rc = reactor_send_msg(reactor_get(idx), sh_call_msg, &c);
	if (rc == 0)
		rc = sh_wait(&c.done);
	sem_destroy(&c.done);
	return rc;
}

/* ---- one SCSI command ---- */

struct sh_cmd {
	struct scsi_task task;
	struct sh_call *call;
	struct iovec iov[3];
	bool in_submit;
	bool reentrant;
	int calls;
	const struct reactor *submitter;
	bool wrong_reactor;
};

SH_FN void sh_cmd_done(struct scsi_task *t)
{
	struct sh_cmd *c = container_of(t, struct sh_cmd, task);
	if (c->in_submit)
		c->reentrant = true;
	if (reactor_self() != c->submitter)
		c->wrong_reactor = true;
	c->calls++;
	sem_post(&c->call->done);
}

SH_FN void sh_cmd_start(struct sh_call *call)
{
	struct sh_cmd *c = call->arg;
	c->call = call;
	c->submitter = reactor_self();
	c->in_submit = true;
	scsi_task_submit(&c->task);
	c->in_submit = false;
}

/* Execute cdb on nexus/lun. buf holds data-out (out_len bytes) or receives
 * data-in (room for exp bytes). The buffer is split into up to three iovec
 * entries to exercise scatter-gather. Returns the SCSI status. */
SH_FN uint8_t sh_exec(struct scsi_nexus *nx, uint64_t lun, const uint8_t *cdb, uint8_t cdb_len, enum scsi_dir dir,
		      void *buf, uint32_t exp, uint32_t out_len, struct scsi_task *res)
{
	struct sh_cmd *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	struct scsi_task *t = &c->task;
	t->nexus = nx;
	t->lun = lun;
	memcpy(t->cdb, cdb, cdb_len);
	t->cdb_len = cdb_len;
	t->dir = dir;
	t->exp_xfer_len = exp;
	t->data_out_len = out_len;
	t->done = sh_cmd_done;
	/* three pieces: 1/3, 1/3, rest (a 0-length piece is fine) */
	uint8_t *p = buf;
	size_t a = exp / 3, b = exp / 3;
	c->iov[0].iov_base = p;
	c->iov[0].iov_len = a;
	c->iov[1].iov_base = p + a;
	c->iov[1].iov_len = b;
	c->iov[2].iov_base = p + a + b;
	c->iov[2].iov_len = exp - a - b;
	t->iov = c->iov;
	t->iovcnt = 3;
	assert_int_equal(sh_run(0, sh_cmd_start, c), 0);
	assert_false(c->reentrant);
	assert_false(c->wrong_reactor);
	assert_int_equal(c->calls, 1);
	uint8_t st = t->status;
	if (res)
		*res = *t;
	free(c);
	return st;
}

/* Sense key / ASC / ASCQ of a completed task, fixed or descriptor format. */
SH_FN void sh_sense(const struct scsi_task *t, uint8_t *key, uint8_t *asc, uint8_t *ascq)
{
	const uint8_t *s = t->sense;
	if ((s[0] & 0x7f) >= 0x72) {
		*key = s[1] & 0xf;
		*asc = s[2];
		*ascq = s[3];
	} else {
		*key = s[2] & 0xf;
		*asc = s[12];
		*ascq = s[13];
	}
}

/* INFORMATION field (valid flag returned). */
SH_FN bool sh_sense_info(const struct scsi_task *t, uint64_t *info)
{
	const uint8_t *s = t->sense;
	if ((s[0] & 0x7f) >= 0x72) {
		for (unsigned off = 8; off + 1 < t->sense_len; off += 2u + s[off + 1]) {
			if (s[off] == 0x00) {
				*info = get_be64(s + off + 4);
				return s[off + 2] & 0x80;
			}
		}
		return false;
	}
	*info = get_be32(s + 3);
	return s[0] & 0x80;
}

SH_FN void sh_expect_sense(const struct scsi_task *t, uint8_t key, uint8_t asc, uint8_t ascq)
{
	uint8_t k, a, q;
	assert_int_equal(t->status, SCSI_STATUS_CHECK_CONDITION);
	sh_sense(t, &k, &a, &q);
	assert_int_equal(k, key);
	assert_int_equal(a, asc);
	assert_int_equal(q, ascq);
}

#endif

/* test_raidvol_throttle.c - RAID members with "throttle": the device stack (leaf, throttle, fault wrapper) and that writes really pay the cap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blk/blk.h"
#include "blk/raid/raid.h"
#include "core/config.h"
#include "core/reactor.h"
#include "core/util.h"
#include "mgmt/raidvol.h"

#define CAP_BPS (8u << 20)        /* the members' bandwidth */
#define WRITE_BYTES (1u << 20)    /* at CAP_BPS: 125 ms on each member */

struct scen {
	struct softhba_config *cfg;
	struct raidvol *rv;
	int status;
	char msg[1024];
	bool done;
	struct blk_io io;
	struct iovec iov;
	uint8_t *buf;
	uint64_t t0;
	uint64_t array_write_ns;  /* one WRITE_BYTES write through the array */
	uint64_t fresh_write_ns;  /* one WRITE_BYTES write through a fresh fault wrapper */
	struct blk_dev *fresh;
	void (*next)(struct scen *s);
};

static struct scen S;

static void finish(struct scen *s)
{
	s->done = true;
	reactors_stop();
}

static void on_cb(void *arg, int status, const char *msg)
{
	struct scen *s = arg;
	s->status = status;
	snprintf(s->msg, sizeof(s->msg), "%s", msg ? msg : "");
	void (*n)(struct scen *) = s->next;
	s->next = NULL;
	n(s);
}

static void start_step(void *arg)
{
	struct scen *s = arg;
	char err[512] = "";
	int rc = raidvol_start(s->rv, on_cb, s, err, sizeof(err));
	if (rc) {
		s->status = rc;
		snprintf(s->msg, sizeof(s->msg), "%s", err);
		finish(s);
	}
}

static void stopped(struct scen *s)
{
	finish(s);
}

static void fresh_written(struct blk_io *io, int status)
{
	struct scen *s = io->cb_arg;
	assert_int_equal(status, 0);
	s->fresh_write_ns = now_ns() - s->t0;
	blk_destroy(s->fresh); /* never adopted: the member keeps its own wrapper */
	s->fresh = NULL;
	s->next = stopped;
	if (raidvol_stop(s->rv, on_cb, s) != 0)
		finish(s);
}

static void array_written(struct blk_io *io, int status)
{
	struct scen *s = io->cb_arg;
	assert_int_equal(status, 0);
	s->array_write_ns = now_ns() - s->t0;

	/* the wrapper a member comes back through after a failure sits on the throttle, not on the bare leaf */
	struct raidvol_dev *m1 = raidvol_find(s->rv, "r.m1");
	assert_non_null(m1);
	assert_int_equal(raidvol_fresh_dev(m1, &s->fresh), 0);
	blk_io_prep(&s->io, s->fresh, BLK_OP_WRITE, 16384, WRITE_BYTES / 512, &s->iov, 1, fresh_written, s);
	s->t0 = now_ns();
	assert_int_equal(blk_submit(s->fresh, &s->io), 0);
}

static void started(struct scen *s)
{
	assert_int_equal(s->status, 0);
	assert_true(s->rv->created);
	s->buf = malloc(WRITE_BYTES);
	assert_non_null(s->buf);
	memset(s->buf, 0x5a, WRITE_BYTES);
	s->iov = (struct iovec){ s->buf, WRITE_BYTES };
	blk_io_prep(&s->io, s->rv->array, BLK_OP_WRITE, 0, WRITE_BYTES / 512, &s->iov, 1, array_written, s);
	s->t0 = now_ns();
	assert_int_equal(blk_submit(s->rv->array, &s->io), 0);
}

static void test_throttled_members(void **state)
{
	(void)state;
	char text[2048], err[512] = "";
	memset(&S, 0, sizeof(S));
	snprintf(text, sizeof(text),
		 "{\"volumes\": [{\"name\": \"r\", \"backend\": \"raid\", \"level\": 1, \"members\": ["
		 "{\"backend\": \"malloc\", \"size\": \"16MiB\", \"throttle\": {\"bandwidth\": %u, \"latency_us\": 200}},"
		 "{\"backend\": \"malloc\", \"size\": \"16MiB\", \"inject\": {}, \"throttle\": {\"bandwidth\": %u}}]}],"
		 " \"iscsi\": {\"portals\": [\"127.0.0.1:0\"], \"targets\": []}}", CAP_BPS, CAP_BPS);
	assert_int_equal(config_load_string(text, &S.cfg, err, sizeof(err)), 0);
	assert_int_equal(raidvol_open(&S.cfg->volumes[0], &S.rv, err, sizeof(err)), 0);

	/* r.m0: leaf "r.m0.base" under the throttle "r.m0", which the array uses */
	struct raidvol_dev *m0 = S.rv->devs[0], *m1 = S.rv->devs[1];
	assert_non_null(m0->disk);
	assert_null(m0->wrap);
	assert_ptr_equal(m0->dev, m0->disk);
	assert_string_equal(m0->disk->name, "r.m0");
	assert_string_equal(m0->base->name, "r.m0.base");
	assert_int_equal(m0->disk->info.num_blocks, m0->base->info.num_blocks);
	/* r.m1: leaf, throttle "r.m1.disk", fault wrapper "r.m1" on top */
	assert_non_null(m1->disk);
	assert_non_null(m1->wrap);
	assert_ptr_equal(m1->dev, m1->wrap);
	assert_string_equal(m1->wrap->name, "r.m1");
	assert_string_equal(m1->disk->name, "r.m1.disk");
	assert_string_equal(m1->base->name, "r.m1.base");

	assert_int_equal(reactors_init(1), 0);
	S.next = started;
	assert_int_equal(reactor_send_msg(reactor_get(0), start_step, &S), 0);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_true(S.done);
	assert_int_equal(S.status, 0);

	/* 1 MiB at 8 MiB/s is 125 ms on each mirror; without the throttle it is well under 10 ms */
	uint64_t floor_ns = (uint64_t)WRITE_BYTES * 1000000000u / CAP_BPS * 9 / 10;
	if (S.array_write_ns < floor_ns || S.fresh_write_ns < floor_ns)
		print_error("array write %llu ns, fresh-wrapper write %llu ns, floor %llu ns\n",
			    (unsigned long long)S.array_write_ns, (unsigned long long)S.fresh_write_ns,
			    (unsigned long long)floor_ns);
	assert_true(S.array_write_ns >= floor_ns);
	assert_true(S.fresh_write_ns >= floor_ns);
	assert_true(S.array_write_ns < 20ull * 1000000000u); /* and it does finish */
	raidvol_free(S.rv);
	free(S.buf);
	config_free(S.cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_throttled_members),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_raidvol.c - unit tests of a configured RAID volume's run-time life: open, create/assemble, fault injection, refusals, stop. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "blk/blk.h"
#include "blk/raid/raid.h"
#include "core/config.h"
#include "core/reactor.h"
#include "mgmt/raidvol.h"

/* One scenario: the steps run on reactor 0, each one started by the previous one's completion. */
struct scen {
	struct softhba_config *cfg;
	struct raidvol *rv;
	int status;
	char msg[1024];
	bool done;
	struct blk_io io;
	struct iovec iov;
	uint8_t *buf;
	void (*next)(struct scen *s);
};

static struct scen S;

static void doc(const char *vol_json)
{
	char text[4096], err[512] = "";
	snprintf(text, sizeof(text),
		 "{\"volumes\": [%s], \"iscsi\": {\"portals\": [\"127.0.0.1:0\"], \"targets\": []}}", vol_json);
	int rc = config_load_string(text, &S.cfg, err, sizeof(err));
	if (rc)
		print_error("config: %s\n", err);
	assert_int_equal(rc, 0);
}

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

static void stop_then_finish(struct scen *s)
{
	s->next = finish;
	if (raidvol_stop(s->rv, on_cb, s) != 0)
		finish(s);
}

/* Run reactor 0 through the scenario that starts the volume and goes on with then. */
static void run_start(void (*then)(struct scen *s))
{
	assert_int_equal(reactors_init(1), 0);
	S.done = false;
	S.next = then;
	assert_int_equal(reactor_send_msg(reactor_get(0), start_step, &S), 0);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_true(S.done);
}

static struct raidvol_dev *dev_named(struct raidvol *rv, const char *name)
{
	struct raidvol_dev *d = raidvol_find(rv, name);
	assert_non_null(d);
	return d;
}

/* ---- RAID 1 over malloc members: create, a member fails under a write, stop ---- */

static void r1_written(struct blk_io *io, int status)
{
	struct scen *s = io->cb_arg;
	struct raid_info in;
	struct blk_error_stats st;
	assert_int_equal(status, 0); /* a mirror survives the member */
	assert_int_equal(raid_get_info(s->rv->array, &in), 0);
	assert_int_equal(in.state, RAID_ARRAY_DEGRADED);
	assert_int_equal(in.members[0].state, RAID_MEMBER_FAILED);
	assert_int_equal(in.members[1].state, RAID_MEMBER_ACTIVE);
	assert_int_equal(blk_error_get_stats(dev_named(s->rv, "r.m0")->wrap, &st), 0);
	assert_true(st.failed >= 1);
	stop_then_finish(s);
}

static void r1_started(struct scen *s)
{
	char err[256];
	struct raid_info in;
	assert_int_equal(s->status, 0);
	assert_true(s->rv->created);
	assert_non_null(strstr(s->msg, "created RAID 1 array 'r'"));
	assert_int_equal(raid_get_info(s->rv->array, &in), 0);
	assert_int_equal(in.state, RAID_ARRAY_OPTIMAL);
	assert_string_equal(in.members[0].name, "r.m0");
	assert_string_equal(in.members[1].name, "r.m1");

	struct raidvol_dev *m0 = dev_named(s->rv, "r.m0");
	struct cfg_inject f = { .mode = CFG_INJECT_FAIL_WRITES };
	assert_int_equal(raidvol_inject(m0, &f, err, sizeof(err)), 0);
	assert_int_equal(m0->faults.mode, CFG_INJECT_FAIL_WRITES);
	/* r.m1 has no wrapper: the error says how to get one */
	assert_int_equal(raidvol_inject(dev_named(s->rv, "r.m1"), &f, err, sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "add \"inject\": {} to it"));

	s->buf = calloc(1, 4096);
	assert_non_null(s->buf);
	memset(s->buf, 0xa5, 4096);
	s->iov = (struct iovec){ s->buf, 4096 };
	blk_io_prep(&s->io, s->rv->array, BLK_OP_WRITE, 0, 8, &s->iov, 1, r1_written, s);
	assert_int_equal(blk_submit(s->rv->array, &s->io), 0);
}

static void test_raid1_create_inject_stop(void **state)
{
	(void)state;
	char err[512];
	memset(&S, 0, sizeof(S));
	doc("{\"name\": \"r\", \"backend\": \"raid\", \"level\": 1, \"members\": ["
	    "{\"backend\": \"malloc\", \"size\": \"16MiB\", \"inject\": {}}, {\"backend\": \"malloc\", \"size\": \"16MiB\"}]}");
	assert_int_equal(raidvol_open(&S.cfg->volumes[0], &S.rv, err, sizeof(err)), 0);
	assert_int_equal(S.rv->n_devs, 2);
	assert_non_null(S.rv->devs[0]->wrap);
	assert_ptr_equal(S.rv->devs[0]->dev, S.rv->devs[0]->wrap);
	assert_null(S.rv->devs[1]->wrap);
	assert_true(S.rv->devs[0]->blank);
	run_start(r1_started);
	assert_int_equal(S.status, 0);
	assert_null(S.rv->array);
	raidvol_free(S.rv);
	free(S.buf);
	config_free(S.cfg);
}

/* ---- RAID 5 over files: a member whose superblock is gone is refused at the next start ---- */

static char g_dir[64];

static void r5_created(struct scen *s)
{
	assert_int_equal(s->status, 0);
	assert_true(s->rv->created);
	stop_then_finish(s);
}

static void r5_assembled(struct scen *s)
{
	struct raid_info in;
	char err[300];
	assert_int_equal(s->status, 0);
	assert_false(s->rv->created);
	assert_int_equal(raid_get_info(s->rv->array, &in), 0);
	assert_int_equal(in.members[1].state, RAID_MEMBER_MISSING);
	struct raidvol_dev *m1 = dev_named(s->rv, "r.m1");
	assert_false(m1->had_superblock);
	assert_non_null(strstr(m1->refused, "no softhba superblock"));
	assert_null(strstr(m1->refused, ";")); /* only its own reason */
	assert_string_equal(dev_named(s->rv, "r.m0")->refused, "");
	/* a blank device of an assembled array is offered as a spare: a rebuild onto it may already run */
	assert_non_null(strstr(m1->note, "no superblock"));

	/* run-time devices: a path already used, another block size */
	struct cfg_member m = { .backend = CFG_BACKEND_FILE, .block_size = 512, .size = 16 << 20 };
	struct raidvol_dev *nd;
	m.path = m1->path;
	assert_int_equal(raidvol_add_dev(s->rv, &m, &nd, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "is already a device of volume \"r\" (r.m1)"));
	m.path = "/nonexistent-dir-softhba/x.img";
	m.block_size = 4096;
	assert_int_equal(raidvol_add_dev(s->rv, &m, &nd, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "set \"block_size\": 512"));
	m.block_size = 512;
	assert_int_equal(raidvol_add_dev(s->rv, &m, &nd, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "its directory does not exist"));
	assert_int_equal(s->rv->n_devs, 3);
	stop_then_finish(s);
}

static void test_raid5_refuses_member_without_superblock(void **state)
{
	(void)state;
	char vol[1024], err[512], path[128];
	snprintf(g_dir, sizeof(g_dir), "/tmp/softhba-raidvol-XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	snprintf(vol, sizeof(vol),
		 "{\"name\": \"r\", \"backend\": \"raid\", \"level\": 5, \"members\": ["
		 "{\"backend\": \"file\", \"path\": \"%s/m0.img\", \"size\": \"16MiB\"},"
		 "{\"backend\": \"file\", \"path\": \"%s/m1.img\", \"size\": \"16MiB\"},"
		 "{\"backend\": \"file\", \"path\": \"%s/m2.img\", \"size\": \"16MiB\"}]}", g_dir, g_dir, g_dir);

	memset(&S, 0, sizeof(S));
	doc(vol);
	assert_int_equal(raidvol_open(&S.cfg->volumes[0], &S.rv, err, sizeof(err)), 0);
	run_start(r5_created);
	assert_int_equal(S.status, 0);
	raidvol_free(S.rv);
	config_free(S.cfg);

	/* member 1 loses its superblock (a new disk in its place) */
	snprintf(path, sizeof(path), "%s/m1.img", g_dir);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	static const uint8_t zero[4096];
	assert_int_equal(pwrite(fd, zero, sizeof(zero), 0), (ssize_t)sizeof(zero));
	close(fd);

	memset(&S, 0, sizeof(S));
	doc(vol);
	assert_int_equal(raidvol_open(&S.cfg->volumes[0], &S.rv, err, sizeof(err)), 0);
	assert_true(S.rv->devs[0]->had_superblock);
	assert_false(S.rv->devs[1]->had_superblock);
	run_start(r5_assembled);
	assert_int_equal(S.status, 0);
	raidvol_free(S.rv);
	config_free(S.cfg);
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/m%d.img", g_dir, i);
		unlink(path);
	}
	rmdir(g_dir);
}

/* ---- create "never" without superblocks: refused at once, with what to change ---- */

static void never_unreached(struct scen *s)
{
	(void)s;
	fail_msg("the start should have been refused at once");
}

static void test_create_never(void **state)
{
	(void)state;
	char err[512];
	memset(&S, 0, sizeof(S));
	doc("{\"name\": \"r\", \"backend\": \"raid\", \"level\": 1, \"create\": \"never\", \"members\": ["
	    "{\"backend\": \"malloc\", \"size\": \"16MiB\"}, {\"backend\": \"malloc\", \"size\": \"16MiB\"}]}");
	assert_int_equal(raidvol_open(&S.cfg->volumes[0], &S.rv, err, sizeof(err)), 0);
	run_start(never_unreached);
	assert_int_equal(S.status, -ENOENT);
	assert_non_null(strstr(S.msg, "no member has a softhba superblock and \"create\" is \"never\""));
	assert_null(S.rv->array);
	raidvol_free(S.rv);
	config_free(S.cfg);
}

static void test_open_failure_names_the_member(void **state)
{
	(void)state;
	char err[512];
	struct raidvol *rv = NULL;
	memset(&S, 0, sizeof(S));
	doc("{\"name\": \"r\", \"backend\": \"raid\", \"level\": 1, \"members\": ["
	    "{\"backend\": \"malloc\", \"size\": \"16MiB\"}, {\"backend\": \"file\", \"path\": \"/nonexistent-softhba/m1.img\"}]}");
	assert_int_equal(raidvol_open(&S.cfg->volumes[0], &rv, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "volume \"r\": members[1]: /nonexistent-softhba/m1.img does not exist; give the member a "
				 "\"size\" to create it");
	assert_null(rv);
	config_free(S.cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raid1_create_inject_stop),
		cmocka_unit_test(test_raid5_refuses_member_without_superblock),
		cmocka_unit_test(test_create_never),
		cmocka_unit_test(test_open_failure_names_the_member),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_raidvol_global.c - unit tests of the global hot spares: opened from the configuration, given to a degraded array or the engine's pool, taken on a failure, refused twice, freed. */
#include <errno.h>
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

static struct softhba_config *g_cfg;
static struct raidvol *g_rv;
static char g_dir[64];
static bool g_done;
static struct reactor_timer g_timer;
static unsigned g_polls;
static bool (*g_until)(void);      /* poll this every 10 ms (at most 10 s) ... */
static void (*g_then)(void);       /* ... then run this */

static void finish(void)
{
	g_done = true;
	reactors_stop();
}

static void poll_tick(struct reactor_timer *t)
{
	if (g_until()) {
		g_then();
		return;
	}
	if (++g_polls > 1000) {
		print_error("condition never held\n");
		finish();
		return;
	}
	reactor_timer_start(t, 10 * 1000 * 1000);
}

static void wait_then(bool (*until)(void), void (*then)(void))
{
	g_until = until;
	g_then = then;
	g_polls = 0;
	reactor_timer_start(&g_timer, 1000 * 1000);
}

static struct raid_info info(void)
{
	struct raid_info in;
	assert_int_equal(raid_get_info(g_rv->array, &in), 0);
	return in;
}

static void stopped(void *arg, int status, const char *msg)
{
	(void)arg;
	(void)msg;
	assert_int_equal(status, 0);
	finish();
}

/* ---- the steps ---- */

static void step_refusals(void)
{
	char err[300], path[128];
	struct raidvol_dev *d;
	struct raidvol *to = NULL;
	struct raidvol *vols[1] = { g_rv };
	/* a run-time global spare with a file already a global spare, and a volume's device for that file */
	snprintf(path, sizeof(path), "%s/g0.img", g_dir);
	struct cfg_member m = { .backend = CFG_BACKEND_FILE, .block_size = 512, .size = 16 << 20, .path = path };
	assert_int_equal(raidvol_global_add(&m, vols, 1, &d, &to, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "already in use (spare:1)"));
	assert_int_equal(raidvol_add_dev(g_rv, &m, &d, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "is already a global spare (spare:1)"));
	/* nothing degraded: a new one waits in the pool (fit is checked when an array takes it) */
	struct cfg_member small = { .backend = CFG_BACKEND_MALLOC, .block_size = 512, .size = 1 << 20 };
	assert_int_equal(raidvol_global_add(&small, vols, 1, &d, &to, err, sizeof(err)), 0);
	assert_null(to);
	assert_string_equal(d->name, "spare:2");
	assert_int_equal(d->origin, RAIDVOL_GLOBAL);
	assert_ptr_equal(raidvol_global_find("spare:2"), d);
	assert_int_equal(raid_global_spares(), 1);
	assert_int_equal(raidvol_stop(g_rv, stopped, NULL), 0);
}

static bool role1_rebuilt(void)
{
	struct raid_info in = info();
	return in.state == RAID_ARRAY_OPTIMAL && in.sync.kind == RAID_SYNC_NONE && strcmp(in.members[1].name, "spare:1") == 0;
}

static bool role0_rebuilt(void)
{
	struct raid_info in = info();
	return in.state == RAID_ARRAY_OPTIMAL && in.sync.kind == RAID_SYNC_NONE && strcmp(in.members[0].name, "spare:0") == 0;
}

static void step_second_failure(void)
{
	/* spare:0 went to the degraded array directly; spare:1 waited in the pool for the next failure */
	assert_int_equal(raid_global_spares(), 1);
	assert_non_null(strstr(raidvol_global_find("spare:0")->note, "given to degraded array \"r\""));
	assert_string_equal(raidvol_global_find("spare:1")->note, "global spare");
	assert_int_equal(raid_fail_member(g_rv->array, 1), 0);
	wait_then(role1_rebuilt, step_refusals);
}

static void started(void *arg, int status, const char *msg)
{
	(void)arg;
	struct raidvol *vols[1] = { g_rv };
	if (status)
		print_error("start: %s\n", msg);
	assert_int_equal(status, 0);
	/* before the global spares are offered, role 0 fails: the array is degraded and has no spare */
	assert_int_equal(raid_fail_member(g_rv->array, 0), 0);
	raidvol_global_start(vols, 1);
	wait_then(role0_rebuilt, step_second_failure);
}

static void start_step(void *arg)
{
	(void)arg;
	char err[512] = "";
	reactor_timer_init(&g_timer, poll_tick, NULL);
	assert_int_equal(raidvol_start(g_rv, started, NULL, err, sizeof(err)), 0);
}

static void test_global_spares(void **state)
{
	(void)state;
	char text[2048], err[512] = "";
	snprintf(g_dir, sizeof(g_dir), "/tmp/softhba-gspare-XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	snprintf(text, sizeof(text),
		 "{\"volumes\": [{\"name\": \"r\", \"backend\": \"raid\", \"level\": 5, \"bitmap_region\": \"1MiB\", "
		 "\"members\": [{\"backend\": \"malloc\", \"size\": \"16MiB\"}, {\"backend\": \"malloc\", \"size\": \"16MiB\"}, "
		 "{\"backend\": \"malloc\", \"size\": \"16MiB\"}]}], "
		 "\"spares\": [{\"backend\": \"malloc\", \"size\": \"16MiB\"}, {\"backend\": \"file\", \"path\": \"%s/g0.img\", "
		 "\"size\": \"16MiB\", \"inject\": {}}], "
		 "\"iscsi\": {\"portals\": [\"127.0.0.1:0\"], \"targets\": []}}", g_dir);
	assert_int_equal(config_load_string(text, &g_cfg, err, sizeof(err)), 0);
	assert_int_equal(g_cfg->volumes[0].raid->region_kib, 1024);
	assert_int_equal(raidvol_open(&g_cfg->volumes[0], &g_rv, err, sizeof(err)), 0);
	struct raidvol *vols[1] = { g_rv };
	assert_int_equal(raidvol_global_open(g_cfg, vols, err, sizeof(err)), 0);
	assert_int_equal(g_rv->n_devs, 3); /* no superblock on either: both stay global */
	assert_string_equal(raidvol_global_dev(0)->name, "spare:0");
	struct raidvol_dev *g1 = raidvol_global_dev(1);
	assert_non_null(g1);
	assert_null(raidvol_global_dev(2));
	assert_ptr_equal(raidvol_global_find(g1->path), g1);
	assert_non_null(g1->wrap);
	assert_true(g1->blank);

	assert_int_equal(reactors_init(1), 0);
	g_done = false;
	assert_int_equal(reactor_send_msg(reactor_get(0), start_step, NULL), 0);
	assert_int_equal(reactors_run(), 0);
	reactors_fini();
	assert_true(g_done);

	raidvol_free(g_rv);
	raidvol_global_free();
	assert_int_equal(raid_global_spares(), 0);
	assert_null(raidvol_global_dev(0));
	config_free(g_cfg);
	char path[128];
	snprintf(path, sizeof(path), "%s/g0.img", g_dir);
	unlink(path);
	rmdir(g_dir);
}

/* A global spare file that carries a volume's superblock goes to that volume; one of an unknown array stays global. */
static void test_superblock_owner(void **state)
{
	(void)state;
	char text[2048], err[512] = "", path[128];
	struct softhba_config *cfg;
	struct raidvol *rv;
	snprintf(g_dir, sizeof(g_dir), "/tmp/softhba-gspare-XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	static const char *const owners[] = { "r", "zz" };
	for (unsigned i = 0; i < 2; i++) {
		char sb[4096] = "SHBARAID";
		snprintf(sb + 32, 32, "%s", owners[i]);
		snprintf(path, sizeof(path), "%s/g%u.img", g_dir, i);
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(sb, 1, sizeof(sb), f), sizeof(sb));
		fclose(f);
	}
	snprintf(text, sizeof(text),
		 "{\"volumes\": [{\"name\": \"r\", \"backend\": \"raid\", \"level\": 1, \"members\": ["
		 "{\"backend\": \"malloc\", \"size\": \"16MiB\"}, {\"backend\": \"malloc\", \"size\": \"16MiB\"}]}], "
		 "\"spares\": [{\"backend\": \"file\", \"path\": \"%s/g0.img\", \"size\": \"16MiB\"}, "
		 "{\"backend\": \"file\", \"path\": \"%s/g1.img\", \"size\": \"16MiB\"}], "
		 "\"iscsi\": {\"portals\": [\"127.0.0.1:0\"], \"targets\": []}}", g_dir, g_dir);
	assert_int_equal(config_load_string(text, &cfg, err, sizeof(err)), 0);
	assert_int_equal(raidvol_open(&cfg->volumes[0], &rv, err, sizeof(err)), 0);
	struct raidvol *vols[1] = { rv };
	assert_int_equal(raidvol_global_open(cfg, vols, err, sizeof(err)), 0);
	assert_int_equal(rv->n_devs, 3);
	struct raidvol_dev *d = raidvol_find(rv, "spare:0");
	assert_non_null(d);
	assert_true(d->had_superblock);
	assert_int_equal(d->origin, RAIDVOL_GLOBAL);
	assert_null(raidvol_global_find("spare:0"));
	struct raidvol_dev *g = raidvol_global_find("spare:1");
	assert_non_null(g);
	assert_non_null(strstr(g->note, "array \"zz\", which is not configured"));
	raidvol_free(rv);
	raidvol_global_free();
	config_free(cfg);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/g%u.img", g_dir, i);
		unlink(path);
	}
	rmdir(g_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_global_spares),
		cmocka_unit_test(test_superblock_owner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* iscsi_testd.c - test-only iSCSI daemon: reactors, RAM disks behind SCSI targets, the iSCSI server on 127.0.0.1. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk/blk.h"
#include "core/log.h"
#include "core/reactor.h"
#include "iscsi/iscsi.h"
#include "scsi/scsi.h"

/*
 * usage: iscsi_testd [-p port] [-r reactors] [-s size_mib] [-t targets] [-n null]
 *                    [-q queue_depth] [-N nop_interval_s] [-S stall_s] [-L login_s] [-v]
 * Targets are iqn.2024-01.org.softhba:test0 .. testN-1, one LU 0 each.
 * Prints "READY <port>" on stdout once it listens. SIGTERM/SIGINT: clean shutdown.
 */

static struct iscsi_server *g_srv;
static uint16_t g_port = 3270;

static void on_signal(int sig)
{
	(void)sig;
	reactors_stop();
}

static void shutdown_done(void *arg)
{
	(void)arg;
	reactors_shutdown_complete();
}

static void stop_hook(void *arg)
{
	(void)arg;
	iscsi_server_shutdown(g_srv, shutdown_done, NULL);
}

static void start_listen(void *arg)
{
	(void)arg;
	int rc = iscsi_server_listen(g_srv, "127.0.0.1", g_port);
	if (rc) {
		fprintf(stderr, "listen on 127.0.0.1:%u: %s\n", g_port, strerror(-rc));
		exit(1);
	}
	printf("READY %u\n", iscsi_server_port(g_srv, 0));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	unsigned nreact = 2, ntargets = 1, size_mib = 64;
	bool use_null = false, verbose = false;
	struct iscsi_server_opts opts = { 0 };
	int opt;
	while ((opt = getopt(argc, argv, "p:r:s:t:nq:N:S:L:T:v")) != -1) {
		switch (opt) {
		case 'p': g_port = (uint16_t)atoi(optarg); break;
		case 'r': nreact = (unsigned)atoi(optarg); break;
		case 's': size_mib = (unsigned)atoi(optarg); break;
		case 't': ntargets = (unsigned)atoi(optarg); break;
		case 'n': use_null = true; break;
		case 'q': opts.max_queue_depth = (uint32_t)atoi(optarg); break;
		case 'N': opts.nop_interval_s = (uint32_t)atoi(optarg); break;
		case 'T': opts.nop_timeout_s = (uint32_t)atoi(optarg); break;
		case 'S': opts.stall_timeout_s = (uint32_t)atoi(optarg); break;
		case 'L': opts.login_timeout_s = (uint32_t)atoi(optarg); break;
		case 'v': verbose = true; break;
		default:
			fprintf(stderr, "usage: %s [-p port] [-r reactors] [-s MiB] [-t targets] [-n] [-q qd] [-N nop_s] "
					"[-T nop_timeout_s] [-S stall_s] [-L login_s] [-v]\n",
				argv[0]);
			return 2;
		}
	}
	log_init(2);
	log_set_level(LOGC_ISCSI, verbose ? LOG_DEBUG : LOG_NOTICE);
	int rc = reactors_init(nreact);
	if (rc) {
		fprintf(stderr, "reactors_init: %s\n", strerror(-rc));
		return 1;
	}
	rc = iscsi_server_create(&opts, &g_srv);
	if (rc)
		return 1;
	struct blk_dev *devs[16];
	struct scsi_target *tgts[16];
	if (ntargets < 1 || ntargets > 16)
		ntargets = 1;
	for (unsigned i = 0; i < ntargets; i++) {
		char name[64], vol[32];
		snprintf(name, sizeof(name), "iqn.2024-01.org.softhba:test%u", i);
		snprintf(vol, sizeof(vol), "vol%u", i);
		rc = use_null ? blk_null_create(vol, (uint64_t)size_mib << 20, 512, &devs[i])
			      : blk_malloc_create(vol, (uint64_t)size_mib << 20, 512, &devs[i]);
		if (rc) {
			fprintf(stderr, "blk create: %s\n", strerror(-rc));
			return 1;
		}
		rc = scsi_target_create(name, 1, &tgts[i]);
		if (rc) {
			fprintf(stderr, "scsi_target_create: %s\n", strerror(-rc));
			return 1;
		}
		struct scsi_lu_opts lo = { .name = vol, .write_cache = true, .thin = true };
		struct scsi_lu *lu;
		rc = scsi_lu_create(tgts[i], 0, devs[i], &lo, &lu);
		if (rc) {
			fprintf(stderr, "scsi_lu_create: %s\n", strerror(-rc));
			return 1;
		}
		iscsi_server_add_target(g_srv, tgts[i], i == 0 ? "softhba test disk" : NULL);
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	reactors_on_stop(stop_hook, NULL);
	reactor_send_msg(reactor_get(0), start_listen, NULL);
	reactors_run();
	iscsi_server_destroy(g_srv);
	for (unsigned i = 0; i < ntargets; i++) {
		scsi_target_destroy(tgts[i]);
		blk_destroy(devs[i]);
	}
	reactors_fini();
	log_fini();
	return 0;
}

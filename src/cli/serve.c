/* serve.c - assembles a running daemon from a validated config: volumes, SCSI targets, iSCSI portals, ordered shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk/blk.h"
#include "blk/raid/raid.h"
#include "cli/serve.h"
#include "core/log.h"
#include "core/reactor.h"
#include "core/util.h"
#include "iscsi/iscsi.h"
#include "mgmt/mgmt.h"
#include "mgmt/raidvol.h"
#include "scsi/scsi.h"

/* The shutdown waits this long for sessions to end and volumes to flush. */
#define SHUTDOWN_DEADLINE_NS (30ull * 1000000000ull)

struct daemon {
	const struct serve_params *p;
	const struct softhba_config *cfg;
	struct blk_dev **devs;          /* per config volume; NULL until created */
	struct blk_dev **leaves;        /* per config volume: the device under its "throttle", else NULL */
	struct scsi_target **targets;   /* per config target */
	struct iscsi_server *server;
	char **urls;
	unsigned n_urls;
	char **portals;
	unsigned n_portals;
	struct blk_io *flush_ios;
	unsigned flush_pending;
	bool shutting_down;
	bool finished;
	unsigned quiesce_pending;       /* SCSI targets still stopping their background work */
	int status;                     /* process exit status */
	struct reactor_defer defer;
	struct reactor_timer deadline;
	struct mgmt_daemon mgmt;        /* what the control socket's methods see */
	struct raidvol **raid;          /* per config volume: raid volumes' state, else NULL */
	unsigned raid_next;             /* shutdown walks the raid volumes in order */
	unsigned raid_start_next;       /* start-up walks the raid volumes in order */
	bool raid_busy;                 /* a raid start or stop is in flight */
	bool forced;                    /* the shutdown deadline passed: stop waiting for anything */
};

/* Signal state: the handler may only touch these. */
static volatile sig_atomic_t g_signals;
static volatile sig_atomic_t g_closing; /* reactors ended: only count, or exit on a second signal */

static void on_signal(int sig)
{
	if (g_signals++ == 0) {
		if (g_closing)
			return;
		reactors_stop(); /* async-signal-safe: reactor 0 runs the stop hook */
		return;
	}
	static const char msg_int[] = "softhba: second SIGINT during shutdown: exiting now, without a clean shutdown\n";
	static const char msg_term[] = "softhba: second SIGTERM during shutdown: exiting now, without a clean shutdown\n";
	if (sig == SIGINT)
		(void)!write(2, msg_int, sizeof(msg_int) - 1);
	else
		(void)!write(2, msg_term, sizeof(msg_term) - 1);
	_exit(1);
}

static int install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

unsigned serve_default_reactors(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > (long)CFG_REACTORS_MAX ? CFG_REACTORS_MAX : (unsigned)n;
}

void serve_print_urls(const struct serve_ready *r, void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < r->n_lun_urls; i++)
		printf("%s\n", r->lun_urls[i]);
	fflush(stdout);
}

/* ---- shutdown (reactor 0) ---- */

static void teardown_finish(struct daemon *d)
{
	const struct softhba_config *cfg = d->cfg;

	reactor_timer_cancel(&d->deadline);
	for (unsigned i = 0; d->devs && i < cfg->n_volumes; i++) {
		if (d->devs[i] && !(d->raid && d->raid[i])) /* a raid array is gone with raid_stop */
			blk_destroy(d->devs[i]);
		d->devs[i] = NULL;
		if (d->leaves && d->leaves[i]) /* after the throttle over it */
			blk_destroy(d->leaves[i]);
		if (d->leaves)
			d->leaves[i] = NULL;
		if (d->raid && d->raid[i]) {
			raidvol_free(d->raid[i]);
			d->raid[i] = NULL;
		}
	}
	raidvol_global_free(); /* after every array: one may have used a global spare */
	log_notice(LOGC_CORE, NULL, "shutdown complete");
	reactors_shutdown_complete();
}

static void stop_next_array(struct daemon *d);

static void array_stopped(void *arg, int status, const char *msg)
{
	struct daemon *d = arg;
	struct raidvol *rv = d->raid[d->raid_next];
	(void)msg;
	d->raid_busy = false;
	if (d->forced)
		return;
	if (status) {
		if (status == -EIO) {
			log_warn(LOGC_RAID, rv->v->name, "stopped while offline (too many members failed)");
		} else {
			log_err(LOGC_RAID, rv->v->name, "array stopped with an error: %s", strerror(-status));
			d->status = 1;
		}
	}
	d->raid_next++;
	stop_next_array(d);
}

/* Stop the arrays one by one (drain, flush, mark clean); a start still in
 * flight is waited for (its callback calls back here). */
static void stop_next_array(struct daemon *d)
{
	const struct softhba_config *cfg = d->cfg;

	if (d->raid_busy)
		return;
	for (; d->raid && d->raid_next < cfg->n_volumes; d->raid_next++) {
		struct raidvol *rv = d->raid[d->raid_next];
		if (!rv || !rv->array)
			continue;
		d->raid_busy = true;
		if (raidvol_stop(rv, array_stopped, d) == 0)
			return;
		d->raid_busy = false;
		log_err(LOGC_RAID, rv->v->name, "cannot stop the array");
		d->status = 1;
	}
	teardown_finish(d);
}

static void teardown(struct daemon *d)
{
	const struct softhba_config *cfg = d->cfg;

	if (d->finished)
		return;
	d->finished = true;
	reactor_timer_cancel(&d->deadline);
	mgmt_stop(&d->mgmt); /* before what its methods read goes away */
	if (d->server) {
		iscsi_server_destroy(d->server);
		d->server = NULL;
	}
	for (unsigned i = 0; d->targets && i < cfg->iscsi.n_targets; i++) {
		if (d->targets[i])
			scsi_target_destroy(d->targets[i]);
		d->targets[i] = NULL;
	}
	d->raid_next = 0;
	reactor_timer_start(&d->deadline, SHUTDOWN_DEADLINE_NS); /* arrays get a fresh deadline */
	stop_next_array(d);
}

static void flush_done(struct blk_io *io, int status)
{
	struct daemon *d = io->cb_arg;
	if (status) {
		log_err(LOGC_BLK, io->dev->name, "final flush failed: %s", blk_strerror(status));
		fprintf(stderr, "softhba: volume \"%s\": final flush failed: %s\n", io->dev->name, blk_strerror(status));
		d->status = 1;
	}
	if (--d->flush_pending == 0 && !d->finished)
		teardown(d);
}

/* Sessions are closed: make every volume's completed writes durable. */
static void flush_volumes(void *arg)
{
	struct daemon *d = arg;
	const struct softhba_config *cfg = d->cfg;

	if (d->finished)
		return;
	d->flush_pending = 1; /* held until every flush is submitted */
	for (unsigned i = 0; d->devs && i < cfg->n_volumes; i++) {
		struct blk_dev *dev = d->devs[i];
		if (!dev)
			continue;
		struct raid_info ri;
		if (d->raid[i] && raid_get_info(dev, &ri) == 0 && ri.state == RAID_ARRAY_OFFLINE) {
			/* Every write since it went offline was refused; a flush cannot succeed. */
			log_warn(LOGC_RAID, dev->name, "array is offline: no final flush (it was logged when it went offline)");
			continue;
		}
		struct blk_io *io = &d->flush_ios[i];
		blk_io_prep(io, dev, BLK_OP_FLUSH, 0, 0, NULL, 0, flush_done, d);
		d->flush_pending++;
		int rc = blk_submit(dev, io);
		if (rc) {
			d->flush_pending--;
			log_err(LOGC_BLK, dev->name, "final flush refused: %s", blk_strerror(rc));
			fprintf(stderr, "softhba: volume \"%s\": final flush refused: %s\n", dev->name, blk_strerror(rc));
			d->status = 1;
		}
	}
	if (--d->flush_pending == 0)
		teardown(d);
}

static void shutdown_overdue(struct reactor_timer *t)
{
	struct daemon *d = t->arg;
	d->forced = true; /* a late array callback must not go on */
	fprintf(stderr, "softhba: shutdown did not finish within %llu s; exiting without waiting further\n",
		SHUTDOWN_DEADLINE_NS / 1000000000ull);
	d->status = 1;
	d->finished = true;
	mgmt_stop(&d->mgmt);
	reactors_shutdown_complete();
}

/* Every target stopped its background work (a SANITIZE, an IMMED flush):
 * from now on nothing outlives its task, so closing the sessions waits for
 * everything that still touches the targets and devices. */
static void targets_quiet(void *arg)
{
	struct daemon *d = arg;

	if (--d->quiesce_pending || d->finished)
		return;
	if (d->server)
		iscsi_server_shutdown(d->server, flush_volumes, d);
	else
		reactor_defer(&d->defer, flush_volumes, d);
}

/* Stop hook: runs once on reactor 0 after SIGINT/SIGTERM or a failed start. */
static void daemon_on_stop(void *arg)
{
	struct daemon *d = arg;

	if (d->shutting_down)
		return;
	d->shutting_down = true;
	if (g_signals)
		log_notice(LOGC_CORE, NULL, "signal received: closing sessions, flushing volumes (again to exit at once)");
	reactor_timer_start(&d->deadline, SHUTDOWN_DEADLINE_NS);
	d->quiesce_pending = 1;
	for (unsigned i = 0; d->targets && i < d->cfg->iscsi.n_targets; i++)
		if (d->targets[i] && scsi_target_quiesce(d->targets[i], targets_quiet, d) == 0)
			d->quiesce_pending++;
	targets_quiet(d);
}

/* ---- start (reactor 0) ---- */

static void start_failed(struct daemon *d)
{
	d->status = 1;
	reactors_stop();
}

static int create_volume(struct daemon *d, unsigned i)
{
	const struct cfg_volume *v = &d->cfg->volumes[i];
	int rc;

	if (v->backend == CFG_BACKEND_RAID) { /* members now, the array in start_next_array() */
		char err[600];
		rc = raidvol_open(v, &d->raid[i], err, sizeof(err));
		if (rc) {
			d->raid[i] = NULL;
			fprintf(stderr, "softhba: %s\n", err);
		}
		return rc;
	}
	char leaf_name[80];
	snprintf(leaf_name, sizeof(leaf_name), v->throttle ? "%s.base" : "%s", v->name);
	switch (v->backend) {
	case CFG_BACKEND_MALLOC:
		rc = blk_malloc_create(leaf_name, v->size, v->block_size, &d->devs[i]);
		break;
	case CFG_BACKEND_NULL:
		rc = blk_null_create(leaf_name, v->size, v->block_size, &d->devs[i]);
		break;
	case CFG_BACKEND_FILE: {
		struct blk_file_opts fo = {
			.path = v->path,
			.size_bytes = v->size,
			.block_size = v->block_size,
			.direct = v->direct,
			.read_only = v->read_only,
		};
		rc = blk_file_create(leaf_name, &fo, &d->devs[i]);
		break;
	}
	default:
		rc = -EINVAL;
	}
	if (rc == 0 && v->throttle) { /* the LUN sees the throttle, named as the volume; the leaf goes last */
		d->leaves[i] = d->devs[i];
		rc = blk_throttle_create(v->name, d->leaves[i], v->thr.bytes_per_sec, v->thr.latency_us, &d->devs[i]);
		if (rc) {
			d->devs[i] = NULL;
			fprintf(stderr, "softhba: volume \"%s\": cannot set up the throttle: %s\n", v->name, strerror(-rc));
			return rc; /* the leaf is destroyed with the rest */
		}
	}
	if (rc == 0)
		return 0;
	d->devs[i] = NULL;
	if (v->backend != CFG_BACKEND_FILE) {
		fprintf(stderr, "softhba: volume \"%s\": cannot create the %s device: %s\n", v->name,
			v->backend == CFG_BACKEND_MALLOC ? "malloc" : "null", strerror(-rc));
	} else if (rc == -ENOENT && v->read_only) {
		fprintf(stderr, "softhba: volume \"%s\": %s does not exist (a read-only volume is never created)\n",
			v->name, v->path);
	} else if (rc == -ENOENT && v->size == 0) {
		fprintf(stderr, "softhba: volume \"%s\": %s does not exist; give the volume a \"size\" to create it\n",
			v->name, v->path);
	} else if (rc == -ENOENT) {
		fprintf(stderr, "softhba: volume \"%s\": cannot create %s: its directory does not exist\n", v->name,
			v->path);
	} else if (rc == -EINVAL) {
		fprintf(stderr, "softhba: volume \"%s\": %s cannot be used as configured (the blk error in the log says why)\n",
			v->name, v->path);
	} else {
		fprintf(stderr, "softhba: volume \"%s\": cannot open %s: %s\n", v->name, v->path, strerror(-rc));
	}
	return rc;
}

static int create_target(struct daemon *d, unsigned ti)
{
	const struct softhba_config *cfg = d->cfg;
	const struct cfg_target *t = &cfg->iscsi.targets[ti];
	int rc = scsi_target_create(t->name, 1, &d->targets[ti]);

	if (rc) {
		d->targets[ti] = NULL;
		fprintf(stderr, "softhba: target %s: cannot create it: %s\n", t->name, strerror(-rc));
		return rc;
	}
	for (unsigned j = 0; j < t->n_luns; j++) {
		const struct cfg_lun *l = &t->luns[j];
		const struct cfg_volume *v = &cfg->volumes[l->volume];
		struct scsi_lu_opts o = {
			.name = v->name,
			.vendor = l->vendor,
			.product = l->product,
			.revision = l->revision,
			.serial = l->serial,
			.thin = l->thin,
			.removable = l->removable,
			.read_only = l->read_only || v->read_only,
			.write_cache = l->write_cache,
			.sanitize_mib_s = l->sanitize_mib_s,
		};
		struct scsi_lu *lu;
		rc = scsi_lu_create(d->targets[ti], l->lun, d->devs[l->volume], &o, &lu);
		if (rc) {
			fprintf(stderr, "softhba: target %s LUN %u (volume \"%s\"): cannot create the logical unit: %s\n",
				t->name, l->lun, v->name, strerror(-rc));
			return rc;
		}
	}
	return iscsi_server_add_target(d->server, d->targets[ti], t->alias);
}

static int push_str(char ***arr, unsigned *n, const char *s)
{
	char **a = realloc(*arr, (*n + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	*arr = a;
	a[*n] = strdup(s);
	if (!a[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

static int listen_all(struct daemon *d)
{
	const struct cfg_iscsi *is = &d->cfg->iscsi;
	char hp[CFG_HOST_MAX + 16];

	for (unsigned i = 0; i < is->n_portals; i++) {
		const struct cfg_portal *pt = &is->portals[i];
		int rc = iscsi_server_listen(d->server, pt->host, pt->port);
		if (rc) {
			config_format_portal(pt, pt->port, hp, sizeof(hp));
			const char *why = rc == -EADDRINUSE ? "; another program already listens there"
					: rc == -EADDRNOTAVAIL ? "; no network interface of this machine has that address"
					: rc == -EACCES ? "; ports below 1024 need root or CAP_NET_BIND_SERVICE"
					: "";
			fprintf(stderr, "softhba: cannot listen on %s: %s%s%s%s\n", hp, strerror(-rc), why,
				d->p->listen_hint ? "; " : "", d->p->listen_hint ? d->p->listen_hint : "");
			return rc;
		}
		config_format_portal(pt, iscsi_server_port(d->server, i), hp, sizeof(hp));
		if (push_str(&d->portals, &d->n_portals, hp))
			return -ENOMEM;
		for (unsigned t = 0; t < is->n_targets; t++) {
			for (unsigned l = 0; l < is->targets[t].n_luns; l++) {
				char url[CFG_HOST_MAX + CFG_ISCSI_NAME_MAX + 48];
				snprintf(url, sizeof(url), "iscsi://%s/%s/%u", hp, is->targets[t].name,
					 is->targets[t].luns[l].lun);
				if (push_str(&d->urls, &d->n_urls, url))
					return -ENOMEM;
			}
		}
	}
	return 0;
}

static void daemon_start_rest(struct daemon *d);
static void start_next_array(struct daemon *d);

static void array_started(void *arg, int status, const char *msg)
{
	struct daemon *d = arg;
	unsigned i = d->raid_start_next;
	struct raidvol *rv = d->raid[i];

	d->raid_busy = false;
	if (d->forced)
		return;
	if (status == 0) {
		d->devs[i] = rv->array;
		if (rv->created) /* an assembly logged its own account */
			log_notice(LOGC_RAID, rv->v->name, "%s", msg);
	}
	if (d->shutting_down) { /* the stop came during the start: the shutdown goes on */
		if (d->finished)
			stop_next_array(d);
		return;
	}
	if (status) {
		fprintf(stderr, "softhba: volume \"%s\": cannot start the array: %s\n", rv->v->name, msg);
		return start_failed(d);
	}
	d->raid_start_next++;
	start_next_array(d);
}

/* Create or assemble the raid volumes one by one, then go on with the targets. */
static void start_next_array(struct daemon *d)
{
	const struct softhba_config *cfg = d->cfg;

	for (; d->raid_start_next < cfg->n_volumes; d->raid_start_next++) {
		struct raidvol *rv = d->raid[d->raid_start_next];
		char err[600] = "";
		if (!rv)
			continue;
		d->raid_busy = true;
		int rc = raidvol_start(rv, array_started, d, err, sizeof(err));
		if (rc == 0)
			return;
		d->raid_busy = false;
		fprintf(stderr, "softhba: volume \"%s\": cannot start the array: %s\n", rv->v->name,
			err[0] ? err : strerror(-rc));
		return start_failed(d);
	}
	raidvol_global_start(d->raid, cfg->n_volumes); /* global spares: to degraded arrays, else the pool */
	daemon_start_rest(d);
}

static void daemon_start(void *arg)
{
	struct daemon *d = arg;
	const struct softhba_config *cfg = d->cfg;

	if (d->shutting_down || reactors_stopping())
		return;
	/* First, so that a second daemon given the same socket stops before it opens any volume. */
	if (mgmt_start(&d->mgmt, cfg->control_socket ? cfg->control_socket
			 : d->p->control_socket ? d->p->control_socket : MGMT_SOCKET_DEFAULT, cfg->control_socket != NULL))
		return start_failed(d);
	for (unsigned i = 0; i < cfg->n_volumes; i++)
		if (create_volume(d, i))
			return start_failed(d);
	char err[600];
	if (raidvol_global_open(cfg, d->raid, err, sizeof(err))) {
		fprintf(stderr, "softhba: %s\n", err);
		return start_failed(d);
	}
	start_next_array(d);
}

static void daemon_start_rest(struct daemon *d)
{
	const struct softhba_config *cfg = d->cfg;
	int rc;

	if (cfg->iscsi.enabled) {
		struct iscsi_server_opts o = {
			.max_recv_data_segment_length = cfg->iscsi.max_recv_data_segment_length,
			.max_burst_length = cfg->iscsi.max_burst_length,
			.first_burst_length = cfg->iscsi.first_burst_length,
			.max_outstanding_r2t = cfg->iscsi.max_outstanding_r2t,
			.max_queue_depth = cfg->iscsi.max_queue_depth,
			.nop_interval_s = cfg->iscsi.nop_interval_s,
			.nop_timeout_s = cfg->iscsi.nop_timeout_s,
			.login_timeout_s = cfg->iscsi.login_timeout_s,
			.stall_timeout_s = cfg->iscsi.stall_timeout_s,
		};
		rc = iscsi_server_create(&o, &d->server);
		if (rc) {
			d->server = NULL;
			fprintf(stderr, "softhba: cannot create the iSCSI server: %s\n", strerror(-rc));
			return start_failed(d);
		}
		for (unsigned i = 0; i < cfg->iscsi.n_targets; i++)
			if (create_target(d, i))
				return start_failed(d);
		rc = listen_all(d);
		if (rc) {
			if (rc == -ENOMEM)
				fprintf(stderr, "softhba: out of memory at start-up\n");
			return start_failed(d);
		}
	}
	struct serve_ready r = {
		.lun_urls = (const char *const *)d->urls,
		.n_lun_urls = d->n_urls,
		.portals = (const char *const *)d->portals,
		.n_portals = d->n_portals,
	};
	d->mgmt.iscsi = d->server;
	d->mgmt.portals = (const char *const *)d->portals;
	d->mgmt.n_portals = d->n_portals;
	log_notice(LOGC_CORE, NULL, "softhba %s ready: %u volume(s), %u target(s), %u reactor(s)", SOFTHBA_VERSION,
		   cfg->n_volumes, cfg->iscsi.n_targets, reactor_count());
	if (d->p->ready)
		d->p->ready(&r, d->p->ready_arg);
	else
		serve_print_urls(&r, NULL);
}

/* ---- the whole life ---- */

static void apply_log_levels(const struct serve_params *p)
{
	enum log_level base = p->log_level_set ? p->log_level : p->cfg->log_level;
	for (unsigned c = 0; c < LOGC__COUNT; c++)
		log_set_level((enum log_comp)c, p->cfg->comp_level_set[c] ? p->cfg->comp_level[c] : base);
}

static void free_strs(char **a, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(a[i]);
	free(a);
}

int serve_run(const struct serve_params *p)
{
	const struct softhba_config *cfg = p->cfg;
	struct daemon d = { .p = p, .cfg = cfg };
	unsigned n = p->reactors ? p->reactors : cfg->reactors ? cfg->reactors : serve_default_reactors();
	int rc;

	d.devs = calloc(cfg->n_volumes + 1, sizeof(*d.devs));
	d.leaves = calloc(cfg->n_volumes + 1, sizeof(*d.leaves));
	d.flush_ios = calloc(cfg->n_volumes + 1, sizeof(*d.flush_ios));
	d.targets = calloc(cfg->iscsi.n_targets + 1, sizeof(*d.targets));
	d.raid = calloc(cfg->n_volumes + 1, sizeof(*d.raid));
	if (!d.devs || !d.leaves || !d.flush_ios || !d.targets || !d.raid) {
		fprintf(stderr, "softhba: out of memory at start-up\n");
		rc = 1;
		goto out_free;
	}
	rc = log_init(2);
	if (rc) {
		fprintf(stderr, "softhba: cannot start logging: %s\n", strerror(-rc));
		rc = 1;
		goto out_free;
	}
	apply_log_levels(p);
	rc = reactors_init(n);
	if (rc) {
		fprintf(stderr, "softhba: cannot start %u reactor(s): %s\n", n, strerror(-rc));
		log_fini();
		rc = 1;
		goto out_free;
	}
	reactor_timer_init(&d.deadline, shutdown_overdue, &d);
	d.mgmt = (struct mgmt_daemon){ .cfg = cfg, .devs = d.devs, .start_ns = now_ns(), .raid = d.raid };
	reactors_on_stop(daemon_on_stop, &d);
	g_signals = 0;
	g_closing = 0;
	if ((rc = install_signals()) != 0 || (rc = reactor_send_msg(reactor_get(0), daemon_start, &d)) != 0) {
		fprintf(stderr, "softhba: cannot start: %s\n", strerror(-rc));
		reactors_fini();
		log_fini();
		rc = 1;
		goto out_free;
	}
	rc = reactors_run();
	g_closing = 1;
	mgmt_stop(&d.mgmt); /* a forced stop skipped the teardown */
	if (rc) {
		fprintf(stderr, "softhba: reactors failed: %s\n", strerror(-rc));
		d.status = 1;
	}
	reactors_fini();
	log_fini();
	rc = d.status;
out_free:
	free_strs(d.urls, d.n_urls);
	free_strs(d.portals, d.n_portals);
	free(d.devs);
	free(d.leaves);
	free(d.flush_ios);
	free(d.targets);
	free(d.raid);
	return rc;
}

/* serve.h - assembling a running daemon (volumes, SCSI targets, iSCSI portals) from a validated config. */
#ifndef SOFTHBA_CLI_SERVE_H
#define SOFTHBA_CLI_SERVE_H

#include <stdbool.h>

#include "core/config.h"

/* What the daemon serves once every portal listens. */
struct serve_ready {
	const char *const *lun_urls;   /* "iscsi://HOST:PORT/TARGET/LUN", one per portal and LUN */
	unsigned n_lun_urls;
	const char *const *portals;    /* "HOST:PORT" as listening (actual port, IPv6 in brackets) */
	unsigned n_portals;
};

struct serve_params {
	const struct softhba_config *cfg;
	unsigned reactors;             /* 0: cfg->reactors, else one per online CPU */
	bool log_level_set;            /* override cfg->log_level (per-component levels still apply) */
	enum log_level log_level;
	/* Said after "cannot listen on HOST:PORT: ..." to tell how to pick another address. */
	const char *listen_hint;
	/* Called on reactor 0 once every portal listens; NULL prints the LUN URLs, one a line. */
	void (*ready)(const struct serve_ready *r, void *arg);
	void *ready_arg;
	/* Control socket path when the config sets none; NULL: MGMT_SOCKET_DEFAULT. */
	const char *control_socket;
};

/* Run the daemon until SIGINT/SIGTERM. Returns the process exit status:
 * 0 after a clean shutdown, 1 when start-up or the final flush failed. */
int serve_run(const struct serve_params *p);

/* Default ready hook: the LUN URLs on stdout, flushed. */
void serve_print_urls(const struct serve_ready *r, void *arg);

/* Online CPUs (at least 1). */
unsigned serve_default_reactors(void);

#endif

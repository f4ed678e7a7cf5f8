/* mgmt.h - the daemon's management API: the registry its methods read, and starting/stopping the control socket. */
#ifndef SOFTHBA_MGMT_MGMT_H
#define SOFTHBA_MGMT_MGMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/rpc.h"

struct blk_dev;
struct iscsi_server;
struct raidvol;
struct softhba_config;

/* Where `softhba serve` listens unless control.socket says otherwise. */
#define MGMT_SOCKET_DEFAULT "/run/softhba/softhba.sock"

/*
 * What the methods can see of the running daemon. serve.c fills it as the
 * objects come up (all on reactor 0, where the methods run too) and stops
 * the control socket before it takes them down. Pointers may be NULL while
 * an object does not exist (yet).
 */
struct mgmt_daemon {
	const struct softhba_config *cfg;
	struct blk_dev *const *devs;        /* per cfg->volumes[i] */
	struct iscsi_server *iscsi;         /* NULL: iSCSI off or not started */
	const char *const *portals;         /* "HOST:PORT" as listening */
	unsigned n_portals;
	uint64_t start_ns;                  /* now_ns() when the daemon started */
	struct rpc_server *rpc;             /* set by mgmt_start() */
	struct raidvol *const *raid;        /* per cfg->volumes[i]: a raid volume's run-time state, else NULL */
};

/* The management methods, in the order rpc.list shows them (after the
 * built-in rpc.list and rpc.describe): the explicit init table. */
extern const struct rpc_method *const mgmt_methods[];
extern const size_t mgmt_n_methods;

/* Start the control socket at path on the calling reactor (reactor 0).
 * required: a failure is printed on stderr ("softhba: control socket
 * ...") and returned as -errno; otherwise it is logged as a warning, the
 * daemon runs without a socket, and 0 is returned. */
int mgmt_start(struct mgmt_daemon *dm, const char *path, bool required);
/* Close the socket (its file is removed) and every connection; idempotent. */
void mgmt_stop(struct mgmt_daemon *dm);

/* "error", "warn", "notice", "info", "debug". */
const char *mgmt_level_name(unsigned level);

#endif

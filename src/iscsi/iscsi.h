/* iscsi.h - the iSCSI target (RFC 7143) as the daemon sees it: a server with portals and targets. */
#ifndef SOFTHBA_ISCSI_ISCSI_H
#define SOFTHBA_ISCSI_ISCSI_H

#include <stdbool.h>
#include <stdint.h>

#include "scsi/scsi.h"

struct iscsi_server;

struct iscsi_server_opts {
	/* Operational limits the target offers in negotiation (0 = default). */
	uint32_t max_recv_data_segment_length; /* default 262144 */
	uint32_t max_burst_length;             /* default 1048576 */
	uint32_t first_burst_length;           /* default 262144 */
	uint32_t max_outstanding_r2t;          /* default 16 */
	uint32_t max_queue_depth;              /* commands per session (CmdSN window); default 128 */
	uint32_t nop_interval_s;               /* target-initiated NOP-In on idle connections; 0 = default 30 */
	uint32_t nop_timeout_s;                /* close connection when the ping is not answered; default 30 */
	uint32_t login_timeout_s;              /* close a connection stuck in login; default 15 */
	uint32_t stall_timeout_s;              /* close a connection stalled mid-PDU; default 30 */
};

/* Create the server (nothing listens yet). Callable before reactors run. */
int iscsi_server_create(const struct iscsi_server_opts *opts, struct iscsi_server **out);
/* Export target t (its name is scsi_target_name(t)) with an optional alias.
 * Must be called before iscsi_server_listen(). Returns 0 or -errno. */
int iscsi_server_add_target(struct iscsi_server *s, struct scsi_target *t, const char *alias);
/* Listen on host:port ("127.0.0.1", "::1", "0.0.0.0"); port 0 picks a free
 * port (see iscsi_server_port()). Must run on a reactor (the listener is
 * owned by the calling reactor; accepted connections are spread over all
 * reactors). Returns 0 or -errno. */
int iscsi_server_listen(struct iscsi_server *s, const char *host, uint16_t port);
/* Port of the idx-th listener (after listen). */
uint16_t iscsi_server_port(const struct iscsi_server *s, unsigned idx);
/* Stop listening, log out / close every connection, wait for in-flight
 * tasks; then call done(arg) on the calling reactor. Must run on a reactor. */
void iscsi_server_shutdown(struct iscsi_server *s, void (*done)(void *arg), void *arg);
/* Free (after shutdown completed). */
void iscsi_server_destroy(struct iscsi_server *s);

/* One logged-in session, as the management API lists it. */
struct iscsi_session_info {
	char initiator_name[224];      /* InitiatorName */
	char target_name[224];         /* TargetName; "" for a discovery session */
	uint8_t isid[6];
	uint16_t tsih;
	uint16_t cid;
	unsigned reactor;              /* index of the reactor that owns it */
	bool discovery;
};
/* Snapshot of the sessions (any thread). *out is malloc'd (free() it; NULL
 * when *n is 0). Returns 0 or -ENOMEM. */
int iscsi_server_sessions(struct iscsi_server *s, struct iscsi_session_info **out, unsigned *n);

#endif

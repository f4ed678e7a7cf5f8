/* iscsi_internal.h - what the iSCSI target's files share: server, session, connection, task and transmit PDU state. */
#ifndef SOFTHBA_ISCSI_INTERNAL_H
#define SOFTHBA_ISCSI_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/reactor.h"
#include "iscsi/iscsi.h"
#include "iscsi/params.h"
#include "iscsi/pdu.h"

/*
 * Ownership and threading
 * -----------------------
 * A connection lives on one reactor (chosen round-robin at accept) and
 * everything it owns - its session (MaxConnections=1), tasks, buffers,
 * timers - is touched only there. The server's session table is shared
 * by all reactors under srv->lock and is used only on the login path
 * (new session, reinstatement, TSIH lookup) and at session end.
 *
 * Files:
 *   server.c    create/add_target/listen/accept/shutdown/destroy
 *   conn.c      socket receive state machine, transmit queue, timers, teardown
 *   login.c     login phases and session binding
 *   session.c   session table, CmdSN window, command ordering
 *   scsi_cmd.c  SCSI Command, Data-Out/R2T, Data-In and SCSI Response
 *   tmf.c       task management
 *   misc_pdu.c  NOP, Text (SendTargets), Logout (Reject PDUs are built in conn.c)
 */

#define ISCSI_RXBUF_SIZE (256u * 1024)    /* per-connection receive buffer */
#define ISCSI_TX_HIGH_WATER (64u << 20)   /* stop reading new commands above this many queued bytes */
#define ISCSI_TX_IOV_MAX 256              /* iovecs per sendmsg */
#define ISCSI_MAX_EDTL (64u << 20)        /* largest transfer we buffer for one command */
#define ISCSI_IMMEDIATE_MAX 16u           /* immediate commands in flight per session */
#define ISCSI_TASK_CACHE 64u              /* free task structs kept per connection */
#define ISCSI_TXPDU_CACHE 256u            /* free tx PDUs kept per connection */
#define ISCSI_TX_INLINE 256u              /* inline data room in a tx PDU (sense, small text) */

struct iscsi_conn;
struct iscsi_session;
struct iscsi_task;

/* ---- transmit PDU ---- */
struct iscsi_txpdu {
	struct iscsi_txpdu *next;
	uint8_t hdr[ISCSI_BHS_LEN + ISCSI_DIGEST_LEN];
	uint8_t hdr_len;
	uint8_t trailer_len;                 /* padding + data digest */
	uint8_t trailer[8];
	const uint8_t *data;                 /* data segment (task buffer, inline, or owned) */
	uint32_t dlen;
	uint8_t *owned;                      /* malloc'd data freed after send */
	struct iscsi_task *task;             /* task whose buffer data points into (holds a reference) */
	bool close_after;                    /* close the connection once this PDU is on the wire */
	bool stat_advances;                  /* carries a StatSN the initiator acknowledges */
	uint8_t inline_data[ISCSI_TX_INLINE];
};

/* ---- tasks ---- */
enum iscsi_task_state {
	TASK_WAIT_ORDER = 0,  /* CmdSN ahead of ExpCmdSN: held */
	TASK_WAIT_DATA,       /* collecting Data-Out */
	TASK_IN_SCSI,         /* submitted, waiting for done */
	TASK_SENDING,         /* response queued; waiting for PDUs to leave */
};

struct iscsi_r2t {
	uint32_t ttt;
	uint32_t offset;
	uint32_t len;
	uint32_t rcvd;
	uint32_t next_datasn;
	bool active;
};

struct iscsi_task {
	struct scsi_task st;
	struct iscsi_conn *conn;
	struct iscsi_task *next, *prev;     /* conn's task list */
	enum iscsi_task_state state;
	uint32_t itt;
	uint32_t cmdsn;
	uint32_t edtl;
	uint8_t lun_field[8];
	bool immediate;                      /* I bit: outside the CmdSN window */
	bool aborted;                        /* aborted by a TMF or teardown: send nothing */
	bool discard;                        /* data is read and dropped (no buffer / bad command) */
	bool crc_error;                      /* a Data-Out digest failed: CHECK CONDITION at the end */
	bool seq_error;                      /* a Data-Out broke the sequence rules */
	uint8_t seq_asc, seq_ascq;           /* the sense it ends with */
	bool too_big;                        /* EDTL over ISCSI_MAX_EDTL or CDB too long */
	bool no_mem;                         /* no buffer: answer BUSY */
	bool bidi;                           /* bidirectional: not supported */
	bool dir_read;                       /* R bit */
	bool dir_write;                      /* W bit */
	bool window_released;                /* CmdSN window slot given back */
	bool r2t_started;
	bool cmdsn_pending;                  /* in order, but ExpCmdSN advances only once its immediate data is good */
	uint8_t *buf;
	size_t buf_len;
	struct iovec iov;
	/* write data bookkeeping */
	uint32_t data_rcvd;                  /* bytes of the EDTL received, in order */
	uint32_t unsol_end;                  /* unsolicited data (immediate + Data-Out) ends here */
	uint32_t unsol_next_datasn;
	bool unsol_done;                     /* F bit seen on the unsolicited sequence (or none expected) */
	uint32_t r2t_next_offset;            /* R2Ts issued up to here */
	uint32_t r2tsn;
	uint32_t r2t_active;
	/* data-in */
	uint32_t datasn;                     /* Data-In PDUs sent */
	unsigned tx_refs;                    /* queued PDUs pointing into buf */
	struct iscsi_tmf_wait *tmf_wait;     /* TMF waiting for this task to finish */
	struct iscsi_task *held_next;        /* session's held chain (TASK_WAIT_ORDER) */
	/* last: only the first MaxOutstandingR2T slots are initialised */
	struct iscsi_r2t r2t[ISCSI_MAX_R2T_LIMIT];
};

/* ---- connection ---- */
enum iscsi_conn_state {
	CONN_LOGIN = 0,
	CONN_FULL_FEATURE,
	CONN_LOGGED_OUT,     /* logout response queued: no more requests */
	CONN_CLOSING,        /* socket closed; waiting for tasks to finish */
};

enum iscsi_rx_state { RX_HDR = 0, RX_DATA, RX_TRAILER };

struct iscsi_rx {
	enum iscsi_rx_state state;
	uint8_t hdr[ISCSI_BHS_LEN + ISCSI_MAX_AHS_LEN];
	uint32_t ahs_len;
	uint32_t dlen;
	uint32_t got;                 /* data bytes received */
	uint8_t *dst;                 /* where data goes (task buffer / big buffer); NULL: in place or discard */
	bool discard;                 /* read and drop the data */
	const uint8_t *data;          /* complete data segment, valid during the PDU handler */
	uint32_t crc;                 /* running data digest */
	struct iscsi_task *task;      /* task the data belongs to */
	uint32_t task_off;            /* its buffer offset */
	bool task_data;               /* the data is for task (immediate data / Data-Out) */
	int r2t_slot;                 /* Data-Out: R2T slot, -1 for unsolicited */
	bool digest_bad;
};

struct iscsi_login {
	uint8_t isid[6];
	uint16_t tsih;
	uint16_t cid;
	uint32_t itt;
	bool started;
	bool first_done;              /* the first (complete) request was checked */
	int csg;                      /* current stage */
	bool security_done;
	struct iscsi_text in;         /* request text spanning PDUs (C bit) */
	struct iscsi_text out;        /* response text */
	size_t out_sent;              /* response bytes already sent (C bit on our side) */
	struct iscsi_neg neg;
	bool neg_init;
	bool tpgt_sent;
	bool mrdsl_sent;
	bool waiting_reinstate;       /* an old session is being closed on another reactor */
	uint8_t final_flags;
	bool pending_transit;
	int pending_next;
	struct scsi_target *target;
	const char *target_alias;
	uint32_t exp_cmd_sn;          /* CmdSN of the login: the session's first ExpCmdSN */
};

struct iscsi_conn {
	struct iscsi_server *srv;
	struct reactor *reactor;
	struct iscsi_conn *next, *prev;   /* reactor-local list of the server's connections */
	int fd;
	struct reactor_fd w;
	uint32_t ev;
	enum iscsi_conn_state state;
	char peer[64];
	char local_addr[64];              /* as "a.b.c.d" or "[v6]" for TargetAddress */
	uint16_t local_port;
	char ctx[288];                    /* log context */
	unsigned refs;                    /* pending cross-reactor callbacks */

	struct iscsi_params params;
	bool hdigest;                     /* digests in force (from the first PDU after login) */
	bool ddigest;
	struct iscsi_session *sess;
	struct iscsi_login login;
	bool full_feature;

	/* receive */
	uint8_t *rxbuf;
	uint32_t rx_start, rx_end;
	struct iscsi_rx rx;
	uint8_t *bigbuf;                  /* data segments that don't fit in rxbuf */
	uint32_t bigbuf_len;
	bool rx_paused;                   /* send queue over the high water mark */
	uint64_t last_rx_ns;
	uint64_t partial_since_ns;        /* a PDU has been partially received since then (0: none) */

	/* transmit */
	struct iscsi_txpdu *txq_head, *txq_tail;
	size_t txq_bytes;
	size_t tx_off;                    /* bytes of txq_head already sent */
	bool flush_pending;
	struct reactor_defer flush_defer;
	struct iscsi_txpdu *txpdu_free;
	unsigned txpdu_free_n;
	uint32_t stat_sn;
	uint32_t exp_stat_sn;

	/* tasks */
	struct iscsi_task *tasks;         /* all live tasks of the connection */
	struct iscsi_task *task_free;
	unsigned task_free_n;
	unsigned tasks_in_scsi;
	uint32_t next_ttt;

	/* timers */
	struct reactor_timer tick;
	uint64_t created_ns;
	uint32_t nop_ttt;                 /* outstanding target ping (ISCSI_RSVD_TAG: none) */
	uint64_t nop_sent_ns;

	/* text continuation (Text request/response spanning PDUs) */
	struct iscsi_text text_in;
	struct iscsi_text text_out;
	size_t text_out_sent;
	uint32_t text_ttt;
	uint32_t text_itt;

	/* logout waits for the connection's tasks to finish */
	bool logout_pending;
	uint8_t logout_hdr[ISCSI_BHS_LEN];
	uint64_t last_tx_progress_ns;
	bool draining;                    /* server shutdown: close once the SCSI layer is done */
	uint64_t drain_deadline_ns;

	struct reactor_defer close_defer;
	bool close_deferred;
	bool freeing;
	const char *close_reason;
};

/* ---- session ---- */
struct iscsi_cmd_hold;  /* a non-SCSI request held for CmdSN order */

struct iscsi_session {
	struct iscsi_server *srv;
	struct iscsi_session *next;        /* srv->sessions (under srv->lock) */
	struct iscsi_conn *conn;           /* the one connection (NULL while closing) */
	struct reactor *reactor;
	uint8_t isid[6];
	uint16_t tsih;
	uint16_t cid;
	char initiator_name[ISCSI_NAME_MAX + 1];
	char target_name[ISCSI_NAME_MAX + 1];
	bool discovery;
	struct scsi_target *target;
	struct scsi_nexus *nexus;
	uint32_t exp_cmd_sn;
	uint32_t max_cmd_sn;
	unsigned window_used;              /* non-immediate commands accepted, not yet answered */
	unsigned immediate_used;
	struct iscsi_task *held;           /* out-of-order SCSI commands (chained by held_next) */
	struct iscsi_cmd_hold *held_pdus;  /* out-of-order non-SCSI requests */
	bool closing;
	/* reinstatement: a login elsewhere waits for this session to end */
	void (*on_closed)(void *arg);
	void *on_closed_arg;
	struct reactor *on_closed_reactor;
};

/* ---- server ---- */
struct iscsi_listener {
	struct iscsi_server *srv;
	int fd;
	struct reactor_fd w;
	struct reactor *owner;
	uint16_t port;
	bool active;
};

struct iscsi_target_entry {
	struct scsi_target *t;
	char *alias;
};

#define ISCSI_MAX_LISTENERS 16
#define ISCSI_MAX_REACTORS 256

struct iscsi_server {
	struct iscsi_server_opts opts;
	struct iscsi_limits lim;
	pthread_mutex_t lock;
	struct iscsi_target_entry *targets;
	unsigned ntargets;
	struct iscsi_listener listeners[ISCSI_MAX_LISTENERS];
	unsigned nlisteners;
	atomic_uint rr_next;
	struct iscsi_session *sessions;   /* under lock */
	uint16_t next_tsih;               /* under lock */
	atomic_uint live_conns;
	atomic_bool shutting_down;
	atomic_bool shutdown_done_sent;
	void (*shutdown_done)(void *arg);
	void *shutdown_arg;
	struct reactor *shutdown_reactor;
	struct iscsi_conn *conns[ISCSI_MAX_REACTORS]; /* per-reactor lists; each touched only by its reactor */
};

/* ---- conn.c ---- */
struct iscsi_conn *iscsi_conn_new(struct iscsi_server *srv, int fd);
void iscsi_conn_start(struct iscsi_conn *c);            /* on its reactor */
void iscsi_conn_close(struct iscsi_conn *c, const char *why);
/* Free a closing connection once its tasks are gone (called when one finishes). */
void iscsi_conn_maybe_free(struct iscsi_conn *c);
/* Server shutdown: stop reading, answer tasks in the SCSI layer, then close (5 s at most). */
void iscsi_conn_shutdown(struct iscsi_conn *c);
/* A draining connection closes when its last task was answered. */
void iscsi_conn_drain_check(struct iscsi_conn *c);
struct iscsi_txpdu *iscsi_txpdu_get(struct iscsi_conn *c);
/* Queue p (header in p->hdr, data set); fills digests; flushes later in this loop iteration. */
void iscsi_conn_queue(struct iscsi_conn *c, struct iscsi_txpdu *p);
/* Set StatSN/ExpCmdSN/MaxCmdSN at offsets 24/28/32 of a response BHS; advance StatSN if advance. */
void iscsi_conn_fill_sn(struct iscsi_conn *c, uint8_t *bhs, bool advance);
void iscsi_conn_rx_resume_check(struct iscsi_conn *c);
/* Send a Reject for the header hdr (the current PDU). */
void iscsi_send_reject(struct iscsi_conn *c, uint8_t reason, const uint8_t *hdr);
/* A queued text (login/text response) too big for one PDU: copy into an owned buffer. */
int iscsi_txpdu_set_data(struct iscsi_txpdu *p, const void *data, uint32_t len);

/* ---- tasks (scsi_cmd.c) ---- */
struct iscsi_task *iscsi_task_get(struct iscsi_conn *c);
void iscsi_task_put(struct iscsi_task *t);
struct iscsi_task *iscsi_task_find(struct iscsi_conn *c, uint32_t itt);
/* A SCSI Command header arrived: validate, allocate; sets rx data destination. 0 or -errno (close). */
int iscsi_scsi_cmd_hdr(struct iscsi_conn *c);
int iscsi_scsi_cmd_done_rx(struct iscsi_conn *c);
/* The command being received is discarded (data digest error): as if never received. */
void iscsi_scsi_cmd_drop(struct iscsi_conn *c);
int iscsi_data_out_hdr(struct iscsi_conn *c);
int iscsi_data_out_done_rx(struct iscsi_conn *c);
/* A held task's CmdSN came up (session.c): start it. */
void iscsi_task_start(struct iscsi_task *t);
/* Release a task's tx reference (a PDU pointing into its buffer left or was dropped). */
void iscsi_task_tx_done(struct iscsi_task *t);
/* Abort a task (TMF/teardown): drop pending data, suppress the response. */
void iscsi_task_abort(struct iscsi_task *t);

/* ---- session.c ---- */
/* Classify a non-immediate CmdSN: 0 = in order (ExpCmdSN advanced), 1 = ahead (hold), -1 = drop. */
int iscsi_cmdsn_check(struct iscsi_session *s, uint32_t cmdsn, bool immediate);
/* The same classification without advancing ExpCmdSN (the caller advances once the PDU is whole). */
int iscsi_cmdsn_classify(const struct iscsi_session *s, uint32_t cmdsn, bool immediate);
/* Recompute MaxCmdSN from free resources (never decreases). */
void iscsi_session_update_window(struct iscsi_session *s);
/* The command with cmdsn left the window (answered). */
void iscsi_session_cmd_finished(struct iscsi_session *s, bool immediate);
/* After ExpCmdSN advanced: run held commands whose turn came. */
void iscsi_session_run_held(struct iscsi_session *s);
int iscsi_session_hold_pdu(struct iscsi_session *s, uint32_t cmdsn, const uint8_t *hdr, size_t hdr_len,
			   const uint8_t *data, uint32_t dlen);
void iscsi_session_hold_task(struct iscsi_session *s, struct iscsi_task *t);
void iscsi_session_unhold_task(struct iscsi_session *s, struct iscsi_task *t);
/* Close an existing session with the same initiator name, ISID and target
 * (it may live on another reactor); fn(c) runs on c's reactor once it is
 * gone. Returns 0 (no such session), 1 (wait for fn), or -errno. */
int iscsi_session_reinstate(struct iscsi_conn *c, void (*fn)(void *arg));
void iscsi_session_drop_held(struct iscsi_session *s);
/* Create/bind a session for a completed login; handles reinstatement. */
int iscsi_session_create(struct iscsi_conn *c, struct iscsi_session **out);
/* Remove from the table and free (conn teardown, all tasks done). */
void iscsi_session_destroy(struct iscsi_session *s);
/* Find a session with the same initiator name, ISID and target (for reinstatement); under lock. */
struct iscsi_session *iscsi_session_find_locked(struct iscsi_server *srv, const char *iname, const uint8_t isid[6],
						const char *tname);
struct iscsi_session *iscsi_session_find_tsih_locked(struct iscsi_server *srv, uint16_t tsih);
/* Dispatch a PDU in full feature phase (after CmdSN ordering). */
void iscsi_dispatch_ordered(struct iscsi_conn *c, const uint8_t *hdr, const uint8_t *data, uint32_t dlen);

/* ---- login.c ---- */
int iscsi_login_rx(struct iscsi_conn *c, const uint8_t *hdr, const uint8_t *data, uint32_t dlen);
void iscsi_login_cleanup(struct iscsi_conn *c);

/* ---- tmf.c ---- */
struct iscsi_tmf_wait {
	struct iscsi_conn *conn;
	uint8_t hdr[ISCSI_BHS_LEN];
	uint8_t response;
	unsigned waiting;       /* tasks still finishing */
	bool close_after;       /* TARGET COLD RESET */
};
void iscsi_tmf_rx(struct iscsi_conn *c, const uint8_t *hdr);
/* A task a TMF waits for has finished. */
void iscsi_tmf_task_gone(struct iscsi_tmf_wait *w);

/* ---- misc_pdu.c ---- */
void iscsi_nop_out_rx(struct iscsi_conn *c, const uint8_t *hdr, const uint8_t *data, uint32_t dlen);
void iscsi_nop_ping(struct iscsi_conn *c);
void iscsi_text_rx(struct iscsi_conn *c, const uint8_t *hdr, const uint8_t *data, uint32_t dlen);
void iscsi_logout_rx(struct iscsi_conn *c, const uint8_t *hdr);
/* Append SendTargets answers for the request value val to out. */
void iscsi_send_targets(struct iscsi_conn *c, const char *val, struct iscsi_text *out);
/* Queue a logout response once the tasks are gone (logout.c internal), exposed for conn teardown checks. */
void iscsi_logout_check(struct iscsi_conn *c);

/* ---- server.c ---- */
struct scsi_target *iscsi_server_find_target(struct iscsi_server *srv, const char *name, const char **alias);
void iscsi_server_conn_gone(struct iscsi_server *srv);
/* "1.2.3.4" or "[::1]" (brackets for IPv6) and the port. Returns 0 or -EAFNOSUPPORT. */
int iscsi_sockaddr_str(const struct sockaddr_storage *ss, char *buf, size_t len, uint16_t *port);

#endif

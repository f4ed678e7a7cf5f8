/* conn.c - one iSCSI connection's socket I/O: batched nonblocking receive of PDUs, a sendmsg transmit queue, timers, teardown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "core/crc32c.h"
#include "core/log.h"
#include "iscsi/iscsi_internal.h"

#define NS_PER_S 1000000000ull

static void conn_tick(struct reactor_timer *t);
static void conn_event(struct reactor_fd *w, uint32_t events);
static void conn_flush(struct iscsi_conn *c);

/* ---- creation ---- */

struct iscsi_conn *iscsi_conn_new(struct iscsi_server *srv, int fd)
{
	struct iscsi_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->rxbuf = malloc(ISCSI_RXBUF_SIZE);
	if (!c->rxbuf) {
		free(c);
		return NULL;
	}
	c->srv = srv;
	c->fd = fd;
	c->nop_ttt = ISCSI_RSVD_TAG;
	c->next_ttt = 1;
	iscsi_params_defaults(&c->params);
	iscsi_text_init(&c->login.in);
	iscsi_text_init(&c->login.out);
	iscsi_text_init(&c->text_in);
	iscsi_text_init(&c->text_out);
	c->text_ttt = ISCSI_RSVD_TAG;

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[64];
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && iscsi_sockaddr_str(&ss, host, sizeof(host), NULL) == 0)
		snprintf(c->peer, sizeof(c->peer), "%s", host);
	else
		snprintf(c->peer, sizeof(c->peer), "?");
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    iscsi_sockaddr_str(&ss, host, sizeof(host), &c->local_port) == 0)
		snprintf(c->local_addr, sizeof(c->local_addr), "%s", host);
	snprintf(c->ctx, sizeof(c->ctx), "conn=%s", c->peer);
	return c;
}

void iscsi_conn_start(struct iscsi_conn *c)
{
	struct iscsi_server *srv = c->srv;
	c->reactor = reactor_self();
	unsigned idx = reactor_index(c->reactor);
	c->next = srv->conns[idx];
	if (c->next)
		c->next->prev = c;
	srv->conns[idx] = c;
	c->created_ns = c->last_rx_ns = c->last_tx_progress_ns = now_ns();
	reactor_timer_init(&c->tick, conn_tick, c);
	reactor_timer_start(&c->tick, NS_PER_S);
	int rc = reactor_fd_add(&c->w, c->fd, REACTOR_EV_IN, conn_event, c);
	if (rc) {
		log_err(LOGC_ISCSI, c->ctx, "cannot watch socket: %s", strerror(-rc));
		c->w.fd = -1;
		iscsi_conn_close(c, "watch failed");
		return;
	}
	c->ev = REACTOR_EV_IN;
	log_info(LOGC_ISCSI, c->ctx, "connection accepted on %s:%u", c->local_addr, c->local_port);
	if (atomic_load(&srv->shutting_down))
		iscsi_conn_close(c, "server shutting down");
}

/* ---- transmit ---- */

struct iscsi_txpdu *iscsi_txpdu_get(struct iscsi_conn *c)
{
	struct iscsi_txpdu *p = c->txpdu_free;
	if (p) {
		c->txpdu_free = p->next;
		c->txpdu_free_n--;
	} else {
		p = malloc(sizeof(*p));
		if (!p)
			return NULL;
	}
	memset(p, 0, offsetof(struct iscsi_txpdu, inline_data));
	return p;
}

static void txpdu_release(struct iscsi_conn *c, struct iscsi_txpdu *p)
{
	free(p->owned);
	p->owned = NULL;
	if (p->task) {
		struct iscsi_task *t = p->task;
		p->task = NULL;
		iscsi_task_tx_done(t);
	}
	if (c->txpdu_free_n < ISCSI_TXPDU_CACHE) {
		p->next = c->txpdu_free;
		c->txpdu_free = p;
		c->txpdu_free_n++;
	} else {
		free(p);
	}
}

int iscsi_txpdu_set_data(struct iscsi_txpdu *p, const void *data, uint32_t len)
{
	if (len <= ISCSI_TX_INLINE) {
		if (len)
			memcpy(p->inline_data, data, len);
		p->data = p->inline_data;
	} else {
		p->owned = malloc(len);
		if (!p->owned)
			return -ENOMEM;
		memcpy(p->owned, data, len);
		p->data = p->owned;
	}
	p->dlen = len;
	return 0;
}

void iscsi_conn_fill_sn(struct iscsi_conn *c, uint8_t *bhs, bool advance)
{
	put_be32(bhs + 24, c->stat_sn);
	if (advance)
		c->stat_sn++;
	if (c->sess) {
		iscsi_session_update_window(c->sess);
		put_be32(bhs + 28, c->sess->exp_cmd_sn);
		put_be32(bhs + 32, c->sess->max_cmd_sn);
	}
}

static void flush_cb(void *arg)
{
	struct iscsi_conn *c = arg;
	c->flush_pending = false;
	if (c->state != CONN_CLOSING)
		conn_flush(c);
}

static void rx_pause(struct iscsi_conn *c, bool pause)
{
	if (c->rx_paused == pause || c->state == CONN_CLOSING)
		return;
	c->rx_paused = pause;
	uint32_t ev = (c->ev & ~REACTOR_EV_IN) | (pause ? 0 : REACTOR_EV_IN);
	if (ev != c->ev && reactor_fd_mod(&c->w, ev) == 0)
		c->ev = ev;
}

void iscsi_conn_queue(struct iscsi_conn *c, struct iscsi_txpdu *p)
{
	if (c->state == CONN_CLOSING) {
		txpdu_release(c, p);
		return;
	}
	bhs_set_dsl(p->hdr, p->dlen);
	p->hdr_len = ISCSI_BHS_LEN;
	if (c->hdigest) {
		uint32_t crc = crc32c(p->hdr, ISCSI_BHS_LEN);
		memcpy(p->hdr + ISCSI_BHS_LEN, &crc, 4); /* little-endian on the wire (x86/arm LE hosts) */
		p->hdr_len += 4;
	}
	uint32_t pad = iscsi_pad(p->dlen);
	memset(p->trailer, 0, sizeof(p->trailer));
	p->trailer_len = (uint8_t)pad;
	if (c->ddigest && p->dlen) {
		uint32_t st = crc32c_update(crc32c_begin(), p->data, p->dlen);
		st = crc32c_update(st, p->trailer, pad);
		uint32_t crc = crc32c_end(st);
		memcpy(p->trailer + pad, &crc, 4);
		p->trailer_len += 4;
	}
	p->next = NULL;
	if (c->txq_tail)
		c->txq_tail->next = p;
	else
		c->txq_head = p;
	c->txq_tail = p;
	c->txq_bytes += p->hdr_len + p->dlen + p->trailer_len;
	if (c->txq_bytes > ISCSI_TX_HIGH_WATER)
		rx_pause(c, true);
	if (!c->flush_pending) {
		c->flush_pending = true;
		reactor_defer(&c->flush_defer, flush_cb, c);
	}
}

static void set_out_watch(struct iscsi_conn *c, bool on)
{
	uint32_t ev = on ? (c->ev | REACTOR_EV_OUT) : (c->ev & ~REACTOR_EV_OUT);
	if (ev != c->ev && reactor_fd_mod(&c->w, ev) == 0)
		c->ev = ev;
}

static void conn_flush(struct iscsi_conn *c)
{
	while (c->txq_head && c->state != CONN_CLOSING) {
		struct iovec iov[ISCSI_TX_IOV_MAX];
		int n = 0;
		size_t total = 0, skip = c->tx_off;
		for (struct iscsi_txpdu *p = c->txq_head; p && n + 3 <= ISCSI_TX_IOV_MAX; p = p->next) {
			struct iovec seg[3] = {
				{ p->hdr, p->hdr_len },
				{ (void *)(uintptr_t)p->data, p->dlen },
				{ p->trailer, p->trailer_len },
			};
			for (int i = 0; i < 3; i++) {
				if (!seg[i].iov_len)
					continue;
				if (skip >= seg[i].iov_len) {
					skip -= seg[i].iov_len;
					continue;
				}
				iov[n].iov_base = (char *)seg[i].iov_base + skip;
				iov[n].iov_len = seg[i].iov_len - skip;
				skip = 0;
				total += iov[n].iov_len;
				n++;
			}
		}
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t sent = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_out_watch(c, true);
				return;
			}
			log_info(LOGC_ISCSI, c->ctx, "send failed: %s", strerror(errno));
			iscsi_conn_close(c, "send error");
			return;
		}
		if (sent > 0)
			c->last_tx_progress_ns = now_ns();
		size_t left = (size_t)sent;
		while (c->txq_head) {
			struct iscsi_txpdu *p = c->txq_head;
			size_t plen = (size_t)p->hdr_len + p->dlen + p->trailer_len;
			size_t remain = plen - c->tx_off;
			if (left < remain) {
				c->tx_off += left;
				break;
			}
			left -= remain;
			c->tx_off = 0;
			c->txq_head = p->next;
			if (!c->txq_head)
				c->txq_tail = NULL;
			c->txq_bytes -= plen;
			bool close_after = p->close_after;
			txpdu_release(c, p);
			if (close_after) {
				iscsi_conn_close(c, "closed after final response");
				return;
			}
		}
		if ((size_t)sent < total) {
			set_out_watch(c, true);
			return;
		}
	}
	if (c->state == CONN_CLOSING)
		return;
	set_out_watch(c, false);
	if (c->rx_paused && c->txq_bytes < ISCSI_TX_HIGH_WATER / 2) {
		rx_pause(c, false);
		iscsi_conn_rx_resume_check(c);
	}
}

void iscsi_send_reject(struct iscsi_conn *c, uint8_t reason, const uint8_t *hdr)
{
	struct iscsi_txpdu *p = iscsi_txpdu_get(c);
	if (!p) {
		iscsi_conn_close(c, "out of memory");
		return;
	}
	p->hdr[0] = ISCSI_OP_REJECT;
	p->hdr[1] = ISCSI_FLAG_FINAL;
	p->hdr[REJECT_REASON] = reason;
	put_be32(p->hdr + BHS_ITT, ISCSI_RSVD_TAG);
	iscsi_conn_fill_sn(c, p->hdr, true);
	iscsi_txpdu_set_data(p, hdr, ISCSI_BHS_LEN);
	log_info(LOGC_ISCSI, c->ctx, "Reject %s (%s, ITT 0x%08x): %s", iscsi_opcode_name(bhs_opcode(hdr)),
		 iscsi_reject_reason_str(reason), bhs_itt(hdr), iscsi_reject_reason_str(reason));
	iscsi_conn_queue(c, p);
}

/* ---- receive ---- */

/* Largest data segment we accept right now. */
static uint32_t rx_limit(const struct iscsi_conn *c)
{
	if (c->state == CONN_LOGIN)
		return MAX(ISCSI_LOGIN_DSL, c->srv->lim.max_recv_dsl);
	return c->params.max_recv_dsl;
}

/* A header arrived (in c->rx.hdr): decide where its data goes. */
static int rx_header(struct iscsi_conn *c)
{
	const uint8_t *h = c->rx.hdr;
	uint8_t op = bhs_opcode(h);

	if (c->rx.dlen > rx_limit(c)) {
		log_warn(LOGC_ISCSI, c->ctx, "%s with data segment %u > limit %u: protocol error",
			 iscsi_opcode_name(op), c->rx.dlen, rx_limit(c));
		/* Reject, push it out, and close: the oversized segment is never read. */
		iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL, h);
		conn_flush(c);
		return -EPROTO;
	}
	if (c->state == CONN_FULL_FEATURE && c->sess && !c->sess->discovery) {
		if (op == ISCSI_OP_SCSI_CMD)
			return iscsi_scsi_cmd_hdr(c);
		if (op == ISCSI_OP_DATA_OUT)
			return iscsi_data_out_hdr(c);
	}
	if (c->state == CONN_LOGGED_OUT || !iscsi_opcode_is_initiator(op) || op == ISCSI_OP_DATA_OUT ||
	    op == ISCSI_OP_SCSI_CMD)
		c->rx.discard = true;
	return 0;
}

/* A whole PDU arrived. */
static int rx_pdu(struct iscsi_conn *c)
{
	const uint8_t *h = c->rx.hdr;
	uint8_t op = bhs_opcode(h);
	const uint8_t *data = c->rx.data;
	uint32_t dlen = c->rx.dlen;

	c->last_rx_ns = now_ns();
	if (c->state == CONN_LOGGED_OUT)
		return 0; /* after logout (or a fatal Reject) nothing more is processed */
	if (c->rx.digest_bad) {
		/* RFC 7143 7.8: Reject with "data digest error" and discard the PDU. A command with
		 * immediate data is dropped first, so that the Reject's ExpCmdSN already shows its CmdSN
		 * as not received (7.3): the initiator retries it. */
		if (c->rx.task && c->rx.task_data && op != ISCSI_OP_DATA_OUT)
			iscsi_scsi_cmd_drop(c);
		iscsi_send_reject(c, ISCSI_REJECT_DIGEST, h);
		if (c->rx.task && c->rx.task_data && op == ISCSI_OP_DATA_OUT)
			return iscsi_data_out_done_rx(c); /* the task ends with CHECK CONDITION */
		return 0;
	}
	if (c->state == CONN_LOGIN) {
		if (op != ISCSI_OP_LOGIN_REQ) {
			log_warn(LOGC_ISCSI, c->ctx, "%s before login completed", iscsi_opcode_name(op));
			return -EPROTO;
		}
		return iscsi_login_rx(c, h, data, dlen);
	}
	switch (op) {
	case ISCSI_OP_SCSI_CMD:
		if (c->sess->discovery) {
			iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL, h);
			return 0;
		}
		return iscsi_scsi_cmd_done_rx(c);
	case ISCSI_OP_DATA_OUT:
		if (c->sess->discovery) {
			iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL, h);
			return 0;
		}
		return iscsi_data_out_done_rx(c);
	case ISCSI_OP_NOP_OUT:
	case ISCSI_OP_TEXT_REQ:
	case ISCSI_OP_TMF_REQ:
	case ISCSI_OP_LOGOUT_REQ: {
		bool imm = bhs_immediate(h);
		/* A NOP-Out answering our ping carries ITT 0xffffffff and is not ordered. */
		if (op == ISCSI_OP_NOP_OUT && bhs_itt(h) == ISCSI_RSVD_TAG)
			imm = true;
		int r = iscsi_cmdsn_check(c->sess, get_be32(h + 24), imm);
		if (r < 0)
			return 0; /* outside the window: silently ignored (RFC 7143 4.2.2.1) */
		if (r > 0)
			return iscsi_session_hold_pdu(c->sess, get_be32(h + 24), h, ISCSI_BHS_LEN, data, dlen);
		iscsi_dispatch_ordered(c, h, data, dlen);
		if (c->state != CONN_CLOSING && !imm)
			iscsi_session_run_held(c->sess);
		return 0;
	}
	case ISCSI_OP_LOGIN_REQ:
		iscsi_send_reject(c, ISCSI_REJECT_PROTOCOL, h);
		return 0;
	case ISCSI_OP_SNACK_REQ:
		/* ErrorRecoveryLevel 0: SNACK is not supported. */
		iscsi_send_reject(c, ISCSI_REJECT_CMD_NOT_SUPPORTED, h);
		return 0;
	default:
		iscsi_send_reject(c, ISCSI_REJECT_CMD_NOT_SUPPORTED, h);
		return 0;
	}
}

static uint32_t rx_trailer_len(const struct iscsi_conn *c)
{
	uint32_t tl = iscsi_pad(c->rx.dlen);
	if (c->ddigest && c->rx.dlen)
		tl += ISCSI_DIGEST_LEN;
	return tl;
}

/* Consume what rxbuf holds. Returns 0 (need more bytes) or -errno (close). */
static int rx_process(struct iscsi_conn *c)
{
	struct iscsi_rx *rx = &c->rx;
	while (c->state != CONN_CLOSING) {
		uint32_t avail = c->rx_end - c->rx_start;
		uint8_t *in = c->rxbuf + c->rx_start;
		switch (rx->state) {
		case RX_HDR: {
			if (avail < ISCSI_BHS_LEN)
				return 0;
			uint32_t ahs = bhs_ahs_len(in);
			uint32_t hl = ISCSI_BHS_LEN + ahs + (c->hdigest ? ISCSI_DIGEST_LEN : 0);
			if (avail < hl)
				return 0;
			if (c->hdigest) {
				uint32_t crc = crc32c(in, ISCSI_BHS_LEN + ahs), got;
				memcpy(&got, in + ISCSI_BHS_LEN + ahs, 4);
				if (crc != got) {
					/* ERL0: the PDU boundary cannot be trusted; close (RFC 7143 7.8). */
					log_warn(LOGC_ISCSI, c->ctx, "header digest error: closing");
					return -EBADMSG;
				}
			}
			memcpy(rx->hdr, in, ISCSI_BHS_LEN + ahs);
			c->rx_start += hl;
			rx->ahs_len = ahs;
			rx->dlen = bhs_dsl(rx->hdr);
			rx->got = 0;
			rx->dst = NULL;
			rx->discard = false;
			rx->data = NULL;
			rx->task = NULL;
			rx->task_data = false;
			rx->digest_bad = false;
			int rc = rx_header(c);
			if (rc)
				return rc;
			rx->state = RX_DATA;
			break;
		}
		case RX_DATA: {
			if (rx->got == rx->dlen) {
				rx->state = RX_TRAILER;
				break;
			}
			if (rx->dst || rx->discard) {
				uint32_t n = MIN(avail, rx->dlen - rx->got);
				if (rx->dst)
					memcpy(rx->dst + rx->got, in, n);
				c->rx_start += n;
				rx->got += n;
				if (rx->got < rx->dlen)
					return 0;
				rx->state = RX_TRAILER;
				break;
			}
			/* Data for a handler: in place when the whole segment and trailer are here. */
			if (avail >= rx->dlen + rx_trailer_len(c)) {
				rx->data = in;
				rx->got = rx->dlen;
				c->rx_start += rx->dlen;
				rx->state = RX_TRAILER;
				break;
			}
			if (c->bigbuf_len < rx->dlen) {
				uint8_t *nb = realloc(c->bigbuf, rx->dlen);
				if (!nb)
					return -ENOMEM;
				c->bigbuf = nb;
				c->bigbuf_len = rx->dlen;
			}
			rx->dst = c->bigbuf;
			break;
		}
		case RX_TRAILER: {
			uint32_t tl = rx_trailer_len(c);
			if (avail < tl)
				return 0;
			if (rx->dst)
				rx->data = rx->dst;
			if (c->ddigest && rx->dlen && !rx->discard) {
				uint32_t pad = iscsi_pad(rx->dlen);
				uint32_t st = crc32c_update(crc32c_begin(), rx->data, rx->dlen);
				st = crc32c_update(st, in, pad);
				uint32_t crc = crc32c_end(st), got;
				memcpy(&got, in + pad, 4);
				if (crc != got) {
					log_warn(LOGC_ISCSI, c->ctx, "data digest error on %s (ITT 0x%08x)",
						 iscsi_opcode_name(bhs_opcode(rx->hdr)), bhs_itt(rx->hdr));
					rx->digest_bad = true;
				}
			}
			c->rx_start += tl;
			rx->state = RX_HDR;
			if (rx->discard && !rx->task_data)
				rx->data = NULL;
			int rc = rx_pdu(c);
			rx->data = NULL;
			if (rc)
				return rc;
			break;
		}
		}
	}
	return 0;
}

static void rx_note_partial(struct iscsi_conn *c)
{
	bool partial = c->rx.state != RX_HDR || c->rx_end != c->rx_start;
	if (!partial)
		c->partial_since_ns = 0;
	else if (!c->partial_since_ns)
		c->partial_since_ns = now_ns();
}

static void conn_rx(struct iscsi_conn *c)
{
	for (int round = 0; round < 32; round++) {
		if (c->state == CONN_CLOSING || c->rx_paused)
			return;
		ssize_t n;
		size_t want;
		struct iscsi_rx *rx = &c->rx;
		if (c->rx_start == c->rx_end)
			c->rx_start = c->rx_end = 0;
		if (rx->state == RX_DATA && rx->dst && c->rx_start == c->rx_end && rx->dlen - rx->got >= 4096) {
			/* Large data: straight into its destination, the rest into rxbuf. */
			struct iovec iov[2] = {
				{ rx->dst + rx->got, rx->dlen - rx->got },
				{ c->rxbuf, ISCSI_RXBUF_SIZE },
			};
			want = iov[0].iov_len + iov[1].iov_len;
			n = readv(c->fd, iov, 2);
			if (n > 0) {
				uint32_t k = (uint32_t)MIN((size_t)n, iov[0].iov_len);
				rx->got += k;
				c->rx_end = (uint32_t)((size_t)n - k);
			}
		} else {
			if (c->rx_start > 0 && (c->rx_end == ISCSI_RXBUF_SIZE || ISCSI_RXBUF_SIZE - c->rx_end < 4096)) {
				memmove(c->rxbuf, c->rxbuf + c->rx_start, c->rx_end - c->rx_start);
				c->rx_end -= c->rx_start;
				c->rx_start = 0;
			}
			want = ISCSI_RXBUF_SIZE - c->rx_end;
			n = recv(c->fd, c->rxbuf + c->rx_end, want, MSG_DONTWAIT);
			if (n > 0)
				c->rx_end += (uint32_t)n;
		}
		if (n == 0) {
			iscsi_conn_close(c, c->rx.state == RX_HDR && c->rx_start == c->rx_end ? "peer closed"
												   : "peer closed mid-PDU");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				iscsi_conn_close(c, "receive error");
			break;
		}
		int rc = rx_process(c);
		if (rc) {
			iscsi_conn_close(c, rc == -EBADMSG ? "header digest error" : "protocol error");
			return;
		}
		if ((size_t)n < want)
			break; /* the socket is drained: skip the recv that would say EAGAIN */
	}
	if (c->state != CONN_CLOSING) {
		rx_note_partial(c);
		if (c->flush_pending) {
			/* Answer the batch now, in one sendmsg. */
			conn_flush(c);
		}
	}
}

void iscsi_conn_rx_resume_check(struct iscsi_conn *c)
{
	/* Bytes may already sit in rxbuf from before the pause. */
	if (c->state == CONN_CLOSING || c->rx_paused)
		return;
	if (c->rx_end != c->rx_start) {
		int rc = rx_process(c);
		if (rc)
			iscsi_conn_close(c, "protocol error");
	}
}

static void conn_event(struct reactor_fd *w, uint32_t events)
{
	struct iscsi_conn *c = w->arg;
	if (events & REACTOR_EV_OUT)
		conn_flush(c);
	if (c->state == CONN_CLOSING)
		return;
	if (events & (REACTOR_EV_IN | REACTOR_EV_ERR)) {
		if (c->rx_paused && !(events & REACTOR_EV_ERR))
			return;
		conn_rx(c);
	}
}

/* ---- graceful close (server shutdown) ---- */

void iscsi_conn_drain_check(struct iscsi_conn *c)
{
	if (!c->draining || c->state == CONN_CLOSING || c->tasks_in_scsi)
		return;
	if (!c->txq_head)
		iscsi_conn_close(c, "server shutdown");
	else
		c->txq_tail->close_after = true;
}

void iscsi_conn_shutdown(struct iscsi_conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	if (c->state == CONN_LOGIN || c->draining) {
		iscsi_conn_close(c, "server shutdown");
		return;
	}
	/* Read nothing more; answer what the SCSI layer is working on, then close. */
	c->state = CONN_LOGGED_OUT;
	c->draining = true;
	c->drain_deadline_ns = now_ns() + 5 * NS_PER_S;
	struct iscsi_task *t = c->tasks;
	while (t) {
		struct iscsi_task *next = t->next;
		if (t->state == TASK_WAIT_DATA || t->state == TASK_WAIT_ORDER)
			iscsi_task_abort(t);
		t = next;
	}
	iscsi_conn_drain_check(c);
}

/* ---- timers ---- */

static void conn_tick(struct reactor_timer *t)
{
	struct iscsi_conn *c = t->arg;
	const struct iscsi_server_opts *o = &c->srv->opts;
	uint64_t now = now_ns();
	if (c->state == CONN_CLOSING)
		return;
	if (c->draining && now > c->drain_deadline_ns) {
		iscsi_conn_close(c, "server shutdown (tasks did not finish in time)");
		return;
	}
	if (c->state == CONN_LOGIN && now - c->created_ns > (uint64_t)o->login_timeout_s * NS_PER_S) {
		log_notice(LOGC_ISCSI, c->ctx, "login not completed in %u s: closing", o->login_timeout_s);
		iscsi_conn_close(c, "login timeout");
		return;
	}
	if (c->partial_since_ns && now - c->partial_since_ns > (uint64_t)o->stall_timeout_s * NS_PER_S) {
		log_notice(LOGC_ISCSI, c->ctx, "peer stalled mid-PDU for %u s: closing", o->stall_timeout_s);
		iscsi_conn_close(c, "stalled mid-PDU");
		return;
	}
	if (c->txq_head && now - c->last_tx_progress_ns > (uint64_t)o->stall_timeout_s * NS_PER_S) {
		log_notice(LOGC_ISCSI, c->ctx, "peer has not read our responses for %u s: closing", o->stall_timeout_s);
		iscsi_conn_close(c, "send stalled");
		return;
	}
	if (c->state == CONN_FULL_FEATURE) {
		if (c->nop_ttt != ISCSI_RSVD_TAG) {
			if (now - c->nop_sent_ns > (uint64_t)o->nop_timeout_s * NS_PER_S) {
				log_notice(LOGC_ISCSI, c->ctx, "NOP-In ping not answered in %u s: closing",
					   o->nop_timeout_s);
				iscsi_conn_close(c, "NOP timeout");
				return;
			}
		} else if (now - c->last_rx_ns > (uint64_t)o->nop_interval_s * NS_PER_S) {
			iscsi_nop_ping(c);
		}
	}
	reactor_timer_start(&c->tick, NS_PER_S);
}

/* ---- teardown ---- */

static void conn_free(void *arg)
{
	struct iscsi_conn *c = arg;
	struct iscsi_server *srv = c->srv;
	if (c->sess) {
		iscsi_session_destroy(c->sess);
		c->sess = NULL;
	}
	unsigned idx = reactor_index(c->reactor);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns[idx] = c->next;
	if (c->next)
		c->next->prev = c->prev;
	while (c->task_free) {
		struct iscsi_task *t = c->task_free;
		c->task_free = t->next;
		free(t);
	}
	while (c->txpdu_free) {
		struct iscsi_txpdu *p = c->txpdu_free;
		c->txpdu_free = p->next;
		free(p);
	}
	iscsi_login_cleanup(c);
	iscsi_text_free(&c->text_in);
	iscsi_text_free(&c->text_out);
	free(c->rxbuf);
	free(c->bigbuf);
	log_info(LOGC_ISCSI, c->ctx, "connection closed (%s)", c->close_reason ? c->close_reason : "?");
	free(c);
	iscsi_server_conn_gone(srv);
}

/* Free once no task is in the SCSI layer and no cross-reactor callback is pending. */
static void conn_maybe_free(struct iscsi_conn *c)
{
	if (c->state != CONN_CLOSING || c->tasks_in_scsi || c->refs || c->close_deferred)
		return;
	c->close_deferred = true;
	reactor_defer(&c->close_defer, conn_free, c);
}

void iscsi_conn_maybe_free(struct iscsi_conn *c) { conn_maybe_free(c); }

void iscsi_conn_close(struct iscsi_conn *c, const char *why)
{
	if (c->state == CONN_CLOSING) {
		conn_maybe_free(c);
		return;
	}
	c->state = CONN_CLOSING;
	c->close_reason = why;
	if (c->w.fd >= 0 && c->reactor)
		reactor_fd_del(&c->w);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (reactor_timer_armed(&c->tick))
		reactor_timer_cancel(&c->tick);
	while (c->txq_head) {
		struct iscsi_txpdu *p = c->txq_head;
		c->txq_head = p->next;
		txpdu_release(c, p);
	}
	c->txq_tail = NULL;
	c->txq_bytes = 0;
	if (c->sess) {
		c->sess->closing = true;
		iscsi_session_drop_held(c->sess);
	}
	/* Abort every task: those in the SCSI layer finish there first. */
	struct iscsi_task *t = c->tasks;
	while (t) {
		struct iscsi_task *next = t->next;
		iscsi_task_abort(t);
		t = next;
	}
	conn_maybe_free(c);
}

/* wire_harness.c - iSCSI wire-test harness: a server in a child process and a tiny raw-PDU initiator. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "blk/blk.h"
#include "core/crc32c.h"
#include "core/reactor.h"
#include "iscsi/iscsi.h"
#include "scsi/scsi.h"
#include "wire_harness.h"

static struct iscsi_server *g_srv;
static struct scsi_target *g_tgt;
static struct blk_dev *g_dev;
uint16_t g_port;
static int g_ready[2];
static pid_t g_child;

/* ---- server thread ---- */

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
	int rc = iscsi_server_listen(g_srv, "127.0.0.1", 0);
	uint16_t port = rc ? 0 : iscsi_server_port(g_srv, 0);
	if (write(g_ready[1], &port, sizeof(port)) != sizeof(port))
		abort();
}

static void on_term(int sig)
{
	(void)sig;
	reactors_stop();
}

/* The server runs in a child process (reactor 0 must run on the thread that created it). */
static int server_child(void)
{
	struct iscsi_server_opts o = { .max_burst_length = 8192, .first_burst_length = 4096, .max_outstanding_r2t = 2,
				       .max_queue_depth = 16, .nop_interval_s = 1, .nop_timeout_s = 1,
				       .login_timeout_s = 2, .stall_timeout_s = 1 };
	if (reactors_init(2) || iscsi_server_create(&o, &g_srv))
		return 1;
	if (blk_malloc_create("wire", 16 << 20, 512, &g_dev) || scsi_target_create(TARGET, 1, &g_tgt))
		return 1;
	struct scsi_lu_opts lo = { .name = "wire" };
	struct scsi_lu *lu;
	if (scsi_lu_create(g_tgt, 0, g_dev, &lo, &lu) || iscsi_server_add_target(g_srv, g_tgt, "wire disk"))
		return 1;
	signal(SIGTERM, on_term);
	reactors_on_stop(stop_hook, NULL);
	reactor_send_msg(reactor_get(0), start_listen, NULL);
	reactors_run();
	iscsi_server_destroy(g_srv);
	scsi_target_destroy(g_tgt);
	blk_destroy(g_dev);
	reactors_fini();
	return 0;
}

int setup_server(void **state)
{
	(void)state;
	if (pipe(g_ready))
		return -1;
	g_child = fork();
	if (g_child < 0)
		return -1;
	if (g_child == 0) {
		close(g_ready[0]);
		exit(server_child());
	}
	close(g_ready[1]);
	if (read(g_ready[0], &g_port, sizeof(g_port)) != sizeof(g_port) || !g_port)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int teardown_server(void **state)
{
	(void)state;
	int status = 0;
	kill(g_child, SIGTERM);
	waitpid(g_child, &status, 0);
	close(g_ready[0]);
	/* The server shut down cleanly (and, under sanitizers, without leaks). */
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- client ---- */

struct pdu g_pdu;

int cli_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(g_port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

void send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the peer may have closed: the test checks that separately */
		p += n;
		len -= (size_t)n;
	}
}

void send_pdu(struct cli *c, const uint8_t *bhs, const void *data, uint32_t dlen)
{
	uint8_t h[52];
	memcpy(h, bhs, 48);
	put_be24(h + 5, dlen);
	size_t hl = 48;
	if (c->hd) {
		uint32_t crc = crc32c(h, 48);
		memcpy(h + 48, &crc, 4);
		hl = 52;
	}
	send_all(c->fd, h, hl);
	if (dlen) {
		static const uint8_t zero[4];
		send_all(c->fd, data, dlen);
		send_all(c->fd, zero, iscsi_pad(dlen));
		if (c->dd) {
			uint32_t st = crc32c_update(crc32c_begin(), data, dlen);
			uint32_t crc = crc32c_end(crc32c_update(st, zero, iscsi_pad(dlen)));
			if (c->dd_bad)
				crc ^= 0x10;
			c->dd_bad = false;
			send_all(c->fd, &crc, 4);
		}
	}
}

/* Read exactly len bytes within timeout_ms; returns 0, or -1 on close/timeout. */
static int recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		ssize_t n = recv(fd, p, len, 0);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int recv_pdu(struct cli *c, struct pdu *p, int timeout_ms)
{
	if (recv_all(c->fd, p->bhs, 48, timeout_ms))
		return -1;
	if (c->hd) {
		uint32_t crc;
		if (recv_all(c->fd, &crc, 4, timeout_ms))
			return -1;
		assert_int_equal(crc, crc32c(p->bhs, 48));
	}
	p->dlen = bhs_dsl(p->bhs);
	assert_true(p->dlen <= sizeof(p->data));
	if (p->dlen) {
		uint8_t pad[4];
		if (recv_all(c->fd, p->data, p->dlen, timeout_ms) || recv_all(c->fd, pad, iscsi_pad(p->dlen), timeout_ms))
			return -1;
		if (c->dd) {
			uint32_t crc;
			if (recv_all(c->fd, &crc, 4, timeout_ms))
				return -1;
			uint32_t st = crc32c_update(crc32c_begin(), p->data, p->dlen);
			assert_int_equal(crc, crc32c_end(crc32c_update(st, pad, iscsi_pad(p->dlen))));
		}
	}
	return 0;
}

bool peer_closed(struct cli *c, int timeout_ms)
{
	struct pdu *p = &g_pdu;
	for (int i = 0; i < 10000; i++)
		if (recv_pdu(c, p, timeout_ms))
			return true;
	return false;
}

void text_of(char *out, size_t cap, uint32_t *len, const char *s)
{
	size_t l = strlen(s);
	assert_true(l < cap);
	for (size_t i = 0; i < l; i++)
		out[i] = s[i] == '|' ? '\0' : s[i];
	out[l] = '\0';
	*len = (uint32_t)l + 1;
}

/* Send one login request (CSG 1 -> NSG 3) with keys ("k=v|k=v"); returns the status. */
uint16_t login_once(struct cli *c, const char *keys, uint8_t vmin)
{
	uint8_t h[48] = { 0 };
	char text[2048];
	uint32_t tl;
	text_of(text, sizeof(text), &tl, keys);
	h[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_LOGIN_REQ;
	h[1] = LOGIN_FLAG_TRANSIT | (1 << 2) | 3;
	h[3] = vmin;
	memcpy(h + 8, c->isid, 6);
	put_be16(h + 14, c->tsih);
	put_be32(h + 16, c->itt++);
	put_be16(h + 20, c->cid);
	put_be32(h + 24, c->cmdsn);
	send_pdu(c, h, text, tl);
	struct pdu *p = &g_pdu;
	if (recv_pdu(c, p, 3000))
		return 0xffff;
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_LOGIN_RSP);
	uint16_t st = get_be16(p->bhs + 36);
	if (!st) {
		assert_true(p->bhs[1] & LOGIN_FLAG_TRANSIT);
		assert_int_equal(LOGIN_NSG(p->bhs[1]), 3);
		c->tsih = get_be16(p->bhs + 14);
		assert_int_not_equal(c->tsih, 0);
		assert_int_equal(get_be32(p->bhs + 28), c->cmdsn);
	}
	return st;
}

void cli_open(struct cli *c, const char *extra, uint8_t isid_last)
{
	memset(c, 0, sizeof(*c));
	c->fd = cli_connect();
	c->isid[0] = 0x80;
	c->isid[5] = isid_last;
	c->cmdsn = 1;
	c->itt = 1;
	char keys[1024];
	snprintf(keys, sizeof(keys), "InitiatorName=" INITIATOR "|TargetName=" TARGET "|SessionType=Normal%s%s",
		 extra ? "|" : "", extra ? extra : "");
	assert_int_equal(login_once(c, keys, 0), 0);
	if (extra && strstr(extra, "HeaderDigest=CRC32C"))
		c->hd = true;
	if (extra && strstr(extra, "DataDigest=CRC32C"))
		c->dd = true;
}


/* Consume the power-on unit attention of a new I_T nexus. */
void clear_ua(struct cli *c)
{
	uint8_t tur[16] = { 0 };
	for (int i = 0; i < 4; i++) {
		scsi_cmd(c, ISCSI_FLAG_FINAL, 0xfff0u + (uint32_t)i, 0, tur, 16, NULL, 0);
		if (expect_rsp(c, 0xfff0u + (uint32_t)i) == SCSI_STATUS_GOOD)
			return;
	}
	fail_msg("unit attention does not clear");
}

void cli_close(struct cli *c)
{
	close(c->fd);
	c->fd = -1;
}

void scsi_cmd(struct cli *c, uint8_t flags, uint32_t itt, uint32_t edtl, const uint8_t *cdb, int cdblen,
		     const void *imm, uint32_t immlen)
{
	uint8_t h[48] = { 0 };
	h[0] = ISCSI_OP_SCSI_CMD;
	h[1] = flags | 1; /* SIMPLE */
	put_be32(h + 16, itt);
	put_be32(h + 20, edtl);
	put_be32(h + 24, c->cmdsn++);
	memcpy(h + 32, cdb, (size_t)cdblen);
	send_pdu(c, h, imm, immlen);
}

void data_out(struct cli *c, uint32_t itt, uint32_t ttt, uint32_t datasn, uint32_t off, const void *d,
		     uint32_t len, bool final)
{
	uint8_t h[48] = { 0 };
	h[0] = ISCSI_OP_DATA_OUT;
	h[1] = final ? ISCSI_FLAG_FINAL : 0;
	put_be32(h + 16, itt);
	put_be32(h + 20, ttt);
	put_be32(h + 36, datasn);
	put_be32(h + 40, off);
	send_pdu(c, h, d, len);
}

void cdb_rw10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	put_be32(cdb + 2, lba);
	put_be16(cdb + 7, blocks);
}

/* Expect a SCSI Response for itt; returns the status. */
uint8_t expect_rsp(struct cli *c, uint32_t itt)
{
	struct pdu *p = &g_pdu;
	assert_int_equal(recv_pdu(c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_SCSI_RSP);
	assert_int_equal(bhs_itt(p->bhs), itt);
	return p->bhs[3];
}

void nop_ping(struct cli *c, uint32_t itt)
{
	uint8_t h[48] = { 0 };
	h[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_NOP_OUT;
	h[1] = ISCSI_FLAG_FINAL;
	put_be32(h + 16, itt);
	put_be32(h + 20, ISCSI_RSVD_TAG);
	put_be32(h + 24, c->cmdsn);
	send_pdu(c, h, "ping", 4);
	struct pdu *p = &g_pdu;
	assert_int_equal(recv_pdu(c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_NOP_IN);
	assert_int_equal(bhs_itt(p->bhs), itt);
	assert_int_equal(get_be32(p->bhs + 20), ISCSI_RSVD_TAG);
	assert_int_equal(p->dlen, 4);
	assert_memory_equal(p->data, "ping", 4);
}

/* Send a raw login PDU with flags and text; returns 0 and the response in g_pdu. */
int login_raw(struct cli *c, uint8_t flags, const char *keys)
{
	uint8_t h[48] = { 0 };
	char text[2048];
	uint32_t tl = 0;
	if (keys)
		text_of(text, sizeof(text), &tl, keys);
	if (flags & LOGIN_FLAG_CONTINUE && tl)
		tl--; /* the last pair continues in the next PDU: no terminating NUL yet */
	h[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_LOGIN_REQ;
	h[1] = flags;
	memcpy(h + 8, c->isid, 6);
	put_be32(h + 16, c->itt);
	put_be32(h + 24, c->cmdsn);
	send_pdu(c, h, text, tl);
	return recv_pdu(c, &g_pdu, 3000);
}

/* NOP ping that also answers the target's own pings (NOP-In with ITT 0xffffffff). */
void ping_answering(struct cli *c, uint32_t itt)
{
	uint8_t h[48] = { 0 };
	h[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_NOP_OUT;
	h[1] = ISCSI_FLAG_FINAL;
	put_be32(h + 16, itt);
	put_be32(h + 20, ISCSI_RSVD_TAG);
	put_be32(h + 24, c->cmdsn);
	send_pdu(c, h, NULL, 0);
	struct pdu *p = &g_pdu;
	for (;;) {
		assert_int_equal(recv_pdu(c, p, 3000), 0);
		assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_NOP_IN);
		if (bhs_itt(p->bhs) == itt)
			return;
		assert_int_equal(bhs_itt(p->bhs), ISCSI_RSVD_TAG);
		uint8_t r[48] = { 0 };
		r[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_NOP_OUT;
		r[1] = ISCSI_FLAG_FINAL;
		put_be32(r + 16, ISCSI_RSVD_TAG);
		memcpy(r + 20, p->bhs + 20, 4);
		put_be32(r + 24, c->cmdsn);
		send_pdu(c, r, NULL, 0);
	}
}


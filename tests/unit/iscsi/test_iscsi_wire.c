/* test_iscsi_wire.c - end-to-end tests of the iSCSI target with hand-built PDUs: login, R2T/Data-Out, errors, timers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/crc32c.h"
#include "iscsi/pdu.h"
#include "scsi/scsi.h"
#include "wire_harness.h"

static void test_login_failures(void **state)
{
	(void)state;
	struct cli c = { .cmdsn = 1, .isid = { 0x80, 0, 0, 0, 0, 9 } };
	c.fd = cli_connect();
	assert_int_equal(login_once(&c, "TargetName=" TARGET, 0), LOGIN_MISSING_PARAM);
	assert_true(peer_closed(&c, 2000));
	cli_close(&c);
	c.fd = cli_connect();
	assert_int_equal(login_once(&c, "InitiatorName=" INITIATOR "|TargetName=iqn.nope:x", 0), LOGIN_NOT_FOUND);
	cli_close(&c);
	c.fd = cli_connect();
	assert_int_equal(login_once(&c, "InitiatorName=" INITIATOR "|SessionType=Normal", 0), LOGIN_MISSING_PARAM);
	cli_close(&c);
	c.fd = cli_connect();
	assert_int_equal(login_once(&c, "InitiatorName=" INITIATOR "|TargetName=" TARGET, 1), LOGIN_UNSUPPORTED_VERSION);
	cli_close(&c);
	c.fd = cli_connect();
	assert_int_equal(login_once(&c, "InitiatorName=" INITIATOR "|TargetName=" TARGET "|MaxBurstLength=512|"
					"MaxBurstLength=1024", 0),
			 LOGIN_INITIATOR_ERROR);
	cli_close(&c);
	c.fd = cli_connect();
	c.tsih = 0x7777;
	assert_int_equal(login_once(&c, "InitiatorName=" INITIATOR "|TargetName=" TARGET, 0), LOGIN_NO_SESSION);
	cli_close(&c);
	/* Discovery needs no TargetName; SendTargets=All lists the target at this portal. */
	c.tsih = 0;
	c.fd = cli_connect();
	assert_int_equal(login_once(&c, "InitiatorName=" INITIATOR "|SessionType=Discovery", 0), 0);
	uint8_t h[48] = { 0 };
	h[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_TEXT_REQ;
	h[1] = ISCSI_FLAG_FINAL;
	put_be32(h + 16, 77);
	put_be32(h + 20, ISCSI_RSVD_TAG);
	put_be32(h + 24, c.cmdsn);
	send_pdu(&c, h, "SendTargets=All", 16);
	struct pdu *p = &g_pdu;
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_TEXT_RSP);
	assert_true(p->bhs[1] & ISCSI_FLAG_FINAL);
	char expect[128];
	int el = snprintf(expect, sizeof(expect), "TargetName=" TARGET "%cTargetAddress=127.0.0.1:%u,1", 0, g_port);
	assert_int_equal(p->dlen, el + 1);
	assert_memory_equal(p->data, expect, (size_t)el + 1);
	/* A SCSI command in a discovery session is refused. */
	uint8_t cdb[16] = { 0 };
	scsi_cmd(&c, ISCSI_FLAG_FINAL, 5, 0, cdb, 16, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_REJECT);
	cli_close(&c);
}

static void test_write_read_r2t(void **state)
{
	(void)state;
	struct cli c;
	cli_open(&c, "InitialR2T=Yes|ImmediateData=No|MaxBurstLength=4096|MaxOutstandingR2T=4|"
		     "MaxRecvDataSegmentLength=2048",
		 1);
	clear_ua(&c);
	static uint8_t buf[16384], back[16384];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	uint8_t cdb[16];
	cdb_rw10(cdb, 0x2a, 100, 32);
	scsi_cmd(&c, ISCSI_FLAG_FINAL | CMD_FLAG_WRITE, 0x10, sizeof(buf), cdb, 16, NULL, 0);
	/* MaxOutstandingR2T = min(4, ours 2): two R2Ts of MaxBurstLength 4096 at a time. */
	uint32_t r2tsn = 0, got = 0;
	struct pdu *p = &g_pdu;
	while (got < sizeof(buf)) {
		uint32_t ttt[2], off[2], len[2];
		int n = 0;
		for (; n < 2 && got + (uint32_t)n * 4096 < sizeof(buf); n++) {
			assert_int_equal(recv_pdu(&c, p, 3000), 0);
			assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_R2T);
			assert_int_equal(bhs_itt(p->bhs), 0x10);
			assert_int_equal(get_be32(p->bhs + R2T_R2TSN), r2tsn++);
			ttt[n] = get_be32(p->bhs + R2T_TTT);
			off[n] = get_be32(p->bhs + R2T_OFFSET);
			len[n] = get_be32(p->bhs + R2T_DDTL);
			assert_int_not_equal(ttt[n], ISCSI_RSVD_TAG);
			assert_int_equal(off[n], got + (uint32_t)n * 4096);
			assert_int_equal(len[n], 4096);
		}
		for (int i = 0; i < n; i++) {
			/* Our MaxRecvDataSegmentLength is 262144, but send 1024-byte PDUs to exercise DataSN. */
			for (uint32_t k = 0; k < 4; k++)
				data_out(&c, 0x10, ttt[i], k, off[i] + k * 1024, buf + off[i] + k * 1024, 1024, k == 3);
			got += len[i];
		}
	}
	assert_int_equal(expect_rsp(&c, 0x10), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(p->bhs + RSP_EXPDATASN), r2tsn);
	/* Read back: Data-In of at most 2048 bytes (the initiator's MRDSL), F at each 4096 burst, S on the last. */
	cdb_rw10(cdb, 0x28, 100, 32);
	scsi_cmd(&c, ISCSI_FLAG_FINAL | CMD_FLAG_READ, 0x11, sizeof(back), cdb, 16, NULL, 0);
	uint32_t off = 0, datasn = 0;
	for (;;) {
		assert_int_equal(recv_pdu(&c, p, 3000), 0);
		assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_DATA_IN);
		assert_int_equal(get_be32(p->bhs + DATA_DATASN), datasn++);
		assert_int_equal(get_be32(p->bhs + DATA_OFFSET), off);
		assert_true(p->dlen <= 2048);
		memcpy(back + off, p->data, p->dlen);
		off += p->dlen;
		if (off % 4096 == 0)
			assert_true(p->bhs[1] & ISCSI_FLAG_FINAL);
		if (p->bhs[1] & DATA_FLAG_STATUS) {
			assert_int_equal(p->bhs[3], SCSI_STATUS_GOOD);
			break;
		}
	}
	assert_int_equal(off, sizeof(back));
	assert_memory_equal(buf, back, sizeof(buf));
	cli_close(&c);
}

static void test_unsolicited_and_immediate(void **state)
{
	(void)state;
	struct cli c;
	cli_open(&c, "InitialR2T=No|ImmediateData=Yes|FirstBurstLength=65536|MaxBurstLength=8192", 2);
	clear_ua(&c);
	static uint8_t buf[12288];
	memset(buf, 0x5a, sizeof(buf));
	uint8_t cdb[16];
	cdb_rw10(cdb, 0x2a, 200, 24);
	/* FirstBurstLength = min(65536, ours 4096): 1024 immediate + 3072 unsolicited, then R2T for the rest. */
	scsi_cmd(&c, CMD_FLAG_WRITE, 0x20, sizeof(buf), cdb, 16, buf, 1024);
	data_out(&c, 0x20, ISCSI_RSVD_TAG, 0, 1024, buf + 1024, 3072, true);
	struct pdu *p = &g_pdu;
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_R2T);
	assert_int_equal(get_be32(p->bhs + R2T_OFFSET), 4096);
	assert_int_equal(get_be32(p->bhs + R2T_DDTL), 8192);
	uint32_t ttt = get_be32(p->bhs + R2T_TTT);
	data_out(&c, 0x20, ttt, 0, 4096, buf + 4096, 8192, true);
	assert_int_equal(expect_rsp(&c, 0x20), SCSI_STATUS_GOOD);
	/* Unsolicited data beyond FirstBurstLength: the task fails, the connection stays. */
	scsi_cmd(&c, CMD_FLAG_WRITE, 0x21, sizeof(buf), cdb, 16, NULL, 0);
	data_out(&c, 0x21, ISCSI_RSVD_TAG, 0, 0, buf, 8192, true);
	assert_int_equal(expect_rsp(&c, 0x21), SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(p->data[2 + 2] & 0xf, SK_ABORTED_COMMAND);
	nop_ping(&c, 0x22);
	cli_close(&c);
}

static void test_dataout_violations(void **state)
{
	(void)state;
	struct cli c;
	cli_open(&c, "InitialR2T=Yes|ImmediateData=No", 3);
	clear_ua(&c);
	uint8_t buf[1024] = { 0 }, cdb[16];
	struct pdu *p = &g_pdu;
	/* Wrong DataSN. */
	cdb_rw10(cdb, 0x2a, 0, 2);
	scsi_cmd(&c, ISCSI_FLAG_FINAL | CMD_FLAG_WRITE, 0x30, 1024, cdb, 16, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_R2T);
	uint32_t ttt = get_be32(p->bhs + R2T_TTT);
	data_out(&c, 0x30, ttt, 5, 0, buf, 512, false);
	data_out(&c, 0x30, ttt, 6, 512, buf, 512, true);
	assert_int_equal(expect_rsp(&c, 0x30), SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(p->data[2 + 2] & 0xf, SK_ABORTED_COMMAND);
	/* An out-of-order DataSN implies a lost PDU (RFC 7143 7.9): protocol service CRC error (7.8). */
	assert_int_equal(p->data[2 + 12], 0x47);
	assert_int_equal(p->data[2 + 13], 0x05);
	/* Unknown TTT, then a buffer offset the R2T did not ask for: each is rejected as an invalid PDU
	 * field (11.17.1) and discarded; the task goes on and completes with the right Data-Out. */
	cdb_rw10(cdb, 0x2a, 0, 1);
	scsi_cmd(&c, ISCSI_FLAG_FINAL | CMD_FLAG_WRITE, 0x31, 512, cdb, 16, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_R2T);
	ttt = get_be32(p->bhs + R2T_TTT);
	data_out(&c, 0x31, ttt + 1000, 0, 0, buf, 512, true);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_REJECT);
	assert_int_equal(p->bhs[2], ISCSI_REJECT_INVALID_FIELD);
	assert_int_equal(get_be32(p->data + 20), ttt + 1000);
	data_out(&c, 0x31, ttt, 0, 512, buf, 512, true);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_REJECT);
	assert_int_equal(p->bhs[2], ISCSI_REJECT_INVALID_FIELD);
	assert_int_equal(get_be32(p->data + 40), 512);
	data_out(&c, 0x31, ttt, 0, 0, buf, 512, true);
	assert_int_equal(expect_rsp(&c, 0x31), SCSI_STATUS_GOOD);
	/* Data-Out for a task that does not exist: Reject, invalid PDU field, with the header. */
	data_out(&c, 0x99, 0x1234, 0, 0, buf, 512, true);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_REJECT);
	assert_int_equal(p->bhs[2], ISCSI_REJECT_INVALID_FIELD);
	assert_int_equal(p->dlen, 48);
	assert_int_equal(bhs_itt(p->data), 0x99);
	nop_ping(&c, 0x32);
	cli_close(&c);
}

static void test_reject_and_limits(void **state)
{
	(void)state;
	struct cli c;
	cli_open(&c, NULL, 4);
	struct pdu *p = &g_pdu;
	/* Unknown opcode: Reject "command not supported"; the session goes on. */
	uint8_t h[48] = { 0 };
	h[0] = 0x1c;
	h[1] = 0x80;
	put_be32(h + 16, 0x40);
	send_pdu(&c, h, "abcdefgh", 8);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_REJECT);
	assert_int_equal(p->bhs[2], ISCSI_REJECT_CMD_NOT_SUPPORTED);
	assert_int_equal(get_be32(p->bhs + 16), ISCSI_RSVD_TAG);
	assert_int_equal(p->data[0], 0x1c);
	nop_ping(&c, 0x41);
	/* Immediate data although ImmediateData... sent to a READ: protocol error Reject. */
	uint8_t cdb[16];
	cdb_rw10(cdb, 0x28, 0, 1);
	uint32_t sn = c.cmdsn;
	scsi_cmd(&c, ISCSI_FLAG_FINAL | CMD_FLAG_READ, 0x42, 512, cdb, 16, "xxxx", 4);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_REJECT);
	assert_int_equal(p->bhs[2], ISCSI_REJECT_PROTOCOL);
	/* A rejected command does not consume its CmdSN. */
	assert_int_equal(get_be32(p->bhs + 28), sn);
	c.cmdsn = sn;
	/* A data segment over our MaxRecvDataSegmentLength (262144): Reject, then the connection closes. */
	memset(h, 0, sizeof(h));
	h[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_NOP_OUT;
	h[1] = 0x80;
	put_be32(h + 16, 0x43);
	put_be32(h + 20, ISCSI_RSVD_TAG);
	put_be24(h + 5, 262148);
	send_all(c.fd, h, 48);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_REJECT);
	assert_int_equal(p->bhs[2], ISCSI_REJECT_PROTOCOL);
	assert_true(peer_closed(&c, 3000));
	cli_close(&c);
}

static void test_cmdsn_window(void **state)
{
	(void)state;
	struct cli c;
	cli_open(&c, NULL, 5);
	struct pdu *p = &g_pdu;
	uint8_t tur[16] = { 0 };
	nop_ping(&c, 0x50);
	uint32_t exp = get_be32(p->bhs + 28), max = get_be32(p->bhs + 32);
	assert_int_equal(exp, c.cmdsn);
	assert_int_equal(max, exp + 15); /* max_queue_depth 16 */
	/* Too high and too low: silently ignored. */
	c.cmdsn = max + 1;
	scsi_cmd(&c, ISCSI_FLAG_FINAL, 0x51, 0, tur, 16, NULL, 0);
	c.cmdsn = exp - 1;
	scsi_cmd(&c, ISCSI_FLAG_FINAL, 0x52, 0, tur, 16, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 300), -1);
	/* Out of order: exp+1 is held until exp arrives, then both run. */
	c.cmdsn = exp + 1;
	scsi_cmd(&c, ISCSI_FLAG_FINAL, 0x54, 0, tur, 16, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 300), -1);
	c.cmdsn = exp;
	scsi_cmd(&c, ISCSI_FLAG_FINAL, 0x53, 0, tur, 16, NULL, 0);
	uint32_t seen = 0;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(recv_pdu(&c, p, 3000), 0);
		assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_SCSI_RSP);
		seen |= bhs_itt(p->bhs) == 0x53 ? 1 : bhs_itt(p->bhs) == 0x54 ? 2 : 4;
	}
	assert_int_equal(seen, 3);
	assert_int_equal(get_be32(p->bhs + 28), exp + 2);
	c.cmdsn = exp + 2;
	nop_ping(&c, 0x55);
	cli_close(&c);
}

static void test_tmf_text_logout(void **state)
{
	(void)state;
	struct cli c;
	cli_open(&c, NULL, 6);
	struct pdu *p = &g_pdu;
	uint8_t h[48] = { 0 };
	/* ABORT TASK of a task that already completed: "task does not exist". */
	h[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_TMF_REQ;
	h[1] = 0x80 | ISCSI_TMF_ABORT_TASK;
	put_be32(h + 16, 0x60);
	put_be32(h + 20, 0x1234);
	put_be32(h + 24, c.cmdsn);
	put_be32(h + 32, c.cmdsn - 1);
	send_pdu(&c, h, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_TMF_RSP);
	assert_int_equal(p->bhs[2], ISCSI_TMF_RSP_NO_TASK);
	/* LU reset on LUN 0, then on a LUN that does not exist. */
	h[1] = 0x80 | ISCSI_TMF_LU_RESET;
	put_be32(h + 16, 0x61);
	send_pdu(&c, h, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(p->bhs[2], ISCSI_TMF_RSP_COMPLETE);
	h[9] = 7;
	put_be32(h + 16, 0x62);
	send_pdu(&c, h, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(p->bhs[2], ISCSI_TMF_RSP_NO_LUN);
	h[9] = 0;
	h[1] = 0x80 | ISCSI_TMF_TASK_REASSIGN;
	put_be32(h + 16, 0x63);
	send_pdu(&c, h, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(p->bhs[2], ISCSI_TMF_RSP_NO_REASSIGN);
	/* Text in a normal session: SendTargets= (this target), unknown keys NotUnderstood. */
	memset(h, 0, sizeof(h));
	h[0] = ISCSI_OP_TEXT_REQ;
	h[1] = ISCSI_FLAG_FINAL;
	put_be32(h + 16, 0x64);
	put_be32(h + 20, ISCSI_RSVD_TAG);
	put_be32(h + 24, c.cmdsn++);
	static const char req[] = "SendTargets=\0X-foo=bar";
	send_pdu(&c, h, req, sizeof(req));
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_TEXT_RSP);
	assert_non_null(memmem(p->data, p->dlen, "X-foo=NotUnderstood", 20));
	assert_non_null(memmem(p->data, p->dlen, "TargetName=" TARGET, strlen("TargetName=" TARGET) + 1));
	/* Logout: response 0, then the target closes. */
	memset(h, 0, sizeof(h));
	h[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_LOGOUT_REQ;
	h[1] = 0x80 | ISCSI_LOGOUT_CLOSE_SESSION;
	put_be32(h + 16, 0x65);
	put_be32(h + 24, c.cmdsn);
	send_pdu(&c, h, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_LOGOUT_RSP);
	assert_int_equal(p->bhs[2], 0);
	assert_true(peer_closed(&c, 3000));
	cli_close(&c);
}

static void test_data_digest(void **state)
{
	(void)state;
	struct cli c;
	cli_open(&c, "HeaderDigest=CRC32C|DataDigest=CRC32C|ImmediateData=Yes|InitialR2T=Yes", 11);
	clear_ua(&c);
	struct pdu *p = &g_pdu;
	static uint8_t buf[4096], back[4096];
	memset(buf, 0xd1, sizeof(buf));
	uint8_t cdb[16];
	cdb_rw10(cdb, 0x2a, 300, 8);
	/* Immediate data with a bad digest: Reject 0x02, the PDU is discarded and its CmdSN is not
	 * considered received (RFC 7143 7.3, 7.8): the Reject and a later NOP-In show the same ExpCmdSN. */
	uint32_t sn = c.cmdsn;
	c.dd_bad = true;
	scsi_cmd(&c, ISCSI_FLAG_FINAL | CMD_FLAG_WRITE, 0x90, sizeof(buf), cdb, 16, buf, sizeof(buf));
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_REJECT);
	assert_int_equal(p->bhs[2], ISCSI_REJECT_DIGEST);
	assert_int_equal(get_be32(p->bhs + 28), sn);
	c.cmdsn = sn;
	nop_ping(&c, 0x91);
	assert_int_equal(get_be32(p->bhs + 28), sn);
	/* The retry with the same CmdSN runs; the data round-trips with digests both ways. */
	scsi_cmd(&c, ISCSI_FLAG_FINAL | CMD_FLAG_WRITE, 0x92, sizeof(buf), cdb, 16, buf, sizeof(buf));
	assert_int_equal(expect_rsp(&c, 0x92), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(p->bhs + 28), sn + 1);
	cdb_rw10(cdb, 0x28, 300, 8);
	scsi_cmd(&c, ISCSI_FLAG_FINAL | CMD_FLAG_READ, 0x93, sizeof(back), cdb, 16, NULL, 0);
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_DATA_IN);
	assert_int_equal(p->dlen, sizeof(back));
	memcpy(back, p->data, sizeof(back));
	assert_memory_equal(back, buf, sizeof(buf));
	cli_close(&c);
}

static void test_digests_and_timers(void **state)
{
	(void)state;
	struct cli c;
	cli_open(&c, "HeaderDigest=CRC32C|DataDigest=None", 7);
	nop_ping(&c, 0x70);
	/* A header digest error closes the connection at ERL0. */
	uint8_t h[52] = { 0 };
	h[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_NOP_OUT;
	h[1] = 0x80;
	put_be32(h + 16, 0x71);
	put_be32(h + 20, ISCSI_RSVD_TAG);
	uint32_t bad = crc32c(h, 48) ^ 1;
	memcpy(h + 48, &bad, 4);
	send_all(c.fd, h, 52);
	c.hd = false;
	assert_true(peer_closed(&c, 3000));
	cli_close(&c);
	/* A peer stalled mid-PDU is dropped after stall_timeout_s (1 s). */
	cli_open(&c, NULL, 8);
	send_all(c.fd, h, 20);
	assert_true(peer_closed(&c, 4000));
	cli_close(&c);
	/* Idle: the target pings (NOP-In, TTT set); not answering closes after nop_timeout_s. */
	cli_open(&c, NULL, 9);
	struct pdu *p = &g_pdu;
	assert_int_equal(recv_pdu(&c, p, 4000), 0);
	assert_int_equal(bhs_opcode(p->bhs), ISCSI_OP_NOP_IN);
	assert_int_equal(bhs_itt(p->bhs), ISCSI_RSVD_TAG);
	assert_int_not_equal(get_be32(p->bhs + 20), ISCSI_RSVD_TAG);
	assert_true(peer_closed(&c, 5000));
	cli_close(&c);
	/* A connection that never logs in is dropped after login_timeout_s. */
	c.fd = cli_connect();
	assert_true(peer_closed(&c, 5000));
	cli_close(&c);
}

static void test_reinstatement_and_many(void **state)
{
	(void)state;
	struct cli a, b;
	cli_open(&a, NULL, 10);
	cli_open(&b, NULL, 10); /* same initiator name and ISID: a's session is closed */
	assert_true(peer_closed(&a, 3000));
	cli_close(&a);
	nop_ping(&b, 0x80);
	/* A second connection in b's session (TSIH set, other CID): too many connections. */
	struct cli x = b;
	x.fd = cli_connect();
	x.cid = 1;
	assert_int_equal(login_once(&x, "InitiatorName=" INITIATOR "|TargetName=" TARGET, 0), LOGIN_TOO_MANY_CONNS);
	cli_close(&x);
	cli_close(&b);
	/* Many connections at once. */
	enum { N = 120 };
	static struct cli cs[N];
	for (int i = 0; i < N; i++)
		cli_open(&cs[i], NULL, (uint8_t)(20 + i));
	uint8_t tur[16] = { 0 };
	for (int i = 0; i < N; i++)
		scsi_cmd(&cs[i], ISCSI_FLAG_FINAL, 0x90, 0, tur, 16, NULL, 0);
	for (int i = 0; i < N; i++) {
		uint8_t st = expect_rsp(&cs[i], 0x90);
		/* The first command of a new nexus may report the power-on unit attention. */
		assert_true(st == SCSI_STATUS_GOOD || st == SCSI_STATUS_CHECK_CONDITION);
	}
	for (int i = 0; i < N; i++)
		cli_close(&cs[i]);
}

static void test_login_stages(void **state)
{
	(void)state;
	struct cli c = { .cmdsn = 7, .itt = 1, .isid = { 0x80, 1, 2, 3, 4, 200 } };
	struct pdu *p = &g_pdu;
	c.fd = cli_connect();
	/* Security stage, text split over two PDUs with the C bit. */
	assert_int_equal(login_raw(&c, LOGIN_FLAG_CONTINUE | (0 << 2) | 1, "InitiatorName=" INITIATOR "|Session"), 0);
	assert_int_equal(get_be16(p->bhs + 36), 0);
	assert_int_equal(p->dlen, 0);
	assert_false(p->bhs[1] & LOGIN_FLAG_TRANSIT);
	/* the second part continues the split pair "SessionType=Normal" */
	uint8_t h[48] = { 0 };
	static const char rest[] = "Type=Normal\0TargetName=" TARGET "\0AuthMethod=CHAP,None";
	h[0] = ISCSI_FLAG_IMMEDIATE | ISCSI_OP_LOGIN_REQ;
	h[1] = LOGIN_FLAG_TRANSIT | (0 << 2) | 1;
	memcpy(h + 8, c.isid, 6);
	put_be32(h + 16, c.itt);
	put_be32(h + 24, c.cmdsn);
	send_pdu(&c, h, rest, sizeof(rest));
	assert_int_equal(recv_pdu(&c, p, 3000), 0);
	assert_int_equal(get_be16(p->bhs + 36), 0);
	assert_true(p->bhs[1] & LOGIN_FLAG_TRANSIT);
	assert_int_equal(LOGIN_CSG(p->bhs[1]), 0);
	assert_int_equal(LOGIN_NSG(p->bhs[1]), 1);
	assert_non_null(memmem(p->data, p->dlen, "AuthMethod=None", 16));
	assert_non_null(memmem(p->data, p->dlen, "TargetPortalGroupTag=1", 23));
	assert_non_null(memmem(p->data, p->dlen, "TargetAlias=wire disk", 22));
	assert_int_equal(get_be32(p->bhs + 28), 7); /* ExpCmdSN = the login's CmdSN */
	/* A request in the wrong stage fails. */
	struct cli d = c;
	/* Operational stage -> full feature. */
	assert_int_equal(login_raw(&c, LOGIN_FLAG_TRANSIT | (1 << 2) | 3, "MaxRecvDataSegmentLength=8192|IFMarker=No"), 0);
	assert_int_equal(get_be16(p->bhs + 36), 0);
	assert_int_equal(LOGIN_NSG(p->bhs[1]), 3);
	assert_non_null(memmem(p->data, p->dlen, "MaxRecvDataSegmentLength=262144", 32));
	assert_non_null(memmem(p->data, p->dlen, "IFMarker=No", 12));
	assert_int_not_equal(get_be16(p->bhs + 14), 0);
	cli_close(&c);
	/* Only CHAP offered: AuthMethod=Reject, and leaving the security stage fails with 0201h. */
	d.fd = cli_connect();
	d.isid[5] = 201;
	assert_int_equal(login_raw(&d, LOGIN_FLAG_TRANSIT | (0 << 2) | 1,
				   "InitiatorName=" INITIATOR "|TargetName=" TARGET "|AuthMethod=CHAP"),
			 0);
	assert_int_equal(get_be16(p->bhs + 36), LOGIN_AUTH_FAILED);
	assert_true(peer_closed(&d, 2000));
	cli_close(&d);
	/* Wrong CSG after the first request, and T with C. */
	d.fd = cli_connect();
	assert_int_equal(login_raw(&d, (0 << 2) | 0, "InitiatorName=" INITIATOR "|TargetName=" TARGET), 0);
	assert_int_equal(get_be16(p->bhs + 36), 0);
	assert_int_equal(login_raw(&d, LOGIN_FLAG_TRANSIT | (1 << 2) | 3, NULL), 0);
	assert_int_equal(get_be16(p->bhs + 36), LOGIN_INITIATOR_ERROR);
	cli_close(&d);
	d.fd = cli_connect();
	assert_int_equal(login_raw(&d, LOGIN_FLAG_TRANSIT | LOGIN_FLAG_CONTINUE | (1 << 2) | 3,
				   "InitiatorName=" INITIATOR "|TargetName=" TARGET "|"),
			 0);
	assert_int_equal(get_be16(p->bhs + 36), LOGIN_INITIATOR_ERROR);
	cli_close(&d);
}

static void test_backpressure(void **state)
{
	(void)state;
	/* A peer that sends reads but never reads the answers is cut off; others keep working. */
	struct cli a, b;
	cli_open(&a, NULL, 210);
	clear_ua(&a);
	cli_open(&b, NULL, 211);
	int sz = 65536;
	setsockopt(a.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	uint8_t cdb[16];
	cdb_rw10(cdb, 0x28, 0, 2048);
	for (int i = 0; i < 16; i++)
		scsi_cmd(&a, ISCSI_FLAG_FINAL | CMD_FLAG_READ, 0x100u + (uint32_t)i, 1u << 20, cdb, 16, NULL, 0);
	/* stall_timeout_s is 1: a is closed within a few seconds while b keeps answering. */
	for (uint32_t i = 0; i < 10; i++) {
		usleep(300000);
		ping_answering(&b, 0x200 + i);
	}
	assert_true(peer_closed(&a, 3000));
	cli_close(&a);
	ping_answering(&b, 0x300);
	cli_close(&b);
}

static void test_garbage(void **state)
{
	(void)state;
	/* Random PDUs after login: whatever happens to that connection, the server and others survive. */
	struct cli ok;
	cli_open(&ok, NULL, 220);
	uint32_t seed = 12345;
	for (int iter = 0; iter < 150; iter++) {
		struct cli c;
		cli_open(&c, iter % 3 == 0 ? "InitialR2T=No|HeaderDigest=None" : NULL, (uint8_t)(221 + iter % 30));
		for (int k = 0; k < 8; k++) {
			uint8_t h[48];
			for (int i = 0; i < 48; i++) {
				seed = seed * 1103515245u + 12345u;
				h[i] = (uint8_t)(seed >> 16);
			}
			static const uint8_t ops[] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x1d, 0x3f };
			h[0] = (uint8_t)((h[0] & 0x40) | ops[h[1] % sizeof(ops)]);
			h[4] = h[4] % 3;         /* small AHS */
			uint32_t dlen = get_be24(h + 5) % 3000;
			static uint8_t junk[3000 + 12];
			for (uint32_t i = 0; i < dlen + h[4] * 4u; i++) {
				seed = seed * 1103515245u + 12345u;
				junk[i] = (uint8_t)(seed >> 16);
			}
			put_be24(h + 5, dlen);
			send_all(c.fd, h, 48);
			send_all(c.fd, junk, h[4] * 4u);
			if (dlen) {
				send_all(c.fd, junk, dlen);
				send_all(c.fd, junk, iscsi_pad(dlen));
			}
		}
		/* Drain whatever comes back without waiting for timers. */
		struct pdu *p = &g_pdu;
		while (recv_pdu(&c, p, 20) == 0)
			;
		cli_close(&c);
		if (iter % 25 == 0)
			ping_answering(&ok, 0x500u + (uint32_t)iter);
	}
	ping_answering(&ok, 0x600);
	cli_close(&ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_failures),
		cmocka_unit_test(test_write_read_r2t),
		cmocka_unit_test(test_unsolicited_and_immediate),
		cmocka_unit_test(test_dataout_violations),
		cmocka_unit_test(test_reject_and_limits),
		cmocka_unit_test(test_cmdsn_window),
		cmocka_unit_test(test_tmf_text_logout),
		cmocka_unit_test(test_data_digest),
		cmocka_unit_test(test_digests_and_timers),
		cmocka_unit_test(test_reinstatement_and_many),
		cmocka_unit_test(test_login_stages),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, setup_server, teardown_server);
}

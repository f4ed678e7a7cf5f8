/* test_iscsi_params.c - unit tests for iSCSI key negotiation: every key's result function, bad input, text buffers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "iscsi/params.h"
#include "iscsi/pdu.h"

struct fixture {
	struct iscsi_params p;
	struct iscsi_limits lim;
	struct iscsi_text out;
	struct iscsi_neg n;
};

static struct fixture F;

static void setup_phase(enum iscsi_neg_phase phase)
{
	iscsi_text_free(&F.out);
	iscsi_params_defaults(&F.p);
	iscsi_limits_from_opts(&F.lim, 0, 0, 0, 0);
	iscsi_text_init(&F.out);
	iscsi_neg_init(&F.n, &F.p, &F.lim, phase, &F.out);
}

/* Run text given as "k=v|k=v" ('|' becomes NUL). */
static int run(const char *text)
{
	char buf[4096];
	size_t len = strlen(text);
	assert_true(len < sizeof(buf));
	for (size_t i = 0; i < len; i++)
		buf[i] = text[i] == '|' ? '\0' : text[i];
	buf[len] = '\0';
	return iscsi_neg_process(&F.n, buf, len + 1);
}

/* The value answered for key, or NULL when no answer. */
static const char *answer(const char *key)
{
	size_t kl = strlen(key);
	for (size_t pos = 0; pos < F.out.len;) {
		const char *pair = F.out.buf + pos;
		size_t pl = strlen(pair);
		if (!strncmp(pair, key, kl) && pair[kl] == '=')
			return pair + kl + 1;
		pos += pl + 1;
	}
	return NULL;
}

static void test_defaults(void **state)
{
	(void)state;
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(F.p.max_recv_dsl, 8192);
	assert_int_equal(F.p.max_xmit_dsl, 8192);
	assert_int_equal(F.p.max_burst, 262144);
	assert_int_equal(F.p.first_burst, 65536);
	assert_true(F.p.initial_r2t);
	assert_true(F.p.immediate_data);
	assert_int_equal(F.p.max_outstanding_r2t, 1);
	assert_int_equal(F.p.time2wait, 2);
	assert_int_equal(F.p.time2retain, 20);
	assert_int_equal(F.p.erl, 0);
	/* limits: documented defaults and clamping */
	assert_int_equal(F.lim.max_recv_dsl, 262144);
	assert_int_equal(F.lim.max_burst, 1048576);
	assert_int_equal(F.lim.first_burst, 262144);
	assert_int_equal(F.lim.max_outstanding_r2t, 16);
	struct iscsi_limits l;
	iscsi_limits_from_opts(&l, 100, 1u << 30, 1u << 30, 1000);
	assert_int_equal(l.max_recv_dsl, 512);
	assert_int_equal(l.max_burst, ISCSI_DSL_MAX);
	assert_int_equal(l.first_burst, ISCSI_DSL_MAX);
	assert_int_equal(l.max_outstanding_r2t, ISCSI_MAX_R2T_LIMIT);
	iscsi_limits_from_opts(&l, 0, 4096, 65536, 0);
	assert_int_equal(l.first_burst, 4096); /* FirstBurstLength never above MaxBurstLength */
}

static void test_digests(void **state)
{
	(void)state;
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("HeaderDigest=CRC32C,None|DataDigest=None,CRC32C"), 0);
	assert_string_equal(answer("HeaderDigest"), "CRC32C");
	assert_string_equal(answer("DataDigest"), "None");
	assert_true(F.p.header_digest);
	assert_false(F.p.data_digest);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("HeaderDigest=MD5,SHA1|DataDigest=,CRC32C"), 0);
	assert_string_equal(answer("HeaderDigest"), "Reject");
	assert_string_equal(answer("DataDigest"), "Reject");
	assert_false(F.p.header_digest);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("HeaderDigest=X-vendor,CRC32C"), 0);
	assert_string_equal(answer("HeaderDigest"), "CRC32C");
}

static void test_booleans(void **state)
{
	(void)state;
	setup_phase(ISCSI_NEG_OPERATIONAL);
	/* InitialR2T is OR (we prefer No), ImmediateData is AND (we prefer Yes). */
	assert_int_equal(run("InitialR2T=No|ImmediateData=Yes|DataPDUInOrder=No|DataSequenceInOrder=No"), 0);
	assert_string_equal(answer("InitialR2T"), "No");
	assert_string_equal(answer("ImmediateData"), "Yes");
	assert_string_equal(answer("DataPDUInOrder"), "Yes");
	assert_string_equal(answer("DataSequenceInOrder"), "Yes");
	assert_false(F.p.initial_r2t);
	assert_true(F.p.data_pdu_in_order);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("InitialR2T=Yes|ImmediateData=No"), 0);
	assert_string_equal(answer("InitialR2T"), "Yes");
	assert_string_equal(answer("ImmediateData"), "No");
	assert_true(F.p.initial_r2t);
	assert_false(F.p.immediate_data);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("InitialR2T=yes|ImmediateData=1"), 0);
	assert_string_equal(answer("InitialR2T"), "Reject");
	assert_string_equal(answer("ImmediateData"), "Reject");
	assert_true(F.p.initial_r2t); /* unchanged defaults */
}

static void test_numbers(void **state)
{
	(void)state;
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("MaxBurstLength=16776192|FirstBurstLength=0x1000|MaxOutstandingR2T=64|"
			     "DefaultTime2Wait=0|DefaultTime2Retain=3600|ErrorRecoveryLevel=2|MaxConnections=8"),
			 0);
	assert_string_equal(answer("MaxBurstLength"), "1048576");       /* min(ours) */
	assert_string_equal(answer("FirstBurstLength"), "4096");        /* min(theirs), hex accepted */
	assert_string_equal(answer("MaxOutstandingR2T"), "16");
	assert_string_equal(answer("DefaultTime2Wait"), "2");           /* max */
	assert_string_equal(answer("DefaultTime2Retain"), "0");         /* min with our 0 */
	assert_string_equal(answer("ErrorRecoveryLevel"), "0");
	assert_string_equal(answer("MaxConnections"), "1");
	assert_int_equal(F.p.max_burst, 1048576);
	assert_int_equal(F.p.first_burst, 4096);
	assert_int_equal(F.p.erl, 0);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("MaxBurstLength=511|FirstBurstLength=16777216|MaxOutstandingR2T=0|"
			     "DefaultTime2Wait=3601|ErrorRecoveryLevel=3|MaxConnections=0x|DefaultTime2Retain=-1"),
			 0);
	assert_string_equal(answer("MaxBurstLength"), "Reject");
	assert_string_equal(answer("FirstBurstLength"), "Reject");
	assert_string_equal(answer("MaxOutstandingR2T"), "Reject");
	assert_string_equal(answer("DefaultTime2Wait"), "Reject");
	assert_string_equal(answer("ErrorRecoveryLevel"), "Reject");
	assert_string_equal(answer("MaxConnections"), "Reject");
	assert_string_equal(answer("DefaultTime2Retain"), "Reject");
	assert_int_equal(F.p.max_burst, 262144);
}

static void test_mrdsl_declarative(void **state)
{
	(void)state;
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("MaxRecvDataSegmentLength=65536"), 0);
	assert_null(answer("MaxRecvDataSegmentLength")); /* declarative: no answer */
	assert_int_equal(F.p.max_xmit_dsl, 65536);
	assert_true(F.n.mrdsl_changed);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("MaxRecvDataSegmentLength=100"), 0);
	assert_string_equal(answer("MaxRecvDataSegmentLength"), "Reject");
	assert_int_equal(F.p.max_xmit_dsl, 8192);
	/* Allowed again in full feature phase (Text). */
	setup_phase(ISCSI_NEG_FULL_FEATURE);
	assert_int_equal(run("MaxRecvDataSegmentLength=4096"), 0);
	assert_int_equal(F.p.max_xmit_dsl, 4096);
}

static void test_names_and_types(void **state)
{
	(void)state;
	setup_phase(ISCSI_NEG_SECURITY);
	assert_int_equal(run("InitiatorName=iqn.1993-08.org.debian:01:abc|InitiatorAlias=host1|"
			     "SessionType=Normal|TargetName=iqn.2024-01.org.softhba:t|AuthMethod=CHAP,None"),
			 0);
	assert_string_equal(F.p.initiator_name, "iqn.1993-08.org.debian:01:abc");
	assert_string_equal(F.p.initiator_alias, "host1");
	assert_string_equal(F.p.target_name, "iqn.2024-01.org.softhba:t");
	assert_true(F.p.initiator_name_seen && F.p.target_name_seen && F.p.session_type_seen);
	assert_false(F.p.discovery);
	assert_string_equal(answer("AuthMethod"), "None");
	assert_true(F.n.auth_none_ok);
	assert_null(answer("InitiatorName"));
	setup_phase(ISCSI_NEG_SECURITY);
	assert_int_equal(run("SessionType=Discovery|AuthMethod=CHAP"), 0);
	assert_true(F.p.discovery);
	assert_string_equal(answer("AuthMethod"), "Reject");
	assert_true(F.n.auth_rejected);
	setup_phase(ISCSI_NEG_SECURITY);
	assert_int_equal(run("SessionType=Bogus"), -EPROTO);
	assert_int_equal(F.n.fail, LOGIN_SESSION_TYPE_UNSUPPORTED);
	setup_phase(ISCSI_NEG_SECURITY);
	assert_int_equal(run("InitiatorName="), -EPROTO);
	assert_int_equal(F.n.fail, LOGIN_INITIATOR_ERROR);
	/* Keys only a target may send. */
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("TargetAlias=x|TargetAddress=1.2.3.4:3260,1|TargetPortalGroupTag=1"), 0);
	assert_string_equal(answer("TargetAlias"), "Reject");
	assert_string_equal(answer("TargetAddress"), "Reject");
	assert_string_equal(answer("TargetPortalGroupTag"), "Reject");
}

static void test_unknown_obsolete_and_phase(void **state)
{
	(void)state;
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("X-com.example.Foo=1|X#Bar=2|NoSuchKey=3|IFMarker=No|OFMarker=Yes|"
			     "OFMarkInt=2048~8192|IFMarkInt=1~65535|TaskReporting=ResponseFence,RFC3720|"
			     "iSCSIProtocolLevel=2|SendTargets=All"),
			 0);
	assert_string_equal(answer("X-com.example.Foo"), "NotUnderstood");
	assert_string_equal(answer("X#Bar"), "NotUnderstood");
	assert_string_equal(answer("NoSuchKey"), "NotUnderstood");
	assert_string_equal(answer("IFMarker"), "No");
	assert_string_equal(answer("OFMarker"), "No");
	assert_string_equal(answer("OFMarkInt"), "Irrelevant");
	assert_string_equal(answer("IFMarkInt"), "Irrelevant");
	assert_string_equal(answer("TaskReporting"), "RFC3720");
	assert_string_equal(answer("iSCSIProtocolLevel"), "1");
	assert_string_equal(answer("SendTargets"), "Irrelevant"); /* full feature phase only */
	assert_false(F.n.send_targets);
	/* Login-only keys in a Text request are refused. */
	setup_phase(ISCSI_NEG_FULL_FEATURE);
	assert_int_equal(run("MaxBurstLength=4096|SendTargets=All"), 0);
	assert_string_equal(answer("MaxBurstLength"), "Reject");
	assert_true(F.n.send_targets);
	assert_string_equal(F.n.send_targets_val, "All");
	assert_int_equal(F.p.max_burst, 262144);
}

static void test_malformed(void **state)
{
	(void)state;
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("MaxBurstLength=4096|MaxBurstLength=8192"), -EPROTO);
	assert_int_equal(F.n.fail, LOGIN_INITIATOR_ERROR);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("NoEqualsSign"), -EPROTO);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("=value"), -EPROTO);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	assert_int_equal(run("Bad Key=1"), -EPROTO);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	/* Key name of 64 characters. */
	assert_int_equal(run("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=1"), -EPROTO);
	setup_phase(ISCSI_NEG_OPERATIONAL);
	/* A CHAP key without CHAP being selected. */
	assert_int_equal(run("CHAP_A=5"), -EPROTO);
	assert_int_equal(F.n.fail, LOGIN_AUTH_FAILED);
	/* Unterminated last pair and stray NULs are tolerated. */
	setup_phase(ISCSI_NEG_OPERATIONAL);
	const char raw[] = "ImmediateData=No\0\0InitialR2T=Yes";
	assert_int_equal(iscsi_neg_process(&F.n, raw, sizeof(raw) - 1), 0);
	assert_string_equal(answer("ImmediateData"), "No");
	assert_string_equal(answer("InitialR2T"), "Yes");
	/* Values over 255 bytes are refused. */
	setup_phase(ISCSI_NEG_OPERATIONAL);
	char big[400];
	snprintf(big, sizeof(big), "InitiatorAlias=%0300d", 0);
	assert_int_equal(run(big), 0);
	assert_string_equal(answer("InitiatorAlias"), "Reject");
}

static void test_parse_number(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(iscsi_parse_number("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(iscsi_parse_number("4294967296", &v), 0);
	assert_true(v == 4294967296ull);
	assert_int_equal(iscsi_parse_number("0xFFff", &v), 0);
	assert_int_equal(v, 0xffff);
	assert_int_equal(iscsi_parse_number("", &v), -EINVAL);
	assert_int_equal(iscsi_parse_number("0x", &v), -EINVAL);
	assert_int_equal(iscsi_parse_number("12a", &v), -EINVAL);
	assert_int_equal(iscsi_parse_number("-1", &v), -EINVAL);
	assert_int_equal(iscsi_parse_number("99999999999999999999999", &v), -ERANGE);
	assert_int_equal(iscsi_parse_number("0x11111111111111111", &v), -ERANGE);
}

static void test_text_buffer(void **state)
{
	(void)state;
	struct iscsi_text t;
	iscsi_text_init(&t);
	assert_int_equal(iscsi_text_add(&t, "A", "b"), 0);
	assert_int_equal(t.len, 4);
	assert_memory_equal(t.buf, "A=b\0", 4);
	/* Fill to the cap: the pair that does not fit sets overflow and is not added. */
	char v[200];
	memset(v, 'x', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	int rc = 0;
	while (rc == 0)
		rc = iscsi_text_add(&t, "Key", v);
	assert_int_equal(rc, -ENOSPC);
	assert_true(t.overflow);
	assert_true(t.len <= ISCSI_TEXT_MAX);
	iscsi_text_reset(&t);
	assert_int_equal(t.len, 0);
	assert_false(t.overflow);
	iscsi_text_free(&t);
}

static void test_pdu_helpers(void **state)
{
	(void)state;
	uint8_t l[8];
	uint64_t lun;
	iscsi_lun_encode(5, l);
	assert_int_equal(l[0], 0);
	assert_int_equal(l[1], 5);
	assert_int_equal(iscsi_lun_decode(l, &lun), 0);
	assert_int_equal(lun, 5);
	iscsi_lun_encode(300, l);
	assert_int_equal(l[0], 0x41);
	assert_int_equal(l[1], 300 & 0xff);
	assert_int_equal(iscsi_lun_decode(l, &lun), 0);
	assert_int_equal(lun, 300);
	uint8_t multi[8] = { 0, 1, 0, 2, 0, 0, 0, 0 };
	assert_int_equal(iscsi_lun_decode(multi, &lun), -EINVAL);
	uint8_t bus[8] = { 0x01, 1 };
	assert_int_equal(iscsi_lun_decode(bus, &lun), -EINVAL);
	uint8_t ext[8] = { 0xc0, 1 };
	assert_int_equal(iscsi_lun_decode(ext, &lun), -EINVAL);
	assert_int_equal(iscsi_pad(0), 0);
	assert_int_equal(iscsi_pad(1), 3);
	assert_int_equal(iscsi_pad(4), 0);
	assert_int_equal(iscsi_pad(7), 1);
	uint8_t bhs[48] = { 0x41, 0x80, 0, 0, 2, 0x01, 0x02, 0x03 };
	put_be32(bhs + 16, 0xdeadbeef);
	assert_int_equal(bhs_opcode(bhs), ISCSI_OP_SCSI_CMD);
	assert_true(bhs_immediate(bhs));
	assert_true(bhs_final(bhs));
	assert_int_equal(bhs_ahs_len(bhs), 8);
	assert_int_equal(bhs_dsl(bhs), 0x010203);
	assert_int_equal(bhs_itt(bhs), 0xdeadbeef);
	assert_string_equal(iscsi_opcode_name(ISCSI_OP_R2T), "R2T");
	assert_string_equal(iscsi_opcode_name(0x1f), "unknown");
	assert_true(iscsi_opcode_is_initiator(ISCSI_OP_SNACK_REQ));
	assert_false(iscsi_opcode_is_initiator(ISCSI_OP_NOP_IN));
	assert_string_equal(iscsi_login_status_str(LOGIN_TOO_MANY_CONNS), "too many connections");
	assert_string_equal(iscsi_reject_reason_str(ISCSI_REJECT_CMD_NOT_SUPPORTED), "command not supported");
}

static void test_serial_numbers(void **state)
{
	(void)state;
	/* RFC 1982 with SERIAL_BITS = 32. */
	assert_true(sn_lt(1, 2));
	assert_true(sn_lt(0xffffffffu, 0));
	assert_true(sn_gt(0, 0xffffffffu));
	assert_true(sn_lt(0x7ffffffeu, 0xfffffffdu));
	assert_false(sn_lt(5, 5));
	assert_true(sn_le(5, 5));
	assert_true(sn_ge(5, 5));
	assert_true(sn_in_window(0xfffffffeu, 0xfffffff0u, 0x10));
	assert_true(sn_in_window(0x5, 0xfffffff0u, 0x10));
	assert_false(sn_in_window(0x11, 0xfffffff0u, 0x10));
	assert_false(sn_in_window(0xffffffefu, 0xfffffff0u, 0x10));
	/* An empty window (MaxCmdSN = ExpCmdSN - 1) contains nothing. */
	assert_false(sn_in_window(100, 100, 99));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_mrdsl_declarative),
		cmocka_unit_test(test_names_and_types),
		cmocka_unit_test(test_unknown_obsolete_and_phase),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_parse_number),
		cmocka_unit_test(test_text_buffer),
		cmocka_unit_test(test_pdu_helpers),
		cmocka_unit_test(test_serial_numbers),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	iscsi_text_free(&F.out);
	return rc;
}

"""test_badinput.py - malformed and hostile iSCSI input over a raw socket: each case gets the RFC 7143 answer and the daemon keeps serving."""

import concurrent.futures
import socket
import threading
import time

import pytest

import iscsiraw as ir
import support

INI = "iqn.2026-11.org.softhba.test:bad"
NBLK = 64                       # pattern area: LBA 0..63
PATTERN = support.pattern(0, NBLK, "orig")


class Harness:
    """Before the hostile case: a known pattern on disk and a bystander session already logged in.
    check_healthy() afterwards: daemon alive, bystander still works, a fresh session works, data unchanged."""

    def __init__(self, daemon):
        self.d = daemon
        w = daemon.session(initiator=INI + "-setup")
        r = w.write10(0, PATTERN)
        assert r.status == ir.GOOD, r
        w.logout()
        w.close()
        self.bystander = daemon.session(initiator=INI + "-bystander")
        assert self.bystander.read_blocks(0, NBLK) == PATTERN

    def t(self, s):
        return self.d.t(s)

    def bad_session(self, **kw):
        kw.setdefault("initiator", INI + "-victim")
        return self.d.session(**kw)

    def raw_session(self, **kw):
        kw.setdefault("initiator", INI + "-victim")
        return ir.Session(self.d.host, self.d.port, target=self.d.target, timeout=self.t(10), **kw)

    def check_healthy(self, expect=PATTERN):
        assert self.d.alive(), "softhba died\n" + self.d.stderr_tail()
        b = self.bystander
        r = b.inquiry()
        assert r.status == ir.GOOD and r.data[0] & 0x1F == 0, r
        assert b.read_blocks(0, NBLK) == expect, "data changed (seen by the bystander session)"
        f = self.d.session(initiator=INI + "-fresh")
        r = f.inquiry()
        assert r.status == ir.GOOD, r
        assert f.read_blocks(0, NBLK) == expect, "data changed (seen by a fresh session)"
        lo = f.logout()
        assert lo.bhs[2] == 0, "Logout Response %d, expected 0 (closed successfully)" % lo.bhs[2]
        f.close()


@pytest.fixture
def harness(softhba):
    made = []

    def make(**iscsi_opts):
        d = softhba(support.make_config(**iscsi_opts))
        h = Harness(d)
        made.append(h)
        return h

    yield make
    for h in made:
        h.bystander.close()


def expect_reject(s, bhs, reason, timeout):
    try:
        p = s.recv(timeout)
    except ir.PDUTimeout:
        pytest.fail("no answer within %.0f s: expected a Reject with reason 0x%02x" % (timeout, reason))
    assert p.opcode == ir.OP_REJECT, "expected Reject reason 0x%02x, got %r" % (reason, p)
    assert p.reason == reason, "Reject reason 0x%02x, expected 0x%02x" % (p.reason, reason)
    assert p.itt == ir.RSVD_TAG, "Reject ITT must be 0xffffffff (RFC 7143 11.17)"
    assert p.data[:48] == bhs[:48], "Reject data segment must carry the rejected PDU's header (RFC 7143 11.17)"
    return p


def write_cmd(s, lba, data, cmdsn=None, itt=None, immediate_data=True, edtl=None):
    """A WRITE(10) command PDU (header, data) for the pattern area; not sent."""
    itt = s.next_itt() if itt is None else itt
    imm = data if immediate_data else b""
    bhs = s.scsi_cmd_bhs(ir.write10_cdb(lba, len(data) // 512), edtl=len(data) if edtl is None else edtl,
                         write=True, itt=itt, cmdsn=cmdsn, dlen=len(imm))
    return bhs, imm, itt


# ------------------------------------------------------------------ full feature phase

@pytest.mark.parametrize("opcode,immediate", [(0x0B, True), (0x0B, False), (0x1C, True)],
                         ids=["reserved-0x0b-immediate", "reserved-0x0b-cmdsn", "vendor-0x1c-immediate"])
def test_unknown_opcode_rejected_command_not_supported(harness, opcode, immediate):
    """RFC 7143 7.7 excludes the opcode from format errors; 11.17.1: reason 0x05 'Command not supported'.
    The rejected CmdSN is not considered received (7.3) and the connection stays up."""
    h = harness()
    s = h.bad_session()
    cmdsn = s.cmdsn
    bhs = ir.make_bhs(opcode, immediate=immediate, flags=0x80, itt=s.next_itt(),
                      fields={20: ir.RSVD_TAG, 24: cmdsn, 28: s.expstatsn})
    s.conn.send_pdu(bhs)
    p = expect_reject(s, bhs, ir.REJECT_CMD_NOT_SUPPORTED, h.t(5))
    assert p.expcmdsn == cmdsn
    assert s.nop().expcmdsn == cmdsn
    assert s.inquiry().status == ir.GOOD
    h.check_healthy()


def test_data_segment_longer_than_max_recv_data_segment_length(harness):
    """Immediate data above the target's declared MaxRecvDataSegmentLength (RFC 7143 13.12): a format
    error (7.7: close the connection, optionally after a Reject) or a protocol error answered with Reject
    0x04/0x09 on a connection that stays usable. Never executed, never written."""
    h = harness(max_recv_data_segment_length=8192)
    s = h.bad_session()
    assert s.target_mrdsl == 8192, "target declared MaxRecvDataSegmentLength=%d" % s.target_mrdsl
    cmdsn = s.cmdsn
    bhs, data, itt = write_cmd(s, 0, b"\xEE" * 16384)
    s.conn.send_pdu(bhs, data)
    closed, pdus = s.conn.wait_closed(h.t(3))
    for p in pdus:
        assert p.opcode == ir.OP_REJECT and p.reason in (ir.REJECT_PROTOCOL_ERROR, ir.REJECT_INVALID_PDU_FIELD), \
            "unexpected answer to an oversized data segment: %r" % p
        assert p.data[:48] == bhs
    if not closed:
        assert len(pdus) == 1, "connection neither closed nor answered with one Reject: %r" % pdus
        assert s.nop().expcmdsn == cmdsn
    h.check_healthy()


def test_data_segment_length_huge_answered_from_header(harness):
    """DataSegmentLength 0xFFFFFF (16 MiB) with 1 KiB actually sent: the target must judge the header
    at once (close, or Reject 0x04/0x09) instead of waiting for 16 MiB that never comes."""
    h = harness()
    s = h.bad_session()
    bhs, _, itt = write_cmd(s, 0, b"\x00" * 512)
    bhs = bhs[:5] + (0xFFFFFF).to_bytes(3, "big") + bhs[8:]
    s.conn.send_raw(bhs + b"\xEE" * 1024)
    try:
        p = s.conn.recv_pdu(timeout=h.t(5))
        assert p.opcode == ir.OP_REJECT and p.reason in (ir.REJECT_PROTOCOL_ERROR, ir.REJECT_INVALID_PDU_FIELD), p
    except ir.ConnectionClosed:
        pass
    except ir.PDUTimeout:
        pytest.fail("target neither rejected nor closed within %.0f s: it waits for 16 MiB of data" % h.t(5))
    s.close()
    h.check_healthy()


def test_header_digest_error_closes_connection(harness):
    """RFC 7143 7.8: a header digest error means the length may be wrong; without a sync layer the
    target closes the connection (ERL 0). The command must not run."""
    h = harness()
    s = h.bad_session(header_digest="CRC32C", data_digest="CRC32C")
    assert s.conn.header_digest and s.conn.data_digest, "digests not negotiated: %r" % s.params
    assert s.read_blocks(0, NBLK) == PATTERN  # digests work both ways
    bhs, data, _ = write_cmd(s, 0, b"\x11" * 4096)
    s.conn.send_pdu(bhs, data, bad_header_digest=True)
    closed, pdus = s.conn.wait_closed(h.t(10))
    assert closed, "connection still open after a header digest error"
    assert all(p.opcode == ir.OP_ASYNC for p in pdus), "answers to a PDU with a bad header digest: %r" % pdus
    h.check_healthy()


def test_data_digest_error_on_immediate_data_rejected(harness):
    """RFC 7143 7.8: payload digest error -> Reject reason 0x02 and the PDU is discarded; its CmdSN is
    not considered received (7.3), so no SCSI Response follows and no data is written."""
    h = harness()
    s = h.bad_session(header_digest="CRC32C", data_digest="CRC32C")
    assert s.conn.header_digest and s.conn.data_digest, "digests not negotiated: %r" % s.params
    cmdsn = s.cmdsn
    bhs, data, _ = write_cmd(s, 0, b"\x22" * 4096)
    s.conn.send_pdu(bhs, data, bad_data_digest=True)
    p = expect_reject(s, bhs, ir.REJECT_DATA_DIGEST, h.t(5))
    assert p.expcmdsn == cmdsn
    n = s.nop()
    assert n.expcmdsn == cmdsn
    h.check_healthy()


def test_cmdsn_outside_window_silently_ignored(harness):
    """RFC 7143 3.2.2.1: non-immediate commands outside [ExpCmdSN, MaxCmdSN] are silently ignored."""
    h = harness()
    s = h.bad_session()
    n0 = s.nop()
    exp, mx = n0.expcmdsn, n0.maxcmdsn
    assert exp == s.cmdsn
    for bad in (mx + 1, exp + 0x40000000, exp - 1):
        bhs, data, _ = write_cmd(s, 0, b"\x33" * 4096, cmdsn=bad & 0xFFFFFFFF)
        s.conn.send_pdu(bhs, data)
    with pytest.raises(ir.PDUTimeout):
        p = s.recv(h.t(2))
        pytest.fail("answer to an out-of-window command: %r" % p)
    n1 = s.nop()
    assert (n1.expcmdsn, n1.maxcmdsn) == (exp, mx)
    assert s.inquiry().status == ir.GOOD  # CmdSN exp is still free
    h.check_healthy()


def test_data_out_with_wrong_ttt_or_offset_rejected(harness):
    """RFC 7143 11.17.1 note 2: invalid TTT/ITT/buffer offset -> Reject 0x09 'Invalid PDU field'.
    The bad payload never lands. Afterwards the task either completes with the right Data-Out (7.3:
    a Reject does not end the task) or the target drops the connection (ERL 0); either way only the
    right payload can ever reach the disk."""
    h = harness()
    expect = bytearray(PATTERN)
    for what, lba in (("ttt", 0), ("offset", 8), ("itt", 16)):
        s = h.bad_session(keys={"ImmediateData": "No", "InitialR2T": "Yes"})
        good = support.pattern(lba, 8, "good-" + what)
        bhs, _, itt = write_cmd(s, lba, good, immediate_data=False)
        s.cmdsn += 1
        s.conn.send_pdu(bhs)
        r2t = s.recv(h.t(5))
        assert r2t.opcode == ir.OP_R2T and r2t.itt == itt, r2t
        assert (r2t.u32(40), r2t.u32(44)) == (0, 4096), "R2T offset/length"
        ttt = r2t.ttt
        if what == "ttt":
            bad = s.data_out_bhs(itt, ttt ^ 0x5A5A5A5A, 0, 4096, 0, True)
        elif what == "offset":
            bad = s.data_out_bhs(itt, ttt, 4096, 4096, 0, True)
        else:
            bad = s.data_out_bhs(0x7EADBEEF, ttt, 0, 4096, 0, True)
        s.conn.send_pdu(bad, b"\xBB" * 4096)
        try:
            p = s.recv(h.t(5))
        except ir.PDUTimeout:
            pytest.fail("Data-Out with a wrong %s: no answer within %.0f s; RFC 7143 11.17.1 says Reject 0x09"
                        % (what, h.t(5)))
        assert p.opcode == ir.OP_REJECT and p.data[:48] == bad, "%s: expected Reject, got %r" % (what, p)
        assert p.reason == ir.REJECT_INVALID_PDU_FIELD, \
            "Data-Out with a wrong %s: Reject reason 0x%02x, RFC 7143 11.17.1 says 0x09" % (what, p.reason)
        assert h.bystander.read_blocks(lba, 8) == PATTERN[lba * 512:(lba + 8) * 512], "bad Data-Out landed"
        try:
            s.conn.send_pdu(s.data_out_bhs(itt, ttt, 0, 4096, 0, True), good)
            res = s.collect(itt, timeout=h.t(5))
        except ir.ConnectionClosed:
            res = None
        if res is not None and res.status == ir.GOOD:
            expect[lba * 512:(lba + 8) * 512] = good
        elif res is not None:
            assert res.status == ir.CHECK_CONDITION, res
        assert h.bystander.read_blocks(0, NBLK) == bytes(expect)
        s.close()
    h.check_healthy(bytes(expect))


def test_peer_closes_mid_data_out(harness):
    """The initiator vanishes in the middle of a write: nothing is written, the task is cleaned up."""
    h = harness(max_recv_data_segment_length=8192)
    fds0 = h.d.fd_count()
    for cut in ("after_command", "mid_header", "mid_data", "after_first_pdu"):
        s = h.bad_session(keys={"ImmediateData": "No", "InitialR2T": "Yes"})
        data = b"\xCC" * 16384
        bhs, _, itt = write_cmd(s, 0, data, immediate_data=False)
        s.conn.send_pdu(bhs)
        if cut != "after_command":
            r2t = s.recv(h.t(5))
            assert r2t.opcode == ir.OP_R2T, r2t
            first = s.data_out_bhs(itt, r2t.ttt, 0, 8192, 0, False)
            if cut == "mid_header":
                s.conn.send_raw(first[:30])
            elif cut == "mid_data":
                s.conn.send_raw(first + data[:3000])
            else:
                s.conn.send_pdu(first, data[:8192])
        s.close()
    assert support.wait_until(lambda: h.d.fd_count() <= fds0, h.t(10)), \
        "descriptors not released: %d -> %d" % (fds0, h.d.fd_count())
    h.check_healthy()


def test_tmf_lun_reset_and_unknown_lun(harness):
    """RFC 7143 11.6.1: LOGICAL UNIT RESET -> 0 'Function complete'; a LUN that does not exist -> 2."""
    h = harness()
    s = h.bad_session()
    p = s.tmf(ir.TMF_LU_RESET, lun=0)
    assert p.opcode == ir.OP_TMF_RSP and p.bhs[2] == ir.TMF_RSP_COMPLETE, p
    p = s.tmf(ir.TMF_LU_RESET, lun=9)
    assert p.opcode == ir.OP_TMF_RSP and p.bhs[2] == ir.TMF_RSP_NO_LUN, p
    # SAM-5: the reset leaves a unit attention for the other nexuses: BUS DEVICE RESET FUNCTION OCCURRED.
    r = h.bystander.scsi(ir.tur_cdb())
    assert r.status == ir.CHECK_CONDITION and r.sense_key == 0x6 and r.asc_ascq == (0x29, 0x03), r
    support.clear_unit_attention(h.bystander)
    h.check_healthy()


# ------------------------------------------------------------------ login phase

def security_stage(s, extra=None):
    pairs = [("InitiatorName", s.initiator), ("SessionType", "Normal"), ("TargetName", s.target),
             ("AuthMethod", "None")] + list(extra or [])
    rsp = s.login_pdu(pairs, ir.STAGE_SECURITY, ir.STAGE_OPERATIONAL)
    assert rsp.login_status == 0 and rsp.transit and rsp.nsg == ir.STAGE_OPERATIONAL, rsp
    return rsp


OP_KEYS = [("HeaderDigest", "None"), ("DataDigest", "None"), ("MaxRecvDataSegmentLength", "65536"),
           ("ErrorRecoveryLevel", "0"), ("MaxBurstLength", "262144"), ("FirstBurstLength", "65536")]


def expect_login_reject(h, s, rsp, status):
    """Status class != 0: right status-detail, then the target closes (RFC 7143 11.13.5)."""
    assert rsp.login_status == status, "login status 0x%04x, expected 0x%04x" % (rsp.login_status, status)
    closed, pdus = s.conn.wait_closed(h.t(5))
    assert closed and not pdus, "target must close after a failed login (got %r)" % pdus


def test_login_unknown_keys_not_understood(harness):
    """RFC 7143 6.2: a key the acceptor does not understand is answered key=NotUnderstood; login goes on."""
    h = harness()
    s = h.raw_session()
    rsps = s.login(keys=[("X-org.softhba.test.Unknown", "1"), ("UnknownKeyQQ", "abc")],
                   security_keys=[("X-org.softhba.test.SecStage", "yes")])
    sec = rsps[0].keydict()
    assert sec.get("X-org.softhba.test.SecStage") == "NotUnderstood", rsps[0].keys()
    got = {}
    for r in rsps[1:]:
        got.update(r.keydict())
    assert got.get("X-org.softhba.test.Unknown") == "NotUnderstood", got
    assert got.get("UnknownKeyQQ") == "NotUnderstood", got
    support.clear_unit_attention(s)
    assert s.read_blocks(0, NBLK) == PATTERN
    h.check_healthy()


def test_login_duplicate_key_in_one_pdu(harness):
    """RFC 7143 6.2: declaring a key twice is detected; the target answers Login reject 0x0200."""
    h = harness()
    for second in ("65536", "16384"):  # identical and contradictory
        s = h.raw_session()
        security_stage(s)
        rsp = s.login_pdu(OP_KEYS + [("MaxRecvDataSegmentLength", second)], ir.STAGE_OPERATIONAL,
                          ir.STAGE_FULL_FEATURE)
        expect_login_reject(h, s, rsp, 0x0200)
    h.check_healthy()


def test_login_key_redeclared_in_next_pdu(harness):
    """RFC 7143 6.2: renegotiating a key already negotiated in this login -> Login reject 0x0200."""
    h = harness()
    s = h.raw_session()
    security_stage(s)
    rsp = s.login_pdu([("MaxBurstLength", "262144")], ir.STAGE_OPERATIONAL, ir.STAGE_FULL_FEATURE, transit=False)
    assert rsp.login_status == 0 and not rsp.transit, rsp
    assert "MaxBurstLength" in rsp.keydict(), rsp.keys()
    rsp = s.login_pdu([("MaxBurstLength", "131072")], ir.STAGE_OPERATIONAL, ir.STAGE_FULL_FEATURE)
    expect_login_reject(h, s, rsp, 0x0200)
    h.check_healthy()


@pytest.mark.parametrize("key,value", [
    ("MaxRecvDataSegmentLength", "abc"),
    ("MaxRecvDataSegmentLength", "0"),
    ("MaxRecvDataSegmentLength", "16777216"),
    ("MaxBurstLength", "abc"),
    ("HeaderDigest", "Foo"),
    ("InitialR2T", "Maybe"),
])
def test_login_bad_value(harness, key, value):
    """A malformed or out-of-range value: either key=Reject (the key keeps its default, login goes on;
    RFC 7143 6.2) or a failed login 0x0200 (6.10) followed by a close. Nothing else."""
    h = harness()
    s = h.raw_session()
    security_stage(s)
    keys = [(k, v) for k, v in OP_KEYS if k != key] + [(key, value)]
    rsp = s.login_pdu(keys, ir.STAGE_OPERATIONAL, ir.STAGE_FULL_FEATURE)
    if rsp.login_status != 0:
        expect_login_reject(h, s, rsp, 0x0200)
    else:
        # (a declarative key's answer may sit beside the target's own declaration of the same key)
        answers = [v for k, v in rsp.keys() if k == key]
        assert "Reject" in answers, "%s=%s answered %r" % (key, value, rsp.keys())
        for _ in range(4):
            if rsp.transit and rsp.nsg == ir.STAGE_FULL_FEATURE:
                break
            rsp = s.login_pdu([], ir.STAGE_OPERATIONAL, ir.STAGE_FULL_FEATURE)
            assert rsp.login_status == 0, rsp
        assert rsp.transit and rsp.nsg == ir.STAGE_FULL_FEATURE
        s.full_feature = True
        assert s.inquiry().status == ir.GOOD
    h.check_healthy()


def test_login_missing_initiator_name(harness):
    """RFC 7143 11.13.5: 0x0207 'Missing parameter' when InitiatorName is absent."""
    h = harness()
    s = h.raw_session()
    rsp = s.login_pdu([("SessionType", "Normal"), ("TargetName", s.target), ("AuthMethod", "None")])
    expect_login_reject(h, s, rsp, 0x0207)
    h.check_healthy()


def test_login_normal_session_without_target_name(harness):
    """RFC 7143 11.13.5: 0x0207 'Missing parameter' (TargetName is required for a Normal session)."""
    h = harness()
    s = h.raw_session()
    rsp = s.login_pdu([("InitiatorName", s.initiator), ("SessionType", "Normal"), ("AuthMethod", "None")])
    expect_login_reject(h, s, rsp, 0x0207)
    h.check_healthy()


def test_login_unknown_target(harness):
    """RFC 7143 11.13.5: 0x0203 'Not found' for a TargetName the portal does not serve."""
    h = harness()
    s = h.raw_session()
    s.target = "iqn.2026-11.org.softhba:no-such-target"
    rsp = s.login_pdu([("InitiatorName", s.initiator), ("SessionType", "Normal"), ("TargetName", s.target),
                       ("AuthMethod", "None")])
    expect_login_reject(h, s, rsp, 0x0203)
    h.check_healthy()


def test_login_unsupported_version(harness):
    """RFC 7143 11.12.4/11.13.5: Version-min above what the target supports (0) -> 0x0205."""
    h = harness()
    s = h.raw_session()
    rsp = s.login_pdu([("InitiatorName", s.initiator), ("SessionType", "Normal"), ("TargetName", s.target),
                       ("AuthMethod", "None")], version_max=2, version_min=1)
    expect_login_reject(h, s, rsp, 0x0205)
    h.check_healthy()


def test_non_login_pdu_before_login(harness):
    """Only Login Requests are allowed before full feature phase: a SCSI command as the first PDU gets a
    class-2 Login reject (0x0200 or 0x020b 'invalid during login') and a close, or just a close.
    It is never executed."""
    h = harness()
    s = h.raw_session()
    bhs, data, _ = write_cmd(s, 0, b"\x44" * 4096)
    s.conn.send_pdu(bhs, data)
    closed, pdus = s.conn.wait_closed(h.t(5))
    assert closed, "connection still open after a SCSI command in the login phase (%r)" % pdus
    for p in pdus:
        assert p.opcode == ir.OP_LOGIN_RSP and p.login_status in (0x0200, 0x020B), p
    h.check_healthy()


# ------------------------------------------------------------------ timers

def test_stall_mid_pdu_closed_after_stall_timeout(harness):
    """A connection that sends half a BHS and then nothing is closed after stall_timeout (2 s here);
    other sessions keep working meanwhile, and an idle (not stalled) session is not touched."""
    h = harness(stall_timeout=2)
    idle = h.bad_session(initiator=INI + "-idle")
    s = h.bad_session()
    bhs, _, _ = write_cmd(s, 0, b"\x55" * 512)
    t0 = time.monotonic()
    s.conn.send_raw(bhs[:20])
    assert h.bystander.inquiry().status == ir.GOOD  # served while the other connection stalls
    closed, pdus = s.conn.wait_closed(2 + h.t(10))
    elapsed = time.monotonic() - t0
    assert closed, "stalled connection not closed"
    assert not pdus, pdus
    assert elapsed >= 1.5, "closed after %.2f s, before the 2 s stall timeout" % elapsed
    time.sleep(max(0.0, 4.5 - (time.monotonic() - t0)))  # idle > 2x stall_timeout
    assert idle.nop().opcode == ir.OP_NOP_IN
    assert idle.read_blocks(0, NBLK) == PATTERN
    h.check_healthy()


def test_stall_during_login_closed_after_login_timeout(harness):
    """A connection that never completes login is closed after login_timeout (3 s here): one that
    sends nothing, one that stops after the security stage."""
    h = harness(login_timeout=3)
    t_quiet = time.monotonic()
    quiet = ir.Conn(h.d.host, h.d.port, timeout=h.t(10))
    t_half = time.monotonic()
    half = ir.Session(h.d.host, h.d.port, target=h.d.target, initiator=INI + "-half", timeout=h.t(10))
    security_stage(half)
    closed_q, pq = quiet.wait_closed(3 + h.t(10))
    closed_at_q = time.monotonic()
    closed_h, ph = half.conn.wait_closed(max(0.5, 3 + h.t(10) - (time.monotonic() - t_half)))
    closed_at_h = time.monotonic()
    assert closed_q and not pq, "silent connection not closed after login_timeout (%r)" % pq
    assert closed_h and not ph, "half-logged-in connection not closed after login_timeout (%r)" % ph
    assert closed_at_q - t_quiet >= 2.0, "silent connection closed after %.2f s (< 3 s)" % (closed_at_q - t_quiet)
    assert closed_at_h - t_half >= 2.0, "half login closed after %.2f s (< 3 s)" % (closed_at_h - t_half)
    h.check_healthy()


def test_unanswered_nop_in_closes_connection(harness):
    """nop_interval=1, nop_timeout=2: an idle connection gets a target NOP-In (ITT 0xffffffff, a real TTT,
    RFC 7143 11.19); not answering it closes the connection, answering keeps it open."""
    h = harness(nop_interval=1, nop_timeout=2)
    polite = h.bad_session(initiator=INI + "-polite")
    stop = threading.Event()
    polite_errors = []

    def keep_answering():  # answers every ping inside recv()
        for _ in range(1000):
            if stop.is_set():
                return
            try:
                p = polite.recv(0.2)
                polite_errors.append("unexpected PDU %r" % p)
                return
            except ir.PDUTimeout:
                pass
            except (ir.ISCSIError, OSError) as e:
                polite_errors.append(repr(e))
                return

    th = threading.Thread(target=keep_answering, daemon=True)
    th.start()
    deaf = h.bad_session(initiator=INI + "-deaf")
    ping = deaf.conn.recv_pdu(timeout=h.t(6))
    assert ping.opcode == ir.OP_NOP_IN and ping.itt == ir.RSVD_TAG and ping.ttt != ir.RSVD_TAG, ping
    t0 = time.monotonic()
    closed, pdus = deaf.conn.wait_closed(2 + h.t(10))
    assert closed, "connection that ignores pings not closed"
    assert all(p.opcode == ir.OP_NOP_IN for p in pdus), pdus
    assert time.monotonic() - t0 >= 1.0
    time.sleep(3)
    stop.set()
    th.join(5)
    assert not polite_errors, "a session that answers pings was disturbed: %r" % polite_errors
    assert polite.nop().opcode == ir.OP_NOP_IN
    # The harness bystander was not reading, so it could not answer its pings either: polite, opened
    # before the deaf one went away, takes its place for the final check.
    h.bystander.close()
    h.bystander = polite
    h.check_healthy()


# ------------------------------------------------------------------ sessions

def test_session_reinstatement(harness):
    """RFC 7143 6.3.5: a login with the same InitiatorName and ISID and TSIH 0 reinstates the session:
    the old connection is closed, the new session works. A different ISID is a separate session."""
    h = harness()
    isid = ir.random_isid()
    old = h.bad_session(initiator=INI + "-reinst", isid=isid)
    other = h.bad_session(initiator=INI + "-reinst")  # same name, other ISID
    new = h.bad_session(initiator=INI + "-reinst", isid=isid, ready=False)
    assert new.tsih != 0
    closed, pdus = old.conn.wait_closed(h.t(10))
    assert closed, "old connection still open after reinstatement"
    assert all(p.opcode == ir.OP_ASYNC for p in pdus), pdus
    support.clear_unit_attention(new)
    assert new.read_blocks(0, NBLK) == PATTERN
    assert other.nop().opcode == ir.OP_NOP_IN
    assert other.read_blocks(0, NBLK) == PATTERN
    h.check_healthy()


def _one_login(d, i, timeout):
    try:
        s = ir.Session(d.host, d.port, target=d.target, initiator="%s-many%03d" % (INI, i), timeout=timeout)
    except OSError as e:
        return ("connect-failed", repr(e), None)
    try:
        s.login()
        r = s.inquiry()
        if r.status != ir.GOOD:
            return ("bad-inquiry", repr(r), s)
        return ("ok", None, s)
    except ir.LoginFailed as e:
        return ("refused", e.status, s)
    except ir.ConnectionClosed as e:
        return ("closed", str(e), s)
    except (ir.ISCSIError, OSError) as e:
        return ("error", repr(e), s)


def test_many_connections_at_once(harness):
    """200 connections log in concurrently: each is served, or refused with a proper status (0x0206
    too many connections, 0x0301 service unavailable, 0x0302 out of resources) or a clean close.
    The daemon stays alive, frees every descriptor, and memory does not grow round after round."""
    h = harness()
    n = 200
    fds0 = h.d.fd_count()
    rss = []
    for rnd in range(2):
        with concurrent.futures.ThreadPoolExecutor(max_workers=100) as ex:
            results = list(ex.map(lambda i: _one_login(h.d, i, h.t(20)), range(n)))
        kinds = {}
        for kind, info, _ in results:
            kinds.setdefault(kind, []).append(info)
        print("round %d: %s" % (rnd, {k: len(v) for k, v in kinds.items()}))
        bad = {k: v[:5] for k, v in kinds.items() if k not in ("ok", "refused", "closed")}
        assert not bad, "unclean outcomes in round %d: %r" % (rnd, bad)
        for st in kinds.get("refused", []):
            assert st in (0x0206, 0x0301, 0x0302), "refused with status 0x%04x" % st
        assert kinds.get("ok"), "no connection served"
        assert h.bystander.inquiry().status == ir.GOOD
        for _, _, s in results:
            if s is not None:
                s.close()
        assert support.wait_until(lambda: h.d.fd_count() <= fds0 + 2, h.t(15)), \
            "descriptors: %d before, %d after closing %d connections" % (fds0, h.d.fd_count(), n)
        rss.append(h.d.rss_kib())
        print("round %d: RSS %d KiB, fds %d (baseline %d)" % (rnd, rss[-1], h.d.fd_count(), fds0))
    growth = rss[1] - rss[0]
    assert growth < 64 * 1024 * h.d.scale, "RSS grew %d KiB between two identical rounds" % growth
    h.check_healthy()


def test_raw_garbage_and_half_open_sockets(harness):
    """Random bytes, a TCP connect-and-close, an RST: none of it disturbs the daemon."""
    h = harness()
    rnd = bytes((i * 37 + 11) & 0xFF for i in range(4096))
    for payload in (b"", b"GET / HTTP/1.0\r\n\r\n", rnd, b"\x43" + bytes(47)):
        c = socket.create_connection((h.d.host, h.d.port), timeout=h.t(5))
        if payload:
            try:
                c.sendall(payload)
            except OSError:
                pass
        c.close()
    c = socket.create_connection((h.d.host, h.d.port), timeout=h.t(5))
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()  # RST
    h.check_healthy()

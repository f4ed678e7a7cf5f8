"""iscsiraw.py - a minimal iSCSI initiator (RFC 7143) over a plain socket, able to send malformed PDUs on purpose.

It builds every PDU byte by byte so tests can bend any field: wrong digests,
out-of-window CmdSN, oversized data segments, half headers, unknown opcodes.
Normal use:

    s = Session(host, port, target="iqn...")
    s.login()
    r = s.scsi(inquiry_cdb(), read_len=96)
    s.logout()

Nothing here loops without a bound: every receive has a deadline.
"""

import os
import select
import socket
import struct
import time

# ---------------------------------------------------------------- CRC32C

def _crc32c_table():
    poly = 0x82F63B78  # Castagnoli polynomial, bit-reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    """CRC32C as iSCSI digests use it (init ~0, final xor ~0)."""
    c = crc ^ 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283, "crc32c self-check failed"
assert crc32c(bytes(32)) == 0x8A9136AA, "crc32c self-check failed (32 zero bytes, RFC 3720 B.4)"


def digest_bytes(data):
    """The 4 digest bytes on the wire (the CRC little-endian, RFC 7143 section 13.1 / RFC 3720 B.4)."""
    return struct.pack("<I", crc32c(data))


# ---------------------------------------------------------------- constants

OP_NOP_OUT = 0x00
OP_SCSI_CMD = 0x01
OP_TMF_REQ = 0x02
OP_LOGIN_REQ = 0x03
OP_TEXT_REQ = 0x04
OP_DATA_OUT = 0x05
OP_LOGOUT_REQ = 0x06
OP_SNACK = 0x10

OP_NOP_IN = 0x20
OP_SCSI_RSP = 0x21
OP_TMF_RSP = 0x22
OP_LOGIN_RSP = 0x23
OP_TEXT_RSP = 0x24
OP_DATA_IN = 0x25
OP_LOGOUT_RSP = 0x26
OP_R2T = 0x31
OP_ASYNC = 0x32
OP_REJECT = 0x3F

OP_NAMES = {
    0x20: "NOP-In", 0x21: "SCSI Response", 0x22: "TMF Response", 0x23: "Login Response",
    0x24: "Text Response", 0x25: "Data-In", 0x26: "Logout Response", 0x31: "R2T",
    0x32: "Async Message", 0x3F: "Reject",
}

# Reject reasons (RFC 7143 section 11.17.1)
REJECT_DATA_DIGEST = 0x02
REJECT_SNACK = 0x03
REJECT_PROTOCOL_ERROR = 0x04
REJECT_CMD_NOT_SUPPORTED = 0x05
REJECT_IMMEDIATE_CMD = 0x06
REJECT_TASK_IN_PROGRESS = 0x07
REJECT_INVALID_DATA_ACK = 0x08
REJECT_INVALID_PDU_FIELD = 0x09
REJECT_LONG_OP = 0x0A
REJECT_WAITING_FOR_LOGOUT = 0x0C

# Login stages
STAGE_SECURITY = 0
STAGE_OPERATIONAL = 1
STAGE_FULL_FEATURE = 3

RSVD_TAG = 0xFFFFFFFF

# SAM status
GOOD = 0x00
CHECK_CONDITION = 0x02

# TMF functions (RFC 7143 section 11.5.1) and responses (11.6.1)
TMF_ABORT_TASK = 1
TMF_ABORT_TASK_SET = 2
TMF_LU_RESET = 5
TMF_RSP_COMPLETE = 0
TMF_RSP_NO_TASK = 1
TMF_RSP_NO_LUN = 2


class ISCSIError(Exception):
    pass


class ConnectionClosed(ISCSIError):
    """The target closed (or reset) the TCP connection."""


class PDUTimeout(ISCSIError):
    """No complete PDU arrived before the deadline."""


class LoginFailed(ISCSIError):
    def __init__(self, pdu):
        self.pdu = pdu
        self.status_class = pdu.bhs[36]
        self.status_detail = pdu.bhs[37]
        super().__init__("login failed: status 0x%02x%02x" % (self.status_class, self.status_detail))

    @property
    def status(self):
        return (self.status_class << 8) | self.status_detail


# ---------------------------------------------------------------- PDU

def u32(b, off):
    return struct.unpack_from(">I", b, off)[0]


def pad4(n):
    return (4 - n % 4) % 4


def encode_lun(lun):
    """8-byte LUN field, SAM peripheral (lun < 256) or flat (lun < 16384) addressing."""
    if lun < 256:
        first = bytes([0, lun])
    elif lun < 16384:
        first = bytes([0x40 | (lun >> 8), lun & 0xFF])
    else:
        raise ValueError("lun %d not encodable" % lun)
    return first + bytes(6)


def text_data(pairs):
    """key=value pairs as the NUL-terminated text of a Login/Text data segment."""
    out = b""
    for k, v in pairs:
        out += ("%s=%s" % (k, v)).encode() + b"\0"
    return out


def parse_text(data):
    pairs = []
    for item in data.split(b"\0"):
        if not item:
            continue
        k, sep, v = item.decode("utf-8", "replace").partition("=")
        pairs.append((k, v if sep else None))
    return pairs


class PDU:
    """A received (or built) PDU: the 48-byte BHS, AHS bytes, and the data segment without padding."""

    def __init__(self, bhs, ahs=b"", data=b""):
        self.bhs = bytes(bhs)
        self.ahs = bytes(ahs)
        self.data = bytes(data)

    opcode = property(lambda self: self.bhs[0] & 0x3F)
    immediate = property(lambda self: bool(self.bhs[0] & 0x40))
    flags = property(lambda self: self.bhs[1])
    final = property(lambda self: bool(self.bhs[1] & 0x80))
    dlen = property(lambda self: int.from_bytes(self.bhs[5:8], "big"))
    itt = property(lambda self: u32(self.bhs, 16))
    ttt = property(lambda self: u32(self.bhs, 20))
    statsn = property(lambda self: u32(self.bhs, 24))
    expcmdsn = property(lambda self: u32(self.bhs, 28))
    maxcmdsn = property(lambda self: u32(self.bhs, 32))

    def u32(self, off):
        return u32(self.bhs, off)

    # Reject
    reason = property(lambda self: self.bhs[2])
    # Login response
    status_class = property(lambda self: self.bhs[36])
    status_detail = property(lambda self: self.bhs[37])
    login_status = property(lambda self: (self.bhs[36] << 8) | self.bhs[37])
    transit = property(lambda self: bool(self.bhs[1] & 0x80))
    csg = property(lambda self: (self.bhs[1] >> 2) & 3)
    nsg = property(lambda self: self.bhs[1] & 3)
    tsih = property(lambda self: struct.unpack_from(">H", self.bhs, 14)[0])

    def keys(self):
        return parse_text(self.data)

    def keydict(self):
        return dict(self.keys())

    def name(self):
        return OP_NAMES.get(self.opcode, "opcode 0x%02x" % self.opcode)

    def __repr__(self):
        extra = ""
        if self.opcode == OP_REJECT:
            extra = " reason=0x%02x" % self.reason
        elif self.opcode == OP_LOGIN_RSP:
            extra = " status=0x%04x" % self.login_status
        elif self.opcode == OP_SCSI_RSP:
            extra = " response=0x%02x status=0x%02x" % (self.bhs[2], self.bhs[3])
        return "<PDU %s itt=0x%08x dlen=%d%s>" % (self.name(), self.itt, self.dlen, extra)


def make_bhs(opcode, *, immediate=False, flags=0, b2=0, b3=0, ahs_len=0, dlen=0,
             lun=b"\0" * 8, itt=RSVD_TAG, fields=None):
    """48-byte BHS. fields maps byte offset (20..47) -> int (4 bytes big-endian) or bytes."""
    b = bytearray(48)
    b[0] = (opcode & 0x3F) | (0x40 if immediate else 0)
    b[1] = flags & 0xFF
    b[2] = b2 & 0xFF
    b[3] = b3 & 0xFF
    b[4] = ahs_len & 0xFF
    b[5:8] = (dlen & 0xFFFFFF).to_bytes(3, "big")
    b[8:16] = lun
    struct.pack_into(">I", b, 16, itt)
    for off, val in (fields or {}).items():
        if isinstance(val, int):
            struct.pack_into(">I", b, off, val & 0xFFFFFFFF)
        else:
            b[off:off + len(val)] = val
    return bytes(b)


# ---------------------------------------------------------------- connection

class Conn:
    """One TCP connection speaking PDUs, with optional CRC32C digests."""

    def __init__(self, host, port, timeout=10.0):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.header_digest = False
        self.data_digest = False
        self._buf = b""
        self.closed = False

    def fileno(self):
        return self.sock.fileno()

    def send_raw(self, data):
        self.sock.sendall(data)

    def encode(self, bhs, data=b"", ahs=b"", bad_header_digest=False, bad_data_digest=False):
        hdr = bytes(bhs) + bytes(ahs)
        out = hdr
        if self.header_digest:
            d = crc32c(hdr)
            if bad_header_digest:
                d ^= 0x5A5A5A5A
            out += struct.pack("<I", d)
        if data:
            padded = bytes(data) + bytes(pad4(len(data)))
            out += padded
            if self.data_digest:
                d = crc32c(padded)
                if bad_data_digest:
                    d ^= 0x0F0F0F0F
                out += struct.pack("<I", d)
        return out

    def send_pdu(self, bhs, data=b"", ahs=b"", **kw):
        self.send_raw(self.encode(bhs, data, ahs, **kw))

    def _fill(self, n, deadline):
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PDUTimeout("timed out with %d of %d bytes" % (len(self._buf), n))
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                chunk = self.sock.recv(max(65536, n - len(self._buf)))
            except (ConnectionResetError, BrokenPipeError) as e:
                self.closed = True
                raise ConnectionClosed("connection reset (%s)" % e)
            if not chunk:
                self.closed = True
                raise ConnectionClosed("connection closed by peer (%d bytes of a PDU pending)" % len(self._buf))
            self._buf += chunk

    def _take(self, n):
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv_pdu(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._fill(48, deadline)
        bhs = self._buf[:48]
        ahs_len = bhs[4] * 4
        dlen = int.from_bytes(bhs[5:8], "big")
        need = 48 + ahs_len + (4 if self.header_digest else 0)
        if dlen:
            need += dlen + pad4(dlen) + (4 if self.data_digest else 0)
        self._fill(need, deadline)
        raw = self._take(need)
        hdr = raw[:48 + ahs_len]
        pos = 48 + ahs_len
        if self.header_digest:
            got = raw[pos:pos + 4]
            if got != digest_bytes(hdr):
                raise ISCSIError("target sent a bad header digest")
            pos += 4
        data = b""
        if dlen:
            padded = raw[pos:pos + dlen + pad4(dlen)]
            pos += len(padded)
            if self.data_digest:
                if raw[pos:pos + 4] != digest_bytes(padded):
                    raise ISCSIError("target sent a bad data digest")
            data = padded[:dlen]
        return PDU(hdr[:48], hdr[48:], data)

    def wait_closed(self, timeout):
        """Read until the peer closes. Returns (closed, pdus received meanwhile)."""
        deadline = time.monotonic() + timeout
        pdus = []
        for _ in range(10000):
            try:
                pdus.append(self.recv_pdu(timeout=max(0.0, deadline - time.monotonic())))
            except ConnectionClosed:
                return True, pdus
            except PDUTimeout:
                return False, pdus
        return False, pdus

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


# ---------------------------------------------------------------- session

def random_isid():
    """ISID of type 'random' (T=10b, RFC 7143 section 11.12.5)."""
    return bytes([0x80]) + os.urandom(5)


DEFAULT_INITIATOR = "iqn.2026-11.org.softhba.test:raw"


class ScsiResult:
    def __init__(self):
        self.status = None
        self.response = None
        self.sense = b""
        self.data = b""
        self.overflow = False
        self.underflow = False
        self.residual = 0
        self.pdus = []

    @property
    def sense_key(self):
        s = self.sense
        if len(s) < 3:
            return None
        if (s[0] & 0x7F) in (0x72, 0x73):
            return s[1] & 0x0F
        return s[2] & 0x0F

    @property
    def asc_ascq(self):
        s = self.sense
        if len(s) < 4:
            return None
        if (s[0] & 0x7F) in (0x72, 0x73):
            return (s[2], s[3])
        if len(s) < 14:
            return None
        return (s[12], s[13])

    def __repr__(self):
        return "<ScsiResult status=%r sense_key=%r asc=%r data=%d bytes>" % (
            self.status, self.sense_key, self.asc_ascq, len(self.data))


class Session:
    """A single-connection session (MaxConnections=1, ErrorRecoveryLevel=0)."""

    def __init__(self, host, port, target=None, initiator=DEFAULT_INITIATOR, isid=None, timeout=10.0):
        self.host, self.port = host, port
        self.target = target
        self.initiator = initiator
        self.isid = isid if isid is not None else random_isid()
        self.timeout = timeout
        self.conn = Conn(host, port, timeout)
        self.cmdsn = 1
        self.expstatsn = 0
        self.maxcmdsn = 1
        self.exp_cmdsn_seen = 1
        self._itt = 0x10
        self.tsih = 0
        self.cid = 1
        self.login_itt = None
        self.params = {}            # negotiated values, as the target answered
        self.target_mrdsl = 8192    # what the target declared it can receive
        self.my_mrdsl = 262144
        self.full_feature = False
        self.async_events = []

    # ---- bookkeeping

    def next_itt(self):
        self._itt = (self._itt + 1) & 0x7FFFFFFF
        return self._itt

    def _note(self, pdu):
        """Track StatSN/ExpCmdSN/MaxCmdSN from a received PDU."""
        op = pdu.opcode
        has_status = op in (OP_SCSI_RSP, OP_TMF_RSP, OP_LOGIN_RSP, OP_TEXT_RSP, OP_LOGOUT_RSP,
                            OP_REJECT, OP_ASYNC, OP_R2T)
        if op == OP_NOP_IN and pdu.itt != RSVD_TAG:
            has_status = True
        if op == OP_DATA_IN and pdu.flags & 0x01:
            has_status = True
        if has_status and op != OP_R2T:
            self.expstatsn = (pdu.statsn + 1) & 0xFFFFFFFF
        if op in (OP_SCSI_RSP, OP_TMF_RSP, OP_TEXT_RSP, OP_LOGOUT_RSP, OP_REJECT, OP_ASYNC, OP_R2T,
                  OP_NOP_IN, OP_DATA_IN, OP_LOGIN_RSP):
            self.exp_cmdsn_seen = pdu.expcmdsn
            self.maxcmdsn = pdu.maxcmdsn

    def recv(self, timeout=None):
        """Next PDU for the test, answering target pings (NOP-In with a TTT) on the way."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(1000):
            pdu = self.conn.recv_pdu(timeout=max(0.0, deadline - time.monotonic()))
            self._note(pdu)
            if pdu.opcode == OP_NOP_IN and pdu.itt == RSVD_TAG:
                if pdu.ttt != RSVD_TAG:
                    self._answer_ping(pdu)
                continue
            if pdu.opcode == OP_ASYNC:
                self.async_events.append(pdu)
                continue
            return pdu
        raise ISCSIError("too many target pings in a row")

    def _answer_ping(self, ping):
        bhs = make_bhs(OP_NOP_OUT, immediate=True, flags=0x80, lun=ping.bhs[8:16], itt=RSVD_TAG,
                       fields={20: ping.ttt, 24: self.cmdsn, 28: self.expstatsn})
        self.conn.send_pdu(bhs)

    # ---- login

    def login_pdu(self, pairs, csg=STAGE_SECURITY, nsg=STAGE_OPERATIONAL, transit=True, cont=False,
                  tsih=None, itt=None, version_max=0, version_min=0, raw_data=None, timeout=None):
        """Send one Login Request and return the Login Response (status not checked)."""
        if itt is None:
            if self.login_itt is None:
                self.login_itt = self.next_itt()
            itt = self.login_itt
        data = raw_data if raw_data is not None else text_data(pairs)
        flags = (0x80 if transit else 0) | (0x40 if cont else 0) | (csg << 2) | (nsg if transit else 0)
        bhs = make_bhs(OP_LOGIN_REQ, immediate=True, flags=flags, b2=version_max, b3=version_min,
                       dlen=len(data), lun=self.isid + struct.pack(">H", self.tsih if tsih is None else tsih),
                       itt=itt, fields={20: struct.pack(">H", self.cid), 24: self.cmdsn, 28: self.expstatsn})
        self.conn.send_pdu(bhs, data)
        rsp = self.conn.recv_pdu(timeout=timeout)
        if rsp.opcode != OP_LOGIN_RSP:
            raise ISCSIError("expected a Login Response, got %r" % rsp)
        self._note(rsp)
        return rsp

    def login(self, keys=None, header_digest="None", data_digest="None", session_type="Normal",
              security_keys=None, timeout=None):
        """Security stage (AuthMethod=None) then operational stage, into full feature phase.
        keys: extra/overriding operational key pairs (list of tuples or dict).
        Raises LoginFailed on a non-zero status. Returns the list of login responses."""
        responses = []
        sec = [("InitiatorName", self.initiator), ("SessionType", session_type)]
        if self.target is not None and session_type == "Normal":
            sec.append(("TargetName", self.target))
        sec.append(("AuthMethod", "None"))
        if security_keys:
            sec += list(security_keys)
        rsp = self.login_pdu(sec, STAGE_SECURITY, STAGE_OPERATIONAL, timeout=timeout)
        responses.append(rsp)
        for _ in range(8):
            if rsp.login_status:
                raise LoginFailed(rsp)
            if rsp.transit:
                break
            rsp = self.login_pdu([], STAGE_SECURITY, STAGE_OPERATIONAL, timeout=timeout)
            responses.append(rsp)
        else:
            raise ISCSIError("target never left the security stage")
        if rsp.login_status:
            raise LoginFailed(rsp)
        self.tsih = rsp.tsih
        op = [("HeaderDigest", header_digest), ("DataDigest", data_digest),
              ("MaxRecvDataSegmentLength", str(self.my_mrdsl)),
              ("ErrorRecoveryLevel", "0"), ("InitialR2T", "Yes"), ("ImmediateData", "Yes"),
              ("MaxBurstLength", "262144"), ("FirstBurstLength", "65536"),
              ("MaxConnections", "1"), ("DataPDUInOrder", "Yes"), ("DataSequenceInOrder", "Yes"),
              ("MaxOutstandingR2T", "1"), ("DefaultTime2Wait", "0"), ("DefaultTime2Retain", "0")]
        if keys:
            extra = list(keys.items()) if isinstance(keys, dict) else list(keys)
            names = {k for k, _ in extra}
            op = [(k, v) for k, v in op if k not in names] + extra
        if session_type == "Discovery":
            session_only = ("ErrorRecoveryLevel", "InitialR2T", "ImmediateData", "MaxBurstLength",
                            "FirstBurstLength", "MaxConnections", "DataPDUInOrder", "DataSequenceInOrder",
                            "MaxOutstandingR2T", "DefaultTime2Wait", "DefaultTime2Retain")
            op = [(k, v) for k, v in op if k not in session_only or (keys and k in dict(keys))]
        rsp = self.login_pdu(op, STAGE_OPERATIONAL, STAGE_FULL_FEATURE, timeout=timeout)
        responses.append(rsp)
        got = dict(rsp.keys())
        for _ in range(8):
            if rsp.login_status:
                raise LoginFailed(rsp)
            if rsp.transit and rsp.nsg == STAGE_FULL_FEATURE:
                break
            rsp = self.login_pdu([], STAGE_OPERATIONAL, STAGE_FULL_FEATURE, timeout=timeout)
            responses.append(rsp)
            got.update(rsp.keys())
        else:
            raise ISCSIError("target never reached full feature phase")
        self.params = got
        self.tsih = rsp.tsih
        if "MaxRecvDataSegmentLength" in got:
            self.target_mrdsl = int(got["MaxRecvDataSegmentLength"])
        self.conn.header_digest = got.get("HeaderDigest") == "CRC32C"
        self.conn.data_digest = got.get("DataDigest") == "CRC32C"
        self.full_feature = True
        self.login_responses = responses
        return responses

    def param(self, key, default):
        return self.params.get(key, default)

    # ---- full feature phase

    def scsi_cmd_bhs(self, cdb, *, lun=0, edtl=0, read=False, write=False, final=True, itt=None,
                     cmdsn=None, immediate=False, dlen=0, attr=1):
        cdb = bytes(cdb)
        if len(cdb) > 16:
            raise ValueError("CDB longer than 16 bytes needs an AHS")
        flags = (0x80 if final else 0) | (0x40 if read else 0) | (0x20 if write else 0) | (attr & 7)
        return make_bhs(OP_SCSI_CMD, immediate=immediate, flags=flags, dlen=dlen, lun=encode_lun(lun),
                        itt=self.next_itt() if itt is None else itt,
                        fields={20: edtl, 24: self.cmdsn if cmdsn is None else cmdsn, 28: self.expstatsn,
                                32: cdb + bytes(16 - len(cdb))})

    def data_out_bhs(self, itt, ttt, offset, length, datasn, final, lun=0):
        return make_bhs(OP_DATA_OUT, flags=0x80 if final else 0, dlen=length, lun=encode_lun(lun), itt=itt,
                        fields={20: ttt, 28: self.expstatsn, 36: datasn, 40: offset})

    def scsi(self, cdb, *, lun=0, data_out=None, read_len=0, timeout=None, use_immediate=True):
        """Run one SCSI command to completion; returns a ScsiResult."""
        data_out = bytes(data_out) if data_out else b""
        write = bool(data_out)
        imm = b""
        if write and use_immediate and self.param("ImmediateData", "Yes") == "Yes":
            fb = int(self.param("FirstBurstLength", "65536"))
            imm = data_out[:min(len(data_out), fb, self.target_mrdsl)]
        itt = self.next_itt()
        bhs = self.scsi_cmd_bhs(cdb, lun=lun, edtl=len(data_out) if write else read_len,
                                read=read_len > 0, write=write, itt=itt, dlen=len(imm))
        self.cmdsn = (self.cmdsn + 1) & 0xFFFFFFFF
        self.conn.send_pdu(bhs, imm)
        return self.collect(itt, data_out=data_out, read_len=read_len, timeout=timeout, lun=lun)

    def collect(self, itt, *, data_out=b"", read_len=0, timeout=None, lun=0):
        """Receive Data-In/R2T/SCSI Response for itt until the command completes."""
        res = ScsiResult()
        buf = bytearray(read_len)
        got = 0
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(100000):
            pdu = self.recv(timeout=max(0.0, deadline - time.monotonic()))
            res.pdus.append(pdu)
            if pdu.opcode == OP_REJECT:
                raise ISCSIError("command rejected: %r" % pdu)
            if pdu.itt != itt:
                raise ISCSIError("unexpected %r while waiting for itt 0x%x" % (pdu, itt))
            if pdu.opcode == OP_DATA_IN:
                off = pdu.u32(40)
                if off + len(pdu.data) > len(buf):
                    raise ISCSIError("Data-In beyond the expected length")
                buf[off:off + len(pdu.data)] = pdu.data
                got = max(got, off + len(pdu.data))
                if pdu.flags & 0x01:
                    res.status = pdu.bhs[3]
                    res.response = 0
                    res.overflow = bool(pdu.flags & 0x04)
                    res.underflow = bool(pdu.flags & 0x02)
                    res.residual = pdu.u32(44)
                    break
            elif pdu.opcode == OP_R2T:
                self._answer_r2t(pdu, data_out, lun)
            elif pdu.opcode == OP_SCSI_RSP:
                res.response = pdu.bhs[2]
                res.status = pdu.bhs[3]
                res.overflow = bool(pdu.flags & 0x04)
                res.underflow = bool(pdu.flags & 0x02)
                res.residual = pdu.u32(44)
                if len(pdu.data) >= 2:
                    slen = struct.unpack_from(">H", pdu.data, 0)[0]
                    res.sense = pdu.data[2:2 + slen]
                break
            else:
                raise ISCSIError("unexpected %r during a command" % pdu)
        else:
            raise ISCSIError("command never completed")
        res.data = bytes(buf[:got])
        return res

    def _answer_r2t(self, r2t, data_out, lun):
        off = r2t.u32(40)
        want = r2t.u32(44)
        chunk = self.target_mrdsl
        datasn = 0
        end = off + want
        pos = off
        while pos < end:
            n = min(chunk, end - pos)
            bhs = self.data_out_bhs(r2t.itt, r2t.ttt, pos, n, datasn, pos + n >= end, lun)
            self.conn.send_pdu(bhs, data_out[pos:pos + n])
            pos += n
            datasn += 1

    def nop(self, timeout=None, data=b""):
        """Immediate NOP-Out ping; returns the NOP-In answer."""
        itt = self.next_itt()
        bhs = make_bhs(OP_NOP_OUT, immediate=True, flags=0x80, dlen=len(data), itt=itt,
                       fields={20: RSVD_TAG, 24: self.cmdsn, 28: self.expstatsn})
        self.conn.send_pdu(bhs, data)
        pdu = self.recv(timeout)
        if pdu.opcode != OP_NOP_IN or pdu.itt != itt:
            raise ISCSIError("expected NOP-In for itt 0x%x, got %r" % (itt, pdu))
        return pdu

    def text(self, pairs, timeout=None):
        """One Text Request (F=1); returns the Text Response."""
        itt = self.next_itt()
        data = text_data(pairs)
        bhs = make_bhs(OP_TEXT_REQ, immediate=True, flags=0x80, dlen=len(data), itt=itt,
                       fields={20: RSVD_TAG, 24: self.cmdsn, 28: self.expstatsn})
        self.conn.send_pdu(bhs, data)
        return self.recv(timeout)

    def tmf(self, function, lun=0, ref_itt=RSVD_TAG, ref_cmdsn=0, timeout=None):
        itt = self.next_itt()
        bhs = make_bhs(OP_TMF_REQ, immediate=True, flags=0x80 | (function & 0x7F), lun=encode_lun(lun), itt=itt,
                       fields={20: ref_itt, 24: self.cmdsn, 28: self.expstatsn, 32: ref_cmdsn})
        self.conn.send_pdu(bhs)
        return self.recv(timeout)

    def logout(self, reason=0, timeout=None):
        itt = self.next_itt()
        bhs = make_bhs(OP_LOGOUT_REQ, immediate=True, flags=0x80 | reason, itt=itt,
                       fields={20: struct.pack(">H", self.cid), 24: self.cmdsn, 28: self.expstatsn})
        self.conn.send_pdu(bhs)
        rsp = self.recv(timeout)
        if rsp.opcode != OP_LOGOUT_RSP:
            raise ISCSIError("expected Logout Response, got %r" % rsp)
        return rsp

    def close(self):
        self.conn.close()

    # ---- SCSI helpers

    def inquiry(self, lun=0, evpd=0, page=0, alloc=255):
        return self.scsi(inquiry_cdb(evpd, page, alloc), lun=lun, read_len=alloc)

    def read10(self, lba, nblocks, lun=0, block_size=512):
        return self.scsi(read10_cdb(lba, nblocks), lun=lun, read_len=nblocks * block_size)

    def write10(self, lba, data, lun=0, block_size=512, fua=False):
        assert len(data) % block_size == 0
        return self.scsi(write10_cdb(lba, len(data) // block_size, fua=fua), lun=lun, data_out=data)

    def read_blocks(self, lba, nblocks, lun=0, block_size=512):
        r = self.read10(lba, nblocks, lun, block_size)
        if r.status != GOOD:
            raise ISCSIError("READ(10) failed: %r" % r)
        return r.data


def inquiry_cdb(evpd=0, page=0, alloc=255):
    return bytes([0x12, evpd & 1, page, alloc >> 8, alloc & 0xFF, 0])


def read10_cdb(lba, nblocks):
    return bytes([0x28, 0]) + struct.pack(">I", lba) + bytes([0]) + struct.pack(">H", nblocks) + bytes([0])


def write10_cdb(lba, nblocks, fua=False):
    return bytes([0x2A, 0x08 if fua else 0]) + struct.pack(">I", lba) + bytes([0]) + \
        struct.pack(">H", nblocks) + bytes([0])


def sync_cache10_cdb():
    return bytes([0x35]) + bytes(9)


def tur_cdb():
    return bytes(6)


def read_capacity10_cdb():
    return bytes([0x25]) + bytes(9)

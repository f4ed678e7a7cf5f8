"""test_raid_crash.py - the RAID 5/6 write hole end to end: kill -9 the daemon in the middle of concurrent
partial-stripe writes, restart it, scrub, and check every block reads old or new, never anything else.

What this proves and what it does not: the members are FILES in a tmp dir, written through the page cache.
kill -9 ends the daemon process, but everything it had handed to the kernel survives (the page cache belongs
to the kernel), so these tests check the DAEMON's crash consistency: whatever instant the process dies at,
between any two of its member writes, the journal and its replay leave every stripe consistent and every block
old or new. Power loss (writes the kernel had not yet put on the disk vanish too, in any order) is a different
failure; it comes with the cache issue, which simulates it below the members.

The record the checker keeps: every block's content names (LBA, write id). A write is *acknowledged* once its
SCSI GOOD status was read by the writer; after the crash its blocks must read that write or a newer one. A
write sent but not acknowledged when the daemon died is *in flight*: its blocks may read it or what they held
before. Two writes never overlap while in flight (the writer keeps the ranges disjoint), so each block has at
most one write in flight and exactly two acceptable contents.
"""

import hashlib
import os
import random
import struct
import threading
import time

import pytest

import iscsiraw
import raidtools as rt
import support
from raidtools import info, rpc

BS = 512
MEMBER = "16MiB"          # 8 MiB of data per member after the 8 MiB metadata area
CHUNK = "16KiB"           # 32 blocks per chunk: 256 stripes per member, so writes land on many stripes
CHUNK_BLOCKS = 32
MAX_WRITE = 40            # blocks per write (1..40): short of a stripe, often across a chunk edge
SESSIONS = 3              # concurrent iSCSI sessions ...
QD = 6                    # ... each with this many writes outstanding
ITERATIONS = 20           # crash/restart cycles per case (bounded further by CASE_BUDGET_S)
CASE_BUDGET_S = 40.0      # seconds per case on a normal build (scaled, capped, for sanitizer builds)
ZERO = bytes(BS)


def block_content(lba, wid):
    """(lba, write id), then bytes hashed from them: a torn stripe's XOR of two contents never decodes as a
    valid block (with a plain repeated pattern it would, as another write id)."""
    head = struct.pack("<QQ", lba, wid)
    return head + (hashlib.blake2b(head, digest_size=64).digest() * (BS // 64))[:BS - 16]


class Record:
    """What every block may hold: its last acknowledged write (0 = never written: zeroes) and the one write in
    flight over it, if any."""

    def __init__(self, nblocks):
        self.n = nblocks
        self.committed = [0] * nblocks
        self.pending = [0] * nblocks
        self.lock = threading.Lock()
        self.busy = []          # (lba, nblocks) of writes in flight
        self.next_wid = 1
        self.acked = 0
        self.sent = 0

    def reserve(self, rnd, hot_blocks):
        """A random range no write in flight overlaps, with a fresh write id; None when none was found."""
        for _ in range(16):
            nb = rnd.randint(1, MAX_WRITE)
            top = hot_blocks if rnd.random() < 0.7 else self.n
            lba = rnd.randrange(0, top - nb)
            if any(lba < b + c and b < lba + nb for b, c in self.busy):
                continue
            with self.lock:
                if any(lba < b + c and b < lba + nb for b, c in self.busy):
                    continue
                wid = self.next_wid
                self.next_wid += 1
                self.busy.append((lba, nb))
                for b in range(lba, lba + nb):
                    self.pending[b] = wid
                self.sent += 1
                return lba, nb, wid
        return None

    def reserve_exact(self, lba, nb):
        """This range (nothing in flight may overlap it) with a fresh write id."""
        with self.lock:
            assert not any(lba < b + c and b < lba + nb for b, c in self.busy)
            wid = self.next_wid
            self.next_wid += 1
            self.busy.append((lba, nb))
            for b in range(lba, lba + nb):
                self.pending[b] = wid
            self.sent += 1
            return wid

    def acked_write(self, lba, nb, wid):
        with self.lock:
            self.busy.remove((lba, nb))
            for b in range(lba, lba + nb):
                self.committed[b] = wid
                self.pending[b] = 0
            self.acked += 1


class Writer(threading.Thread):
    """One iSCSI session writing with QD commands outstanding (immediate data: no R2T round trip)."""

    def __init__(self, d, rec, seed, hot_blocks):
        super().__init__(daemon=True)
        self.rec = rec
        self.rnd = random.Random(seed)
        self.hot = hot_blocks
        self.stop = False
        self.killed = False      # set by the test just before the kill: errors after it are expected
        self.error = None
        self.s = d.session(timeout=d.t(20), keys={"FirstBurstLength": "65536", "MaxBurstLength": "262144"})

    def run(self):
        out = {}
        s = self.s
        try:
            while not self.stop:
                while len(out) < QD and not self.stop:
                    r = self.rec.reserve(self.rnd, self.hot)
                    if r is None:
                        break
                    lba, nb, wid = r
                    data = b"".join(block_content(b, wid) for b in range(lba, lba + nb))
                    itt = s.next_itt()
                    bhs = s.scsi_cmd_bhs(iscsiraw.write10_cdb(lba, nb), edtl=len(data), write=True, itt=itt,
                                         dlen=len(data))
                    s.cmdsn = (s.cmdsn + 1) & 0xFFFFFFFF
                    out[itt] = r
                    s.conn.send_pdu(bhs, data)
                if not out:
                    time.sleep(0.001)
                    continue
                pdu = s.recv()
                if pdu.opcode != iscsiraw.OP_SCSI_RSP or pdu.itt not in out:
                    raise AssertionError("unexpected %r while writing" % pdu)
                lba, nb, wid = out.pop(pdu.itt)
                if pdu.bhs[2] != 0 or pdu.bhs[3] != iscsiraw.GOOD:
                    raise AssertionError("WRITE(10) lba %d +%d failed: response 0x%02x status 0x%02x"
                                         % (lba, nb, pdu.bhs[2], pdu.bhs[3]))
                self.rec.acked_write(lba, nb, wid)
        except (iscsiraw.ISCSIError, OSError) as e:
            if not self.killed:
                self.error = e
        except AssertionError as e:
            self.error = e
        finally:
            s.close()


def kill9(d):
    """SIGKILL and reap; the fixture must not expect a clean exit, but sanitizer reports still fail the test."""
    d.kill()
    d.checked = True
    text = d.stderr_text()
    for marker in support.SANITIZER_MARKERS:
        assert marker not in text, "sanitizer report before the kill\n" + d.stderr_tail(60)


def scrub_check(d):
    """raid.scrub.start mode check through the control socket, wait for it, return raid.get."""
    rt.wait_state(d, info(d)["state"], sync_idle=True, timeout=60)
    rpc(d, "raid.scrub.start", {"name": "r", "mode": "check"})
    deadline = time.monotonic() + d.t(60)
    while time.monotonic() < deadline:
        inf = info(d)
        last = inf["sync"].get("last", {})
        if inf["sync"]["kind"] == "none" and last.get("kind") == "check":
            assert last["status"] == "done", inf["sync"]
            return inf
        time.sleep(0.05)
    raise AssertionError("the scrub did not finish: %r" % info(d)["sync"])


def read_all(d, nblocks):
    s = d.session(timeout=d.t(20))
    try:
        out = bytearray()
        step = 256
        for lba in range(0, nblocks, step):
            out += s.read_blocks(lba, min(step, nblocks - lba))
        return bytes(out)
    finally:
        s.close()


def verify(rec, data, what):
    """Every block is its acknowledged write or the one in flight over it. Folds the result into the record
    (the content found becomes the block's acknowledged state). Returns (in-flight blocks new, old)."""
    bad = []
    new = old = 0
    for b in range(rec.n):
        blk = data[b * BS:(b + 1) * BS]
        if blk == ZERO:
            wid = 0
        else:
            lba, wid = struct.unpack_from("<QQ", blk)
            if lba != b or blk != block_content(lba, wid):
                wid = -1
        ok = (rec.committed[b], rec.pending[b]) if rec.pending[b] else (rec.committed[b],)
        if wid not in ok:
            if len(bad) < 12:
                head = blk[:16].hex()
                bad.append("block %d: %s; acknowledged write %d%s" % (
                    b, "garbage (%s...)" % head if wid < 0 else "write %d" % wid, rec.committed[b],
                    ", write %d in flight" % rec.pending[b] if rec.pending[b] else ", nothing in flight"))
            else:
                bad.append(None)
            continue
        if rec.pending[b]:
            if wid == rec.pending[b]:
                new += 1
            else:
                old += 1
        rec.committed[b] = wid
        rec.pending[b] = 0
    if bad:
        raise AssertionError("%s: %d block(s) neither old nor new:\n  %s" % (
            what, len(bad), "\n  ".join(x for x in bad if x)))
    rec.busy = []
    return new, old


def file_members(tmp_path, n, prefix="m"):
    return [rt.member(tmp_path, "%s%d.img" % (prefix, i), size=MEMBER, backend="file") for i in range(n)]


def crash_loop(softhba, tmp_path, cfg, first, seed, want_state, label):
    """The loop: write, kill -9 mid-writes, restart (journal replay), scrub (0 mismatches), read every block."""
    scale = first.scale
    budget = CASE_BUDGET_S * min(scale, 2.0)
    inf = info(first)
    nblocks = inf["size"] // BS
    stripe_blocks = CHUNK_BLOCKS * (inf["members"] - (inf["level"] == 5 and 1 or 2))
    hot = 48 * stripe_blocks          # most writes crowd 48 stripes: several hit one stripe at once
    rec = Record(nblocks)
    rnd = random.Random(seed)
    d = first
    t0 = time.monotonic()
    stats = {"iterations": 0, "acked": 0, "in_flight": 0, "new": 0, "old": 0}
    for it in range(ITERATIONS):
        if it >= 3 and time.monotonic() - t0 > budget:
            break
        writers = [Writer(d, rec, rnd.getrandbits(32), hot) for _ in range(SESSIONS)]
        acked0 = rec.acked
        want = rnd.randint(5, 400)   # kill after this many acknowledged writes ...
        for w in writers:
            w.start()
        deadline = time.monotonic() + d.t(20)
        while rec.acked - acked0 < want and time.monotonic() < deadline and all(w.is_alive() for w in writers):
            time.sleep(0.002)
        time.sleep(rnd.random() * 0.02)  # ... plus a random instant
        for w in writers:
            w.killed = True
        kill9(d)
        for w in writers:
            w.stop = True
            w.join(d.t(20))
            assert not w.is_alive(), "a writer did not notice the kill"
            assert w.error is None, "%s iteration %d (seed %d): writer failed before the kill: %s" % (
                label, it, seed, w.error)
        acked = rec.acked - acked0
        assert acked > 0, "%s iteration %d: no write was acknowledged before the kill" % (label, it)
        inflight = len(rec.busy)
        d = softhba(cfg, name="%s-%02d" % (label, it + 1))
        inf = info(d)
        assert inf["state"] == want_state and inf["journal"] is True, inf
        inf = scrub_check(d)
        assert inf["scrub"]["mismatches"] == 0, "%s iteration %d (seed %d): scrub found %r" % (
            label, it, seed, inf["scrub"])
        new, old = verify(rec, read_all(d, nblocks), "%s iteration %d (seed %d)" % (label, it, seed))
        stats["iterations"] += 1
        stats["acked"] += acked
        stats["in_flight"] += inflight
        stats["new"] += new
        stats["old"] += old
    stats["seconds"] = round(time.monotonic() - t0, 1)
    print("%s: %r" % (label, stats))
    return d, stats


def seed_for(case):
    env = os.environ.get("SOFTHBA_CRASH_SEED")
    return int(env) if env else 1000 + case


@pytest.mark.parametrize("level,n", [(5, 4), (6, 5)], ids=["raid5", "raid6"])
def test_kill9_during_partial_stripe_writes(softhba, tmp_path, level, n):
    cfg = rt.raid_config(tmp_path, level, file_members(tmp_path, n), chunk=CHUNK)
    d = softhba(cfg, name="r%d-00" % level)
    assert info(d)["state"] == "optimal"
    _, stats = crash_loop(softhba, tmp_path, cfg, d, seed_for(level), "optimal", "r%d" % level)
    assert stats["iterations"] >= 3 and stats["in_flight"] > 0, stats


def degraded_raid5(softhba, tmp_path, journal=True):
    """A RAID 5 of 4 file members whose role 3 failed (recorded in the others' superblocks) and whose file is
    then left out of the configuration: every later start assembles it degraded, role 3 missing."""
    members = file_members(tmp_path, 4)
    opts = {"chunk": CHUNK}
    if not journal:
        opts["journal"] = False
    cfg = rt.raid_config(tmp_path, 5, members, **opts)
    d = softhba(cfg, name="create")
    rpc(d, "raid.member.fail", {"name": "r", "role": 3})
    rt.wait_state(d, "degraded")
    d.stop()
    cfg = rt.raid_config(tmp_path, 5, members[:3], create="never", **opts)
    return cfg


def test_kill9_during_writes_while_degraded(softhba, tmp_path):
    """The case the journal exists for: with a member missing, a torn stripe would rebuild the missing
    column from parity that matches neither old nor new data, damaging blocks nobody was writing. (The scrub
    skips degraded stripes, so here the read-back is the real check.)"""
    cfg = degraded_raid5(softhba, tmp_path)
    d = softhba(cfg, name="deg-00")
    inf = info(d)
    assert inf["state"] == "degraded" and inf["roles"][3]["state"] == "missing", inf["roles"]
    _, stats = crash_loop(softhba, tmp_path, cfg, d, seed_for(55), "degraded", "r5deg")
    assert stats["iterations"] >= 3 and stats["in_flight"] > 0, stats


# ---------------------------------------------------------------- the control: a hole the checker sees

def torn_stripe_crash(softhba, tmp_path, journal):
    """Deterministic torn stripes on a degraded RAID 5 (role 3 missing): role 0 is slowed down (every request
    waits 2 s before it reaches its file), writes go to stripes whose parity lives on role 0, and the daemon
    is killed once roles 1 and 2 have received their part of every write (seen in their files), long before
    role 0's part can land. Returns (record, blocks of the missing column in the rows written, data read back
    after the restart)."""
    cfg = degraded_raid5(softhba, tmp_path, journal=journal)
    for m in cfg["volumes"][0]["members"]:
        m["inject"] = {}
    d = softhba(cfg, name="torn-00")
    inf = info(d)
    assert inf["state"] == "degraded" and inf["journal"] is journal, inf
    nblocks = inf["size"] // BS
    rec = Record(nblocks)
    n, ndata = 4, 3
    # Left-symmetric RAID 5: stripe s has P on member n-1 - s % n, data chunk i on (P + 1 + i) % n.
    stripes = list(range(3, 200, 4))[:12]   # s % 4 == 3: parity on role 0
    victims, writes = [], []
    for k, st in enumerate(stripes):
        pmem = n - 1 - st % n
        assert pmem == 0
        col = next(i for i in range(ndata) if (pmem + 1 + i) % n in (1, 2))   # a data column on role 1 or 2
        lost = next(i for i in range(ndata) if (pmem + 1 + i) % n == 3)      # the missing member's column
        off, nb = 4 + k % 8, 8
        writes.append(((st * ndata + col) * CHUNK_BLOCKS + off, nb, (pmem + 1 + col) % n))
        victims += [(st * ndata + lost) * CHUNK_BLOCKS + off + j for j in range(nb)]
    # Old content first (acknowledged), so every block has an "old" that is not zero.
    s = d.session(timeout=d.t(20))
    for lba, nb in [(w[0], w[1]) for w in writes] + [(v, 1) for v in victims]:
        wid = rec.reserve_exact(lba, nb)
        r = s.write10(lba, b"".join(block_content(b, wid) for b in range(lba, lba + nb)))
        assert r.status == iscsiraw.GOOD, r
        rec.acked_write(lba, nb, wid)
    rpc(d, "volume.inject", {"volume": "r", "role": 0, "mode": "delay", "delay_us": int(2e6 * d.scale)})
    marks = []
    for lba, nb, role in writes:   # pipelined: all in flight together
        wid = rec.reserve_exact(lba, nb)
        data = b"".join(block_content(b, wid) for b in range(lba, lba + nb))
        bhs = s.scsi_cmd_bhs(iscsiraw.write10_cdb(lba, nb), edtl=len(data), write=True, dlen=len(data))
        s.cmdsn = (s.cmdsn + 1) & 0xFFFFFFFF
        s.conn.send_pdu(bhs, data)
        marks.append((tmp_path / ("m%d.img" % role), block_content(lba, wid)))

    def all_landed():   # in place (no journal) or in the journal: either way roles 1 and 2 have their part
        files = {}
        for path, blk in marks:
            if path not in files:
                files[path] = path.read_bytes()
            if files[path].find(blk) < 0:
                return False
        return True

    assert support.wait_until(all_landed, d.t(20), step=0.01), "the writes never reached roles 1 and 2"
    kill9(d)
    s.close()
    for m in cfg["volumes"][0]["members"]:
        m.pop("inject", None)
    d = softhba(cfg, name="torn-01")
    return rec, victims, read_all(d, nblocks)


def test_torn_stripe_is_caught_without_journal(softhba, tmp_path):
    """The control: with "journal": false the same crash leaves the missing column rebuilt from stale parity,
    and the checker reports those blocks (which nobody was writing) as damaged."""
    rec, victims, data = torn_stripe_crash(softhba, tmp_path, journal=False)
    with pytest.raises(AssertionError) as e:
        verify(rec, data, "without the journal")
    damaged = [v for v in victims if data[v * BS:(v + 1) * BS] != block_content(v, rec.committed[v])]
    assert damaged, "no block of the missing column was damaged: the crash did not tear a stripe"
    assert "garbage" in str(e.value), str(e.value)


def test_torn_stripe_is_prevented_by_the_journal(softhba, tmp_path):
    """The same crash with the journal: the writes in flight were never in place (their journal parts on role
    0 were not durable), so every block reads old or new, the missing column included."""
    rec, victims, data = torn_stripe_crash(softhba, tmp_path, journal=True)
    verify(rec, data, "with the journal")
    for v in victims:
        assert data[v * BS:(v + 1) * BS] == block_content(v, rec.committed[v])

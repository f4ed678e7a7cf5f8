"""test_raid.py - RAID volumes end to end through iSCSI (qemu-img): member failures at every position, spares and
rebuild, RAID 0 going offline cleanly, restarts that reassemble (and resume a rebuild), stale and foreign members
refused, replace, scrub."""

import itertools
import re
import subprocess
import time

import pytest

import support
import raidtools as rt
from raidtools import RpcError, info, rpc

MEMBER = "16MiB"  # 8 MiB of data per member after the 8 MiB superblock/bitmap/journal area


def positions():
    """(level, members, roles to fail): every position, every pair for RAID 6."""
    cases = []
    for level, n in ((1, 2), (10, 4), (5, 4)):
        cases += [(level, n, (r,)) for r in range(n)]
    cases += [(6, 5, pair) for pair in itertools.combinations(range(5), 2)]
    return cases


@pytest.mark.parametrize("level,n,fail", positions(),
                         ids=lambda v: "-".join(map(str, v)) if isinstance(v, tuple) else str(v))
def test_member_failures(softhba, tmp_path, level, n, fail):
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, level, [rt.member(size=MEMBER) for _ in range(n)])
    d = softhba(cfg)
    inf = rt.wait_state(d, "optimal")
    size = inf["size"]
    seed = level * 1000 + sum(1 << r for r in fail)
    a = rt.make_pattern(tmp_path / "a.raw", size, seed)
    devs = [rt.dev_by_role(inf, r) for r in fail]
    before = [rt.requests(inf, dev) for dev in devs]
    rt.write_volume(d, a)
    inf = info(d)
    per_write = min(rt.requests(inf, dev) - b0 for dev, b0 in zip(devs, before))
    assert per_write >= 3, "a full write reached a member in only %d requests: %r" % (per_write, inf["devices"])

    # The members fail while pattern B is being written: each one's N-th request from now fails, and every
    # later one (a member that keeps failing), so the failures land in the middle of the write stream
    # (N a third, then two thirds, of the requests the member saw for the same write of pattern A).
    for k, dev in enumerate(devs):
        rpc(d, "volume.inject", {"volume": "r", "member": dev, "mode": "fail-all",
                                 "after": max(1, per_write * (k + 1) // (len(devs) + 1))})
    b = rt.make_pattern(tmp_path / "b.raw", size, seed + 1)
    rt.write_volume(d, b)  # no error may reach the host while redundancy remains
    inf = rt.wait_state(d, "degraded")
    failed = sorted(x["role"] for x in inf["roles"] if x["state"] != "active")
    assert failed == sorted(fail), inf["roles"]
    for dev in devs:
        st = next(x for x in inf["devices"] if x["name"] == dev)
        assert st["inject"]["failed"] > 0, "the fault never hit %s: %r" % (dev, st)
    out = tmp_path / "out.raw"
    rt.verify(d, b, out, "after failing roles %s mid-write" % (fail,))

    # Writes while degraded (parity/copies without the failed members), then read back.
    c = rt.make_pattern(tmp_path / "c.raw", size, seed + 2)
    rt.write_volume(d, c)
    rt.verify(d, c, out, "written while degraded")

    # A spare too small is refused, and leaves nothing behind.
    ndev = len(info(d)["devices"])
    with pytest.raises(RpcError) as e:
        rpc(d, "raid.spare.add", {"name": "r", "member": {"backend": "malloc", "size": "1MiB"}})
    assert "refused the spare" in e.value.message and "at least as large as a member" in e.value.message
    assert len(info(d)["devices"]) == ndev
    # A spare per failed member: the array rebuilds onto them and is whole again.
    for _ in fail:
        rpc(d, "raid.spare.add", {"name": "r", "member": {"backend": "malloc", "size": MEMBER}})
    inf = rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    rt.verify(d, c, out, "after the rebuild onto spares")
    # Another member fails (one that had not): still every byte.
    other = next(r for r in range(n) if r not in fail)
    rpc(d, "raid.member.fail", {"name": "r", "role": other})
    rt.wait_state(d, "degraded")
    rt.verify(d, c, out, "after the rebuild and a failure of role %d" % other)


def test_raid0_member_failure_is_a_clean_error(softhba, tmp_path):
    support.require_tool("qemu-img")
    d = softhba(rt.raid_config(tmp_path, 0, [rt.member(size=MEMBER) for _ in range(3)]))
    inf = rt.wait_state(d, "optimal")
    a = rt.make_pattern(tmp_path / "a.raw", inf["size"], 7)
    rt.write_volume(d, a)
    rt.verify(d, a, tmp_path / "out.raw", "raid 0 before the failure")

    rpc(d, "volume.inject", {"volume": "r", "role": 1, "mode": "fail-all"})
    p = rt.read_volume(d, tmp_path / "out2.raw", check=False, timeout=60)
    assert p.returncode != 0, "reading a RAID 0 with a failed member succeeded"
    inf = rt.wait_state(d, "offline")
    assert inf["roles"][1]["state"] == "failed"
    p = rt.write_volume(d, a, check=False, timeout=60)
    assert p.returncode != 0, "writing to an offline RAID 0 succeeded"
    # the daemon is alive and answers; the fixture checks it still shuts down cleanly (exit 0, no sanitizer report)
    assert d.alive()
    assert rpc(d, "raid.list")[0]["state"] == "offline"
    assert rpc(d, "daemon.status")["state"] == "running"


def file_members(tmp_path, prefix="m", n=4, inject=False):
    return [rt.member(tmp_path, "%s%d.img" % (prefix, i), size=MEMBER, inject=inject, backend="file")
            for i in range(n)]


def test_restart_reassembles(softhba, tmp_path):
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, 5, file_members(tmp_path))
    d1 = softhba(cfg, name="first")
    inf = info(d1)
    assert inf["created"] is True and inf["state"] == "optimal"
    a = rt.make_pattern(tmp_path / "a.raw", inf["size"], 11)
    rt.write_volume(d1, a)
    d1.stop()
    for i in range(4):
        assert (tmp_path / ("m%d.img" % i)).read_bytes()[:8] == b"SHBARAID"

    d2 = softhba(cfg, name="second")
    inf2 = info(d2)
    assert inf2["created"] is False, inf2
    assert inf2["state"] == "optimal" and inf2["uuid"] == inf["uuid"], inf2
    assert "assembled" in inf2["start"], inf2["start"]
    rt.verify(d2, a, tmp_path / "out.raw", "after a restart")
    d2.stop()

    # The configuration may list the members in any order: roles come from the superblocks.
    cfg3 = rt.raid_config(tmp_path, 5, list(reversed(file_members(tmp_path))))
    d3 = softhba(cfg3, name="third")
    inf3 = info(d3)
    assert inf3["state"] == "optimal", inf3
    assert [x["device"] for x in inf3["roles"]] == ["r.m3", "r.m2", "r.m1", "r.m0"], inf3["roles"]
    rt.verify(d3, a, tmp_path / "out.raw", "after a restart with the members listed in reverse")


def stale_setup(softhba, tmp_path, **raid_opts):
    """Member 2 is copied away, the array is written, the old copy is put back. Returns (config, pattern B)."""
    cfg = rt.raid_config(tmp_path, 5, file_members(tmp_path), **raid_opts)
    d1 = softhba(cfg, name="first")
    a = rt.make_pattern(tmp_path / "a.raw", info(d1)["size"], 21)
    rt.write_volume(d1, a)
    d1.stop()
    rt.copy_file(tmp_path / "m2.img", tmp_path / "m2.stale")  # member 2 as it is now

    d2 = softhba(cfg, name="second")
    b = rt.make_pattern(tmp_path / "b.raw", info(d2)["size"], 22)
    rt.write_volume(d2, b)
    d2.stop()
    rt.copy_file(tmp_path / "m2.stale", tmp_path / "m2.img")  # the old copy comes back
    return cfg, b


def test_restart_refuses_stale_member(softhba, softhba_bin, tmp_path):
    """Without a write-intent bitmap nothing says what a stale member missed: it is refused and the array
    serves degraded until the administrator gives the device back (a full rebuild)."""
    support.require_tool("qemu-img")
    cfg, b = stale_setup(softhba, tmp_path, bitmap=False)
    d3 = softhba(cfg, name="third")
    inf = info(d3)
    assert inf["state"] == "degraded", inf
    dev = next(x for x in inf["devices"] if x["name"] == "r.m2")
    assert dev["state"] == "refused" and "stale" in dev["refused"], dev
    assert inf["roles"][2]["state"] == "missing", inf["roles"]
    assert support.wait_until(lambda: "refuses member r.m2: stale" in d3.stderr_text(), d3.t(5)), \
        d3.stderr_tail(20)
    rt.verify(d3, b, tmp_path / "out.raw", "degraded, without the stale member")
    p = subprocess.run([str(softhba_bin), "--socket", cfg["control"]["socket"], "raid", "show", "r"],
                       capture_output=True, text=True, timeout=d3.t(20))
    assert p.returncode == 0, p.stderr
    assert "degraded" in p.stdout and "refused: stale" in p.stdout, p.stdout

    # The administrator gives it back: rebuilt from the others, then the array is whole again.
    p = subprocess.run([str(softhba_bin), "--socket", cfg["control"]["socket"], "raid", "add", "r", "r.m2"],
                       capture_output=True, text=True, timeout=d3.t(20))
    assert p.returncode == 0, p.stderr
    inf = rt.wait_state(d3, "optimal", sync_idle=True, timeout=60)
    assert inf["roles"][2]["device"] == "r.m2", inf["roles"]
    rpc(d3, "raid.member.fail", {"name": "r", "role": 0})  # now role 2's rebuilt data is needed
    rt.wait_state(d3, "degraded")
    rt.verify(d3, b, tmp_path / "out.raw", "after re-adding the stale member and failing role 0")


def test_restart_readds_stale_member_with_bitmap(softhba, tmp_path):
    """With the write-intent bitmap the stale member comes back by itself: only the regions written while it
    was away are resynchronised."""
    support.require_tool("qemu-img")
    cfg, b = stale_setup(softhba, tmp_path)
    d3 = softhba(cfg, name="third")
    inf = info(d3)
    assert "re-added r.m2" in inf["start"], inf["start"]
    dev = next(x for x in inf["devices"] if x["name"] == "r.m2")
    assert "re-added" in dev.get("note", ""), dev
    inf = rt.wait_state(d3, "optimal", sync_idle=True, timeout=60)
    assert inf["roles"][2]["device"] == "r.m2", inf["roles"]
    rpc(d3, "raid.member.fail", {"name": "r", "role": 1})
    rt.wait_state(d3, "degraded")
    rt.verify(d3, b, tmp_path / "out.raw", "after the bitmap resync of the stale member and failing role 1")


def test_restart_refuses_foreign_member(softhba, tmp_path):
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, 6, file_members(tmp_path, n=5))
    d1 = softhba(cfg, name="first")
    a = rt.make_pattern(tmp_path / "a.raw", info(d1)["size"], 31)
    rt.write_volume(d1, a)
    d1.stop()
    other = rt.raid_config(tmp_path, 5, file_members(tmp_path, prefix="o", n=3), name="other")
    d2 = softhba(other, name="other")
    d2.stop()
    rt.copy_file(tmp_path / "o1.img", tmp_path / "m3.img")  # another array's member where r's member 3 was

    d3 = softhba(cfg, name="third")
    inf = info(d3)
    assert inf["state"] == "degraded", inf
    dev = next(x for x in inf["devices"] if x["name"] == "r.m3")
    assert dev["state"] == "refused" and "belongs to another array" in dev["refused"], dev
    assert "'other'" in dev["refused"], dev
    rt.verify(d3, a, tmp_path / "out.raw", "degraded, without the foreign member")


def test_create_never_without_superblocks_refuses_to_start(softhba_bin, tmp_path):
    cfg = rt.raid_config(tmp_path, 1, file_members(tmp_path, n=2), create="never")
    d = support.Daemon(softhba_bin, cfg, tmp_path, "never")
    with pytest.raises(support.DaemonError):
        d.start(wait=10)
    assert d.proc.returncode == 1
    assert "no member has a softhba superblock" in d.stderr_text(), d.stderr_tail(10)


def test_runtime_errors_say_what_to_change(softhba, tmp_path):
    members = [rt.member(size=MEMBER) for _ in range(3)]
    members[2]["inject"] = None
    del members[2]["inject"]
    d = softhba(rt.raid_config(tmp_path, 5, members))
    with pytest.raises(RpcError) as e:
        rpc(d, "raid.get", {"name": "q"})
    assert "no raid volume named \"q\"" in e.value.message
    with pytest.raises(RpcError) as e:
        rpc(d, "raid.member.fail", {"name": "r", "role": 9})
    assert "role 9 does not exist" in e.value.message and "0..2" in e.value.message
    with pytest.raises(RpcError) as e:
        rpc(d, "volume.inject", {"volume": "r", "role": 2, "mode": "fail-reads"})
    assert "no fault-injection wrapper" in e.value.message and "\"inject\"" in e.value.message
    with pytest.raises(RpcError) as e:
        rpc(d, "volume.inject", {"volume": "r", "role": 0, "mode": "explode"})
    assert "unknown mode \"explode\"" in e.value.message
    rpc(d, "raid.member.fail", {"name": "r", "member": "r.m1"})
    with pytest.raises(RpcError) as e:
        rpc(d, "raid.member.fail", {"name": "r", "role": 1})
    assert "already failed" in e.value.message
    assert rt.wait_state(d, "degraded")["roles"][1]["state"] == "failed"


def wait_sync(d, pred, timeout=30.0):
    """Poll raid.get until pred(info) holds."""
    inf = None
    deadline = time.monotonic() + d.t(timeout)
    while time.monotonic() < deadline:
        inf = info(d)
        if pred(inf):
            return inf
        time.sleep(0.05)
    raise AssertionError("condition never held: %r" % inf)


def test_rebuild_onto_spare_resumes_after_restart(softhba, tmp_path):
    support.require_tool("qemu-img")
    spare = rt.member(tmp_path, "s0.img", size=MEMBER, inject=False, backend="file")
    cfg = rt.raid_config(tmp_path, 5, file_members(tmp_path), spares=[spare], rebuild_rate="1MiB")
    d1 = softhba(cfg, name="first")
    inf = info(d1)
    assert inf["spares"] == 1, inf
    a = rt.make_pattern(tmp_path / "a.raw", inf["size"], 41)
    rt.write_volume(d1, a)
    rpc(d1, "raid.member.fail", {"name": "r", "role": 1})
    inf = wait_sync(d1, lambda i: i["sync"]["kind"] == "rebuild" and i["sync"]["percent"] >= 15)
    assert inf["roles"][1]["device"] == "r.s0" and inf["sync"]["targets"] == [1], inf
    assert inf["sync"]["rate_limit_bps"] == 1 << 20
    d1.stop()  # in the middle of the rebuild (1 MiB/s over 8 MiB)

    d2 = softhba(cfg, name="second")
    inf = info(d2)
    assert inf["roles"][1]["device"] == "r.s0", inf["roles"]
    m1 = next(x for x in inf["devices"] if x["name"] == "r.m1")
    assert m1["state"] == "refused" and "failed" in m1["refused"], m1
    pat = re.compile(r"rebuild started.*from member block (\d+)")
    assert support.wait_until(lambda: pat.search(d2.stderr_text()), d2.t(5)), d2.stderr_tail(20)
    assert int(pat.search(d2.stderr_text()).group(1)) > 0, "the rebuild started over instead of resuming"
    rpc(d2, "raid.rebuild.rate.set", {"name": "r", "rate": 0})
    rt.wait_state(d2, "optimal", sync_idle=True, timeout=60)
    rpc(d2, "raid.member.fail", {"name": "r", "role": 0})  # the rebuilt member's data is needed now
    rt.wait_state(d2, "degraded")
    rt.verify(d2, a, tmp_path / "out.raw", "after a rebuild interrupted by a restart, and a failure of role 0")


def test_replace_member_copies_then_swaps(softhba, tmp_path):
    support.require_tool("qemu-img")
    d = softhba(rt.raid_config(tmp_path, 6, [rt.member(size=MEMBER) for _ in range(4)]))
    inf = info(d)
    a = rt.make_pattern(tmp_path / "a.raw", inf["size"], 51)
    rt.write_volume(d, a)
    rpc(d, "raid.member.replace", {"name": "r", "role": 2, "with": {"backend": "malloc", "size": MEMBER}})
    inf = rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    assert inf["roles"][2]["device"] == "r.x0", inf["roles"]
    old = next(x for x in inf["devices"] if x["name"] == "r.m2")
    assert old["state"] == "unused" and old["role"] is None, old
    for r in (0, 1):  # RAID 6 survives two: role 2's data now comes from the replacement
        rpc(d, "raid.member.fail", {"name": "r", "role": r})
    rt.wait_state(d, "degraded")
    rt.verify(d, a, tmp_path / "out.raw", "after replacing role 2 and failing roles 0 and 1")


def test_scrub_counts_and_repairs_mismatches(softhba, softhba_bin, tmp_path):
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, 5, file_members(tmp_path))
    d = softhba(cfg)
    a = rt.make_pattern(tmp_path / "a.raw", info(d)["size"], 61)
    rt.write_volume(d, a)

    def scrub(mode):
        p = subprocess.run([str(softhba_bin), "--socket", cfg["control"]["socket"], "raid", "scrub", "r", mode],
                           capture_output=True, text=True, timeout=d.t(20))
        assert p.returncode == 0, p.stderr
        return wait_sync(d, lambda i: i["sync"]["kind"] == "none" and i["sync"].get("last", {}).get("kind") == mode)

    inf = scrub("check")
    assert inf["sync"]["last"]["status"] == "done" and inf["scrub"]["mismatches"] == 0, inf
    # Corrupt one chunk of member 2's data region behind the array's back (buffered I/O: the page cache is shared).
    with open(tmp_path / "m2.img", "r+b") as f:
        f.seek((8 << 20) + (192 << 10))
        f.write(bytes(range(256)) * 256)
    inf = scrub("check")
    assert inf["scrub"]["mismatches"] >= 1 and inf["scrub"]["locations"], inf["scrub"]
    p = subprocess.run([str(softhba_bin), "--socket", cfg["control"]["socket"], "raid", "show", "r"],
                       capture_output=True, text=True, timeout=d.t(20))
    assert "mismatch" in p.stdout and "array lba" in p.stdout, p.stdout
    inf = scrub("repair")
    inf = scrub("check")
    assert inf["scrub"]["mismatches"] == 0, inf["scrub"]


def test_failed_member_comes_back_after_its_fault_clears(softhba, softhba_bin, tmp_path):
    """Unplug/replug: a member fails (its device disappears), the fault goes away, the administrator re-adds
    it and it is rebuilt; the data it then holds is right."""
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, 5, [rt.member(size=MEMBER) for _ in range(4)])
    d = softhba(cfg)
    inf = info(d)
    a = rt.make_pattern(tmp_path / "a.raw", inf["size"], 71)
    rt.write_volume(d, a)
    rpc(d, "volume.inject", {"volume": "r", "role": 1, "mode": "disappear"})
    b = rt.make_pattern(tmp_path / "b.raw", inf["size"], 72)
    rt.write_volume(d, b)
    inf = rt.wait_state(d, "degraded")
    assert inf["roles"][1]["state"] == "failed", inf["roles"]
    rpc(d, "volume.inject", {"volume": "r", "member": "r.m1", "mode": "none"})
    p = subprocess.run([str(softhba_bin), "--socket", cfg["control"]["socket"], "raid", "add", "r", "r.m1"],
                       capture_output=True, text=True, timeout=d.t(20))
    assert p.returncode == 0, p.stderr
    inf = rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    dev = next(x for x in inf["devices"] if x["name"] == "r.m1")
    assert inf["roles"][1]["device"] == "r.m1" and dev["state"] == "active", inf
    assert dev["inject"]["requests"] > 0, dev  # the rebuild wrote through the new wrapper
    rpc(d, "raid.member.fail", {"name": "r", "role": 2})
    rt.wait_state(d, "degraded")
    rt.verify(d, b, tmp_path / "out.raw", "after re-adding role 1 and failing role 2")
    with pytest.raises(RpcError) as e:
        rpc(d, "raid.member.add", {"name": "r", "member": "r.m0"})
    assert "already active as role 0" in e.value.message


def test_member_that_stops_answering_fails_by_deadline(softhba, tmp_path):
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, 1, [rt.member(size=MEMBER) for _ in range(2)], member_timeout_ms=300)
    d = softhba(cfg)
    inf = info(d)
    a = rt.make_pattern(tmp_path / "a.raw", inf["size"], 81)
    rt.write_volume(d, a)
    rpc(d, "volume.inject", {"volume": "r", "role": 0, "mode": "delay", "delay_us": 1500000})
    b = rt.make_pattern(tmp_path / "b.raw", inf["size"], 82)
    t0 = time.monotonic()
    rt.write_volume(d, b)
    inf = rt.wait_state(d, "degraded")
    assert inf["roles"][0]["state"] == "failed", inf["roles"]
    assert time.monotonic() - t0 < d.t(30)
    rpc(d, "volume.inject", {"volume": "r", "role": 0, "mode": "none"})
    rt.verify(d, b, tmp_path / "out.raw", "after member 0 stopped answering")
    time.sleep(2.0)  # the late answers of the slow member land before the daemon stops (blk has no abort)

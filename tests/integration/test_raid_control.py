"""test_raid_control.py - run-time RAID control through the control socket: a failed member re-added after a brief
failure resyncs only the regions written while it was away; global hot spares from the configuration and from
raid.spare.add without a volume, taken by whichever array loses a member, and found again after a restart; a failed
member removed from its role; an offline array brought back by members whose data is current."""

import random
import subprocess
import time

import pytest

import raidtools as rt
import support
from raidtools import RpcError, info, rpc

BS = 512
MEMBER = "24MiB"          # 16 MiB of data per member after the 8 MiB metadata area
REGION = 1 << 20          # "bitmap_region": 1 MiB -> 16 regions per member
CHUNK = 64 << 10          # the default chunk: 16 per region, 256 per member


def raw_write(d, lba, data):
    s = d.session()
    try:
        r = s.write10(lba, data)
        assert r.status == 0, r
    finally:
        s.close()


def wait_for(d, pred, what, timeout=30.0):
    inf = None
    deadline = time.monotonic() + d.t(timeout)
    while time.monotonic() < deadline:
        inf = info(d)
        if pred(inf):
            return inf
        time.sleep(0.05)
    raise AssertionError("%s never happened: %r" % (what, inf))


def dev(inf, name):
    return next(x for x in inf["devices"] if x["name"] == name)


def brief_failure(softhba, tmp_path):
    """RAID 5 over 4 malloc members, 1 MiB bitmap regions, written whole, bitmap clean again; then role 1
    disappears and two small writes land in two regions while it is away; the fault is cleared.
    Returns (daemon, expected content file)."""
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, 5, [rt.member(size=MEMBER) for _ in range(4)], bitmap_region="1MiB")
    d = softhba(cfg)
    inf = info(d)
    assert inf["bitmap_region_kib"] == REGION // 1024, inf
    size = inf["size"]
    a = rt.make_pattern(tmp_path / "a.raw", size, 91)
    rt.write_volume(d, a)
    # regions are cleared lazily once writes stop (clean delay 2 s)
    wait_for(d, lambda i: i["bitmap_dirty"] == 0 and not i["dirty"], "the bitmap clearing", timeout=20)
    rpc(d, "volume.inject", {"volume": "r", "role": 1, "mode": "disappear"})
    expect = bytearray(a.read_bytes())
    # Chunk 1 of stripe 0 is on role 1 (member block 0: region 0); stripe 80 starts 5 MiB into every member
    # (region 5), its chunk on role 1 too with 4 members: P of stripe 80 on member 3, D0 on 0, D1 on 1.
    rows = CHUNK // BS
    for stripe in (0, 80):
        lba = (stripe * 3 + 1) * rows + 16
        data = random.Random(stripe).randbytes(64 * BS)
        raw_write(d, lba, data)
        expect[lba * BS:lba * BS + len(data)] = data
    inf = rt.wait_state(d, "degraded")
    assert inf["roles"][1]["state"] == "failed", inf["roles"]
    assert inf["bitmap_dirty"] == 2, "two regions written while role 1 was away: %r" % inf["bitmap_dirty"]
    rpc(d, "volume.inject", {"volume": "r", "member": "r.m1", "mode": "none"})
    b = tmp_path / "b.raw"
    b.write_bytes(bytes(expect))
    return d, b


def test_readd_after_brief_failure_resyncs_only_dirty_regions(softhba, tmp_path):
    d, b = brief_failure(softhba, tmp_path)
    before = rt.requests(info(d), "r.m1")
    inf = rpc(d, "raid.member.add", {"name": "r", "member": "r.m1"})
    assert inf["roles"][1]["device"] == "r.m1", inf["roles"]
    assert "only the regions written while it was away" in dev(inf, "r.m1")["note"], dev(inf, "r.m1")
    inf = rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    assert inf["sync"]["last"] == {"kind": "rebuild", "status": "done"}, inf["sync"]
    # The rebuild wrote role 1's chunks of the two dirty regions (2 x 16) plus superblocks, bitmap and
    # flushes through the same wrapper; a whole-member rebuild is 256 chunk writes.
    resync = rt.requests(inf, "r.m1") - before
    assert 32 <= resync <= 64, "re-adding role 1 cost %d requests (dirty regions: 32 chunk writes)" % resync
    assert support.wait_until(lambda: "rebuild started on the dirty regions" in d.stderr_text(), d.t(5)), \
        d.stderr_tail(20)
    print("re-add of role 1: %d requests (a whole-member rebuild: >= 256)" % resync)
    rpc(d, "raid.member.fail", {"name": "r", "role": 0})   # role 1's content is needed now
    rt.wait_state(d, "degraded")
    rt.verify(d, b, tmp_path / "out.raw", "after the dirty-region resync of role 1 and failing role 0")


def test_readd_full_rebuilds_the_whole_member(softhba, tmp_path):
    d, b = brief_failure(softhba, tmp_path)
    inf = rpc(d, "raid.member.add", {"name": "r", "member": "r.m1", "full": True})
    assert "rebuilt whole" in dev(inf, "r.m1")["note"], dev(inf, "r.m1")
    inf = rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    # a fresh wrapper over the same storage took the role: its count starts at the rebuild
    assert rt.requests(inf, "r.m1") >= 256, dev(inf, "r.m1")
    rpc(d, "raid.member.fail", {"name": "r", "role": 2})
    rt.wait_state(d, "degraded")
    rt.verify(d, b, tmp_path / "out.raw", "after the full rebuild of role 1 and failing role 2")


def test_readd_while_the_fault_is_still_there_fails_again(softhba, tmp_path):
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, 5, [rt.member(size=MEMBER) for _ in range(3)], bitmap_region="1MiB")
    d = softhba(cfg)
    rpc(d, "volume.inject", {"volume": "r", "role": 2, "mode": "disappear"})
    rpc(d, "raid.member.fail", {"name": "r", "role": 2})
    rt.wait_state(d, "degraded")
    rpc(d, "raid.member.add", {"name": "r", "member": "r.m2"})
    inf = rt.wait_state(d, "degraded", sync_idle=True, timeout=30)
    assert inf["roles"][2]["state"] == "failed", inf["roles"]
    assert inf["sync"]["last"]["kind"] == "rebuild" and inf["sync"]["last"]["status"] != "done", inf["sync"]


# ---------------------------------------------------------------- global spares

def global_config(tmp_path, members, spares, **raid_opts):
    cfg = rt.raid_config(tmp_path, 5, members, **raid_opts)
    if spares is not None:
        cfg["spares"] = spares
    return cfg


def test_global_spare_from_the_config_takes_over_and_survives_a_restart(softhba, tmp_path):
    support.require_tool("qemu-img")
    members = [rt.member(tmp_path, "m%d.img" % i, size="16MiB", backend="file") for i in range(4)]
    spare = rt.member(tmp_path, "g0.img", size="16MiB", backend="file", inject=False)
    cfg = global_config(tmp_path, members, [spare])
    d = softhba(cfg, name="first")
    sp = rpc(d, "raid.spare.list")
    assert sp["pool"] == 1 and len(sp["global_spares"]) == 1, sp
    g = sp["global_spares"][0]
    assert g["name"] == "spare:0" and g["array"] is None and g["path"] == str(tmp_path / "g0.img"), g
    inf = info(d)
    assert inf["spares"] == 0, inf   # not the array's own: it waits in the global pool
    a = rt.make_pattern(tmp_path / "a.raw", inf["size"], 101)
    rt.write_volume(d, a)
    rpc(d, "raid.member.fail", {"name": "r", "role": 1})
    inf = rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    assert inf["roles"][1]["device"] == "spare:0", inf["roles"]
    g = dev(inf, "spare:0")
    assert g["origin"] == "global" and g["role"] == 1 and g["state"] == "active", g
    sp = rpc(d, "raid.spare.list")
    assert sp["pool"] == 0 and sp["global_spares"][0]["array"] == "r" and sp["global_spares"][0]["role"] == 1, sp
    d.stop()

    # The spare now carries r's superblock: the next start hands it to r, whose assembly takes it as role 1.
    d2 = softhba(cfg, name="second")
    inf = info(d2)
    assert inf["state"] == "optimal" and inf["roles"][1]["device"] == "spare:0", inf
    assert support.wait_until(lambda: "global spare spare:0 carries this array's superblock" in d2.stderr_text(),
                              d2.t(5)), d2.stderr_tail(20)
    assert dev(inf, "r.m1")["state"] == "refused", dev(inf, "r.m1")
    rpc(d2, "raid.member.fail", {"name": "r", "role": 0})   # the spare's rebuilt data is needed now
    rt.wait_state(d2, "degraded")
    rt.verify(d2, a, tmp_path / "out.raw", "after a global spare took role 1, a restart and failing role 0")


def test_global_spare_added_at_run_time(softhba, tmp_path):
    support.require_tool("qemu-img")
    cfg = global_config(tmp_path, [rt.member(size="16MiB") for _ in range(4)], None)
    d = softhba(cfg)
    inf = info(d)
    a = rt.make_pattern(tmp_path / "a.raw", inf["size"], 111)
    rt.write_volume(d, a)
    # Nothing degraded: the spare waits in the pool.
    res = rpc(d, "raid.spare.add", {"member": {"backend": "malloc", "size": "16MiB", "inject": {}}})
    assert res["given_to"] is None and res["pool"] == 1 and res["device"]["name"] == "spare:0", res
    # The same file twice, or a file a volume uses, is refused.
    res = rpc(d, "raid.spare.add", {"member": {"backend": "file", "path": str(tmp_path / "g1.img"),
                                               "size": "16MiB"}})
    assert res["device"]["name"] == "spare:1" and res["pool"] == 2, res
    with pytest.raises(RpcError) as e:
        rpc(d, "raid.spare.add", {"member": {"backend": "file", "path": str(tmp_path / "g1.img")}})
    assert "already in use (spare:1)" in e.value.message, e.value.message
    with pytest.raises(RpcError) as e:
        rpc(d, "raid.spare.add", {"name": "r", "member": {"backend": "file", "path": str(tmp_path / "g1.img")}})
    assert "already a global spare (spare:1)" in e.value.message, e.value.message
    # A member fails: the array takes the first global spare that fits and rebuilds onto it.
    rpc(d, "raid.member.fail", {"name": "r", "role": 3})
    inf = rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    assert inf["roles"][3]["device"] == "spare:0", inf["roles"]
    assert rpc(d, "raid.spare.list")["pool"] == 1
    # Fault injection works on a global spare that holds a role, like on any member.
    rpc(d, "volume.inject", {"volume": "r", "member": "spare:0", "mode": "disappear"})
    rt.write_volume(d, a)
    inf = rt.wait_state(d, "optimal", sync_idle=True, timeout=60)   # spare:1 took over role 3
    assert inf["roles"][3]["device"] == "spare:1", inf["roles"]
    rpc(d, "raid.member.fail", {"name": "r", "role": 0})
    rt.wait_state(d, "degraded")
    rt.verify(d, a, tmp_path / "out.raw", "after two global spares took role 3 in turn, failing role 0")


def test_global_spare_goes_to_a_degraded_array_at_once(softhba, tmp_path):
    support.require_tool("qemu-img")
    cfg = global_config(tmp_path, [rt.member(size="16MiB") for _ in range(3)], None)
    d = softhba(cfg)
    a = rt.make_pattern(tmp_path / "a.raw", info(d)["size"], 121)
    rt.write_volume(d, a)
    rpc(d, "raid.member.fail", {"name": "r", "role": 0})
    rt.wait_state(d, "degraded")
    res = rpc(d, "raid.spare.add", {"member": {"backend": "malloc", "size": "16MiB"}})
    assert res["given_to"] == "r" and res["pool"] == 0, res
    inf = rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    assert inf["roles"][0]["device"] == "spare:0", inf["roles"]
    rpc(d, "raid.member.fail", {"name": "r", "role": 1})
    rt.wait_state(d, "degraded")
    rt.verify(d, a, tmp_path / "out.raw", "after a global spare rebuilt role 0, failing role 1")


def test_global_spares_config_errors(softhba_bin, tmp_path):
    ram = {"name": "ram0", "backend": "malloc", "size": "16MiB"}
    cases = [
        ({"volumes": [ram], "spares": [{"backend": "malloc", "size": "16MiB"}]},
         "spares: no volume could use a global spare"),
        ({"spares": [rt.member(tmp_path, "m0.img", backend="file")]},
         "spares[0].path: \"%s\" is already volumes[0].members[0] (\"r\")" % (tmp_path / "m0.img")),
        ({"spares": [{"backend": "tape"}]}, "spares[0].backend: "),
    ]
    for extra, want in cases:
        cfg = global_config(tmp_path, [rt.member(tmp_path, "m%d.img" % i, backend="file") for i in range(3)], None)
        if "volumes" in extra:
            cfg["volumes"] = extra["volumes"]
            cfg["iscsi"]["targets"][0]["luns"][0]["volume"] = "ram0"
        cfg["spares"] = extra["spares"]
        dd = support.Daemon(softhba_bin, cfg, tmp_path, "bad")
        with pytest.raises(support.DaemonError):
            dd.start(wait=10)
        assert want in dd.stderr_text(), (want, dd.stderr_tail(5))


# ---------------------------------------------------------------- removing a failed member


def test_remove_failed_member_then_a_spare_rebuilds(softhba, softhba_bin, tmp_path):
    """raid.member.remove: an active member is refused; a failed one leaves its role (missing), its device is
    closed, the array keeps serving degraded, and a spare added afterwards fills the role."""
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, 5, [rt.member(size=MEMBER) for _ in range(3)], bitmap_region="1MiB")
    d = softhba(cfg)
    size = info(d)["size"]
    a = rt.make_pattern(tmp_path / "a.raw", size, 17)
    rt.write_volume(d, a)
    with pytest.raises(RpcError) as e:
        rpc(d, "raid.member.remove", {"name": "r", "role": 1})
    assert "fail it first" in e.value.message, e.value.message
    assert dev(info(d), "r.m1")["state"] == "active"
    rpc(d, "raid.member.fail", {"name": "r", "role": 1})
    rt.wait_state(d, "degraded")
    inf = None
    deadline = time.monotonic() + d.t(10)
    while inf is None:
        try:
            inf = rpc(d, "raid.member.remove", {"name": "r", "member": "r.m1"})
        except RpcError as err:   # the failure may still be being recorded
            assert "still being recorded" in err.message and time.monotonic() < deadline, err.message
            time.sleep(0.05)
    assert inf["state"] == "degraded", inf
    assert inf["roles"][1]["state"] == "missing", inf["roles"]
    assert all(x["name"] != "r.m1" for x in inf["devices"]), inf["devices"]
    assert support.wait_until(lambda: "removed: it no longer receives I/O" in d.stderr_text(), d.t(5)), \
        d.stderr_tail(20)
    # removing it again (through the CLI): the role has no device any more
    p = subprocess.run([str(softhba_bin), "--socket", d.config["control"]["socket"], "raid", "remove", "r", "1"],
                       capture_output=True, text=True, timeout=d.t(20))
    assert p.returncode != 0 and "missing" in p.stderr, (p.returncode, p.stdout, p.stderr)
    rt.verify(d, a, tmp_path / "out1.raw", "degraded after removing role 1")
    rpc(d, "raid.spare.add", {"name": "r", "member": {"backend": "malloc", "size": MEMBER, "inject": {}}})
    inf = rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    assert inf["sync"]["last"] == {"kind": "rebuild", "status": "done"}, inf["sync"]
    rpc(d, "raid.member.fail", {"name": "r", "role": 0})   # the rebuilt role 1 is needed now
    rt.wait_state(d, "degraded")
    rt.verify(d, a, tmp_path / "out2.raw", "after the spare rebuilt role 1 and failing role 0")


# ---------------------------------------------------------------- offline and back


def offline_raid5(softhba, tmp_path):
    """RAID 5 over 4 members written whole and idle; roles 1 and 2 disappear; a read of role 1's first chunk
    fails role 1, its reconstruction needs role 2, which fails too: the array is offline and the host gets the
    error. Returns (daemon, content file)."""
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, 5, [rt.member(size=MEMBER) for _ in range(4)], bitmap_region="1MiB")
    d = softhba(cfg)
    a = rt.make_pattern(tmp_path / "a.raw", info(d)["size"], 23)
    rt.write_volume(d, a)
    wait_for(d, lambda i: not i["dirty"], "the clean mark", timeout=20)
    for role in (1, 2):
        rpc(d, "volume.inject", {"volume": "r", "role": role, "mode": "disappear"})
    s = d.session()
    try:
        r = s.read10(CHUNK // BS, 8)   # chunk 1 of stripe 0: role 1
        assert r.status != 0, "a read with two RAID 5 members gone must fail: %r" % r
        r = s.write10(0, bytes(8 * BS))
        assert r.status != 0, "a write to the offline array must fail: %r" % r
    finally:
        s.close()
    inf = rt.wait_state(d, "offline")
    assert inf["roles"][1]["state"] == "failed" and inf["roles"][2]["state"] == "failed", inf["roles"]
    for role in (1, 2):
        rpc(d, "volume.inject", {"volume": "r", "role": role, "mode": "none"})
    return d, a


def test_offline_array_comes_back_when_its_members_return(softhba, tmp_path):
    d, a = offline_raid5(softhba, tmp_path)
    with pytest.raises(RpcError) as e:
        rpc(d, "raid.member.add", {"name": "r", "member": "r.m0"})
    assert "already active" in e.value.message, e.value.message
    inf = rpc(d, "raid.member.add", {"name": "r", "member": "r.m1"})
    assert inf["state"] == "degraded", inf   # one of two back: RAID 5 serves every block again
    assert inf["roles"][1]["state"] == "active" and not inf["roles"][1].get("rebuilding"), inf["roles"]
    assert support.wait_until(lambda: "array back ONLINE" in d.stderr_text(), d.t(5)), d.stderr_tail(20)
    rt.verify(d, a, tmp_path / "out0.raw", "after role 1 came back to the offline array")
    rpc(d, "raid.member.add", {"name": "r", "member": "r.m2"})
    rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    rt.verify(d, a, tmp_path / "out1.raw", "after roles 1 and 2 came back to the offline array")
    # it takes writes again, and they survive losing a member
    b = rt.make_pattern(tmp_path / "b.raw", info(d)["size"], 29)
    rt.write_volume(d, b)
    rpc(d, "raid.member.fail", {"name": "r", "role": 3})
    rt.wait_state(d, "degraded")
    rt.verify(d, b, tmp_path / "out2.raw", "after new writes and failing role 3")


def test_offline_array_refuses_a_member_that_missed_writes(softhba, tmp_path):
    """Role 1 fails while the array still takes writes (degraded): it misses them, so when role 2 fails as
    well only role 2 can bring the array back; then role 1 is re-added from the bitmap as usual."""
    support.require_tool("qemu-img")
    cfg = rt.raid_config(tmp_path, 5, [rt.member(size=MEMBER) for _ in range(4)], bitmap_region="1MiB")
    d = softhba(cfg)
    a = rt.make_pattern(tmp_path / "a.raw", info(d)["size"], 31)
    rt.write_volume(d, a)
    wait_for(d, lambda i: not i["dirty"], "the clean mark", timeout=20)
    rpc(d, "raid.member.fail", {"name": "r", "role": 1})
    rt.wait_state(d, "degraded")
    expect = bytearray(a.read_bytes())
    data = random.Random(5).randbytes(64 * BS)
    lba = (CHUNK // BS) + 16   # role 1's chunk of stripe 0: only parity holds it now
    raw_write(d, lba, data)
    expect[lba * BS:lba * BS + len(data)] = data
    wait_for(d, lambda i: not i["dirty"], "the clean mark", timeout=20)
    rpc(d, "raid.member.fail", {"name": "r", "role": 2})
    rt.wait_state(d, "offline")
    with pytest.raises(RpcError) as e:
        rpc(d, "raid.member.add", {"name": "r", "member": "r.m1"})
    assert "not current" in e.value.message, e.value.message
    inf = rpc(d, "raid.member.add", {"name": "r", "member": "r.m2"})
    assert inf["state"] == "degraded", inf
    b = tmp_path / "b.raw"
    b.write_bytes(bytes(expect))
    rt.verify(d, b, tmp_path / "out1.raw", "after role 2 brought the array back (role 1 still out)")
    rpc(d, "raid.member.add", {"name": "r", "member": "r.m1"})
    rt.wait_state(d, "optimal", sync_idle=True, timeout=60)
    rpc(d, "raid.member.fail", {"name": "r", "role": 0})
    rt.wait_state(d, "degraded")
    rt.verify(d, b, tmp_path / "out2.raw", "after role 1 was re-added and role 0 failed")

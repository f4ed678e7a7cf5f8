"""test_clients.py - real initiators (libiscsi tools, qemu-img) against a running softhba: discovery, INQUIRY/VPD, data round trips."""

import os
import re
import struct
import subprocess

import pytest

import iscsiraw
import support
from support import TARGET0, TARGET1, lun_entry

INITIATOR = "iqn.2026-11.org.softhba.test:clients"


def clients_config():
    vols = [
        {"name": "ram0", "backend": "malloc", "size": "64MiB", "block_size": 512},
        {"name": "ram1", "backend": "malloc", "size": "32MiB", "block_size": 512},
        {"name": "ram2", "backend": "malloc", "size": "16MiB", "block_size": 512},
        {"name": "ro0", "backend": "malloc", "size": "16MiB", "block_size": 512},
    ]
    targets = [
        {"name": TARGET0, "alias": "test0",
         "luns": [lun_entry(0, "ram0", thin=True), lun_entry(1, "ram1", thin=False), lun_entry(2, "ram2")]},
        {"name": TARGET1, "alias": "test1", "luns": [lun_entry(0, "ro0", read_only=True)]},
    ]
    return support.make_config(volumes=vols, targets=targets)


@pytest.fixture
def daemon(softhba):
    return softhba(clients_config())


def run(d, cmd, timeout=60, check=True):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=d.t(timeout),
                       stdin=subprocess.DEVNULL)
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s\n%s"
                             % (" ".join(cmd), p.returncode, out, err, d.stderr_tail(30)))
    return p.returncode, out, err


def image_opts(d, target, lun, initiator=INITIATOR):
    return "driver=iscsi,transport=tcp,portal=%s,target=%s,lun=%d,initiator-name=%s" % (
        d.portal, target, lun, initiator)


def test_urls_printed_for_every_lun(daemon):
    want = {(TARGET0, 0), (TARGET0, 1), (TARGET0, 2), (TARGET1, 0)}
    got = {(t, l) for _, _, t, l in daemon.parsed}
    assert got == want
    assert {h for h, _, _, _ in daemon.parsed} == {"127.0.0.1"}
    assert len({p for _, p, _, _ in daemon.parsed}) == 1 and daemon.port != 0


def test_discovery_lists_targets_and_portal(daemon):
    support.require_tool("iscsi-ls")
    _, out, _ = run(daemon, ["iscsi-ls", "-i", INITIATOR, "iscsi://%s" % daemon.portal])
    found = re.findall(r"^Target:(\S+) Portal:([0-9.]+):(\d+),(\d+)\s*$", out, re.M)
    assert sorted(t for t, _, _, _ in found) == sorted([TARGET0, TARGET1]), out
    for _, host, port, _tpg in found:
        assert (host, int(port)) == ("127.0.0.1", daemon.port), out


def _size_bytes(s):
    m = re.match(r"([0-9.]+)([KMGT]?)", s)
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m.group(2)]
    return float(m.group(1)) * mult


def test_discovery_shows_every_lun(daemon):
    support.require_tool("iscsi-ls")
    _, out, _ = run(daemon, ["iscsi-ls", "-s", "-i", INITIATOR, "iscsi://%s" % daemon.portal])
    luns = {}
    current = None
    for line in out.splitlines():
        m = re.match(r"Target:(\S+) Portal:", line)
        if m:
            current = m.group(1)
            luns[current] = {}
            continue
        m = re.match(r"\s*Lun:(\d+)\s+Type:(\S+)(?:\s+\(Size:([^)]*)\))?", line)
        if m and current:
            luns[current][int(m.group(1))] = (m.group(2), m.group(3))
    assert set(luns) == {TARGET0, TARGET1}, out
    assert sorted(luns[TARGET0]) == [0, 1, 2], out
    assert sorted(luns[TARGET1]) == [0], out
    for t in luns.values():
        for typ, _ in t.values():
            assert typ == "DIRECT_ACCESS", out
    sizes = [_size_bytes(luns[TARGET0][i][1]) for i in (0, 1, 2)]
    # 64 MiB > 32 MiB > 16 MiB, each within one unit of the configured size
    assert sizes[0] > sizes[1] > sizes[2], out
    for got, want in zip(sizes, (64 << 20, 32 << 20, 16 << 20)):
        assert want - (1 << 20) <= got <= want, out  # iscsi-ls prints whole MiB of (last LBA * block size)


def _field(out, name):
    for line in out.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    raise AssertionError("%s not in output:\n%s" % (name, out))


def test_inquiry_standard_data(daemon):
    support.require_tool("iscsi-inq")
    for lun in (0, 1):
        _, out, _ = run(daemon, ["iscsi-inq", "-i", INITIATOR, daemon.url(TARGET0, lun)])
        assert _field(out, "Peripheral Qualifier") == "CONNECTED"
        assert _field(out, "Peripheral Device Type") == "DIRECT_ACCESS"
        assert _field(out, "Removable") == "0"
        assert _field(out, "Vendor").rstrip() == "SOFTHBA"
        assert _field(out, "Product").rstrip() == "TESTDISK-%d" % lun
        assert _field(out, "CmdQue") == "1"


def test_inquiry_vpd_pages(daemon):
    support.require_tool("iscsi-inq")
    url = daemon.url(TARGET0, 0)
    _, out, _ = run(daemon, ["iscsi-inq", "-i", INITIATOR, "-e", "1", "-c", "0", url])
    pages = {int(p, 16) for p in re.findall(r"^Page:0x([0-9a-f]{2})", out, re.M)}
    # SPC-4: 00h and 83h are mandatory; 80h carries the configured serial; a thin LU
    # describes itself in B0h (block limits) and B2h (logical block provisioning).
    assert {0x00, 0x80, 0x83, 0xB0, 0xB2} <= pages, out
    _, out, _ = run(daemon, ["iscsi-inq", "-i", INITIATOR, "-e", "1", "-c", str(0x80), url])
    m = re.search(r"Unit Serial Number:\[(.*)\]", out)
    assert m and m.group(1).strip() == "ram0-sn0000", out
    _, out, _ = run(daemon, ["iscsi-inq", "-i", INITIATOR, "-e", "1", "-c", str(0x83), url])
    assert "Association:(0) LOGICAL_UNIT" in out, out
    assert "Designator Type:(3) NAA" in out, out


def _designators(data):
    """(code_set, association, type, value) of each designation descriptor in VPD page 83h."""
    assert data[1] == 0x83
    n = struct.unpack_from(">H", data, 2)[0]
    pos, end, out = 4, 4 + n, []
    while pos + 4 <= end:
        dlen = data[pos + 3]
        out.append((data[pos] & 0x0F, (data[pos + 1] >> 4) & 3, data[pos + 1] & 0x0F, data[pos + 4:pos + 4 + dlen]))
        pos += 4 + dlen
    assert pos == end, "descriptors overrun the page length"
    return out


def test_vpd_identifiers_unique_per_lun(daemon):
    s = daemon.session(TARGET0)
    naa = {}
    for lun in (0, 1, 2):
        r = s.inquiry(lun=lun, evpd=1, page=0x80)
        assert r.status == iscsiraw.GOOD
        serial = r.data[4:4 + r.data[3]].decode().strip()
        assert serial == "ram%d-sn%04d" % (lun, lun)
        r = s.inquiry(lun=lun, evpd=1, page=0x83, alloc=1024)
        assert r.status == iscsiraw.GOOD
        ids = [d for d in _designators(r.data) if d[2] == 3 and d[1] == 0]
        assert ids, "no NAA designator for the logical unit %d" % lun
        naa[lun] = ids[0][3]
        assert naa[lun][0] >> 4 in (5, 6), "NAA type must be 5 or 6: %r" % naa[lun]
    assert len(set(naa.values())) == 3, naa
    s.logout()
    s.close()


def test_qemu_img_roundtrip_64mib(daemon, tmp_path):
    support.require_tool("qemu-img")
    src = tmp_path / "in.raw"
    src.write_bytes(os.urandom(64 << 20))
    run(daemon, ["qemu-img", "convert", "-n", "-f", "raw", "--target-image-opts", str(src),
                 image_opts(daemon, TARGET0, 0)], timeout=120)
    out = tmp_path / "out.raw"
    run(daemon, ["qemu-img", "convert", "-O", "raw", "--image-opts", image_opts(daemon, TARGET0, 0), str(out)],
        timeout=120)
    assert out.stat().st_size == 64 << 20
    assert out.read_bytes() == src.read_bytes(), "data read back differs from what qemu-img wrote"
    # the plain iscsi:// URL form works too
    out2 = tmp_path / "out2.raw"
    run(daemon, ["qemu-img", "convert", "-O", "raw", daemon.url(TARGET0, 0), str(out2)], timeout=120)
    assert out2.read_bytes() == src.read_bytes()


def test_read_only_lun_refuses_writes(daemon, tmp_path):
    support.require_tool("qemu-img")
    src = tmp_path / "in.raw"
    src.write_bytes(os.urandom(1 << 20))
    rc, out, err = run(daemon, ["qemu-img", "convert", "-n", "-f", "raw", "--target-image-opts", str(src),
                                image_opts(daemon, TARGET1, 0)], check=False)
    assert rc != 0, "qemu-img wrote to a read-only LUN\n%s%s" % (out, err)
    back = tmp_path / "back.raw"
    run(daemon, ["qemu-img", "convert", "-O", "raw", "--image-opts", image_opts(daemon, TARGET1, 0), str(back)])
    assert back.stat().st_size == 16 << 20
    assert back.read_bytes() == bytes(16 << 20), "read-only LUN content changed"

    # The SCSI answer itself: DATA PROTECT / WRITE PROTECTED, and WP set in the mode parameter header.
    s = daemon.session(TARGET1)
    r = s.write10(0, b"\xAA" * 4096)
    assert r.status == iscsiraw.CHECK_CONDITION, r
    assert r.sense_key == 0x7 and r.asc_ascq == (0x27, 0x00), r
    r = s.scsi(bytes([0x1A, 0, 0x3F, 0, 0xFF, 0]), read_len=255)  # MODE SENSE(6), all pages
    assert r.status == iscsiraw.GOOD, r
    assert r.data[2] & 0x80, "WP bit not set in the mode parameter header of a read-only LUN"
    assert s.read_blocks(0, 8) == bytes(4096)
    s.logout()
    s.close()


def test_two_clients_at_once(daemon, tmp_path):
    support.require_tool("qemu-img")
    a = tmp_path / "a.raw"
    b = tmp_path / "b.raw"
    a.write_bytes(os.urandom(16 << 20))
    b.write_bytes(os.urandom(16 << 20))
    procs = []
    for src, lun, ini in ((a, 1, INITIATOR + "-a"), (b, 2, INITIATOR + "-b")):
        procs.append(subprocess.Popen(["qemu-img", "convert", "-n", "-f", "raw", "--target-image-opts", str(src),
                                       image_opts(daemon, TARGET0, lun, ini)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for p in procs:
        try:
            _, err = p.communicate(timeout=daemon.t(120))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise AssertionError("concurrent qemu-img did not finish")
        assert p.returncode == 0, err.decode(errors="replace") + daemon.stderr_tail(30)
    for src, lun in ((a, 1), (b, 2)):
        out = tmp_path / ("back%d.raw" % lun)
        run(daemon, ["qemu-img", "convert", "-O", "raw", "--image-opts",
                     image_opts(daemon, TARGET0, lun, INITIATOR + "-r"), str(out)])
        assert out.read_bytes()[:16 << 20] == src.read_bytes()


def test_two_raw_sessions_see_each_others_writes(daemon):
    s1 = daemon.session(TARGET0, initiator=INITIATOR + "-1")
    s2 = daemon.session(TARGET0, initiator=INITIATOR + "-2")
    for i in range(8):
        data = support.pattern(100 + i * 16, 16, "s%d-%d" % (1 + i % 2, i))
        writer, reader = (s1, s2) if i % 2 == 0 else (s2, s1)
        r = writer.write10(100 + i * 16, data)
        assert r.status == iscsiraw.GOOD, r
        assert reader.read_blocks(100 + i * 16, 16) == data
    for s in (s1, s2):
        s.logout()
        s.close()

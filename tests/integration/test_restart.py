"""test_restart.py - data on a file-backed volume survives SIGTERM and a restart, also when SIGTERM lands under write load."""

import os
import subprocess
import threading
import time

import iscsiraw as ir
import support
from support import TARGET0, lun_entry

SIZE = 64 << 20
INI = "iqn.2026-11.org.softhba.test:restart"


def file_config(path, write_cache=True):
    vols = [{"name": "disk0", "backend": "file", "path": str(path), "size": "64MiB", "block_size": 512}]
    targets = [{"name": TARGET0, "luns": [lun_entry(0, "disk0", write_cache=write_cache)]}]
    return support.make_config(volumes=vols, targets=targets)


def qemu(d, args, timeout=120):
    p = subprocess.run(["qemu-img"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=d.t(timeout))
    assert p.returncode == 0, "qemu-img %s: %s\n%s" % (" ".join(args), p.stderr.decode(errors="replace"),
                                                       d.stderr_tail(30))


def opts(d):
    return "driver=iscsi,transport=tcp,portal=%s,target=%s,lun=0,initiator-name=%s" % (d.portal, TARGET0, INI)


def test_data_survives_restart(softhba, tmp_path):
    support.require_tool("qemu-img")
    img = tmp_path / "disk0.img"
    cfg = file_config(img)
    src = tmp_path / "in.raw"
    src.write_bytes(os.urandom(SIZE))

    d1 = softhba(cfg, name="first")
    qemu(d1, ["convert", "-n", "-f", "raw", "--target-image-opts", str(src), opts(d1)])
    d1.stop()
    # the file backend stores the volume as-is
    assert img.stat().st_size == SIZE
    assert img.read_bytes() == src.read_bytes(), "backing file differs from what was written"

    d2 = softhba(cfg, name="second")
    out = tmp_path / "out.raw"
    qemu(d2, ["convert", "-O", "raw", "--image-opts", opts(d2), str(out)])
    assert out.read_bytes() == src.read_bytes(), "data read after restart differs"
    d2.stop()


def _writer(d, stop, log, errors):
    """Sequential writes (one outstanding): even ones FUA, a SYNCHRONIZE CACHE after every 4th.
    log entries: (lba, data, state) with state 'inflight' -> 'acked' -> 'durable'."""
    try:
        s = d.session(initiator=INI + "-load")
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.append("login: %r" % e)
        return
    area = 2048  # blocks: 1 MiB, 64 regions of 16 blocks
    pending = []
    for i in range(200000):
        if stop.is_set():
            break
        lba = (i * 16) % area
        data = support.pattern(lba, 16, "gen%06d" % i)
        entry = [lba, data, "inflight"]
        log.append(entry)
        try:
            r = s.write10(lba, data, fua=(i % 2 == 0))
        except (ir.ISCSIError, OSError):
            break
        if r.status != ir.GOOD:
            errors.append("write %d: %r" % (i, r))
            break
        entry[2] = "durable" if i % 2 == 0 else "acked"
        pending.append(entry)
        if any(a.bhs[36] == 1 for a in s.async_events):  # target asks for a logout (RFC 7143 11.9.1)
            try:
                s.logout()
            except (ir.ISCSIError, OSError):
                pass
            break
        if i % 4 == 3:
            try:
                r = s.scsi(ir.sync_cache10_cdb())
            except (ir.ISCSIError, OSError):
                break
            if r.status != ir.GOOD:
                errors.append("sync %d: %r" % (i, r))
                break
            for e in pending:
                e[2] = "durable"
            pending = []
    s.close()


def test_sigterm_under_write_load(softhba, tmp_path):
    img = tmp_path / "disk0.img"
    cfg = file_config(img)
    d = softhba(cfg, name="loaded")
    stop = threading.Event()
    log, errors = [], []
    th = threading.Thread(target=_writer, args=(d, stop, log, errors), daemon=True)
    th.start()
    deadline = time.monotonic() + d.t(20)
    while time.monotonic() < deadline and sum(1 for e in log if e[2] == "durable") < 64:
        time.sleep(0.05)
    assert not errors, errors
    assert sum(1 for e in log if e[2] == "durable") >= 64, "write load too slow: %d writes" % len(log)
    d.stop()  # SIGTERM mid-load: must exit 0, sanitizer-clean
    stop.set()
    th.join(d.t(20))
    assert not th.is_alive(), "writer did not notice the shutdown"
    assert not errors, errors

    # For each 16-block region: the last write acknowledged durable (FUA or followed by a good
    # SYNCHRONIZE CACHE) must be there, unless a later write (acked or in flight) replaced it.
    disk = img.read_bytes()
    last = {}
    for idx, (lba, data, state) in enumerate(log):
        last.setdefault(lba, []).append((idx, data, state))
    checked = 0
    for lba, writes in last.items():
        got = disk[lba * 512:(lba + 16) * 512]
        durable = [w for w in writes if w[2] == "durable"]
        if not durable:
            continue
        base = durable[-1][0]
        allowed = [w[1] for w in writes if w[0] >= base]
        assert got in allowed, "region at LBA %d lost its flushed data" % lba
        checked += 1
        acked = [w for w in writes if w[2] in ("acked", "durable")]
        newest_acked = acked[-1]
        allowed_clean = [w[1] for w in writes if w[0] >= newest_acked[0]]
        assert got in allowed_clean, \
            "region at LBA %d: clean shutdown lost an acknowledged (not yet flushed) write" % lba
    assert checked >= 16

    # ... and the restarted daemon serves exactly the file's content
    d2 = softhba(cfg, name="after")
    s = d2.session(initiator=INI + "-check")
    assert s.read_blocks(0, 2048) == disk[:2048 * 512]
    s.logout()
    s.close()
    d2.stop()

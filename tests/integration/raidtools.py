"""raidtools.py - RAID volume configs, JSON-RPC calls and qemu-img data round trips for the RAID integration tests."""

import json
import os
import random
import socket
import subprocess
import time

import support
from support import TARGET0, lun_entry

INI = "iqn.2026-11.org.softhba.test:raid"


def member(tmp_path=None, name=None, size="16MiB", inject=True, backend="malloc"):
    """One member: a malloc device, or a sparse file under tmp_path; wrapped for fault injection."""
    m = {"backend": backend, "size": size}
    if backend == "file":
        m["path"] = str(tmp_path / name)
    if inject:
        m["inject"] = {}
    return m


def raid_config(tmp_path, level, members, spares=None, name="r", **raid_opts):
    vol = {"name": name, "backend": "raid", "level": level, "members": members}
    if spares:
        vol["spares"] = spares
    vol.update(raid_opts)
    cfg = support.make_config(volumes=[vol], targets=[{"name": TARGET0, "luns": [lun_entry(0, name)]}])
    cfg["control"] = {"socket": str(tmp_path / "ctl.sock")}
    return cfg


class RpcError(Exception):
    def __init__(self, err):
        super().__init__("%s (code %s)" % (err.get("message"), err.get("code")))
        self.code = err.get("code")
        self.message = err.get("message", "")


def rpc(d, method, params=None, timeout=20):
    """One JSON-RPC call over the daemon's control socket; returns the result or raises RpcError."""
    req = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        req["params"] = params
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(d.t(timeout))
    s.connect(d.config["control"]["socket"])
    try:
        s.sendall((json.dumps(req) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    ans = json.loads(data.decode())
    if "error" in ans:
        raise RpcError(ans["error"])
    return ans["result"]


def info(d, name="r"):
    return rpc(d, "raid.get", {"name": name})


def dev_by_role(inf, role):
    return inf["roles"][role]["device"]


def requests(inf, dev):
    """Requests the fault-injection wrapper of dev has seen."""
    return next(x for x in inf["devices"] if x["name"] == dev)["inject"]["requests"]


def wait_state(d, want, name="r", timeout=30.0, sync_idle=False):
    """Poll raid.get until the array state is want (and no job runs, with sync_idle)."""
    inf = None
    deadline = time.monotonic() + d.t(timeout)
    while time.monotonic() < deadline:
        inf = info(d, name)
        idle = not sync_idle or inf.get("sync", {}).get("kind", "none") == "none"
        if inf["state"] == want and idle:
            return inf
        time.sleep(0.05)
    raise AssertionError("array %s never became %s (sync idle: %s): %r" % (name, want, sync_idle, inf))


def opts(d):
    return "driver=iscsi,transport=tcp,portal=%s,target=%s,lun=0,initiator-name=%s" % (d.portal, TARGET0, INI)


def qemu(d, args, timeout=120, check=True):
    p = subprocess.run(["qemu-img"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=d.t(timeout))
    if check:
        assert p.returncode == 0, "qemu-img %s: %s\n%s" % (" ".join(args), p.stderr.decode(errors="replace"),
                                                           d.stderr_tail(30))
    return p


def make_pattern(path, size, seed):
    """Pseudo-random bytes (seeded, so a failure is reproducible)."""
    rnd = random.Random(seed)
    path.write_bytes(rnd.randbytes(size))
    return path


def write_volume(d, src, check=True, timeout=120):
    return qemu(d, ["convert", "-n", "-f", "raw", "--target-image-opts", str(src), opts(d)], check=check,
                timeout=timeout)


def read_volume(d, out, check=True, timeout=120):
    if out.exists():
        out.unlink()
    return qemu(d, ["convert", "-O", "raw", "--image-opts", opts(d), str(out)], check=check, timeout=timeout)


def verify(d, src, out, what):
    """Read the whole volume back and compare every byte with src."""
    read_volume(d, out)
    a = src.read_bytes()
    b = out.read_bytes()
    assert len(b) >= len(a), "%s: read %d bytes, wrote %d" % (what, len(b), len(a))
    if a != b[:len(a)]:
        first = next(i for i in range(len(a)) if a[i] != b[i])
        bad = sum(1 for i in range(0, len(a), 512) if a[i:i + 512] != b[i:i + 512])
        raise AssertionError("%s: data differs from byte %d (block %d); %d of %d blocks wrong\n%s"
                             % (what, first, first // 512, bad, len(a) // 512, d.stderr_tail(30)))


def volume_size(d, name="r"):
    return info(d, name)["size"]


def copy_file(src, dst):
    with open(src, "rb") as f, open(dst, "wb") as g:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            g.write(b)
        g.flush()
        os.fsync(g.fileno())

# targets.py - start and stop throw-away iSCSI targets (softhba and tgtd) on 127.0.0.1 for tests and benchmarks.
"""Throw-away iSCSI targets for the conformance comparison and the benchmark.

Both classes are context managers that expose the same attributes once
started: ``url`` (iscsi://127.0.0.1:PORT/IQN/LUN), ``pid`` (the daemon's
process id, for CPU accounting) and ``name``.  ``stop()`` returns a dict
that says whether the daemon shut down cleanly and carries any sanitizer
report found in its stderr.

LU flavours (``flags``): ``thin`` (logical block provisioning with UNMAP),
``removable`` (RMB=1, START STOP UNIT / PREVENT ALLOW apply),
``read_only`` (write protected).

SofthbaTarget: writes a JSON config (one RAM-backed malloc volume, one
target, LUN 0), runs ``softhba serve --config FILE`` on port 0 and reads the
``iscsi://`` line the daemon prints once it accepts connections.  Stopped
with SIGTERM; a clean stop is exit status 0 within the grace period.

TgtdTarget: runs ``tgtd -f`` on its own portal and control port (so a
system tgtd is never touched), with the LU backed by a file on /dev/shm
(tmpfs, i.e. RAM) through the ``rdwr`` backing store, exported as LUN 1
(tgtd reserves LUN 0 for its controller LU).  tgtd ignores SIGTERM, so it is
stopped through tgtadm: delete the LU, the target, then the system.
"""

import glob
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

HOST = "127.0.0.1"
TGTD_PORTS = range(3290, 3300)      # portal ports tried for tgtd
TGTD_CONTROL_PORTS = range(3390, 3400)
SANITIZER_RE = re.compile(
    r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"SUMMARY: UndefinedBehaviorSanitizer|SUMMARY: AddressSanitizer|"
    r"ERROR: ThreadSanitizer)")


class TargetError(RuntimeError):
    pass


def find_softhba(root):
    """$SOFTHBA, ROOT/build/src/cli/softhba, or the newest
    /tmp/build-*/src/cli/softhba; None when there is none."""
    env = os.environ.get("SOFTHBA")
    if env:
        return env
    cands = [os.path.join(root, "build", "src", "cli", "softhba")]
    cands += sorted(glob.glob("/tmp/build-*/src/cli/softhba"),
                    key=lambda p: -os.path.getmtime(p))
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    return None


def parse_size(s):
    """'128MiB' / '1G' / 4096 -> bytes."""
    if isinstance(s, int):
        return s
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(i?B)?\s*", str(s), re.I)
    if not m:
        raise ValueError("bad size %r" % s)
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(m.group(1)) * mult[m.group(2).upper()]


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _wait_tcp(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_cpu_seconds(pid):
    """utime+stime of a whole process (all threads) from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime/stime are fields 14/15.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def sanitizer_lines(text):
    return [line for line in text.splitlines() if SANITIZER_RE.search(line)]


class _Target:
    name = "?"

    def __init__(self):
        self.proc = None
        self.url = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def cpu_seconds(self):
        return proc_cpu_seconds(self.proc.pid)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _kill_group(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)


class SofthbaTarget(_Target):
    name = "softhba"

    def __init__(self, binary, workdir, size="128MiB", block_size=512,
                 flags=None, reactors=None, tag="t0", start_timeout=30,
                 stop_timeout=30, env=None):
        super().__init__()
        self.binary = binary
        self.workdir = workdir
        self.size = size
        self.block_size = block_size
        self.flags = dict(flags or {})
        self.reactors = reactors
        self.tag = tag
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.env = env
        self.config_path = os.path.join(workdir, "softhba-%s.json" % tag)
        self.stderr_path = os.path.join(workdir, "softhba-%s.stderr" % tag)
        self.stdout_lines = []
        self.iqn = "iqn.2026-11.org.softhba:%s" % tag

    def config(self):
        lun = {"lun": 0, "volume": "ram0",
               "thin": bool(self.flags.get("thin")),
               "removable": bool(self.flags.get("removable")),
               "read_only": bool(self.flags.get("read_only")),
               "write_cache": True,
               # a sanitize over the RAM LU takes seconds, as on a real medium (docs/scsi.md)
               "sanitize_rate": "16MiB"}
        cfg = {"log": {"level": "notice"},
               "volumes": [{"name": "ram0", "backend": "malloc",
                            "size": parse_size(self.size),
                            "block_size": self.block_size}],
               "iscsi": {"portals": ["%s:0" % HOST],
                         "targets": [{"name": self.iqn, "alias": self.tag,
                                      "luns": [lun]}]}}
        if self.reactors:
            cfg["reactors"] = self.reactors
        return cfg

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        with open(self.config_path, "w") as f:
            json.dump(self.config(), f, indent=2)
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", self.config_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr, start_new_session=True, env=self.env)
        found = threading.Event()

        def reader():
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                if line.startswith("iscsi://") and self.url is None:
                    self.url = line.strip()
                    found.set()
            found.set()

        self._reader = threading.Thread(target=reader, daemon=True)
        self._reader.start()
        found.wait(self.start_timeout)
        if self.url is None:
            rc = self.proc.poll()
            self._kill_group()
            err = self._read_stderr()
            raise TargetError(
                "softhba did not print an iscsi:// line within %d s "
                "(exit status %s); stderr: %s" %
                (self.start_timeout, rc, err.strip()[-2000:] or "(empty)"))
        return self

    def _read_stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, wait; returns {'clean', 'exit', 'sanitizer', 'stderr'}."""
        if self.proc is None:
            return {"clean": False, "exit": None, "sanitizer": [], "stderr": ""}
        info = {"clean": True, "exit": None, "problems": []}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                info["clean"] = False
                info["problems"].append(
                    "did not exit within %d s of SIGTERM; killed" %
                    self.stop_timeout)
                self._kill_group()
        else:
            info["clean"] = False
            info["problems"].append(
                "had already exited (status %s) before SIGTERM" %
                self.proc.returncode)
        info["exit"] = self.proc.returncode
        if info["exit"] != 0 and info["clean"]:
            info["clean"] = False
            info["problems"].append("exit status %s after SIGTERM" %
                                    info["exit"])
        self._reader.join(timeout=5)
        self._stderr.close()
        text = self._read_stderr()
        info["stderr"] = text
        info["sanitizer"] = sanitizer_lines(text)
        if info["sanitizer"]:
            info["clean"] = False
            info["problems"].append("sanitizer report in stderr (%s)" %
                                    self.stderr_path)
        self.proc = None
        return info


class TgtdTarget(_Target):
    name = "tgtd"

    def __init__(self, workdir, size="128MiB", block_size=512, flags=None,
                 tag="t0", tgtd="tgtd", tgtadm="tgtadm", start_timeout=15,
                 stop_timeout=15, shm_dir="/dev/shm"):
        super().__init__()
        self.workdir = workdir
        self.size = size
        self.block_size = block_size
        self.flags = dict(flags or {})
        self.tag = tag
        self.tgtd = tgtd
        self.tgtadm_bin = tgtadm
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.iqn = "iqn.2026-11.org.softhba.peer:%s" % tag
        self.backing = os.path.join(shm_dir, "softhba-tgtd-%d-%s.img" %
                                    (os.getpid(), tag))
        self.log_path = os.path.join(workdir, "tgtd-%s.log" % tag)
        self.port = None
        self.control_port = None

    def tgtadm(self, *args, check=True):
        cmd = [self.tgtadm_bin, "-C", str(self.control_port), "--lld",
               "iscsi"] + [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if check and p.returncode != 0:
            raise TargetError("%s failed (%d): %s" % (" ".join(cmd),
                                                      p.returncode,
                                                      p.stderr.strip()))
        return p

    def _pick_ports(self):
        port = next((p for p in TGTD_PORTS if _port_free(p)), None)
        ctl = None
        for c in TGTD_CONTROL_PORTS:
            path = "/var/run/tgtd/socket.%d" % c
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
            except OSError:
                ctl = c
                break
            finally:
                s.close()
        if port is None or ctl is None:
            raise TargetError("no free tgtd portal port in %s or control "
                              "port in %s" % (TGTD_PORTS, TGTD_CONTROL_PORTS))
        return port, ctl

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        size = parse_size(self.size)
        with open(self.backing, "wb") as f:
            f.truncate(size)
        self.port, self.control_port = self._pick_ports()
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.tgtd, "-f", "--iscsi", "portal=%s:%d" % (HOST, self.port),
             "--control-port", str(self.control_port)],
            stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise TargetError("tgtd exited with %s; see %s" %
                                  (self.proc.returncode, self.log_path))
            if self.tgtadm("--op", "show", "--mode", "target",
                           check=False).returncode == 0:
                break
            if time.monotonic() > deadline:
                self._kill_group()
                raise TargetError("tgtd control port %d not ready" %
                                  self.control_port)
            time.sleep(0.05)
        try:
            self.tgtadm("--op", "new", "--mode", "target", "--tid", 1,
                        "-T", self.iqn)
            self.tgtadm("--op", "new", "--mode", "logicalunit", "--tid", 1,
                        "--lun", 1, "-b", self.backing, "--bstype", "rdwr",
                        "--blocksize", self.block_size)
            params = []
            if self.flags.get("thin"):
                params.append("thin_provisioning=1")
            if self.flags.get("removable"):
                params.append("removable=1")
            if self.flags.get("read_only"):
                params.append("readonly=1")
            if params:
                self.tgtadm("--op", "update", "--mode", "logicalunit",
                            "--tid", 1, "--lun", 1, "--params",
                            ",".join(params))
            self.tgtadm("--op", "bind", "--mode", "target", "--tid", 1,
                        "-I", "ALL")
            if not _wait_tcp(self.port, deadline):
                raise TargetError("tgtd portal %d not accepting" % self.port)
        except Exception:
            self.stop()
            raise
        self.url = "iscsi://%s:%d/%s/1" % (HOST, self.port, self.iqn)
        return self

    def stop(self):
        if self.proc is None:
            return {"clean": False, "exit": None, "sanitizer": [],
                    "problems": []}
        info = {"clean": True, "problems": [], "sanitizer": []}
        if self.proc.poll() is None:
            self.tgtadm("--op", "delete", "--mode", "logicalunit", "--tid", 1,
                        "--lun", 1, check=False)
            self.tgtadm("--op", "delete", "--force", "--mode", "target",
                        "--tid", 1, check=False)
            self.tgtadm("--op", "delete", "--mode", "system", check=False)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                info["clean"] = False
                info["problems"].append("tgtd ignored 'delete system'; killed")
                self._kill_group()
        info["exit"] = self.proc.returncode
        self._log.close()
        try:
            os.unlink(self.backing)
        except OSError:
            pass
        self.proc = None
        return info

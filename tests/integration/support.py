"""support.py - start/stop a real softhba daemon for the integration tests, build configs, data patterns."""

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import iscsiraw

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "WARNING: ThreadSanitizer")
URL_RE = re.compile(r"^iscsi://(?P<host>[^/\s]+):(?P<port>\d+)/(?P<target>[^/\s]+)/(?P<lun>\d+)\s*$")


def find_binary():
    """SOFTHBA_BIN, else the first build output found under the repository."""
    env = os.environ.get("SOFTHBA_BIN")
    if env:
        return Path(env)
    for cand in (REPO / "build" / "src" / "cli" / "softhba",):
        if cand.exists():
            return cand
    return REPO / "build" / "src" / "cli" / "softhba"


_scale_cache = {}


def timeout_scale(binary):
    """Multiplier for every wait: SOFTHBA_TIMEOUT_SCALE, else 3 for sanitizer builds
    (SOFTHBA_BUILD_MODE=asan, or ASan/UBSan symbols in the binary), else 1."""
    env = os.environ.get("SOFTHBA_TIMEOUT_SCALE")
    if env:
        return float(env)
    if os.environ.get("SOFTHBA_BUILD_MODE", "") == "asan":
        return 3.0
    key = str(binary)
    if key not in _scale_cache:
        scale = 1.0
        try:
            with open(binary, "rb") as f:
                blob = f.read(64 << 20)
            if b"__asan_init" in blob or b"__ubsan_handle" in blob or b"libasan.so" in blob:
                scale = 3.0
        except OSError:
            pass
        _scale_cache[key] = scale
    return _scale_cache[key]


# ---------------------------------------------------------------- configs

TARGET0 = "iqn.2026-11.org.softhba:test0"
TARGET1 = "iqn.2026-11.org.softhba:test1"


def lun_entry(lun, volume, **kw):
    e = {"lun": lun, "volume": volume, "vendor": "SOFTHBA", "product": "TESTDISK-%d" % lun,
         "serial": "%s-sn%04d" % (volume, lun)}
    e.update(kw)
    return e


def make_config(volumes=None, targets=None, **iscsi_opts):
    """A complete config: one 64 MiB malloc volume behind TARGET0 LUN 0 unless told otherwise.
    iscsi_opts go to the "iscsi" section (stall_timeout=2, max_recv_data_segment_length=8192, ...)."""
    if volumes is None:
        volumes = [{"name": "ram0", "backend": "malloc", "size": "64MiB", "block_size": 512}]
    if targets is None:
        targets = [{"name": TARGET0, "alias": "test0", "luns": [lun_entry(0, volumes[0]["name"])]}]
    iscsi = {"portals": ["%s:0" % HOST], "targets": targets}
    iscsi.update(iscsi_opts)
    return {"reactors": 2, "log": {"level": "notice"}, "volumes": volumes, "iscsi": iscsi}


def expected_urls(config):
    return sum(len(t.get("luns", [])) for t in config.get("iscsi", {}).get("targets", []))


# ---------------------------------------------------------------- daemon

class DaemonError(AssertionError):
    pass


class Daemon:
    """One `softhba serve --config FILE` process."""

    def __init__(self, binary, config, workdir, name="softhba"):
        self.binary = Path(binary)
        self.config = copy.deepcopy(config)
        self.workdir = Path(workdir)
        self.name = name
        self.scale = timeout_scale(self.binary)
        self.proc = None
        self.urls = []
        self.parsed = []
        self.stdout_lines = []
        self.returncode = None
        self.checked = False
        self._lock = threading.Lock()
        self.config_path = self.workdir / ("%s.json" % name)
        self.stderr_path = self.workdir / ("%s.stderr" % name)

    # ---- lifecycle

    def start(self, wait=20.0):
        if not self.binary.exists():
            raise DaemonError("softhba binary not found at %s: build it (ninja -C build src/cli/softhba) "
                              "or set SOFTHBA_BIN" % self.binary)
        self.config_path.write_text(json.dumps(self.config, indent=2))
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self._stderr_file = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([str(self.binary), "serve", "--config", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr_file,
                                     env=env, cwd=str(self.workdir))
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        want = expected_urls(self.config)
        deadline = time.monotonic() + wait * self.scale
        while time.monotonic() < deadline:
            with self._lock:
                n = len(self.urls)
            if n >= want and want > 0:
                break
            if self.proc.poll() is not None:
                self._reader.join(2)
                self.checked = True
                raise DaemonError("softhba exited with %s before printing its URLs\n%s"
                                  % (self.proc.returncode, self.stderr_tail()))
            time.sleep(0.02)
        else:
            self.kill()
            self.checked = True
            raise DaemonError("softhba printed %d of %d iscsi:// lines within %.0f s\nstdout: %r\n%s"
                              % (len(self.urls), want, wait * self.scale, self.stdout_lines, self.stderr_tail()))
        return self

    def _read_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.stdout_lines.append(line)
                m = URL_RE.match(line.strip())
                if m:
                    self.urls.append(line.strip())
                    self.parsed.append((m["host"], int(m["port"]), m["target"], int(m["lun"])))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30.0):
        """SIGTERM, wait (bounded), then check exit code 0 and a sanitizer-clean stderr."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * self.scale)
            except subprocess.TimeoutExpired:
                self.kill()
                self.checked = True
                raise DaemonError("softhba did not exit within %.0f s of SIGTERM\n%s"
                                  % (timeout * self.scale, self.stderr_tail()))
        self.returncode = self.proc.returncode
        self._close_files()
        self.checked = True
        self.check_exit()
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._close_files()

    def _close_files(self):
        if getattr(self, "_reader", None) is not None:
            self._reader.join(5)
        f = getattr(self, "_stderr_file", None)
        if f is not None and not f.closed:
            f.close()

    def check_exit(self):
        errs = []
        if self.returncode != 0:
            errs.append("softhba exited with %r (expected 0 after SIGTERM)" % self.returncode)
        text = self.stderr_text()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                errs.append("sanitizer report in stderr (%r)" % marker)
                break
        if errs:
            raise DaemonError("; ".join(errs) + "\n" + self.stderr_tail())

    # ---- inspection

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, lines=60):
        t = self.stderr_text().splitlines()
        return "---- softhba stderr (last %d of %d lines) ----\n%s" % (min(lines, len(t)), len(t),
                                                                     "\n".join(t[-lines:]))

    @property
    def pid(self):
        return self.proc.pid

    @property
    def host(self):
        return self.parsed[0][0]

    @property
    def port(self):
        return self.parsed[0][1]

    @property
    def portal(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def targets(self):
        seen = []
        for _, _, t, _ in self.parsed:
            if t not in seen:
                seen.append(t)
        return seen

    @property
    def target(self):
        return self.parsed[0][2]

    def url(self, target=None, lun=0):
        target = target or self.target
        for u, (_, _, t, l) in zip(self.urls, self.parsed):
            if t == target and l == lun:
                return u
        raise KeyError("no url for %s lun %d in %r" % (target, lun, self.urls))

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def t(self, seconds):
        """A timeout scaled for slow (sanitizer) builds."""
        return seconds * self.scale

    # ---- clients

    def session(self, target=None, login=True, ready=True, **kw):
        """A logged-in raw session (unit attentions cleared when ready)."""
        kw.setdefault("timeout", self.t(10))
        login_kw = {k: kw.pop(k) for k in ("keys", "header_digest", "data_digest") if k in kw}
        s = iscsiraw.Session(self.host, self.port, target=target or self.target, **kw)
        if login:
            s.login(**login_kw)
            if ready:
                clear_unit_attention(s)
        return s


def require_tool(name):
    import pytest
    if shutil.which(name) is None:
        pytest.skip("%s not installed" % name)


def clear_unit_attention(s, lun=0):
    """TEST UNIT READY until GOOD (bounded): a fresh nexus first sees a power-on unit attention."""
    r = None
    for _ in range(8):
        r = s.scsi(iscsiraw.tur_cdb(), lun=lun)
        if r.status == iscsiraw.GOOD:
            return
        if r.sense_key != 0x6:
            break
    raise AssertionError("TEST UNIT READY never became GOOD: %r" % r)


# ---------------------------------------------------------------- data

def pattern(lba, nblocks, tag, block_size=512):
    """Recognisable data: every block names its LBA and a tag."""
    out = bytearray()
    for i in range(lba, lba + nblocks):
        head = ("<%s lba=%08d>" % (tag, i)).encode()
        blk = (head * (block_size // len(head) + 1))[:block_size]
        out += blk
    return bytes(out)


def wait_until(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(step)

"""test_log.py - `softhba log` end to end: the daemon's log read back through log.read, filtered, followed, gaps counted."""

import json
import os
import re
import signal
import socket
import subprocess
import time

import support

LINE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERR  |WARN |NOTICE|INFO |DEBUG) [a-z]+ (r\d+|t)( \S+)?: ")


READY_RE = re.compile(r"softhba \S+ ready: ")


def is_ready(line):
    return READY_RE.match(line["text"]) is not None


def ctl_config(tmp_path, **kw):
    cfg = support.make_config(**kw)
    cfg["control"] = {"socket": str(tmp_path / "ctl.sock")}
    return cfg


def cli(binary, sock, *args, timeout=30):
    env = dict(os.environ)
    env.pop("SOFTHBA_SOCKET", None)
    p = subprocess.run([str(binary), "--socket", str(sock)] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def log_json(binary, sock, *args):
    rc, out, err = cli(binary, sock, "log", "--json", *args)
    assert rc == 0, err
    return json.loads(out)


def wait_for_line(binary, sock, pred, timeout, *args):
    """log --json until a line satisfies pred (the writer thread hands lines over within ~50 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        res = log_json(binary, sock, *args)
        hits = [l for l in res["lines"] if pred(l)]
        if hits or time.monotonic() > deadline:
            return res, hits
        time.sleep(0.05)


def notify_batch(sock, requests, timeout=30):
    """One batch of notifications (no answers), then wait for the daemon to close."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(sock))
    try:
        s.sendall(json.dumps(requests).encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    finally:
        s.close()


def test_ready_line_tagged_core_and_component_filter(softhba, softhba_bin, tmp_path):
    d = softhba(ctl_config(tmp_path))
    sock = tmp_path / "ctl.sock"

    res, ready = wait_for_line(softhba_bin, sock, is_ready, d.t(5))
    assert len(ready) == 1, res
    r = ready[0]
    assert r["component"] == "core" and r["level"] == "notice", r
    assert r["context"] is None and isinstance(r["reactor"], int), r
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r["time"]), r
    seqs = [l["seq"] for l in res["lines"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert res["first_seq"] <= seqs[0] and res["last_seq"] >= seqs[-1]
    assert res["missed"] == 0 and res["cursor"] == res["last_seq"] and res["more"] is False

    # The text form is the daemon's own line, as it went to stderr.
    rc, out, err = cli(softhba_bin, sock, "log")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines and all(LINE_RE.match(l) for l in lines), out
    ready_text = [l for l in lines if READY_RE.search(l)]
    assert len(ready_text) == 1 and " NOTICE core r" in ready_text[0], out
    assert ready_text[0] in d.stderr_text().splitlines(), (ready_text[0], d.stderr_tail())

    # A mgmt line, then a component filter that keeps only it (and its kind).
    rc, out, err = cli(softhba_bin, sock, "log-level", "scsi", "info")
    assert rc == 0, err
    res, hits = wait_for_line(softhba_bin, sock, lambda l: "log level of scsi" in l["text"], d.t(5),
                              "--component", "mgmt")
    assert hits, res
    assert res["lines"] and all(l["component"] == "mgmt" for l in res["lines"]), res
    assert not any(is_ready(l) for l in res["lines"])
    two = log_json(softhba_bin, sock, "--component", "mgmt", "--component", "core")
    assert {l["component"] for l in two["lines"]} == {"mgmt", "core"}, two
    warn = log_json(softhba_bin, sock, "--level", "warn")
    assert all(l["level"] in ("error", "warn") for l in warn["lines"]), warn
    last2 = log_json(softhba_bin, sock, "-n", "2")
    assert len(last2["lines"]) == 2 and last2["lines"][-1]["seq"] == last2["last_seq"], last2

    # The counters behind "never silently" are in daemon.status.
    rc, out, err = cli(softhba_bin, sock, "--json", "status")
    assert rc == 0, err
    assert {"written", "dropped", "squashed"} <= set(json.loads(out)["log"])


def test_context_filter_finds_the_session(softhba, softhba_bin, tmp_path):
    cfg = ctl_config(tmp_path)
    cfg["log"] = {"level": "notice", "components": {"iscsi": "info"}}  # logins are logged at INFO
    d = softhba(cfg)
    sock = tmp_path / "ctl.sock"
    s = d.session()
    try:
        res, hits = wait_for_line(softhba_bin, sock, lambda l: "normal session" in l["text"], d.t(5),
                                  "--context", "sess=")
        assert hits, res
        assert all("sess=" in (l["context"] or "") for l in res["lines"]), res
        assert hits[0]["component"] == "iscsi"
        assert s.initiator in hits[0]["context"], hits[0]
        none = log_json(softhba_bin, sock, "--context", "sess=no-such-initiator")
        assert none["lines"] == [] and none["missed"] == 0, none
    finally:
        s.close()


def test_follow_accounts_for_every_line(softhba, softhba_bin, tmp_path):
    d = softhba(ctl_config(tmp_path))
    sock = tmp_path / "ctl.sock"
    env = dict(os.environ)
    env.pop("SOFTHBA_SOCKET", None)
    wait_for_line(softhba_bin, sock, is_ready, d.t(5))
    start = log_json(softhba_bin, sock, "-n", "1")["last_seq"]  # the daemon is idle: nothing logs meanwhile
    out_path, text_path = tmp_path / "follow.json", tmp_path / "follow.txt"
    followers = []
    for path, extra in ((out_path, ["--json"]), (text_path, [])):
        with open(path, "w") as out:
            followers.append(subprocess.Popen([str(softhba_bin), "--socket", str(sock), "log", "--follow", "-n", "1"]
                                              + extra, stdout=out, stderr=subprocess.PIPE, text=True, env=env))
    try:
        time.sleep(d.t(0.8))
        # A flood: far more lines than the history holds (4096), in a few bursts.
        for burst in range(3):
            reqs = [{"jsonrpc": "2.0", "method": "log.level.set",
                     "params": {"component": ("iscsi", "scsi", "blk")[i % 3], "level": "notice"}}
                    for i in range(4000)]
            notify_batch(sock, reqs)
        # Wait until the daemon's numbering stops moving, then until the follower caught up.
        last, stable_since = -1, time.monotonic()
        deadline = time.monotonic() + d.t(20)
        while time.monotonic() < deadline:
            now = log_json(softhba_bin, sock, "-n", "1")["last_seq"]
            if now != last:
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since > 0.6:
                break
            time.sleep(0.1)

        def follower_seq():
            top = 0
            for line in out_path.read_text().splitlines():
                o = json.loads(line)
                top = max(top, o.get("seq", 0))
            return top
        assert support.wait_until(lambda: follower_seq() >= last, d.t(10)), (follower_seq(), last)
        # The text follower has no numbers: its lines stop growing once it caught up.
        size = -1
        while time.monotonic() < deadline and text_path.stat().st_size != size:
            size = text_path.stat().st_size
            time.sleep(d.t(1.2))
    finally:
        rcs = []
        for f in followers:
            f.send_signal(signal.SIGINT)
        for f in followers:
            try:
                rcs.append(f.wait(d.t(10)))
            except subprocess.TimeoutExpired:
                f.kill()
                raise
    for f, rc in zip(followers, rcs):
        assert rc == 0, f.stderr.read()

    # Every number after the first line printed is either printed or reported missed, in order.
    objs = [json.loads(l) for l in out_path.read_text().splitlines()]
    assert objs and objs[0].get("seq") == start, objs[:3]
    expect = objs[0]["seq"] + 1
    printed = missed = 0
    for o in objs[1:]:
        if "missed" in o:
            assert o["missed"] > 0
            expect += o["missed"]
            missed += o["missed"]
        else:
            assert o["seq"] == expect, (o, expect)
            expect += 1
            printed += 1
    assert expect == last + 1
    assert printed > 0
    # 12000 lines went in while the follower polls every 0.5 s: unless the
    # rings dropped most of them (reported by "lines dropped" lines), the
    # history overflowed between two polls and the gap was reported.
    texts = [o.get("text", "") for o in objs]
    assert missed > 0 or any("lines dropped" in t for t in texts), (printed, missed)
    print("follow: %d printed, %d missed, %d dropped reports" % (printed, missed,
                                                                 sum("lines dropped" in t for t in texts)))

    # The text form: the daemon's lines, and a marker line for each gap; together they account for every number.
    marker = re.compile(r"^\.\.\. (\d+) lines? missed: they left the daemon's log history before they could be read \.\.\.$")
    tlines = text_path.read_text().splitlines()
    t_printed = t_missed = 0
    for l in tlines:
        m = marker.match(l)
        if m:
            t_missed += int(m.group(1))
        else:
            assert LINE_RE.match(l), l
            t_printed += 1
    assert t_printed - 1 + t_missed == last - start, (t_printed, t_missed, start, last)


def test_follow_survives_a_restart(softhba, softhba_bin, tmp_path):
    cfg = ctl_config(tmp_path)
    first = softhba(cfg, name="first")
    sock = tmp_path / "ctl.sock"
    wait_for_line(softhba_bin, sock, is_ready, first.t(5))
    env = dict(os.environ)
    env.pop("SOFTHBA_SOCKET", None)
    out_path = tmp_path / "follow.txt"
    with open(out_path, "w") as out:
        f = subprocess.Popen([str(softhba_bin), "--socket", str(sock), "log", "--follow", "-n", "1"], stdout=out,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(first.t(0.8))
        first.stop()
        time.sleep(first.t(1.2))  # the follower notices the daemon is gone
        second = softhba(cfg, name="second")

        def restarted():
            text = out_path.read_text()
            cut = text.find("... the daemon restarted")
            return cut >= 0 and READY_RE.search(text[cut:]) is not None
        assert support.wait_until(restarted, second.t(10)), out_path.read_text()
    finally:
        f.send_signal(signal.SIGINT)
        try:
            rc = f.wait(first.t(10))
        except subprocess.TimeoutExpired:
            f.kill()
            raise
    err = f.stderr.read()
    assert rc == 0, err
    assert "is gone" in err and "waiting for it" in err and "answers again" in err, err
    lines = out_path.read_text().splitlines()
    assert lines[0].endswith("ready: 1 volume(s), 1 target(s), 2 reactor(s)"), lines
    mark = [i for i, l in enumerate(lines) if l.startswith("... the daemon restarted")]
    assert len(mark) == 1, lines
    after = lines[mark[0] + 1:]
    assert all(LINE_RE.match(l) for l in after), after
    # The new daemon's log from its first line: its ready line is in it, once.
    assert len([l for l in after if READY_RE.search(l)]) == 1, after
    assert [l for l in after if l in second.stderr_text().splitlines()] == after


def test_bad_command_lines_and_no_daemon(softhba, softhba_bin, tmp_path):
    rc, out, err = cli(softhba_bin, tmp_path / "nobody.sock", "log")
    assert rc == 1 and "cannot connect" in err and "nobody.sock" in err, err

    softhba(ctl_config(tmp_path))
    sock = tmp_path / "ctl.sock"
    rc, out, err = cli(softhba_bin, sock, "log", "-n", "0")
    assert rc == 2 and "-n wants a number of lines from 1 to 4096" in err, err
    rc, out, err = cli(softhba_bin, sock, "log", "--level", "loud")
    assert rc == 2 and "--level wants error, warn, notice, info or debug" in err, err
    rc, out, err = cli(softhba_bin, sock, "log", "--compnent", "iscsi")
    assert rc == 2 and "did you mean '--component'" in err, err
    rc, out, err = cli(softhba_bin, sock, "log", "--component", "iscs")
    assert rc == 1 and 'did you mean "iscsi"' in err, err
    rc, out, err = cli(softhba_bin, sock, "log", "extra")
    assert rc == 2 and "unexpected argument 'extra'" in err, err
    p = subprocess.run([str(softhba_bin), "help", "log"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "--follow" in p.stdout, p.stdout

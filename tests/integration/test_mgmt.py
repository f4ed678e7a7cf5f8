"""test_mgmt.py - the management API end to end: `softhba serve` with a control socket, driven by the softhba CLI and raw JSON-RPC."""

import json
import os
import socket
import stat
import subprocess

import pytest

import support


def ctl_config(tmp_path, **kw):
    cfg = support.make_config(**kw)
    cfg["control"] = {"socket": str(tmp_path / "ctl.sock")}
    return cfg


def cli(binary, sock, *args, timeout=30):
    """Run the softhba client; returns (exit status, stdout, stderr)."""
    env = dict(os.environ)
    env.pop("SOFTHBA_SOCKET", None)
    p = subprocess.run([str(binary), "--socket", str(sock)] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def raw(sock, payload, timeout=10):
    """Send bytes, shut down writing, read every answer line."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(sock))
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def test_status_volume_list_and_socket_mode(softhba, softhba_bin, tmp_path):
    d = softhba(ctl_config(tmp_path))
    sock = tmp_path / "ctl.sock"
    st = os.lstat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)

    rc, out, err = cli(softhba_bin, sock, "status")
    assert rc == 0, err
    assert "running" in out and ("pid %d" % d.pid) in out, out
    assert d.portal in out, out

    rc, out, err = cli(softhba_bin, sock, "volume", "list", "--json")
    assert rc == 0, err
    vols = json.loads(out)
    assert [v["name"] for v in vols] == ["ram0"]
    assert vols[0]["backend"] == "malloc"
    assert vols[0]["size"] == 64 << 20
    assert vols[0]["block_size"] == 512
    assert vols[0]["state"] == "online"

    rc, out, err = cli(softhba_bin, sock, "volume", "list")
    assert rc == 0 and "ram0" in out and "64.0 MiB" in out, out

    rc, out, err = cli(softhba_bin, sock, "target", "list", "--json")
    assert rc == 0, err
    targets = json.loads(out)
    assert targets[0]["name"] == support.TARGET0
    assert targets[0]["luns"][0]["volume"] == "ram0"
    assert targets[0]["portals"] == [d.portal]

    rc, out, err = cli(softhba_bin, sock, "--json", "status")
    assert rc == 0, err
    status = json.loads(out)
    assert status["pid"] == d.pid and status["control_socket"] == str(sock)
    assert {"written", "dropped", "squashed"} <= set(status["log"])

    d.stop()
    assert not sock.exists(), "the control socket must be removed at shutdown"


def test_bad_method_and_bad_params(softhba, softhba_bin, tmp_path):
    softhba(ctl_config(tmp_path))
    sock = tmp_path / "ctl.sock"

    rc, out, err = cli(softhba_bin, sock, "rpc", "volume.lst")
    assert rc == 1
    assert 'did you mean "volume.list"' in err, err

    rc, out, err = cli(softhba_bin, sock, "log-level", "iscsi", "loud")
    assert rc == 1
    assert "unknown level" in err and "error, warn, notice, info or debug" in err, err

    rc, out, err = cli(softhba_bin, sock, "rpc", "log.level.set", '{"component": 1, "level": "info"}')
    assert rc == 1
    assert 'parameter "component"' in err and "must be a string" in err, err

    rc, out, err = cli(softhba_bin, sock, "rpc", "log.level.set", '{"component": "iscsi", "levl": "info"}')
    assert rc == 1
    assert 'did you mean "level"' in err, err

    rc, out, err = cli(softhba_bin, sock, "log-level", "iscsi", "debug")
    assert rc == 0, err
    assert "iscsi" in out and "debug" in out, out
    rc, out, err = cli(softhba_bin, sock, "--json", "log-level")
    assert rc == 0 and json.loads(out)["iscsi"] == "debug", out


def test_raw_protocol(softhba, tmp_path):
    softhba(ctl_config(tmp_path))
    sock = tmp_path / "ctl.sock"

    answers = raw(sock, b'[{"jsonrpc":"2.0","method":"version","id":1},'
                        b'{"jsonrpc":"2.0","method":"daemon.status"},'
                        b'{"jsonrpc":"2.0","method":"volume.list","params":{"x":1},"id":3}]\n'
                        b'not json\n'
                        b'{"jsonrpc":"2.0","method":"rpc.describe","params":{"method":"log.level.set"},"id":4}')
    assert len(answers) == 3
    batch, parse_err, desc = answers
    assert [a["id"] for a in batch] == [1, 3]
    assert batch[0]["result"]["version"]
    assert batch[1]["error"]["code"] == -32602
    assert parse_err["error"]["code"] == -32700 and parse_err["id"] is None
    assert [p["name"] for p in desc["result"]["params"]] == ["component", "level"]

    big = b'{"jsonrpc":"2.0","method":"version","id":1,"pad":"' + b"x" * (1 << 20) + b'"}\n'
    answers = raw(sock, big)
    assert len(answers) == 1
    assert answers[0]["error"]["code"] == -32600
    assert "request too large" in answers[0]["error"]["message"]


def test_cannot_connect_says_where(softhba_bin, tmp_path):
    sock = tmp_path / "nobody.sock"
    rc, out, err = cli(softhba_bin, sock, "status")
    assert rc == 1
    assert str(sock) in err and "may not be running" in err and "--socket" in err, err


def test_live_socket_refused_stale_replaced(softhba, softhba_bin, tmp_path):
    first = softhba(ctl_config(tmp_path), name="first")
    with pytest.raises(support.DaemonError) as e:
        softhba(ctl_config(tmp_path), name="second")
    assert "another daemon is listening on it" in str(e.value)
    assert first.alive()
    rc, out, err = cli(softhba_bin, tmp_path / "ctl.sock", "status")
    assert rc == 0 and ("pid %d" % first.pid) in out, err

    # a daemon killed with -9 leaves its socket behind; the next one replaces it
    first.kill()
    first.checked = True
    assert (tmp_path / "ctl.sock").exists()
    third = softhba(ctl_config(tmp_path), name="third")
    rc, out, err = cli(softhba_bin, tmp_path / "ctl.sock", "status")
    assert rc == 0 and ("pid %d" % third.pid) in out, err


def test_session_list_shows_a_logged_in_session(softhba, softhba_bin, tmp_path):
    d = softhba(ctl_config(tmp_path))
    sock = tmp_path / "ctl.sock"
    rc, out, err = cli(softhba_bin, sock, "session", "list", "--json")
    assert rc == 0 and json.loads(out) == [], out
    s = d.session()
    try:
        rc, out, err = cli(softhba_bin, sock, "session", "list", "--json")
        assert rc == 0, err
        sessions = json.loads(out)
        assert len(sessions) == 1, sessions
        assert sessions[0]["target"] == support.TARGET0
        assert sessions[0]["initiator"] == s.initiator
        assert sessions[0]["isid"] == s.isid.hex()
        assert sessions[0]["type"] == "normal"
        rc, out, err = cli(softhba_bin, sock, "session", "list")
        assert rc == 0 and s.initiator in out, out
    finally:
        s.close()

"""test_shutdown_busy.py - SIGTERM while a SANITIZE runs in the background: the daemon stops it, then exits 0 in time."""

import time

import pytest

import iscsiraw as ir
import support

INI = "iqn.2024-01.org.softhba.test:shutdown"
SIZE = 128 << 20  # paced at 16 MiB/s (the LUN's sanitize_rate) a SANITIZE OVERWRITE of it takes 8 s


def sanitize_cdb(immed):
    cdb = bytearray(10)
    cdb[0] = 0x48
    cdb[1] = (0x80 if immed else 0) | 0x01  # OVERWRITE
    cdb[8] = 5                              # parameter list: 4-byte header + 1-byte pattern
    return bytes(cdb)


PATTERN = bytes([0x01, 0x00, 0x00, 0x01, 0x5A])


def start(softhba):
    vol = {"name": "ram0", "backend": "malloc", "size": SIZE, "block_size": 512}
    target = {"name": support.TARGET0, "alias": "busy",
              "luns": [support.lun_entry(0, "ram0", sanitize_rate="16MiB")]}
    return softhba(support.make_config(volumes=[vol], targets=[target]))


def login(d, scale):
    s = ir.Session(d.host, d.port, target=d.target, initiator=INI, timeout=10 * scale)
    s.login()
    for _ in range(8):  # the power-on unit attention
        if s.scsi(bytes(6)).status == 0:
            break
    return s


@pytest.mark.parametrize("immed", [True, False], ids=["immed", "waiting"])
def test_sigterm_during_sanitize(softhba, scale, immed):
    d = start(softhba)
    s = login(d, scale)
    if immed:
        r = s.scsi(sanitize_cdb(True), data_out=PATTERN)
        assert r.status == 0, r
        # the LU says it sanitizes
        r = s.scsi(bytes(6))
        assert r.sense_key == 2 and r.asc_ascq == (0x04, 0x1B), r
    else:
        # no IMMED: the command stays in the target while the overwrite runs
        bhs = s.scsi_cmd_bhs(sanitize_cdb(False), edtl=len(PATTERN), write=True, dlen=len(PATTERN))
        s.cmdsn = (s.cmdsn + 1) & 0xFFFFFFFF
        s.conn.send_pdu(bhs, PATTERN)  # immediate data: the whole parameter list
    time.sleep(0.5)
    t0 = time.monotonic()
    rc = d.stop(timeout=20)  # raises unless exit 0 within the time and no sanitizer report
    took = time.monotonic() - t0
    assert rc == 0
    # the 8 s overwrite was interrupted, not waited for
    assert took < 5 * scale, "shutdown took %.1f s" % took
    assert "SANITIZE failed: canceled" in d.stderr_text(), d.stderr_tail()
    s.close()

# test_targets.py - unit tests for the target helpers that need no daemon (sizes, CPU accounting, sanitizer scan).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import targets  # noqa: E402


def test_parse_size():
    assert targets.parse_size("128MiB") == 128 << 20
    assert targets.parse_size("1G") == 1 << 30
    assert targets.parse_size("4096") == 4096
    assert targets.parse_size(512) == 512
    for bad in ("12XB", "", "-1M", "1.5G"):
        try:
            targets.parse_size(bad)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % bad)


def test_proc_cpu_seconds_grows_with_work():
    before = targets.proc_cpu_seconds(os.getpid())
    x = 0
    for i in range(3_000_000):
        x += i * i
    after = targets.proc_cpu_seconds(os.getpid())
    assert after > before >= 0


def test_sanitizer_lines():
    text = ("NOTICE ready\n"
            "==12==ERROR: AddressSanitizer: heap-use-after-free on address\n"
            "src/scsi/sbc_rw.c:10:5: runtime error: signed integer overflow\n"
            "==12==ERROR: LeakSanitizer: detected memory leaks\n"
            "NOTICE shutdown complete\n")
    found = targets.sanitizer_lines(text)
    assert len(found) == 3
    assert targets.sanitizer_lines("NOTICE all fine\n") == []

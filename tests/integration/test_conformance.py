"""test_conformance.py - libiscsi's conformance suite (iscsi-test-cu) against the real daemon, in every LU configuration.

Each configuration gets a fresh daemon and a fresh RAM-backed LU. The bar:
no test fails, and a test may only skip when docs/conformance.md lists the
skip with its reason (ALLOWED_SKIPS below is that list). CUnit counts a
[SKIPPED] test as passed; tests/conformance/iscsi_test_cu.py separates them.
"""

import sys
from pathlib import Path

import pytest

import support

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "conformance"))
import iscsi_test_cu  # noqa: E402
from configs import CONFIGS, SUITES  # noqa: E402

# Skips that are expected, per configuration, with the reason (kept in step
# with docs/conformance.md). Anything else that skips fails the test.
_ALWAYS = {
    # Crypto erase needs media encryption; softhba stores data in the clear
    # and does not claim an erase it cannot perform.
    "Sanitize.CryptoErase": "no media encryption",
}
ALLOWED_SKIPS = {
    "full": dict(_ALWAYS),
}


def lun_flags(config):
    flags = CONFIGS[config]
    return {"thin": bool(flags.get("thin")), "removable": bool(flags.get("removable")),
            "read_only": bool(flags.get("read_only")), "write_cache": True}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_iscsi_test_cu(softhba, config, scale, record_property):
    support.require_tool("iscsi-test-cu")
    vol = {"name": "ram0", "backend": "malloc", "size": "128MiB", "block_size": 512}
    target = {"name": support.TARGET0, "alias": "conf",
              "luns": [dict(support.lun_entry(0, "ram0"), **lun_flags(config))]}
    d = softhba(support.make_config(volumes=[vol], targets=[target]))
    url = d.url()
    res = iscsi_test_cu.run_suite([url, url], suites=SUITES.get(config), timeout=int(900 * scale))
    passed, skipped, failed = res["passed"], res["skipped"], res["failed"]
    summary = "%s: %d run, %d passed, %d skipped, %d failed" % (
        config, len(passed) + len(skipped) + len(failed), len(passed), len(skipped), len(failed))
    print(summary)
    record_property("conformance", summary)
    problems = []
    for t in failed:
        problems.append("FAILED %s: %s" % (t, " | ".join(res["details"].get(t, [])[:3])))
    if config in ALLOWED_SKIPS:
        for t in skipped:
            if t not in ALLOWED_SKIPS[config]:
                problems.append("SKIPPED %s (not an allowed skip): %s"
                                % (t, " | ".join(res["details"].get(t, [])[:2])))
    problems += res["errors"]
    assert not problems, summary + "\n" + "\n".join(problems)

# test_iscsi_test_cu.py - unit tests for the iscsi-test-cu output parser (no target needed).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import iscsi_test_cu as cu  # noqa: E402

SAMPLE = """\
Suite: Alpha
  Test: Plain ...passed
  Test: SkipOneLine ...    [SKIPPED] Feature X is not implemented.
passed
  Test: SkipTwoLines ...    [SKIPPED] Feature Y is not implemented.
    [SKIPPED] Feature Y is not implemented.
passed
  Test: Broken ...    [FAILED] READ10 returned GOOD, expected CHECK CONDITION
FAILED
    1. test_alpha_broken.c:42  - CU_ASSERT_EQUAL(ret,0)
  Test: Chatty ...    step one
    step two
passed    [FAILED] clean-up message printed after the outcome

Suite: Beta
  Test: FailAfterSkip ...    [SKIPPED] part one skipped
    [FAILED] part two broke
FAILED
    1. test_beta.c:7  - CU_ASSERT_EQUAL(a,b)
    2. test_beta.c:9  - CU_ASSERT_EQUAL(c,d)
  Test: Plain ...passed

Run Summary:    Type  Total    Ran Passed Failed Inactive
              suites      2      2    n/a      0        0
               tests      7      7      5      2        0
"""


def test_classifies_pass_skip_fail():
    r = cu.parse_output(SAMPLE)
    assert r["passed"] == ["Alpha.Plain", "Alpha.Chatty", "Beta.Plain"]
    assert r["skipped"] == ["Alpha.SkipOneLine", "Alpha.SkipTwoLines"]
    assert r["failed"] == ["Alpha.Broken", "Beta.FailAfterSkip"]
    assert r.counts() == {"run": 7, "passed": 3, "skipped": 2, "failed": 2}


def test_cunit_summary_and_details():
    r = cu.parse_output(SAMPLE)
    assert r["cunit"] == [{"total": 7, "run": 7, "passed": 5, "failed": 2,
                           "inactive": 0}]
    # CUnit's "passed" equals real passes plus skips.
    assert r["cunit"][0]["passed"] == len(r["passed"]) + len(r["skipped"])
    assert r["details"]["Alpha.Broken"] == [
        "[FAILED] READ10 returned GOOD, expected CHECK CONDITION",
        "1. test_alpha_broken.c:42  - CU_ASSERT_EQUAL(ret,0)"]
    assert r["details"]["Beta.FailAfterSkip"][-1] == \
        "2. test_beta.c:9  - CU_ASSERT_EQUAL(c,d)"
    assert r["details"]["Alpha.SkipTwoLines"] == [
        "[SKIPPED] Feature Y is not implemented."]
    assert any("clean-up message" in n for n in r["noise"])


def test_truncated_output_counts_unfinished_test_as_failed():
    text = SAMPLE.split("  Test: Chatty")[0] + "  Test: Hang ...    step\n"
    r = cu.parse_output(text)
    assert "Alpha.Hang" in r["failed"]
    assert "did not finish" in r["details"]["Alpha.Hang"][-1]


def test_merge_sums_results():
    a = cu.parse_output(SAMPLE)
    b = cu.parse_output("Suite: Gamma\n  Test: One ...passed\n")
    a.merge(b)
    assert a.counts()["passed"] == 4
    assert a.run == 8


FAKE_TOOL = r'''#!/usr/bin/env python3
import fnmatch, os, sys
TESTS = ["ALL.Alpha.One", "ALL.Alpha.Two", "ALL.Sanitize.Reservations", "ALL.Sanitize.Reset",
         "ALL.Sanitize.Overwrite", "ALL.CompareAndWrite.Simple"]
if "-l" in sys.argv:
    print("\n".join(TESTS))
    sys.exit(0)
pats = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--test=")][0].split(",")
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(",".join(pats) + "\n")
suite = None
for pat in reversed(pats):
    parts = pat.split(".") + ["*"] * (3 - len(pat.split(".")))
    for t in TESTS:
        f3 = t.split(".")
        if all(fnmatch.fnmatchcase(f3[i], parts[i]) for i in range(3)):
            if f3[1] != suite:
                suite = f3[1]
                print("Suite: " + suite)
            print("  Test: %s ...passed" % f3[2])
'''


def test_run_suite_isolates_suites_and_single_tests(tmp_path, monkeypatch):
    tool = tmp_path / "fake-iscsi-test-cu"
    tool.write_text(FAKE_TOOL)
    tool.chmod(0o755)
    log = tmp_path / "calls"
    monkeypatch.setenv("FAKE_LOG", str(log))
    r = cu.run_suite(["iscsi://x/y/0"], tool=str(tool), timeout=60)
    calls = log.read_text().split()
    # CompareAndWrite alone, then everything else but Sanitize.Reset, then Sanitize.Reset alone
    assert calls[0] == "ALL.CompareAndWrite"
    assert set(calls[1].split(",")) == {"ALL.Alpha", "ALL.Sanitize.Reservations", "ALL.Sanitize.Overwrite"}
    assert calls[2] == "ALL.Sanitize.Reset"
    assert len(calls) == 3
    assert sorted(r["passed"]) == sorted(["Alpha.One", "Alpha.Two", "Sanitize.Reservations", "Sanitize.Reset",
                                          "Sanitize.Overwrite", "CompareAndWrite.Simple"])
    assert r["failed"] == [] and r["errors"] == []

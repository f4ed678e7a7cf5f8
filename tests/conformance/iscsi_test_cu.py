# iscsi_test_cu.py - run libiscsi's iscsi-test-cu and split its results into real passes, skips and failures.
"""Run libiscsi's ``iscsi-test-cu`` conformance suite and classify every test.

CUnit, which iscsi-test-cu is built on, has no notion of a skipped test:
a test that decides it does not apply prints ``[SKIPPED] <reason>`` and
returns, and CUnit counts it as *passed*.  This module reads the per-test
lines of the verbose (default) output and separates:

* ``passed``  - the test ran and every assertion held;
* ``skipped`` - the test printed ``[SKIPPED]`` and returned without failing;
* ``failed``  - CUnit reported the test FAILED, or the test never finished
  (the tool died, timed out, or its suite could not log in).

Output format it relies on (CUnit 2.1 basic interface, verbose mode)::

    Suite: Read10
      Test: Simple ...passed
      Test: BeyondEol ...    [FAILED] READ10 ... should have failed
    FAILED
        1. test_read10_beyond_eol.c:38  - CU_ASSERT_EQUAL(_r,0)
      Test: Rdprotect ...    [SKIPPED] Logical unit is fully provisioned.
    passed

A test's outcome is the first ``passed``/``FAILED`` word that starts the
remainder of its ``Test:`` line or starts a later line.  Text printed
*after* the outcome on the same line (suite clean-up messages) is kept as
``noise`` and does not change the outcome.

Workaround for libiscsi 1.19: CompareAndWrite.InvalidDataOutSize installs a
PDU hook that rewrites byte 13 of every later CDB; when the target lacks
COMPARE AND WRITE the test returns early and never removes the hook, so every
16-byte CDB sent afterwards by the same process is corrupted.  ``run_suite``
therefore runs the CompareAndWrite suite in an iscsi-test-cu process of its
own and all other suites in a second process, then merges the results.

Second workaround: in libiscsi 1.19 Sanitize.Reservations takes a RESERVE(6)
on the second (multipath) session and never releases it (the session stays
logged in until the suite ends), so the next test, Sanitize.Reset, has its
SANITIZE refused with RESERVATION CONFLICT - which is right, and which that
test ignores (its SANITIZE is sent asynchronously). Sanitize.Reset therefore
runs in a process of its own too, after the others; its suite set-up logs in
afresh and no reservation is left over.

Public API (used by tests/conformance/run-suite and the pytest integration
tests)::

    run_suite(urls, ...)          -> SuiteResult (dict-like: passed/skipped/failed)
    run_iscsi_test_cu(urls, ...)  -> SuiteResult for one invocation
    parse_output(text)            -> SuiteResult
    list_tests(pattern="ALL")     -> ["Suite.Test", ...]
"""

import os
import re
import subprocess
import time

ISCSI_TEST_CU = os.environ.get("ISCSI_TEST_CU", "iscsi-test-cu")

# Suites ("Suite") and single tests ("Suite.Test") that must run in an
# iscsi-test-cu process of their own (see module doc).
ISOLATED_SUITES = ("CompareAndWrite", "Sanitize.Reset")

_SUITE_RE = re.compile(r"^Suite: (\S+)\s*$")
_TEST_RE = re.compile(r"^  Test: (\S+) \.\.\.(.*)$")
_RESULT_RE = re.compile(r"^(passed|FAILED)(.*)$")
_ASSERT_RE = re.compile(r"^\s+\d+\. \S+:\d+\s+- ")
_SUMMARY_RE = re.compile(
    r"^\s+tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")


class SuiteResult(dict):
    """Outcome of one or more iscsi-test-cu runs.

    Keys: ``passed``, ``skipped``, ``failed`` (lists of "Suite.Test"),
    ``details`` ({"Suite.Test": [message lines]} for failed and skipped
    tests), ``cunit`` (list of the tool's own summaries: run, passed,
    failed), ``noise`` (messages printed outside any test), ``errors``
    (problems running the tool: timeout, crash, missing tests), ``seconds``.
    """

    def __init__(self):
        super().__init__(passed=[], skipped=[], failed=[], details={},
                         cunit=[], noise=[], errors=[], seconds=0.0,
                         output="")

    @property
    def run(self):
        return len(self["passed"]) + len(self["skipped"]) + len(self["failed"])

    def merge(self, other):
        for key in ("passed", "skipped", "failed", "cunit", "noise", "errors"):
            self[key].extend(other[key])
        self["details"].update(other["details"])
        self["seconds"] += other["seconds"]
        self["output"] += other["output"]
        return self

    def counts(self):
        return {"run": self.run, "passed": len(self["passed"]),
                "skipped": len(self["skipped"]),
                "failed": len(self["failed"])}


def parse_output(text):
    """Classify every test reported in iscsi-test-cu verbose output."""
    res = SuiteResult()
    res["output"] = text
    suite = None
    cur = None          # "Suite.Test" awaiting its outcome
    cur_lines = []      # its messages so far
    last_failed = None  # test whose assertion list may follow

    def finish(outcome, tail):
        nonlocal cur, cur_lines, last_failed
        skipped = any("[SKIPPED]" in m for m in cur_lines)
        msgs = [m.strip() for m in cur_lines if m.strip()]
        if outcome == "FAILED":
            res["failed"].append(cur)
            res["details"][cur] = msgs
            last_failed = cur
        elif skipped:
            res["skipped"].append(cur)
            res["details"][cur] = [m for m in msgs if "[SKIPPED]" in m][:1]
        else:
            res["passed"].append(cur)
        if tail.strip():
            res["noise"].append("%s (after outcome): %s" % (cur, tail.strip()))
        cur, cur_lines = None, []

    for line in text.splitlines():
        m = _SUITE_RE.match(line)
        if m and cur is None:
            suite, last_failed = m.group(1), None
            continue
        m = _TEST_RE.match(line)
        if m and cur is None:
            cur, cur_lines, last_failed = "%s.%s" % (suite, m.group(1)), [], None
            rest = m.group(2)
            r = _RESULT_RE.match(rest)
            if r:
                finish(r.group(1), r.group(2))
            else:
                cur_lines.append(rest)
            continue
        if cur is not None:
            r = _RESULT_RE.match(line)
            if r:
                finish(r.group(1), r.group(2))
            else:
                cur_lines.append(line)
            continue
        if last_failed and _ASSERT_RE.match(line):
            res["details"][last_failed].append(line.strip())
            continue
        m = _SUMMARY_RE.match(line)
        if m:
            total, ran, passed, failed, inactive = map(int, m.groups())
            res["cunit"].append({"total": total, "run": ran, "passed": passed,
                                 "failed": failed, "inactive": inactive})
            continue
        if line.strip() and (line.lstrip().startswith("[") or
                             "Suite" in line or "error" in line.lower()):
            res["noise"].append(line.strip())
    if cur is not None:
        # The tool stopped in the middle of a test (crash, kill, timeout).
        res["failed"].append(cur)
        res["details"][cur] = [m.strip() for m in cur_lines if m.strip()] + [
            "test did not finish (iscsi-test-cu stopped)"]
    return res


def list_tests(pattern="ALL", tool=ISCSI_TEST_CU):
    """Return "Suite.Test" names that ``--test=pattern`` would select.

    Pattern is iscsi-test-cu's FAMILY[.SUITE[.TEST]] with fnmatch wildcards.
    """
    import fnmatch
    out = subprocess.run([tool, "-l"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    parts = pattern.split(".")
    parts += ["*"] * (3 - len(parts))
    names = []
    for line in out.split():
        f = line.split(".")
        if len(f) != 3:
            continue
        if all(fnmatch.fnmatchcase(f[i], parts[i]) for i in range(3)):
            names.append("%s.%s" % (f[1], f[2]))
    return names


def run_iscsi_test_cu(urls, tests="ALL", dataloss=True, sanitize=True,
                      timeout=900, tool=ISCSI_TEST_CU, expected=None,
                      extra_args=()):
    """Run one iscsi-test-cu process and return its SuiteResult.

    urls: one URL or a list (the second one is used by MultipathIO).
    tests: a --test value (comma-separated patterns allowed).
    expected: optional list of "Suite.Test" names the run should report;
    any that never appear (tool crashed, suite set-up failed) are counted
    as failed with an explanation.
    """
    if isinstance(urls, str):
        urls = [urls]
    cmd = [tool]
    if dataloss:
        cmd.append("--dataloss")
    if sanitize:
        cmd.append("--allow-sanitize")
    cmd += list(extra_args) + ["--test=" + tests] + list(urls)
    start = time.monotonic()
    errors = []
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        out = p.stdout.decode("utf-8", "replace")
        if p.returncode < 0:
            errors.append("iscsi-test-cu killed by signal %d" % -p.returncode)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        errors.append("iscsi-test-cu --test=%s timed out after %d s"
                      % (tests, timeout))
    res = parse_output(out)
    res["seconds"] = time.monotonic() - start
    res["errors"].extend(errors)
    if expected is not None:
        seen = set(res["passed"]) | set(res["skipped"]) | set(res["failed"])
        missing = [t for t in expected if t not in seen]
        for t in missing:
            res["failed"].append(t)
            res["details"][t] = ["test never reported (tool stopped or suite "
                                 "set-up failed)"]
        if missing:
            tail = [line for line in out.splitlines() if line.strip()][-3:]
            res["errors"].append("%d test(s) never reported; last output: %s"
                                 % (len(missing), " | ".join(tail)))
    return res


def run_suite(urls, family="ALL", suites=None, isolated=ISOLATED_SUITES,
              timeout=900, tool=ISCSI_TEST_CU, **kw):
    """Run every test of ``family`` and return the merged SuiteResult.

    suites: optional list of suite names to restrict the run to.
    Each suite named in ``isolated`` gets its own iscsi-test-cu process,
    as does each single test named there ("Suite.Test", run after the
    others); all other tests share one.  ``timeout`` bounds the whole call.
    """
    names = list_tests(family, tool=tool)
    if suites is not None:
        unknown = set(suites) - {n.split(".")[0] for n in names}
        if unknown:
            raise ValueError("unknown suite(s): %s" % ", ".join(sorted(unknown)))
        names = [n for n in names if n.split(".")[0] in suites]
    suites = []
    for n in names:
        s = n.split(".")[0]
        if s not in suites:
            suites.append(s)
    lone = [t for t in isolated if "." in t and t in names]
    # a group is a list of patterns: "Suite" or "Suite.Test"
    groups = [[s] for s in suites if s in isolated]
    rest = []
    for s in suites:
        if s in isolated:
            continue
        if any(t.split(".")[0] == s for t in lone):
            rest += [n for n in names if n.split(".")[0] == s and n not in lone]
        else:
            rest.append(s)
    if rest:
        groups.append(rest)
    groups += [[t] for t in lone]
    total = SuiteResult()
    deadline = time.monotonic() + timeout
    for group in groups:
        left = max(1, int(deadline - time.monotonic()))
        # iscsi-test-cu registers comma-separated patterns last to first:
        # pass them reversed so suites run in their listed order.
        pattern = ",".join("%s.%s" % (family, s) for s in reversed(group))
        expected = [n for n in names if n in group or (n.split(".")[0] in group and n not in lone)]
        total.merge(run_iscsi_test_cu(urls, tests=pattern, timeout=left,
                                      tool=tool, expected=expected, **kw))
    return total

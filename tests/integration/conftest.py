"""conftest.py - pytest fixtures that start real softhba daemons and check each one exits cleanly."""

import pytest

import support


@pytest.fixture(scope="session")
def softhba_bin():
    binary = support.find_binary()
    if not binary.exists():
        pytest.fail("softhba binary not found at %s: build it first (meson setup build && ninja -C build "
                    "src/cli/softhba) or point SOFTHBA_BIN at it" % binary, pytrace=False)
    return binary


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a test fails, attach the stderr tail of every daemon it started to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when == "call":
        for d in getattr(item, "_softhba_daemons", []):
            rep.sections.append(("softhba %s stderr" % d.name, d.stderr_tail(40)))


@pytest.fixture
def softhba(softhba_bin, tmp_path, request):
    """Factory: softhba(config_dict, name="softhba") starts a daemon and returns a support.Daemon
    once it printed its iscsi:// lines. At teardown every daemon still running gets SIGTERM; each
    must exit 0 within a bounded time with no sanitizer report on stderr, else the test fails."""
    started = []
    request.node._softhba_daemons = started

    def start(config, name=None, wait=20.0):
        d = support.Daemon(softhba_bin, config, tmp_path, name or "softhba%d" % len(started))
        started.append(d)
        d.start(wait=wait)
        return d

    yield start

    errors = []
    for d in started:
        if d.checked:
            continue
        try:
            d.stop()
        except AssertionError as e:
            errors.append("%s: %s" % (d.name, e))
        finally:
            d.kill()
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def scale(softhba_bin):
    return support.timeout_scale(softhba_bin)

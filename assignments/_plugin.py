"""The pytest plugin behind `grade`: a time limit per test, and a log of each test's fate.

`grade` runs pytest in a child process with `-p assignments._plugin`. This plugin
- arms a timer (SIGALRM) around each test's setup and call, so code that hangs fails that
  test with `GradingTimeout` and the run goes on;
- appends one JSON line per event to the file named by VDLITE_GRADE_LOG: "collected" (each
  test's id, points and time limit), "start" (a test begins), "result" (its outcome and a
  short output). A test that was started but has no result when the process ends crashed it.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

DEFAULT_TIMEOUT = 60.0
OUTPUT_LIMIT = 3000  # characters of a test's output kept for the learner


class GradingTimeout(BaseException):
    """A test ran past its time limit. A BaseException, so `except Exception` in the graded
    code cannot swallow it."""


def _log(event: dict) -> None:
    path = os.environ.get("VDLITE_GRADE_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(event) + "\n")


def points(item: pytest.Item) -> int:
    mark = item.get_closest_marker("points")
    return int(mark.args[0]) if mark else 1


def time_limit(item: pytest.Item) -> float:
    mark = item.get_closest_marker("timeout")
    default = float(os.environ.get("VDLITE_GRADE_TIMEOUT", DEFAULT_TIMEOUT))
    return float(mark.args[0]) if mark else default


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:  # after -m and -k have deselected
        _log({"event": "collected", "id": item.nodeid, "name": item.name,
              "points": points(item), "timeout": time_limit(item)})


def pytest_runtest_logstart(nodeid: str) -> None:
    _log({"event": "start", "id": nodeid})


def _time_limited(item: pytest.Item):
    """Run one phase of `item` (the hook's body, at the `yield`) under its time limit: SIGALRM
    then raises GradingTimeout inside the test."""
    seconds = time_limit(item)

    def expire(signum, frame):
        raise GradingTimeout(f"the test took longer than its limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    yield from _time_limited(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    yield from _time_limited(item)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Log the outcome of the call, or of a setup that failed (the implementation did not
    import, say): "passed" or "failed" and the test's output, cut to OUTPUT_LIMIT."""
    if report.when == "call" or (report.when == "setup" and not report.passed):
        text = report.longreprtext if report.failed else ""
        captured = "".join(content for _, content in report.sections)
        if captured:
            text += ("\n\n" if text else "") + "printed:\n" + captured
        if len(text) > OUTPUT_LIMIT:
            text = text[: OUTPUT_LIMIT // 3] + "\n...\n" + text[-2 * OUTPUT_LIMIT // 3:]
        _log({"event": "result", "id": report.nodeid,
              "status": "passed" if report.passed else "failed", "output": text})

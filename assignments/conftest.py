"""What every graded test sees: the `impl` fixture and the `points` and `timeout` marks.

`impl` is the module under grading, imported when a test first asks for it, so that a
`student.py` that does not even import (a syntax error) costs each test its points instead of
stopping collection. It is the assignment's `student.py`, unless the environment (which
`grade` sets) names another: VDLITE_IMPL=solution (or wrong_sign, ...) for a module of the
assignment's folder, VDLITE_STUDENT_FILE=PATH for a learner's file elsewhere (a submission).
"""

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): what the test is worth")
    config.addinivalue_line("markers", "timeout(seconds): the test's time limit when graded")
    config.addinivalue_line("markers", "training: the test trains a model (tens of seconds)")


@pytest.fixture
def impl(request: pytest.FixtureRequest):
    """The implementation being graded: assignments.<folder>.<VDLITE_IMPL or student>, or
    the file VDLITE_STUDENT_FILE."""
    package = request.module.__name__.rsplit(".", 1)[0]
    name = os.environ.get("VDLITE_IMPL", "student")
    submitted = os.environ.get("VDLITE_STUDENT_FILE")
    if name == "student" and submitted:
        return load_file(Path(submitted), f"{package}.submitted")
    return importlib.import_module(f"{package}.{name}")


def load_file(path: Path, name: str):
    """Import the Python file `path` as module `name` (once per process)."""
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        raise FileNotFoundError(f"no student.py was submitted (looked for {path})")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module

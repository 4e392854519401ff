"""The grader itself, on a toy assignment built in a temporary folder: each way a learner's
code can go wrong (not written, wrong, hangs, crashes the process, does not import, prints a
lot) costs the tests it touches and nothing else, and the results are Gradescope's format."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assignments.grade import grade

PACKAGE = Path(__file__).resolve().parent.parent / "assignments"

TESTS = '''
import pytest


@pytest.mark.points(2)
def test_double(impl):
    assert impl.double(3) == 6


@pytest.mark.points(3)
@pytest.mark.timeout(3)
def test_square(impl):
    assert impl.square(4) == 16


@pytest.mark.points(1)
def test_double_negative(impl):
    assert impl.double(-2) == -4
'''

STUB = '''
def double(x):
    raise NotImplementedError("Task 0.1: return 2 x")


def square(x):
    raise NotImplementedError("Task 0.2: return x squared")
'''

SOLUTION = '''
def double(x):
    return 2 * x


def square(x):
    return x * x
'''

WRONG = {
    "wrong_sign": "def double(x):\n    return abs(2 * x)\n\n\ndef square(x):\n    return x * x\n",
    "hangs": "def double(x):\n    return 2 * x\n\n\ndef square(x):\n    while True:\n"
             "        pass\n",
    "crashes": "import os\n\n\ndef double(x):\n    os._exit(3)\n\n\ndef square(x):\n"
               "    return x * x\n",
    "broken": "def double(x)\n    return 2 * x\n",
    "chatty": "def double(x):\n    print('x' * 100_000)\n    return 2 * x\n\n\n"
              "def square(x):\n    return x * x\n",
}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """A copy of the assignments package with one toy assignment, `toy`."""
    root = tmp_path_factory.mktemp("course") / "assignments"
    root.mkdir()
    for name in ("__init__.py", "conftest.py", "_plugin.py", "grade.py"):
        shutil.copy(PACKAGE / name, root / name)
    toy = root / "toy"
    toy.mkdir()
    (toy / "__init__.py").write_text("")
    (toy / "test_toy.py").write_text(TESTS)
    (toy / "student.py").write_text(STUB)
    (toy / "solution.py").write_text(SOLUTION)
    for name, text in WRONG.items():
        (toy / f"{name}.py").write_text(text)
    return root


def scores(results: dict) -> dict[str, float]:
    return {t["name"]: t["score"] for t in results["tests"]}


def test_stub_scores_zero_by_not_implemented_and_solution_full(toy):
    stub = grade("toy", root=toy)
    assert stub["score"] == 0 and len(stub["tests"]) == 3
    assert all("NotImplementedError: Task 0." in t["output"] for t in stub["tests"])
    full = grade("toy", "solution", root=toy)
    assert full["score"] == 6 == sum(t["max_score"] for t in full["tests"])
    assert {t["status"] for t in full["tests"]} == {"passed"}


def test_a_wrong_solution_loses_only_its_tests(toy):
    assert scores(grade("toy", "wrong_sign", root=toy)) == {
        "test_double": 2, "test_square": 3, "test_double_negative": 0}


def test_a_hang_fails_that_test_at_its_time_limit(toy):
    results = grade("toy", "hangs", root=toy)
    assert scores(results) == {"test_double": 2, "test_square": 0, "test_double_negative": 1}
    square = next(t for t in results["tests"] if t["name"] == "test_square")
    assert "longer than its limit of 3 s" in square["output"]


def test_a_crash_costs_the_running_test_and_the_rest_still_run(toy):
    results = grade("toy", "crashes", root=toy)
    assert scores(results) == {"test_double": 0, "test_square": 3, "test_double_negative": 0}
    assert all("crashed (exit status 3)" in t["output"] for t in results["tests"]
               if t["score"] == 0)


def test_code_that_does_not_import_fails_every_test_with_its_error(toy):
    results = grade("toy", "broken", root=toy)
    assert results["score"] == 0
    assert all("SyntaxError" in t["output"] for t in results["tests"])


def test_printing_a_lot_is_cut_and_costs_nothing(toy):
    results = grade("toy", "chatty", root=toy)
    assert results["score"] == 6
    assert all(len(t["output"]) <= 3100 for t in results["tests"])


def test_a_submitted_file_is_graded_in_place_of_student(toy, tmp_path):
    (tmp_path / "student.py").write_text(SOLUTION)
    assert grade("toy", student_file=tmp_path / "student.py", root=toy)["score"] == 6
    missing = grade("toy", student_file=tmp_path / "none.py", root=toy)
    assert missing["score"] == 0
    assert "no student.py was submitted" in missing["tests"][0]["output"]


def test_command_line_table_and_gradescope_json(toy, tmp_path):
    out = tmp_path / "results" / "results.json"
    proc = subprocess.run([sys.executable, "-m", "assignments.grade", "toy", "--impl",
                           "wrong_sign", "--json", str(out)], cwd=toy.parent,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "test_double_negative" in proc.stdout and "total" in proc.stdout
    assert "5 / 6" in proc.stdout.replace("  ", " ")
    results = json.loads(out.read_text())
    assert results["score"] == 5.0
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output"}
        assert test["status"] in ("passed", "failed")
    bad = subprocess.run([sys.executable, "-m", "assignments.grade", "nope"], cwd=toy.parent,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no assignment 'nope'; there are: toy" in bad.stderr

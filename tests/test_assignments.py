"""Every assignment is gradable and its grading can be trusted: the stubs score exactly 0 (by
NotImplementedError, not by an import or collection error), the reference solution scores
full marks, and each plausible wrong solution (`wrong_*.py`) scores less. The handout holds
no solution, and the Gradescope autograder's `run_autograder` writes a valid results.json."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

from assignments.autograder import make_autograder
from assignments.grade import ROOT, assignment_names, grade
from assignments.handout import make_handout

NAMES = assignment_names()
WRONG = [(name, p.stem) for name in NAMES for p in sorted((ROOT / name).glob("wrong_*.py"))]


def test_every_lesson_with_exercises_has_an_assignment():
    assert {"l00_video_tensor", "l01_conv3d", "l02_diffusion", "l03_attention", "l04_kernels",
            "l05_transformer", "l06_vae", "l07_flow", "l08_long_video", "l09_memory",
            "l09_parallel", "a1_kinematic_attention",
            "a2_video_controlnet", "a3_causal_vae"} <= set(NAMES)
    for name in NAMES:
        assert (ROOT / name / "student.py").is_file() and (ROOT / name / "solution.py").is_file()
        assert any((ROOT / name).glob("wrong_*.py")), f"{name} has no wrong solution"


@pytest.fixture(scope="module")
def full_marks() -> dict[str, float]:
    return {name: grade(name, "solution")["score"] for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_stub_scores_zero_and_solution_full_marks(name, full_marks):
    stub = grade(name)
    assert stub["tests"], f"{name} has no graded tests"
    assert stub["score"] == 0
    for test in stub["tests"]:
        assert "NotImplementedError" in test["output"], (test["name"], test["output"][-500:])
    total = sum(t["max_score"] for t in stub["tests"])
    assert full_marks[name] == total > 0


@pytest.mark.parametrize("name,wrong", WRONG, ids=[f"{n}-{w}" for n, w in WRONG])
def test_a_wrong_solution_scores_less(name, wrong, full_marks):
    """Graded without the tests that train a model: a wrong solution that loses points on the
    others scores less than full marks whatever the training tests give it (they can add only
    their own points, which the solution earns too), and each is spared tens of seconds."""
    quick = grade(name, wrong, skip_marked="training")
    assert quick["score"] < sum(t["max_score"] for t in quick["tests"])


def test_the_handout_holds_no_solution_and_grades_the_stubs(tmp_path):
    dest = tmp_path / "handout"
    files = make_handout(dest)
    names = {p.name for p in files}
    assert "student.py" in names and "grade.py" in names and "README.md" in names
    assert not any(n == "solution.py" or n.startswith("wrong_") or n == "autograder.py"
                   for n in names)
    assert (dest / "vdlite" / "train.py").is_file() and (dest / "lessons").is_dir()
    name = NAMES[0]
    proc = subprocess.run([sys.executable, "-m", "assignments.grade", name], cwd=dest,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(dest)})
    assert proc.returncode == 0, proc.stderr
    assert f"assignments/{name}, graded on student.py" in proc.stdout
    # the lessons' `# Yours` cells work in the handout: assignments.mine checks the stub
    probe = ("from assignments.mine import check\n"
             "check('l01_conv3d', 'conv3d_flops', lambda f: f(2, 3, (1, 1, 1), (1, 1, 1)), 12)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=dest, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(dest)})
    assert proc.stdout.startswith("your conv3d_flops: not written yet (Task 01.5"), proc.stderr
    with pytest.raises(ValueError, match="is not an empty folder"):
        make_handout(dest)  # a learner's work is never overwritten


def test_the_autograder_zip_grades_a_submission(tmp_path):
    name = "l01_conv3d"
    zipped = make_autograder(name, tmp_path / "zip")
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zipped) as z:
        listed = z.namelist()
        z.extractall(root / "source")
    assert "setup.sh" in listed and "run_autograder" in listed
    assert not any(p.endswith(("solution.py", ".pyc")) or "/wrong_" in p for p in listed)
    (root / "submission").mkdir()
    (root / "submission" / "student.py").write_text((ROOT / name / "solution.py").read_text())
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) > 0
    assert all(set(t) == {"name", "score", "max_score", "status", "output"}
               for t in results["tests"])

"""Grade an assignment: `python -m assignments.grade NAME [--solution] [--json PATH]`.

Runs the graded tests of `assignments/NAME` on the learner's `student.py` (or, with
`--solution`, the reference; with `--impl MODULE`, another module of the folder, such as a
wrong solution; with `--student FILE`, a submitted file), prints one row per test and the
total, and with `--json` writes Gradescope's `results.json`:

    {"score": 7.0, "output": "...", "tests": [{"name", "score", "max_score", "status",
                                                "output"}, ...]}

The tests run in a child pytest process with `assignments._plugin`, which gives each test a
time limit (60 s unless the test's `timeout` mark says otherwise) and logs each test's start
and result. A test that hangs past its limit, raises, or prints a lot fails alone. A crash of
the whole process (a segfault, `os._exit`) costs the test that was running; the grader then
starts a new process for the tests not yet run. Exit status: 0 when graded (whatever the
score), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent  # the assignments package
MARGIN_S = 120.0  # beyond the sum of the time limits, before a stuck process is killed


def assignment_names(root: Path = ROOT) -> list[str]:
    """Folders of the assignments package `root` that hold graded tests."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("test_*.py")))


def grade(name: str, impl: str = "student", student_file: str | Path | None = None,
          timeout: float | None = None, root: Path = ROOT, skip_marked: str | None = None
          ) -> dict:
    """Run assignment `name`'s graded tests on `impl` (a module of its folder) or on
    `student_file`; returns Gradescope's results: {"score", "output", "tests": [...]}.
    `root` is the assignments package (this one, or a handout's copy). `skip_marked` leaves
    out the tests with that mark (e.g. "training"): the course's own check that a wrong
    solution loses points uses it where the cheap tests already decide."""
    names = assignment_names(root)
    if name not in names:
        raise ValueError(f"no assignment {name!r}; there are: {', '.join(names)}")
    if not (root / name / f"{impl}.py").is_file() and student_file is None:
        raise ValueError(f"assignments/{name} has no {impl}.py")
    env = {**os.environ, "VDLITE_IMPL": impl, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "PYTHONPATH": os.pathsep.join([str(root.parent), os.environ.get("PYTHONPATH", "")])}
    if student_file is not None:
        env["VDLITE_STUDENT_FILE"] = str(Path(student_file).resolve())
    if timeout is not None:
        env["VDLITE_GRADE_TIMEOUT"] = str(timeout)
    with tempfile.TemporaryDirectory() as tmp:
        env["VDLITE_GRADE_LOG"] = log = str(Path(tmp) / "log.jsonl")
        select = ["-m", f"not {skip_marked}"] if skip_marked else []
        tests, results, crashed = _run_until_done(root / name, env, log, select)
    rows = []
    for test_id, test in tests.items():
        result = results.get(test_id) or {
            "status": "failed", "output": crashed.get(test_id, "the test did not run")}
        earned = test["points"] if result["status"] == "passed" else 0
        rows.append({"name": test["name"], "score": float(earned),
                     "max_score": float(test["points"]), "status": result["status"],
                     "output": result["output"]})
    score = sum(r["score"] for r in rows)
    total = sum(r["max_score"] for r in rows)
    return {"score": score, "output": f"{name}: {score:g} / {total:g} points", "tests": rows}


def _run_until_done(folder: Path, env: dict, log: str, select: list[str]
                    ) -> tuple[dict, dict, dict]:
    """Collect the tests of `folder` (those `select`, pytest's -m arguments, keeps), then run
    them until each has a result or was lost in a crash; returns (collected {id: info},
    results {id: result}, crashed {id: why})."""
    collect = _pytest([*select, "--collect-only", str(folder)], env, timeout=MARGIN_S)
    tests = {e["id"]: e for e in _read_log(log, "collected")}
    if not tests:
        raise RuntimeError(f"the graded tests of {folder.name} could not be collected:\n"
                           f"{(collect.stdout + collect.stderr)[-2000:]}")
    results: dict = {}
    crashed: dict = {}
    todo = list(tests)
    while todo:
        started = len(_read_log(log, "start"))
        limit = MARGIN_S + sum(tests[t]["timeout"] for t in todo)
        try:
            proc = _pytest([str(folder.parent.parent / t) for t in todo], env, timeout=limit)
            how = f"the test process crashed (exit status {proc.returncode})"
        except subprocess.TimeoutExpired:
            how = "the test process stopped answering and was killed"
        results.update({e["id"]: e for e in _read_log(log, "result")})
        lost = [e["id"] for e in _read_log(log, "start")[started:] if e["id"] not in results]
        crashed.update({test_id: f"{how} while this test ran" for test_id in lost})
        todo = [t for t in todo if t not in results and t not in crashed] if lost else []
    return tests, results, crashed


def _pytest(args: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    """pytest with the grading plugin, in a child process, from the folder above the
    assignments package (the first entry of env's PYTHONPATH)."""
    top = env["PYTHONPATH"].split(os.pathsep)[0]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
           "assignments._plugin", "--tb=short", "-o", "addopts=", "--rootdir", top, *args]
    return subprocess.run(cmd, env=env, cwd=top, capture_output=True, text=True,
                          timeout=timeout)


def _read_log(path: str, event: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [e for e in map(json.loads, f) if e["event"] == event]


def print_table(name: str, who: str, results: dict) -> None:
    """One row per test: name, points earned of its points, status and the first line of
    what went wrong; then the total."""
    width = max([len(t["name"]) for t in results["tests"]] + [20])
    print(f"assignments/{name}, graded on {who}")
    for t in results["tests"]:
        why = t["output"].strip().splitlines()[-1][:60] if t["status"] == "failed" else ""
        print(f"  {t['name']:{width}s} {t['score']:4g} / {t['max_score']:<4g} {t['status']:7s}"
              f" {why}")
    total = sum(t["max_score"] for t in results["tests"])
    print(f"  {'total':{width}s} {results['score']:4g} / {total:g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assignments.grade",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("name", help=f"the assignment: {', '.join(assignment_names())}")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--solution", action="store_true", help="grade the reference solution")
    who.add_argument("--impl", help="grade another module of the folder (e.g. wrong_sign)")
    who.add_argument("--student", metavar="FILE", help="grade this file as student.py")
    parser.add_argument("--json", metavar="PATH", help="write Gradescope's results.json here")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per test unless the test says otherwise (default 60)")
    args = parser.parse_args(argv)
    impl = "solution" if args.solution else args.impl or "student"
    try:
        results = grade(args.name, impl, args.student, args.timeout)
    except ValueError as err:
        print(f"grade: error: {err}", file=sys.stderr)
        return 2
    print_table(args.name, args.student or f"{impl}.py", results)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(results, indent=2))
        tmp.replace(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

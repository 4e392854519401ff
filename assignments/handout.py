"""The learners' copy of the course: `python -m assignments.handout DIR`.

Copies what a learner needs into the new folder DIR: the package (`vdlite`, `kernels`,
`pyproject.toml`), the lessons, and the assignments with their stubs (`student.py`), graded
tests, READMEs and the grader, but no `solution.py`, no `wrong_*.py` and none of the
instructor's tools (`autograder.py`, `handout.py`). DIR must be new or empty: a learner's
work is never overwritten. The copy is checked for solutions before the command returns.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
COURSE = ROOT.parent
TOP_LEVEL = ("pyproject.toml", "LICENSE", "vdlite", "kernels", "lessons")
INSTRUCTORS_ONLY = ("solution.py", "wrong_*.py", "autograder.py", "handout.py")
NEVER = ("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info", ".pytest_cache")


def make_handout(dest: str | Path) -> list[Path]:
    """Write the learners' copy into `dest` (new or empty); returns the files written."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"{dest} exists and is not an empty folder; give a new one")
    dest.mkdir(parents=True, exist_ok=True)
    for name in TOP_LEVEL:
        source = COURSE / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns(*NEVER))
        elif source.is_file():
            shutil.copy2(source, dest / name)
    shutil.copytree(ROOT, dest / "assignments",
                    ignore=shutil.ignore_patterns(*NEVER, *INSTRUCTORS_ONLY))
    shutil.copy2(ROOT / "README.md", dest / "README.md")
    left = [p for pattern in ("solution.py", "wrong_*.py") for p in dest.rglob(pattern)]
    if left:
        raise RuntimeError(f"the handout still holds {left}")
    return sorted(p for p in dest.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assignments.handout",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("dest", metavar="DIR", help="a new (or empty) folder")
    args = parser.parse_args(argv)
    try:
        files = make_handout(args.dest)
    except ValueError as err:
        print(f"handout: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} files to {args.dest} (no solutions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

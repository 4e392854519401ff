"""Gradescope's autograder for one assignment: `python -m assignments.autograder NAME DIR`.

Writes DIR/NAME-autograder.zip, which Gradescope unpacks into /autograder/source:
- `setup.sh`: installs PyTorch's CPU build, the course (`pip install .`) and pytest;
- `run_autograder`: grades the submitted `/autograder/submission/student.py` with
  `python -m assignments.grade NAME --student ...` and writes
  `/autograder/results/results.json`;
- the course's package (`vdlite`, `kernels`, `pyproject.toml`) and the assignments package
  with NAME's graded tests, without its solution or wrong solutions.
Both scripts read AUTOGRADER_ROOT (default /autograder) and PYTHON (default python3), so the
same zip can be tried in any folder.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from assignments.grade import assignment_names
from assignments.handout import INSTRUCTORS_ONLY, NEVER

ROOT = Path(__file__).resolve().parent
COURSE = ROOT.parent
TORCH_VERSION = "2.13.0"

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, to build the autograder's image: PyTorch's CPU build, the course.
set -euo pipefail
cd "${{AUTOGRADER_ROOT:-/autograder}}/source"
"${{PYTHON:-python3}}" -m pip install --quiet "torch=={torch}" \\
    --extra-index-url https://download.pytorch.org/whl/cpu
"${{PYTHON:-python3}}" -m pip install --quiet . pytest hypothesis
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grade its student.py, write results.json.
root="${{AUTOGRADER_ROOT:-/autograder}}"
mkdir -p "$root/results"
cd "$root/source" || exit 1
exec "${{PYTHON:-python3}}" -m assignments.grade {name} \\
    --student "$root/submission/student.py" --json "$root/results/results.json"
"""


def make_autograder(name: str, dest: str | Path) -> Path:
    """Write `dest`/NAME-autograder.zip for assignment `name`; returns its path."""
    if name not in assignment_names():
        raise ValueError(f"no assignment {name!r}; there are: {', '.join(assignment_names())}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}-autograder.zip"
    files = [COURSE / "pyproject.toml"]
    for folder in (COURSE / "vdlite", COURSE / "kernels", ROOT / name):
        files += [p for p in folder.rglob("*") if p.is_file() and not _skipped(p)]
    files += [ROOT / f for f in ("__init__.py", "conftest.py", "_plugin.py", "grade.py")]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        _add_script(z, "setup.sh", SETUP.format(torch=TORCH_VERSION))
        _add_script(z, "run_autograder", RUN.format(name=name))
        for f in files:
            z.write(f, f.relative_to(COURSE).as_posix())
    return path


def _skipped(path: Path) -> bool:
    """Whether `path` stays out of the zip: caches, and solutions."""
    return any(path.match(p) or any(part == p for part in path.parts)
               for p in (*NEVER, *INSTRUCTORS_ONLY))


def _add_script(z: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o755 << 16  # executable
    z.writestr(info, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assignments.autograder",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("name", help=f"the assignment: {', '.join(assignment_names())}")
    parser.add_argument("dest", metavar="DIR", help="folder for the zip")
    args = parser.parse_args(argv)
    try:
        path = make_autograder(args.name, args.dest)
    except ValueError as err:
        print(f"autograder: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

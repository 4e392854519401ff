"""Check, then benchmark, all four kernels on a GPU in one process: ``python -m kernels.bench``.

    python -m kernels.bench [--out DIR] [--only temporal,spatial,conv3d,neighbourhood]

For each kernel, first its bf16 check against the float64 reference (output and every
gradient, odd shapes, every mask); a kernel that fails it is not timed (timing a wrong kernel
means nothing), the report says so, the other kernels go on and the command exits with 1.
Then its benchmark, which times it against the best PyTorch ways to do the same
thing in the same process (see ``kernels/bench/temporal.py``, ``spatial.py``,
``conv3d.py``, ``neighbourhood.py`` for what each compares, the FLOP and byte counts and the
floors). Writes ``DIR/results.md`` (versions and GPU, then each kernel's table) and
``DIR/speedups.png`` (ours against the fastest PyTorch way, per shape and pass). The committed
copy of these is ``kernels/BENCHMARKS.md`` and ``kernels/benchmarks.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import io
import subprocess
import sys
from pathlib import Path

import torch
import triton

KERNELS = ("temporal", "spatial", "conv3d", "neighbourhood")


def environment() -> str:
    """GPU, driver and library versions, and the date, as markdown lines."""
    try:
        query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
        driver = subprocess.run(query, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        driver = "unknown"
    props = torch.cuda.get_device_properties(0)
    return (f"- GPU: {props.name} ({props.multi_processor_count} SMs), driver {driver}\n"
            f"- torch {torch.__version__}, Triton {triton.__version__}, "
            f"cuDNN {torch.backends.cudnn.version()}\n"
            f"- date: {datetime.date.today().isoformat()}\n")


def tables(text: str) -> list[list[dict[str, str]]]:
    """The markdown tables in text, each a list of rows {column: cell}."""
    found, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            found.append([])
        elif not set("".join(cells)) <= set("-: "):
            found[-1].append(dict(zip(header, cells, strict=False)))
    return found


def speedups(name: str, rows: list[dict[str, str]]) -> list[tuple[str, float]]:
    """(label, ratio) for each of our rows: the last 'x ...' column is the ratio against the
    fastest PyTorch way; the label is the row's leading columns up to the 'path' column."""
    if not rows:
        return []
    columns = list(rows[0])
    ratio = [c for c in columns if c.startswith("x ")]
    if "path" not in columns or not ratio:
        return []
    keys = columns[: columns.index("path")]
    out = []
    extra = [c for c in ("layout",) if c in columns]
    for row in rows:
        if row["path"].startswith("ours") and "views" not in row["path"]:
            detail = row["path"][len("ours"):].strip()  # e.g. "zeros" for the conv3d paths
            parts = [row[k] for k in keys] + [detail] + [row[k] for k in extra]
            label = f"{name} " + " ".join(p for p in parts if p)
            out.append((label, float(row[ratio[-1]].rstrip("x"))))
    return out


def plot(results: list[tuple[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.28 * len(results) + 1.2))
    labels, values = zip(*results, strict=True)
    colours = ["tab:green" if v >= 1 else "tab:red" for v in values]
    ax.barh(range(len(values)), values, color=colours)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(values)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("speed-up over the fastest PyTorch way (same GPU, same process; log scale)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernels.bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_out", help="folder for results.md, speedups.png")
    parser.add_argument("--only", default=",".join(KERNELS),
                        help="comma-separated subset of " + ",".join(KERNELS))
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("kernels.bench needs a CUDA GPU (the CPU runs the kernels' tests instead: "
              "TRITON_INTERPRET=1 pytest tests/test_kernels_*.py)", file=sys.stderr)
        return 2
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(KERNELS)
    if unknown:
        parser.error(f"--only takes {', '.join(KERNELS)}; got {', '.join(sorted(unknown))}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report, ratios = ["# Kernel benchmarks (python -m kernels.bench)\n", environment()], []
    failed = []
    for name in names:
        module = importlib.import_module(f"kernels.bench.{name}")
        print(f"== {name}: check bf16", flush=True)
        if not module.check("bf16"):
            print(f"{name}: the bf16 check failed; no timings", file=sys.stderr)
            failed.append(name)
            report.append(f"\n## {name}\n\nThe bf16 check failed: not timed.\n")
            (out / "results.md").write_text("".join(report))
            continue
        print(f"== {name}: bench", flush=True)
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            module.bench()
        text = captured.getvalue()
        print(text, flush=True)
        report.append(f"\n## {name}\n\n{text}")
        for rows in tables(text):
            ratios += speedups(name, rows)
        (out / "results.md").write_text("".join(report))
    written = [out / "results.md"]
    try:
        if ratios:
            plot(ratios, out / "speedups.png", torch.cuda.get_device_name(0) + ", bf16")
            written.append(out / "speedups.png")
    except ImportError as err:  # the tables are the result; the plot is a convenience
        print(f"no plot: {err}", file=sys.stderr)
    print("wrote " + ", ".join(map(str, written)))
    if failed:
        print(f"the bf16 check failed for {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


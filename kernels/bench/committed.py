"""The committed GPU results, read back: the tables of ``kernels/BENCHMARKS.md`` by section.

Where there is no GPU, the lessons show these figures instead of timing the kernels, labelled
as measured on the GPU the file names (``gpu()``). ``section(title)`` is the first table under
the heading ``## title``, its rows as dicts {column: cell} of strings; ``number("92.0%")`` is
92.0 (a trailing % or x dropped). The two roofs a lesson draws come from the same tables: the
bandwidth of the plain copy timed beside each temporal row (``copy_bandwidth``) and the rate
of the large bf16 matrix product timed beside each spatial row (``gemm_rate``).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from kernels.bench.run import tables

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def sections(text: str) -> dict[str, list[dict[str, str]]]:
    """{heading: rows of the first table under it} for each ``## heading`` of a markdown text
    with a table before the next heading."""
    bodies: dict[str, list[str]] = {}
    title = None
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
            bodies[title] = []
        elif title is not None:
            bodies[title].append(line)
    found = {}
    for title, lines in bodies.items():
        rows = tables("\n".join(lines))
        if rows:
            found[title] = rows[0]
    return found


def section(title: str, path: str | Path = BENCHMARKS) -> list[dict[str, str]]:
    """The rows of the table under ``## title`` in the benchmark file at ``path``."""
    found = sections(Path(path).read_text())
    if title not in found:
        raise KeyError(f"{path} has no table under '## {title}'; its tables: {list(found)}")
    return found[title]


def gpu(path: str | Path = BENCHMARKS) -> str:
    """The GPU the committed figures were measured on, as the file's ``- GPU:`` line names it
    (without the driver)."""
    for line in Path(path).read_text().splitlines():
        if line.startswith("- GPU: "):
            return line[len("- GPU: "):].split(", driver")[0]
    raise ValueError(f"{path} names no GPU (a line '- GPU: ...')")


def number(cell: str) -> float:
    """A table cell as a number: "0.203" -> 0.203, "89.1%" -> 89.1, "6.96x" -> 6.96."""
    return float(cell.strip().rstrip("%x"))


def copy_bandwidth(path: str | Path = BENCHMARKS) -> float:
    """Bytes per second of the plain device copy the temporal benchmark measured: the median
    over the rows of ``## Temporal attention`` of GB/s divided by the share of the copy."""
    rows = section("Temporal attention", path)
    return 1e9 * statistics.median(number(r["GB/s"]) / number(r["% copy BW"]) * 100
                                   for r in rows)


def gemm_rate(path: str | Path = BENCHMARKS) -> float:
    """FLOP per second of the large bf16 matrix product the spatial benchmark measured: the
    median over the rows of ``## Spatial attention`` of TFLOP/s divided by the share of it."""
    rows = section("Spatial attention", path)
    return 1e12 * statistics.median(number(r["TFLOP/s"]) / number(r["% GEMM peak"]) * 100
                                    for r in rows)

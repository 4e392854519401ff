"""Small calls timed under two source trees in one GPU session: did a change slow them?

    python -m kernels.bench.ab TREE_A TREE_B [--rounds 3] [--ops temporal,spatial] [--out FILE]

A tree is a folder holding a ``kernels`` and a ``vdlite`` package (a checkout of any commit,
e.g. ``git worktree add /tmp/old COMMIT``). Each round starts one child process per tree,
in alternating order (A, B, then B, A, ...), with only that tree on ``PYTHONPATH``; the child
times the same calls with the same inputs and prints them as JSON. The table gives each
call's median over rounds per tree and the ratio B / A, so a machine that is slower or
faster for a while shows in both trees, not as a difference between them.

What each child measures, bf16, for temporal attention at [2, 8, 1024, 8, 64] and
[1, 8, 4096, 8, 64] and spatial attention at [2, 8, 1024, 8, 64] (calls of 0.03-0.4 ms, where
host work can be as long as the kernels):

- ``fwd`` / ``fwd+bwd``: CUDA-event time of one call (``kernels.bench.timeit``: median of 30);
- ``host fwd`` / ``host fwd+bwd``: host time per call, 200 calls back to back without a
  synchronisation, after which the GPU is waited for (the wall time the CPU spends per call);
- ``launches``: CUDA kernels one fwd+bwd launches (from the profiler), so an extra copy or
  fill shows up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SHAPES = {"temporal": [(2, 8, 1024, 8, 64), (1, 8, 4096, 8, 64)],
          "spatial": [(2, 8, 1024, 8, 64)]}


def child(ops: str | None = None) -> dict[str, float]:
    """Time every call of `ops` (comma-separated names of SHAPES; by default $AB_OPS, else all)
    under the ``kernels`` found on sys.path (run in a child process)."""
    import time

    import torch

    import kernels

    def host_per_call(fn, n=200):
        for _ in range(10):
            fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) / n * 1e3  # ms

    def event_time(fn, warmup=5, reps=30):  # kernels.bench.timeit, which an old tree lacks
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        pairs = []
        for _ in range(reps):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            pairs.append((s, e))
        torch.cuda.synchronize()
        return statistics.median(s.elapsed_time(e) for s, e in pairs)

    def launches(fn):
        from torch.profiler import ProfilerActivity, profile

        fn()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
        return sum(e.count for e in prof.key_averages() if e.device_type.name == "CUDA")

    out = {}
    gen = torch.Generator(device="cuda").manual_seed(0)
    chosen = (ops or os.environ.get("AB_OPS") or ",".join(SHAPES)).split(",")
    for op, shapes in SHAPES.items():
        if op not in chosen:
            continue
        fn = getattr(kernels, f"{op}_attention")
        for shape in shapes:
            q, k, v, do = [torch.randn(shape, device="cuda", dtype=torch.bfloat16, generator=gen)
                           for _ in range(4)]
            leaves = [x.clone().requires_grad_() for x in (q, k, v)]
            with torch.no_grad():
                fwd = lambda: fn(q, k, v)  # noqa: E731
                out[f"{op} {list(shape)} fwd"] = event_time(fwd)
                out[f"{op} {list(shape)} host fwd"] = host_per_call(fwd)
            both = lambda: torch.autograd.grad(fn(*leaves), leaves, do)  # noqa: E731, B023
            out[f"{op} {list(shape)} fwd+bwd"] = event_time(both)
            out[f"{op} {list(shape)} host fwd+bwd"] = host_per_call(both)
            try:
                out[f"{op} {list(shape)} launches"] = float(launches(both))
            except Exception:  # the profiler is a convenience here
                out[f"{op} {list(shape)} launches"] = float("nan")
    return out


def run_tree(tree: Path, ops: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree), AB_OPS=ops)
    done = subprocess.run([sys.executable, "-c",
                           "import json, kernels.bench.ab as ab; print(json.dumps(ab.child()))"
                           if (tree / "kernels" / "bench" / "ab.py").is_file() else
                           CHILD_FROM_FILE.format(path=str(Path(__file__).resolve()))],
                          env=env, capture_output=True, text=True, cwd=tree)
    if done.returncode:
        raise RuntimeError(f"{tree}: child failed\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# A tree from before this script existed runs this file's `child` with its own `kernels`.
CHILD_FROM_FILE = ("import importlib.util, json; "
                   "s = importlib.util.spec_from_file_location('ab', {path!r}); "
                   "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
                   "print(json.dumps(m.child()))")


def table(results: dict[str, list[dict[str, float]]], names: list[str]) -> str:
    a, b = names
    keys = list(results[a][0])
    lines = [f"| call | {a} | {b} | {b} / {a} |", "|---|---|---|---|"]
    for key in keys:
        ma = statistics.median(r[key] for r in results[a])
        mb = statistics.median(r[key] for r in results[b])
        unit = "" if key.endswith("launches") else " ms"
        lines.append(f"| {key} | {ma:.4g}{unit} | {mb:.4g}{unit} | {mb / ma:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernels.bench.ab",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs=2, type=Path, help="two folders with kernels/ and vdlite/")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ops", default=",".join(SHAPES),
                        help="comma-separated subset of " + ",".join(SHAPES))
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    for tree in args.trees:
        if not (tree / "kernels" / "__init__.py").is_file():
            parser.error(f"{tree} has no kernels/__init__.py: give a checkout's root folder")
    unknown = set(args.ops.split(",")) - set(SHAPES)
    if unknown:
        parser.error(f"--ops takes {', '.join(SHAPES)}; got {', '.join(sorted(unknown))}")
    names = [str(t) for t in args.trees]
    results: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for r in range(args.rounds):
        order = list(zip(names, args.trees, strict=True))
        for name, tree in order if r % 2 == 0 else order[::-1]:
            results[name].append(run_tree(tree.resolve(), args.ops))
            print(f"round {r + 1}/{args.rounds}: {name} done", file=sys.stderr, flush=True)
    text = table(results, names)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

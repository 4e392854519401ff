"""bf16 autocast against float32 training, measured: `python -m vdlite.precision --out DIR`.

Trains the demo's U-Net preset for `--device` (`demo_config("cpu")` or `demo_config("cuda")`,
its data, `--steps` steps) in each
precision (`TrainConfig.precision`) from the same seeds: a seed fixes the initial weights,
the batches and the loss's noise and timesteps, so for one seed the two runs differ only by
bf16's rounding. The final loss is the mean of the last `--last` steps' losses (as the demo
reports it). The noise a difference must be read against is the spread of that final loss
over seeds (its standard deviation): two fp32 runs that differ only in their seed already
disagree by about that much. Writes DIR/results.json (every run's losses) and DIR/results.md.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch

from vdlite.checkpoint import atomic_write_text
from vdlite.data import MovingSprites
from vdlite.demo import demo_config
from vdlite.seams import mean_interval
from vdlite.train import PRECISIONS, clip_batches, train

WINDOW = 25  # steps per window when two loss curves are compared along the run


def run(precision: str, seed: int, steps: int, device: str = "cpu") -> dict:
    """One training run of the demo's preset: {"precision", "seed", "losses", "seconds"}."""
    cfg = demo_config(device, steps, seed, precision=precision)
    data = MovingSprites(num_clips=100_000, frames=cfg.frames, size=cfg.size, sprites=1,
                         background="plain", seed=seed)
    start = time.perf_counter()
    _, losses = train(cfg, clip_batches(data, cfg.batch, seed), device, progress=False)
    return {"precision": precision, "seed": seed, "losses": losses,
            "seconds": round(time.perf_counter() - start, 2)}


def summarise(runs: list[dict], last: int) -> dict:
    """Final loss (mean of the last `last` steps) per run; per precision its mean, standard
    deviation over seeds (the noise) and 90% Student-t interval; the paired differences
    bf16 - fp32 (same seed) with their interval; and per seed the largest difference between
    the two curves' means over windows of WINDOW steps."""
    final = {(r["precision"], r["seed"]): sum(r["losses"][-last:]) / last for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    out: dict = {"last": last, "seeds": seeds, "precisions": {}}
    for p in PRECISIONS:
        values = [final[p, s] for s in seeds]
        m, low, high = mean_interval(values)
        sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) \
            if len(values) > 1 else math.nan
        out["precisions"][p] = {"final_loss": values, "mean": m, "seed_sd": sd,
                                "low": low, "high": high,
                                "seconds_per_step": sum(r["seconds"] / len(r["losses"])
                                                        for r in runs if r["precision"] == p)
                                / len(seeds)}
    diffs = [final["bf16", s] - final["fp32", s] for s in seeds]
    m, low, high = mean_interval(diffs)
    curves = {(r["precision"], r["seed"]): r["losses"] for r in runs}
    window = []
    for s in seeds:
        a, b = curves["bf16", s], curves["fp32", s]
        window.append(max(abs(sum(a[i:i + WINDOW]) - sum(b[i:i + WINDOW])) / len(a[i:i + WINDOW])
                          for i in range(0, len(a), WINDOW)))
    noise = out["precisions"]["fp32"]["seed_sd"]
    out["bf16_minus_fp32"] = {"per_seed": diffs, "mean": m, "low": low, "high": high,
                              "max_window_diff_per_seed": window,
                              "mean_over_noise": abs(m) / noise if noise else math.nan}
    return out


def report(results: dict) -> str:
    """results.md: the table and how to read it."""
    s, p = results["summary"], results["summary"]["precisions"]
    d = s["bf16_minus_fp32"]
    preset = "cuda" if str(results["device"]).startswith("cuda") else "cpu"
    lines = [
        "# bf16 autocast against float32 training",
        "",
        f"The demo's {preset} U-Net preset (`demo_config(\"{preset}\")`), {results['steps']} "
        f"steps, seeds {s['seeds']}, device {results['device']}, {results['threads']} "
        f"thread(s), torch {results['torch']}. Final loss = mean of the last {s['last']} steps' "
        "losses. A seed fixes the initial weights, the batches and the loss's noise, so the "
        "two runs of a seed differ only by bf16's rounding.",
        "",
        "| precision | final loss per seed | mean [90% interval over seeds] | seed sd (the noise) "
        "| s/step |",
        "|---|---|---|---|---|",
    ]
    for name, q in p.items():
        lines.append(f"| {name} | {', '.join(f'{v:.5f}' for v in q['final_loss'])} | "
                     f"{q['mean']:.5f} [{q['low']:.5f}, {q['high']:.5f}] | {q['seed_sd']:.5f} | "
                     f"{q['seconds_per_step']:.3f} |")
    lines += [
        "",
        f"bf16 - fp32, same seed: {', '.join(f'{v:+.5f}' for v in d['per_seed'])}; mean "
        f"{d['mean']:+.5f} [90% interval {d['low']:+.5f}, {d['high']:+.5f}], "
        f"{d['mean_over_noise']:.2f} of the fp32 seed sd. Largest gap between the two curves' "
        f"means over {WINDOW}-step windows, per seed: "
        f"{', '.join(f'{v:.5f}' for v in d['max_window_diff_per_seed'])}.",
        "",
        verdict(s),
        "",
        "Seconds per step are for this machine's CPU (one thread) and say nothing about a GPU. "
        "CPU autocast also runs GroupNorm on bf16 activations where CUDA autocast runs it in "
        "float32, so a GPU's gap need not be this one.",
        "",
        f"Reproduce: `{results['command']}`",
        "",
    ]
    return "\n".join(lines)


def verdict(summary: dict) -> str:
    """One sentence: within noise when the 90% interval of bf16 - fp32 holds 0, otherwise a
    gap; with its size against the fp32 loss and the fp32 seed spread."""
    d, fp32 = summary["bf16_minus_fp32"], summary["precisions"]["fp32"]
    size = (f"mean {d['mean']:+.5f}: {100 * d['mean'] / fp32['mean']:+.1f}% of the fp32 loss, "
            f"{d['mean_over_noise']:.1f} times its seed sd")
    if d["low"] <= 0 <= d["high"]:
        return f"Within noise: the 90% interval of bf16 - fp32 holds 0 ({size})."
    side = "above" if d["low"] > 0 else "below"
    return (f"Not within noise at this length: the 90% interval of bf16 - fp32 excludes 0, "
            f"bf16 ending {side} fp32 ({size}).")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--last", type=int, default=50, help="steps averaged for the final loss")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in args.seeds:
        for precision in PRECISIONS:
            runs.append(run(precision, seed, args.steps, args.device))
            print(f"seed {seed} {precision}: final loss "
                  f"{sum(runs[-1]['losses'][-args.last:]) / args.last:.5f} "
                  f"({runs[-1]['seconds']} s)", flush=True)
    command = (f"OMP_NUM_THREADS={torch.get_num_threads()} python -m vdlite.precision --steps "
               f"{args.steps} --last {args.last} --seeds {' '.join(map(str, args.seeds))} "
               f"--device {args.device} --out {args.out}")
    results = {"command": command, "steps": args.steps, "device": args.device,
               "threads": torch.get_num_threads(), "torch": torch.__version__,
               "platform": platform.platform(), "date": time.strftime("%Y-%m-%d"),
               "config": {k: v for k, v in asdict(demo_config(args.device, args.steps)).items()
                          if k not in ("precision", "seed")},  # each run's are its own
               "summary": summarise(runs, args.last), "runs": runs}
    atomic_write_text(json.dumps(results, indent=2), out / "results.json")
    atomic_write_text(report(results), out / "results.md")
    print((out / "results.md").read_text())


if __name__ == "__main__":
    main()

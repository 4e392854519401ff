"""Scenario 1 of the syllabus, measured for the shipped DiT presets (lessons 03 and 07b).

"The frames flicker as if they never talked to each other": is temporal attention what stops
it? For each seed, train the preset's video DiT on sprites over static textured backgrounds,
then sample the same noise with and without its temporal attention
(`vdlite.demo.flicker_scenario`) and compare the two sets clip by clip (`compare_clips`, 90%
bootstrap intervals over clips). Across seeds, each figure's difference (with - without) is
summarised by its mean and a 90% Student-t interval over seeds (`vdlite.seams.mean_interval`).

The figures: `warping_error` charges what changes along the motion (a shimmering
background, a sprite that changes as it moves) and not the motion itself, but is blind to a
lost sprite; `flicker`, the raw change between frames, also charges real motion, so a model
that blurs or drops its sprite scores well on it; `missing_frames` and `path_residual` say
whether the sprite is there and on its path. Measured for `cpu-dit` (lessons/measured/
flicker_cpu_dit, 3 seeds): flicker and acceleration favour the clips without temporal
attention in every seed (they are nearly black), the warping error favours temporal attention
in two seeds of three, and the sprite's path favours it in all three: no one figure settles
the scenario.

    python -m vdlite.flicker --preset cpu-dit --seeds 0 1 2 --out DIR [--device cuda] [--resume]

writes DIR/results.json (every seed's figures and paired intervals), DIR/results.md (the
table) and DIR/clips.png (the first seed's first clips, with and without, frame by frame).
With --resume, the seeds already in DIR/results.json (same preset, samples and sample steps)
are kept and not run again, so a study can be spread over several calls.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch

from vdlite.backend import backend
from vdlite.checkpoint import atomic_write_text
from vdlite.data import MovingSprites
from vdlite.demo import PAIRED_FIGURES, demo_config, demo_report, flicker_scenario
from vdlite.seams import mean_interval
from vdlite.train import Timer, clip_batches, train
from vdlite.video_io import tile_videos


def run_seed(preset: str, seed: int, device: str, samples: int, sample_steps: int,
             steps: int | None = None, progress: bool = True) -> dict:
    """Train the preset's video DiT with `seed` and run the scenario on `samples` clips.
    Returns {"with", "without", "compare", "real", "train_seconds"} and the clips."""
    cfg = demo_config(device, steps, seed, preset=preset, arch="dit")
    data = MovingSprites(num_clips=100_000, frames=cfg.frames, size=cfg.size, sprites=1,
                         background="textured", seed=seed)
    with Timer() as timer:
        model, _ = train(cfg, clip_batches(data, cfg.batch, seed), device, progress,
                         desc=f"train {preset} seed {seed}")
    result = flicker_scenario(model, cfg, samples, sample_steps, device, seed + 1, progress)
    real = torch.stack([data[len(data) - 1 - i]["video"] for i in range(samples)])
    return {"with": result["with"], "without": result["without"],
            "compare": result["compare"], "real": demo_report(real),
            "train_seconds": round(timer.seconds, 1), "config": asdict(cfg),
            "clips": result["clips"]}


def figures_of(runs: list[dict]) -> list[str]:
    """The paired figures every run measured (runs kept by --resume from before a figure was
    added lack it)."""
    return [n for n in PAIRED_FIGURES if all(n in r["compare"] for r in runs)]


def summarise(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Per figure that every run has (`figures_of`), over seeds: mean with, mean without, and
    the mean difference (with - without) with its 90% Student-t interval over seeds."""
    out = {}
    for name in figures_of(runs):
        diffs = [r["compare"][name]["diff"] for r in runs]
        mean, low, high = mean_interval(diffs)
        out[name] = {"with": sum(r["with"][name] for r in runs) / len(runs),
                     "without": sum(r["without"][name] for r in runs) / len(runs),
                     "real": sum(r["real"][name] for r in runs) / len(runs),
                     "diff": mean, "low": low, "high": high}
    return out


def report(preset: str, runs: list[dict], summary: dict, samples: int, device: str) -> str:
    """results.md: the summary table and each seed's paired intervals."""
    lines = [f"# Scenario 1, preset `{preset}`: temporal attention on and off",
             "",
             f"{len(runs)} seeds, {samples} clips per model and seed (the same noise with and "
             f"without), sprites over static textured backgrounds, device {device}. Lower is "
             "better. `diff` = with - without: mean over seeds and 90% Student-t interval "
             "over seeds.",
             "",
             "| figure | real clips | with | without | diff [90% interval over seeds] |",
             "|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['real']:.4g} | {s['with']:.4g} | {s['without']:.4g} | "
                     f"{s['diff']:+.4g} [{s['low']:+.4g}, {s['high']:+.4g}] |")
    lines += ["", "Per seed, with - without and its 90% bootstrap interval over clip pairs:", "",
              "| seed | " + " | ".join(figures_of(runs)) + " |",
              "|---|" + "---|" * len(figures_of(runs))]
    for r in runs:
        cells = [f"{r['compare'][k]['diff']:+.4g} [{r['compare'][k]['low']:+.4g}, "
                 f"{r['compare'][k]['high']:+.4g}]" for k in figures_of(runs)]
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def save_clips_figure(clips: dict[str, torch.Tensor], path: Path, n: int = 4) -> None:
    """A PNG: the first `n` clips with temporal attention (top rows) and without (bottom),
    all frames side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for name in ("with", "without"):
        video = clips[name][:n]  # [n, 3, T, H, W]
        frames = video.permute(0, 2, 1, 3, 4)  # [n, T, 3, H, W]
        rows.append(tile_videos(frames.flatten(0, 1)[:, :, None], ncols=video.shape[2]))
    fig, axes = plt.subplots(2, 1, figsize=(10, 6))
    for ax, image, name in zip(axes, rows, ("with temporal attention", "without"), strict=True):
        ax.imshow(((image[:, 0].permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
        ax.set_title(f"{name}: {n} clips, frames left to right", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu-dit", choices=("cpu-dit", "cuda-dit"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", required=True)
    parser.add_argument("--resume", action="store_true",
                        help="keep the seeds already in OUT/results.json and run the others")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = earlier_runs(out / "results.json", args) if args.resume else []
    clips = None
    for seed in args.seeds:  # the files are rewritten after every seed, so a cut run keeps some
        if any(r["seed"] == seed for r in runs):
            continue
        run = run_seed(args.preset, seed, args.device, args.samples, args.sample_steps,
                       args.steps)
        run["seed"] = seed
        clips = clips or run["clips"]
        runs.append({k: v for k, v in run.items() if k != "clips"})
        write_results(out, args, runs, clips)
    print((out / "results.md").read_text())


def earlier_runs(path: Path, args: argparse.Namespace) -> list[dict]:
    """The runs stored in `path` by an earlier call with the same preset, samples and sample
    steps ([] if there is no such file); a file from a different study is an error."""
    if not path.is_file():
        return []
    stored = json.loads(path.read_text())
    for key in ("preset", "samples", "sample_steps"):
        if stored[key] != getattr(args, key):
            raise SystemExit(f"--resume: {path} has {key}={stored[key]!r}, this call "
                             f"{getattr(args, key)!r}; use another --out")
    return stored["runs"]


def write_results(out: Path, args: argparse.Namespace, runs: list[dict],
                  clips: dict[str, torch.Tensor] | None) -> None:
    """results.json, results.md and, when this call ran a seed, clips.png (of the first seed
    it ran) for the seeds run so far."""
    summary = summarise(runs)
    results = {"preset": args.preset, "device": args.device, "samples": args.samples,
               "sample_steps": args.sample_steps, "runs": runs, "summary": summary,
               "backend": backend() or "default", "torch": torch.__version__,
               "platform": platform.platform(),
               "date": time.strftime("%Y-%m-%d")}
    if torch.cuda.is_available() and args.device.startswith("cuda"):
        results["gpu"] = torch.cuda.get_device_name()
    atomic_write_text(json.dumps(results, indent=2), out / "results.json")
    atomic_write_text(report(args.preset, runs, summary, args.samples, args.device),
                      out / "results.md")
    if clips is not None:
        save_clips_figure(clips, out / "clips.png")


if __name__ == "__main__":
    main()

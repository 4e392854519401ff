"""Does a training recipe keep its sprites? The demo's claim judged over training seeds.

    python -m vdlite.recipe --preset cpu --seeds 0 1 2 3 --out DIR [--set KEY=VALUE ...]
                            [--device cuda] [--jobs 2] [--resume]

For each seed, run the demo (`vdlite.demo.run_demo`: the video model and the frame-by-frame
model trained on the same clips, 64 clips sampled from the same noise) with the preset and the
`--set` overrides (any `TrainConfig` field, e.g. `--set lr=5e-4 --set steps=800`), into
DIR/seed-N/, and read its clip-by-clip comparison of the two models (`video_vs_frame`: 90%
bootstrap intervals over clip pairs). Each figure's verdict for a seed: "better" where the
interval of video - frame lies wholly below 0, "worse" wholly above, "tie" otherwise.

The targets a recipe must meet in every seed (`TARGETS`, `meets_targets`): no figure worse;
better on background change, colour drift and shape error; the video model's sprite missing
in at most 5% of its frames. DIR/results.md has one row per seed with each figure's verdict
and whether the targets hold, then each figure's difference averaged over seeds with a 90%
Student-t interval over seeds (`vdlite.seams.mean_interval`); DIR/results.json has it all, and
DIR/clips.png shows two of the video model's clips from each seed.

With --resume, a seed whose DIR/seed-N/metrics.json was made with the same configuration is
read back, not run again; a folder made with another configuration is an error (use another
--out), so nothing is overwritten. --jobs N runs N seeds at once, each on one CPU thread.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, fields
from multiprocessing import get_context
from pathlib import Path

from vdlite.seams import mean_interval

# The figures a recipe must win outright, and the most of its frames that may lack a sprite.
MUST_WIN = ("background_change", "colour_drift", "shape_error")
MAX_MISSING = 0.05
TARGETS = (f"no figure worse; better on {', '.join(MUST_WIN)}; "
           f"sprite missing in <= {MAX_MISSING:.0%} of the video model's frames")


def verdict(r: dict[str, float]) -> str:
    """"better" (interval of video - frame wholly below 0), "worse" (wholly above), "tie"."""
    return "better" if r["high"] < 0 else "worse" if r["low"] > 0 else "tie"


def meets_targets(metrics: dict) -> tuple[bool, list[str]]:
    """Whether one seed's demo results (metrics.json) meet TARGETS, and the reasons if not."""
    paired = metrics["video_vs_frame"]
    failures = [f"{k} worse" for k, r in paired.items() if verdict(r) == "worse"]
    failures += [f"{k} not better" for k in MUST_WIN
                 if k in paired and verdict(paired[k]) == "tie"]
    failures += [f"{k} not measured" for k in MUST_WIN if k not in paired]
    missing = metrics["metrics"]["video_model"]["missing_frames"]
    if missing > MAX_MISSING:
        failures.append(f"sprite missing in {missing:.1%} of frames")
    return not failures, failures


def parse_overrides(pairs: list[str]) -> dict:
    """`KEY=VALUE` strings to TrainConfig overrides; values read as Python literals (numbers,
    tuples, booleans) or else kept as strings. Unknown keys are an error naming the fields."""
    from vdlite.train import TrainConfig

    names = {f.name for f in fields(TrainConfig)} - {"mode", "seed", "arch"}
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {pair!r}")
        if key not in names:
            raise ValueError(f"--set {key}: not a TrainConfig field; one of {sorted(names)}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def demo_arguments(preset: str, overrides: dict) -> tuple[int | None, dict]:
    """(steps, keywords) for `demo_config` / `run_demo`: the preset, its architecture and the
    overrides, with `steps` apart (both take it as a positional argument)."""
    from vdlite.demo import PRESETS

    rest = {k: v for k, v in overrides.items() if k != "steps"}
    return overrides.get("steps"), dict(rest, preset=preset,
                                        arch=PRESETS[preset].get("arch", "unet"))


def seed_config(preset: str, seed: int, device: str, overrides: dict) -> dict:
    """The demo's video-model configuration for this seed, as metrics.json stores it."""
    from vdlite.demo import demo_config

    steps, keywords = demo_arguments(preset, overrides)
    return asdict(demo_config(device, steps, seed, **keywords))


def run_seed(preset: str, seed: int, device: str, overrides: dict, folder: Path,
             threads: int | None = None, progress: bool = False, samples: int = 64,
             sample_steps: int = 50) -> dict:
    """One seed's demo into `folder` (`samples` clips per model, `sample_steps` DDIM steps);
    returns its metrics.json."""
    import torch

    from vdlite.demo import run_demo

    if threads is not None:
        torch.set_num_threads(threads)
    steps, keywords = demo_arguments(preset, overrides)
    return run_demo(folder, steps, device, seed, samples, sample_steps, progress=progress,
                    **keywords)


def stored(folder: Path, config: dict, samples: int = 64, sample_steps: int = 50) -> dict | None:
    """A seed folder's metrics.json if it was made with `config`, `samples` clips and
    `sample_steps`; None if there is none; an error if it was made otherwise."""
    path = folder / "metrics.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    made = {**metrics["config"], "samples": metrics["num_samples"],
            "sample_steps": metrics["sample_steps"]}
    config = json.loads(json.dumps({**config, "samples": samples,  # tuples as JSON lists
                                    "sample_steps": sample_steps}))
    if made != config:
        changed = sorted(k for k in config if made.get(k) != config[k])
        raise SystemExit(f"--resume: {path} was made with another configuration (differs in "
                         f"{changed}); use another --out")
    return metrics


def summary(runs: dict[int, dict]) -> dict[str, dict]:
    """Per figure, over seeds: the mean of video - frame and its 90% t interval over seeds,
    and the verdicts' counts."""
    out = {}
    names = [n for n in next(iter(runs.values()))["video_vs_frame"]
             if all(n in r["video_vs_frame"] for r in runs.values())]
    for name in names:
        diffs = [r["video_vs_frame"][name]["diff"] for r in runs.values()]
        mean, low, high = mean_interval(diffs)
        verdicts = [verdict(r["video_vs_frame"][name]) for r in runs.values()]
        out[name] = {"diff": mean, "low": low, "high": high,
                     **{v: verdicts.count(v) for v in ("better", "tie", "worse")}}
    return out


def report(preset: str, overrides: dict, runs: dict[int, dict]) -> str:
    """results.md: a row of verdicts per seed, then the figures averaged over seeds."""
    names = list(summary(runs))
    mark = {"better": "better", "tie": "tie", "worse": "**worse**"}
    sets = " ".join(f"--set {k}={v!r}" for k, v in overrides.items()) or "(the preset as is)"
    pairs = next(iter(runs.values()))["num_samples"]
    lines = [f"# Recipe `{preset}` {sets}", "",
             f"{len(runs)} seeds; each the demo's video model against its frame-by-frame model "
             f"on {pairs} clip pairs from the same noise. Verdict of video - frame per figure "
             f"(90% bootstrap interval over clip pairs; lower is better). Targets: {TARGETS}.",
             "",
             "| seed | targets | missing frames (video / frame) | " + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    for seed, m in sorted(runs.items()):
        ok, why = meets_targets(m)
        miss = (m["metrics"]["video_model"]["missing_frames"],
                m["metrics"]["frame_by_frame"]["missing_frames"])
        cells = [mark[verdict(m["video_vs_frame"][n])] for n in names]
        lines.append(f"| {seed} | {'met' if ok else 'missed: ' + '; '.join(why)} | "
                     f"{miss[0]:.3f} / {miss[1]:.3f} | " + " | ".join(cells) + " |")
    lines += ["", "Over seeds: mean of video - frame [90% Student-t interval over seeds] and "
              "the verdicts' counts (better / tie / worse):", "",
              "| figure | video - frame | better / tie / worse |", "|---|---|---|"]
    for name, s in summary(runs).items():
        lines.append(f"| {name} | {s['diff']:+.4g} [{s['low']:+.4g}, {s['high']:+.4g}] | "
                     f"{s['better']} / {s['tie']} / {s['worse']} |")
    return "\n".join(lines) + "\n"


def save_strip(out: Path, seeds: list[int], n: int = 2) -> None:
    """DIR/clips.png: the video model's first `n` clips of each seed (from seed-N/
    video_samples.pt), one row a clip, frames left to right."""
    import matplotlib
    import torch

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(seed, clip) for seed in seeds
            for clip in torch.load(out / f"seed-{seed}" / "video_samples.pt",
                                   weights_only=True)[:n]]
    frames = rows[0][1].shape[1]
    fig, axes = plt.subplots(len(rows), frames, figsize=(frames * 0.6, len(rows) * 0.66),
                             squeeze=False)
    for (seed, clip), line in zip(rows, axes, strict=True):
        for t, ax in enumerate(line):
            ax.imshow(((clip[:, t].permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
        line[0].set_ylabel(f"seed {seed}", fontsize=6)
    fig.suptitle("video model, frames left to right", fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "clips.png", dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from vdlite.checkpoint import atomic_write_text
    from vdlite.demo import PRESETS

    parser = argparse.ArgumentParser(prog="python -m vdlite.recipe",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True, choices=sorted(PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="a TrainConfig field to change (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--samples", type=int, default=64, help="clips per model (default 64)")
    parser.add_argument("--sample-steps", type=int, default=50, help="DDIM steps (default 50)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (one thread each)")
    parser.add_argument("--resume", action="store_true",
                        help="read back seeds already run with the same configuration")
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.overrides)
    except ValueError as err:
        parser.error(str(err))
    for name in ("jobs", "samples", "sample_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    out = Path(args.out)
    runs, todo = {}, []
    for seed in args.seeds:
        folder = out / f"seed-{seed}"
        config = seed_config(args.preset, seed, args.device, overrides)
        found = (stored(folder, config, args.samples, args.sample_steps) if args.resume
                 else None)
        if found is None and (folder / "metrics.json").exists():
            parser.error(f"{folder} holds an earlier run: add --resume, or use another --out")
        if found is None:
            todo.append(seed)
        else:
            runs[seed] = found
    out.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        atomic_write_text(report(args.preset, overrides, runs), out / "results.md")
        atomic_write_text(json.dumps({"preset": args.preset, "overrides": overrides,
                                      "device": args.device, "targets": TARGETS,
                                      "summary": summary(runs),
                                      "runs": {str(s): runs[s] for s in sorted(runs)}},
                                     indent=2), out / "results.json")

    def record(seed: int, metrics: dict) -> None:
        runs[seed] = metrics
        ok, why = meets_targets(metrics)
        print(f"seed {seed}: targets {'met' if ok else 'missed: ' + '; '.join(why)}",
              flush=True)
        write()

    if args.jobs == 1:
        for seed in todo:
            record(seed, run_seed(args.preset, seed, args.device, overrides,
                                  out / f"seed-{seed}", None, True, args.samples,
                                  args.sample_steps))
    else:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_seed, args.preset, seed, args.device, overrides,
                                   out / f"seed-{seed}", 1, False, args.samples,
                                   args.sample_steps): seed for seed in todo}
            for future, seed in futures.items():
                record(seed, future.result())
    if runs:
        write()
        save_strip(out, sorted(runs))
        print((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

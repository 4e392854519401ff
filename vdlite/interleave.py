"""Frame interleaving: train on every k-th frame to see k times further in time (lesson 09a).

A clip of T frames costs the same memory whichever frames it holds. Taking native frames
0, k, 2k, ..., (T-1)k instead of 0, 1, ..., T-1 makes the same T frames span

    (T - 1) k + 1 native frames,

so a model trained on them sees motions k times larger per frame and paths k times longer,
for the memory of T frames. What it never sees is the k - 1 frames between two of its frames:
it learns the long-term motion, not the in-between (a second model, or a stride-1 stage,
fills those in).

`interleave` takes every k-th frame of a clip; `sprite_motion` measures how far the sprite
of a one-sprite clip moves per frame and over the clip. The experiment
(`python -m vdlite.interleave --out DIR`) trains the demo's CPU U-Net preset on clips of
stride 1 and of stride k (same T, same steps, same seeds), samples both, and compares their
motion with that of real clips of each stride.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import Tensor

from vdlite.metrics import _check_video, _sprite_stats, sprite_masks
from vdlite.seams import mean_interval


def native_frames(frames: int, stride: int) -> int:
    """Native frames spanned by `frames` frames taken every `stride`-th: (frames - 1) stride + 1."""
    for name, value in (("frames", frames), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return (frames - 1) * stride + 1


def interleave(video: Tensor, stride: int, frames: int | None = None) -> Tensor:
    """Frames 0, k, 2k, ... of clips: ``[B, C, T, H, W] -> [B, C, frames, H, W]`` (k = stride).

    ``out[:, :, i] = video[:, :, i k]`` for i < frames. `frames` defaults to as many as fit,
    ceil(T / k); asking for more than fit is a ValueError naming the T they need,
    ``native_frames(frames, k)``.
    """
    if not isinstance(video, Tensor) or video.ndim != 5:
        shape = tuple(video.shape) if isinstance(video, Tensor) else type(video).__name__
        raise ValueError(f"video must be clips [B, C, T, H, W], got {shape}")
    t = video.shape[2]
    need = native_frames(frames if frames is not None else 1, stride)
    if frames is None:
        frames = -(-t // stride)
    elif need > t:
        raise ValueError(f"{frames} frames at stride {stride} need a clip of at least {need} "
                         f"frames ((frames - 1) * stride + 1), got T={t}")
    return video[:, :, : native_frames(frames, stride) : stride]


def sprite_motion(video: Tensor, threshold: float = 0.4) -> dict[str, Tensor]:
    """How far the sprite of each one-sprite clip moves: ``{name: [B]}``, NaN where unmeasured.

    With c_t the sprite's centroid in frame t (`vdlite.metrics`' masks; frames where it is not
    found are left out), over the pairs (t, t+1) found in both frames:

        step   = mean_t |c_{t+1} - c_t|         pixels per frame
        path   = (T - 1) step                    pixels covered over the clip
        extent = max_{t, t'} |c_t - c_t'|        the farthest apart two of its positions lie
        found  = the fraction of frames in which a sprite is found

    A clip of stride k moves k times as far per frame as its stride-1 clip, a little less
    where the sprite bounces off a wall between two of its frames. video: [B, 3, T, H, W].
    """
    _check_video(video)
    _, _, centroid, present = _sprite_stats(video, sprite_masks(video, threshold))  # [B, T, 2]
    both = present[:, 1:] & present[:, :-1]  # [B, T-1]
    jumps = (centroid[:, 1:] - centroid[:, :-1]).norm(dim=-1)  # [B, T-1]
    step = (jumps * both).sum(1) / both.sum(1)  # NaN where no pair is found
    far = (centroid[:, :, None] - centroid[:, None]).norm(dim=-1)  # [B, T, T]
    pairs = present[:, :, None] & present[:, None]
    extent = torch.where(pairs, far, -1.0).amax(dim=(1, 2))
    extent = torch.where(present.sum(1) >= 2, extent, torch.nan)
    return {"step": step.float(), "path": (step * (video.shape[2] - 1)).float(),
            "extent": extent.float(), "found": present.float().mean(1)}


FIGURES = ("step", "path", "extent", "found")


def summarise(values: Tensor) -> dict:
    """Mean and 90% interval over clips (Student-t; NaN clips left out) of one figure."""
    kept = values[~values.isnan()].tolist()
    m, low, high = mean_interval(kept) if kept else (float("nan"),) * 3
    return {"mean": m, "low": low, "high": high, "clips": len(kept)}


def real_clips(stride: int, frames: int, size: int, num: int, seed: int) -> Tensor:
    """`num` held-out real clips of the experiment's data at `stride`: [num, 3, T, H, W]."""
    from vdlite.data import MovingSprites

    data = MovingSprites(num_clips=100_000, frames=frames, size=size, sprites=1,
                         background="plain", stride=stride, seed=seed)
    return torch.stack([data[len(data) - 1 - i]["video"] for i in range(num)])


def run(stride: int, seed: int, steps: int | None, samples: int, sample_steps: int,
        device: str = "cpu", progress: bool = True) -> dict:
    """Train the demo's U-Net preset on clips of `stride` (same frames T), sample `samples`
    clips and measure them and `samples` real clips of that stride: {"stride", "seed",
    "seconds", "final_loss", "model": {figure: [per clip]}, "real": {...}, and the first
    sampled and real clip as uint8 frames [T, H, W, 3] ("clips", "real_clips")}."""
    from vdlite.data import MovingSprites, to_uint8
    from vdlite.demo import demo_config
    from vdlite.train import clip_batches, sample, train

    cfg = demo_config(device, steps, seed)
    data = MovingSprites(num_clips=100_000, frames=cfg.frames, size=cfg.size, sprites=1,
                         background="plain", stride=stride, seed=seed)
    start = time.perf_counter()
    model, losses = train(cfg, clip_batches(data, cfg.batch, seed), device, progress,
                          desc=f"stride {stride}, seed {seed}")
    clips = sample(model, cfg, samples, sample_steps, device, seed + 1, progress=progress).cpu()
    real = real_clips(stride, cfg.frames, cfg.size, samples, seed)
    return {"stride": stride, "seed": seed, "seconds": round(time.perf_counter() - start, 1),
            "final_loss": sum(losses[-50:]) / len(losses[-50:]),
            "model": {k: v.tolist() for k, v in sprite_motion(clips).items()},
            "real": {k: v.tolist() for k, v in sprite_motion(real).items()},
            "clips": to_uint8(clips[0]), "real_clips": to_uint8(real[0]), "config": asdict(cfg)}


def report(results: dict) -> str:
    """results.md: per stride and seed, the motion of real and sampled clips."""
    k = results["stride"]
    lines = [
        f"# Frame interleaving: stride 1 against stride {k}",
        "",
        f"The demo's CPU U-Net preset (`demo_config(\"cpu\")`), {results['steps']} steps, "
        f"T = {results['frames']} frames per clip either way, seeds {results['seeds']}, "
        f"{results['samples']} sampled clips per model and as many held-out real clips per "
        f"stride, {results['sample_steps']} DDIM steps, device {results['device']}. Stride "
        f"{k}'s T frames span {results['native_frames'][str(k)]} native frames, stride 1's "
        f"{results['native_frames']['1']}. Means over clips with a 90% interval over clips.",
        "",
        "| stride | seed | clips | step (px/frame) | path (px/clip) | extent (px) "
        "| frames with a sprite |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in results["table"]:
        cells = [f"{row[f]['mean']:.2f} [{row[f]['low']:.2f}, {row[f]['high']:.2f}]"
                 for f in FIGURES]
        lines.append(f"| {row['stride']} | {row['seed']} | {row['what']} ({row['step']['clips']}) "
                     f"| {' | '.join(cells)} |")
    lines += ["", "Ratio of stride-k to stride-1 per-frame step (means over clips):", ""]
    for name, value in results["step_ratio"].items():
        lines.append(f"- {name}: {value:.2f}")
    lines += ["", f"Reproduce: `{results['command']}`", ""]
    return "\n".join(lines)


def plot(results: dict, runs: list[dict], path: Path) -> None:
    """Left: per-frame step and path of real and sampled clips per stride, with intervals.
    Right: the first frames of real and sampled clips of each stride, one row each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw={"width_ratios": [1, 1, 2]})
    for ax, figure in zip(axes[:2], ("step", "path"), strict=True):
        rows = results["table"]
        labels = [f"{r['what']}\nk={r['stride']} s{r['seed']}" for r in rows]
        means = [r[figure]["mean"] for r in rows]
        errs = [[r[figure]["mean"] - r[figure]["low"] for r in rows],
                [r[figure]["high"] - r[figure]["mean"] for r in rows]]
        colours = ["tab:grey" if r["what"] == "real" else
                   ("tab:blue" if r["stride"] == 1 else "tab:orange") for r in rows]
        ax.bar(range(len(rows)), means, yerr=errs, color=colours, capsize=3)
        ax.set_xticks(range(len(rows)), labels, fontsize=6)
        ax.set_title({"step": "sprite step (px per frame)", "path": "path over the clip (px)"}[
            figure])
    strips = []
    first = {r["stride"]: r for r in runs if r["seed"] == runs[0]["seed"]}
    for r in first.values():
        for frames in (r["real_clips"], r["clips"]):  # uint8 [T, H, W, 3]
            strips.append(np.concatenate(list(frames), axis=1))  # [H, T*W, 3]
    axes[2].imshow(np.concatenate(strips, axis=0))
    axes[2].set_yticks([(i + 0.5) * strips[0].shape[0] for i in range(len(strips))],
                       [f"{w} k={s}" for s in first for w in ("real", "model")])
    axes[2].set_xticks([])
    axes[2].set_title("frame 0 .. T-1 of one clip")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stride", type=int, default=4, help="k, the interleaved stride")
    parser.add_argument("--steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from vdlite.checkpoint import atomic_write_text
    from vdlite.demo import demo_config

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = demo_config(args.device, args.steps)
    runs = [run(s, seed, args.steps, args.samples, args.sample_steps, args.device,
                not args.no_progress) for seed in args.seeds for s in (1, args.stride)]
    table, ratio = [], {}
    for r in runs:
        for what in ("real", "model"):
            table.append({"stride": r["stride"], "seed": r["seed"], "what": what,
                          **{f: summarise(torch.tensor(r[what][f])) for f in FIGURES}})
    for seed in args.seeds:
        by = {(row["what"], row["stride"]): row for row in table if row["seed"] == seed}
        for what in ("real", "model"):
            base = by[what, 1]["step"]["mean"]
            ratio[f"{what}, seed {seed}"] = (by[what, args.stride]["step"]["mean"] / base
                                             if base else float("nan"))
    command = (f"OMP_NUM_THREADS={torch.get_num_threads()} python -m vdlite.interleave "
               f"--stride {args.stride} --seeds {' '.join(map(str, args.seeds))} --samples "
               f"{args.samples} --sample-steps {args.sample_steps}"
               + (f" --steps {args.steps}" if args.steps else "") + f" --out {args.out}")
    results = {"command": command, "stride": args.stride, "steps": cfg.steps,
               "frames": cfg.frames, "seeds": args.seeds, "samples": args.samples,
               "sample_steps": args.sample_steps, "device": args.device,
               "native_frames": {str(s): native_frames(cfg.frames, s) for s in (1, args.stride)},
               "threads": torch.get_num_threads(), "torch": torch.__version__,
               "platform": platform.platform(), "date": time.strftime("%Y-%m-%d"),
               "config": asdict(replace(cfg, seed=0)), "table": table, "step_ratio": ratio,
               "runs": [{k: v for k, v in r.items() if k not in ("clips", "real_clips", "config")}
                        for r in runs]}
    atomic_write_text(json.dumps(results, indent=2), out / "results.json")
    atomic_write_text(report(results), out / "results.md")
    plot(results, runs, out / "motion.png")
    print((out / "results.md").read_text())


if __name__ == "__main__":
    main()

"""Temporal seams of a video VAE, measured while it trains (lesson 06b).

A per-frame VAE (`FrameVAE`) encodes and decodes every frame alone, so nothing keeps its
reconstruction of one frame consistent with the next: where the clip stands still, the
reconstruction can still change. That change is `vdlite.metrics.still_flicker`, zero for the
real clip. The causal VAE reads frames together, so it could keep still parts still; whether
it does is what this module measures (lesson 06b; at the course's sizes, far from moving
objects, it does not, even with `tied_upsample`).

The comparison must be made at the same reconstruction quality: a per-frame VAE that draws
only a blur early in training hardly flickers, and its flicker grows as it learns to draw the
sprites and its PSNR rises (a fresh causal VAE, by contrast, starts out shimmering: the two
halves of each time upsampling are initialised differently). So `seam_study` trains each
kind for several seeds and measures the held-out PSNR and still flicker every `eval_every`
steps; `compare_at_psnr` reads each run's still flicker where its PSNR first reaches given
levels (interpolating linearly between the two evaluations around it), and gives the mean
over seeds with a Student-t interval.

    python -m vdlite.seams --steps 1500 --seeds 0 1 2 --out DIR   # --device cuda on a GPU

writes DIR/results.json (every evaluation), DIR/results.md (the comparison table) and
DIR/seams.png (still flicker against PSNR, one line per run).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from vdlite.data import MovingSprites
from vdlite.metrics import error_flicker, psnr, still_flicker
from vdlite.train import VAEConfig, clip_batches, train_vae

# two-sided 90% Student-t quantiles t_{0.95, df} for df = 1..9 (standard tables); 1.645 beyond
T90 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833)


def held_out_clips(num: int, frames: int, size: int, background: str = "mixed",
                   seed: int = 10_000) -> torch.Tensor:
    """`num` clips [num, 3, frames, size, size] from a dataset seed no training run uses."""
    data = MovingSprites(num_clips=num, frames=frames, size=size, sprites=(1, 3),
                         background=background, seed=seed)
    return torch.stack([data[i]["video"] for i in range(num)])


# pixels kept between a still pixel and anything that moves, for `far_still_flicker`: one
# latent pixel at the course's x4 VAEs, about the width of a blurred sprite's halo
FAR = 4


@torch.no_grad()
def measure(vae: torch.nn.Module, clips: torch.Tensor, per_transition: bool = False) -> dict:
    """PSNR, still flicker (all still pixels, and those at least FAR pixels from anything that
    moves) and error flicker of vae's reconstructions (posterior means)."""
    was_training = vae.training
    vae.eval()
    device = next(vae.parameters()).device
    recon = torch.cat([vae.decode(vae.encode(x.to(device)).mean).float().clamp(-1, 1).cpu()
                       for x in clips.split(16)])
    vae.train(was_training)
    out = {"psnr": psnr(clips, recon), "still_flicker": still_flicker(clips, recon),
           "far_still_flicker": still_flicker(clips, recon, margin=FAR),
           "error_flicker": error_flicker(clips, recon)}
    if per_transition:
        out["still_flicker_per_transition"] = still_flicker(clips, recon, True).tolist()
        out["far_still_flicker_per_transition"] = still_flicker(clips, recon, True,
                                                                FAR).tolist()
    return out


def seam_study(kinds: tuple[str, ...] = ("causal", "frame"), seeds: tuple[int, ...] = (0, 1, 2),
               steps: int = 300, eval_every: int = 50, device: str = "cpu",
               background: str = "mixed", num_eval: int = 32, progress: bool = False,
               **vae_options) -> list[dict]:
    """Train a VAE of each kind for each seed (`VAEConfig(kind, steps, seed, **vae_options)`, on
    sprites over `background`) and measure it on `num_eval` held-out clips every `eval_every`
    steps and at the end. Returns one row per evaluation: kind, seed, step, seconds (training
    time so far) and the figures of `measure` (at the last step with their per-transition
    values too)."""
    if eval_every < 1 or steps < 1:
        raise ValueError(f"steps and eval_every must be >= 1, got {steps} and {eval_every}")
    rows: list[dict] = []
    for kind in kinds:
        for seed in seeds:
            cfg = VAEConfig(kind=kind, steps=steps, seed=seed, **vae_options)
            clips = held_out_clips(num_eval, cfg.frames, cfg.size, background)
            data = MovingSprites(num_clips=100_000, frames=cfg.frames, size=cfg.size,
                                 sprites=(1, 3), background=background, seed=seed)
            start, paused = time.perf_counter(), 0.0

            def on_step(done: int, ema: torch.nn.Module, kind=kind, seed=seed, start=start,
                        clips=clips) -> None:
                nonlocal paused
                if done % eval_every and done != steps:
                    return
                t0 = time.perf_counter()
                figures = measure(ema, clips, per_transition=done == steps)
                rows.append({"kind": kind, "seed": seed, "step": done,
                             "seconds": round(t0 - start - paused, 2), **figures})
                paused += time.perf_counter() - t0

            train_vae(cfg, clip_batches(data, cfg.batch, seed), device, progress,
                      desc=f"{kind} VAE, seed {seed}", on_step=on_step)
    return rows


def _runs(rows: list[dict]) -> dict[tuple[str, int], list[dict]]:
    """The evaluations of each (kind, seed) run, in step order."""
    runs: dict[tuple[str, int], list[dict]] = {}
    for row in sorted(rows, key=lambda r: (r["kind"], r["seed"], r["step"])):
        runs.setdefault((row["kind"], row["seed"]), []).append(row)
    return runs


def _first_reach(run: list[dict], level: float, key: str) -> float:
    """`key` where the run's PSNR first reaches `level`, interpolated linearly between that
    evaluation and the one before; NaN if it never does."""
    for before, after in zip([None, *run[:-1]], run, strict=True):
        if after["psnr"] >= level:
            if before is None or before["psnr"] >= level:
                return after[key]
            w = (level - before["psnr"]) / (after["psnr"] - before["psnr"])
            return before[key] + w * (after[key] - before[key])
    return math.nan


def mean_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 90% Student-t interval (mean ± t·s/√n) of a few values; (m, nan, nan) for one."""
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return m, math.nan, math.nan
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    half = (T90[n - 2] if n - 1 <= len(T90) else 1.645) * s / math.sqrt(n)
    return m, m - half, m + half


def compare_at_psnr(rows: list[dict], levels: list[float] | None = None,
                    key: str = "still_flicker") -> list[dict]:
    """For each PSNR level, each kind's `key` where its runs first reach that level: per-seed
    values, mean and 90% t interval over seeds. By default, five levels evenly spread over the
    range every run reaches (from the highest first evaluation to the lowest best PSNR)."""
    runs = _runs(rows)
    if levels is None:
        low = max(run[0]["psnr"] for run in runs.values())
        high = min(max(r["psnr"] for r in run) for run in runs.values())
        if high <= low:
            return []
        levels = [low + (high - low) * i / 4 for i in range(5)]
    table = []
    for level in levels:
        entry: dict = {"psnr": level}
        for kind in sorted({k for k, _ in runs}):
            values = [_first_reach(run, level, key) for (k, _), run in runs.items() if k == kind]
            values = [v for v in values if not math.isnan(v)]
            entry[kind] = {"values": values, "mean_low_high": mean_interval(values)
                           if values else (math.nan,) * 3}
        table.append(entry)
    return table


def plot_seams(rows: list[dict], path: str | Path, key: str = "still_flicker") -> None:
    """`key` against PSNR along training, one line per run, coloured by kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"causal": "tab:blue", "frame": "tab:orange"}
    fig, ax = plt.subplots(figsize=(6, 4))
    runs = _runs(rows)
    for (kind, seed), run in runs.items():
        ax.plot([r["psnr"] for r in run], [r[key] for r in run], "o-", ms=3,
                color=colours.get(kind, "0.5"), label=f"{kind} VAE" if seed == min(
                    s for k, s in runs if k == kind) else None)
    ax.set_xlabel("held-out PSNR (dB), rising as the VAE trains")
    ax.set_ylabel(f"{key} (lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


TABLES = {"still_flicker": "Still flicker",
          "far_still_flicker": f"Still flicker at least {FAR} pixels from what moves"}


def report(rows: list[dict], header: list[str], tables: dict[str, str] = TABLES) -> str:
    """The study as markdown: how it was run, a comparison table per figure in `tables`
    (compare_at_psnr), and the final evaluations."""
    kinds = sorted({r["kind"] for r in rows})
    lines = list(header)
    for key, title in tables.items():
        lines += ["", f"## {title} at equal PSNR (90% t interval over seeds)", "",
                  "| PSNR (dB) | " + " | ".join(f"{k} VAE" for k in kinds) + " |",
                  "|---|" + "---|" * len(kinds)]
        for entry in compare_at_psnr(rows, key=key):
            cells = []
            for k in kinds:
                m, lo, hi = entry[k]["mean_low_high"]
                cells.append(f"{m:.4f} [{lo:.4f}, {hi:.4f}] (n={len(entry[k]['values'])})")
            lines.append(f"| {entry['psnr']:.2f} | " + " | ".join(cells) + " |")
    lines += ["", "## At the last step", "", "| kind | seed | step | seconds | PSNR | "
              "still flicker | far still flicker | error flicker |",
              "|---|---|---|---|---|---|---|---|"]
    last = {}
    for r in rows:
        last[(r["kind"], r["seed"])] = r
    for r in last.values():
        lines.append(f"| {r['kind']} | {r['seed']} | {r['step']} | {r['seconds']:.0f} | "
                     f"{r['psnr']:.2f} | {r['still_flicker']:.4f} | "
                     f"{r['far_still_flicker']:.4f} | {r['error_flicker']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vdlite.seams", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=VAEConfig.batch)
    parser.add_argument("--lr", type=float, default=VAEConfig.lr)
    parser.add_argument("--background", default="mixed", choices=("plain", "textured", "mixed"))
    parser.add_argument("--num-eval", type=int, default=64)
    parser.add_argument("--tied-upsample", action="store_true",
                        help="start the causal VAE's time upsampling halves equal")
    parser.add_argument("--out", default="out/seams")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = seam_study(seeds=tuple(args.seeds), steps=args.steps, eval_every=args.eval_every,
                      device=args.device, background=args.background, num_eval=args.num_eval,
                      progress=True, batch=args.batch, lr=args.lr,
                      tied_upsample=args.tied_upsample)
    tables = {key: compare_at_psnr(rows, key=key) for key in TABLES}
    device = (torch.cuda.get_device_name() if str(args.device).startswith("cuda")
              else platform.processor() or platform.machine())
    cfg = replace(VAEConfig(), steps=args.steps, batch=args.batch, lr=args.lr,
                  tied_upsample=args.tied_upsample)
    header = ["# Temporal seams: the causal VAE against the per-frame VAE", "",
              f"- command: `python -m vdlite.seams {' '.join(argv or [])}`".rstrip(),
              f"- device: {device}; torch {torch.__version__}; "
              f"date {time.strftime('%Y-%m-%d')}",
              f"- VAEs: {asdict(cfg)} (kind and seed varied); sprites over a "
              f"{args.background} background; {args.num_eval} held-out clips"]
    (out / "results.json").write_text(json.dumps({"rows": rows, "tables": tables}, indent=1))
    (out / "results.md").write_text(report(rows, header))
    plot_seams(rows, out / "seams.png")
    plot_seams(rows, out / "far_seams.png", key="far_still_flicker")
    print((out / "results.md").read_text())


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

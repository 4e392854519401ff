"""Where a training step's memory goes, and what gradient checkpointing buys (lesson 09a).

A training step holds two kinds of memory:

- the state, fixed whatever the clip: the weights, their gradients and Adam's two moments,
  4 copies of the parameters (4 x 4 bytes a parameter in float32);
- the activations autograd saves in the forward pass for the backward pass. Each layer saves
  a few tensors the size of its input or output, [B, C, T, H, W] or [B, T, S, dim], so they
  grow linearly with the frames T (and the batch B and tokens per frame S):

      memory(T) ~ state + a + b T,   b = the bytes a frame costs.

Gradient checkpointing (`UNet3D(gradient_checkpointing=True)`, `VideoDiT(...)`, `vdlite
train --checkpointing`) keeps only each block's input and recomputes the block's activations
in the backward pass: b falls to about one tensor a block, at the price of one more forward
pass. In a budget of M bytes a step fits floor((M - state - a) / b) frames.

`saved_bytes` counts the bytes autograd saves (with `torch.autograd.graph.saved_tensors_hooks`,
each storage once), on any device; `step_memory` adds CUDA's peak allocation on a GPU.
`python -m vdlite.memory` measures the U-Net and the DiT of a preset as T grows, with and
without checkpointing, fits b, and prints the frames each fits in `--budget-gib`;
`python -m vdlite.interleave` is the lesson's other way to see further in time.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import Tensor, nn

GIB = 2**30
ADAM_COPIES = 4  # weights, gradients, Adam's first and second moments


def saved_bytes(fn: Callable[[], object], exclude: Iterable[Tensor] = ()) -> int:
    """Bytes of the tensors autograd saves for backward while `fn()` runs.

    Every tensor an operation saves passes through the pack hook of
    `torch.autograd.graph.saved_tensors_hooks`; the bytes of its storage are counted once,
    however many operations save it or views of it (a Linear's output saved by the next
    activation is one tensor). Storages of `exclude` (pass the model's parameters: their
    memory is the state, not activations) are left out. Inside a checkpointed region,
    `torch.utils.checkpoint` installs its own hook, so only what it keeps (the region's
    inputs) is counted: what checkpointing leaves in memory.
    """
    skip = {p.untyped_storage().data_ptr() for p in exclude}
    sizes: dict[tuple[torch.device, int], int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            sizes[t.device, storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()  # kept alive until the count is taken: its graph holds the saved tensors
    total = sum(sizes.values())
    del out
    return total


def state_bytes(model: nn.Module) -> int:
    """Bytes of a step's fixed state under Adam: ADAM_COPIES x the parameters' bytes."""
    return ADAM_COPIES * sum(p.numel() * p.element_size() for p in model.parameters())


def step_memory(model: nn.Module, x: Tensor, t: Tensor) -> dict[str, float | None]:
    """One training step's memory and time: forward, a mean-square loss and backward.

    Returns {"saved": bytes saved for backward (`saved_bytes`, parameters left out),
    "peak": CUDA's peak allocation during the step minus what was allocated before it (None
    off CUDA), "seconds": the step's wall time}. `model` runs in training mode; its gradients
    are cleared first. x: [B, C, T, H, W], t: [B].
    """
    model.train()
    model.zero_grad(set_to_none=True)
    cuda = x.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        before = torch.cuda.memory_allocated(x.device)
    start = time.perf_counter()
    losses = []

    def forward() -> Tensor:
        losses.append(model(x, t).float().square().mean())
        return losses[-1]

    saved = saved_bytes(forward, model.parameters())
    losses.pop().backward()
    if cuda:
        torch.cuda.synchronize(x.device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(x.device) - before if cuda else None
    model.zero_grad(set_to_none=True)
    return {"saved": saved, "peak": peak, "seconds": seconds}


def forward_seconds(model: nn.Module, x: Tensor, t: Tensor, repeats: int = 3) -> float:
    """Median wall time of `repeats` forward passes without gradients (after one warm-up)."""
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
            start = time.perf_counter()
            model(x, t)
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (intercept a, slope b) of y ~ a + b x (at least two distinct xs)."""
    if len(xs) != len(ys) or len(set(xs)) < 2:
        raise ValueError(f"fit_line needs as many ys as xs and two distinct xs, got xs={xs}, "
                         f"{len(ys)} ys")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def frames_in_budget(budget: float, fixed: float, per_frame: float,
                     per_frame_squared: float = 0.0) -> int:
    """The most frames T with fixed + per_frame T + per_frame_squared T^2 <= budget (bytes);
    0 if not even one.

    Linear (per_frame_squared = 0): floor((budget - fixed) / per_frame), `fixed` being the
    state plus the fit's intercept. A T^2 term (attention weights over frames: each of T S
    queries keeps a weight per key frame) makes it the positive root of the quadratic.
    """
    if not per_frame > 0 or per_frame_squared < 0:
        raise ValueError(f"per_frame must be > 0 bytes and per_frame_squared >= 0, got "
                         f"{per_frame} and {per_frame_squared}")
    room = budget - fixed
    if per_frame_squared == 0:
        return max(0, math.floor(room / per_frame))
    c, b = per_frame_squared, per_frame
    T = max(0, math.floor((-b + math.sqrt(b * b + 4 * c * max(room, 0))) / (2 * c)))
    while T > 0 and b * T + c * T * T > room:  # float rounding at the root
        T -= 1
    return T


def fit_quadratic(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares (a, b, c) of y ~ a + b x + c x^2 (at least three distinct xs)."""
    if len(xs) != len(ys) or len(set(xs)) < 3:
        raise ValueError(f"fit_quadratic needs as many ys as xs and three distinct xs, got "
                         f"xs={xs}, {len(ys)} ys")
    x = torch.tensor(xs, dtype=torch.float64)
    design = torch.stack([torch.ones_like(x), x, x * x], dim=1)  # [n, 3]
    coef = torch.linalg.lstsq(design, torch.tensor(ys, dtype=torch.float64)[:, None]).solution
    return tuple(float(v) for v in coef[:, 0])


def build(arch: str, preset: str, checkpointing: bool) -> tuple[nn.Module, object]:
    """The denoiser of the demo's `preset` for `arch` ("unet" or "dit") and its config."""
    from vdlite.demo import demo_config
    from vdlite.train import build_model

    cfg = demo_config("cpu", preset=preset if arch == "unet" else f"{preset}-dit", arch=arch,
                      precision="fp32", checkpointing=checkpointing)
    torch.manual_seed(0)
    return build_model(cfg), cfg


def sweep(arch: str, preset: str, frames: list[int], batch: int | None = None,
          device: str = "cpu", repeats: int = 3, budget_gib: float = 1.0) -> dict:
    """Measure `step_memory` of one architecture with and without checkpointing as T grows.

    Per setting: per T the saved bytes (and CUDA peak), the fitted line's intercept and
    bytes per frame, the largest relative distance of a point from the line, the frames that
    fit in `budget_gib` (with the state), and the median step time over `repeats` steps at
    the largest T after one warm-up step. The ratio of the step times is checkpointing's
    compute cost.
    """
    out: dict = {"arch": arch, "preset": preset, "settings": {}}
    for checkpointing in (False, True):
        model, cfg = build(arch, preset, checkpointing)
        model.to(device)
        b = batch or cfg.batch
        gen = torch.Generator().manual_seed(0)
        rows = []
        for T in frames:
            x = torch.randn(b, 3, T, cfg.size, cfg.size, generator=gen).to(device)
            t = torch.randint(0, cfg.num_timesteps, (b,), generator=gen).to(device)
            rows.append({"frames": T, **step_memory(model, x, t)})
        times = [step_memory(model, x, t)["seconds"] for _ in range(repeats + 1)][1:]
        setting = {"batch": b, "size": cfg.size, "rows": rows, "state": state_bytes(model),
                   "parameters": sum(p.numel() for p in model.parameters()),
                   "seconds_at_max_frames": statistics.median(times),
                   "forward_seconds_at_max_frames": forward_seconds(model, x, t, repeats)}
        for key in ("saved", "peak"):
            if rows[0][key] is None:
                continue
            ys = [r[key] for r in rows]
            a, slope = fit_line(frames, ys)
            setting[f"{key}_fit"] = {
                "intercept": a, "per_frame": slope,
                "max_rel_residual": max(abs(y - a - slope * x) / y
                                        for x, y in zip(frames, ys, strict=True)),
                "frames_in_budget": frames_in_budget(budget_gib * GIB, setting["state"] + a,
                                                     slope)}
            if len(set(frames)) >= 3:  # a T^2 term, from attention over frames
                qa, qb, qc = fit_quadratic(frames, ys)
                setting[f"{key}_fit"]["quadratic"] = {
                    "intercept": qa, "per_frame": qb, "per_frame_squared": qc,
                    "frames_in_budget": frames_in_budget(budget_gib * GIB, setting["state"] + qa,
                                                         qb, max(qc, 0.0)) if qb > 0 else None}
        out["settings"]["checkpointing" if checkpointing else "plain"] = setting
    plain, ckpt = out["settings"]["plain"], out["settings"]["checkpointing"]
    out["time_ratio"] = ckpt["seconds_at_max_frames"] / plain["seconds_at_max_frames"]
    # one more forward pass: (forward + backward + forward) / (forward + backward)
    out["one_more_forward_ratio"] = 1 + (plain["forward_seconds_at_max_frames"]
                                         / plain["seconds_at_max_frames"])
    out["per_frame_ratio"] = plain["saved_fit"]["per_frame"] / ckpt["saved_fit"]["per_frame"]
    return out


def report(results: dict) -> str:
    """results.md: the table per architecture and how to read it."""
    lines = [
        "# Activation memory against frames, with and without gradient checkpointing",
        "",
        f"Preset `{results['preset']}` (the demo's U-Net and DiT), device {results['device']}, "
        f"torch {results['torch']}. `saved` = bytes autograd keeps for the backward pass "
        "(each storage once, parameters left out: `vdlite.memory.saved_bytes`); `peak` = "
        "CUDA's peak allocation during the step (GPU only). Fit: bytes ~ a + b T. Frames in "
        f"budget: floor((M - state - a) / b) for M = {results['budget_gib']} GiB, state = "
        "weights, gradients and Adam's moments (4 x the parameters' bytes).",
        "",
    ]
    for arch in results["archs"]:
        s = arch["settings"]
        frames = [r["frames"] for r in s["plain"]["rows"]]
        lines += [f"## {arch['arch']} (batch {s['plain']['batch']}, {s['plain']['size']}x"
                  f"{s['plain']['size']}, {s['plain']['parameters']:,} parameters)", "",
                  "| setting | " + " | ".join(f"T={T} saved MiB" for T in frames)
                  + " | MiB per frame | max fit residual | frames in budget | quadratic fit "
                  "b, c (MiB/frame, MiB/frame²) | frames in budget (quadratic) | s/step at "
                  f"T={frames[-1]} |",
                  "|---" * (len(frames) + 7) + "|"]
        for name, setting in s.items():
            fit = setting["saved_fit"]
            lines.append(f"| {name} | " + " | ".join(f"{r['saved'] / 2**20:.1f}"
                                                     for r in setting["rows"])
                         + f" | {fit['per_frame'] / 2**20:.2f} | "
                           f"{100 * fit['max_rel_residual']:.1f}% | {fit['frames_in_budget']} | "
                           f"{quadratic(fit)} | {setting['seconds_at_max_frames']:.3f} |")
            if "peak_fit" in setting:
                peak = setting["peak_fit"]
                lines.append(f"| {name}, CUDA peak | " + " | ".join(
                    f"{r['peak'] / 2**20:.1f}" for r in setting["rows"])
                    + f" | {peak['per_frame'] / 2**20:.2f} | "
                      f"{100 * peak['max_rel_residual']:.1f}% | {peak['frames_in_budget']} | "
                      f"{quadratic(peak)} | |")
        lines += ["", f"Checkpointing cuts the bytes per frame {arch['per_frame_ratio']:.1f}x "
                      f"and costs {arch['time_ratio']:.2f}x the step time (one more forward "
                      f"pass alone would cost {arch['one_more_forward_ratio']:.2f}x: the plain "
                      "step's forward time over its step time, plus 1).", ""]
        for name, setting in s.items():
            fit = setting["saved_fit"]
            if fit["max_rel_residual"] > 0.05 and "quadratic" in fit:
                c = fit["quadratic"]["per_frame_squared"]
                lines += [f"{name}: the line misses a point by "
                          f"{100 * fit['max_rel_residual']:.0f}%: the bytes grow faster than "
                          f"T, by {c / 2**20:.3f} MiB x T² (temporal attention keeps weights "
                          "over pairs of frames, T² per position), so its frames in budget "
                          "are the quadratic fit's.", ""]
    lines += [f"Reproduce: `{results['command']}`", ""]
    return "\n".join(lines)


def quadratic(fit: dict) -> str:
    """Two table cells: the quadratic fit's b and c in MiB, and its frames in budget."""
    q = fit.get("quadratic")
    if q is None:
        return "- | -"
    return (f"{q['per_frame'] / 2**20:.2f}, {q['per_frame_squared'] / 2**20:.3f} | "
            f"{q['frames_in_budget']}")


def plot(results: dict, path: Path) -> None:
    """Saved MiB against frames, one panel per architecture, plain and checkpointed, with
    their fitted lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = results["archs"]
    fig, axes = plt.subplots(1, len(archs), figsize=(4.5 * len(archs), 3.4), squeeze=False)
    for ax, arch in zip(axes[0], archs, strict=True):
        for name, setting in arch["settings"].items():
            xs = [r["frames"] for r in setting["rows"]]
            ys = [r["saved"] / 2**20 for r in setting["rows"]]
            fit = setting["saved_fit"]
            line = ax.plot(xs, ys, "o", label=f"{name}: {fit['per_frame'] / 2**20:.2f} MiB/frame")
            ax.plot(xs, [(fit["intercept"] + fit["per_frame"] * x) / 2**20 for x in xs], "-",
                    color=line[0].get_color(), alpha=0.6)
        ax.set_xlabel("frames T")
        ax.set_ylabel("saved activations (MiB)")
        ax.set_title(f"{arch['arch']}, batch {arch['settings']['plain']['batch']}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", nargs="+", choices=("unet", "dit"), default=["unet", "dit"])
    parser.add_argument("--preset", choices=("cpu", "cuda"), default="cpu",
                        help="the demo preset whose models are measured (default: cpu)")
    parser.add_argument("--frames", type=int, nargs="+", default=[2, 4, 8, 12, 16])
    parser.add_argument("--batch", type=int, default=None, help="default: the preset's")
    parser.add_argument("--budget-gib", type=float, default=1.0,
                        help="memory budget in GiB for the frames-in-budget figure")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per setting")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="write results.json, results.md and "
                                                    "bytes_vs_frames.png here")
    args = parser.parse_args(argv)
    if len(set(args.frames)) < 2 or min(args.frames) < 1:
        parser.error(f"--frames needs two or more distinct counts >= 1, got {args.frames}")
    archs = [sweep(a, args.preset, sorted(args.frames), args.batch, args.device, args.repeats,
                   args.budget_gib) for a in args.arch]
    command = (f"OMP_NUM_THREADS={torch.get_num_threads()} python -m vdlite.memory --arch "
               f"{' '.join(args.arch)} --preset {args.preset} --frames "
               f"{' '.join(map(str, sorted(args.frames)))} --budget-gib {args.budget_gib} "
               f"--repeats {args.repeats} --device {args.device}"
               + (f" --batch {args.batch}" if args.batch else "")
               + (f" --out {args.out}" if args.out else ""))
    results = {"command": command, "preset": args.preset, "device": args.device,
               "budget_gib": args.budget_gib, "threads": torch.get_num_threads(),
               "torch": torch.__version__, "platform": platform.platform(),
               "date": time.strftime("%Y-%m-%d"), "archs": archs}
    text = report(results)
    if args.out:
        from vdlite.checkpoint import atomic_write_text

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json.dumps(results, indent=2), out / "results.json")
        atomic_write_text(text, out / "results.md")
        plot(results, out / "bytes_vs_frames.png")
    print(text)


if __name__ == "__main__":
    main()

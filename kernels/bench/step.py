"""What the kernels buy the course's own training: ``python -m kernels.bench.step``.

    python -m kernels.bench.step [--steps 20] [--warmup 5] [--presets cuda,cuda-dit,cuda-dit-r0]

One training step of a GPU preset is exactly what ``vdlite train`` runs (``vdlite.train.train``:
the forward under the run's precision, the loss, backward, gradient clipping, Adam, the EMA
update, the loss read back to the host). For each preset and precision (fp32, bf16 autocast)
the same model, from the same seed, trains on the same pre-made batches (already on the GPU, so
the data generator is not timed) under three backends, in one process:

- ``torch``: ``VDLITE_BACKEND=torch``, every op its PyTorch reference;
- ``default``: ``VDLITE_BACKEND`` unset, what a learner's run gets (``vdlite.backend``
  chooses per call);
- ``triton``: ``VDLITE_BACKEND=triton``, every op that has a kernel runs it.

A step's time is the median over ``--steps`` steps after ``--warmup`` (Triton compiles and
autotunes in the warm-up); the interval is the 10th-90th percentile of the steps. The ratio
is torch's median over the backend's. Then, for each preset in bf16 under the torch and the
default backends, a torch.profiler table of where two steps' GPU time goes (after 3 warm ones),
by op.

``cuda-dit-r0`` is the DiT preset with per-position temporal attention (radius 0).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import statistics
import sys
import time

import torch

BACKENDS = {"torch": "torch", "default": "", "triton": "triton"}
PRESETS = ("cuda", "cuda-dit", "cuda-dit-r0")


@contextlib.contextmanager
def backend(name: str):
    """Run the body with VDLITE_BACKEND set for `name` ("" unsets it), restored after."""
    before = os.environ.get("VDLITE_BACKEND")
    os.environ.pop("VDLITE_BACKEND", None)
    if BACKENDS[name]:
        os.environ["VDLITE_BACKEND"] = BACKENDS[name]
    try:
        yield
    finally:
        os.environ.pop("VDLITE_BACKEND", None)
        if before is not None:
            os.environ["VDLITE_BACKEND"] = before


def config(preset: str, precision: str, steps: int):
    """The preset's TrainConfig for `steps` steps at `precision`."""
    from vdlite.demo import demo_config

    if preset == "cuda-dit-r0":
        return demo_config("cuda", steps, 0, preset="cuda-dit", arch="dit",
                           precision=precision, temporal_radius=0)
    arch = "dit" if preset.endswith("dit") else "unet"
    return demo_config("cuda", steps, 0, preset=preset, arch=arch, precision=precision)


def batches(cfg, count: int = 4) -> list[torch.Tensor]:
    """`count` batches of the preset's sprite clips [B, 3, T, H, W], made once, on the GPU."""
    from vdlite.data import MovingSprites
    from vdlite.train import clip_batches

    data = MovingSprites(num_clips=10_000, frames=cfg.frames, size=cfg.size, sprites=1,
                         background="plain", seed=0)
    made = clip_batches(data, cfg.batch, 0)
    return [next(made).cuda() for _ in range(count)]


def step_times(cfg, clips: list[torch.Tensor], warmup: int, device: str = "cuda"
               ) -> list[float]:
    """Seconds per training step of `vdlite.train.train` (cfg.steps steps on `clips`, cycled),
    for each step after the first `warmup`."""
    from vdlite.train import train

    def now() -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter()

    times: list[float] = []
    last = [now()]

    def on_step(done: int, ema) -> None:
        end = now()
        if done > warmup:
            times.append(end - last[0])
        last[0] = end

    train(cfg, itertools.cycle(clips), device, progress=False, on_step=on_step)
    return times


def profile(cfg, clips: list[torch.Tensor], rows: int = 15, warm: int = 3) -> str:
    """torch.profiler's table of the CUDA time by op of the training steps after the first
    `warm` (cfg.steps - warm of them): started and stopped from `train`'s on_step."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from vdlite.train import train

    prof = torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])

    def on_step(done: int, ema) -> None:
        if done == warm:
            prof.start()
        elif done == cfg.steps:
            torch.cuda.synchronize()
            prof.stop()

    train(cfg, itertools.cycle(clips), "cuda", progress=False, on_step=on_step)
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=rows,
                                     max_name_column_width=60)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernels.bench.step",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("kernels.bench.step needs a CUDA GPU", file=sys.stderr)
        return 2
    presets = [p for p in args.presets.split(",") if p]
    for p in presets:
        if p not in PRESETS:
            parser.error(f"--presets takes {', '.join(PRESETS)}; got {p!r}")
    print(f"One training step (forward, loss, backward, clipping, Adam, EMA), median of "
          f"{args.steps} steps after {args.warmup}; [10th, 90th percentile]; "
          f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}\n")
    print("| preset | precision | backend | step (ms) | [p10, p90] | torch / this |")
    print("|---|---|---|---|---|---|")
    for preset in presets:
        for precision in ("fp32", "bf16"):
            cfg = config(preset, precision, args.steps + args.warmup)
            clips = batches(cfg)
            base = None
            for name in BACKENDS:
                with backend(name):
                    try:
                        times = step_times(cfg, clips, args.warmup)
                    except (RuntimeError, ValueError) as err:
                        line = str(err).splitlines()[0][:80]
                        print(f"| {preset} | {precision} | {name} | fails: {line} | | |",
                              flush=True)
                        continue
                median = statistics.median(times) * 1e3
                base = median if name == "torch" else base
                ratio = f"{base / median:.2f}x" if base else ""
                print(f"| {preset} | {precision} | {name} | {median:.1f} | "
                      f"[{percentile(times, 0.1) * 1e3:.1f}, {percentile(times, 0.9) * 1e3:.1f}]"
                      f" | {ratio} |", flush=True)
            del clips
            torch.cuda.empty_cache()
    if not args.no_profile:
        for preset in presets:
            cfg = config(preset, "bf16", 5)
            for name in ("torch", "default"):
                with backend(name):
                    print(f"\n### {preset}, bf16, backend {name}: CUDA time of 2 steps by op "
                          "(after 3)\n")
                    print("```\n" + profile(cfg, batches(cfg)) + "\n```", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

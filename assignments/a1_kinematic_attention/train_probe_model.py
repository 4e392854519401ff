"""Train the probed model and measure where its attention goes:
`python -m assignments.a1_kinematic_attention.train_probe_model [--steps N] [--measure-only]`.

Trains `TinySpaceTimeDenoiser` (probe_model.py) to predict clean moving-sprite clips from
clips with Gaussian noise of σ = 1, from fixed seeds on one CPU thread, so the run is
repeatable, and writes its state_dict to probe_model.pt (46 KB). Then it runs the probe
of Task A1.4 with `--impl`'s `probe` (the reference `solution` where it exists, else your
`student`) on 64 held-out straight-moving clips and prints the figures the README records.
"""

from __future__ import annotations

import argparse
import importlib
import time

import torch

from assignments.a1_kinematic_attention.probe_model import (
    CHECKPOINT,
    NOISE,
    TinySpaceTimeDenoiser,
    load,
    probe_clips,
    sprites,
)

RADIUS = 1.5  # pixels around the trajectory point that count as "on the trajectory"


def train(steps: int, batch: int, lr: float) -> TinySpaceTimeDenoiser:
    """Adam on the mean squared error of the clean-clip estimate, a fresh noise draw and a
    fresh choice of clips at every step, all from seeded generators."""
    torch.manual_seed(0)
    clips = sprites(2048, seed=0).batch(range(2048))["video"]  # [2048, 3, T, H, W]
    g = torch.Generator().manual_seed(1)
    model = TinySpaceTimeDenoiser()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    start = time.time()
    for step in range(1, steps + 1):
        clean = clips[torch.randint(len(clips), (batch,), generator=g)]
        noisy = clean + NOISE * torch.randn(clean.shape, generator=g)
        loss = (model(noisy) - clean).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if step % 100 == 0 or step == steps:
            print(f"step {step:5d}  loss {loss.item():.4f}  ({time.time() - start:.0f} s)")
    return model.eval()


@torch.no_grad()
def held_out_error(model: TinySpaceTimeDenoiser) -> tuple[float, float]:
    """Mean squared error on 64 held-out clips: the model's, and the noisy input's."""
    clean = sprites(64, seed=99).batch(range(64))["video"]
    noisy = clean + NOISE * torch.randn(clean.shape, generator=torch.Generator().manual_seed(99))
    return (model(noisy) - clean).square().mean().item(), (noisy - clean).square().mean().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--measure-only", action="store_true",
                        help="load probe_model.pt instead of training")
    parser.add_argument("--impl", default=None,
                        help="the module whose probe to run (default: solution, else student)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if args.measure_only:
        model = load()
    else:
        model = train(args.steps, args.batch, args.lr)
        torch.save(model.state_dict(), CHECKPOINT)
        print(f"wrote {CHECKPOINT} ({CHECKPOINT.stat().st_size / 1024:.0f} KB)")
    mse, noisy_mse = held_out_error(model)
    print(f"held-out mean squared error: {mse:.4f} (the noisy input's: {noisy_mse:.4f})")
    names = [args.impl] if args.impl else ["solution", "student"]
    for name in names:
        try:
            impl = importlib.import_module(f"assignments.a1_kinematic_attention.{name}")
            clips = probe_clips(64, seed=2024)
            figures = impl.probe(model, clips["video"], clips["centre"], clips["velocity"],
                                 RADIUS)
        except (ImportError, NotImplementedError) as err:
            print(f"probe of {name}.py: {type(err).__name__}: {err}")
            continue
        print(f"probe ({name}.py), 64 clips, query at the sprite in frame 3, radius {RADIUS}:")
        for key, value in figures.items():
            print(f"  mass within {RADIUS} px of the {key:10s} point in the other frames: "
                  f"{value:.3f}")
        break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

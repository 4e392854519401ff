"""Regenerate the base model for A2: `python -m assignments.a2_video_controlnet.train_base`.

A small pseudo-3D `UNet3D` (8 channels, two levels, about 51k parameters) trained as an
unconditional video denoiser (x0-prediction, cosine schedule of 1000 steps) on plain
`RoomClips` (no checker, no stripes: `patterns=False`, so a room's image edges are its depth
edges) of 6 frames at 16 x 16, for 2000 Adam steps of 8 clips at lr 2e-3, on one CPU thread,
from fixed seeds. It writes `base.pt` beside this file (weights only, about 250 KB, loaded with
`torch.load(weights_only=True)`), atomically. The run is deterministic on a given machine (a
second run gives the same tensors, `torch.equal`); it takes about 5 minutes on one core.

x0-prediction, not v: a base this small leaves residual noise all over a v- or ε-sample (a
failed prediction at low noise), and noise has gradient everywhere, which hides where a
sample's edges are; a failed x0-prediction leaves blur instead, and the edges it does draw
are the layout's.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from vdlite.checkpoint import atomic_save, load_weights
from vdlite.controlnet import fit
from vdlite.diffusion import NoiseSchedule
from vdlite.room import RoomClips
from vdlite.unet3d import UNet3D

BASE_PATH = Path(__file__).resolve().parent / "base.pt"
FRAMES, SIZE = 6, 16
UNET = dict(in_channels=3, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
            conv="pseudo")
PREDICTION = "x0"
STEPS, BATCH, LR, SEED = 2000, 8, 2e-3, 0


def schedule() -> NoiseSchedule:
    return NoiseSchedule("cosine", 1000)


def room_batches(seed: int, batch: int = BATCH, clips: int = 100_000) -> Iterator[dict]:
    """Endless batches of `batch` random plain clips of RoomClips(clips, FRAMES, SIZE,
    seed=seed, patterns=False), the clip indices drawn from a generator seeded with `seed`."""
    dataset = RoomClips(clips, frames=FRAMES, size=SIZE, seed=seed, patterns=False)
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield dataset.batch(torch.randint(len(dataset), (batch,), generator=gen).tolist())


def load_base(path: str | Path = BASE_PATH) -> UNet3D:
    """The shipped base model, in eval mode."""
    net = UNet3D(**UNET)
    net.load_state_dict(load_weights(path, "the A2 base model (a UNet3D state dict)"))
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assignments.a2_video_controlnet.train_base",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(BASE_PATH), help="where to write the weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    net = UNet3D(**UNET)
    start = time.perf_counter()
    losses = fit(net, room_batches(SEED), STEPS, schedule(), lr=LR, prediction=PREDICTION,
                 conditioned=False, seed=SEED)
    atomic_save(net.state_dict(), args.out)
    print(f"trained {STEPS} steps in {time.perf_counter() - start:.0f} s; loss "
          f"{sum(losses[:100]) / 100:.4f} (first 100) -> {sum(losses[-100:]) / 100:.4f} "
          f"(last 100); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

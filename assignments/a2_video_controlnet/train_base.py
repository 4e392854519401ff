"""Regenerate the base model for A2: `python -m assignments.a2_video_controlnet.train_base`.

A small pseudo-3D `UNet3D` (8 channels, two levels, about 51k parameters) trained as an
unconditional video denoiser (v-prediction, cosine schedule of 1000 steps) on `RoomClips` of
6 frames at 16 x 16, for 1500 Adam steps of 8 clips, on one CPU thread, from fixed seeds. It
writes `base.pt` beside this file (weights only, loaded with `torch.load(weights_only=True)`),
atomically. The run is deterministic on a given machine; it takes about 4 minutes on one core.
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
PREDICTION = "v"
STEPS, BATCH, LR, SEED = 1500, 8, 2e-3, 0


def schedule() -> NoiseSchedule:
    return NoiseSchedule("cosine", 1000)


def room_batches(seed: int, batch: int = BATCH, clips: int = 100_000) -> Iterator[dict]:
    """Endless batches of `batch` random clips of RoomClips(clips, FRAMES, SIZE, seed=seed),
    the clip indices drawn from a generator seeded with `seed`."""
    dataset = RoomClips(clips, frames=FRAMES, size=SIZE, seed=seed)
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

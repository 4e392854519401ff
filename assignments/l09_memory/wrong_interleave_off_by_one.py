"""Wrong: takes `frames` frames at stride k to span frames * k native frames, one stride too
many, so it refuses clips of exactly (frames - 1) k + 1 frames that hold them."""

import torch

from assignments.l09_memory.solution import *  # noqa: F401,F403


def interleave(video: torch.Tensor, stride: int, frames: int | None = None) -> torch.Tensor:
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    t = video.shape[2]
    if frames is None:
        frames = t // stride
    need = frames * stride
    if need > t:
        raise ValueError(f"{frames} frames at stride {stride} need a clip of at least {need} "
                         f"frames, got T={t}")
    return video[:, :, :need:stride]

"""Lesson 09a, the reference solution (absent from the handout)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch


def saved_bytes(fn: Callable[[], object], exclude: Iterable[torch.Tensor] = ()) -> int:
    skip = {p.untyped_storage().data_ptr() for p in exclude}
    sizes: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            sizes[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    total = sum(sizes.values())
    del out
    return total


def mlp_saved_bytes(batch: int, frames: int, tokens: int, dim: int, ratio: int,
                    element_bytes: int = 4) -> int:
    per_token = (dim + 2) + dim + ratio * dim + ratio * dim  # LN, W1, GELU, W2
    return batch * frames * tokens * per_token * element_bytes


def frames_in_budget(budget: float, fixed: float, per_frame: float) -> int:
    if not per_frame > 0:
        raise ValueError(f"per_frame must be > 0 bytes, got {per_frame}")
    return max(0, math.floor((budget - fixed) / per_frame))


def interleave(video: torch.Tensor, stride: int, frames: int | None = None) -> torch.Tensor:
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    t = video.shape[2]
    if frames is None:
        frames = -(-t // stride)
    need = (frames - 1) * stride + 1
    if need > t:
        raise ValueError(f"{frames} frames at stride {stride} need a clip of at least {need} "
                         f"frames, got T={t}")
    return video[:, :, :need:stride]

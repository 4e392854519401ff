"""Wrong: the causal mask is transposed (``triu`` for ``tril``): frame t sees the frames
t' >= t, its future, instead of its past."""

import torch
from torch import Tensor

from assignments.l03_attention.solution import *  # noqa: F401,F403


def temporal_mask(
    T: int,
    causal: bool = False,
    window: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    frames = torch.arange(T, device=device)
    past = frames[:, None] - frames[None, :]  # [T, T]: t - t'
    allowed = past <= 0 if causal else torch.ones(T, T, dtype=torch.bool, device=device)  # wrong
    if window is not None:
        allowed = allowed & (past.abs() <= window)
    return allowed

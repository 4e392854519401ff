"""Wrong: temporal attention's window keeps |t - t'| < w instead of |t - t'| <= w, one frame
too few on each side (and window=0 leaves a frame nothing but -inf, so NaN)."""

import math

import torch
from torch import Tensor

from assignments.l03_attention.solution import *  # noqa: F401,F403
from assignments.l03_attention.solution import temporal_mask


def temporal_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, window: int | None = None
) -> Tensor:
    T = q.shape[1]
    allowed = temporal_mask(T, causal, None, q.device)
    if window is not None:
        frames = torch.arange(T, device=q.device)
        allowed = allowed & ((frames[:, None] - frames[None, :]).abs() < window)  # wrong: <=
    scores = torch.einsum("btshd,bushd->bshtu", q, k) / math.sqrt(q.shape[-1])
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
    return torch.einsum("bshtu,bushd->btshd", weights, v)

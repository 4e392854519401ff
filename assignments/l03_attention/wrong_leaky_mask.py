"""Wrong: the causal mask is built with ``tril(diagonal=1)``, so frame t also sees frame
t + 1 (t' <= t + 1): the future leaks one frame into the past."""

import math

import torch
from torch import Tensor

from assignments.l03_attention.solution import *  # noqa: F401,F403
from assignments.l03_attention.solution import temporal_mask


def temporal_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, window: int | None = None
) -> Tensor:
    T = q.shape[1]
    allowed = temporal_mask(T, False, window, q.device)
    if causal:
        ones = torch.ones(T, T, dtype=torch.bool, device=q.device)
        allowed = allowed & ones.tril(diagonal=1)  # wrong: diagonal=0 keeps t' <= t
    scores = torch.einsum("btshd,bushd->bshtu", q, k) / math.sqrt(q.shape[-1])
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
    return torch.einsum("bshtu,bushd->btshd", weights, v)

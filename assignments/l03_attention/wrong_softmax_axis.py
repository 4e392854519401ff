"""Wrong: spatial attention's softmax runs over the queries s instead of the keys r, so the
weights of each key sum to 1 rather than those of each query."""

import math

import torch
from torch import Tensor

from assignments.l03_attention.solution import *  # noqa: F401,F403


def spatial_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    scores = torch.einsum("btshd,btrhd->bthsr", q, k) / math.sqrt(q.shape[-1])  # [B,T,h,S,S]
    weights = scores.softmax(dim=-2)  # wrong: over the queries s
    return torch.einsum("bthsr,btrhd->btshd", weights, v)

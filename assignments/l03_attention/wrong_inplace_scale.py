"""Wrong: spatial attention scales q in place (``q *= 1 / sqrt(D)``). The result is right,
but q is a view of the caller's fused qkv: the next attention on the same views (temporal,
in a factorised block) sees q already scaled."""

import math

import torch
from torch import Tensor

from assignments.l03_attention.solution import *  # noqa: F401,F403


def spatial_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    q *= 1 / math.sqrt(q.shape[-1])  # wrong: writes into the caller's tensor
    scores = torch.einsum("btshd,btrhd->bthsr", q, k)
    return torch.einsum("bthsr,btrhd->btshd", scores.softmax(dim=-1), v)

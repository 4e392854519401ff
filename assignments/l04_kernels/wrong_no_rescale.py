"""Wrong: the online softmax rescales the running output but not the running sum, l' =
l + sum_j p_j: each earlier block's terms stay scaled by its old, smaller max, so whenever a
later block raises the max the normaliser is too large and the output too small."""

import torch
from torch import Tensor

from assignments.l04_kernels.solution import *  # noqa: F401,F403


def online_softmax_update(m: Tensor, l: Tensor, acc: Tensor, x: Tensor,
                          v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    m_new = torch.maximum(m, x.max(-1).values)
    p = torch.exp(x - m_new[..., None])
    alpha = torch.exp(m - m_new)
    return m_new, l + p.sum(-1), alpha[..., None] * acc + p @ v  # wrong: alpha * l

"""Wrong: latent_dependency ignores the stride inside a layer: output frame t reads frames
t - (k - 1) ... t, as a stride-1 conv's would, instead of t·s - (k - 1) ... t·s. The matrix has
the right shape but each later output frame reads frames from too far back in the clip."""

from collections.abc import Sequence

import torch
from torch import Tensor

from assignments.l06_vae.solution import *  # noqa: F401,F403


def latent_dependency(frames: int, kernel_sizes: Sequence[int],
                      strides: Sequence[int]) -> Tensor:
    dep = torch.eye(frames, dtype=torch.long)
    n = frames
    for k, s in zip(kernel_sizes, strides, strict=True):
        out = -(-n // s)
        t = torch.arange(out)[:, None]  # wrong: t * s
        tau = torch.arange(n)[None, :]
        dep = ((tau <= t) & (tau >= t - (k - 1))).long() @ dep
        n = out
    return dep > 0

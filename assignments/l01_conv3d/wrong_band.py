"""Wrong: dependency_matrix gives each layer one tap too many (an off-by-one in the band).

A causal layer is taken to read frames t-k ... t (k+1 frames) and a centred one t-k//2-1 ...
t+k//2+1, so the predicted reach grows by k per layer instead of k-1.
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from assignments.l01_conv3d.solution import *  # noqa: F401,F403


def dependency_matrix(
    num_frames: int,
    kernel_sizes: Sequence[int],
    causal: Sequence[bool],
    dilations: Sequence[int] | None = None,
) -> Tensor:
    dilations = [1] * len(kernel_sizes) if dilations is None else dilations
    t = torch.arange(num_frames)
    reach = t[None, :] - t[:, None]  # τ - t
    dep = torch.eye(num_frames, dtype=torch.long)
    for k, is_causal, d in zip(kernel_sizes, causal, dilations, strict=True):
        taps = torch.arange(k + 1) - k if is_causal else torch.arange(k + 2) - k // 2 - 1
        layer = (reach[..., None] == taps * d).any(dim=-1)
        dep = layer.long() @ dep
    return dep > 0

"""Wrong: causal_conv3d pads time after the last frame instead of before the first.

F.pad's tuple runs from the last dim backwards, (W before, W after, H before, H after,
T before, T after); putting kT-1 in the last slot pads the end of the clip, so output frame t
reads frames t ... t+kT-1: the future leaks in (and 'replicate' copies the last frame).
"""

import torch.nn.functional as F
from torch import Tensor

from assignments.l01_conv3d.solution import *  # noqa: F401,F403
from assignments.l01_conv3d.solution import conv3d


def causal_conv3d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, mode: str = "zeros"
) -> Tensor:
    kT, kH, kW = weight.shape[2:]
    x = F.pad(x, (0, 0, 0, 0, 0, kT - 1), mode="replicate" if mode == "replicate" else "constant")
    return conv3d(x, weight, bias, padding=(0, kH // 2, kW // 2))

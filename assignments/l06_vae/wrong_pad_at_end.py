"""Wrong: causal_pad puts its frames after the last frame instead of before the first.

F.pad's tuple runs from the last dim backwards, (W before, W after, H before, H after,
T before, T after); putting the count in the last slot pads the end of the clip, so output
frame t reads frames t·s ... t·s + kT - 1: the future leaks in (and 'replicate' copies the
last frame, not the first).
"""

import torch.nn.functional as F
from torch import Tensor

from assignments.l06_vae.solution import *  # noqa: F401,F403
from assignments.l06_vae.solution import _conv_padded


def causal_pad(x: Tensor, frames: int, mode: str = "zeros") -> Tensor:
    if mode not in ("zeros", "replicate"):
        raise ValueError(f"mode must be 'zeros' or 'replicate', got {mode!r}")
    f_mode = "replicate" if mode == "replicate" else "constant"
    return F.pad(x, (0, 0, 0, 0, 0, frames), mode=f_mode)  # wrong: (..., frames, 0)


def causal_conv3d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride_t: int = 1,
                  mode: str = "zeros") -> Tensor:
    return _conv_padded(causal_pad(x, weight.shape[2] - 1, mode), weight, bias, stride_t)

"""Wrong: replaces the known frames of x_t by the clean known frames. The model is told the
whole clip is at noise level t, yet those frames carry no noise: at high t they stand out as
far too sharp, and the unknown frames are denoised against a signal the model never saw."""

import torch
from torch import Tensor

from assignments.l08_long_video.solution import *  # noqa: F401,F403
from vdlite.diffusion import NoiseSchedule


def replace_known(x_t: Tensor, known: Tensor, mask: Tensor, t: Tensor, schedule: NoiseSchedule,
                  noise: Tensor) -> Tensor:
    m = mask.reshape(-1, 1, x_t.shape[2], 1, 1)
    return torch.where(m, known.to(x_t.dtype), x_t)  # clean, not at level t

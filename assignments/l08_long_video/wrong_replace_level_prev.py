"""Wrong: noises the known frames with ᾱ of the next (less noisy) timestep t - 1 instead of
t's, an off-by-one that puts the known frames at a different level from the rest of x_t."""

import torch
from torch import Tensor

from assignments.l08_long_video.solution import *  # noqa: F401,F403
from vdlite.diffusion import NoiseSchedule


def replace_known(x_t: Tensor, known: Tensor, mask: Tensor, t: Tensor, schedule: NoiseSchedule,
                  noise: Tensor) -> Tensor:
    ab = schedule.alpha_bar(t - 1).view(-1, 1, 1, 1, 1)  # one step off
    noised = (ab.sqrt() * known + (1 - ab).sqrt() * noise).to(x_t.dtype)
    return torch.where(mask.reshape(-1, 1, x_t.shape[2], 1, 1), noised, x_t)

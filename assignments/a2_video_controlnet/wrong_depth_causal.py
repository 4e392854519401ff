"""A2, wrong: the depth encoder's temporal convs pad two frames before and none after, so frame
t's hint comes from depth frames t-4..t: temporal layers, but misaligned in time."""

import torch.nn.functional as F
from torch import Tensor, nn

from assignments.a2_video_controlnet import solution
from assignments.a2_video_controlnet.solution import *  # noqa: F401,F403
from vdlite.conv3d import Conv3d


class CausalTime(nn.Module):
    """A (3, 1, 1) conv over frames t-2..t (two zero frames padded before the first)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = Conv3d(channels, channels, (3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 0, 0, 0, 2, 0)))


class DepthEncoder(solution.DepthEncoder):
    def __init__(self, channels: int, hidden: int = 16) -> None:
        super().__init__(channels, hidden)
        for i in (2, 6):  # the two temporal convs
            self.layers[i] = CausalTime(hidden)


class ControlNet3D(solution.ControlNet3D):
    def __init__(self, base, hint_hidden: int = 16) -> None:
        super().__init__(base, hint_hidden)
        self.hint = DepthEncoder(base.base_channels, hint_hidden)

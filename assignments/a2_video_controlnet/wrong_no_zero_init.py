"""A2, wrong: the convolutions joining the control branch to the base keep PyTorch's default
(random) init, so the controlled model no longer starts as the base model."""

from torch import nn

from assignments.a2_video_controlnet import solution
from assignments.a2_video_controlnet.solution import *  # noqa: F401,F403
from vdlite.conv3d import Conv3d


class ControlNet3D(solution.ControlNet3D):
    def __init__(self, base, hint_hidden: int = 16) -> None:
        super().__init__(base, hint_hidden)
        self.zero_convs = nn.ModuleList(Conv3d(z.in_channels, z.out_channels, 1)
                                        for z in self.zero_convs)
        self.mid_zero_conv = Conv3d(self.mid_zero_conv.in_channels,
                                    self.mid_zero_conv.out_channels, 1)

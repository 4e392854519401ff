"""A2, wrong: the residuals come back in the decoder's order (the last skip first), as if the
control branch had to pop them as the decoder does; the base's hook wants the encoder's."""

from torch import Tensor

from assignments.a2_video_controlnet import solution
from assignments.a2_video_controlnet.solution import *  # noqa: F401,F403


class ControlNet3D(solution.ControlNet3D):
    def forward(self, x: Tensor, t: Tensor, depth: Tensor) -> tuple[list[Tensor], Tensor]:
        skips, mid = super().forward(x, t, depth)
        return skips[::-1], mid

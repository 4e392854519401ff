"""A2, wrong: the base's parameters still require grad, so training the controlled model also
changes the base (gradients leak into it)."""

from torch import Tensor, nn

from assignments.a2_video_controlnet.solution import *  # noqa: F401,F403


class ControlledUNet(nn.Module):
    def __init__(self, base: nn.Module, control: nn.Module) -> None:
        super().__init__()
        self.base, self.control = base, control

    def forward(self, x: Tensor, t: Tensor, depth: Tensor) -> Tensor:
        skips, mid = self.control(x, t, depth)
        return self.base(x, t, skip_residuals=skips, mid_residual=mid)

"""Wrong: clamps the straight line to [lo, hi] instead of reflecting it, so a sprite that reaches
a wall sticks to it instead of bouncing back."""

import torch

from assignments.l00_video_tensor.solution import *  # noqa: F401,F403


def fold(x: torch.Tensor, lo: torch.Tensor | float, hi: torch.Tensor | float) -> torch.Tensor:
    return torch.minimum(torch.maximum(x, torch.as_tensor(lo)), torch.as_tensor(hi))

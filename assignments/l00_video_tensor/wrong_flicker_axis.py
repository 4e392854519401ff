"""Wrong: takes the differences along axis 1, as if clips were [B, T, C, H, W]; in [B, C, T, H, W]
that is the colour axis, so it measures how the channels differ, not how frames change."""

import torch

from assignments.l00_video_tensor.solution import *  # noqa: F401,F403


def flicker(video: torch.Tensor) -> float:
    return float(torch.diff(video, dim=1).abs().mean())

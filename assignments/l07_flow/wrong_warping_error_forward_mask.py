"""Wrong: the mask of the other frame, occlusion(f, g) instead of occlusion(g, f).

The error is measured on x_{t+1}'s pixels (x_{t+1} against x_t warped by g), so the pixels to
leave out are those of x_{t+1} that g cannot bring back: occlusion(g, f). occlusion(f, g) is a
mask of x_t's pixels, shifted by the motion: it keeps some of x_{t+1}'s disoccluded pixels and
drops some good ones."""

import torch
from torch import Tensor

from assignments.l07_flow.solution import *  # noqa: F401,F403
from assignments.l07_flow.solution import estimate_flow, occlusion, warp


def warping_error(video: Tensor) -> float:
    video = video.detach().float()
    B, C, T, H, W = video.shape
    later = video[:, :, 1:].transpose(1, 2).reshape(B * (T - 1), C, H, W)
    earlier = video[:, :, :-1].transpose(1, 2).reshape(B * (T - 1), C, H, W)
    with torch.no_grad():
        f = estimate_flow(earlier, later)
        g = estimate_flow(later, earlier)
        error = (later - warp(earlier, g)).square().mean(1)
        kept = (~occlusion(f, g)).float()  # wrong: the mask of x_t's pixels
    per_pair = (error * kept).sum((1, 2)) / kept.sum((1, 2))
    return float(per_pair.view(B, T - 1).nanmean(1).nanmean())

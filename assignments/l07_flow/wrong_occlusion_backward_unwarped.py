"""Wrong: the backward flow is read at p, not where p lands: |forward(p) + backward(p)|².

The backward flow is defined on frame b's pixels; the flow that brings p back starts at
p + forward(p). Read at p it compares motions of different points, so a moving object's
whole rim (and anything moving fast) fails the check."""

import torch
from torch import Tensor

from assignments.l07_flow.solution import *  # noqa: F401,F403


def occlusion(forward: Tensor, backward: Tensor) -> Tensor:
    _, _, H, W = forward.shape
    back = backward  # wrong: should be warp(backward, forward)
    mismatch = (forward + back).square().sum(1)
    tolerance = 0.01 * (forward.square().sum(1) + back.square().sum(1)) + 0.5
    ys, xs = torch.meshgrid(torch.arange(H, dtype=forward.dtype),
                            torch.arange(W, dtype=forward.dtype), indexing="ij")
    sx, sy = xs + forward[:, 0], ys + forward[:, 1]
    inside = (sx >= -0.5) & (sx <= W - 0.5) & (sy >= -0.5) & (sy <= H - 0.5)
    return (mismatch > tolerance) | ~inside

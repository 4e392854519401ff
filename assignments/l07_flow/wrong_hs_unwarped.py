"""Wrong: the gradients and the residual are taken from b itself, not from b warped by f0.

Each re-warp linearises b around the current estimate, b(p + f) ≈ b_w(p) + ∇b_w(p)·(f - f0);
using b keeps linearising around zero motion while adding f0 again, so the warps do not
refine anything and large motions are never reached."""

import torch
from torch import Tensor

from assignments.l07_flow.solution import *  # noqa: F401,F403
from assignments.l07_flow.solution import MAX_STEP, gradients, neighbour_average


def horn_schunck_level(a: Tensor, b: Tensor, flow: Tensor, alpha: float, iterations: int,
                       warps: int) -> Tensor:
    a2 = alpha * alpha
    for _ in range(warps):
        f0 = flow
        bw = b  # wrong: should be warp(b, f0)
        gx, gy = gradients(bw)
        residual = bw - a
        jxx, jxy, jyy = (gx * gx).sum(1), (gx * gy).sum(1), (gy * gy).sum(1)
        rx, ry = (gx * residual).sum(1), (gy * residual).sum(1)
        det = (jxx + a2) * (jyy + a2) - jxy * jxy
        for _ in range(iterations):
            target = a2 * (neighbour_average(flow) - f0)
            cx, cy = target[:, 0] - rx, target[:, 1] - ry
            d = torch.stack([(jyy + a2) * cx - jxy * cy, (jxx + a2) * cy - jxy * cx], 1)
            d = d / det[:, None]
            flow = f0 + d * (MAX_STEP / d.norm(dim=1, keepdim=True).clamp(min=MAX_STEP))
    return flow

"""Wrong: the Jacobi step solves Σ g gᵀ d = α² (f̄ - f0) - Σ g r, without α² on the diagonal.

Moving the smoothness term's α² f to the right-hand side looks harmless, but then the 2×2
matrix is singular wherever the frames are flat or have one edge direction (the aperture
problem): the division by its determinant blows up, and the iteration is no longer the
minimiser of the Horn–Schunck energy."""

import torch
from torch import Tensor

from assignments.l07_flow.solution import *  # noqa: F401,F403
from assignments.l07_flow.solution import MAX_STEP, gradients, neighbour_average, warp


def horn_schunck_level(a: Tensor, b: Tensor, flow: Tensor, alpha: float, iterations: int,
                       warps: int) -> Tensor:
    a2 = alpha * alpha
    for _ in range(warps):
        f0 = flow
        bw = warp(b, f0)
        gx, gy = gradients(bw)
        residual = bw - a
        jxx, jxy, jyy = (gx * gx).sum(1), (gx * gy).sum(1), (gy * gy).sum(1)
        rx, ry = (gx * residual).sum(1), (gy * residual).sum(1)
        det = jxx * jyy - jxy * jxy  # wrong: no α² on the diagonal
        for _ in range(iterations):
            target = a2 * (neighbour_average(flow) - f0)
            cx, cy = target[:, 0] - rx, target[:, 1] - ry
            d = torch.stack([jyy * cx - jxy * cy, jxx * cy - jxy * cx], 1) / det[:, None]
            flow = f0 + d * (MAX_STEP / d.norm(dim=1, keepdim=True).clamp(min=MAX_STEP))
    return flow

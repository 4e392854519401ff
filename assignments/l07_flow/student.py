"""Lesson 07a's exercises: bilinear warping, one Horn–Schunck level, occlusion, warping error.

Replace each `raise NotImplementedError(...)` with your code. Frames are [B, C, H, W]; a flow
is [B, 2, H, W] in pixels, channel 0 the x (column) displacement and channel 1 the y (row)
one, with a(p) ≈ b(p + flow(p)), so warp(b, flow) ≈ a. Pixel (row y, column x) has its centre
at the point (x, y). Check yourself with `python -m assignments.grade l07_flow`.
"""

import torch  # noqa: F401
from torch import Tensor

from vdlite.flow import MAX_STEP, estimate_flow, gradients, neighbour_average  # noqa: F401


def warp(b: Tensor, flow: Tensor) -> Tensor:
    """Task 07.1: b read at p + flow(p), bilinearly, by hand (no grid_sample).

    With s = p + flow(p) clamped to the pixel centres [0, W-1] x [0, H-1] (a point outside
    reads the nearest edge pixel), x0 = floor(s_x), y0 = floor(s_y), wx = s_x - x0,
    wy = s_y - y0, and b(y, x) the pixel in row y, column x:

        top    = (1-wx) b(y0, x0)   + wx b(y0, x0+1)
        bottom = (1-wx) b(y0+1, x0) + wx b(y0+1, x0+1)
        out(p) = (1-wy) top + wy bottom

    (on the last column or row, a neighbour past the edge has weight 0: keep the index inside).
    b: [B, C, H, W], flow: [B, 2, H, W] -> [B, C, H, W]. Differentiable in b and in flow.
    """
    raise NotImplementedError("Task 07.1: where each pixel reads, its four neighbours, their "
                              "bilinear weights")


def horn_schunck_level(a: Tensor, b: Tensor, flow: Tensor, alpha: float, iterations: int,
                       warps: int) -> Tensor:
    """Task 07.2: refine `flow` between frames a and b at one pyramid level.

    Repeat `warps` times: f0 = flow, b_w = warp(b, f0), g_c = (∂x b_w^c, ∂y b_w^c) by
    `gradients`, r_c = b_w^c - a^c; then `iterations` Jacobi steps, each solving per pixel

        (Σ_c g_c g_cᵀ + α² I) d = α² (f̄ - f0) - Σ_c g_c r_c,      f̄ = neighbour_average(flow)

    (a 2×2 system, by Cramer's rule), shortening d to MAX_STEP pixels if longer, and setting
    flow = f0 + d. a, b: [B, C, H, W], flow: [B, 2, H, W] -> [B, 2, H, W].
    You may use the package's `gradients`, `neighbour_average` and `MAX_STEP`, and your `warp`.
    """
    raise NotImplementedError("Task 07.2: re-warp, the 2×2 system's sums over channels, then "
                              "Jacobi steps")


def occlusion(forward: Tensor, backward: Tensor) -> Tensor:
    """Task 07.3: the forward–backward check. forward: a -> b, backward: b -> a.

    With b̃(p) = backward(p + forward(p)) (read bilinearly, as `warp` does), p is occluded when

        |forward + b̃|² > 0.01 (|forward|² + |b̃|²) + 0.5

    or when p + forward(p) leaves the frame, whose pixels cover [-½, W-½] x [-½, H-½].
    forward, backward: [B, 2, H, W] -> [B, H, W] bool, True where occluded.
    """
    raise NotImplementedError("Task 07.3: warp the backward flow by the forward one, compare, "
                              "and flag points that leave the frame")


def warping_error(video: Tensor) -> float:
    """Task 07.4: the warping error of Lai et al. 2018, over the pixels that pass the check.

    For each clip and transition t -> t+1 (frames x_t, x_{t+1} [3, H, W], as float32):
    f = estimate_flow(x_t, x_{t+1}), g = estimate_flow(x_{t+1}, x_t), M = ~occlusion(g, f), and

        E_t = Σ_p M(p) e(p) / Σ_p M(p),      e(p) = mean_c (x_{t+1}(p) - warp(x_t, g)(p))².

    A clip's value is the mean of its E_t over the transitions that keep a pixel; return the
    mean over clips. video: [B, 3, T, H, W] (T >= 2) -> float.
    You may use the package's `estimate_flow` (with its defaults) and your `warp` and
    `occlusion`.
    """
    raise NotImplementedError("Task 07.4: flows both ways for every pair of frames, the mask, "
                              "the masked mean")

"""Lesson 07a's exercises, solved: warp, one Horn–Schunck level, occlusion, warping error."""

import torch
from torch import Tensor

from vdlite.flow import MAX_STEP, estimate_flow, gradients, neighbour_average


def warp(b: Tensor, flow: Tensor) -> Tensor:
    """Task 07.1: out(p) = b(p + flow(p)) read bilinearly, points outside clamped to the frame's
    edge pixels.  b [B, C, H, W], flow [B, 2, H, W] (x, y) -> [B, C, H, W]."""
    B, C, H, W = b.shape
    ys, xs = torch.meshgrid(torch.arange(H, dtype=flow.dtype, device=flow.device),
                            torch.arange(W, dtype=flow.dtype, device=flow.device), indexing="ij")
    sx = (xs + flow[:, 0]).clamp(0, W - 1)  # [B, H, W], where each pixel reads
    sy = (ys + flow[:, 1]).clamp(0, H - 1)
    x0 = sx.floor().clamp(max=max(W - 2, 0))  # the left neighbour (W - 2 at the right edge)
    y0 = sy.floor().clamp(max=max(H - 2, 0))
    wx, wy = (sx - x0)[:, None], (sy - y0)[:, None]  # [B, 1, H, W], weights of the far pixels
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=W - 1), (y0 + 1).clamp(max=H - 1)
    flat = b.flatten(2)  # [B, C, H·W]

    def at(y: Tensor, x: Tensor) -> Tensor:  # b at integer pixels y, x [B, H, W]
        index = (y * W + x).flatten(1)[:, None].expand(-1, C, -1)  # [B, C, H·W]
        return flat.gather(2, index).view(B, C, H, W)

    top = (1 - wx) * at(y0, x0) + wx * at(y0, x1)
    bottom = (1 - wx) * at(y1, x0) + wx * at(y1, x1)
    return (1 - wy) * top + wy * bottom


def horn_schunck_level(a: Tensor, b: Tensor, flow: Tensor, alpha: float, iterations: int,
                       warps: int) -> Tensor:
    """Task 07.2: `warps` times re-warp b by f0 = flow, then `iterations` Jacobi steps of

        (Σ_c g_c g_cᵀ + α² I) d = α² (f̄ - f0) - Σ_c g_c (b_w^c - a^c),   f = f0 + d,

    g_c = ∇b_w^c, f̄ = neighbour_average(f), d shortened to MAX_STEP pixels if longer.
    a, b [B, C, H, W], flow [B, 2, H, W] -> [B, 2, H, W]."""
    a2 = alpha * alpha
    for _ in range(warps):
        f0 = flow
        bw = warp(b, f0)
        gx, gy = gradients(bw)  # [B, C, H, W] each
        residual = bw - a
        jxx, jxy, jyy = (gx * gx).sum(1), (gx * gy).sum(1), (gy * gy).sum(1)  # [B, H, W]
        rx, ry = (gx * residual).sum(1), (gy * residual).sum(1)
        det = (jxx + a2) * (jyy + a2) - jxy * jxy
        for _ in range(iterations):
            target = a2 * (neighbour_average(flow) - f0)  # [B, 2, H, W]
            cx, cy = target[:, 0] - rx, target[:, 1] - ry
            d = torch.stack([(jyy + a2) * cx - jxy * cy, (jxx + a2) * cy - jxy * cx], 1)
            d = d / det[:, None]
            flow = f0 + d * (MAX_STEP / d.norm(dim=1, keepdim=True).clamp(min=MAX_STEP))
    return flow


def occlusion(forward: Tensor, backward: Tensor) -> Tensor:
    """Task 07.3: True where the forward–backward check fails or p + forward(p) leaves the frame
    (whose pixels cover [-½, W - ½] x [-½, H - ½]).
    forward (a -> b), backward (b -> a): [B, 2, H, W] -> [B, H, W] bool."""
    _, _, H, W = forward.shape
    back = warp(backward, forward)  # the backward flow where p lands
    mismatch = (forward + back).square().sum(1)
    tolerance = 0.01 * (forward.square().sum(1) + back.square().sum(1)) + 0.5
    ys, xs = torch.meshgrid(torch.arange(H, dtype=forward.dtype, device=forward.device),
                            torch.arange(W, dtype=forward.dtype, device=forward.device),
                            indexing="ij")
    sx, sy = xs + forward[:, 0], ys + forward[:, 1]
    inside = (sx >= -0.5) & (sx <= W - 0.5) & (sy >= -0.5) & (sy <= H - 0.5)
    return (mismatch > tolerance) | ~inside


def warping_error(video: Tensor) -> float:
    """Task 07.4: the mean over clips of the mean over transitions t of

        E_t = Σ_p M(p) mean_c (x_{t+1}(p) - warp(x_t, g)(p))² / Σ_p M(p),

    g = estimate_flow(x_{t+1}, x_t), f = estimate_flow(x_t, x_{t+1}), M = ~occlusion(g, f).
    video [B, 3, T, H, W] -> float (computed in float32)."""
    video = video.detach().float()
    B, C, T, H, W = video.shape
    later = video[:, :, 1:].transpose(1, 2).reshape(B * (T - 1), C, H, W)  # x_{t+1}
    earlier = video[:, :, :-1].transpose(1, 2).reshape(B * (T - 1), C, H, W)  # x_t
    with torch.no_grad():
        f = estimate_flow(earlier, later)
        g = estimate_flow(later, earlier)
        error = (later - warp(earlier, g)).square().mean(1)  # [B·(T-1), H, W]
        kept = (~occlusion(g, f)).float()
    per_pair = (error * kept).sum((1, 2)) / kept.sum((1, 2))  # NaN where nothing is kept
    return float(per_pair.view(B, T - 1).nanmean(1).nanmean())

"""Optical flow from scratch: coarse-to-fine Horn–Schunck, warping, and occlusion (lesson 07a).

Convention (COURSE.md): a flow field is `[B, 2, H, W]` in pixels, channel 0 the x (width)
displacement and channel 1 the y (height) one, and it says where each pixel of the first
frame went in the second:

    a(p) ≈ b(p + flow(p)),   so   warp(b, flow) ≈ a.

Pixel (row y, column x) has its centre at the point (x, y), as in `vdlite.data`.

The method (Horn & Schunck 1981, with the coarse-to-fine warping of Brox et al. 2004):
linearise brightness constancy around the current estimate f0, b(p + f) ≈ b_w(p) + ∇b_w(p)·d
with b_w = warp(b, f0) and d = f - f0, and minimise, summed over colour channels c,

    E(f) = Σ_p Σ_c (∇b_w^c · d + b_w^c - a^c)²  +  (α²/2) Σ_p Σ_q w_pq |f(p) - f(q)|²,

where w_pq are the weights of the 3×3 neighbour average f̄(p) = Σ_q w_pq f(q) (edges 1/6,
corners 1/12, summing to 1, symmetric with the edges replicated): the smoothness term.
Setting ∂E/∂f(p) = 0 gives, at every pixel, the 2×2 system

    (Σ_c g_c g_cᵀ + α² I) d = α² (f̄ - f0) - Σ_c g_c (b_w^c - a^c),   g_c = ∇b_w^c,

which Jacobi iterations solve: each step takes f̄ from the last iterate.

Large motions break the linearisation, so the frames are solved on a pyramid: at each level,
from the coarsest up, the flow of the level below (doubled in length) is the starting f0, b
is re-warped by it `warps` times, and `iterations` Jacobi steps refine it. Every operation is
a differentiable torch op, so a loss on the flow can train the network that drew the frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# 3x3 neighbour average of Horn & Schunck (the centre excluded): edges 1/6, corners 1/12
_AVERAGE = torch.tensor([[1, 2, 1], [2, 0, 2], [1, 2, 1]], dtype=torch.float64) / 12


MAX_STEP = 1.0
"""Longest step (pixels at the level, finite) one re-warp may take: the linearisation holds
only near f0, and longer steps on aliased or flat texture send the estimate astray (without
the limit, small alpha drove some textured translations of 2-3 px to errors of 5-10 px)."""


def check_floats(x: object, name: str, what: str = "frames [B, C, H, W]") -> None:
    """Raise, in one line naming `name`, unless x is a non-empty floating-point tensor with
    as many dimensions as `what` names ("frames [B, C, H, W]", "clips [B, C, T, H, W])."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of {what}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {x.dtype}")
    if x.ndim != what.count(",") + 1 or min(x.shape) < 1:
        raise ValueError(f"{name} must be {what}, got shape {tuple(x.shape)}")


def _check_frames(x: object, name: str) -> None:
    check_floats(x, name, "frames [B, C, H, W]")


def _check_flow(flow: object, frames: Tensor, name: str = "flow") -> None:
    if not isinstance(flow, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [B, 2, H, W], got {type(flow).__name__}")
    b, _, h, w = frames.shape
    if tuple(flow.shape) != (b, 2, h, w):
        raise ValueError(f"{name} must have shape [B, 2, H, W] = {[b, 2, h, w]} to match the "
                         f"frames, got {list(flow.shape)}")
    if not flow.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {flow.dtype}")


def pixel_grid(h: int, w: int, like: Tensor) -> Tensor:
    """Pixel centres [1, 2, H, W]: channel 0 is x (the column), channel 1 is y (the row)."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=like.dtype, device=like.device),
                            torch.arange(w, dtype=like.dtype, device=like.device), indexing="ij")
    return torch.stack([xs, ys])[None]


def sample_at(x: Tensor, points: Tensor) -> Tensor:
    """x [B, C, h, w] read bilinearly at points [B, 2, H, W] (pixel coordinates of x, channel
    0 = x, 1 = y) -> [B, C, H, W]; points outside read the nearest edge pixel."""
    h, w = x.shape[-2:]
    # grid_sample's coordinates: -1 and +1 are the centres of the first and last pixels
    scale = torch.tensor([max(w - 1, 1), max(h - 1, 1)], dtype=points.dtype,
                         device=points.device)
    grid = (2 * points / scale[None, :, None, None] - 1).permute(0, 2, 3, 1)  # [B, H, W, 2]
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="border",
                         align_corners=True)


def warp(b: Tensor, flow: Tensor) -> Tensor:
    """b read at p + flow(p), bilinearly: [B, C, H, W] -> [B, C, H, W], so warp(b, flow) ≈ a.

    out(p) = Σ_q b(q) max(0, 1 - |q_x - s_x|) max(0, 1 - |q_y - s_y|),  s = p + flow(p),
    with points outside the frame read from the nearest edge pixel (`inside` says which).
    Differentiable in both b and flow."""
    _check_frames(b, "b")
    _check_flow(flow, b)
    return sample_at(b, pixel_grid(*b.shape[-2:], flow) + flow)


def inside(flow: Tensor) -> Tensor:
    """[B, H, W] bool: p + flow(p) lies within the frame, whose pixels cover
    [-½, W - ½] x [-½, H - ½] (pixel x covers [x - ½, x + ½])."""
    _, _, h, w = flow.shape
    s = pixel_grid(h, w, flow) + flow
    return ((s[:, 0] >= -0.5) & (s[:, 0] <= w - 0.5) & (s[:, 1] >= -0.5)
            & (s[:, 1] <= h - 0.5))


def gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    """Central differences (∂x/∂x, ∂x/∂y) of frames [B, C, H, W], one-sided at the edges."""
    pad = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = (pad[..., 1:-1, 2:] - pad[..., 1:-1, :-2]) / 2
    gy = (pad[..., 2:, 1:-1] - pad[..., :-2, 1:-1]) / 2
    # at an edge the replicated pixel halves the difference: restore a one-sided difference
    gx = torch.cat([2 * gx[..., :1], gx[..., 1:-1], 2 * gx[..., -1:]], dim=-1) if x.shape[-1] > 1 \
        else gx
    gy = torch.cat([2 * gy[..., :1, :], gy[..., 1:-1, :], 2 * gy[..., -1:, :]], dim=-2) \
        if x.shape[-2] > 1 else gy
    return gx, gy


def neighbour_average(flow: Tensor) -> Tensor:
    """f̄: each pixel's weighted mean of its 8 neighbours (edges replicated), [B, 2, H, W]."""
    kernel = _AVERAGE.to(flow)[None, None].expand(2, 1, 3, 3)
    return F.conv2d(F.pad(flow, (1, 1, 1, 1), mode="replicate"), kernel, groups=2)


def horn_schunck_level(a: Tensor, b: Tensor, flow: Tensor, alpha: float, iterations: int,
                       warps: int) -> Tensor:
    """Refine `flow` [B, 2, H, W] between frames a, b [B, C, H, W] at one pyramid level.

    `warps` times: b_w = warp(b, f0), then `iterations` Jacobi steps of the 2×2 system in the
    module docstring (solved in closed form by Cramer's rule), each step d = f - f0 shortened
    to MAX_STEP pixels if longer."""
    a2 = alpha * alpha
    for _ in range(warps):
        f0 = flow
        bw = warp(b, f0)
        gx, gy = gradients(bw)
        diff = bw - a  # [B, C, H, W], the brightness residual at f0
        jxx, jxy, jyy = (gx * gx).sum(1), (gx * gy).sum(1), (gy * gy).sum(1)  # [B, H, W]
        rx, ry = (gx * diff).sum(1), (gy * diff).sum(1)
        det = (jxx + a2) * (jyy + a2) - jxy * jxy  # > 0: the matrix is positive definite
        for _ in range(iterations):
            target = a2 * (neighbour_average(flow) - f0)  # [B, 2, H, W]
            cx, cy = target[:, 0] - rx, target[:, 1] - ry
            d = torch.stack([(jyy + a2) * cx - jxy * cy, (jxx + a2) * cy - jxy * cx], 1)
            d = d / det[:, None]  # [B, 2, H, W], the step from f0, then at most MAX_STEP long
            flow = f0 + d * (MAX_STEP / d.norm(dim=1, keepdim=True).clamp(min=MAX_STEP))
    return flow


_BINOMIAL = torch.tensor([1, 4, 6, 4, 1], dtype=torch.float64) / 16


def blur(x: Tensor) -> Tensor:
    """5×5 binomial blur (σ ≈ 1 pixel) of frames [B, C, H, W], edges replicated."""
    c = x.shape[1]
    k = _BINOMIAL.to(x)
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """[x, x/2, x/4, ...]: `levels` frames, each the one before blurred (`blur`, so that the
    coarse levels do not alias fine texture) and subsampled by 2 (odd sizes round up)."""
    out = [x]
    for _ in range(levels - 1):
        out.append(blur(out[-1])[..., ::2, ::2])
    return out


def upsample_flow(flow: Tensor, h: int, w: int) -> Tensor:
    """The flow of a `pyramid` level on the level above it, [B, 2, h, w]: the coarse level kept
    every second pixel, so fine pixel p sits at p/2 there; read the coarse flow at p/2
    (bilinearly) and double its length."""
    half = (pixel_grid(h, w, flow) / 2).expand(flow.shape[0], -1, -1, -1)
    return 2 * sample_at(flow, half)


def default_levels(h: int, w: int, coarsest: int = 8) -> int:
    """Pyramid levels until the shorter side would drop below `coarsest` pixels (at least 1)."""
    levels, side = 1, min(h, w)
    while side // 2 >= coarsest:
        side //= 2
        levels += 1
    return levels


def estimate_flow(a: Tensor, b: Tensor, alpha: float = 0.1, levels: int | None = None,
                  iterations: int = 20, warps: int = 3) -> Tensor:
    """Optical flow [B, 2, H, W] from frames a to b (both [B, C, H, W]): a(p) ≈ b(p + flow(p)).

    Coarse-to-fine Horn–Schunck (module docstring). `alpha` weighs smoothness against the
    data term, in the frames' own units per pixel. For frames in [-1, 1], 0.1 gave the lowest
    endpoint errors on the textures of tests/test_flow.py (translations of 0.3-3.4 px, 3
    textures: mean 0.07 px at 0.1, against 0.27 at 0.05 and 0.8 at 0.02); on sprites over a
    texture, larger values help the sprite (0.58 px at 0.1, 0.42 at 0.2) and hurt the
    background (0.24 px at 0.1, 0.36 at 0.2); `levels`
    defaults to halving until the shorter side is 8 pixels; `iterations` Jacobi steps after
    each of `warps` re-warps, per level. Differentiable in a and b. Computed in the frames'
    dtype (float32 or float64).

    What it cannot see: inside a flat region (a plain background, a sprite's interior) the
    frames say nothing about motion, and the smoothness term fills the flow in from the
    region's edges, so a still plain background around a moving sprite is given nearly all of
    the sprite's motion (1.15 px of 1.20 on average, lesson 07b). Warping is unaffected (a
    flat region looks the same however it moves), but the flow there is not the true motion."""
    _check_frames(a, "a")
    _check_frames(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha!r}")
    for name, value in (("iterations", iterations), ("warps", warps)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    h, w = a.shape[-2:]
    levels = default_levels(h, w) if levels is None else levels
    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be a positive int, got {levels!r}")
    pa, pb = pyramid(a, levels), pyramid(b, levels)
    coarse = pa[-1]
    flow = coarse.new_zeros(coarse.shape[0], 2, *coarse.shape[-2:])
    for la, lb in zip(reversed(pa), reversed(pb), strict=True):
        if flow.shape[-2:] != la.shape[-2:]:
            flow = upsample_flow(flow, *la.shape[-2:])
        flow = horn_schunck_level(la, lb, flow, alpha, iterations, warps)
    return flow


def occlusion(forward: Tensor, backward: Tensor) -> Tensor:
    """[B, H, W] bool, True where the forward–backward check fails (Sundaram et al. 2010).

    `forward` is a -> b, `backward` is b -> a. Where p is visible in both frames, following
    the flow there and back returns to p: forward(p) + backward(p + forward(p)) ≈ 0. A pixel
    is occluded (or its flow unreliable) where

        |f + b̃|² > 0.01 (|f|² + |b̃|²) + 0.5,   b̃ = warp(backward, forward),

    or where p + forward(p) leaves the frame."""
    _check_flow(forward, forward, "forward")
    _check_flow(backward, forward, "backward")
    back = warp(backward, forward)  # [B, 2, H, W], the backward flow where p landed
    mismatch = (forward + back).square().sum(1)
    tolerance = 0.01 * (forward.square().sum(1) + back.square().sum(1)) + 0.5
    return (mismatch > tolerance) | ~inside(forward)


def endpoint_error(flow: Tensor, truth: Tensor, mask: Tensor | None = None) -> float:
    """Average endpoint error: mean over pixels (where `mask` [B, H, W] is True) of
    |flow(p) - truth(p)|, in pixels."""
    if flow.shape != truth.shape:
        raise ValueError(f"flow and truth must have the same shape, got {tuple(flow.shape)} and "
                         f"{tuple(truth.shape)}")
    error = (flow - truth).norm(dim=1)  # [B, H, W]
    if mask is None:
        return float(error.mean())
    if mask.shape != error.shape:
        raise ValueError(f"mask must have shape {tuple(error.shape)}, got {tuple(mask.shape)}")
    if not mask.any():
        raise ValueError("mask selects no pixel")
    return float(error[mask].mean())


def flow_to_rgb(flow: Tensor, max_norm: float | None = None) -> Tensor:
    """Colour-wheel picture [B, 3, H, W] in [-1, 1] of flow [B, 2, H, W]: hue is the direction
    (red = +x, then anticlockwise on screen), saturation the length relative to `max_norm`
    (default: the largest in the batch); still pixels are white."""
    angle = torch.atan2(-flow[:, 1], flow[:, 0])  # y points down on screen
    norm = flow.norm(dim=1)
    top = float(norm.max()) if max_norm is None else max_norm
    sat = (norm / max(top, 1e-8)).clamp(0, 1)  # [B, H, W]
    hue = (angle / (2 * torch.pi)) % 1.0
    k = (torch.tensor([5.0, 3.0, 1.0], device=flow.device)[None, :, None, None]
         + 6 * hue[:, None]) % 6  # HSV -> RGB with V = 1
    rgb = 1 - sat[:, None] * torch.minimum(k, 4 - k).clamp(0, 1)
    return rgb * 2 - 1

"""Assignment a1 solved: ideal weights, the overlap window, attention along v, the probe."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from assignments.a1_kinematic_attention.probe_model import TinySpaceTimeDenoiser


def ideal_weights(x: float, y: float, t: int, velocity: tuple[float, float], frames: int,
                  hw: tuple[int, int], sigma: float) -> Tensor:
    """Task A1.1: softmax over [T, H, W] of -|p' - c(t')|² / 2σ², c(t') = (x, y) + v (t' - t)."""
    H, W = hw
    vx, vy = velocity
    ts = torch.arange(frames, dtype=torch.float64)[:, None, None]  # [T, 1, 1]
    ys = torch.arange(H, dtype=torch.float64)[:, None]  # [H, 1]
    xs = torch.arange(W, dtype=torch.float64)  # [W]
    cx, cy = x + vx * (ts - t), y + vy * (ts - t)  # the trajectory point of each frame
    logits = -((xs - cx).square() + (ys - cy).square()) / (2 * sigma**2)  # [T, H, W]
    return torch.softmax(logits.flatten(), dim=0).reshape(frames, H, W)


def overlap_interval(centre: tuple[float, float], patch: float, start: tuple[float, float],
                     size: float, velocity: tuple[float, float]) -> tuple[float, float]:
    """Task A1.2: per axis the open interval of τ with |start + v τ - centre| < (P + L) / 2,
    then the intersection of the two; (inf, -inf) when an axis never overlaps."""
    lo, hi = -math.inf, math.inf
    half = (patch + size) / 2
    for c, s, v in zip(centre, start, velocity, strict=True):
        d = s - c  # the object's offset from the patch at time 0, on this axis
        if v == 0:
            if abs(d) >= half:
                return math.inf, -math.inf
            continue
        a, b = (-half - d) / v, (half - d) / v
        lo, hi = max(lo, min(a, b)), min(hi, max(a, b))
    return lo, hi


def overlap_frames(centre: tuple[float, float], patch: float, start: tuple[float, float],
                   size: float, velocity: tuple[float, float], frames: int) -> Tensor:
    """Task A1.2: bool [frames], |start + v t' - centre| < (P + L) / 2 on both axes."""
    return (gaps(centre, start, velocity, frames) < (patch + size) / 2).all(dim=1)


def gaps(centre: tuple[float, float], start: tuple[float, float],
         velocity: tuple[float, float], frames: int) -> Tensor:
    """|start + v t' - centre| on each axis, for t' = 0 .. frames-1: [frames, 2] float64."""
    ts = torch.arange(frames, dtype=torch.float64)[:, None]  # [T, 1]
    position = torch.tensor(start, dtype=torch.float64) + torch.tensor(
        velocity, dtype=torch.float64) * ts  # [T, 2]
    return (position - torch.tensor(centre, dtype=torch.float64)).abs()


def along_motion(x: Tensor, hw: tuple[int, int], velocity: tuple[float, float]
                 ) -> tuple[Tensor, Tensor]:
    """x [B, T, S, h, D] read, for each query frame t and key frame t', at p + v (t' - t)
    (bilinearly, the point clamped to the grid) -> [B, T, T', S, h, D], and whether that
    point lies on the grid, bool [T, T', S]."""
    B, T, S, heads, D = x.shape
    H, W = hw
    ts = torch.arange(T, dtype=torch.float64)
    d = (ts[None, :] - ts[:, None])[:, :, None, None]  # [T, T', 1, 1], t' - t
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64),
                            torch.arange(W, dtype=torch.float64), indexing="ij")
    sx, sy = xs + velocity[0] * d, ys + velocity[1] * d  # [T, T', H, W]
    inside = (sx >= 0) & (sx <= W - 1) & (sy >= 0) & (sy <= H - 1)
    sx, sy = sx.clamp(0, W - 1), sy.clamp(0, H - 1)
    x0, y0 = sx.floor(), sy.floor()
    fx, fy = (sx - x0).flatten(2), (sy - y0).flatten(2)  # [T, T', S]
    x0, y0 = x0.long().flatten(2), y0.long().flatten(2)
    x1, y1 = (x0 + 1).clamp(max=W - 1), (y0 + 1).clamp(max=H - 1)
    frame = torch.arange(T)[None, :, None] * S  # [1, T', 1], the key frame's first token
    flat = x.reshape(B, T * S, heads, D)
    out = 0
    for yy, xx, w in ((y0, x0, (1 - fy) * (1 - fx)), (y0, x1, (1 - fy) * fx),
                      (y1, x0, fy * (1 - fx)), (y1, x1, fy * fx)):
        out = out + w.to(x.dtype)[..., None, None] * flat[:, frame + yy * W + xx]
    return out, inside.flatten(2)


def attend_frames(q: Tensor, keys: Tensor, values: Tensor, seen: Tensor) -> Tensor:
    """q [B, T, S, h, D] against keys, values [B, T, T', S, h, D], a softmax over the frames
    t' that `seen` [T, T', S] allows -> [B, T, S, h, D]."""
    scores = torch.einsum("btshd,btushd->btush", q, keys) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~seen[None, :, :, :, None], float("-inf"))  # [B, T, T', S, h]
    return torch.einsum("btush,btushd->btshd", torch.softmax(scores, dim=2), values)


def shifted_temporal_attention(q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int],
                               velocity: tuple[float, float]) -> Tensor:
    """Task A1.3: temporal attention over the keys and values at p + v (t' - t), the frames
    where that point leaves the grid masked. q, k, v [B, T, S, h, D] -> [B, T, S, h, D]."""
    keys, inside = along_motion(k, hw, velocity)
    values, _ = along_motion(v, hw, velocity)
    return attend_frames(q, keys, values, inside)


def query_row(weights: Tensor, hw: tuple[int, int], t: int, centre: tuple[float, float]
              ) -> Tensor:
    """The weights [T, H, W] (float64) of the query nearest `centre` in frame t."""
    H, W = hw
    s = math.floor(centre[1] + 0.5) * W + math.floor(centre[0] + 0.5)
    return weights[t, s].double().reshape(-1, H, W)


def near_trajectory(frames: int, hw: tuple[int, int], t: int, centre: tuple[float, float],
                    velocity: tuple[float, float], radius: float) -> Tensor:
    """bool [T, H, W]: the pixels within `radius` of centre + v (t' - t) in each frame t'."""
    H, W = hw
    ts = torch.arange(frames, dtype=torch.float64)[:, None, None] - t
    ys = torch.arange(H, dtype=torch.float64)[:, None]
    xs = torch.arange(W, dtype=torch.float64)
    px, py = centre[0] + velocity[0] * ts, centre[1] + velocity[1] * ts
    return (xs - px).square() + (ys - py).square() <= radius**2


def trajectory_mass(weights: Tensor, hw: tuple[int, int], t: int, centre: tuple[float, float],
                    velocity: tuple[float, float], radius: float) -> float:
    """Task A1.4: the share of the query's weight on the other frames that lies within
    `radius` of its trajectory. weights [T, S, T, S] -> float."""
    row = query_row(weights, hw, t, centre)  # [T, H, W]
    near = near_trajectory(len(row), hw, t, centre, velocity, radius)
    other = torch.arange(len(row)) != t  # the other frames only
    row, near = row[other], near[other]
    return float((row * near).sum() / row.sum())


@torch.no_grad()
def probe(model: TinySpaceTimeDenoiser, video: Tensor, centres: Tensor, velocities: Tensor,
          radius: float) -> dict[str, float]:
    """Task A1.4: the mean over clips of the trajectory mass of the query on the sprite in
    frame T // 2 along v, -v and (0, 0), and of uniform weights along v."""
    B, _, T, H, W = video.shape
    weights = model.attention(video).mean(dim=1)  # [B, T, S, T, S], heads averaged
    uniform = torch.full_like(weights[0], 1 / (T * H * W))
    t = T // 2
    figures = {"trajectory": 0.0, "mirrored": 0.0, "static": 0.0, "uniform": 0.0}
    for b in range(B):
        c, v = centres[b].tolist(), velocities[b].tolist()
        lines = (("trajectory", weights[b], v), ("mirrored", weights[b], [-v[0], -v[1]]),
                 ("static", weights[b], [0.0, 0.0]), ("uniform", uniform, v))
        for name, w, vel in lines:
            figures[name] += trajectory_mass(w, (H, W), t, c, vel, radius) / B
    return figures

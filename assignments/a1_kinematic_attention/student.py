"""Graduate assignment a1: what temporal attention must look like for constant-velocity motion.

Replace each `raise NotImplementedError(...)` with your code. Positions are (x, y) = (column,
row) in pixels (one token per pixel), pixel (row y, column x) has its centre at the point
(x, y), and token s = y*W + x of a frame's S = H*W tokens. Velocities v = (v_x, v_y) are in
pixels per frame. Check yourself with `python -m assignments.grade a1_kinematic_attention`.
"""

from __future__ import annotations

import math  # noqa: F401

import torch  # noqa: F401
from torch import Tensor

from assignments.a1_kinematic_attention.probe_model import TinySpaceTimeDenoiser


def ideal_weights(x: float, y: float, t: int, velocity: tuple[float, float], frames: int,
                  hw: tuple[int, int], sigma: float) -> Tensor:
    """Task A1.1: the ideal full space-time attention of a query at (x, y) in frame t on an
    object moving at v: one Gaussian of width σ around the object's position in every frame.

    With c(t') = (x + v_x (t' - t), y + v_y (t' - t)), the object's position in frame t':

        w[t', y', x'] = exp(-|(x', y') - c(t')|² / 2σ²) / Z,

    Z the sum over all t' in 0..frames-1, y' in 0..H-1, x' in 0..W-1, so that the weights sum
    to 1 over the whole clip, as a softmax over all T*S keys does. Compute it as a softmax of
    the exponents, so that nothing underflows to 0/0.
    hw = (H, W) -> [frames, H, W], float64.
    """
    raise NotImplementedError("Task A1.1: the trajectory point of each frame, a Gaussian "
                              "around it, normalised over the whole clip")


def overlap_interval(centre: tuple[float, float], patch: float, start: tuple[float, float],
                     size: float, velocity: tuple[float, float]) -> tuple[float, float]:
    """Task A1.2: the times τ (real numbers) at which a fixed square patch and a moving square
    object overlap with a positive area.

    The patch is the axis-aligned square of side P = `patch` centred at `centre`; the object
    is the axis-aligned square of side L = `size` centred at o(τ) = start + v τ. They overlap
    when, on both axes,

        |o(τ) - centre| < (P + L) / 2        (strictly: squares that only touch do not),

    an open interval of τ per axis (all τ or none where that component of v is 0); return the
    intersection of the two as (lo, hi), with ±math.inf for an end that does not exist. When
    they never overlap, return any (lo, hi) with hi <= lo.
    """
    raise NotImplementedError("Task A1.2: when each axis overlaps, then both")


def overlap_frames(centre: tuple[float, float], patch: float, start: tuple[float, float],
                   size: float, velocity: tuple[float, float], frames: int) -> Tensor:
    """Task A1.2: the frames t' = 0 .. frames-1 at which the patch and the object of
    `overlap_interval` overlap with a positive area: |start + v t' - centre| < (P + L) / 2 on
    both axes. -> bool [frames].
    """
    raise NotImplementedError("Task A1.2: the object's position in each frame, then the "
                              "overlap test of both axes")


def shifted_temporal_attention(q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int],
                               velocity: tuple[float, float]) -> Tensor:
    """Task A1.3: temporal attention whose keys and values are read along the motion.

    Query (b, t, p, h), p = (x, y), attends over the frames t' in which the point

        p(t') = p + v (t' - t)

    lies on the grid, 0 <= p_x(t') <= W-1 and 0 <= p_y(t') <= H-1 (other frames are masked):

        out[b, t, p, h] = Σ_t' softmax_t'( q[b, t, p, h] · k̃ / √D ) ṽ,

    with k̃ = k[b, t', ·, h] and ṽ = v[b, t', ·, h] read at p(t'). For whole-pixel v that is a
    token; otherwise read bilinearly from the four pixels around p(t'): with x0 = floor(p_x),
    fx = p_x - x0 (and likewise in y), (1-fy)[(1-fx) k(y0, x0) + fx k(y0, x0+1)] +
    fy[(1-fx) k(y0+1, x0) + fx k(y0+1, x0+1)], a pixel past the grid's edge having weight 0.
    Frame t itself is always seen. v = (0, 0) is vdlite.attention.temporal_attention.
    q, k, v: [B, T, S, heads, D], S = H*W, hw = (H, W) -> [B, T, S, heads, D].
    """
    raise NotImplementedError("Task A1.3: where each query reads in each frame, the keys and "
                              "values there, a softmax over the frames on the grid")


def trajectory_mass(weights: Tensor, hw: tuple[int, int], t: int, centre: tuple[float, float],
                    velocity: tuple[float, float], radius: float) -> float:
    """Task A1.4: how much of one query's attention to the other frames lies on a trajectory.

    weights [T, S, T, S]: weights[t, s, t', s'] is the weight query (t, s) gives key (t', s').
    The query is the token of frame t nearest `centre` = (c_x, c_y): column floor(c_x + 1/2),
    row floor(c_y + 1/2). With c(t') = centre + v (t' - t) and A(t', p') its weights,

        mass = Σ_{t' != t} Σ_{p' : |p' - c(t')| <= r} A(t', p')  /  Σ_{t' != t} Σ_{p'} A(t', p'),

    |·| the Euclidean distance, r = `radius`. -> a Python float in [0, 1].
    """
    raise NotImplementedError("Task A1.4: the query's row, the trajectory points, the share "
                              "of the other frames' weight near them")


def probe(model: TinySpaceTimeDenoiser, video: Tensor, centres: Tensor, velocities: Tensor,
          radius: float) -> dict[str, float]:
    """Task A1.4: where the trained model's attention goes, for a query on a moving sprite.

    video [B, 3, T, H, W] (noisy clips); centres [B, 2] the sprite's (x, y) in frame t = T // 2;
    velocities [B, 2] its v. Take `model.attention(video)` ([B, heads, T, S, T, S]) averaged
    over the heads, and for each clip the `trajectory_mass` of the query at its centre in frame
    t, with radius `radius`, along four lines; return the mean of each over the B clips:

        "trajectory"  velocity v           where the sprite really goes
        "mirrored"    velocity -v          the wrong side: where it came from, reversed
        "static"      velocity (0, 0)      the same place in every frame (per-pixel attention)
        "uniform"     velocity v, with every weight 1 / (T*S) instead of the model's (chance)
    """
    raise NotImplementedError("Task A1.4: the model's attention maps, the head average, four "
                              "masses per clip")

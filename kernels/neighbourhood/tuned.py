"""Neighbourhood temporal attention, the tuned path: a tile of positions and its halo a program.

Same maths, layout, masks and gradients as ``kernels/neighbourhood/lesson.py`` (read that
first). The lesson kernel reads each key column once for every one of its (2R + 1)^2
neighbours; here the keys and values a tile of queries needs are loaded once and shared.

- Tiles and halos. A program owns a TH x TW tile of grid positions and FRAMES of their frames:
  ``M = TH * TW * FRAMES`` query rows, row i at position ``i % (TH * TW)``, frame
  ``i // (TH * TW)``. Its queries see the halo, the ``HALO_H x HALO_W`` block of positions
  around the tile (``TH + 2R`` rows, ``TW + 2R`` columns, clipped to the grid and shifted back
  onto it at the edges, so every halo position is real). Each key frame's halo is loaded once,
  as CHUNK-position slices of the columns of one score tile, BLOCK_U key frames at a time, and
  every query of the tile is scored against all of it: the neighbourhood and temporal masks
  (``_allowed``) remove the pairs that are not neighbours.
- The price is the masked work: a query scores HALO_H * HALO_W positions per key frame where
  it needs (2R + 1)^2. ``_tile`` picks the largest tile whose padded halo costs at most twice
  the needed scores (R = 1: 2 x 2 tiles, a 4 x 4 halo, 16 scores where 9 count), so larger
  tiles trade masked FLOPs against re-reading halos (a key is in the halo of about
  HALO_H * HALO_W / (TH * TW) tiles, mostly from L2).
- One grid axis, B * frame blocks * tiles * heads programs, heads fastest: programs that run
  side by side read the other heads of the same tokens, the same cache lines (axis 0 reaches
  2^31 - 1; the batch never meets the 65,535 limit of axes 1 and 2).
- Sizes (rules, not measurements: tune with a sweep on the GPU): at most 128 query rows
  (64 for D = 128) so the float32 accumulator ``[M, D]`` stays in registers; 64 key columns a
  step, since tl.dot needs >= 16 and wider steps feed the tensor cores better; 8 warps when a
  score tile has more than 64 x 64 entries, else 4.
- The backward in two kernels, no atomics: ``_dq_kernel`` owns query tiles, exactly as the
  forward, and writes dq and delta = rowsum(dO * O); ``_dkdv_kernel`` owns key tiles and
  walks the halo of queries that see them (the square is symmetric), reading q, dO, lse2 and
  delta once per tile. The scores are computed twice, the cost of writing each gradient once.
- The host side: one plan per (shapes, strides, dtypes, devices, alignment, grid, radius,
  mask), cached, with ``kernels.runtime._Launch``; a forward with no backward to come skips
  the log-sum-exp.

The forward saves the base-2 log-sum-exp ``lse2 = m + log2(l)`` per query, float32
``[B, heads, T, S]``. Dots accumulate in float32; half types feed the tensor cores, float32
uses full-precision ("ieee") dots.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.runtime import (
    LOG2E,
    _Launch,
    _max,
    _sum,
    check_attention,
    check_device,
    check_mask,
    check_neighbourhood,
    precision,
)

__all__ = ["neighbourhood_attention"]

NAME = "kernels.neighbourhood_attention"


# ----------------------------------------------------------------------------- Triton helpers


@triton.jit
def _program(H, W, T, heads, TH: tl.constexpr, TW: tl.constexpr, FRAMES: tl.constexpr):
    """Program id -> (b, h, first row ty0 and column tx0 of the tile, first frame f0); heads
    fastest, then tiles, then frame blocks, then the batch. b is int64 (b * stride_b can pass
    2^31), the rest int32."""
    pid = tl.program_id(0).to(tl.int64)
    tiles_x = (W + TW - 1) // TW
    tiles = ((H + TH - 1) // TH) * tiles_x
    blocks = (T + FRAMES - 1) // FRAMES
    h = (pid % heads).to(tl.int32)
    tile = (pid // heads % tiles).to(tl.int32)
    f0 = (pid // (heads * tiles) % blocks).to(tl.int32) * FRAMES
    b = pid // (heads * tiles * blocks)
    return b, h, tile // tiles_x * TH, tile % tiles_x * TW, f0


@triton.jit
def _tokens(y0, x0, c0, t0, T, H, W, WIDTH: tl.constexpr, COUNT: tl.constexpr,
            CHUNK: tl.constexpr, FRAMES: tl.constexpr):
    """The tokens of a tile's rows or a halo's columns, ``[CHUNK * FRAMES]`` each: slot j is
    position c = c0 + j % CHUNK of a block WIDTH wide with its corner at (y0, x0), so at row
    y0 + c // WIDTH and column x0 + c % WIDTH, in frame t0 + j // CHUNK. Valid: c < COUNT and
    on the grid, t < T."""
    j = tl.arange(0, CHUNK * FRAMES)
    c = c0 + j % CHUNK
    y = y0 + c // WIDTH
    x = x0 + c % WIDTH
    t = t0 + j // CHUNK
    return y, x, t, (c < COUNT) & (y < H) & (x < W) & (t < T)


@triton.jit
def _offsets(y, x, t, W, stride_s, stride_t, stride_d, D: tl.constexpr):
    """Offsets ``[N, D]`` of tokens (y, x, t) from the base of one (b, h); int64."""
    token = (y * W + x).to(tl.int64) * stride_s + t.to(tl.int64) * stride_t
    return token[:, None] + tl.arange(0, D)[None, :] * stride_d


@triton.jit
def _load(X, y, x, t, ok, W, stride_s, stride_t, stride_d, D: tl.constexpr):
    """The tokens (y, x, t) of X from the base of one (b, h) as a tile ``[N, D]``; 0 where not
    ok."""
    return tl.load(X + _offsets(y, x, t, W, stride_s, stride_t, stride_d, D),
                   mask=ok[:, None], other=0.0)


@triton.jit
def _allowed(yq, xq, tq, yk, xk, tk, radius, window, CAUSAL: tl.constexpr,
             HAS_WINDOW: tl.constexpr):
    """Whether query (yq, xq, tq) may see key (yk, xk, tk), broadcast: the neighbourhood
    (|dy|, |dx| <= radius) and the temporal mask (causal: tk <= tq; window: |tq - tk| <= w)."""
    ok = (tl.abs(yq - yk) <= radius) & (tl.abs(xq - xk) <= radius)
    if CAUSAL:
        ok = ok & (tk <= tq)
    if HAS_WINDOW:
        ok = ok & (tl.abs(tq - tk) <= window)
    return ok


@triton.jit
def _frame_range(f0, T, window, FRAMES: tl.constexpr, CAUSAL: tl.constexpr,
                 HAS_WINDOW: tl.constexpr, OF_KEYS: tl.constexpr):
    """[lo, hi): the key frames that query frames f0 .. f0 + FRAMES - 1 see (OF_KEYS), or the
    query frames that see key frames f0 .. f0 + FRAMES - 1 (the transpose)."""
    lo = f0 * 0
    hi = lo + T
    if CAUSAL:
        if OF_KEYS:
            hi = tl.minimum(hi, f0 + FRAMES)
        else:
            lo = f0
    if HAS_WINDOW:
        lo = tl.maximum(lo, f0 - window)
        hi = tl.minimum(hi, f0 + FRAMES + window)
    return lo, hi


@triton.jit
def _halo(ty0, tx0, H, W, radius, HALO_H: tl.constexpr, HALO_W: tl.constexpr):
    """Corner of the tile's halo: radius before the tile, shifted back onto the grid."""
    hy0 = tl.minimum(tl.maximum(ty0 - radius, 0), H - HALO_H)
    hx0 = tl.minimum(tl.maximum(tx0 - radius, 0), W - HALO_W)
    return hy0, hx0


# ----------------------------------------------------------------------------- forward kernel


@triton.jit
def _forward_kernel(
    Q, K, V, O, LSE,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    T, H, W, heads, radius, window, sm_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, TH: tl.constexpr,
    TW: tl.constexpr, FRAMES: tl.constexpr, HALO_H: tl.constexpr, HALO_W: tl.constexpr,
    CHUNK: tl.constexpr, BLOCK_U: tl.constexpr, PRECISION: tl.constexpr,
    STORE_LSE: tl.constexpr,
):
    b, h, ty0, tx0, f0 = _program(H, W, T, heads, TH, TW, FRAMES)
    hy0, hx0 = _halo(ty0, tx0, H, W, radius, HALO_H, HALO_W)
    yq, xq, tq, q_ok = _tokens(ty0, tx0, 0, f0, T, H, W, TW, TH * TW, TH * TW, FRAMES)
    q = _load(Q + b * sqb + h * sqh, yq, xq, tq, q_ok, W, sqs, sqt, sqd, D)  # [M, D]
    k_base = K + b * skb + h * skh
    v_base = V + b * svb + h * svh
    qk_scale = sm_scale * LOG2E

    m = tl.full([TH * TW * FRAMES], -1.0e30, tl.float32)  # running max (base 2), finite
    l = tl.full([TH * TW * FRAMES], 0.0, tl.float32)
    acc = tl.full([TH * TW * FRAMES, D], 0.0, tl.float32)
    lo, hi = _frame_range(f0, T, window, FRAMES, CAUSAL, HAS_WINDOW, True)
    for u0 in range(lo, hi, BLOCK_U):  # key frames, BLOCK_U at a time
        for c0 in range(0, HALO_H * HALO_W, CHUNK):  # the halo, CHUNK positions at a time
            yk, xk, tk, k_ok = _tokens(hy0, hx0, c0, u0, T, H, W, HALO_W, HALO_H * HALO_W,
                                       CHUNK, BLOCK_U)
            k = _load(k_base, yk, xk, tk, k_ok, W, sks, skt, skd, D)  # [N, D]
            v = _load(v_base, yk, xk, tk, k_ok, W, svs, svt, svd, D)
            x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # [M, N]
            ok = _allowed(yq[:, None], xq[:, None], tq[:, None], yk[None, :], xk[None, :],
                          tk[None, :], radius, window, CAUSAL, HAS_WINDOW) & k_ok[None, :]
            x = tl.where(ok, x, float("-inf"))
            m_new = tl.maximum(m, _max(x, 1))
            p = tl.exp2(x - m_new[:, None])  # 0 where masked
            alpha = tl.exp2(m - m_new)
            l = l * alpha + _sum(p, 1)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
            m = m_new

    l = tl.where(l > 0.0, l, 1.0)  # padded rows may see nothing; real rows see themselves
    o = acc / l[:, None]
    tl.store(O + b * sob + h * soh + _offsets(yq, xq, tq, W, sos, sot, sod, D),
             o.to(O.dtype.element_ty), mask=q_ok[:, None])
    if STORE_LSE:  # only the backward needs it: [B, heads, T, S]
        tl.store(LSE + ((b * heads + h) * T + tq) * (H * W) + yq * W + xq, m + tl.log2(l),
                 mask=q_ok)


# ----------------------------------------------------------------------------- backward kernels


@triton.jit
def _dq_kernel(
    Q, K, V, O, DO, LSE, DELTA, DQ,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    sdb, sdt, sds, sdh, sdd,
    sgb, sgt, sgs, sgh, sgd,
    T, H, W, heads, radius, window, sm_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, TH: tl.constexpr,
    TW: tl.constexpr, FRAMES: tl.constexpr, HALO_H: tl.constexpr, HALO_W: tl.constexpr,
    CHUNK: tl.constexpr, BLOCK_U: tl.constexpr, PRECISION: tl.constexpr,
):
    b, h, ty0, tx0, f0 = _program(H, W, T, heads, TH, TW, FRAMES)
    hy0, hx0 = _halo(ty0, tx0, H, W, radius, HALO_H, HALO_W)
    yq, xq, tq, q_ok = _tokens(ty0, tx0, 0, f0, T, H, W, TW, TH * TW, TH * TW, FRAMES)
    q_mask = q_ok[:, None]
    q = _load(Q + b * sqb + h * sqh, yq, xq, tq, q_ok, W, sqs, sqt, sqd, D)  # [M, D]
    do = _load(DO + b * sdb + h * sdh, yq, xq, tq, q_ok, W, sds, sdt, sdd, D)
    o = _load(O + b * sob + h * soh, yq, xq, tq, q_ok, W, sos, sot, sod, D)
    stat = ((b * heads + h) * T + tq) * (H * W) + yq * W + xq  # [M] into [B, heads, T, S]
    lse = tl.load(LSE + stat, mask=q_ok, other=0.0)
    delta = _sum(do.to(tl.float32) * o.to(tl.float32), 1)  # rowsum(dO * O)
    tl.store(DELTA + stat, delta, mask=q_ok)  # for _dkdv_kernel
    k_base = K + b * skb + h * skh
    v_base = V + b * svb + h * svh
    qk_scale = sm_scale * LOG2E

    dq = tl.full([TH * TW * FRAMES, D], 0.0, tl.float32)
    lo, hi = _frame_range(f0, T, window, FRAMES, CAUSAL, HAS_WINDOW, True)
    for u0 in range(lo, hi, BLOCK_U):
        for c0 in range(0, HALO_H * HALO_W, CHUNK):
            yk, xk, tk, k_ok = _tokens(hy0, hx0, c0, u0, T, H, W, HALO_W, HALO_H * HALO_W,
                                       CHUNK, BLOCK_U)
            k = _load(k_base, yk, xk, tk, k_ok, W, sks, skt, skd, D)
            v = _load(v_base, yk, xk, tk, k_ok, W, svs, svt, svd, D)
            x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # [M, N]
            ok = _allowed(yq[:, None], xq[:, None], tq[:, None], yk[None, :], xk[None, :],
                          tk[None, :], radius, window, CAUSAL, HAS_WINDOW) & k_ok[None, :]
            p = tl.where(ok, tl.exp2(x - lse[:, None]), 0.0)  # P, exactly normalised
            dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)  # dO v^T
            ds = p * (dp - delta[:, None])
            dq = tl.dot(ds.to(k.dtype), k, dq, input_precision=PRECISION)  # += dS k

    tl.store(DQ + b * sgb + h * sgh + _offsets(yq, xq, tq, W, sgs, sgt, sgd, D),
             (dq * sm_scale).to(DQ.dtype.element_ty), mask=q_mask)


@triton.jit
def _dkdv_kernel(
    Q, K, V, DO, LSE, DELTA, DK, DV,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sdb, sdt, sds, sdh, sdd,
    sgb, sgt, sgs, sgh, sgd,
    T, H, W, heads, radius, window, sm_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, TH: tl.constexpr,
    TW: tl.constexpr, FRAMES: tl.constexpr, HALO_H: tl.constexpr, HALO_W: tl.constexpr,
    CHUNK: tl.constexpr, BLOCK_U: tl.constexpr, PRECISION: tl.constexpr,
):
    # rows: this program's key tile; columns: the halo of queries that see it
    b, h, ty0, tx0, f0 = _program(H, W, T, heads, TH, TW, FRAMES)
    hy0, hx0 = _halo(ty0, tx0, H, W, radius, HALO_H, HALO_W)
    yk, xk, tk, k_ok = _tokens(ty0, tx0, 0, f0, T, H, W, TW, TH * TW, TH * TW, FRAMES)
    k_mask = k_ok[:, None]
    k = _load(K + b * skb + h * skh, yk, xk, tk, k_ok, W, sks, skt, skd, D)  # [M, D]
    v = _load(V + b * svb + h * svh, yk, xk, tk, k_ok, W, svs, svt, svd, D)
    q_base = Q + b * sqb + h * sqh
    do_base = DO + b * sdb + h * sdh
    stat_base = (b * heads + h) * T * (H * W)
    qk_scale = sm_scale * LOG2E

    dk = tl.full([TH * TW * FRAMES, D], 0.0, tl.float32)
    dv = tl.full([TH * TW * FRAMES, D], 0.0, tl.float32)
    lo, hi = _frame_range(f0, T, window, FRAMES, CAUSAL, HAS_WINDOW, False)
    for t0 in range(lo, hi, BLOCK_U):  # query frames that see these keys
        for c0 in range(0, HALO_H * HALO_W, CHUNK):
            yq, xq, tq, q_ok = _tokens(hy0, hx0, c0, t0, T, H, W, HALO_W, HALO_H * HALO_W,
                                       CHUNK, BLOCK_U)
            q = _load(q_base, yq, xq, tq, q_ok, W, sqs, sqt, sqd, D)  # [N, D]
            do = _load(do_base, yq, xq, tq, q_ok, W, sds, sdt, sdd, D)
            stat = stat_base + tq * (H * W) + yq * W + xq
            lse = tl.load(LSE + stat, mask=q_ok, other=0.0)  # [N]
            delta = tl.load(DELTA + stat, mask=q_ok, other=0.0)
            x_t = tl.dot(k, tl.trans(q), input_precision=PRECISION) * qk_scale  # [M keys, N]
            ok_t = _allowed(yq[None, :], xq[None, :], tq[None, :], yk[:, None], xk[:, None],
                            tk[:, None], radius, window, CAUSAL, HAS_WINDOW) & q_ok[None, :]
            p_t = tl.where(ok_t, tl.exp2(x_t - lse[None, :]), 0.0)  # P^T
            dv = tl.dot(p_t.to(do.dtype), do, dv, input_precision=PRECISION)  # += P^T dO
            dp_t = tl.dot(v, tl.trans(do), input_precision=PRECISION)  # (dO v^T)^T
            ds_t = p_t * (dp_t - delta[None, :])  # dS^T
            dk = tl.dot(ds_t.to(q.dtype), q, dk, input_precision=PRECISION)  # += dS^T q

    g = b * sgb + h * sgh + _offsets(yk, xk, tk, W, sgs, sgt, sgd, D)  # dk, dv: one layout
    tl.store(DK + g, (dk * sm_scale).to(DK.dtype.element_ty), mask=k_mask)
    tl.store(DV + g, dv.to(DV.dtype.element_ty), mask=k_mask)


# ----------------------------------------------------------------------------- host side


TILES = (1, 2, 4)  # tile sides tried by _tile
COLUMNS = 64  # key columns a step (halo positions x key frames)


def _halo_size(hw: tuple[int, int], radius: int, tile: tuple[int, int]) -> tuple[int, int]:
    """(HALO_H, HALO_W): the tile grown by radius on each side, clipped to the grid."""
    return min(tile[0] + 2 * radius, hw[0]), min(tile[1] + 2 * radius, hw[1])


def _chunk(halo: int) -> int:
    """Halo positions per step: the halo padded to a power of two, at most COLUMNS."""
    return min(COLUMNS, triton.next_power_of_2(halo))


def _tile(hw: tuple[int, int], radius: int) -> tuple[int, int]:
    """(TH, TW): the largest tile (sides 1, 2, 4, no larger than the grid) whose halo, padded
    to whole steps, costs at most twice the scores a query needs, (2R + 1)^2 clipped to the
    grid; ties go to the smaller halo. The 1 x 1 tile always qualifies."""
    H, W = hw
    need = min(2 * radius + 1, H) * min(2 * radius + 1, W)

    def cost(tile):  # score columns per query and key frame
        hh, hw_ = _halo_size(hw, radius, tile)
        return triton.cdiv(hh * hw_, _chunk(hh * hw_)) * _chunk(hh * hw_)

    tiles = [(th, tw) for th in TILES for tw in TILES if th <= H and tw <= W]
    fits = [t for t in tiles if cost(t) <= 2 * need]
    return max(fits, key=lambda t: (t[0] * t[1], -cost(t), -abs(t[0] - t[1])))


def _config(T: int, D: int, hw: tuple[int, int], radius: int) -> dict:
    """The constants of every kernel of this call, and num_warps (see the module docstring)."""
    th, tw = _tile(hw, radius)
    halo_h, halo_w = _halo_size(hw, radius, (th, tw))
    chunk = _chunk(halo_h * halo_w)
    rows = 128 if D <= 64 else 64
    frames = max(16 // (th * tw), min(triton.next_power_of_2(T), rows // (th * tw)))
    block_u = max(triton.cdiv(16, chunk), min(COLUMNS // chunk, triton.next_power_of_2(T)))
    num_warps = 8 if th * tw * frames * chunk * block_u > 64 * 64 else 4
    return dict(TH=th, TW=tw, FRAMES=frames, HALO_H=halo_h, HALO_W=halo_w, CHUNK=chunk,
                BLOCK_U=block_u), num_warps


class _Plan:
    """Everything a call needs that does not depend on the data, checked once and cached."""

    __slots__ = ("hw", "radius", "window", "fwd", "bwd_config", "bwd")

    def __init__(self, q: Tensor, hw: tuple[int, int], radius: int, causal: bool,
                 window: int | None):
        B, T, S, heads, D = q.shape
        self.hw, self.radius, self.window = hw, radius, window
        constants, num_warps = _config(T, D, hw, radius)
        tiles = triton.cdiv(hw[0], constants["TH"]) * triton.cdiv(hw[1], constants["TW"])
        grid = (B * triton.cdiv(T, constants["FRAMES"]) * tiles * heads,)
        common = dict(constants, CAUSAL=causal, HAS_WINDOW=window is not None, D=D,
                      PRECISION=precision(q.dtype))
        self.fwd = {store: _Launch(_forward_kernel, grid, dict(common, STORE_LSE=store),
                                   num_warps, 1) for store in (False, True)}
        self.bwd_config = grid, common, num_warps
        self.bwd = {}  # (dq kernel, dk dv kernel) launches per (dO strides, alignment)

    def scalars(self, q: Tensor) -> tuple:
        B, T, S, heads, D = q.shape
        return (T, *self.hw, heads, self.radius, self.window or 0, 1.0 / math.sqrt(D))

    def backward_launches(self, do: Tensor) -> tuple[_Launch, _Launch]:
        key = (do.stride(), do.data_ptr() % 16, do.dtype)
        if key not in self.bwd:
            grid, common, num_warps = self.bwd_config
            self.bwd[key] = (_Launch(_dq_kernel, grid, common, num_warps, 1),
                             _Launch(_dkdv_kernel, grid, common, num_warps, 1))
        return self.bwd[key]


_PLANS: dict[tuple, _Plan] = {}


def _forward(q: Tensor, k: Tensor, v: Tensor, plan: _Plan, store_lse: bool = True):
    B, T, S, heads, D = q.shape
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)  # [B, T, S, heads, D]
    lse = torch.empty((B, heads, T, S), dtype=torch.float32, device=q.device) if store_lse \
        else o  # never written without a backward: any pointer will do
    plan.fwd[store_lse](q, k, v, o, lse, *q.stride(), *k.stride(), *v.stride(), *o.stride(),
                        *plan.scalars(q))
    return o, lse


def _backward(q, k, v, o, lse, do, plan: _Plan):
    dq, dk, dv = (torch.empty(q.shape, dtype=q.dtype, device=q.device) for _ in range(3))
    delta = torch.empty_like(lse)  # rowsum(dO * O), [B, heads, T, S], written by the dq kernel
    dq_launch, dkdv_launch = plan.backward_launches(do)
    dq_launch(q, k, v, o, do, lse, delta, dq, *q.stride(), *k.stride(), *v.stride(),
              *o.stride(), *do.stride(), *dq.stride(), *plan.scalars(q))
    dkdv_launch(q, k, v, do, lse, delta, dk, dv, *q.stride(), *k.stride(), *v.stride(),
                *do.stride(), *dk.stride(), *plan.scalars(q))
    return dq, dk, dv


class _NeighbourhoodAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, plan):
        o, lse = _forward(q, k, v, plan)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.plan = plan
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        return (*_backward(q, k, v, o, lse, do, ctx.plan), None)


def _get_plan(q: Tensor, k: Tensor, v: Tensor, hw: object, radius: int, causal: bool,
              window: int | None) -> _Plan:
    """The cached plan of this call, checking the inputs the first time a key is seen."""
    try:
        key = (q.shape, k.shape, v.shape, q.stride(), k.stride(), v.stride(), q.dtype,
               k.dtype, v.dtype, q.device, k.device, v.device, q.data_ptr() % 16,
               k.data_ptr() % 16, v.data_ptr() % 16, tuple(hw), radius, causal, window)
        plan = _PLANS.get(key)
    except (AttributeError, TypeError):  # not tensors, or hw not a sequence: checked below
        key = plan = None
    if plan is None:
        check_attention(NAME, q, k, v)
        check_mask(causal, window)
        hw = check_neighbourhood(q, hw, radius)
        check_device(q, NAME)
        T = q.shape[1]
        plan = _Plan(q, hw, min(radius, max(hw) - 1), causal,  # a wider square sees no more
                     None if window is None or window >= T - 1 else window)  # nor a window
        if key is not None:
            if len(_PLANS) >= 256:  # many shapes: start again rather than grow without end
                _PLANS.clear()
            _PLANS[key] = plan
    else:  # True == 1 as keys: check the types again
        check_mask(causal, window)
        check_neighbourhood(q, hw, radius)
    return plan


def neighbourhood_attention(
    q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int], radius: int = 1,
    causal: bool = False, window: int | None = None,
) -> Tensor:
    """Each token attends over the (2R + 1)^2 positions around it in every allowed frame,
    fused in Triton.

    ``out[b, t, s, h] = sum_{u, r} softmax_{u, r}(q[b, t, s, h] . k[b, u, r, h] / sqrt(D)
    + M[t, u] + N[s, r]) v[b, u, r, h]``, M from ``temporal_mask(T, causal, window)``, N from
    ``neighbourhood_mask(hw, radius)``: the semantics of
    ``vdlite.attention.neighbourhood_temporal_attention``, differentiable in q, k and v.

    q, k, v: ``[B, T, S, heads, D]`` of one dtype (float16, bfloat16, float32) and device,
    any strides (e.g. the views ``qkv.unbind(3)`` of a fused projection); D in 16, 32, 64,
    128; hw = (H, W) with H*W = S; radius R >= 0 (0 is per-position temporal attention)
    -> ``[B, T, S, heads, D]``, contiguous, in q's dtype. An empty input launches nothing.
    """
    if isinstance(q, Tensor) and q.numel() == 0:
        check_attention(NAME, q, k, v)
        check_mask(causal, window)
        check_neighbourhood(q, hw, radius)
        return (q + k + v) * 0  # nothing to launch: an empty result, differentiable
    plan = _get_plan(q, k, v, hw, radius, causal, window)
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        return _NeighbourhoodAttention.apply(q, k, v, plan)
    return _forward(q, k, v, plan, store_lse=False)[0]  # no backward: no log-sum-exp to save

"""Neighbourhood temporal attention in Triton, the lesson kernel: one position a program.

What it computes. The tokens ``[B, T, S, heads, D]`` lie on an H x W grid (S = H*W, token s at
row s // W, column s % W). Token (t, s) of head h attends jointly over the frames u its
temporal mask allows and, in each, the positions r of the (2R + 1) x (2R + 1) square around s
that lie on the grid (|row(r) - row(s)| <= R, |col(r) - col(s)| <= R):

    out[b, t, s, h] = sum_{u, r} softmax_{u, r}(q[b, t, s, h] . k[b, u, r, h] / sqrt(D)
                      + M[t, u] + N[s, r]) v[b, u, r, h],

M from ``vdlite.attention.temporal_mask(T, causal, window)``, N from ``neighbourhood_mask``
(0 where allowed, -inf elsewhere). R = 0 is per-position temporal attention. The reference,
``vdlite.attention.neighbourhood_temporal_attention`` in float64, is what the tests compare
this kernel with.

One program, one token column. Program (b, s, h) loads the T frames of q at position s as a
tile ``[BLOCK_T, D]`` (BLOCK_T = T padded to a power of two >= 16, the ``tl.dot`` minimum)
and walks the (2R + 1)^2 neighbours r of s. Each neighbour is one step of temporal attention
(``kernels/temporal/lesson.py``): its T frames of k and v and a ``[BLOCK_T, BLOCK_T]`` score
tile with the temporal mask. The loops run over the rows and columns of the square clipped to
the grid, so a neighbour off the grid (the mask N) is never visited. Since one row's keys
now arrive in (2R + 1)^2 pieces, the softmax is the online one of flash attention, in base 2
(``kernels.runtime.LOG2E``):

    x2 = q k_r^T * LOG2E / sqrt(D)                    [BLOCK_T, BLOCK_T], masked -inf
    m' = max(m, rowmax(x2));  p = exp2(x2 - m');  l = l * exp2(m - m') + rowsum(p)
    acc = acc * exp2(m - m') + p v_r;  m = m'          after the last r:  o = acc / l
    lse2 = m + log2(l)                                  saved for the backward, [B, heads, S, T]

The backward, one program per position again, in two loops. With P = softmax, dP = dO v^T,
delta = rowsum(dO * O) and dS = P * (dP - delta):

- as a query: dq[s] = sum_r dS(s, r) k[r] / sqrt(D), P(s, r) = exp2(q[s] k[r]^T * c - lse2[s]);
- as a key: dk[s] = sum_r dS(r, s)^T q[r] / sqrt(D) and dv[s] = sum_r P(r, s)^T dO[r], over the
  queries r that see s, which are s's own neighbours (the square is symmetric).

Nothing of size T x T is kept between steps. Every neighbour's k and v is read again by each
of its (2R + 1)^2 neighbours' programs: ``tuned.py`` loads a tile of positions and its halo
once instead. The grid is one axis of B * S * heads programs (CUDA's axis 0 reaches 2^31 - 1).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.runtime import (
    LOG2E,
    check_attention,
    check_device,
    check_mask,
    check_neighbourhood,
    precision,
)
from kernels.temporal.lesson import _allowed, _sequence

__all__ = ["neighbourhood_attention"]

NAME = "kernels.neighbourhood.lesson.neighbourhood_attention"


@triton.jit
def _frames(X, b, s, h, sb, st, ss, sh, sd, t, T, D: tl.constexpr):
    """The frames of token column (b, s, h) of X as a tile ``[BLOCK_T, D]``; rows t >= T
    load 0."""
    d = tl.arange(0, D)
    ptrs = (X + b * sb + s.to(tl.int64) * ss + h * sh + t.to(tl.int64)[:, None] * st
            + d[None, :] * sd)
    return tl.load(ptrs, mask=(t < T)[:, None], other=0.0)




@triton.jit
def _forward_kernel(
    Q, K, V, O, LSE,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    T, H, W, heads, radius, window, qk_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, BLOCK_T: tl.constexpr,
    PRECISION: tl.constexpr,
):
    S = H * W
    b, s, h = _sequence(tl.program_id(0), S, heads)
    row, col = s // W, s % W
    t = tl.arange(0, BLOCK_T)  # frames: the rows (queries) and the columns (keys) of a step
    q = _frames(Q, b, s, h, sqb, sqt, sqs, sqh, sqd, t, T, D)  # [BLOCK_T, D]
    allowed = _allowed(t, T, window, CAUSAL, HAS_WINDOW)  # [BLOCK_T, BLOCK_T], the mask M

    m = tl.full([BLOCK_T], -1.0e30, tl.float32)  # running max (base 2), finite
    l = tl.full([BLOCK_T], 0.0, tl.float32)  # running sum of exp2(x2 - m)
    acc = tl.full([BLOCK_T, D], 0.0, tl.float32)  # running sum of exp2(x2 - m) v
    for y in range(tl.maximum(row - radius, 0), tl.minimum(row + radius + 1, H)):
        for x in range(tl.maximum(col - radius, 0), tl.minimum(col + radius + 1, W)):
            r = y * W + x  # a neighbour on the grid: those off it are never visited
            k = _frames(K, b, r, h, skb, skt, sks, skh, skd, t, T, D)  # [BLOCK_T, D]
            v = _frames(V, b, r, h, svb, svt, svs, svh, svd, t, T, D)
            x2 = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # [T, T]
            x2 = tl.where(allowed, x2, float("-inf"))  # M
            m_new = tl.maximum(m, tl.max(x2, 1))
            p = tl.exp2(x2 - m_new[:, None])  # 0 where masked
            alpha = tl.exp2(m - m_new)  # rescales what was summed under the old max
            l = l * alpha + tl.sum(p, 1)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
            m = m_new

    l = tl.where(l > 0.0, l, 1.0)  # padded rows may see nothing; real rows see themselves
    o = acc / l[:, None]  # [BLOCK_T, D]
    d = tl.arange(0, D)
    rows = t.to(tl.int64)[:, None]
    tl.store(O + b * sob + s * sos + h * soh + rows * sot + d[None, :] * sod,
             o.to(O.dtype.element_ty), mask=(t < T)[:, None])
    tl.store(LSE + ((b * heads + h) * S + s) * T + t, m + tl.log2(l), mask=t < T)


@triton.jit
def _backward_kernel(
    Q, K, V, O, DO, LSE, DQ, DK, DV,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    sdb, sdt, sds, sdh, sdd,
    sgb, sgt, sgs, sgh, sgd,
    T, H, W, heads, radius, window, qk_scale, sm_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, BLOCK_T: tl.constexpr,
    PRECISION: tl.constexpr,
):
    S = H * W
    b, s, h = _sequence(tl.program_id(0), S, heads)
    row, col = s // W, s % W
    t = tl.arange(0, BLOCK_T)
    allowed = _allowed(t, T, window, CAUSAL, HAS_WINDOW)  # [query frame, key frame]
    allowed_t = tl.trans(allowed)  # [key frame, query frame]
    lse_base = LSE + (b * heads + h) * S * T

    # 1. s as a query: dq[s] = sum over the neighbours r (keys) of dS k_r
    q = _frames(Q, b, s, h, sqb, sqt, sqs, sqh, sqd, t, T, D)  # [BLOCK_T, D]
    do = _frames(DO, b, s, h, sdb, sdt, sds, sdh, sdd, t, T, D)
    o = _frames(O, b, s, h, sob, sot, sos, soh, sod, t, T, D)
    lse = tl.load(lse_base + s * T + t, mask=t < T, other=0.0)  # [BLOCK_T]
    delta = tl.sum(do.to(tl.float32) * o.to(tl.float32), 1)  # rowsum(dO * O)
    dq = tl.full([BLOCK_T, D], 0.0, tl.float32)
    for y in range(tl.maximum(row - radius, 0), tl.minimum(row + radius + 1, H)):
        for x in range(tl.maximum(col - radius, 0), tl.minimum(col + radius + 1, W)):
            r = y * W + x  # a neighbour on the grid: those off it are never visited
            k = _frames(K, b, r, h, skb, skt, sks, skh, skd, t, T, D)
            v = _frames(V, b, r, h, svb, svt, svs, svh, svd, t, T, D)
            x2 = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale
            p = tl.where(allowed, tl.exp2(x2 - lse[:, None]), 0.0)  # P, normalised
            dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)  # dO v^T
            ds = p * (dp - delta[:, None])  # dS
            dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)

    # 2. s as a key: dk[s], dv[s] from the queries that see it, its neighbours r
    k = _frames(K, b, s, h, skb, skt, sks, skh, skd, t, T, D)
    v = _frames(V, b, s, h, svb, svt, svs, svh, svd, t, T, D)
    dk = tl.full([BLOCK_T, D], 0.0, tl.float32)
    dv = tl.full([BLOCK_T, D], 0.0, tl.float32)
    for y in range(tl.maximum(row - radius, 0), tl.minimum(row + radius + 1, H)):
        for x in range(tl.maximum(col - radius, 0), tl.minimum(col + radius + 1, W)):
            r = y * W + x  # a neighbour on the grid: those off it are never visited
            q_r = _frames(Q, b, r, h, sqb, sqt, sqs, sqh, sqd, t, T, D)
            do_r = _frames(DO, b, r, h, sdb, sdt, sds, sdh, sdd, t, T, D)
            o_r = _frames(O, b, r, h, sob, sot, sos, soh, sod, t, T, D)
            lse_r = tl.load(lse_base + r * T + t, mask=t < T, other=0.0)
            delta_r = tl.sum(do_r.to(tl.float32) * o_r.to(tl.float32), 1)
            x2_t = tl.dot(k, tl.trans(q_r), input_precision=PRECISION) * qk_scale  # [u, t]
            p_t = tl.where(allowed_t, tl.exp2(x2_t - lse_r[None, :]), 0.0)
            dv += tl.dot(p_t.to(do_r.dtype), do_r, input_precision=PRECISION)  # P^T dO
            dp_t = tl.dot(v, tl.trans(do_r), input_precision=PRECISION)  # (dO v^T)^T
            ds_t = p_t * (dp_t - delta_r[None, :])  # dS^T
            dk += tl.dot(ds_t.to(q_r.dtype), q_r, input_precision=PRECISION)

    d = tl.arange(0, D)
    g = b * sgb + s * sgs + h * sgh + t.to(tl.int64)[:, None] * sgt + d[None, :] * sgd
    real = (t < T)[:, None]  # dq, dk, dv share one layout
    tl.store(DQ + g, (dq * sm_scale).to(DQ.dtype.element_ty), mask=real)
    tl.store(DK + g, (dk * sm_scale).to(DK.dtype.element_ty), mask=real)
    tl.store(DV + g, dv.to(DV.dtype.element_ty), mask=real)


def _block(T: int) -> int:
    """Rows of the frame tile: T padded to a power of two >= 16 (the tl.dot minimum)."""
    return max(16, triton.next_power_of_2(T))


class _NeighbourhoodAttention(torch.autograd.Function):
    """o = neighbourhood attention of q, k, v; the backward recomputes P from the saved lse2."""

    @staticmethod
    def forward(ctx, q, k, v, hw, radius, causal, window):
        B, T, S, heads, D = q.shape
        o = torch.empty(q.shape, dtype=q.dtype, device=q.device)  # [B, T, S, heads, D]
        lse = torch.empty((B, heads, S, T), dtype=torch.float32, device=q.device)  # base 2
        _forward_kernel[(B * S * heads,)](
            q, k, v, o, lse, *q.stride(), *k.stride(), *v.stride(), *o.stride(),
            T, *hw, heads, radius, window or 0, LOG2E.value / math.sqrt(D),
            CAUSAL=causal, HAS_WINDOW=window is not None, D=D, BLOCK_T=_block(T),
            PRECISION=precision(q.dtype),
        )
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.args = hw, radius, causal, window
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        hw, radius, causal, window = ctx.args
        B, T, S, heads, D = q.shape
        dq, dk, dv = (torch.empty(q.shape, dtype=q.dtype, device=q.device) for _ in range(3))
        _backward_kernel[(B * S * heads,)](
            q, k, v, o, do, lse, dq, dk, dv,
            *q.stride(), *k.stride(), *v.stride(), *o.stride(), *do.stride(), *dq.stride(),
            T, *hw, heads, radius, window or 0, LOG2E.value / math.sqrt(D), 1.0 / math.sqrt(D),
            CAUSAL=causal, HAS_WINDOW=window is not None, D=D, BLOCK_T=_block(T),
            PRECISION=precision(q.dtype),
        )
        return dq, dk, dv, None, None, None, None


def neighbourhood_attention(
    q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int], radius: int = 1,
    causal: bool = False, window: int | None = None,
) -> Tensor:
    """Each token attends over the (2R + 1)^2 positions around it in every allowed frame
    (lesson kernel).

    ``out[b, t, s, h] = sum_{u, r} softmax_{u, r}(q[b, t, s, h] . k[b, u, r, h] / sqrt(D)
    + M[t, u] + N[s, r]) v[b, u, r, h]``: the semantics of
    ``vdlite.attention.neighbourhood_temporal_attention``, differentiable in q, k and v.

    q, k, v: ``[B, T, S, heads, D]``, one dtype (float16, bfloat16, float32) and device, any
    strides; D in 16, 32, 64, 128; hw = (H, W) with H*W = S; radius R >= 0
    -> ``[B, T, S, heads, D]``, contiguous, in q's dtype.
    """
    check_attention(NAME, q, k, v)
    check_mask(causal, window)
    hw = check_neighbourhood(q, hw, radius)
    if q.numel() == 0:  # nothing to launch: an empty result, differentiable
        return (q + k + v) * 0
    check_device(q, NAME)
    T = q.shape[1]
    window = None if window is not None and window >= T - 1 else window  # excludes nothing
    radius = min(radius, max(hw) - 1)  # a wider square sees no more of the grid
    return _NeighbourhoodAttention.apply(q, k, v, hw, radius, causal, window)

"""Temporal attention in Triton, the lesson kernel: forward and backward, one sequence a program.

What it computes. For every batch b, position s and head h, the T frames at (b, s, h) form one
short sequence, and each frame t attends over the frames u its mask allows:

    out[b, t, s, h] = sum_u softmax_u(q[b, t, s, h] . k[b, u, s, h] / sqrt(D) + M[t, u])
                      v[b, u, s, h],

with M = 0 where ``vdlite.attention.temporal_mask(T, causal, window)`` allows u and -inf
elsewhere (causal: u <= t; window w: |t - u| <= w; the diagonal always). That reference, in
float64, is what the tests compare this kernel with.

The layout, through strides. q, k, v are ``[B, T, S, heads, D]`` with any strides, e.g. the
views ``qkv.unbind(3)`` of a fused projection ``[B, T, S, 3, heads, D]``: element
(b, t, s, h, d) lives at ``b*stride_b + t*stride_t + s*stride_s + h*stride_h + d*stride_d``,
so the kernel never permutes or copies. One program takes one sequence (b, s, h) and loads its
frames as a tile ``[BLOCK_T, D]``: row t at ``t*stride_t`` from the sequence's start.

Padding to 16. ``tl.dot`` needs every dimension >= 16, so the frame axis is padded to
``BLOCK_T = max(16, next_power_of_2(T))`` rows: padded rows load as 0, padded keys are masked
out of the softmax, padded query rows are never stored.

The forward, in base 2 (``exp2`` is one instruction; ``kernels.runtime.LOG2E`` = log2(e)):

    x2 = q k^T * LOG2E / sqrt(D)            [BLOCK_T, BLOCK_T], masked entries -inf
    m = rowmax(x2);  p = exp2(x2 - m);  l = rowsum(p);  o = (p / l) v
    lse2 = m + log2(l) = log2(sum_u exp2(x2_u))      saved for the backward, [B, heads, S, T]

The backward (flash attention 2, all keys of a row in one tile). With P = softmax(S),
S = q k^T / sqrt(D), O = P v and dO the incoming gradient:

    dv = P^T dO,   dP = dO v^T,   dS = P * (dP - delta),   delta = rowsum(P * dP) = rowsum(dO * O),
    dq = dS k / sqrt(D),   dk = dS^T q / sqrt(D).

Nothing of size T x T is saved: P = exp2(x2 - lse2) is recomputed from q, k and lse2, exactly
normalised. The grid is one axis of B*S*heads programs (CUDA's axis 0 reaches 2^31 - 1, any
batch fits). ``kernels/temporal/tuned.py`` is the same maths made fast: several sequences per
program, short clips packed into one 16-row block, key blocks for long clips, cached plans.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.runtime import LOG2E, check_attention, check_device, check_mask, precision
from vdlite.attention import temporal_attention as _reference

__all__ = ["temporal_attention"]

NAME = "kernels.temporal.lesson.temporal_attention"


@triton.jit
def _allowed(t, T, window, CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr):
    """The mask ``[BLOCK_T queries, BLOCK_T keys]``: key u is a real frame (u < T) that query
    t may see (u <= t when causal, |t - u| <= window with a window)."""
    tq = t[:, None]
    tk = t[None, :]
    ok = (tk < T) & (tq >= 0)
    if CAUSAL:
        ok = ok & (tk <= tq)
    if HAS_WINDOW:
        ok = ok & (tl.abs(tq - tk) <= window)
    return ok


@triton.jit
def _load_frames(X, b, s, h, sb, st, ss, sh, sd, t, T, D: tl.constexpr):
    """The frames of sequence (b, s, h) of X as a tile ``[BLOCK_T, D]``; rows t >= T load 0."""
    d = tl.arange(0, D)
    ptrs = X + b * sb + s * ss + h * sh + t.to(tl.int64)[:, None] * st + d[None, :] * sd
    return tl.load(ptrs, mask=(t < T)[:, None], other=0.0)


@triton.jit
def _sequence(pid, S, heads):
    """Program id -> (b, s, h), heads fastest; int64, as b * stride_b can pass 2^31."""
    pid = pid.to(tl.int64)
    return pid // (S * heads), pid // heads % S, pid % heads


@triton.jit
def _forward_kernel(
    Q, K, V, O, LSE,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    T, S, heads, window, qk_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, BLOCK_T: tl.constexpr,
    PRECISION: tl.constexpr,
):
    b, s, h = _sequence(tl.program_id(0), S, heads)
    t = tl.arange(0, BLOCK_T)  # frames: the tile's rows (queries) and columns (keys)
    q = _load_frames(Q, b, s, h, sqb, sqt, sqs, sqh, sqd, t, T, D)  # [BLOCK_T, D]
    k = _load_frames(K, b, s, h, skb, skt, sks, skh, skd, t, T, D)
    v = _load_frames(V, b, s, h, svb, svt, svs, svh, svd, t, T, D)

    x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # [T, T] scores, base 2
    x = tl.where(_allowed(t, T, window, CAUSAL, HAS_WINDOW), x, float("-inf"))
    m = tl.maximum(tl.max(x, 1), -1.0e30)  # finite: a padded row may allow no key at all
    p = tl.exp2(x - m[:, None])  # 0 where masked
    l = tl.sum(p, 1)  # >= 1 on real rows (the diagonal)
    l = tl.where(l > 0.0, l, 1.0)
    o = tl.dot(p.to(v.dtype), v, input_precision=PRECISION) / l[:, None]  # [BLOCK_T, D]

    d = tl.arange(0, D)
    rows = t.to(tl.int64)[:, None]
    tl.store(O + b * sob + s * sos + h * soh + rows * sot + d[None, :] * sod,
             o.to(O.dtype.element_ty), mask=(t < T)[:, None])
    tl.store(LSE + ((b * heads + h) * S + s) * T + t, m + tl.log2(l), mask=t < T)


@triton.jit
def _backward_kernel(
    Q, K, V, DO, LSE, DQ, DK, DV,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sdb, sdt, sds, sdh, sdd,
    sgb, sgt, sgs, sgh, sgd,
    T, S, heads, window, qk_scale, sm_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, BLOCK_T: tl.constexpr,
    PRECISION: tl.constexpr,
):
    b, s, h = _sequence(tl.program_id(0), S, heads)
    t = tl.arange(0, BLOCK_T)
    q = _load_frames(Q, b, s, h, sqb, sqt, sqs, sqh, sqd, t, T, D)  # [BLOCK_T, D]
    k = _load_frames(K, b, s, h, skb, skt, sks, skh, skd, t, T, D)
    v = _load_frames(V, b, s, h, svb, svt, svs, svh, svd, t, T, D)
    do = _load_frames(DO, b, s, h, sdb, sdt, sds, sdh, sdd, t, T, D)
    lse = tl.load(LSE + ((b * heads + h) * S + s) * T + t, mask=t < T, other=0.0)  # [BLOCK_T]

    x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # [T, T]
    p = tl.where(_allowed(t, T, window, CAUSAL, HAS_WINDOW), tl.exp2(x - lse[:, None]), 0.0)
    dv = tl.dot(tl.trans(p).to(do.dtype), do, input_precision=PRECISION)  # P^T dO
    dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)  # dO v^T
    delta = tl.sum(p * dp, 1)  # rowsum(P * dP) = rowsum(dO * O)
    ds = p * (dp - delta[:, None])  # dS, [BLOCK_T, BLOCK_T]
    dq = tl.dot(ds.to(k.dtype), k, input_precision=PRECISION) * sm_scale  # dS k
    dk = tl.dot(tl.trans(ds).to(q.dtype), q, input_precision=PRECISION) * sm_scale  # dS^T q

    d = tl.arange(0, D)
    g = b * sgb + s * sgs + h * sgh + t.to(tl.int64)[:, None] * sgt + d[None, :] * sgd
    real = (t < T)[:, None]  # dq, dk, dv share one layout
    tl.store(DQ + g, dq.to(DQ.dtype.element_ty), mask=real)
    tl.store(DK + g, dk.to(DK.dtype.element_ty), mask=real)
    tl.store(DV + g, dv.to(DV.dtype.element_ty), mask=real)


def _block(T: int) -> int:
    """Rows of the frame tile: T padded to a power of two >= 16 (the tl.dot minimum)."""
    return max(16, triton.next_power_of_2(T))


class _TemporalAttention(torch.autograd.Function):
    """o = temporal attention of q, k, v; the backward recomputes P from the saved lse2."""

    @staticmethod
    def forward(ctx, q, k, v, causal, window):
        B, T, S, heads, D = q.shape
        o = torch.empty(q.shape, dtype=q.dtype, device=q.device)  # [B, T, S, heads, D]
        lse = torch.empty((B, heads, S, T), dtype=torch.float32, device=q.device)  # base 2
        _forward_kernel[(B * S * heads,)](
            q, k, v, o, lse, *q.stride(), *k.stride(), *v.stride(), *o.stride(),
            T, S, heads, window or 0, LOG2E.value / math.sqrt(D),
            CAUSAL=causal, HAS_WINDOW=window is not None, D=D, BLOCK_T=_block(T),
            PRECISION=precision(q.dtype),
        )
        ctx.save_for_backward(q, k, v, lse)
        ctx.causal, ctx.window = causal, window
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, lse = ctx.saved_tensors
        B, T, S, heads, D = q.shape
        dq, dk, dv = (torch.empty(q.shape, dtype=q.dtype, device=q.device) for _ in range(3))
        _backward_kernel[(B * S * heads,)](
            q, k, v, do, lse, dq, dk, dv,
            *q.stride(), *k.stride(), *v.stride(), *do.stride(), *dq.stride(),
            T, S, heads, ctx.window or 0, LOG2E.value / math.sqrt(D), 1.0 / math.sqrt(D),
            CAUSAL=ctx.causal, HAS_WINDOW=ctx.window is not None, D=D, BLOCK_T=_block(T),
            PRECISION=precision(q.dtype),
        )
        return dq, dk, dv, None, None


def temporal_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, window: int | None = None
) -> Tensor:
    """Each (position s, head h) attends over the T frames at position s (lesson kernel).

    ``out[b, t, s, h] = sum_u softmax_u(q[b, t, s, h] . k[b, u, s, h] / sqrt(D) + M[t, u])
    v[b, u, s, h]``, M from ``vdlite.attention.temporal_mask(T, causal, window)``: the
    semantics of ``kernels.temporal_attention``, differentiable in q, k and v.

    q, k, v: ``[B, T, S, heads, D]``, one dtype (float16, bfloat16, float32) and device, any
    strides; D in 16, 32, 64, 128 -> ``[B, T, S, heads, D]``, contiguous, in q's dtype.
    """
    check_attention(NAME, q, k, v)
    check_mask(causal, window)
    if q.numel() == 0:  # nothing to launch; the reference gives the empty result and gradients
        return _reference(q, k, v, causal, window)
    check_device(q, NAME)
    if window is not None and window >= q.shape[1] - 1:  # excludes nothing (keeps int32 small)
        window = None
    return _TemporalAttention.apply(q, k, v, causal, window)

"""Spatial attention in Triton, the lesson kernel: flash attention 2, forward and backward.

What it computes. For every batch b, frame t and head h, the S = H*W tokens of frame t form
one sequence, and each token s attends over all the tokens r of its frame:

    out[b, t, s, h] = sum_r softmax_r(q[b, t, s, h] . k[b, t, r, h] / sqrt(D)) v[b, t, r, h].

No mask. ``vdlite.attention.spatial_attention`` in float64 is what the tests compare with.

The layout, through strides. q, k, v are ``[B, T, S, heads, D]`` with any strides; the
sequence (b, t, h) starts at ``b*stride_b + t*stride_t + h*stride_h`` and its tokens are rows
``stride_s`` apart, each a run of D values: a tile of rows loads as cheaply as from SDPA's
``[B, heads, S, D]``, with no permute to that layout and back.

The forward (flash attention). S is long (4096 tokens), so the S x S scores never exist in
memory: one program takes one sequence and one block of BLOCK_M queries, and streams its keys
and values past them in blocks of BLOCK_N rows, keeping per query row the running max m, the
running sum l of exp2(x2 - m) and the unnormalised output acc ``[BLOCK_M, D]``. In base 2
(``exp2`` is one instruction; ``kernels.runtime.LOG2E`` = log2(e)):

    x2 = q k^T * LOG2E / sqrt(D)                   [BLOCK_M, BLOCK_N], keys past S: -inf
    m' = max(m, rowmax(x2));  p = exp2(x2 - m');  alpha = exp2(m - m')
    l = alpha * l + rowsum(p);  acc = alpha * acc + p v;  m = m'

and at the end o = acc / l and ``lse2 = m + log2(l)``, saved per query row for the backward in
float32 ``[B, T, heads, S]``. ``tl.dot`` needs >= 16 rows, so blocks are at least 16 rows and
padded rows load as 0.

The backward (flash attention 2). With P = softmax(q k^T / sqrt(D)), O = P v and dO:

    dv = P^T dO,   dP = dO v^T,   dS = P * (dP - delta),   delta = rowsum(dO * O),
    dq = dS k / sqrt(D),   dk = dS^T q / sqrt(D).

delta is one number per query row, computed by PyTorch before the kernel. One program owns a
block of BLOCK_N keys and loops over the query blocks, recomputing P^T = exp2(x2^T - lse2)
(exactly normalised), and sums its dk and dv in registers; dq is a sum over *keys*, so every
key block adds its share into a float32 dq with ``tl.atomic_add``. Padded rows need no mask
beyond their loads and stores: a padded query has dO = 0, so its dS is 0; a padded key has
k = v = 0. ``kernels/spatial/tuned.py`` is the same maths made fast: masks only on the last
block, a dq kernel in place of the atomics, tiles chosen per GPU.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.runtime import LOG2E, check_attention, check_device, precision
from vdlite.attention import spatial_attention as _reference

__all__ = ["spatial_attention"]

NAME = "kernels.spatial.lesson.spatial_attention"
BLOCK = 32  # rows of a query block (BLOCK_M) and of a key block (BLOCK_N), at most


@triton.jit
def _load_rows(X, b, t, h, sb, st, sh, ss, sd, rows, S, D: tl.constexpr):
    """Tokens ``rows`` of sequence (b, t, h) of X as a tile ``[len(rows), D]``; rows >= S
    load 0."""
    d = tl.arange(0, D)
    ptrs = X + b * sb + t * st + h * sh + rows[:, None] * ss + d[None, :] * sd
    return tl.load(ptrs, mask=(rows < S)[:, None], other=0.0)


@triton.jit
def _sequence(pid, blocks, T, heads):
    """Program id -> (block, b, t, h, bth): blocks fastest, then heads, frames, batch; int64."""
    pid = pid.to(tl.int64)
    block = pid % blocks
    bth = pid // blocks  # (b * T + t) * heads + h: the row of this sequence in lse2, delta
    return block, bth // heads // T, bth // heads % T, bth % heads, bth


@triton.jit
def _forward_kernel(
    Q, K, V, O, LSE,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    T, S, heads, qk_scale,
    D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
):
    block, b, t, h, bth = _sequence(tl.program_id(0), tl.cdiv(S, BLOCK_M), T, heads)
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M)  # this program's query tokens
    d = tl.arange(0, D)
    q = _load_rows(Q, b, t, h, sqb, sqt, sqh, sqs, sqd, rows, S, D)  # [BLOCK_M, D]

    m = tl.full([BLOCK_M], float("-inf"), tl.float32)  # every key block has a real key
    l = tl.full([BLOCK_M], 0.0, tl.float32)
    acc = tl.full([BLOCK_M, D], 0.0, tl.float32)
    for start in range(0, S, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)  # the key tokens of this block
        k = _load_rows(K, b, t, h, skb, skt, skh, sks, skd, cols, S, D)  # [BLOCK_N, D]
        v = _load_rows(V, b, t, h, svb, svt, svh, svs, svd, cols, S, D)
        x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # [BLOCK_M, BLOCK_N]
        x = tl.where((cols < S)[None, :], x, float("-inf"))
        m_new = tl.maximum(m, tl.max(x, 1))
        p = tl.exp2(x - m_new[:, None])
        alpha = tl.exp2(m - m_new)  # rescales what was summed under the old max
        l = alpha * l + tl.sum(p, 1)
        acc = alpha[:, None] * acc + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m = m_new

    o = acc / l[:, None]
    tl.store(O + b * sob + t * sot + h * soh + rows[:, None] * sos + d[None, :] * sod,
             o.to(O.dtype.element_ty), mask=(rows < S)[:, None])
    tl.store(LSE + bth * S + rows, m + tl.log2(l), mask=rows < S)


@triton.jit
def _backward_kernel(
    Q, K, V, DO, LSE, DELTA, DQ, DK, DV,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sdb, sdt, sds, sdh, sdd,
    sgb, sgt, sgs, sgh, sgd,
    T, S, heads, qk_scale, sm_scale,
    D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, PRECISION: tl.constexpr,
):
    block, b, t, h, bth = _sequence(tl.program_id(0), tl.cdiv(S, BLOCK_N), T, heads)
    cols = block * BLOCK_N + tl.arange(0, BLOCK_N)  # this program's key tokens
    d = tl.arange(0, D)
    k = _load_rows(K, b, t, h, skb, skt, skh, sks, skd, cols, S, D)  # [BLOCK_N, D]
    v = _load_rows(V, b, t, h, svb, svt, svh, svs, svd, cols, S, D)
    g = b * sgb + t * sgt + h * sgh + d[None, :] * sgd  # dq, dk, dv share one layout

    dk = tl.full([BLOCK_N, D], 0.0, tl.float32)
    dv = tl.full([BLOCK_N, D], 0.0, tl.float32)
    for start in range(0, S, BLOCK_M):
        rows = start + tl.arange(0, BLOCK_M)  # the query tokens of this block
        q = _load_rows(Q, b, t, h, sqb, sqt, sqh, sqs, sqd, rows, S, D)  # [BLOCK_M, D]
        do = _load_rows(DO, b, t, h, sdb, sdt, sdh, sds, sdd, rows, S, D)
        lse = tl.load(LSE + bth * S + rows, mask=rows < S, other=0.0)  # [BLOCK_M]
        delta = tl.load(DELTA + bth * S + rows, mask=rows < S, other=0.0)
        # transposed: keys on axis 0, queries on axis 1
        x_t = tl.dot(k, tl.trans(q), input_precision=PRECISION) * qk_scale
        p_t = tl.exp2(x_t - lse[None, :])  # P^T [BLOCK_N, BLOCK_M]
        dv += tl.dot(p_t.to(do.dtype), do, input_precision=PRECISION)  # P^T dO
        dp_t = tl.dot(v, tl.trans(do), input_precision=PRECISION)  # (dO v^T)^T
        ds_t = p_t * (dp_t - delta[None, :])  # dS^T
        dk += tl.dot(ds_t.to(q.dtype), q, input_precision=PRECISION)  # dS^T q
        dq = tl.dot(tl.trans(ds_t).to(k.dtype), k, input_precision=PRECISION)  # this share
        tl.atomic_add(DQ + g + rows[:, None] * sgs, dq * sm_scale, mask=(rows < S)[:, None])

    tl.store(DK + g + cols[:, None] * sgs, (dk * sm_scale).to(DK.dtype.element_ty),
             mask=(cols < S)[:, None])
    tl.store(DV + g + cols[:, None] * sgs, dv.to(DV.dtype.element_ty), mask=(cols < S)[:, None])


def _block(S: int) -> int:
    """Rows of a block: up to BLOCK, no more than S needs, at least 16 (the tl.dot minimum)."""
    return min(BLOCK, max(16, triton.next_power_of_2(S)))


class _SpatialAttention(torch.autograd.Function):
    """o = spatial attention of q, k, v; the backward recomputes P from the saved lse2."""

    @staticmethod
    def forward(ctx, q, k, v):
        B, T, S, heads, D = q.shape
        o = torch.empty(q.shape, dtype=q.dtype, device=q.device)  # [B, T, S, heads, D]
        lse = torch.empty((B, T, heads, S), dtype=torch.float32, device=q.device)  # base 2
        block = _block(S)
        _forward_kernel[(triton.cdiv(S, block) * B * T * heads,)](
            q, k, v, o, lse, *q.stride(), *k.stride(), *v.stride(), *o.stride(),
            T, S, heads, LOG2E.value / math.sqrt(D),
            D=D, BLOCK_M=block, BLOCK_N=block, PRECISION=precision(q.dtype),
        )
        ctx.save_for_backward(q, k, v, o, lse)
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        B, T, S, heads, D = q.shape
        delta = (do.float() * o.float()).sum(-1).transpose(2, 3).contiguous()  # [B, T, heads, S]
        dq = torch.zeros(q.shape, dtype=torch.float32, device=q.device)  # key blocks add into it
        dk, dv = (torch.empty(q.shape, dtype=q.dtype, device=q.device) for _ in range(2))
        block = _block(S)
        _backward_kernel[(triton.cdiv(S, block) * B * T * heads,)](
            q, k, v, do, lse, delta, dq, dk, dv,
            *q.stride(), *k.stride(), *v.stride(), *do.stride(), *dk.stride(),
            T, S, heads, LOG2E.value / math.sqrt(D), 1.0 / math.sqrt(D),
            D=D, BLOCK_M=block, BLOCK_N=block, PRECISION=precision(q.dtype),
        )
        return dq.to(q.dtype), dk, dv


def spatial_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Each (frame t, head h) attends over the S tokens of frame t (lesson kernel).

    ``out[b, t, s, h] = sum_r softmax_r(q[b, t, s, h] . k[b, t, r, h] / sqrt(D)) v[b, t, r, h]``:
    the semantics of ``kernels.spatial_attention``, differentiable in q, k and v.

    q, k, v: ``[B, T, S, heads, D]``, one dtype (float16, bfloat16, float32) and device, any
    strides; D in 16, 32, 64, 128 -> ``[B, T, S, heads, D]``, contiguous, in q's dtype.
    """
    check_attention(NAME, q, k, v)
    if q.numel() == 0:  # nothing to launch; the reference gives the empty result and gradients
        return _reference(q, k, v)
    check_device(q, NAME)
    return _SpatialAttention.apply(q, k, v)

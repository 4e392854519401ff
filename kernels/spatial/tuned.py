"""Spatial attention, the tuned path: what makes ``kernels/spatial/lesson.py`` fast.

Same maths, layout and gradients as the lesson kernel (read that first). Spatial attention
has few long sequences (B*T*heads = 128 of S = 4096 tokens) and S FLOPs per value moved: it
is compute-bound, and the job is flash attention's: never write the S x S score matrix, keep
the tensor cores fed, and spend as little as possible on the softmax between the products.
What this file adds to the lesson kernel, each choice measured (kernels/BENCHMARKS.md,
"Tuning evidence: spatial attention"):

- Only the last key block pays for the mask (``_attend_block``'s TAIL), and loads skip their
  row mask where S is a multiple of the block (EVEN_M, EVEN_N).
- One grid axis of ``ceil(S / BLOCK_M) * B*T*heads`` programs, query blocks fastest: the
  programs that run side by side are the query blocks of one sequence, which read the same
  keys and values, so those come from L2 rather than from memory.
- The backward in two kernels and no atomics: ``_dq_kernel`` (one program per query block,
  which also computes and stores delta = rowsum(dO * O), saving the separate "preprocess"
  launch of the usual FA2 recipe) and ``_dkdv_kernel`` (one program per key block). Seven
  products against the five an atomic dq needs, but each gradient is written once in its
  final dtype, the result is deterministic, and each kernel is tiled on its own. Padded rows
  need no masks beyond their loads and stores: every product they enter vanishes.
- Tiles per head size, dtype and kernel: ``_config``.

The forward saves the base-2 log-sum-exp ``lse2 = m + log2(l)`` per query row, float32
``[B, T, heads, S]`` (the convention of ``kernels.runtime``). Dots accumulate in float32;
half types feed the tensor cores, float32 uses full-precision ("ieee") dots.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.runtime import (
    LOG2E,
    _cdiv,
    _interpreted,
    _max,
    _sum,
    check_attention,
    check_device,
    precision,
)

__all__ = ["spatial_attention"]

NAME = "kernels.spatial_attention"


# ----------------------------------------------------------------------------- Triton helpers


@triton.jit
def _load(ptrs, rows, S, EVEN: tl.constexpr):
    """Load a tile ``[BLOCK, D]`` whose rows are tokens ``rows``; rows >= S load as 0 (not
    checked when EVEN: S is a multiple of the block)."""
    if EVEN:
        x = tl.load(ptrs)
    else:
        x = tl.load(ptrs, mask=(rows < S)[:, None], other=0.0)
    return x


@triton.jit
def _sequence(pid, blocks, T, heads):
    """Split a flat program id into (block, b, t, h): blocks fastest, then heads, frames, batch.
    b and t come out int64, as b*stride_b and t*stride_t can pass 2^31."""
    block = pid % blocks
    bth = pid // blocks
    h = bth % heads
    bt = (bth // heads).to(tl.int64)
    return block, bt // T, bt % T, h, bth


@triton.jit
def _attend_block(acc, l, m, q, k_ptrs, v_ptrs, start, S, qk_scale,
                  BLOCK_N: tl.constexpr, TAIL: tl.constexpr, PRECISION: tl.constexpr):
    """One step of the online softmax: fold keys ``start .. start + BLOCK_N`` into (acc, l, m).
    TAIL: the last, partial block, whose keys beyond S load as 0 and score -inf."""
    cols = start + tl.arange(0, BLOCK_N)
    if TAIL:
        k = tl.load(k_ptrs, mask=(cols < S)[:, None], other=0.0)  # [BLOCK_N, D]
        v = tl.load(v_ptrs, mask=(cols < S)[:, None], other=0.0)
    else:
        k = tl.load(k_ptrs)
        v = tl.load(v_ptrs)
    x = tl.dot(q, tl.trans(k), input_precision=PRECISION)  # [BLOCK_M, BLOCK_N] q k^T
    if TAIL:
        x = tl.where((cols < S)[None, :], x, float("-inf"))
    m_new = tl.maximum(m, _max(x, 1) * qk_scale)
    p = tl.exp2(x * qk_scale - m_new[:, None])  # one fused multiply-add per score
    alpha = tl.exp2(m - m_new)  # rescales what was summed under the old max
    l = l * alpha + _sum(p, 1)
    acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None], input_precision=PRECISION)
    return acc, l, m_new


# ----------------------------------------------------------------------------- forward kernel


@triton.jit
def _forward_kernel(
    Q, K, V, O, LSE,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    T, S, heads, qk_scale,
    D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, EVEN_M: tl.constexpr,
    PRECISION: tl.constexpr,
):
    block, b, t, h, bth = _sequence(tl.program_id(0), _cdiv(S, BLOCK_M), T, heads)
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M)  # query tokens of this program
    cols = tl.arange(0, BLOCK_N)  # key tokens of the first block
    d = tl.arange(0, D)
    q_ptrs = Q + b * sqb + t * sqt + h * sqh + rows[:, None] * sqs + d[None, :] * sqd
    k_ptrs = K + b * skb + t * skt + h * skh + cols[:, None] * sks + d[None, :] * skd
    v_ptrs = V + b * svb + t * svt + h * svh + cols[:, None] * svs + d[None, :] * svd
    q = _load(q_ptrs, rows, S, EVEN_M)  # [BLOCK_M, D]

    m = tl.full([BLOCK_M], -1.0e30, tl.float32)  # running max (base 2), finite
    l = tl.full([BLOCK_M], 0.0, tl.float32)  # running sum of exp2(x - m)
    acc = tl.full([BLOCK_M, D], 0.0, tl.float32)  # running sum of exp2(x - m) v
    full = (S // BLOCK_N) * BLOCK_N  # keys in whole blocks
    for start in range(0, full, BLOCK_N):
        acc, l, m = _attend_block(acc, l, m, q, k_ptrs, v_ptrs, start, S, qk_scale,
                                  BLOCK_N, False, PRECISION)
        k_ptrs += BLOCK_N * sks
        v_ptrs += BLOCK_N * svs
    if full < S:
        acc, l, m = _attend_block(acc, l, m, q, k_ptrs, v_ptrs, full, S, qk_scale,
                                  BLOCK_N, True, PRECISION)

    o = acc / l[:, None]  # [BLOCK_M, D]; every row saw at least one key, so l >= 1
    o_ptrs = O + b * sob + t * sot + h * soh + rows[:, None] * sos + d[None, :] * sod
    tl.store(o_ptrs, o.to(O.dtype.element_ty), mask=(rows < S)[:, None])
    tl.store(LSE + bth.to(tl.int64) * S + rows, m + tl.log2(l), mask=rows < S)


# ----------------------------------------------------------------------------- backward kernels


@triton.jit
def _dq_kernel(
    Q, K, V, O, DO, LSE, DELTA, DQ,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    sdob, sdot, sdos, sdoh, sdod,
    sgb, sgt, sgs, sgh, sgd,
    T, S, heads, sm_scale,
    D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, EVEN_M: tl.constexpr,
    EVEN_N: tl.constexpr, PRECISION: tl.constexpr,
):
    block, b, t, h, bth = _sequence(tl.program_id(0), _cdiv(S, BLOCK_M), T, heads)
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M)  # query tokens
    cols = tl.arange(0, BLOCK_N)  # key tokens of the first block
    d = tl.arange(0, D)
    q = _load(Q + b * sqb + t * sqt + h * sqh + rows[:, None] * sqs + d[None, :] * sqd,
              rows, S, EVEN_M)  # [BLOCK_M, D]
    do = _load(DO + b * sdob + t * sdot + h * sdoh + rows[:, None] * sdos + d[None, :] * sdod,
               rows, S, EVEN_M)
    o = _load(O + b * sob + t * sot + h * soh + rows[:, None] * sos + d[None, :] * sod,
              rows, S, EVEN_M)
    delta = _sum(do.to(tl.float32) * o.to(tl.float32), 1)  # [BLOCK_M] rowsum(dO * O)
    row_stats = bth.to(tl.int64) * S + rows  # where this block's lse2 and delta live
    tl.store(DELTA + row_stats, delta, mask=rows < S)  # for the dk, dv kernel
    lse = tl.load(LSE + row_stats, mask=rows < S, other=0.0)

    k_ptrs = K + b * skb + t * skt + h * skh + cols[:, None] * sks + d[None, :] * skd
    v_ptrs = V + b * svb + t * svt + h * svh + cols[:, None] * svs + d[None, :] * svd
    qk_scale = sm_scale * LOG2E
    dq = tl.full([BLOCK_M, D], 0.0, tl.float32)
    for start in range(0, S, BLOCK_N):
        k = _load(k_ptrs, start + cols, S, EVEN_N)  # [BLOCK_N, D]
        v = _load(v_ptrs, start + cols, S, EVEN_N)
        x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # [BLOCK_M, BLOCK_N]
        p = tl.exp2(x - lse[:, None])  # P, exactly normalised
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)  # dO v^T
        ds = p * (dp - delta[:, None])  # dS
        dq = tl.dot(ds.to(k.dtype), k, dq, input_precision=PRECISION)  # += dS k
        k_ptrs += BLOCK_N * sks
        v_ptrs += BLOCK_N * svs

    dq_ptrs = DQ + b * sgb + t * sgt + h * sgh + rows[:, None] * sgs + d[None, :] * sgd
    tl.store(dq_ptrs, (dq * sm_scale).to(DQ.dtype.element_ty), mask=(rows < S)[:, None])


@triton.jit
def _dkdv_kernel(
    Q, K, V, DO, LSE, DELTA, DK, DV,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sdob, sdot, sdos, sdoh, sdod,
    sgb, sgt, sgs, sgh, sgd,
    T, S, heads, sm_scale,
    D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, EVEN_M: tl.constexpr,
    EVEN_N: tl.constexpr, PRECISION: tl.constexpr,
):
    block, b, t, h, bth = _sequence(tl.program_id(0), _cdiv(S, BLOCK_N), T, heads)
    cols = block * BLOCK_N + tl.arange(0, BLOCK_N)  # key tokens of this program
    rows = tl.arange(0, BLOCK_M)  # query tokens of the first block
    d = tl.arange(0, D)
    k = _load(K + b * skb + t * skt + h * skh + cols[:, None] * sks + d[None, :] * skd,
              cols, S, EVEN_N)  # [BLOCK_N, D]
    v = _load(V + b * svb + t * svt + h * svh + cols[:, None] * svs + d[None, :] * svd,
              cols, S, EVEN_N)

    q_ptrs = Q + b * sqb + t * sqt + h * sqh + rows[:, None] * sqs + d[None, :] * sqd
    do_ptrs = DO + b * sdob + t * sdot + h * sdoh + rows[:, None] * sdos + d[None, :] * sdod
    stats = LSE + bth.to(tl.int64) * S  # lse2 and delta of this sequence
    deltas = DELTA + bth.to(tl.int64) * S
    qk_scale = sm_scale * LOG2E
    dk = tl.full([BLOCK_N, D], 0.0, tl.float32)
    dv = tl.full([BLOCK_N, D], 0.0, tl.float32)
    for start in range(0, S, BLOCK_M):
        q = _load(q_ptrs, start + rows, S, EVEN_M)  # [BLOCK_M, D]
        do = _load(do_ptrs, start + rows, S, EVEN_M)
        lse = tl.load(stats + start + rows, mask=start + rows < S, other=0.0)  # [BLOCK_M]
        delta = tl.load(deltas + start + rows, mask=start + rows < S, other=0.0)
        # transposed scores: keys on axis 0, queries on axis 1
        x_t = tl.dot(k, tl.trans(q), input_precision=PRECISION) * qk_scale  # [BLOCK_N, BLOCK_M]
        p_t = tl.exp2(x_t - lse[None, :])  # P^T
        dv = tl.dot(p_t.to(do.dtype), do, dv, input_precision=PRECISION)  # += P^T dO
        dp_t = tl.dot(v, tl.trans(do), input_precision=PRECISION)  # (dO v^T)^T
        ds_t = p_t * (dp_t - delta[None, :])  # dS^T
        dk = tl.dot(ds_t.to(q.dtype), q, dk, input_precision=PRECISION)  # += dS^T q
        q_ptrs += BLOCK_M * sqs
        do_ptrs += BLOCK_M * sdos

    g = b * sgb + t * sgt + h * sgh + cols[:, None] * sgs + d[None, :] * sgd  # dk, dv: one layout
    tl.store(DK + g, (dk * sm_scale).to(DK.dtype.element_ty), mask=(cols < S)[:, None])
    tl.store(DV + g, dv.to(DV.dtype.element_ty), mask=(cols < S)[:, None])


# ----------------------------------------------------------------------------- launchers


def _config(D: int, dtype: torch.dtype, kernel: str) -> tuple[int, int, int, int]:
    """(BLOCK_M, BLOCK_N, num_warps, num_stages) for kernel "fwd", "dq" or "dkdv": BLOCK_M
    query rows, BLOCK_N key rows per tile.

    The rule: flash-attention tilings known to suit Hopper, each kernel's own (a tall query
    tile for the forward and dq, short query blocks streamed past the key tile for dk, dv),
    three stages; the sweep that picked them: kernels/BENCHMARKS.md. float32 (correctness,
    not speed: its dots do not use the tensor cores) takes 32 x 32 tiles over 8 warps, the
    fewest spills. The interpreter gets 16-row blocks: fast, and odd S then exercises the
    loops and tails."""
    if _interpreted():
        return 16, 16, 4, 1
    if dtype == torch.float32:  # full-precision dots run on the FMA units: small tiles
        return 32, 32, 8, 2
    if D <= 64:
        return {"fwd": (128, 64, 8, 3), "dq": (128, 64, 4, 3), "dkdv": (64, 64, 4, 3)}[kernel]
    return {"fwd": (64, 64, 4, 3), "dq": (128, 64, 8, 3), "dkdv": (32, 64, 4, 3)}[kernel]


def _fit(block: int, S: int) -> int:
    """A block no taller than S needs (a power of two >= 16, the tl.dot minimum)."""
    return min(block, max(16, triton.next_power_of_2(S)))


def _forward(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    B, T, S, heads, D = q.shape
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)  # [B, T, S, heads, D]
    lse = torch.empty(B, T, heads, S, dtype=torch.float32, device=q.device)  # base 2
    if o.numel() == 0:
        return o, lse
    block_m, block_n, num_warps, num_stages = _config(D, q.dtype, "fwd")
    block_m, block_n = _fit(block_m, S), _fit(block_n, S)
    grid = (triton.cdiv(S, block_m) * B * T * heads,)
    _forward_kernel[grid](
        q, k, v, o, lse, *q.stride(), *k.stride(), *v.stride(), *o.stride(),
        T, S, heads, LOG2E.value / math.sqrt(D),
        D=D, BLOCK_M=block_m, BLOCK_N=block_n, EVEN_M=S % block_m == 0,
        PRECISION=precision(q.dtype), num_warps=num_warps, num_stages=num_stages,
    )
    return o, lse


def _backward(q, k, v, o, lse, do):
    B, T, S, heads, D = q.shape
    dq = torch.empty(q.shape, dtype=q.dtype, device=q.device)  # contiguous, like dk, dv
    dk = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    dv = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    if q.numel() == 0:
        return dq, dk, dv
    if S * abs(do.stride(2)) >= 2**31:  # row offsets are int32 (see _check_inputs)
        do = do.contiguous()
    delta = torch.empty_like(lse)  # rowsum(dO * O), [B, T, heads, S]; the dq kernel fills it
    strides = (*q.stride(), *k.stride(), *v.stride())
    sm_scale = 1.0 / math.sqrt(D)
    for kernel, name in ((_dq_kernel, "dq"), (_dkdv_kernel, "dkdv")):  # dkdv reads delta
        block_m, block_n, num_warps, num_stages = _config(D, q.dtype, name)
        block_m, block_n = _fit(block_m, S), _fit(block_n, S)
        if name == "dq":
            grid = (triton.cdiv(S, block_m) * B * T * heads,)
            args = (q, k, v, o, do, lse, delta, dq, *strides, *o.stride(), *do.stride(),
                    *dq.stride())
        else:
            grid = (triton.cdiv(S, block_n) * B * T * heads,)
            args = (q, k, v, do, lse, delta, dk, dv, *strides, *do.stride(), *dk.stride())
        kernel[grid](
            *args, T, S, heads, sm_scale,
            D=D, BLOCK_M=block_m, BLOCK_N=block_n, EVEN_M=S % block_m == 0,
            EVEN_N=S % block_n == 0, PRECISION=precision(q.dtype),
            num_warps=num_warps, num_stages=num_stages,
        )
    return dq, dk, dv


class _SpatialAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v):
        o, lse = _forward(q, k, v)
        ctx.save_for_backward(q, k, v, o, lse)
        return o

    @staticmethod
    def backward(ctx, do):
        return _backward(*ctx.saved_tensors, do)


def _check_inputs(q: Tensor, k: Tensor, v: Tensor) -> None:
    """Clear errors before launching: shapes, dtypes, devices, head size, offset range."""
    check_attention(NAME, q, k, v)
    if q.shape[2] * max(abs(x.stride(2)) for x in (q, k, v)) >= 2**31:  # int32 row offsets
        raise ValueError(
            f"{NAME} needs S * stride_s < 2^31 for q, k, v, got S={q.shape[2]}, "
            f"strides {q.stride(2)}, {k.stride(2)}, {v.stride(2)}"
        )
    check_device(q, NAME)


def spatial_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Each (frame t, head h) attends over the S tokens of frame t: flash attention in Triton.

    ``out[b, t, s, h] = sum_r softmax_r(q[b, t, s, h] . k[b, t, r, h] / sqrt(D)) v[b, t, r, h]``:
    the same semantics as ``vdlite.attention.spatial_attention``, differentiable in q, k, v.

    q, k, v: ``[B, T, S, heads, D]`` of one dtype (float16, bfloat16, float32) and device,
    any strides (e.g. the views ``qkv.unbind(3)`` of a fused ``[B, T, S, 3, heads, D]``
    projection); D in 16, 32, 64, 128; any S -> ``[B, T, S, heads, D]``, contiguous, in q's
    dtype. An empty clip (B, T, S or heads = 0) launches nothing: its result and gradients
    are empty, as the reference's are.
    """
    _check_inputs(q, k, v)
    return _SpatialAttention.apply(q, k, v)

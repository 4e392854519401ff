"""Temporal attention, the tuned path: what makes ``kernels/temporal/lesson.py`` fast.

Same maths, layout, masks and gradients as the lesson kernel (read that first); this file adds
what the measurements in kernels/BENCHMARKS.md ("Tuning evidence: temporal attention") asked
for. Temporal attention has an enormous number of tiny sequences (B*S*heads = 65,536 of
T = 8..64 frames) and T FLOPs per value moved, far below the ridge point of a GPU: it is
memory-bound, so the goal is to read q, k, v and write o exactly once, in wide coalesced
transactions, with few instructions per byte.

- Packing. ``tl.dot`` needs >= 16 rows, so a frame block has BLOCK_T = a power of two >= 16
  rows; clips of T <= BLOCK_T / 2 frames pack BLOCK_T // T positions into one block (two
  8-frame clips in 16 rows), a block-diagonal mask keeping them apart (``_rows``, ``_allowed``).
- Two kernel shapes. 3-D (BLOCK_S > 1, short clips): tiles ``[BLOCK_S, BLOCK_T, D]`` and a
  *batched* ``tl.dot`` over BLOCK_S sequences; Triton gives each warp whole sequences of a 3-D
  dot, so BLOCK_S >= num_warps. 2-D (BLOCK_S = 1, T >= 32): tiles ``[BLOCK_T, D]`` and plain
  dots, whose rows Triton splits among the warps (see the section "2-D kernels").
- Grid (heads * position blocks, query frame blocks, B), heads fastest: programs that run
  side by side take the other heads of the same positions and sweep contiguous memory.
- Online softmax over key blocks of 64 frames for T > 64; key blocks the mask rules out
  entirely are skipped (``_key_blocks``, ``_query_blocks``).
- The backward (flash-attention 2) owns BLOCK_S whole sequences per program. With one key
  block (T <= 64) each gradient is stored as soon as it is computed, and delta comes from
  the identity delta_t = sum_u P_tu dP_tu without reading O (an eighth fewer bytes); with
  several, dq is accumulated in a float32 buffer with atomic adds and delta = rowsum(dO * O).
  A forward with no backward to come skips the log-sum-exp.
- The host side. One plan per (shapes, strides, dtypes, devices, alignment, mask), checked
  once and cached, each kernel launched straight through its compiled launcher after the
  first call (``kernels.runtime._Launch``): at T = 8 a plain call into Triton's JIT costs as
  much host time as the kernel takes on the GPU.
- Block sizes per clip length and pass: ``_CONFIGS``, chosen by ``python -m
  kernels.bench.temporal sweep``.

The forward saves the base-2 log-sum-exp ``lse2 = m + log2(l)`` per query row, float32
``[B, heads, S, T]`` (the convention of ``kernels.runtime``). Dots accumulate in float32;
half types feed the tensor cores, float32 uses full-precision ("ieee") dots. The grid's batch
axis is CUDA's z, which stops at 65,535: B <= 65535 here (the lesson kernel puts the batch on
axis 0 instead).
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
    _Launch,
    _max,
    _sum,
    check_attention,
    check_device,
    check_mask,
    precision,
)
from vdlite.attention import temporal_attention as _reference

__all__ = ["temporal_attention"]

NAME = "kernels.temporal_attention"


# ----------------------------------------------------------------------------- Triton helpers


@triton.jit
def _rows(block, i, T, S, BLOCK_S: tl.constexpr, BLOCK_T: tl.constexpr, PACK: tl.constexpr,
          TP: tl.constexpr):
    """Where the rows of a tile live: ``[BLOCK_S, BLOCK_T]`` position, ``[BLOCK_T]`` frame and
    group, ``[BLOCK_S, BLOCK_T]`` valid.

    Row r of frame block i is frame i*BLOCK_T + r of its position. Clips shorter than half a
    block (T <= 8) pack PACK positions into one block instead: row r is frame r % T of the
    position's group g = r // T, and the mask keeps groups apart (no wasted rows at T = 8).
    TP is T as a compile-time constant when PACK > 1: a division by a runtime T costs tens of
    instructions per row, by a constant a shift or a multiply (kernels/BENCHMARKS.md).
    """
    r = tl.arange(0, BLOCK_T)
    if PACK > 1:
        group = r // TP
        frame = r % TP
        valid = group < PACK
    else:
        group = r * 0
        frame = i * BLOCK_T + r
        valid = frame < T
    first = (block * BLOCK_S + tl.arange(0, BLOCK_S)) * PACK  # first position of each group
    pos = first[:, None] + group[None, :]  # [BLOCK_S, BLOCK_T]
    return pos, frame, group, valid[None, :] & (pos < S)


@triton.jit
def _tile_offsets(pos, frame, d, stride_s, stride_t, stride_d):
    """Offsets of the tile ``[BLOCK_S, BLOCK_T, D]`` from the base of one (b, h); int64, as
    frame * stride_t alone can pass 2^31 on big clips."""
    position = (pos.to(tl.int64) * stride_s)[:, :, None]
    frame = (frame.to(tl.int64) * stride_t)[None, :, None]
    return position + frame + d[None, None, :] * stride_d


@triton.jit
def _allowed(tq, tk, gq, gk, T, window, CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr,
             PACK: tl.constexpr):
    """Which (query row, key row) pairs the mask allows, from their frames t and groups g,
    broadcast: ``_allowed(tq[:, None], tk[None, :], gq[:, None], gk[None, :], ...)`` is
    ``[Tq, Tk]``; swap the axes for ``[Tk, Tq]``. Bool."""
    ok = (tq < T) & (tk < T)
    if PACK > 1:  # same position, and not a padding row
        ok = ok & (gq == gk) & (gq < PACK)
    if CAUSAL:
        ok = ok & (tk <= tq)
    if HAS_WINDOW:
        ok = ok & (tl.abs(tq - tk) <= window)
    return ok


@triton.jit
def _key_blocks(i, T, window, BLOCK_T: tl.constexpr, CAUSAL: tl.constexpr,
                HAS_WINDOW: tl.constexpr):
    """Range [lo, hi) of key blocks that query block i can see."""
    lo = 0
    hi = _cdiv(T, BLOCK_T)
    if CAUSAL:
        hi = i + 1
    if HAS_WINDOW:  # query frames i*BT .. (i+1)*BT-1 see keys within +-window
        lo = tl.maximum(i * BLOCK_T - window, 0) // BLOCK_T
        hi = tl.minimum(hi, ((i + 1) * BLOCK_T - 1 + window) // BLOCK_T + 1)
    return lo, hi


@triton.jit
def _query_blocks(j, T, window, BLOCK_T: tl.constexpr, CAUSAL: tl.constexpr,
                  HAS_WINDOW: tl.constexpr):
    """Range [lo, hi) of query blocks that see key block j (the transpose of _key_blocks)."""
    lo = 0
    hi = _cdiv(T, BLOCK_T)
    if CAUSAL:
        lo = j
    if HAS_WINDOW:
        lo = tl.maximum(lo, tl.maximum(j * BLOCK_T - window, 0) // BLOCK_T)
        hi = tl.minimum(hi, ((j + 1) * BLOCK_T - 1 + window) // BLOCK_T + 1)
    return lo, hi


# ----------------------------------------------------------------------------- forward kernel


@triton.jit
def _forward_kernel(
    Q, K, V, O, LSE,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    T, S, heads, window, qk_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, BLOCK_T: tl.constexpr,
    BLOCK_S: tl.constexpr, PACK: tl.constexpr, TP: tl.constexpr, PRECISION: tl.constexpr,
    STORE_LSE: tl.constexpr,
):
    h = tl.program_id(0) % heads  # heads fastest: neighbouring programs, neighbouring memory
    block = tl.program_id(0) // heads  # block of BLOCK_S * PACK positions
    i = tl.program_id(1)  # query frame block
    b = tl.program_id(2).to(tl.int64)
    d = tl.arange(0, D)
    pos, tq, gq, q_ok = _rows(block, i, T, S, BLOCK_S, BLOCK_T, PACK, TP)  # query rows
    q_mask = q_ok[:, :, None]

    q = tl.load(Q + b * sqb + h * sqh + _tile_offsets(pos, tq, d, sqs, sqt, sqd), mask=q_mask,
                other=0.0)  # [BLOCK_S, BLOCK_T, D]
    k_base = K + b * skb + h * skh
    v_base = V + b * svb + h * svh
    m = tl.full([BLOCK_S, BLOCK_T], -1.0e30, tl.float32)  # running max (base 2), finite
    l = tl.full([BLOCK_S, BLOCK_T], 0.0, tl.float32)  # running sum of exp2(x - m)
    acc = tl.full([BLOCK_S, BLOCK_T, D], 0.0, tl.float32)  # running sum of exp2(x - m) v
    lo, hi = _key_blocks(i, T, window, BLOCK_T, CAUSAL, HAS_WINDOW)
    for j in range(lo, hi):
        pos_k, tk, gk, k_ok = _rows(block, j, T, S, BLOCK_S, BLOCK_T, PACK, TP)  # key rows
        k = tl.load(k_base + _tile_offsets(pos_k, tk, d, sks, skt, skd), mask=k_ok[:, :, None],
                    other=0.0)
        v = tl.load(v_base + _tile_offsets(pos_k, tk, d, svs, svt, svd), mask=k_ok[:, :, None],
                    other=0.0)
        x = tl.dot(q, tl.permute(k, (0, 2, 1)), input_precision=PRECISION) * qk_scale  # [S,Tq,Tk]
        ok = _allowed(tq[:, None], tk[None, :], gq[:, None], gk[None, :], T, window, CAUSAL,
                      HAS_WINDOW, PACK)  # [Tq, Tk]
        x = tl.where(ok[None, :, :], x, float("-inf"))
        m_new = tl.maximum(m, _max(x, 2))
        p = tl.exp2(x - m_new[:, :, None])  # [BLOCK_S, Tq, Tk]; 0 where masked
        alpha = tl.exp2(m - m_new)  # rescales what was summed under the old max
        l = l * alpha + _sum(p, 2)
        acc = acc * alpha[:, :, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m = m_new

    l = tl.where(l > 0.0, l, 1.0)  # padded query rows may see no key; real rows always do
    o = acc / l[:, :, None]  # [BLOCK_S, BLOCK_T, D]
    o_tile = _tile_offsets(pos, tq, d, sos, sot, sod)
    tl.store(O + b * sob + h * soh + o_tile, o.to(O.dtype.element_ty), mask=q_mask)
    if STORE_LSE:  # only the backward needs it
        lse_ptrs = LSE + ((b * heads + h) * S + pos) * T + tq[None, :]  # [BLOCK_S, BLOCK_T]
        tl.store(lse_ptrs, m + tl.log2(l), mask=q_ok)  # base-2 log-sum-exp


# ----------------------------------------------------------------------------- backward kernel


@triton.jit
def _backward_kernel(
    Q, K, V, O, DO, LSE, DQ, DK, DV,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    sdob, sdot, sdos, sdoh, sdod,
    sgb, sgt, sgs, sgh, sgd,
    T, S, heads, window, sm_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, BLOCK_T: tl.constexpr,
    BLOCK_S: tl.constexpr, PACK: tl.constexpr, TP: tl.constexpr, PRECISION: tl.constexpr,
    ONE_BLOCK: tl.constexpr,
):
    h = tl.program_id(0) % heads  # the program owns whole sequences: all T frames
    block = tl.program_id(0) // heads
    b = tl.program_id(1).to(tl.int64)
    d = tl.arange(0, D)
    q_base = Q + b * sqb + h * sqh
    k_base = K + b * skb + h * skh
    v_base = V + b * svb + h * svh
    o_base = O + b * sob + h * soh
    do_base = DO + b * sdob + h * sdoh
    g_off = b * sgb + h * sgh  # dq, dk, dv share one (contiguous) layout
    lse_base = LSE + (b * heads + h) * S * T
    qk_scale = sm_scale * LOG2E

    for j in range(0, _cdiv(T, BLOCK_T)):  # key blocks
        pos_k, tk, gk, k_ok = _rows(block, j, T, S, BLOCK_S, BLOCK_T, PACK, TP)
        k_mask = k_ok[:, :, None]
        k = tl.load(k_base + _tile_offsets(pos_k, tk, d, sks, skt, skd), mask=k_mask, other=0.0)
        v = tl.load(v_base + _tile_offsets(pos_k, tk, d, svs, svt, svd), mask=k_mask, other=0.0)
        k_tile = g_off + _tile_offsets(pos_k, tk, d, sgs, sgt, sgd)  # where dk, dv go
        dk = tl.full([BLOCK_S, BLOCK_T, D], 0.0, tl.float32)
        dv = tl.full([BLOCK_S, BLOCK_T, D], 0.0, tl.float32)
        lo, hi = _query_blocks(j, T, window, BLOCK_T, CAUSAL, HAS_WINDOW)
        for i in range(lo, hi):  # query blocks that see key block j
            pos, tq, gq, q_ok = _rows(block, i, T, S, BLOCK_S, BLOCK_T, PACK, TP)
            q_mask = q_ok[:, :, None]
            q = tl.load(q_base + _tile_offsets(pos, tq, d, sqs, sqt, sqd), mask=q_mask, other=0.0)
            do = tl.load(do_base + _tile_offsets(pos, tq, d, sdos, sdot, sdod), mask=q_mask,
                         other=0.0)
            lse = tl.load(lse_base + pos * T + tq[None, :], mask=q_ok, other=0.0)  # [S, Tq]

            # transposed scores: keys on axis 1, queries on axis 2
            x_t = tl.dot(k, tl.permute(q, (0, 2, 1)), input_precision=PRECISION)  # [S, Tk, Tq]
            p_t = tl.exp2(x_t * qk_scale - lse[:, None, :])
            ok_t = _allowed(tq[None, :], tk[:, None], gq[None, :], gk[:, None], T, window,
                            CAUSAL, HAS_WINDOW, PACK)  # [Tk, Tq]
            p_t = tl.where(ok_t[None, :, :], p_t, 0.0)  # P^T, exactly normalised

            # this pair's shares of dv, dk, dq. With one block (T <= 64) each is the whole
            # gradient: store it at once, which frees its registers for the next dot.
            dv_ji = tl.dot(p_t.to(do.dtype), do, input_precision=PRECISION)  # P^T dO
            if ONE_BLOCK:
                tl.store(DV + k_tile, dv_ji.to(DV.dtype.element_ty), mask=k_mask)
            else:
                dv += dv_ji
            dp_t = tl.dot(v, tl.permute(do, (0, 2, 1)), input_precision=PRECISION)  # (dO v^T)^T
            if ONE_BLOCK:  # every key of a query row is here: delta = rowsum(P * dP), no O read
                delta = _sum(p_t * dp_t, 1)  # [BLOCK_S, Tq]
            else:  # delta = rowsum(dO * O)
                o = tl.load(o_base + _tile_offsets(pos, tq, d, sos, sot, sod), mask=q_mask,
                            other=0.0)
                delta = _sum(do.to(tl.float32) * o.to(tl.float32), 2)  # [BLOCK_S, Tq]
            ds_t = p_t * (dp_t - delta[:, None, :])  # dS^T [BLOCK_S, Tk, Tq]
            dk_ji = tl.dot(ds_t.to(q.dtype), q, input_precision=PRECISION) * sm_scale  # dS^T q
            if ONE_BLOCK:
                tl.store(DK + k_tile, dk_ji.to(DK.dtype.element_ty), mask=k_mask)
            else:
                dk += dk_ji
            dq_ji = tl.dot(tl.permute(ds_t, (0, 2, 1)).to(k.dtype), k,
                           input_precision=PRECISION) * sm_scale  # dS k: [S, Tq, D]
            dq_ptrs = DQ + g_off + _tile_offsets(pos, tq, d, sgs, sgt, sgd)
            if ONE_BLOCK:
                tl.store(dq_ptrs, dq_ji.to(DQ.dtype.element_ty), mask=q_mask)
            else:  # several key blocks add their shares into a float32 buffer
                tl.atomic_add(dq_ptrs, dq_ji, mask=q_mask)

        if not ONE_BLOCK:
            tl.store(DK + k_tile, dk.to(DK.dtype.element_ty), mask=k_mask)
            tl.store(DV + k_tile, dv.to(DV.dtype.element_ty), mask=k_mask)


# ----------------------------------------------------------------------------- 2-D kernels
#
# The same two kernels for BLOCK_S = 1, one block of frames per program, written with 2-D
# tiles ``[BLOCK_T, D]`` and 2-D dots. Why not the 3-D kernels with a batch of one: Triton
# (3.6) gives *all* the warps of a 3-D dot to its batch axis (warpsPerCTA [num_warps, 1, 1]),
# so every warp would compute the same [BLOCK_T, BLOCK_T] product with the whole tile in its
# registers: 4x the work at 4 warps, and at T = 64 the registers spill (this was T >= 32's
# slowness). A 2-D dot splits the rows among the warps and on Hopper runs as wgmma; the
# softmax then stays in the dot's register layout. Short clips still pack BLOCK_T // T
# positions into the block (block-diagonal mask): at T = 32, two clips make one 64-row block.


@triton.jit
def _rows_2d(block, i, T, S, BLOCK: tl.constexpr, PACK: tl.constexpr, TP: tl.constexpr):
    """``_rows`` for one block of positions: rows i*BLOCK .. (i+1)*BLOCK - 1 of the block,
    ``[BLOCK]`` position, frame, group, valid. Packed (PACK > 1), row r is frame r % T of
    position r // T of the block; else frame r."""
    r = i * BLOCK + tl.arange(0, BLOCK)
    if PACK > 1:  # TP = T, a compile-time constant (see _rows)
        group = r // TP
        frame = r % TP
        valid = group < PACK
    else:
        group = r * 0
        frame = r
        valid = frame < T
    pos = block * PACK + group
    return pos, frame, group, valid & (pos < S)


@triton.jit
def _tile_offsets_2d(pos, frame, d, stride_s, stride_t, stride_d):
    """Offsets of the tile ``[BLOCK_T, D]`` from the base of one (b, h); int64."""
    rows = pos.to(tl.int64) * stride_s + frame.to(tl.int64) * stride_t
    return rows[:, None] + d[None, :] * stride_d


@triton.jit
def _forward_kernel_2d(
    Q, K, V, O, LSE,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    T, S, heads, window, qk_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, BLOCK_T: tl.constexpr,
    BLOCK_S: tl.constexpr, PACK: tl.constexpr, TP: tl.constexpr, PRECISION: tl.constexpr,
    STORE_LSE: tl.constexpr,
):
    h = tl.program_id(0) % heads
    block = tl.program_id(0) // heads  # block of PACK positions
    i = tl.program_id(1)  # query frame block
    b = tl.program_id(2).to(tl.int64)
    d = tl.arange(0, D)
    pos, tq, gq, q_ok = _rows_2d(block, i, T, S, BLOCK_T, PACK, TP)  # query rows
    q = tl.load(Q + b * sqb + h * sqh + _tile_offsets_2d(pos, tq, d, sqs, sqt, sqd),
                mask=q_ok[:, None], other=0.0)  # [BLOCK_T, D]
    k_base = K + b * skb + h * skh
    v_base = V + b * svb + h * svh
    m = tl.full([BLOCK_T], -1.0e30, tl.float32)
    l = tl.full([BLOCK_T], 0.0, tl.float32)
    acc = tl.full([BLOCK_T, D], 0.0, tl.float32)
    lo, hi = _key_blocks(i, T, window, BLOCK_T, CAUSAL, HAS_WINDOW)
    for j in range(lo, hi):
        pos_k, tk, gk, k_ok = _rows_2d(block, j, T, S, BLOCK_T, PACK, TP)  # key rows
        k = tl.load(k_base + _tile_offsets_2d(pos_k, tk, d, sks, skt, skd), mask=k_ok[:, None],
                    other=0.0)
        v = tl.load(v_base + _tile_offsets_2d(pos_k, tk, d, svs, svt, svd), mask=k_ok[:, None],
                    other=0.0)
        x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * qk_scale  # [Tq, Tk]
        ok = _allowed(tq[:, None], tk[None, :], gq[:, None], gk[None, :], T, window, CAUSAL,
                      HAS_WINDOW, PACK)
        x = tl.where(ok, x, float("-inf"))
        m_new = tl.maximum(m, _max(x, 1))
        p = tl.exp2(x - m_new[:, None])
        alpha = tl.exp2(m - m_new)
        l = l * alpha + _sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m = m_new

    l = tl.where(l > 0.0, l, 1.0)
    o = acc / l[:, None]
    o_tile = _tile_offsets_2d(pos, tq, d, sos, sot, sod)
    tl.store(O + b * sob + h * soh + o_tile, o.to(O.dtype.element_ty), mask=q_ok[:, None])
    if STORE_LSE:
        lse_ptrs = LSE + ((b * heads + h) * S + pos) * T + tq
        tl.store(lse_ptrs, m + tl.log2(l), mask=q_ok)  # base-2 log-sum-exp


@triton.jit
def _backward_kernel_2d(
    Q, K, V, O, DO, LSE, DQ, DK, DV,
    sqb, sqt, sqs, sqh, sqd,
    skb, skt, sks, skh, skd,
    svb, svt, svs, svh, svd,
    sob, sot, sos, soh, sod,
    sdob, sdot, sdos, sdoh, sdod,
    sgb, sgt, sgs, sgh, sgd,
    T, S, heads, window, sm_scale,
    CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr, BLOCK_T: tl.constexpr,
    BLOCK_S: tl.constexpr, PACK: tl.constexpr, TP: tl.constexpr, PRECISION: tl.constexpr,
    ONE_BLOCK: tl.constexpr, BLOCK_Q: tl.constexpr,
):
    # With one key block (T <= BLOCK_T) the queries may go in smaller blocks of BLOCK_Q rows
    # against all the keys: [BLOCK_T, BLOCK_Q] score tiles instead of [BLOCK_T, BLOCK_T], fewer
    # registers (dk, dv then add up over the query blocks). Else BLOCK_Q = BLOCK_T.
    h = tl.program_id(0) % heads
    block = tl.program_id(0) // heads
    b = tl.program_id(1).to(tl.int64)
    d = tl.arange(0, D)
    q_base = Q + b * sqb + h * sqh
    k_base = K + b * skb + h * skh
    v_base = V + b * svb + h * svh
    o_base = O + b * sob + h * soh
    do_base = DO + b * sdob + h * sdoh
    g_off = b * sgb + h * sgh
    lse_base = LSE + (b * heads + h) * S * T
    qk_scale = sm_scale * LOG2E

    for j in range(0, _cdiv(T, BLOCK_T)):  # key blocks
        pos_k, tk, gk, k_ok = _rows_2d(block, j, T, S, BLOCK_T, PACK, TP)
        k_mask = k_ok[:, None]
        k = tl.load(k_base + _tile_offsets_2d(pos_k, tk, d, sks, skt, skd), mask=k_mask,
                    other=0.0)
        v = tl.load(v_base + _tile_offsets_2d(pos_k, tk, d, svs, svt, svd), mask=k_mask,
                    other=0.0)
        k_tile = g_off + _tile_offsets_2d(pos_k, tk, d, sgs, sgt, sgd)
        dk = tl.full([BLOCK_T, D], 0.0, tl.float32)
        dv = tl.full([BLOCK_T, D], 0.0, tl.float32)
        if ONE_BLOCK:  # every query row of the block, BLOCK_Q at a time
            lo = 0
            hi = _cdiv(tl.minimum(PACK * T, BLOCK_T), BLOCK_Q)
        else:
            lo, hi = _query_blocks(j, T, window, BLOCK_T, CAUSAL, HAS_WINDOW)
        for i in range(lo, hi):
            pos, tq, gq, q_ok = _rows_2d(block, i, T, S, BLOCK_Q, PACK, TP)
            q_mask = q_ok[:, None]
            q = tl.load(q_base + _tile_offsets_2d(pos, tq, d, sqs, sqt, sqd), mask=q_mask,
                        other=0.0)
            do = tl.load(do_base + _tile_offsets_2d(pos, tq, d, sdos, sdot, sdod), mask=q_mask,
                         other=0.0)
            lse = tl.load(lse_base + pos * T + tq, mask=q_ok, other=0.0)  # [Tq]

            x_t = tl.dot(k, tl.trans(q), input_precision=PRECISION)  # [Tk, Tq]
            p_t = tl.exp2(x_t * qk_scale - lse[None, :])
            ok_t = _allowed(tq[None, :], tk[:, None], gq[None, :], gk[:, None], T, window,
                            CAUSAL, HAS_WINDOW, PACK)
            p_t = tl.where(ok_t, p_t, 0.0)

            if ONE_BLOCK and BLOCK_Q == BLOCK_T:  # the whole dv: store it, free its registers
                dv_ji = tl.dot(p_t.to(do.dtype), do, input_precision=PRECISION)  # P^T dO
                tl.store(DV + k_tile, dv_ji.to(DV.dtype.element_ty), mask=k_mask)
            else:
                dv = tl.dot(p_t.to(do.dtype), do, dv, input_precision=PRECISION)
            dp_t = tl.dot(v, tl.trans(do), input_precision=PRECISION)  # (dO v^T)^T
            if ONE_BLOCK:  # all keys of each query row are here: delta = rowsum(P * dP)
                delta = _sum(p_t * dp_t, 0)  # [Tq]
            else:
                o = tl.load(o_base + _tile_offsets_2d(pos, tq, d, sos, sot, sod), mask=q_mask,
                            other=0.0)
                delta = _sum(do.to(tl.float32) * o.to(tl.float32), 1)
            ds_t = p_t * (dp_t - delta[None, :])  # dS^T [Tk, Tq]
            if ONE_BLOCK and BLOCK_Q == BLOCK_T:
                dk_ji = tl.dot(ds_t.to(q.dtype), q, input_precision=PRECISION) * sm_scale
                tl.store(DK + k_tile, dk_ji.to(DK.dtype.element_ty), mask=k_mask)
            else:  # scaled by sm_scale once, at the end
                dk = tl.dot(ds_t.to(q.dtype), q, dk, input_precision=PRECISION)
            dq_ji = tl.dot(tl.trans(ds_t).to(k.dtype), k, input_precision=PRECISION) * sm_scale
            dq_ptrs = DQ + g_off + _tile_offsets_2d(pos, tq, d, sgs, sgt, sgd)
            if ONE_BLOCK:
                tl.store(dq_ptrs, dq_ji.to(DQ.dtype.element_ty), mask=q_mask)
            else:
                tl.atomic_add(dq_ptrs, dq_ji, mask=q_mask)

        if not (ONE_BLOCK and BLOCK_Q == BLOCK_T):
            tl.store(DK + k_tile, (dk * sm_scale).to(DK.dtype.element_ty), mask=k_mask)
            tl.store(DV + k_tile, dv.to(DV.dtype.element_ty), mask=k_mask)


# ----------------------------------------------------------------------------- launchers


# (BLOCK_T, BLOCK_S, num_warps, num_stages[, BLOCK_Q]) by pass and clip length, for D = 64
# and bf16. BLOCK_T is the rows of a frame block, BLOCK_S the frame blocks per program; clips
# of T <= BLOCK_T / 2 frames pack BLOCK_T // T positions into each block. BLOCK_S > 1 runs the
# 3-D kernels, BLOCK_S = 1 the 2-D kernels. BLOCK_Q (2-D backward only, default BLOCK_T): query
# rows per step against all the keys. The sweep behind each entry: kernels/BENCHMARKS.md.
_CONFIGS = {
    False: (
        (8, (16, 4, 4, 1)),
        (16, (16, 4, 4, 1)),
        (32, (64, 1, 4, 2)),
        (None, (64, 1, 4, 1)),
    ),
    True: (
        (8, (16, 4, 4, 1)),
        (16, (16, 4, 4, 1)),
        (32, (64, 1, 4, 1, 64)),
        (None, (64, 1, 4, 1, 64)),
    ),
}

# Override hook for sweeps and tests: {"fwd" or "bwd": (BLOCK_T, BLOCK_S, num_warps,
# num_stages[, BLOCK_Q])} replaces _CONFIGS for every T while set (plans are then not cached).
CONFIG_OVERRIDE: dict[str, tuple[int, ...]] = {}


def _config(T: int, D: int, backward: bool = False) -> tuple[int, int, int, int, int]:
    """(BLOCK_T, BLOCK_S, num_warps, num_stages, BLOCK_Q) for a clip of T frames, head size D.

    The rule: no duplicated work (a 3-D dot gives each warp whole sequences, so BLOCK_S >=
    num_warps; a 2-D dot gives each warp 16-row slices, so BLOCK_T >= 16 * num_warps), and
    per-thread tiles small enough for several programs per SM with no spills, since their
    overlapping loads are what hides memory latency. The sweep: kernels/BENCHMARKS.md."""
    config = CONFIG_OVERRIDE.get("bwd" if backward else "fwd")
    if config is None:
        config = next(c for t_max, c in _CONFIGS[backward] if t_max is None or T <= t_max)
    block_t, block_s, num_warps, num_stages, *rest = config
    block_q = rest[0] if rest else block_t
    for n in (block_t, block_s, block_q):
        if n < 1 or n & (n - 1) or block_t < 16 or block_q < 16 or block_q > block_t:
            raise ValueError(f"bad config {config}: BLOCK_T, BLOCK_S, BLOCK_Q powers of two, "
                             "16 <= BLOCK_Q <= BLOCK_T")
    return block_t, block_s, num_warps, num_stages, block_q


def _pack(T: int, block_t: int) -> int:
    """Positions per frame block: BLOCK_T // T for clips of T <= BLOCK_T / 2 frames, else 1."""
    return max(1, block_t // T)


def _effective_window(T: int, window: int | None) -> int | None:
    """A window >= T - 1 excludes nothing: drop it (also keeps huge ints out of int32)."""
    return None if window is None or window >= T - 1 else window


class _Plan:
    """Everything a (q, k, v, causal, window) call needs that does not depend on the data:
    checked once per key (shapes, strides, dtype, device, mask, alignment) and cached."""

    __slots__ = ("causal", "window", "fwd", "bwd", "bwd_config", "one_block", "pack_b", "D")

    def __init__(self, q: Tensor, causal: bool, window: int | None):
        B, T, S, heads, D = q.shape
        self.causal, self.window, self.D = causal, window, D
        dots = precision(q.dtype)
        block_t, block_s, num_warps, num_stages, _ = _config(T, D)
        pack = _pack(T, block_t)
        grid = (heads * triton.cdiv(S, block_s * pack), triton.cdiv(T, block_t), B)
        common = dict(CAUSAL=causal, HAS_WINDOW=window is not None, D=D, BLOCK_T=block_t,
                      BLOCK_S=block_s, PACK=pack, TP=T if pack > 1 else 0, PRECISION=dots)
        kernel = _forward_kernel_2d if block_s == 1 else _forward_kernel
        self.fwd = {store: _Launch(kernel, grid, dict(common, STORE_LSE=store), num_warps,
                                   num_stages) for store in (False, True)}
        block_t, block_s, num_warps, num_stages, block_q = _config(T, D, backward=True)
        pack = _pack(T, block_t)
        self.one_block = T <= block_t  # else key blocks each add a share of dq (atomics)
        grid = (heads * triton.cdiv(S, block_s * pack), B)
        constants = dict(common, BLOCK_T=block_t, BLOCK_S=block_s, PACK=pack,
                         TP=T if pack > 1 else 0, ONE_BLOCK=self.one_block)
        if block_s == 1:
            constants["BLOCK_Q"] = block_q if self.one_block else block_t
        self.bwd_config = (_backward_kernel_2d if block_s == 1 else _backward_kernel, grid,
                           constants, num_warps, num_stages)
        self.bwd = {}  # one _Launch per (dO strides, dO alignment)


_PLANS: dict[tuple, _Plan] = {}


def _plan_key(q: Tensor, k: Tensor, v: Tensor, causal: bool, window: int | None) -> tuple:
    return (q.shape, k.shape, v.shape, q.stride(), k.stride(), v.stride(), q.dtype, k.dtype,
            v.dtype, q.device, k.device, v.device, q.data_ptr() % 16, k.data_ptr() % 16,
            v.data_ptr() % 16, causal, window)


def _forward(q: Tensor, k: Tensor, v: Tensor, plan: _Plan, store_lse: bool = True):
    B, T, S, heads, D = q.shape
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)  # [B, T, S, heads, D]
    if store_lse:
        lse = torch.empty((B, heads, S, T), dtype=torch.float32, device=q.device)
    else:  # never written: any pointer will do, and an allocation less
        lse = o
    if o.numel() == 0:
        return o, lse
    plan.fwd[store_lse](q, k, v, o, lse, *q.stride(), *k.stride(), *v.stride(), *o.stride(),
                        T, S, heads, plan.window or 0, LOG2E.value / math.sqrt(D))
    return o, lse


def _backward(q, k, v, o, lse, do, plan: _Plan):
    B, T, S, heads, D = q.shape
    if plan.one_block:
        dq = torch.empty(q.shape, dtype=q.dtype, device=q.device)  # contiguous, like dk, dv
    else:
        dq = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
    dk = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    dv = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    if q.numel() == 0:
        return dq.to(q.dtype), dk, dv
    key = (do.stride(), do.data_ptr() % 16, do.dtype)
    launch = plan.bwd.get(key)
    if launch is None:
        launch = plan.bwd[key] = _Launch(*plan.bwd_config)
    launch(q, k, v, o, do, lse, dq, dk, dv,
           *q.stride(), *k.stride(), *v.stride(), *o.stride(), *do.stride(), *dk.stride(),
           T, S, heads, plan.window or 0, 1.0 / math.sqrt(D))
    return (dq if plan.one_block else dq.to(q.dtype)), dk, dv


class _TemporalAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, plan):
        o, lse = _forward(q, k, v, plan)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.plan = plan
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        dq, dk, dv = _backward(q, k, v, o, lse, do, ctx.plan)
        return dq, dk, dv, None


def _check_inputs(q: Tensor, k: Tensor, v: Tensor, causal: bool, window: int | None) -> None:
    """Clear errors before launching: shapes, dtypes, devices, head size, mask arguments."""
    check_attention(NAME, q, k, v)
    if q.shape[0] > 65535:  # B is a CUDA grid axis (z), which stops at 65,535
        raise ValueError(f"{NAME} needs batch B <= 65535, got B={q.shape[0]}")
    check_mask(causal, window)
    check_device(q, NAME)


def _get_plan(q: Tensor, k: Tensor, v: Tensor, causal: bool, window: int | None) -> _Plan:
    """The cached plan of this call, checking the inputs the first time a key is seen."""
    try:
        key = _plan_key(q, k, v, causal, window)
        plan = _PLANS.get(key)
    except (AttributeError, TypeError):  # not tensors: the checks below say so
        key = plan = None
    if plan is None:
        _check_inputs(q, k, v, causal, window)
        plan = _Plan(q, causal, _effective_window(q.shape[1], window))
        if key is not None and not CONFIG_OVERRIDE:
            if len(_PLANS) >= 256:  # many shapes: start again rather than grow without end
                _PLANS.clear()
            _PLANS[key] = plan
    else:
        check_mask(causal, window)  # True == 1 and 1 == True as keys: check the types
        if not q.is_cuda:
            check_device(q, NAME)
    return plan


def temporal_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, window: int | None = None
) -> Tensor:
    """Each (position s, head h) attends over the T frames at position s, fused in Triton.

    ``out[b, t, s, h] = sum_u softmax_u(q[b, t, s, h] . k[b, u, s, h] / sqrt(D) + M[t, u])
    v[b, u, s, h]``, M from ``vdlite.attention.temporal_mask(T, causal, window)``: the same
    semantics as ``vdlite.attention.temporal_attention``, differentiable in q, k and v.

    q, k, v: ``[B, T, S, heads, D]`` of one dtype (float16, bfloat16, float32) and device,
    any strides (e.g. the views ``qkv.unbind(3)`` of a fused ``[B, T, S, 3, heads, D]``
    projection); D in 16, 32, 64, 128; any T -> ``[B, T, S, heads, D]``, contiguous, in q's
    dtype. An empty clip (B, T, S or heads = 0) launches nothing: its result and gradients
    are empty, as the reference's are (which computes them).
    """
    if isinstance(q, Tensor) and q.numel() == 0:  # before any plan: T = 0 has no frame block
        _check_inputs(q, k, v, causal, window)
        return _reference(q, k, v, causal, window)
    plan = _get_plan(q, k, v, causal, window)
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        return _TemporalAttention.apply(q, k, v, plan)
    return _forward(q, k, v, plan, store_lse=False)[0]  # no backward: no logsumexp to save

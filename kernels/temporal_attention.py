"""Fused temporal attention in Triton, forward and backward, on the ``[B, T, S, heads, D]`` layout.

What it computes: for every batch b, position s and head h, the T frames at (b, s, h) form one
short sequence, and each frame t attends over the frames u its temporal mask allows,

    out[b, t, s, h] = sum_u softmax_u(q[b, t, s, h] . k[b, u, s, h] / sqrt(D) + M[t, u])
                      v[b, u, s, h],

with ``M = 0`` where ``vdlite.attention.temporal_mask(T, causal, window)`` allows u and -inf
elsewhere (causal: u <= t; window w: |t - u| <= w; the diagonal is always allowed). This is
``vdlite.attention.temporal_attention``, the reference the tests compare against.

Why it is memory-bound. Language-model attention has a few long sequences; temporal attention
has an enormous number of tiny ones: B*S*heads = 2*4096*8 = 65,536 sequences of T = 8..64
frames. Per sequence the work is 4*T^2*D FLOPs against 4*T*D values moved (q, k, v in, o out):
T FLOPs per value, T/2 per byte in bf16 (8 at T = 16, 32 at T = 64), far below the ~250 FLOPs
per byte (~800 TFLOP/s over ~3.3 TB/s) at which an H100's tensor cores rather than its memory
become the limit. So the goal is not clever FLOP tiling but reading q, k, v and writing o
exactly once, in wide coalesced transactions, with no copies, and few instructions per byte:
"permute to [B*S*heads, T, D] + SDPA + permute back" moves every byte about three times.

The layout through strides. Token (b, t, s, h, d) lives at
``b*stride_b + t*stride_t + s*stride_s + h*stride_h + d*stride_d``; we never permute or copy.
The sequence (b, s, h) starts at ``b*stride_b + s*stride_s + h*stride_h`` and its frame t is
``t*stride_t`` further. Each frame of it is a run of D contiguous values: 128 bytes at D = 64
in bf16, one full cache line, whatever stride_s is (heads*D for a contiguous tensor,
3*heads*D for the views ``qkv.unbind(3)`` of a fused projection).

One program = one (b, h) and a block of positions s, all their frames. It loads tiles
``[BLOCK_S, BLOCK_T, D]`` (position, frame, channel) and does the attention of all BLOCK_S
sequences at once with a *batched* ``tl.dot`` (the first axis is the batch):
``[BS, T, D] @ [BS, D, T] -> [BS, T, T]``. ``tl.dot`` needs every dimension >= 16, so the frame
axis is a block of BLOCK_T = a power of two >= 16 (at most 64) rows. For T >= 9 the frames are
padded to it and the padding masked (padded rows load as 0, padded keys score -inf, padded
queries are never stored); clips of T <= 8 frames instead pack 16 // T positions into one
block of 16 rows (two 8-frame clips at T = 8), with a block-diagonal mask keeping the
positions apart, so no row is wasted. BLOCK_S is chosen so a tile holds ~2048 values (two
blocks of 16 frames at D = 64): small tiles, few registers, many programs per SM. The grid is
(heads * position blocks, query frame blocks, B), heads fastest: programs that run side by
side take the other heads of the same positions, so together they sweep contiguous memory.

The online softmax. For T <= 64 all keys fit in one tile; longer clips loop over key blocks of
64 frames, keeping per query row the running max m, the running sum l of exp(s - m) and the
unnormalised output acc, rescaled by exp(m_old - m_new) when the max grows (flash attention).
Key blocks the mask rules out entirely (the future when causal, frames beyond the window) are
skipped. We work in base 2 (exp2 is one instruction): s2 = q.k * log2(e)/sqrt(D). The forward
saves, per query row, the logsumexp ``lse = ln(sum_u exp(q.k_u/sqrt(D)))`` in float32
``[B, heads, S, T]`` (4 bytes per row against 2*D bytes of output: 3% at D=64, bf16).

The backward (flash-attention 2). With P = softmax(S), S = q k^T / sqrt(D), O = P v and dO
the incoming gradient:

    dv = P^T dO,   dP = dO v^T,   dS = P * (dP - delta),   delta = rowsum(dO * O),
    dq = dS k / sqrt(D),   dk = dS^T q / sqrt(D).

(delta_t = sum_u P_tu dP_tu = dO_t . O_t: the softmax's Jacobian, contracted.) Nothing of
size T x T was saved: P is recomputed from q, k and the saved lse as exp(S - lse), exactly
normalised with no second pass. One program owns BLOCK_S whole sequences: for each key block
it accumulates dk, dv in registers over the query blocks, and adds each query block's share
of dq; with one block (T <= 64) each gradient is stored as soon as it is computed, with
several dq is accumulated in a float32 buffer with atomic adds. delta is computed from the dO
and O tiles as they are loaded, so for T <= 64 the backward reads q, k, v, o, dO once and
writes dq, dk, dv once.

Dots accumulate in float32. float16/bfloat16 inputs feed the tensor cores directly (P and dS
are rounded to the input dtype before their dots, as in flash attention); float32 inputs use
full-precision ("ieee") dots, not TF32.

Runs on CUDA tensors, or on the CPU through Triton's interpreter: set ``TRITON_INTERPRET=1``
before ``kernels`` is imported (Triton reads it when the kernels are defined).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.runtime.jit import JITFunction

from vdlite.attention import _check_qkv

__all__ = ["temporal_attention"]

DTYPES = (torch.float16, torch.bfloat16, torch.float32)
HEAD_DIMS = (16, 32, 64, 128)
MAX_BLOCK_T = 64  # frames per tile; longer clips loop over key blocks (online softmax)
TILE = 4096  # values per [BLOCK_S, 16, D] tile of 16-frame blocks: sets BLOCK_S
LOG2E = 1.4426950408889634


# ----------------------------------------------------------------------------- Triton helpers


# Triton's own jit helpers (tl.cdiv, tl.zeros, tl.max, tl.sum) are fixed in compiled mode when
# triton is imported before TRITON_INTERPRET=1 is set (torch imports it early, e.g. in
# torch.utils.flop_counter), and then cannot run inside an interpreted kernel. These four
# stand-ins are defined here, so they follow this module; the reductions reuse Triton's combine
# functions, which the interpreter maps to numpy.


@triton.jit
def _cdiv(a, b):
    """ceil(a / b) for a >= 0."""
    return (a + b - 1) // b


@triton.jit
def _max(x, axis: tl.constexpr):
    """tl.max(x, axis)."""
    return tl.reduce(x, axis, tl.standard._elementwise_max)


@triton.jit
def _sum(x, axis: tl.constexpr):
    """tl.sum(x, axis) of float32 values."""
    return tl.reduce(x, axis, tl.standard._sum_combine)


@triton.jit
def _rows(block, i, T, S, BLOCK_S: tl.constexpr, BLOCK_T: tl.constexpr, PACK: tl.constexpr):
    """Where the rows of a tile live: ``[BLOCK_S, BLOCK_T]`` position, ``[BLOCK_T]`` frame and
    group, ``[BLOCK_S, BLOCK_T]`` valid.

    Row r of frame block i is frame i*BLOCK_T + r of its position. Clips shorter than half a
    block (T <= 8) pack PACK positions into one block instead: row r is frame r % T of the
    position's group g = r // T, and the mask keeps groups apart (no wasted rows at T = 8).
    """
    r = tl.arange(0, BLOCK_T)
    if PACK > 1:
        group = r // T
        frame = r % T
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
    BLOCK_S: tl.constexpr, PACK: tl.constexpr, PRECISION: tl.constexpr,
):
    h = tl.program_id(0) % heads  # heads fastest: neighbouring programs, neighbouring memory
    block = tl.program_id(0) // heads  # block of BLOCK_S * PACK positions
    i = tl.program_id(1)  # query frame block
    b = tl.program_id(2).to(tl.int64)
    d = tl.arange(0, D)
    pos, tq, gq, q_ok = _rows(block, i, T, S, BLOCK_S, BLOCK_T, PACK)  # query rows
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
        pos_k, tk, gk, k_ok = _rows(block, j, T, S, BLOCK_S, BLOCK_T, PACK)  # key rows
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
    lse_ptrs = LSE + ((b * heads + h) * S + pos) * T + tq[None, :]  # [BLOCK_S, BLOCK_T]
    tl.store(lse_ptrs, (m + tl.log2(l)) / 1.4426950408889634, mask=q_ok)


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
    BLOCK_S: tl.constexpr, PACK: tl.constexpr, PRECISION: tl.constexpr,
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
    qk_scale = sm_scale * 1.4426950408889634

    for j in range(0, _cdiv(T, BLOCK_T)):  # key blocks
        pos_k, tk, gk, k_ok = _rows(block, j, T, S, BLOCK_S, BLOCK_T, PACK)
        k_mask = k_ok[:, :, None]
        k = tl.load(k_base + _tile_offsets(pos_k, tk, d, sks, skt, skd), mask=k_mask, other=0.0)
        v = tl.load(v_base + _tile_offsets(pos_k, tk, d, svs, svt, svd), mask=k_mask, other=0.0)
        k_tile = g_off + _tile_offsets(pos_k, tk, d, sgs, sgt, sgd)  # where dk, dv go
        dk = tl.full([BLOCK_S, BLOCK_T, D], 0.0, tl.float32)
        dv = tl.full([BLOCK_S, BLOCK_T, D], 0.0, tl.float32)
        lo, hi = _query_blocks(j, T, window, BLOCK_T, CAUSAL, HAS_WINDOW)
        for i in range(lo, hi):  # query blocks that see key block j
            pos, tq, gq, q_ok = _rows(block, i, T, S, BLOCK_S, BLOCK_T, PACK)
            q_mask = q_ok[:, :, None]
            q = tl.load(q_base + _tile_offsets(pos, tq, d, sqs, sqt, sqd), mask=q_mask, other=0.0)
            do = tl.load(do_base + _tile_offsets(pos, tq, d, sdos, sdot, sdod), mask=q_mask,
                         other=0.0)
            o = tl.load(o_base + _tile_offsets(pos, tq, d, sos, sot, sod), mask=q_mask, other=0.0)
            delta = _sum(do.to(tl.float32) * o.to(tl.float32), 2)  # [S, Tq] rowsum(dO * O)
            lse = tl.load(lse_base + pos * T + tq[None, :], mask=q_ok, other=0.0)  # [S, Tq]

            # transposed scores: keys on axis 1, queries on axis 2
            x_t = tl.dot(k, tl.permute(q, (0, 2, 1)), input_precision=PRECISION)  # [S, Tk, Tq]
            p_t = tl.exp2(x_t * qk_scale - (lse * 1.4426950408889634)[:, None, :])
            ok_t = _allowed(tq[None, :], tk[:, None], gq[None, :], gk[:, None], T, window,
                            CAUSAL, HAS_WINDOW, PACK)  # [Tk, Tq]
            p_t = tl.where(ok_t[None, :, :], p_t, 0.0)  # P^T, exactly normalised

            # this pair's shares of dv, dk, dq. With one block (T <= 64) each is the whole
            # gradient: store it at once, which frees its registers for the next dot.
            dv_ji = tl.dot(p_t.to(do.dtype), do, input_precision=PRECISION)  # P^T dO
            dp_t = tl.dot(v, tl.permute(do, (0, 2, 1)), input_precision=PRECISION)  # (dO v^T)^T
            ds_t = p_t * (dp_t - delta[:, None, :])  # dS^T [S, Tk, Tq]
            dk_ji = tl.dot(ds_t.to(q.dtype), q, input_precision=PRECISION) * sm_scale  # dS^T q
            if ONE_BLOCK:
                tl.store(DV + k_tile, dv_ji.to(DV.dtype.element_ty), mask=k_mask)
                tl.store(DK + k_tile, dk_ji.to(DK.dtype.element_ty), mask=k_mask)
            else:
                dv += dv_ji
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


# ----------------------------------------------------------------------------- launchers


def _interpreted() -> bool:
    """True when Triton's interpreter runs the kernels (TRITON_INTERPRET=1 at import)."""
    return not isinstance(_forward_kernel, JITFunction)


def _config(T: int, D: int, backward: bool = False) -> tuple[int, int, int]:
    """(BLOCK_T, BLOCK_S, num_warps): frames padded to a power of two in [16, 64]; for blocks
    of 16 frames, enough positions for a tile of TILE values; 4 warps.

    Chosen by measurement (kernels/BENCHMARKS.md, H100, bf16, D = 64, both passes): 4
    positions per program at T <= 16 reached 90-109% of the copy bandwidth forward where 2
    reached 64-84%, and 4 warps beat 8 at every T (8 warps made the T = 64 backward spill:
    245 ms against 8.9 ms). Small tiles keep registers low, so many programs share an SM and
    their loads overlap one another's compute: that is what hides memory latency here, not
    pipelining within a program (the launchers ask for num_stages=1: with one key block there
    is nothing to prefetch, and multi-buffering would only take shared memory). The
    ``backward`` flag is kept so the two passes can be tuned apart."""
    block_t = min(max(16, triton.next_power_of_2(T)), MAX_BLOCK_T)
    block_s = max(1, TILE // (block_t * D)) if block_t == 16 else 1
    return block_t, block_s, 4


def _pack(T: int, block_t: int) -> int:
    """Positions per block of frames: 16 // T for clips of T <= 8 frames, else 1."""
    return max(1, block_t // T)


def _effective_window(T: int, window: int | None) -> int | None:
    """A window >= T - 1 excludes nothing: drop it (also keeps huge ints out of int32)."""
    return None if window is None or window >= T - 1 else window


def _forward(q: Tensor, k: Tensor, v: Tensor, causal: bool, window: int | None):
    B, T, S, heads, D = q.shape
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)  # [B, T, S, heads, D]
    lse = torch.empty(B, heads, S, T, dtype=torch.float32, device=q.device)
    if o.numel() == 0:
        return o, lse
    block_t, block_s, num_warps = _config(T, D)
    pack = _pack(T, block_t)
    grid = (heads * triton.cdiv(S, block_s * pack), triton.cdiv(T, block_t), B)
    _forward_kernel[grid](
        q, k, v, o, lse, *q.stride(), *k.stride(), *v.stride(), *o.stride(),
        T, S, heads, window or 0, LOG2E / math.sqrt(D),
        CAUSAL=causal, HAS_WINDOW=window is not None, D=D,
        BLOCK_T=block_t, BLOCK_S=block_s, PACK=pack, PRECISION=_precision(q.dtype),
        num_warps=num_warps, num_stages=1,
    )
    return o, lse


def _backward(q, k, v, o, lse, do, causal: bool, window: int | None):
    B, T, S, heads, D = q.shape
    block_t, block_s, num_warps = _config(T, D, backward=True)
    one_block = T <= block_t  # else several key blocks each add a share of dq (atomics)
    if one_block:
        dq = torch.empty(q.shape, dtype=q.dtype, device=q.device)  # contiguous, like dk, dv
    else:
        dq = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
    dk = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    dv = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    if q.numel() == 0:
        return dq.to(q.dtype), dk, dv
    pack = _pack(T, block_t)
    grid = (heads * triton.cdiv(S, block_s * pack), B)
    _backward_kernel[grid](
        q, k, v, o, do, lse, dq, dk, dv,
        *q.stride(), *k.stride(), *v.stride(), *o.stride(), *do.stride(), *dk.stride(),
        T, S, heads, window or 0, 1.0 / math.sqrt(D),
        CAUSAL=causal, HAS_WINDOW=window is not None, D=D,
        BLOCK_T=block_t, BLOCK_S=block_s, PACK=pack, PRECISION=_precision(q.dtype),
        ONE_BLOCK=one_block,
        num_warps=num_warps, num_stages=1,
    )
    return dq.to(q.dtype), dk, dv


def _precision(dtype: torch.dtype) -> str:
    """float32 dots in full precision; half types go to the tensor cores as they are."""
    return "ieee" if dtype == torch.float32 else "tf32"


class _TemporalAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, causal, window):
        o, lse = _forward(q, k, v, causal, window)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.causal, ctx.window = causal, window
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        dq, dk, dv = _backward(q, k, v, o, lse, do, ctx.causal, ctx.window)
        return dq, dk, dv, None, None


def _check_inputs(q: Tensor, k: Tensor, v: Tensor, causal: bool, window: int | None) -> None:
    """Clear errors before launching: shapes, dtypes, devices, head size, mask arguments."""
    _check_qkv(q, k, v)  # the reference's checks: rank, shapes, dtype, device, D >= 1
    if q.dtype not in DTYPES:
        raise ValueError(
            "kernels.temporal_attention supports float16, bfloat16 and float32, got "
            f"{q.dtype} (vdlite.attention.temporal_attention computes in any float dtype)"
        )
    if q.shape[-1] not in HEAD_DIMS:
        raise ValueError(
            f"kernels.temporal_attention supports head sizes D in {HEAD_DIMS}, "
            f"got D={q.shape[-1]} (shape {tuple(q.shape)} [B, T, S, heads, D])"
        )
    if q.shape[0] > 65535:  # B is a CUDA grid axis (y or z), which stops at 65,535
        raise ValueError(f"kernels.temporal_attention needs batch B <= 65535, got B={q.shape[0]}")
    if not isinstance(causal, bool):
        raise ValueError(f"causal must be a bool, got causal={causal!r}")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                               or window < 0):
        raise ValueError(f"window must be None or an int >= 0, got window={window!r}")
    if q.device.type != "cuda" and not _interpreted():
        raise RuntimeError(
            f"kernels.temporal_attention runs Triton kernels and got {q.device.type} tensors: "
            "use CUDA tensors, or set TRITON_INTERPRET=1 before importing kernels to run them "
            "on the CPU through Triton's interpreter (slow; for tests and lessons)"
        )


def temporal_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, window: int | None = None
) -> Tensor:
    """Each (position s, head h) attends over the T frames at position s, fused in Triton.

    ``out[b, t, s, h] = sum_u softmax_u(q[b, t, s, h] . k[b, u, s, h] / sqrt(D) + M[t, u])
    v[b, u, s, h]``, M from ``vdlite.attention.temporal_mask(T, causal, window)``: the same
    semantics as ``vdlite.attention.temporal_attention``, differentiable in q, k and v.

    q, k, v: ``[B, T, S, heads, D]`` of one dtype (float16, bfloat16, float32) and device,
    any strides (e.g. the views ``qkv.unbind(3)`` of a fused ``[B, T, S, 3, heads, D]``
    projection); D in 16, 32, 64, 128; any T >= 1 -> ``[B, T, S, heads, D]``, contiguous,
    in q's dtype.
    """
    _check_inputs(q, k, v, causal, window)
    return _TemporalAttention.apply(q, k, v, causal, _effective_window(q.shape[1], window))

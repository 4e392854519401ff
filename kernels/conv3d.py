"""Causal 3D convolution in Triton as an implicit GEMM, forward and backward, channels-last.

What it computes. For x ``[N, Cin, T, H, W]``, a weight ``[Cout, Cin, kT, kH, kW]``, strides
(sT, sH, sW) and paddings before each axis (pT, pH, pW):

    y[n, o, t, h, w] = bias[o] + sum_{c, i, j, l} weight[o, c, i, j, l]
                       * x_pad[n, c, t*sT + i - pT, h*sH + j - pH, w*sW + l - pW]

``causal=False`` is ``F.conv3d`` (symmetric zero padding). ``causal=True`` pads ``pT = kT - 1``
frames before the first frame and none after, so output frame t reads input frames
t*sT - (kT-1) ... t*sT and none later; ``T' = ceil(T / sT)`` (T at stride 1). The padded
frames are zeros (``pad_mode="zeros"``) or copies of frame 0 (``"replicate"``, the video was
still before it began): ``x_pad[tau] = x[max(tau, 0)]``. Height and width are zero-padded in
both modes, as in ``vdlite.CausalConv3d``. Nothing padded is ever stored: a zero frame is a
masked load, a replicated frame a clamped frame index.

The implicit GEMM. Lesson 01 (``vdlite.conv3d``) gathers the windows into a matrix
A ``[M, K]`` and multiplies: y = A @ W. Here the same GEMM runs with A never stored:

    M = N*T'*H'*W' output positions,  N_gemm = Cout,  K = kT*kH*kW taps x Cin channels.

One program computes a tile y ``[BLOCK_M positions, BLOCK_N out channels]`` in float32. Its K
loop walks the taps (i, j, l) and, within each tap, Cin in chunks of BLOCK_K. The A tile of
tap (i, j, l) is x read at the shifted positions ``(t*sT + i - pT, h*sH + j - pH, ...)``:
``[BLOCK_M, BLOCK_K]``, each row a run of BLOCK_K channels, contiguous in channels-last
memory (order N, T, H, W, C: ``torch.channels_last_3d``), rows outside the video masked to 0.
The B tile ``[BLOCK_K, BLOCK_N]`` is read from the weight through its strides: a
channels-last weight (Cin contiguous, as ``model.to(memory_format=torch.channels_last_3d)``
leaves it) as it is, any other layout through a copy rearranged as ``[kT, kH, kW, Cin, Cout]``
(Cout contiguous; a few hundred KB, made per call). Both loops are flattened into one loop of
kT*kH*kW*ceil(Cin/BLOCK_K) steps, so Triton can pipeline the loads of the next steps behind
the tensor-core dots of this one. With zero padding, time taps that read padding frames for
every row of a tile are not visited: at the first frames of a causal conv a tile does less
work than a padded copy would. The bias is added to the float32 tile and
the tile stored channels-last. Any input strides work (a contiguous NCDHW x reads its
channels with stride T*H*W: correct, slower); the output is always channels_last_3d.

The backward, three more GEMMs over the same index maps (dy = dL/dy, channels-last):

- dweight: ``dW[i, j, l, c, o] = sum_m x_shift(i, j, l)[m, c] * dy[m, o]``: for each tap a GEMM
  ``[Cin, M] @ [M, Cout]`` whose reduction runs over all M output positions. One program owns
  a (tap, Cin block, Cout block) tile and a 1/split share of M (split-M, so enough programs fill
  the GPU), which it walks in bricks of BRICK_T x BRICK_H x BRICK_W output positions (its K
  chunks); the shares land in a float32 buffer ``[split, kT, kH, kW, Cin, Cout]`` that one
  ``sum`` reduces (deterministic, unlike atomics). x_shift is the forward's A tile, read at the
  same shifted, masked or frame-clamped positions.
- dbias: ``db[o] = sum_m dy[m, o]``, column sums of the same dy tiles, by a few extra
  programs of the same launch, split the same way (one more row of the buffer).
- dx: each input position u receives ``sum w[j] dy[t]`` over the (output t, tap j) pairs with
  ``t*s + j - p = u`` (per axis), i.e. ``t = (u + p - j) / s`` where that divides: a
  convolution of dy with the flipped weight, Cin and Cout swapped (the weight copied as
  ``[kT, kH, kW, Cin, Cout]``, read transposed, out channels on the dot's K axis). At stride
  1 every tap divides. At stride s only the taps with ``j = (u + p) mod s`` do, and which ones
  depends on u mod s: so the input positions are split into the s_T*s_H*s_W residue classes
  ``u = r + s*q`` (a grid axis), and within a class every row of a tile uses the same taps
  ``j = (r + p) mod s + a*s``, a = 0, 1, ...: no wasted dots, and each dx entry is written
  once, with no atomics.
- replicate padding in dx: frame 0 is read directly by tap j = pT - t*sT and, through the
  clamp, by every earlier tap i < j of the same output frame t (they read virtual frames < 0).
  So frame 0 collects, on top of the zero-padding gradient,
  ``sum_t (sum_{i<j} w[i]) dy[t]`` with j = pT - t*sT: the same gather with the exclusive
  cumulative sum of the weight over its taps, ``Wex[j] = sum_{i<j} w[i]``, in place of w, on
  frame-0 rows only. Tiles holding no frame-0 row skip that pass.

Everything above runs in Triton; PyTorch only rearranges the weight (``permute``, the
``cumsum`` for Wex), sums the split-M partials of dW and db, and makes dy channels-last when it
arrives in another layout (one copy; a gradient through our channels-last output already is).

Measured (H100, bf16, ``python -m kernels.bench --only conv3d``, kernels/BENCHMARKS.md): the
causal 128 -> 128, k = 3 forward on [1, 128, 16, 64, 64] takes 0.104 ms per call (1.28x the
fastest PyTorch way, F.conv3d through cuDNN with the padding done around it), and 256 -> 256
on [1, 256, 8, 32, 32] 0.056 ms (1.27x); with replicate padding 2.30x and 1.86x
F.pad(replicate) + cuDNN. Both with channels-last x and weight.

Dots accumulate in float32. float16/bfloat16 feed the tensor cores as they are; float32 uses
full-precision ("ieee") dots, not TF32. Limits: groups = 1, dilation = 1, any stride >= 1,
any padding >= 0. Runs on CUDA tensors, or on the CPU through Triton's interpreter: set
``TRITON_INTERPRET=1`` before ``kernels`` is imported.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels._common import _cdiv, _interpreted, _Launch, _max, _precision, _sum

__all__ = ["conv3d"]

DTYPES = (torch.float16, torch.bfloat16, torch.float32)
PAD_MODES = ("zeros", "replicate")
Size3 = tuple[int, int, int]


# ----------------------------------------------------------------------------- Triton helpers


# The stand-ins for Triton's own jit helpers (_cdiv, _max, _sum) live in kernels/_common.py.


@triton.jit
def _unflatten(m, A, B, C):
    """Flat index m over ``[*, A, B, C]`` -> (n, a, b, c): the position of row m."""
    c = m % C
    q = m // C
    b = q % B
    q = q // B
    return q // A, q % A, b, c


# Index arithmetic, the pattern of all three GEMM kernels. Tile rows are positions; a row's
# coordinates are computed once per program, and the K loop then only *compares* and *adds*:
# tap i of a row whose window starts at frame t0 reads frame t0 + i, which is inside the video
# iff -t0 <= i < T - t0, and lives at offset x0 + i * sxt from the window's first element x0.
# Offsets are int64 (positions x strides can pass 2**31); coordinates are int32. Loop-derived
# scalars are widened with tl.cast rather than .to(): the interpreter runs loops over Python
# ints, which have no .to().


# ----------------------------------------------------------------------------- forward kernel


@triton.jit
def _x_tile(X, x0, t_lo, t_hi, h_lo, h_hi, w_lo, w_hi, m_ok, x_k, k, Cin, i, j, l, c0,
            sxc, sxt, sxh, sxw, REPLICATE: tl.constexpr, EVEN_K: tl.constexpr,
            OFF64: tl.constexpr):
    """The A tile of tap (i, j, l), Cin chunk c0: x_shift ``[BLOCK_M, BLOCK_K]``, rows
    outside the video 0 (zeros) or, before frame 0, read from frame 0 (replicate)."""
    ok = m_ok & (j >= h_lo) & (j < h_hi) & (l >= w_lo) & (l < w_hi)  # [BLOCK_M]
    if OFF64:
        shift = tl.cast(c0, tl.int64) * sxc + tl.cast(j, tl.int64) * sxh \
            + tl.cast(l, tl.int64) * sxw
    else:
        shift = c0 * sxc + j * sxh + l * sxw
    if REPLICATE:  # frames before 0 read frame 0 (causal: t0 + i <= T - 1 always)
        if OFF64:
            rows = x0 + tl.maximum(i, t_lo).to(tl.int64) * sxt + shift
        else:
            rows = x0 + tl.maximum(i, t_lo) * sxt + shift
    else:
        ok = ok & (i >= t_lo) & (i < t_hi)
        if OFF64:
            rows = x0 + (tl.cast(i, tl.int64) * sxt + shift)
        else:
            rows = x0 + (i * sxt + shift)
    a_ptrs = (X + rows)[:, None] + x_k  # [BLOCK_M, BLOCK_K]: one add per element
    if EVEN_K:
        return tl.load(a_ptrs, mask=ok[:, None], other=0.0)
    return tl.load(a_ptrs, mask=ok[:, None] & (k < Cin - c0)[None, :], other=0.0)


@triton.jit
def _w_tile(Wt, w_k, k, co_ok, Cin, i, j, l, c0, swc, swt, swh, sww,
            EVEN_K: tl.constexpr, EVEN_N: tl.constexpr):
    """The B tile of tap (i, j, l), Cin chunk c0: weight[co, c0 + k, i, j, l] as
    ``[BLOCK_K, BLOCK_N]``, read through the weight's strides."""
    b_ptrs = Wt + (i * swt + j * swh + l * sww + c0 * swc) + w_k
    if EVEN_K:
        if EVEN_N:
            return tl.load(b_ptrs)
        return tl.load(b_ptrs, mask=co_ok[None, :], other=0.0)
    return tl.load(b_ptrs, mask=(k < Cin - c0)[:, None] & co_ok[None, :], other=0.0)


@triton.jit
def _forward_kernel(
    X, Wt, Bias, Y,
    Cin, T, H, W, Cout, To, Ho, Wo, M,
    sxn, sxc, sxt, sxh, sxw,
    syn, syc, syt, syh, syw,
    swo, swc, swt, swh, sww,
    sT, sH, sW, pT, pH, pW,
    KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
    REPLICATE: tl.constexpr, HAS_BIAS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    C_BLOCKS: tl.constexpr, PRECISION: tl.constexpr,
    EVEN_K: tl.constexpr, EVEN_N: tl.constexpr, OFF64: tl.constexpr,
):
    """y tile ``[BLOCK_M positions, BLOCK_N out channels]`` = sum over taps and Cin chunks of
    x_shift ``[BLOCK_M, BLOCK_K]`` @ weight[:, :, tap].T ``[BLOCK_K, BLOCK_N]``.

    The weight ``[Cout, Cin, kT, kH, kW]`` is read through its strides (sw*): channels-last
    (Cin contiguous) as it comes, or the wrapper's ``[kT, kH, kW, Cin, Cout]`` copy (Cout
    contiguous); Triton specialises the stride that is 1.

    Padding frames, per tile. Let t_max be the latest window start (first input frame) among
    the tile's rows. Time taps i < -t_max read a frame before 0 for *every* row. With zero
    padding they contribute nothing and are not visited: the K loop starts at tap -t_max
    (and stops before taps past the last frame for every row), where a padded copy would
    spend those steps multiplying zeros. (With replicate padding taps 0 .. -t_max all read
    frame 0 and could be one step with their weights summed; done inside this kernel, as a
    loop before the main one, it made the whole kernel 2x slower on the H100, so replicate
    visits every tap.)

    The profile (kernels/BENCHMARKS.md) found this loop bound by address and mask arithmetic,
    not by the tensor cores, so what can be known at compile time is: EVEN_K (BLOCK_K divides
    Cin) and EVEN_N (BLOCK_N divides Cout) drop the channel masks, and OFF64 = False (x has
    fewer than 2**31 elements) keeps the per-element offsets in 32 bits."""
    n_blocks = _cdiv(Cout, BLOCK_N)
    pid_m = tl.program_id(0) // n_blocks  # out-channel blocks fastest: they share the A tiles
    pid_n = tl.program_id(0) % n_blocks
    m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # output positions, flattened (n, t, h, w)
    n, to, ho, wo = _unflatten(m, To, Ho, Wo)
    m_ok = m < M
    t0 = to * sT - pT  # each window's first input frame, row and column (maybe padding)
    h0 = ho * sH - pH
    w0 = wo * sW - pW
    if OFF64:
        x0 = (n.to(tl.int64) * sxn + t0.to(tl.int64) * sxt + h0.to(tl.int64) * sxh
              + w0.to(tl.int64) * sxw)  # [BLOCK_M] offset of each window's first element
    else:
        x0 = n * sxn + t0 * sxt + h0 * sxh + w0 * sxw
    t_lo, t_hi = -t0, T - t0  # tap (i, j, l) of row m is inside the video iff
    h_lo, h_hi = -h0, H - h0  # t_lo[m] <= i < t_hi[m], h_lo[m] <= j < h_hi[m], ...
    w_lo, w_hi = -w0, W - w0
    k = tl.arange(0, BLOCK_K)
    co = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    co_ok = co < Cout
    x_k = k[None, :] * sxc  # [1, BLOCK_K] channel offsets within a row of x
    if OFF64:
        x_k = x_k.to(tl.int64)
    w_k = k[:, None] * swc + co[None, :] * swo  # [BLOCK_K, BLOCK_N] offsets in a chunk

    STEPS_PER_TAP: tl.constexpr = KH * KW * C_BLOCKS  # steps of one time tap i
    first, last = 0, KT  # the time taps this tile visits
    if not REPLICATE:  # skip taps that read padding for every row: i < -t_max, i >= T - t_min
        t_max = _max(tl.where(m_ok, t0, -(2**30)), 0)  # the tile's latest window start
        t_min = -_max(tl.where(m_ok, -t0, -(2**30)), 0)  # and earliest
        first = tl.minimum(tl.maximum(-t_max, 0), KT)
        last = tl.maximum(tl.minimum(T - t_min, KT), first)
    acc = tl.full([BLOCK_M, BLOCK_N], 0.0, tl.float32)
    for step in range(first * STEPS_PER_TAP, last * STEPS_PER_TAP):  # taps x Cin chunks
        tap = step // C_BLOCKS  # (C_BLOCKS = ceil(Cin / BLOCK_K), constexpr: cheap division)
        c0 = (step % C_BLOCKS) * BLOCK_K  # first input channel of the chunk
        i = tap // (KH * KW)
        j = tap // KW % KH
        l = tap % KW
        a = _x_tile(X, x0, t_lo, t_hi, h_lo, h_hi, w_lo, w_hi, m_ok, x_k, k, Cin, i, j, l, c0,
                    sxc, sxt, sxh, sxw, REPLICATE, EVEN_K, OFF64)
        b = _w_tile(Wt, w_k, k, co_ok, Cin, i, j, l, c0, swc, swt, swh, sww, EVEN_K, EVEN_N)
        acc = tl.dot(a, b, acc, input_precision=PRECISION)

    if HAS_BIAS:
        acc += tl.load(Bias + co, mask=co_ok, other=0.0).to(tl.float32)[None, :]
    y_rows = n.to(tl.int64) * syn + to.to(tl.int64) * syt + ho.to(tl.int64) * syh + wo * syw
    tl.store(Y + y_rows[:, None] + co[None, :] * syc, acc.to(Y.dtype.element_ty),
             mask=m_ok[:, None] & co_ok[None, :])


# ----------------------------------------------------------------------------- backward kernels


@triton.jit
def _input_grad_taps(
    acc, DY, Wt, dy0, t0, h0, w0, t_lo, h_lo, w_lo, rows_ok, ci,
    Cin, Cout, sdc, sdt, sdh, sdw,
    it, jt, lt, n_i, n_j, n_l, sT, sH, sW,
    KH: tl.constexpr, KW: tl.constexpr, K_BLOCKS: tl.constexpr, BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """acc += sum over this class's taps a and Cout chunks of dy_shift(a) @ W[tap]^T: the
    gather of dx. Tap a = (a_i, a_j, a_l) is weight tap (it + a_i*sT, jt + a_j*sH, lt + a_l*sW)
    and reads dy at (t0 - a_i, h0 - a_j, w0 - a_l), at offset dy0 - (a_i*sdt + a_j*sdh +
    a_l*sdw), inside dy iff t_lo < a_i <= t0 (t_lo = t0 - To), and so on.

    W[tap]^T ``[BLOCK_K out channels, BLOCK_N in channels]`` is read, transposed, from Wt laid
    out like the forward's copy ``[kT, kH, kW, Cin, Cout]`` (out channels contiguous: the
    dot's K axis): the weight itself, or Wex for the replicate correction."""
    k = tl.arange(0, BLOCK_K)
    dy_k = k.to(tl.int64)[None, :] * sdc  # [1, BLOCK_K] channel offsets within a row of dy
    w_k = ci[None, :] * Cout + k[:, None]  # [BLOCK_K, BLOCK_N] offsets within a W^T chunk
    ci_ok = ci < Cin
    n_jl = n_j * n_l
    for step in range(0, n_i * n_jl * K_BLOCKS):
        tap = step // K_BLOCKS
        c0 = tl.cast(step % K_BLOCKS, tl.int64) * BLOCK_K  # first out channel (K) of chunk
        a_i = tap // n_jl
        a_j = tap // n_l % n_j
        a_l = tap % n_l
        ok = (rows_ok & (a_i <= t0) & (a_i > t_lo) & (a_j <= h0) & (a_j > h_lo)
              & (a_l <= w0) & (a_l > w_lo))  # [BLOCK_M]
        rows = dy0 - (a_i.to(tl.int64) * sdt + a_j.to(tl.int64) * sdh + a_l.to(tl.int64) * sdw)
        k_ok = k < Cout - c0
        a = tl.load(DY + c0 * sdc + rows[:, None] + dy_k, mask=ok[:, None] & k_ok[None, :],
                    other=0.0)  # [BLOCK_M, BLOCK_K]
        w_tap = ((it + a_i * sT) * KH + jt + a_j * sH) * KW + lt + a_l * sW
        b = tl.load(Wt + (w_tap.to(tl.int64) * Cin) * Cout + c0 + w_k,
                    mask=k_ok[:, None] & ci_ok[None, :], other=0.0)  # [BLOCK_K, BLOCK_N]
        acc = tl.dot(a, b, acc, input_precision=PRECISION)
    return acc


@triton.jit
def _input_grad_kernel(
    DY, Wf, Wex, DX,
    Cin, T, H, W, Cout, To, Ho, Wo, Qt, Qh, Qw, Mq,
    sdn, sdc, sdt, sdh, sdw,
    sxn, sxc, sxt, sxh, sxw,
    sT, sH, sW, pT, pH, pW,
    KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr, REPLICATE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    K_BLOCKS: tl.constexpr, PRECISION: tl.constexpr,
):
    """dx tile ``[BLOCK_M input positions of one residue class, BLOCK_N input channels]``.

    Program axis 1 is the class r = (ri, rj, rl): positions u = r + s*q, q < (Qt, Qh, Qw)
    per axis. Along each axis its taps are j = (r + p) mod s + a*s and read dy at
    (u + p - j) / s = q + (r + p) // s - a."""
    r = tl.program_id(1)
    rl = r % sW
    rj = r // sW % sH
    ri = r // (sW * sH)
    n_blocks = _cdiv(Cin, BLOCK_N)
    pid_m = tl.program_id(0) // n_blocks
    pid_n = tl.program_id(0) % n_blocks
    m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    n, qt, qh, qw = _unflatten(m, Qt, Qh, Qw)
    t = ri + qt * sT  # the input positions this tile computes
    h = rj + qh * sH
    w = rl + qw * sW
    rows_ok = (m < Mq) & (t < T) & (h < H) & (w < W)
    ci = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    it = (ri + pT) % sT  # the class's first tap per axis, and how many taps it has
    jt = (rj + pH) % sH
    lt = (rl + pW) % sW
    n_i = _cdiv(KT - it, sT)
    n_j = _cdiv(KH - jt, sH)
    n_l = _cdiv(KW - lt, sW)
    t0 = qt + (ri + pT) // sT  # dy frame, row, column read by the class's first tap
    h0 = qh + (rj + pH) // sH
    w0 = qw + (rl + pW) // sW
    dy0 = (n.to(tl.int64) * sdn + t0.to(tl.int64) * sdt + h0.to(tl.int64) * sdh
           + w0.to(tl.int64) * sdw)
    t_lo, h_lo, w_lo = t0 - To, h0 - Ho, w0 - Wo

    acc = tl.full([BLOCK_M, BLOCK_N], 0.0, tl.float32)
    acc = _input_grad_taps(acc, DY, Wf, dy0, t0, h0, w0, t_lo, h_lo, w_lo, rows_ok, ci,
                           Cin, Cout, sdc, sdt, sdh, sdw, it, jt, lt, n_i, n_j, n_l, sT, sH, sW,
                           KH, KW, K_BLOCKS, BLOCK_K, PRECISION)
    if REPLICATE:  # frame 0 also collects what the clamp sent it: same gather, weight Wex
        first = rows_ok & (t == 0)
        if _sum(first.to(tl.int32), 0) > 0:
            acc = _input_grad_taps(acc, DY, Wex, dy0, t0, h0, w0, t_lo, h_lo, w_lo, first, ci,
                                   Cin, Cout, sdc, sdt, sdh, sdw, it, jt, lt, n_i, n_j, n_l,
                                   sT, sH, sW, KH, KW, K_BLOCKS, BLOCK_K, PRECISION)

    x_rows = n.to(tl.int64) * sxn + t.to(tl.int64) * sxt + h.to(tl.int64) * sxh + w * sxw
    tl.store(DX + x_rows[:, None] + ci[None, :] * sxc, acc.to(DX.dtype.element_ty),
             mask=rows_ok[:, None] & (ci < Cin)[None, :])


@triton.jit
def _brick_corner(s, bricks_t, bricks_h, bricks_w, BRICK_T: tl.constexpr,
                  BRICK_H: tl.constexpr, BRICK_W: tl.constexpr):
    """Brick s (flattened over n, brick_t, brick_h, brick_w) -> its batch (int64) and first
    output frame, row and column."""
    q = s // bricks_w
    q2 = q // bricks_h
    return ((q2 // bricks_t).to(tl.int64), q2 % bricks_t * BRICK_T, q % bricks_h * BRICK_H,
            s % bricks_w * BRICK_W)


@triton.jit
def _weight_grad_kernel(
    X, DY, DW,
    Cin, T, H, W, Cout, To, Ho, Wo, bricks_t, bricks_h, bricks_w, n_bricks, bricks_per_split,
    sxn, sxc, sxt, sxh, sxw,
    sdn, sdc, sdt, sdh, sdw,
    sT, sH, sW, pT, pH, pW,
    KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr, REPLICATE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BRICK_T: tl.constexpr, BRICK_H: tl.constexpr, BRICK_W: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """dW tile ``[BLOCK_M in channels, BLOCK_N out channels]`` of one tap (i, j, l):
    x_shift^T ``[BLOCK_M, BLOCK_K]`` @ dy ``[BLOCK_K, BLOCK_N]``, summed over the bricks of
    BLOCK_K = BRICK_T x BRICK_H x BRICK_W output positions in split share ``program_id(1)``,
    stored in float32 at DW[split, tap] ``[Cin, Cout]``. Programs past the last tap compute
    db instead: column sums of the same dy tiles, stored at DB[split] ``[Cout]``. DW and DB
    are one buffer ``[split, taps * Cin * Cout + Cout]``, summed over split afterwards.

    Bricks rather than runs of BLOCK_K flat positions: a row's place (dt, dh, dw) in the brick
    is fixed, so its offsets relative to the brick's corner are computed once, and each step
    only decodes one corner (scalars) and compares."""
    BLOCK_K: tl.constexpr = BRICK_T * BRICK_H * BRICK_W
    n_blocks = _cdiv(Cout, BLOCK_N)
    c_blocks = _cdiv(Cin, BLOCK_M)
    pid = tl.program_id(0)
    pid_n = pid % n_blocks
    pid_c = pid // n_blocks % c_blocks
    tap = pid // (n_blocks * c_blocks)
    co = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    co_ok = co < Cout
    dy_c = co.to(tl.int64)[None, :] * sdc  # [1, BLOCK_N] channel offsets within a row of dy
    r = tl.arange(0, BLOCK_K)  # each row's place (dt, dh, dw) in the brick ...
    dt = r // (BRICK_H * BRICK_W)
    dh = r // BRICK_W % BRICK_H
    dw = r % BRICK_W
    dy_rel = dt.to(tl.int64) * sdt + dh.to(tl.int64) * sdh + dw.to(tl.int64) * sdw
    split = tl.program_id(1)
    s_start = split * bricks_per_split
    s_end = tl.minimum(s_start + bricks_per_split, n_bricks)
    out = DW + split.to(tl.int64) * (KT * KH * KW * Cin * Cout + Cout)  # this share's row

    if tap == KT * KH * KW:  # the bias programs: db[o] = sum_m dy[m, o]
        db = tl.full([BLOCK_N], 0.0, tl.float32)
        for s in range(s_start, s_end):
            n, to0, ho0, wo0 = _brick_corner(s, bricks_t, bricks_h, bricks_w,
                                             BRICK_T, BRICK_H, BRICK_W)
            m_ok = (dt < To - to0) & (dh < Ho - ho0) & (dw < Wo - wo0)
            dy_corner = (n * sdn + to0.to(tl.int64) * sdt + ho0.to(tl.int64) * sdh
                         + wo0.to(tl.int64) * sdw)
            g = tl.load(DY + dy_corner + dy_rel[:, None] + dy_c,
                        mask=m_ok[:, None] & co_ok[None, :], other=0.0)
            db += _sum(g.to(tl.float32), 0)
        tl.store(out + KT * KH * KW * Cin * Cout + co, db, mask=co_ok)
    else:
        i = tap // (KH * KW) - pT  # the tap's shift: output (t, h, w) reads (t*sT + i, ...)
        j = tap // KW % KH - pH
        l = tap % KW - pW
        ci = pid_c * BLOCK_M + tl.arange(0, BLOCK_M)
        ci_ok = ci < Cin
        x_c = ci.to(tl.int64)[None, :] * sxc  # [1, BLOCK_M] channel offsets in a row of x
        dt_s = dt * sT  # ... and that of the input it reads, relative to the corner's
        dh_s = dh * sH
        dw_s = dw * sW
        x_rel = dh_s.to(tl.int64) * sxh + dw_s.to(tl.int64) * sxw  # [BLOCK_K]; time below
        acc = tl.full([BLOCK_M, BLOCK_N], 0.0, tl.float32)
        for s in range(s_start, s_end):
            n, to0, ho0, wo0 = _brick_corner(s, bricks_t, bricks_h, bricks_w,
                                             BRICK_T, BRICK_H, BRICK_W)
            t0 = to0 * sT + i  # the input position the corner reads through this tap
            h0 = ho0 * sH + j
            w0 = wo0 * sW + l
            m_ok = (dt < To - to0) & (dh < Ho - ho0) & (dw < Wo - wo0)  # [BLOCK_K]
            ok = m_ok & (dh_s >= -h0) & (dh_s < H - h0) & (dw_s >= -w0) & (dw_s < W - w0)
            x_corner = (n * sxn + t0.to(tl.int64) * sxt + h0.to(tl.int64) * sxh
                        + w0.to(tl.int64) * sxw)
            if REPLICATE:  # frames before 0 read frame 0
                rows = x_corner + x_rel + tl.maximum(dt_s, -t0).to(tl.int64) * sxt
            else:
                ok = ok & (dt_s >= -t0) & (dt_s < T - t0)
                rows = x_corner + x_rel + dt_s.to(tl.int64) * sxt
            a = tl.load(X + rows[:, None] + x_c, mask=ok[:, None] & ci_ok[None, :],
                        other=0.0)  # [BLOCK_K, BLOCK_M]
            dy_corner = (n * sdn + to0.to(tl.int64) * sdt + ho0.to(tl.int64) * sdh
                         + wo0.to(tl.int64) * sdw)
            b = tl.load(DY + dy_corner + dy_rel[:, None] + dy_c,
                        mask=m_ok[:, None] & co_ok[None, :], other=0.0)  # [BLOCK_K, BLOCK_N]
            acc = tl.dot(tl.trans(a), b, acc, input_precision=PRECISION)
        dw_tile = out + (tap * Cin + ci[:, None]).to(tl.int64) * Cout + co[None, :]
        tl.store(dw_tile, acc, mask=ci_ok[:, None] & co_ok[None, :])


# ----------------------------------------------------------------------------- launchers


class _Tiles(NamedTuple):
    """A kernel's tile sizes and launch options."""

    block_m: int
    block_n: int
    block_k: int
    num_warps: int
    num_stages: int


class _Geometry(NamedTuple):
    """Per axis (T, H, W): stride, padding before, output size; and the padding mode."""

    stride: Size3
    pad: Size3
    out: Size3
    replicate: bool


def _fit(n: int, lo: int, hi: int) -> int:
    """The power of two in [lo, hi] nearest above n: a block for a channel count n."""
    return min(max(lo, triton.next_power_of_2(n)), hi)


def _config(kind: str, dtype: torch.dtype, c_in: int, c_out: int, m: int) -> _Tiles:
    """Tiles for kind "forward" (M x Cout outputs, K over taps x Cin), "input_grad" (M x Cin,
    K over taps x Cout) or "weight_grad" (Cin x Cout, K over the M output positions); m: the
    positions of the output tiled (forward, input_grad) or reduced (weight_grad).

    On the GPU (bf16/fp16), Hopper-sized tiles: 128 x 128 float32 accumulators per program,
    picked by sweeps on an H100 (``python -m kernels.bench_conv3d sweep``, each kernel alone,
    128 -> 128 channels on [1, 128, 16, 64, 64] and 256 -> 256 on [1, 256, 8, 32, 32], k = 3;
    times for those two shapes):

    - forward (after its masks and 64-bit offsets went, 2026-11-26): K chunks of 64
      channels, 3 stages (0.110 / 0.068 ms; chunks of 32 with 4 stages: 0.121 / 0.081); 4
      warps, or 8 where there are fewer than two 128 x 128 tiles per SM (the 256-channel
      shape: 0.068 vs 0.076 ms), so each SM still has 8 warps to switch between. With the
      weight read in place and padding taps skipped (later that day): 0.105 ms at 128
      channels (8 warps: 0.127); at 256, 64 x 256 tiles, whose A tile is loaded once for all
      out channels, 0.057 ms (128 x 128: 0.061, 128 x 256: 0.079).
    - input_grad, many tiles (m * Cin >= 2**22, about two waves of 128 x 128 tiles on 132
      SMs): 256 x 128 tiles, chunks of 32, 8 warps, 4 stages (0.131 vs 0.178 at 128/64/4/4);
      fewer: 128 x 128, chunks of 64, 8 warps, 4 stages (0.091 vs 0.113).
    - weight_grad, m >= 32768 positions: bricks of 128 positions, 8 warps, 3 stages (0.226 vs
      0.286 at 64/4/4); fewer: bricks of 32, 4 warps, 5 stages (0.152 vs 0.173).

    Channel counts below a block shrink it (16 is the dot minimum). float32 ("ieee" dots on
    the CUDA cores) uses smaller tiles. Under the interpreter, whose cost is per operation
    rather than per element, few programs and few steps: wide position blocks."""
    if _interpreted():
        return _Tiles(32, 32, 512, 1, 1) if kind == "weight_grad" else _Tiles(128, 32, 32, 1, 1)
    if dtype == torch.float32:
        return _Tiles(64, 64, 32, 4, 2)
    if kind == "weight_grad":
        if m >= 32768:
            return _Tiles(_fit(c_in, 16, 128), _fit(c_out, 16, 128), 128, 8, 3)
        return _Tiles(_fit(c_in, 16, 128), _fit(c_out, 16, 128), 32, 4, 5)
    if kind == "forward":
        few = triton.cdiv(m, 128) * triton.cdiv(c_out, 128) < 2 * 132  # the H100 has 132 SMs
        if few and c_out >= 256:  # one 64-row A tile feeds all 256 out channels
            return _Tiles(64, 256, _fit(c_in, 16, 64), 8, 3)
        return _Tiles(128, _fit(c_out, 16, 128), _fit(c_in, 16, 64), 8 if few else 4, 3)
    if m * c_in >= 2**22:
        return _Tiles(256, _fit(c_in, 16, 128), _fit(c_out, 16, 32), 8, 4)
    return _Tiles(128, _fit(c_in, 16, 128), _fit(c_out, 16, 64), 8, 4)


@functools.cache
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def _splits(work: int, tiles: int, device: torch.device) -> int:
    """How many shares a reduction over ``work`` steps (dW, db) splits into: enough programs
    for about two per SM, each share at least 4 steps. Under the interpreter, which pays per
    program, one share, or two from 4 steps on (small tiles), so the tests cover the sum."""
    if _interpreted():
        return 2 if work >= 4 else 1
    sms = _sm_count(device.index if device.index is not None else torch.cuda.current_device())
    return max(1, min(triton.cdiv(2 * sms, tiles), work // 4))


def _brick(block: int, To: int, Ho: int, Wo: int) -> tuple[int, int, int]:
    """A brick of ``block`` output positions (powers of two): as wide as the video (up to
    ``block``), then as high, then as long. 64 -> 1 x 1 x 64 on 64-wide videos, 1 x 2 x 32 on
    32-wide ones."""
    bw = min(block, triton.next_power_of_2(Wo))
    bh = min(block // bw, triton.next_power_of_2(Ho))
    return block // (bw * bh), bh, bw


def _needs_int64(x: Tensor) -> bool:
    """Whether an offset into x can reach 2**31, so the forward needs 64-bit offsets.

    The largest offset of an element is sum((size - 1) * stride); a window's taps can point a
    few strides past either end (in masked lanes only), hence the margin of 4 largest strides."""
    reach = sum((n - 1) * abs(st) for n, st in zip(x.shape, x.stride(), strict=True))
    return reach + 4 * max(x.stride(), default=0) >= 2**31


class _Plan(NamedTuple):
    """What a call needs that does not depend on the values: the geometry, the output shape,
    the forward launch with its integer arguments, and (filled at the first backward) the
    backward kernels' launches; checked once per key and cached."""

    geo: _Geometry
    out_shape: tuple[int, ...]  # [N, Cout, T', H', W'], stored channels_last_3d
    launch: _Launch
    scalars: tuple[int, ...]  # the forward kernel's integer arguments, in signature order
    backward: dict  # the backward kernels' launches, made at the first backward
    arrange: bool  # whether the forward reads a [kT, kH, kW, Cin, Cout] copy of the weight


def _make_plan(x: Tensor, weight: Tensor, bias: Tensor | None, geo: _Geometry) -> _Plan:
    N, Cin, T, H, W = x.shape
    Cout, _, kT, kH, kW = weight.shape
    To, Ho, Wo = geo.out
    out_shape = (N, Cout, To, Ho, Wo)
    y_strides = torch.empty(out_shape, device="meta", memory_format=torch.channels_last_3d).stride()
    M = N * To * Ho * Wo
    arrange = weight.stride(1) != 1  # Cin not contiguous (e.g. NCDHW): read a copy instead
    w_strides = (_arrange(torch.empty(weight.shape, device="meta")).permute(4, 3, 0, 1, 2)
                 .stride() if arrange else weight.stride())  # as the kernel will read it
    cfg = _config("forward", x.dtype, Cin, Cout, M)
    grid = (triton.cdiv(M, cfg.block_m) * triton.cdiv(Cout, cfg.block_n),)
    constants = dict(KT=kT, KH=kH, KW=kW, REPLICATE=geo.replicate, HAS_BIAS=bias is not None,
                     BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_K=cfg.block_k,
                     C_BLOCKS=triton.cdiv(Cin, cfg.block_k), PRECISION=_precision(x.dtype),
                     EVEN_K=Cin % cfg.block_k == 0, EVEN_N=Cout % cfg.block_n == 0,
                     OFF64=_needs_int64(x))
    scalars = (Cin, T, H, W, Cout, To, Ho, Wo, M, *x.stride(), *y_strides, *w_strides,
               *geo.stride, *geo.pad)
    return _Plan(geo, out_shape, _Launch(_forward_kernel, grid, constants, cfg.num_warps,
                                         cfg.num_stages), scalars, {}, arrange)


def _forward(x: Tensor, weight: Tensor, bias: Tensor | None, plan: _Plan) -> Tensor:
    """y = conv(x) + bias. A channels-last weight (Cin contiguous) is read as it is; any
    other layout through a ``[kT, kH, kW, Cin, Cout]`` copy (``_arrange``), made per call."""
    y = torch.empty(plan.out_shape, dtype=x.dtype, device=x.device,
                    memory_format=torch.channels_last_3d)
    if y.numel():
        w = _arrange(weight).permute(4, 3, 0, 1, 2) if plan.arrange else weight
        plan.launch(x, w, bias if bias is not None else w, y, *plan.scalars)
    return y


def _input_grad(dy: Tensor, wf: Tensor, x_shape: torch.Size, geo: _Geometry,
                cache: dict | None = None) -> Tensor:
    """dx from dy (channels-last) and the forward's weight copy wf ``[kT, kH, kW, Cin, Cout]``.

    Replicate padding also needs Wex[i] = sum_{i' < i} wf[i'] (the taps clamped onto frame
    0), the same layout: an exclusive cumulative sum over kT, in float32, then rounded.
    ``cache`` (a plan's) keeps the launch and its integer arguments between calls."""
    dx = torch.empty(x_shape, dtype=dy.dtype, device=dy.device,
                     memory_format=torch.channels_last_3d)
    if dx.numel() == 0:
        return dx
    wex = wf
    if geo.replicate:
        w32 = wf.float()
        wex = (w32.cumsum(0) - w32).to(wf.dtype)
    key = ("dx", dy.stride(), dy.data_ptr() % 16)
    launch = None if cache is None else cache.get(key)
    if launch is None:
        launch = _input_grad_launch(dy, wf, dx, geo)
        if cache is not None:
            cache[key] = launch
    launch[0](dy, wf, wex, dx, *launch[1])
    return dx


def _input_grad_launch(dy: Tensor, wf: Tensor, dx: Tensor, geo: _Geometry):
    """(the input-gradient kernel's _Launch, its integer arguments) for these shapes."""
    N, Cin, T, H, W = dx.shape
    kT, kH, kW, _, Cout = wf.shape
    (sT, sH, sW), (To, Ho, Wo) = geo.stride, geo.out
    Qt, Qh, Qw = triton.cdiv(T, sT), triton.cdiv(H, sH), triton.cdiv(W, sW)  # class extents
    Mq = N * Qt * Qh * Qw
    cfg = _config("input_grad", dy.dtype, Cin, Cout, N * T * H * W)
    grid = (triton.cdiv(Mq, cfg.block_m) * triton.cdiv(Cin, cfg.block_n), sT * sH * sW)
    constants = dict(KT=kT, KH=kH, KW=kW, REPLICATE=geo.replicate,
                     BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_K=cfg.block_k,
                     K_BLOCKS=triton.cdiv(Cout, cfg.block_k), PRECISION=_precision(dy.dtype))
    scalars = (Cin, T, H, W, Cout, To, Ho, Wo, Qt, Qh, Qw, Mq, *dy.stride(), *dx.stride(),
               *geo.stride, *geo.pad)
    return _Launch(_input_grad_kernel, grid, constants, cfg.num_warps, cfg.num_stages), scalars


def _weight_grad(x: Tensor, dy: Tensor, weight_shape: torch.Size, geo: _Geometry,
                 has_bias: bool, cache: dict | None = None) -> tuple[Tensor, Tensor | None]:
    """(dW ``[Cout, Cin, kT, kH, kW]``, db ``[Cout]`` or None) in x's dtype, from one launch
    whose programs store their float32 shares in one buffer, then one sum over the shares.
    ``cache`` (a plan's) keeps the launch and its arguments between calls."""
    Cout, Cin, kT, kH, kW = weight_shape
    key = ("dw", dy.stride(), dy.data_ptr() % 16, has_bias)
    launch = None if cache is None else cache.get(key)
    if launch is None:
        launch = _weight_grad_launch(x, dy, weight_shape, geo, has_bias)
        if cache is not None:
            cache[key] = launch
    kernel, scalars, split = launch
    buf = torch.empty((split, kT * kH * kW * Cin * Cout + Cout), dtype=torch.float32,
                      device=x.device)
    kernel(x, dy, buf, *scalars)
    buf = buf.sum(0)  # the split shares: [taps * Cin * Cout + Cout]
    dw = buf[:-Cout].view(kT, kH, kW, Cin, Cout).permute(4, 3, 0, 1, 2)  # [Cout, Cin, kT, kH, kW]
    return dw.to(x.dtype).contiguous(), buf[-Cout:].to(x.dtype) if has_bias else None


def _weight_grad_launch(x: Tensor, dy: Tensor, weight_shape: torch.Size, geo: _Geometry,
                        has_bias: bool):
    """(the weight-gradient kernel's _Launch, its integer arguments, the number of shares)."""
    N, Cin, T, H, W = x.shape
    Cout, _, kT, kH, kW = weight_shape
    To, Ho, Wo = geo.out
    cfg = _config("weight_grad", x.dtype, Cin, Cout, N * To * Ho * Wo)
    brick = _brick(cfg.block_k, To, Ho, Wo)  # block_k: output positions per K step
    bricks = [triton.cdiv(n, b) for n, b in zip((To, Ho, Wo), brick, strict=True)]
    n_bricks = N * bricks[0] * bricks[1] * bricks[2]
    n_blocks = triton.cdiv(Cout, cfg.block_n)
    tiles = kT * kH * kW * triton.cdiv(Cin, cfg.block_m) * n_blocks
    split = _splits(n_bricks, tiles, x.device)
    constants = dict(KT=kT, KH=kH, KW=kW, REPLICATE=geo.replicate,
                     BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n,
                     BRICK_T=brick[0], BRICK_H=brick[1], BRICK_W=brick[2],
                     PRECISION=_precision(x.dtype))
    scalars = (Cin, T, H, W, Cout, To, Ho, Wo, *bricks, n_bricks, triton.cdiv(n_bricks, split),
               *x.stride(), *dy.stride(), *geo.stride, *geo.pad)
    grid = (tiles + (n_blocks if has_bias else 0), split)
    return _Launch(_weight_grad_kernel, grid, constants, cfg.num_warps, cfg.num_stages), \
        scalars, split


def _arrange(weight: Tensor) -> Tensor:
    """``[Cout, Cin, kT, kH, kW]`` -> ``[kT, kH, kW, Cin, Cout]``, contiguous: the input
    gradient's B tiles (read transposed), and the forward's when the weight is not
    channels-last. A copy of the weight, per call."""
    return weight.permute(2, 3, 4, 1, 0).contiguous()


class _Conv3d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, plan):
        ctx.save_for_backward(x, weight)
        ctx.geo, ctx.has_bias, ctx.weight_shape = plan.geo, bias is not None, weight.shape
        ctx.cache = plan.backward
        return _forward(x, weight, bias, plan)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        dy = dy.contiguous(memory_format=torch.channels_last_3d)  # no-op for our own output
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _input_grad(dy, _arrange(weight), x.shape, ctx.geo, ctx.cache)
        if ctx.needs_input_grad[1] or (ctx.has_bias and ctx.needs_input_grad[2]):
            if dy.numel() == 0 or x.numel() == 0:
                dw = x.new_zeros(ctx.weight_shape)
                db = dy.new_zeros(dy.shape[1]) if ctx.has_bias else None
            else:
                dw, db = _weight_grad(x, dy, ctx.weight_shape, ctx.geo, ctx.has_bias, ctx.cache)
        return (dx, dw if ctx.needs_input_grad[1] else None,
                db if ctx.needs_input_grad[2] else None, None)


# ----------------------------------------------------------------------------- arguments


def _ints(value, name: str, n: int) -> tuple[int, ...]:
    """An int or a sequence of n ints -> an n-tuple (bools are not ints here)."""
    items = (value,) * n if isinstance(value, int) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    if len(items) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise ValueError(f"{name} must be an int or {n} ints, got {name}={value!r}")
    return items


def _padding(padding, causal: bool) -> Size3:
    """``padding`` -> (pT, pH, pW) zero padding on both sides of each axis.

    Non-causal: an int or (pT, pH, pW). Causal: time is padded by the causal rule, so
    ``padding`` is for H and W only: an int p (H and W), (pH, pW), or (0, pH, pW)."""
    if not causal:
        return _ints(padding, "padding", 3)
    if isinstance(padding, int) and not isinstance(padding, bool):
        return (0, padding, padding)
    if isinstance(padding, tuple | list) and len(padding) == 2:
        return (0, *_ints(padding, "padding", 2))
    pads = _ints(padding, "padding (causal: an int, (pH, pW) or (0, pH, pW))", 3)
    if pads[0] != 0:
        raise ValueError(
            f"with causal=True the time axis is padded by kT-1 frames before the first, so "
            f"padding applies to H and W only: expected an int, (pH, pW) or (0, pH, pW), "
            f"got padding={padding!r}"
        )
    return pads


def _check(x: Tensor, weight: Tensor, bias: Tensor | None, causal: bool, pad_mode: str,
           dilation, groups) -> None:
    """Clear errors before launching: ranks, channels, dtypes, devices, options."""
    if not isinstance(x, Tensor) or x.dim() != 5:
        raise ValueError(f"x must be a 5-D tensor [N, C, T, H, W], got shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    if not isinstance(weight, Tensor) or weight.dim() != 5:
        raise ValueError(f"weight must be a 5-D tensor [Cout, Cin, kT, kH, kW], got shape "
                         f"{tuple(getattr(weight, 'shape', ()))}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"in_channels mismatch: x has {x.shape[1]} channels (x.shape[1]), weight expects "
            f"{weight.shape[1]} (weight.shape[1]); groups=1 only"
        )
    if min(weight.shape[2:]) < 1:
        raise ValueError(f"weight's kernel size must be >= 1, got {tuple(weight.shape[2:])}")
    if x.dtype not in DTYPES:
        raise ValueError(f"kernels.conv3d supports float16, bfloat16 and float32 x, got {x.dtype}")
    if weight.dtype != x.dtype or weight.device != x.device:
        raise ValueError(
            f"weight must share x's dtype and device ({x.dtype} on {x.device}), "
            f"got {weight.dtype} on {weight.device}"
        )
    if bias is not None:
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},) = (Cout,), "
                             f"got {tuple(bias.shape)}")
        if bias.dtype != x.dtype or bias.device != x.device:
            raise ValueError(f"bias must share x's dtype and device ({x.dtype} on {x.device}), "
                             f"got {bias.dtype} on {bias.device}")
    if not isinstance(causal, bool):
        raise ValueError(f"causal must be a bool, got causal={causal!r}")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got pad_mode={pad_mode!r}")
    if pad_mode == "replicate" and not causal:
        raise ValueError('pad_mode="replicate" pads copies of the first frame before it and '
                         "needs causal=True; non-causal padding is zeros")
    if _ints(dilation, "dilation", 3) != (1, 1, 1):
        raise ValueError(f"kernels.conv3d supports dilation=1 only, got dilation={dilation!r}")
    if groups != 1 or isinstance(groups, bool):
        raise ValueError(f"kernels.conv3d supports groups=1 only, got groups={groups!r}")
    if x.device.type != "cuda" and not _interpreted():
        raise RuntimeError(
            f"kernels.conv3d runs Triton kernels and got {x.device.type} tensors: use CUDA "
            "tensors, or set TRITON_INTERPRET=1 before importing kernels to run them on the "
            "CPU through Triton's interpreter (slow; for tests and lessons)"
        )


def _geometry(x: Tensor, weight: Tensor, stride, padding, causal: bool,
              pad_mode: str) -> _Geometry:
    """Stride, padding before and output size per axis, with the errors that name them."""
    strides = _ints(stride, "stride", 3)
    if min(strides) < 1:
        raise ValueError(f"stride must be >= 1, got stride={stride!r}")
    pads = _padding(padding, causal)
    if min(pads) < 0:
        raise ValueError(f"padding must be >= 0, got padding={padding!r}")
    kernel = weight.shape[2:]
    before = (kernel[0] - 1, pads[1], pads[2]) if causal else pads
    out = []
    for dim, n, k, s, p0, p1 in zip("THW", x.shape[2:], kernel, strides, before, pads,
                                    strict=True):
        if n + p0 + p1 < k:
            raise ValueError(
                f"kernel size {k} along {dim} is longer than the padded input: size {n}, "
                f"padding {p0} before and {p1} after"
            )
        out.append((n + p0 + p1 - k) // s + 1)
    N, To, Ho, Wo = x.shape[0], *out
    if max(N * To * Ho * Wo, N * x.shape[2] * x.shape[3] * x.shape[4]) >= 2**31:
        raise ValueError("kernels.conv3d needs fewer than 2**31 positions N*T*H*W")
    return _Geometry(strides, before, tuple(out), pad_mode == "replicate")


def conv3d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int, int] = 1,
    padding: int | tuple[int, ...] = 0,
    causal: bool = False,
    pad_mode: str = "zeros",
    *,
    dilation: int | tuple[int, int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """3D convolution as a Triton implicit GEMM, optionally causal in time; differentiable in
    x, weight and bias.

    ``y[n, o, t, h, w] = bias[o] + sum_{c,i,j,l} weight[o, c, i, j, l]
    * x_pad[n, c, t*sT + i - pT, h*sH + j - pH, w*sW + l - pW]``.

    x: ``[N, Cin, T, H, W]``, weight: ``[Cout, Cin, kT, kH, kW]``, bias: ``[Cout]`` or None,
    one dtype (float16, bfloat16, float32) and device; x in any layout, channels_last_3d
    fastest. Returns ``[N, Cout, T', H', W']`` in channels_last_3d memory format, with per axis
    ``T' = (T + pad_before + pad_after - kT) // sT + 1``.

    - ``causal=False``: ``padding`` is an int or (pT, pH, pW) of zeros on both sides; equal to
      ``F.conv3d(x, weight, bias, stride, padding)``. ``pad_mode`` must be "zeros".
    - ``causal=True``: kT-1 frames before the first frame, none after (T' = ceil(T/sT));
      ``padding`` then pads H and W only: an int, (pH, pW), or (0, pH, pW). pad_mode "zeros"
      pads zero frames, "replicate" copies of frame 0; H and W are zero-padded in both modes.
      ``vdlite.CausalConv3d`` (dilation 1, odd kH, kW) is
      ``conv3d(x, m.weight, m.bias, m.stride, (kH // 2, kW // 2), True, m.pad_mode)``.

    stride: an int or (sT, sH, sW), each >= 1. ``dilation`` and ``groups`` are accepted for
    call sites written for F.conv3d, and must be 1. Gradients: dx in channels_last_3d, dweight
    and dbias contiguous, each in x's dtype. Raises ValueError naming the argument otherwise.
    """
    if bias is not None and isinstance(bias, Tensor) and not bias.is_contiguous():
        bias = bias.contiguous()  # the kernel reads bias[o] at offset o
    plan = _get_plan(x, weight, bias, stride, padding, causal, pad_mode, dilation, groups)
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                    or (bias is not None and bias.requires_grad)):
        return _Conv3d.apply(x, weight, bias, plan)
    return _forward(x, weight, bias, plan)  # nothing to differentiate: no autograd


_PLANS: dict[tuple, _Plan] = {}


def _get_plan(x, weight, bias, stride, padding, causal, pad_mode, dilation, groups) -> _Plan:
    """The cached plan of this call; the arguments are checked the first time a key is seen.

    The key holds everything the checks and Triton's specialisation read: shapes, strides,
    dtypes, devices, x's, weight's and bias's pointer alignment, and the options as written
    (repr, so that True and 1 differ; the output and a weight copy are fresh allocations,
    always aligned). Where no key can be built (x or weight not a tensor) the checks raise."""
    try:
        key = (x.shape, x.stride(), x.dtype, x.device, x.data_ptr() % 16, weight.shape,
               weight.stride(), weight.dtype, weight.device, weight.data_ptr() % 16,
               None if bias is None else (bias.shape, bias.dtype, bias.device,
                                          bias.data_ptr() % 16),
               repr((stride, padding, causal, pad_mode, dilation, groups)))
        plan = _PLANS.get(key)
    except (AttributeError, TypeError):
        key = plan = None
    if plan is None:
        _check(x, weight, bias, causal, pad_mode, dilation, groups)
        plan = _make_plan(x, weight, bias, _geometry(x, weight, stride, padding, causal,
                                                     pad_mode))
        if key is not None:
            if len(_PLANS) >= 256:
                _PLANS.clear()
            _PLANS[key] = plan
    return plan

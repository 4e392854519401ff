"""Causal conv3d, the tuned path: what makes ``kernels/conv/lesson.py`` fast.

Same maths, padding rules and gradients as the lesson kernel (read that first): an implicit
GEMM, ``M = N*T'*H'*W'`` output positions by ``Cout``, reduced over ``K = kT*kH*kW`` taps x
``Cin`` channels, the padding fused into the address arithmetic. What this file adds, each
choice measured (kernels/BENCHMARKS.md, "Tuning evidence: causal conv3d"):

- Forward. One flattened loop of kT*kH*kW*ceil(Cin/BLOCK_K) steps, so Triton can pipeline
  the loads of the next steps behind this one's dots. A channels-last weight (Cin contiguous)
  is read in place, any other layout through a ``[kT, kH, kW, Cin, Cout]`` copy. With zero
  padding, time taps that read only padding for every row of a tile are not visited. Row
  coordinates are computed once per program and the loop only compares and adds; what can be
  known at compile time is: EVEN_K / EVEN_N drop the channel masks, OFF64 = False keeps
  offsets in 32 bits.
- dweight: one program per (tap, Cin block, Cout block) tile and a 1/split share of the M
  positions (split-M, so enough programs fill the GPU), walked in bricks of BRICK_T x BRICK_H
  x BRICK_W positions whose relative offsets are computed once; the shares land in a float32
  buffer ``[split, kT, kH, kW, Cin, Cout]`` that one ``sum`` reduces (deterministic). dbias:
  column sums of the same dy tiles, by a few extra programs of the same launch.
- dx: the gather of dy through the flipped weight. At stride s only the taps with
  ``j = (u + p) mod s`` reach input position u, so the input positions are split into the
  s_T*s_H*s_W residue classes ``u = r + s*q`` (a grid axis), and within a class every row of
  a tile uses the same taps: no wasted dots, each dx entry written once, no atomics.
  Replicate padding: frame 0 also collects ``sum_t (sum_{i<j} w[i]) dy[t]`` (j = pT - t*sT),
  the same gather with the exclusive cumulative sum of the weight over its taps,
  ``Wex[j] = sum_{i<j} w[i]``, on frame-0 rows only.
- The host side: one plan per (shapes, strides, dtypes, devices, alignment, options), checked
  once and cached, its launches made straight through the compiled launchers
  (``kernels.runtime._Launch``); the backward's launches join the plan at the first backward.
- Tiles per kernel, dtype and size: ``_config``.

Dots accumulate in float32; half types feed the tensor cores, float32 uses full-precision
("ieee") dots. Limits: groups = 1, dilation = 1; output and dx channels_last_3d.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.conv.geometry import Geometry as _Geometry
from kernels.conv.geometry import check_conv, geometry
from kernels.runtime import _cdiv, _interpreted, _Launch, _max, _sum, precision, sm_count

__all__ = ["conv3d"]

NAME = "kernels.conv3d"


# ----------------------------------------------------------------------------- Triton helpers


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


def _fit(n: int, lo: int, hi: int) -> int:
    """The power of two in [lo, hi] nearest above n: a block for a channel count n."""
    return min(max(lo, triton.next_power_of_2(n)), hi)


def _config(kind: str, dtype: torch.dtype, c_in: int, c_out: int, m: int,
            device: torch.device) -> _Tiles:
    """Tiles for kind "forward" (M x Cout outputs, K over taps x Cin), "input_grad" (M x Cin,
    K over taps x Cout) or "weight_grad" (Cin x Cout, K over the M output positions); m: the
    positions of the output tiled (forward, input_grad) or reduced (weight_grad).

    The rule: on the GPU (bf16/fp16), Hopper-sized tiles, 128 x 128 float32 accumulators per
    program; the forward wants 8 warps, and at 256 out channels 64 x 256 tiles (one A tile
    for all out channels), where there are fewer than two 128 x 128 tiles per SM; input_grad
    wants 256-row tiles from about two waves of 128 x 128 tiles on; weight_grad wants bricks
    of 128 positions from 32768 positions on. The sweeps behind each: kernels/BENCHMARKS.md.
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
        few = triton.cdiv(m, 128) * triton.cdiv(c_out, 128) < 2 * sm_count(device)
        if few and c_out >= 256:  # one 64-row A tile feeds all 256 out channels
            return _Tiles(64, 256, _fit(c_in, 16, 64), 8, 3)
        return _Tiles(128, _fit(c_out, 16, 128), _fit(c_in, 16, 64), 8 if few else 4, 3)
    if m * c_in >= 2**22:
        return _Tiles(256, _fit(c_in, 16, 128), _fit(c_out, 16, 32), 8, 4)
    return _Tiles(128, _fit(c_in, 16, 128), _fit(c_out, 16, 64), 8, 4)


def _splits(work: int, tiles: int, device: torch.device) -> int:
    """How many shares a reduction over ``work`` steps (dW, db) splits into: enough programs
    for about two per SM, each share at least 4 steps. Under the interpreter, which pays per
    program, one share, or two from 4 steps on (small tiles), so the tests cover the sum."""
    if _interpreted():
        return 2 if work >= 4 else 1
    return max(1, min(triton.cdiv(2 * sm_count(device), tiles), work // 4))


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
    cfg = _config("forward", x.dtype, Cin, Cout, M, x.device)
    grid = (triton.cdiv(M, cfg.block_m) * triton.cdiv(Cout, cfg.block_n),)
    constants = dict(KT=kT, KH=kH, KW=kW, REPLICATE=geo.replicate, HAS_BIAS=bias is not None,
                     BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_K=cfg.block_k,
                     C_BLOCKS=triton.cdiv(Cin, cfg.block_k), PRECISION=precision(x.dtype),
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
    cfg = _config("input_grad", dy.dtype, Cin, Cout, N * T * H * W, dy.device)
    grid = (triton.cdiv(Mq, cfg.block_m) * triton.cdiv(Cin, cfg.block_n), sT * sH * sW)
    constants = dict(KT=kT, KH=kH, KW=kW, REPLICATE=geo.replicate,
                     BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_K=cfg.block_k,
                     K_BLOCKS=triton.cdiv(Cout, cfg.block_k), PRECISION=precision(dy.dtype))
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
    cfg = _config("weight_grad", x.dtype, Cin, Cout, N * To * Ho * Wo, x.device)
    brick = _brick(cfg.block_k, To, Ho, Wo)  # block_k: output positions per K step
    bricks = [triton.cdiv(n, b) for n, b in zip((To, Ho, Wo), brick, strict=True)]
    n_bricks = N * bricks[0] * bricks[1] * bricks[2]
    n_blocks = triton.cdiv(Cout, cfg.block_n)
    tiles = kT * kH * kW * triton.cdiv(Cin, cfg.block_m) * n_blocks
    split = _splits(n_bricks, tiles, x.device)
    constants = dict(KT=kT, KH=kH, KW=kW, REPLICATE=geo.replicate,
                     BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n,
                     BRICK_T=brick[0], BRICK_H=brick[1], BRICK_W=brick[2],
                     PRECISION=precision(x.dtype))
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
        check_conv(NAME, x, weight, bias, causal, pad_mode, dilation, groups)
        plan = _make_plan(x, weight, bias, geometry(x, weight, stride, padding, causal,
                                                    pad_mode))
        if key is not None:
            if len(_PLANS) >= 256:
                _PLANS.clear()
            _PLANS[key] = plan
    return plan

"""Causal 3D convolution in Triton, the lesson kernel: an implicit GEMM, forward and backward.

What it computes. For x ``[N, Cin, T, H, W]``, a weight ``[Cout, Cin, kT, kH, kW]``, strides
(sT, sH, sW) and paddings *before* each axis (pT, pH, pW):

    y[n, o, t, h, w] = bias[o] + sum_{c, i, j, l} weight[o, c, i, j, l]
                       * x_pad[n, c, t*sT + i - pT, h*sH + j - pH, w*sW + l - pW]

``causal=False`` is ``F.conv3d``. ``causal=True`` pads pT = kT - 1 frames before frame 0 and
none after, so output frame t never reads a later input frame; those frames are zeros
(``pad_mode="zeros"``) or copies of frame 0 (``"replicate"``: x_pad[tau] = x[max(tau, 0)]).
H and W are zero-padded. ``kernels/conv/geometry.py`` turns the options into strides,
paddings and the output size (T', H', W'), with the same errors as the tuned path.

The implicit GEMM. Lesson 01 (``vdlite.conv3d``) gathers the windows into a matrix
A ``[M, K]`` and multiplies, y = A @ W, with

    M = N*T'*H'*W' output positions,   K = kT*kH*kW taps x Cin channels,   Cout columns.

Here A is never stored. A program computes the tile y ``[BLOCK_M positions, BLOCK_N out
channels]``: for each tap (i, j, l) and each chunk of BLOCK_K input channels, it loads the A
tile, x at the shifted positions ``[BLOCK_M, BLOCK_K]``, and the B tile, the weight's
``[BLOCK_K, BLOCK_N]``, and adds their product. x is read channels-last (order N, T, H, W, C:
a row's channels are contiguous), through its strides, so any layout works. Padding is in the
address arithmetic: a zero-padded position is a masked load (it reads 0), a replicated frame a
clamped frame index; nothing padded is ever stored. With zero padding, the time taps that read
padding for *every* row of a tile are not visited at all.

The backward is three more GEMMs over the same index maps (dy = dL/dy):

- dx: input position u receives ``sum w[j] dy[t]`` over the (output t, tap j) pairs with
  ``t*s + j - p = u`` per axis: t = (u + p - j) / s where that divides and 0 <= t < T'. A
  program gathers a tile ``[BLOCK_M input positions, BLOCK_N input channels]`` over the taps
  and chunks of Cout. With replicate padding x_pad[tau] = x[max(tau, 0)], so frame 0 also
  collects the gradient of the kT-1 padded frames before it: the kernel computes the gradient
  of those virtual frames too, and PyTorch adds them into frame 0 (the gradient of a clamp is
  a sum).
- dweight: ``dW[o, c, i, j, l] = sum_m x_shift(i, j, l)[m, c] * dy[m, o]``, a GEMM
  ``[Cin, M] @ [M, Cout]`` per tap; a program per (tap, Cin block, Cout block) walks M.
- dbias: ``db[o] = sum_m dy[m, o]``, one PyTorch sum.

``kernels/conv/tuned.py`` is the same maths made fast: one flattened K loop the compiler can
pipeline, residue classes instead of masked taps at stride 2, split-M weight gradients, tiles
chosen per GPU, cached plans.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.conv.geometry import Geometry, check_conv, geometry
from kernels.runtime import precision

__all__ = ["conv3d"]

NAME = "kernels.conv.lesson.conv3d"
CL = torch.channels_last_3d
BLOCK_M = 128  # positions per tile (rows of A)


@triton.jit
def _position(m, A, B, C):
    """Flat index m over ``[*, A, B, C]`` -> (n, a, b, c), int64: where row m of a tile is."""
    m = m.to(tl.int64)
    return m // (A * B * C), m // (B * C) % A, m // C % B, m % C


@triton.jit
def _forward_kernel(
    X, Wt, Bias, Y,
    Cin, T, H, W, Cout, To, Ho, Wo, M,
    sxn, sxc, sxt, sxh, sxw,
    syn, syc, syt, syh, syw,
    swo, swc, swt, swh, sww,
    sT, sH, sW, pT, pH, pW,
    KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr, REPLICATE: tl.constexpr,
    HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr, PRECISION: tl.constexpr,
):
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # output positions (n, t, h, w)
    n, to, ho, wo = _position(m, To, Ho, Wo)
    m_ok = m < M
    t0 = to * sT - pT  # the first input frame, row and column of each row's window
    h0 = ho * sH - pH
    w0 = wo * sW - pW
    co = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)  # out channels
    k = tl.arange(0, BLOCK_K)  # in channels of a chunk

    first = 0  # the time taps this tile visits
    last = KT
    if not REPLICATE:  # tap i reads frame t0 + i: skip taps outside the video for every row
        first = tl.maximum(-tl.max(tl.where(m_ok, t0, -KT), 0), 0)
        last = tl.minimum(T - tl.min(tl.where(m_ok, t0, T), 0), KT)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for i in range(first, last):
        t = t0 + i
        if REPLICATE:  # frames before 0 are copies of frame 0 (causal: never past T - 1)
            t = tl.maximum(t, 0)
        for j in range(KH):
            for l in range(KW):
                h = h0 + j
                w = w0 + l
                ok = m_ok & (t >= 0) & (t < T) & (h >= 0) & (h < H) & (w >= 0) & (w < W)
                x_row = X + n * sxn + t * sxt + h * sxh + w * sxw  # [BLOCK_M] pointers
                w_tap = Wt + i * swt + j * swh + l * sww
                for c0 in range(0, Cin, BLOCK_K):
                    c = c0 + k
                    a = tl.load(x_row[:, None] + c[None, :] * sxc,
                                mask=ok[:, None] & (c < Cin)[None, :], other=0.0)  # [M, K]
                    b = tl.load(w_tap + c[:, None] * swc + co[None, :] * swo,
                                mask=(c < Cin)[:, None] & (co < Cout)[None, :], other=0.0)
                    acc = tl.dot(a, b, acc, input_precision=PRECISION)  # [BLOCK_M, BLOCK_N]

    if HAS_BIAS:
        acc += tl.load(Bias + co, mask=co < Cout, other=0.0).to(tl.float32)[None, :]
    y_row = Y + n * syn + to * syt + ho * syh + wo * syw
    tl.store(y_row[:, None] + co[None, :] * syc, acc.to(Y.dtype.element_ty),
             mask=m_ok[:, None] & (co < Cout)[None, :])


@triton.jit
def _input_grad_kernel(
    DY, Wt, DX,
    Cin, Tv, H, W, Cout, To, Ho, Wo, M, before,
    sdn, sdc, sdt, sdh, sdw,
    sxn, sxc, sxt, sxh, sxw,
    swo, swc, swt, swh, sww,
    sT, sH, sW, pT, pH, pW,
    KT: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr, BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, PRECISION: tl.constexpr,
):
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # input positions (n, u_t, u_h, u_w)
    n, ut, uh, uw = _position(m, Tv, H, W)  # ut counts from the first virtual frame
    m_ok = m < M
    ci = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)  # in channels
    k = tl.arange(0, BLOCK_K)  # out channels of a chunk

    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for i in range(KT):
        for j in range(KH):
            for l in range(KW):
                nt = ut - before + pT - i  # = t * sT where output t reads u through tap i
                nh = uh + pH - j
                nw = uw + pW - l
                ok = (m_ok & (nt >= 0) & (nt % sT == 0) & (nt // sT < To) & (nh >= 0)
                      & (nh % sH == 0) & (nh // sH < Ho) & (nw >= 0) & (nw % sW == 0)
                      & (nw // sW < Wo))
                dy_row = DY + n * sdn + nt // sT * sdt + nh // sH * sdh + nw // sW * sdw
                w_tap = Wt + i * swt + j * swh + l * sww
                for o0 in range(0, Cout, BLOCK_K):
                    o = o0 + k
                    a = tl.load(dy_row[:, None] + o[None, :] * sdc,
                                mask=ok[:, None] & (o < Cout)[None, :], other=0.0)  # [M, K]
                    b = tl.load(w_tap + o[:, None] * swo + ci[None, :] * swc,
                                mask=(o < Cout)[:, None] & (ci < Cin)[None, :], other=0.0)
                    acc = tl.dot(a, b, acc, input_precision=PRECISION)  # [BLOCK_M, BLOCK_N]

    dx_row = DX + n * sxn + ut * sxt + uh * sxh + uw * sxw
    tl.store(dx_row[:, None] + ci[None, :] * sxc, acc, mask=m_ok[:, None] & (ci < Cin)[None, :])


@triton.jit
def _weight_grad_kernel(
    X, DY, DW,
    Cin, T, H, W, Cout, To, Ho, Wo, M,
    sxn, sxc, sxt, sxh, sxw,
    sdn, sdc, sdt, sdh, sdw,
    sT, sH, sW, pT, pH, pW,
    KH: tl.constexpr, KW: tl.constexpr, REPLICATE: tl.constexpr, BLOCK_CI: tl.constexpr,
    BLOCK_CO: tl.constexpr, BLOCK_P: tl.constexpr, PRECISION: tl.constexpr,
):
    tap = tl.program_id(0)  # (i, j, l), flattened
    i = tap // (KH * KW)
    j = tap // KW % KH
    l = tap % KW
    ci = tl.program_id(1) * BLOCK_CI + tl.arange(0, BLOCK_CI)  # in channels: the tile's rows
    co = tl.program_id(2) * BLOCK_CO + tl.arange(0, BLOCK_CO)  # out channels: its columns

    acc = tl.zeros([BLOCK_CI, BLOCK_CO], dtype=tl.float32)
    for m0 in range(0, M, BLOCK_P):  # the reduction runs over the output positions
        m = m0 + tl.arange(0, BLOCK_P)
        n, to, ho, wo = _position(m, To, Ho, Wo)
        m_ok = m < M
        t = to * sT + i - pT  # the input position this tap reads for each output position
        h = ho * sH + j - pH
        w = wo * sW + l - pW
        if REPLICATE:
            t = tl.maximum(t, 0)
        ok = m_ok & (t >= 0) & (t < T) & (h >= 0) & (h < H) & (w >= 0) & (w < W)
        x_row = X + n * sxn + t * sxt + h * sxh + w * sxw
        a = tl.load(x_row[None, :] + ci[:, None] * sxc, mask=(ci < Cin)[:, None] & ok[None, :],
                    other=0.0)  # x_shift^T [BLOCK_CI in channels, BLOCK_P positions]
        dy_row = DY + n * sdn + to * sdt + ho * sdh + wo * sdw
        b = tl.load(dy_row[:, None] + co[None, :] * sdc, mask=m_ok[:, None] & (co < Cout)[None, :],
                    other=0.0)  # dy [BLOCK_P positions, BLOCK_CO out channels]
        acc = tl.dot(a, b, acc, input_precision=PRECISION)

    dw = DW + (tap * Cin + ci[:, None]) * Cout + co[None, :]  # float32 [taps, Cin, Cout]
    tl.store(dw, acc, mask=(ci < Cin)[:, None] & (co < Cout)[None, :])


def _block(channels: int, most: int) -> int:
    """A channel block: a power of two >= 16 (the tl.dot minimum), at most ``most``."""
    return min(most, max(16, triton.next_power_of_2(channels)))


def _forward(x: Tensor, weight: Tensor, bias: Tensor | None, geo: Geometry) -> Tensor:
    """y ``[N, Cout, T', H', W']``, channels-last."""
    N, Cin, T, H, W = x.shape
    Cout, _, kT, kH, kW = weight.shape
    y = torch.empty((N, Cout, *geo.out), dtype=x.dtype, device=x.device, memory_format=CL)
    M = y.numel() // Cout
    block_n = _block(Cout, 64)
    grid = (triton.cdiv(M, BLOCK_M), triton.cdiv(Cout, block_n))
    _forward_kernel[grid](
        x, weight, weight if bias is None else bias, y,
        Cin, T, H, W, Cout, *geo.out, M,
        *x.stride(), *y.stride(), *weight.stride(), *geo.stride, *geo.pad,
        KT=kT, KH=kH, KW=kW, REPLICATE=geo.replicate, HAS_BIAS=bias is not None,
        BLOCK_M=BLOCK_M, BLOCK_N=block_n, BLOCK_K=_block(Cin, 32), PRECISION=precision(x.dtype),
    )
    return y


def _input_grad(dy: Tensor, weight: Tensor, x_shape: torch.Size, geo: Geometry) -> Tensor:
    """dx ``[N, Cin, T, H, W]``, channels-last. With replicate padding the kernel also computes
    the gradient of the pT virtual frames before frame 0, which are then summed into it."""
    N, Cin, T, H, W = x_shape
    Cout, _, kT, kH, kW = weight.shape
    before = geo.pad[0] if geo.replicate else 0  # virtual frames whose gradient we need
    dx = torch.empty((N, Cin, before + T, H, W), dtype=torch.float32, device=dy.device,
                     memory_format=CL)
    M = dx.numel() // Cin
    block_n = _block(Cin, 64)
    grid = (triton.cdiv(M, BLOCK_M), triton.cdiv(Cin, block_n))
    _input_grad_kernel[grid](
        dy, weight, dx, Cin, before + T, H, W, Cout, *geo.out, M, before,
        *dy.stride(), *dx.stride(), *weight.stride(), *geo.stride, *geo.pad,
        KT=kT, KH=kH, KW=kW, BLOCK_M=BLOCK_M, BLOCK_N=block_n, BLOCK_K=_block(Cout, 32),
        PRECISION=precision(dy.dtype),
    )
    if before:  # x_pad[tau] = x[max(tau, 0)]: frame 0 collects the virtual frames' gradient
        dx[:, :, before] += dx[:, :, :before].sum(2)
    return dx[:, :, before:].to(dy.dtype)


def _weight_grad(x: Tensor, dy: Tensor, weight_shape: torch.Size, geo: Geometry) -> Tensor:
    """dweight ``[Cout, Cin, kT, kH, kW]``, from a float32 ``[kT*kH*kW, Cin, Cout]`` buffer."""
    N, Cin, T, H, W = x.shape
    Cout, _, kT, kH, kW = weight_shape
    dw = torch.empty((kT * kH * kW, Cin, Cout), dtype=torch.float32, device=x.device)
    block_m, block_n = _block(Cin, 64), _block(Cout, 64)
    grid = (kT * kH * kW, triton.cdiv(Cin, block_m), triton.cdiv(Cout, block_n))
    _weight_grad_kernel[grid](
        x, dy, dw, Cin, T, H, W, Cout, *geo.out, dy.numel() // Cout,
        *x.stride(), *dy.stride(), *geo.stride, *geo.pad,
        KH=kH, KW=kW, REPLICATE=geo.replicate, BLOCK_CI=block_m, BLOCK_CO=block_n,
        BLOCK_P=BLOCK_M, PRECISION=precision(x.dtype),
    )
    return dw.view(kT, kH, kW, Cin, Cout).permute(4, 3, 0, 1, 2).to(x.dtype).contiguous()


class _Conv3d(torch.autograd.Function):
    """y = conv3d(x, weight) + bias, with the three gradient GEMMs as its backward."""

    @staticmethod
    def forward(ctx, x, weight, bias, geo):
        ctx.save_for_backward(x, weight)
        ctx.geo, ctx.has_bias = geo, bias is not None
        return _forward(x, weight, bias, geo)

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _input_grad(dy, weight, x.shape, ctx.geo)
        if ctx.needs_input_grad[1]:
            dw = _weight_grad(x, dy, weight.shape, ctx.geo)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = dy.float().sum((0, 2, 3, 4)).to(dy.dtype)
        return dx, dw, db, None


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
    """3D convolution as a Triton implicit GEMM, optionally causal in time (lesson kernel).

    ``y[n, o, t, h, w] = bias[o] + sum_{c,i,j,l} weight[o, c, i, j, l]
    * x_pad[n, c, t*sT + i - pT, h*sH + j - pH, w*sW + l - pW]``: the semantics and
    arguments of ``kernels.conv3d`` (x ``[N, Cin, T, H, W]``, weight ``[Cout, Cin, kT, kH,
    kW]``, bias ``[Cout]`` or None, one dtype and device), differentiable in all three.
    Returns ``[N, Cout, T', H', W']`` in channels_last_3d memory format.
    """
    check_conv(NAME, x, weight, bias, causal, pad_mode, dilation, groups)
    geo = geometry(x, weight, stride, padding, causal, pad_mode)
    if bias is not None:
        bias = bias.contiguous()  # the kernel reads bias[o] at offset o
    if x.shape[0] == 0 or min(x.shape[1:]) == 0:  # nothing to launch: zeros of the right shape
        y = torch.zeros((x.shape[0], weight.shape[0], *geo.out), dtype=x.dtype, device=x.device)
        y = y.contiguous(memory_format=CL)
        return y + 0 * (x.sum() + weight.sum() + (0 if bias is None else bias.sum()))
    return _Conv3d.apply(x, weight, bias, geo)

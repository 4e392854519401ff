"""3D convolution from scratch: six loops -> sliding-window views -> one GEMM (lesson 01).

A video is a tensor ``[B, C, T, H, W]``. A 3D convolution slides a ``kT x kH x kW`` kernel
over time, height and width at once. This file builds it three ways and adds the two video
variants every video model uses:

- ``conv3d_loops``: the definition, one output position and one kernel tap at a time;
- ``im2col3d``: every input window as a strided *view* (``Tensor.unfold``), no copy;
- ``conv3d``: the windows gathered into one matrix and multiplied by the weight, one matmul
  (an explicit GEMM, "im2col"; the GPU kernel in ``kernels/`` computes the same product as an
  implicit GEMM, building each tile of that matrix as it loads it, never storing it);
- ``Conv3d`` and ``CausalConv3d``: modules; the causal one lets frame t see only frames <= t;
- ``PseudoConv3d`` and the cost functions: (1, k, k) space then (k, 1, 1) time, the
  factorisation image-to-video models inflate, and what it saves.

The module itself is callable: ``vdlite.conv3d(x, weight, ...)`` is ``conv3d`` (see
``_CallableModule`` at the end).
"""

import inspect
import math
import sys
import types

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vdlite import backend

__all__ = [
    "CausalConv3d",
    "Conv3d",
    "PseudoConv3d",
    "conv3d",
    "conv3d_cost",
    "conv3d_loops",
    "im2col3d",
    "pseudo3d_cost",
]

Size3 = int | tuple[int, int, int]
Pads3 = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]  # (before, after) for T, H, W
_DIMS = ("T", "H", "W")


def _check_size(where: str, name: str, value: object, minimum: int = 1) -> int:
    """``value`` if it is an int >= ``minimum`` (a bool is not), else a ValueError that names
    the class or function ``where``, the argument and what was expected."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{where}: {name} must be {expected}, got {value!r}")
    return value


def _triple(value: Size3, name: str) -> tuple[int, int, int]:
    """An int or a 3-sequence of ints -> a 3-tuple (one entry each for T, H, W)."""
    if isinstance(value, int):
        return (value, value, value)
    value = tuple(value)
    if len(value) != 3 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{name} must be an int or 3 ints (T, H, W), got {value}")
    return value


def _resolve_padding(
    padding: Size3 | str,
    kernel: tuple[int, int, int],
    stride: tuple[int, int, int],
    dilation: tuple[int, int, int],
) -> Pads3:
    """``padding`` as F.conv3d takes it -> explicit (before, after) pairs for T, H, W.

    "valid" is no padding. "same" (stride 1 only) pads d·(k-1) in total per dim, the odd
    element after, so the output has the input's size: before = d·(k-1)//2.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0), (0, 0))
        if padding != "same":
            raise ValueError(f"padding must be an int, 3 ints, 'valid' or 'same', got {padding!r}")
        if stride != (1, 1, 1):
            raise ValueError(f"padding='same' needs stride 1 (as in F.conv3d), got stride={stride}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return tuple((p // 2, p - p // 2) for p in totals)
    pad = _triple(padding, "padding")
    if min(pad) < 0:
        raise ValueError(f"padding must be >= 0, got padding={pad}")
    return tuple((p, p) for p in pad)


def _check_geometry(
    x: Tensor,
    kernel: tuple[int, int, int],
    stride: tuple[int, int, int],
    pads: Pads3,
    dilation: tuple[int, int, int],
) -> None:
    if x.dim() != 5:
        raise ValueError(f"x must be 5-D [B, C, T, H, W], got shape {tuple(x.shape)}")
    if min(kernel) < 1:
        raise ValueError(f"kernel_size must be >= 1, got kernel_size={kernel}")
    if min(stride) < 1:
        raise ValueError(f"stride must be >= 1, got stride={stride}")
    if min(dilation) < 1:
        raise ValueError(f"dilation must be >= 1, got dilation={dilation}")
    for dim, size, k, d, (p0, p1) in zip(_DIMS, x.shape[2:], kernel, dilation, pads, strict=True):
        if (k - 1) * d + 1 > size + p0 + p1:
            raise ValueError(
                f"kernel_size {k} with dilation {d} spans {(k - 1) * d + 1} along {dim}, "
                f"but the padded input has only {size + p0 + p1} (size {size}, padding {p0}+{p1})"
            )


def _windows(x: Tensor, kernel: tuple, stride: tuple, pads: Pads3, dilation: tuple) -> Tensor:
    """x [B, C, T, H, W] -> windows [B, T', H', W', C, kT, kH, kW], a view of channels-last x.

    Channels-last first, so that the gather in ``conv3d`` copies runs of C contiguous numbers
    (on CPU several times faster than gathering single numbers from [B, C, T, H, W]). F.pad
    writes that copy; with no padding ``contiguous`` does (a no-op for channels_last_3d x).
    """
    x = x.permute(0, 2, 3, 4, 1)  # [B, T, H, W, C]
    (t0, t1), (h0, h1), (w0, w1) = pads
    x = F.pad(x, (0, 0, w0, w1, h0, h1, t0, t1)) if any(sum(pads, ())) else x.contiguous()
    for dim, (k, s, d) in enumerate(zip(kernel, stride, dilation, strict=True), start=1):
        # a window of span (k-1)·d+1 appended as the last dim, then every d-th tap: views
        x = x.unfold(dim, (k - 1) * d + 1, s)[..., ::d]
    return x  # [B, T', H', W', C, kT, kH, kW]


def im2col3d(
    x: Tensor,
    kernel_size: Size3,
    stride: Size3 = 1,
    padding: Size3 | str = 0,
    dilation: Size3 = 1,
) -> Tensor:
    """Every convolution window of a video, as a strided view.

    ``cols[b, t, h, w, c, i, j, l] = x_pad[b, c, t·s_T + i·d_T, h·s_H + j·d_H, w·s_W + l·d_W]``

    x: [B, C, T, H, W] -> cols: [B, T', H', W', C, kT, kH, kW], with per dim
    ``T' = (T + pad_before + pad_after - d·(k-1) - 1) // s + 1``.

    Nothing is copied but the zero-padded (channels-last) input: ``Tensor.unfold`` returns a
    view whose new last dim walks the window, so a window element shares memory with x_pad.
    Reshaping it to the matrix [B·T'·H'·W', C·kT·kH·kW] is what would copy (about kT·kH·kW
    times the input).
    """
    kernel = _triple(kernel_size, "kernel_size")
    stride, dilation = _triple(stride, "stride"), _triple(dilation, "dilation")
    pads = _resolve_padding(padding, kernel, stride, dilation)
    _check_geometry(x, kernel, stride, pads, dilation)
    return _windows(x, kernel, stride, pads, dilation)


def _check_operands(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int) -> None:
    if x.dim() != 5:
        raise ValueError(f"x must be 5-D [B, C, T, H, W], got shape {tuple(x.shape)}")
    if weight.dim() != 5:
        raise ValueError(
            f"weight must be 5-D [out_channels, in_channels/groups, kT, kH, kW], "
            f"got shape {tuple(weight.shape)}"
        )
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int, got groups={groups!r}")
    c_in, out_channels = x.shape[1], weight.shape[0]
    if c_in % groups or weight.shape[1] * groups != c_in:
        raise ValueError(
            f"in_channels must be divisible by groups and equal weight.shape[1]·groups: "
            f"x has {c_in} channels, weight.shape[1]={weight.shape[1]}, groups={groups} "
            f"(expected {weight.shape[1] * groups})"
        )
    if out_channels % groups:
        raise ValueError(
            f"out_channels (weight.shape[0]={out_channels}) must be divisible by groups={groups}"
        )
    if x.dtype != weight.dtype or x.device != weight.device:
        raise ValueError(
            f"x and weight must share dtype and device: x is {x.dtype} on {x.device}, "
            f"weight is {weight.dtype} on {weight.device}"
        )
    if bias is not None:
        if bias.shape != (out_channels,):
            raise ValueError(
                f"bias must have shape ({out_channels},) = (out_channels,), got {tuple(bias.shape)}"
            )
        if bias.dtype != x.dtype or bias.device != x.device:
            raise ValueError(
                f"bias must share x's dtype and device ({x.dtype} on {x.device}), "
                f"got {bias.dtype} on {bias.device}"
            )


def _gemm_conv3d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple[int, int, int],
    pads: Pads3,
    dilation: tuple[int, int, int],
    groups: int,
) -> Tensor:
    """The forward pass: gather the windows into A [g, M, K], then Y = A @ W (+ bias)."""
    kernel = tuple(weight.shape[2:])
    _check_geometry(x, kernel, stride, pads, dilation)
    B, C = x.shape[:2]
    O, g = weight.shape[0], groups
    cols = _windows(x, kernel, stride, pads, dilation)  # [B, T', H', W', C, kT, kH, kW]
    _, T_, H_, W_ = cols.shape[:4]
    # The one copy: channels split into groups, K ordered (kT, kH, kW, C/g) so that the
    # innermost runs of C/g numbers are contiguous in channels-last x.
    cols = cols.unflatten(4, (g, C // g)).permute(4, 0, 1, 2, 3, 6, 7, 8, 5)
    cols = cols.reshape(g, B * T_ * H_ * W_, -1)  # [g, M, K]  M = B·T'·H'·W', K = kT·kH·kW·C/g
    w = weight.unflatten(0, (g, O // g)).permute(0, 3, 4, 5, 2, 1)  # [g, kT, kH, kW, C/g, O/g]
    w = w.reshape(g, -1, O // g)  # [g, K, N]  N = O/g
    if bias is None:
        y = torch.bmm(cols, w)  # [g, M, N]
    else:
        y = torch.baddbmm(bias.view(g, 1, O // g), cols, w)  # [g, M, N], bias added in the GEMM
    y = y.unflatten(1, (B, T_, H_, W_)).permute(1, 2, 3, 4, 0, 5)  # [B, T', H', W', g, N]
    y = y.reshape(B, T_, H_, W_, O).permute(0, 4, 1, 2, 3)  # [B, O, T', H', W'] channels-last
    return y if x.is_contiguous(memory_format=torch.channels_last_3d) else y.contiguous()


def _input_grad(
    grad_y: Tensor, weight: Tensor, x_shape: torch.Size, stride: tuple, pads: Pads3,
    dilation: tuple, groups: int,
) -> Tensor:
    """dL/dx is a convolution of dL/dy with the flipped, transposed kernel.

    In one dimension, y[t] = Σ_i w[i] x_pad[t·s + i·d], so each x_pad[u] receives
    Σ_{t, i : t·s + i·d = u} w[i] g[t]. Spread g out with s-1 zeros between entries
    (g_s[t·s] = g[t]); then x_pad's gradient is Σ_j w[k-1-j] g_s[u - (k-1)·d + j·d]:
    a correlation of g_s, padded by (k-1)·d, with the kernel reversed, at dilation d. The
    weight [O, C/g, k..] becomes [C, O/g, k..] (channels swap roles within each group).
    Cropping p_before from the front and padding to length T gives dL/dx.
    """
    B, C, *size = x_shape
    O, g = weight.shape[0], groups
    kernel = weight.shape[2:]
    if any(s > 1 for s in stride):  # insert s-1 zeros between output positions
        spread = [(n - 1) * s + 1 for n, s in zip(grad_y.shape[2:], stride, strict=True)]
        g_s = grad_y.new_zeros(B, O, *spread)
        g_s[:, :, :: stride[0], :: stride[1], :: stride[2]] = grad_y
    else:
        g_s = grad_y
    w_t = weight.unflatten(0, (g, O // g)).transpose(1, 2).reshape(C, O // g, *kernel)
    w_t = w_t.flip(2, 3, 4)  # [C, O/g, kT, kH, kW], reversed in time and space
    # Pads (may be negative, which crops) so that the output has exactly the input's size.
    new_pads = tuple(
        ((k - 1) * d - p0, n + p0 - m)
        for k, d, (p0, _), n, m in zip(kernel, dilation, pads, size, g_s.shape[2:], strict=True)
    )
    return _gemm_conv3d(g_s, w_t, None, (1, 1, 1), new_pads, dilation, groups)


def _weight_grad(
    x: Tensor, grad_y: Tensor, kernel: tuple, stride: tuple, pads: Pads3, dilation: tuple,
    groups: int,
) -> Tensor:
    """dL/dW = Aᵀ @ G: the windows of x (the forward's A [g, M, K]) against dL/dy [g, M, N]."""
    B, C = x.shape[:2]
    O, g = grad_y.shape[1], groups
    cols = _windows(x, kernel, stride, pads, dilation)  # [B, T', H', W', C, kT, kH, kW]
    cols = cols.unflatten(4, (g, C // g)).permute(4, 0, 1, 2, 3, 6, 7, 8, 5)
    cols = cols.reshape(g, -1, math.prod(kernel) * (C // g))  # [g, M, K]
    gy = grad_y.unflatten(1, (g, O // g)).permute(1, 0, 3, 4, 5, 2).reshape(g, -1, O // g)
    gw = torch.bmm(cols.transpose(1, 2), gy)  # [g, K, N]
    gw = gw.view(g, *kernel, C // g, O // g).permute(0, 5, 4, 1, 2, 3)  # [g, N, C/g, kT, kH, kW]
    return gw.reshape(O, C // g, *kernel)


class _Conv3dGEMM(torch.autograd.Function):
    """conv3d with a hand-written backward made of the same GEMM convolution.

    Autograd through ``unfold`` works too, but folding the window gradients back onto x
    (``unfold``'s backward) is a slow scatter on CPU; computing dL/dx as a convolution
    (``_input_grad``) reuses the fast gather-and-GEMM path instead.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, pads, dilation, groups):
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, pads, dilation, groups, bias is not None)
        return _gemm_conv3d(x, weight, bias, stride, pads, dilation, groups)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        stride, pads, dilation, groups, has_bias = ctx.conf
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _input_grad(grad_y, weight, x.shape, stride, pads, dilation, groups)
        if ctx.needs_input_grad[1]:
            kernel = tuple(weight.shape[2:])
            grad_w = _weight_grad(x, grad_y, kernel, stride, pads, dilation, groups)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(dim=(0, 2, 3, 4))
        return grad_x, grad_w, grad_b, None, None, None, None


def _conv3d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple[int, int, int],
    pads: Pads3,
    dilation: tuple[int, int, int],
    groups: int,
) -> Tensor:
    """``conv3d`` with explicit (before, after) padding per dim, operands already checked."""
    _check_geometry(x, tuple(weight.shape[2:]), stride, pads, dilation)
    return _Conv3dGEMM.apply(x, weight, bias, stride, pads, dilation, groups)


def conv3d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Size3 = 1,
    padding: Size3 | str = 0,
    dilation: Size3 = 1,
    groups: int = 1,
) -> Tensor:
    """3D convolution, equal to ``torch.nn.functional.conv3d`` (forward and backward).

    x: [B, C, T, H, W], weight: [O, C/g, kT, kH, kW], bias: [O] -> y: [B, O, T', H', W'] with
    ``T' = (T + 2·p_T - d_T·(kT-1) - 1) // s_T + 1`` (likewise H', W'), g = groups,
    C_g = C/g, O_g = O/g, and output channel o in group γ = o // O_g:

        y[b,o,t,h,w] = bias[o] + Σ_{c<C_g, i<kT, j<kH, l<kW} weight[o,c,i,j,l]
                       · x_pad[b, γ·C_g + c, t·s_T + i·d_T, h·s_H + j·d_H, w·s_W + l·d_W]

    Built as one GEMM per group (one batched matmul): ``im2col3d`` views the windows, one
    reshape gathers them into the matrix A [M, K], the weight becomes W [K, N], and
    y = A @ W (+ bias), with M = B·T'·H'·W' output positions, N = O_g output channels and
    K = C_g·kT·kH·kW reduction terms. That is why a convolution is an "implicit GEMM": a GPU
    kernel runs exactly this M x N x K GEMM but computes each tile of A from x as it loads it
    (the address of A[m, k] is arithmetic on m and k), never storing A, which is kT·kH·kW
    times larger than x. Here on CPU A *is* stored, and moving it (writing A forward, folding
    its gradient back onto x backward) costs more than the GEMMs. The backward is two more
    GEMMs: dL/dW = Aᵀ·dL/dY, and dL/dx, which is itself a convolution of dL/dY with the
    flipped kernel (``_input_grad``).

    stride, padding, dilation: an int or (T, H, W) ints; padding may also be "valid" (none)
    or "same" (stride 1; output size = input size; an odd total puts the extra after).
    The output keeps x's memory format, as F.conv3d does: channels_last_3d in, channels_last_3d
    out, otherwise contiguous.

    Under ``torch.autocast`` the operands are cast to the autocast dtype first, as F.conv3d's
    are. Raises ValueError, naming the argument, for a wrong rank, channels not matching groups,
    x/weight/bias dtype or device mismatch, a bias of the wrong shape, stride or dilation
    < 1, negative padding, or a kernel longer than the padded input.
    """
    x, weight, bias = backend.autocast_operands(x, weight, bias)  # as F.conv3d under autocast
    _check_operands(x, weight, bias, groups)
    stride, dilation = _triple(stride, "stride"), _triple(dilation, "dilation")
    pads = _resolve_padding(padding, tuple(weight.shape[2:]), stride, dilation)
    return _conv3d(x, weight, bias, stride, pads, dilation, groups)


def conv3d_loops(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Size3 = 1,
    padding: Size3 | str = 0,
    dilation: Size3 = 1,
    groups: int = 1,
) -> Tensor:
    """The definition of ``conv3d``, six loops deep: a readable reference for tiny sizes.

    Loops over output positions (t, h, w) and kernel taps (i, j, l); each step multiplies
    one input pixel column [B, C] by one weight tap [O, C_g] per group:

        y[:, o, t, h, w] += Σ_c weight[o, c, i, j, l] · x_pad[:, γ·C_g + c, t·s_T + i·d_T, ...]

    Same arguments, shapes and result as ``conv3d``; about T'·H'·W'·kT·kH·kW Python steps.
    """
    _check_operands(x, weight, bias, groups)
    kernel = tuple(weight.shape[2:])
    stride, dilation = _triple(stride, "stride"), _triple(dilation, "dilation")
    pads = _resolve_padding(padding, kernel, stride, dilation)
    _check_geometry(x, kernel, stride, pads, dilation)
    (t0, t1), (h0, h1), (w0, w1) = pads
    x = F.pad(x, (w0, w1, h0, h1, t0, t1))  # x_pad [B, C, Tp, Hp, Wp]
    B, C = x.shape[:2]
    O, g = weight.shape[0], groups
    (sT, sH, sW), (dT, dH, dW), (kT, kH, kW) = stride, dilation, kernel
    T_, H_, W_ = (
        (n - d * (k - 1) - 1) // s + 1
        for n, k, s, d in zip(x.shape[2:], kernel, stride, dilation, strict=True)
    )  # output size
    w = weight.unflatten(0, (g, O // g))  # [g, O_g, C_g, kT, kH, kW]
    y = x.new_zeros(B, g, O // g, T_, H_, W_)
    for t in range(T_):
        for h in range(H_):
            for v in range(W_):
                for i in range(kT):
                    for j in range(kH):
                        for l in range(kW):
                            pixel = x[:, :, t * sT + i * dT, h * sH + j * dH, v * sW + l * dW]
                            pixel = pixel.unflatten(1, (g, C // g))  # [B, g, C_g]
                            tap = w[:, :, :, i, j, l]  # [g, O_g, C_g]
                            y[:, :, :, t, h, v] += torch.einsum("bgc,goc->bgo", pixel, tap)
    y = y.flatten(1, 2)  # [B, O, T', H', W']
    return y if bias is None else y + bias.view(1, O, 1, 1, 1)


class Conv3d(nn.Module):
    """``nn.Conv3d`` rebuilt on ``conv3d``: same arguments, parameter shapes and init.

    weight [out_channels, in_channels/groups, kT, kH, kW] ~ kaiming-uniform(a=√5), i.e.
    U(-1/√fan_in, 1/√fan_in) with fan_in = in_channels/groups·kT·kH·kW; bias [out_channels]
    ~ U(-1/√fan_in, 1/√fan_in). forward: [B, C_in, T, H, W] -> [B, C_out, T', H', W'].
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size3,
        stride: Size3 = 1,
        padding: Size3 | str = 0,
        dilation: Size3 = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        where = type(self).__name__  # CausalConv3d's errors name CausalConv3d
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("groups", groups)):
            _check_size(where, name, value)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels ({in_channels}) and out_channels ({out_channels}) must be "
                f"divisible by groups ({groups})"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.stride, self.dilation = _triple(stride, "stride"), _triple(dilation, "dilation")
        for name, given, sizes in (("kernel_size", kernel_size, self.kernel_size),
                                   ("stride", stride, self.stride),
                                   ("dilation", dilation, self.dilation)):
            for dim, n in zip(_DIMS, sizes, strict=True):  # name the dim if 3 were given
                _check_size(where, name if isinstance(given, int) else f"{name} ({dim})", n)
        self.padding = padding if isinstance(padding, str) else _triple(padding, "padding")
        _resolve_padding(self.padding, self.kernel_size, self.stride, self.dilation)  # validate
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, *self.kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.weight[0].numel()  # in_channels/groups · kT · kH · kW
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # = U(±1/√fan_in)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, x: Tensor) -> Tensor:
        def reference(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
            return conv3d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

        return backend.conv3d(x, self.weight, self.bias, self.stride, self.padding, reference,
                              self.dilation, self.groups)  # the Triton kernel on CUDA

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"groups={self.groups}, bias={self.bias is not None}"
        )


class CausalConv3d(Conv3d):
    """A 3D convolution whose output frame t sees only input frames <= t.

    Time is padded with (kT-1)·d_T frames *before* the first frame and none after; height and
    width get 'same' zero padding, (k-1)·d//2 per side (odd kH, kW required). Then

        y[:, :, t] = Σ_i weight[:, :, i] * x_pad[:, :, t·s_T + i·d_T],  x_pad[(kT-1)·d_T + τ] = x[τ]

    reads input frames t·s_T - (kT-1)·d_T ... t·s_T (tap i = kT-1 is frame t·s_T): none later.
    Output length T' = (T - 1) // s_T + 1 = ceil(T / s_T): T at stride 1; 1 + 4k -> 1 + 2k at
    stride 2, so the first frame always keeps an output of its own (the causal-VAE frame count).

    pad_mode="zeros" pads zero frames; "replicate" pads copies of the first frame (as if the
    video had been still before it started). Spatial padding is zeros in both modes.
    x: [B, C_in, T, H, W] -> [B, C_out, ceil(T/s_T), ceil(H/s_H), ceil(W/s_W)].
    """

    pad_modes = ("zeros", "replicate")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size3,
        stride: Size3 = 1,
        dilation: Size3 = 1,
        pad_mode: str = "zeros",
        bias: bool = True,
    ) -> None:
        if pad_mode not in self.pad_modes:
            raise ValueError(f"pad_mode must be one of {self.pad_modes}, got {pad_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, bias=bias)
        (kT, kH, kW), (dT, dH, dW) = self.kernel_size, self.dilation
        if kH % 2 == 0 or kW % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd in H and W for 'same' padding, "
                f"got kernel_size={self.kernel_size}"
            )
        self.pad_mode = pad_mode
        self.time_pad = (kT - 1) * dT  # frames before the first
        ph, pw = (kH - 1) * dH // 2, (kW - 1) * dW // 2
        self.pads: Pads3 = ((self.time_pad, 0), (ph, ph), (pw, pw))

    def forward(self, x: Tensor) -> Tensor:
        _check_operands(*backend.autocast_operands(x, self.weight, self.bias), 1)
        hw_pad = (self.pads[1][0], self.pads[2][0])
        return backend.conv3d(x, self.weight, self.bias, self.stride, hw_pad, self._reference,
                              self.dilation, causal=True,
                              pad_mode=self.pad_mode)  # on CUDA the kernel fuses the padding

    def _reference(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The causal conv by the package's im2col conv3d, time padded as the class says."""
        pads = self.pads
        if self.pad_mode == "replicate":  # frame 0, copied (kT-1)·d_T times before itself
            x = F.pad(x, (0, 0, 0, 0, self.time_pad, 0), mode="replicate").to(x.dtype)  # autocast
            pads = ((0, 0), *pads[1:])  # time is padded: x is [B, C, T + (kT-1)·d_T, H, W]
        return _conv3d(x, weight, bias, self.stride, pads, self.dilation, 1)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, dilation={self.dilation}, pad_mode={self.pad_mode!r}, "
            f"bias={self.bias is not None}"
        )


class PseudoConv3d(nn.Module):
    """(2+1)D convolution: a spatial (1, k, k) conv, then a temporal (k, 1, 1) conv.

        y = temporal(spatial(x)),  x: [B, C_in, T, H, W] -> [B, C_out, T, H, W]

    The temporal conv (C_out -> C_out; causal when ``causal``) starts as the identity: weight
    zero except weight[o, o, centre tap] = 1 (the last tap when causal, which is frame t
    itself), bias zero. So at initialisation the layer *is* the 2D conv applied frame by
    frame, and a pretrained image model can be inflated to video without changing its output
    (the Make-A-Video trick). ``pad_mode`` ("zeros" or "replicate") is the causal temporal
    conv's; the centred one pads zeros. Cost: see ``pseudo3d_cost``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        causal: bool = False,
        pad_mode: str = "zeros",
        bias: bool = True,
    ) -> None:
        super().__init__()
        _check_size("PseudoConv3d", "in_channels", in_channels)
        _check_size("PseudoConv3d", "out_channels", out_channels)
        k = kernel_size
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
            raise ValueError(
                f"PseudoConv3d: kernel_size must be an odd positive int, got {kernel_size!r}"
            )
        self.spatial = Conv3d(
            in_channels, out_channels, (1, k, k), padding=(0, k // 2, k // 2), bias=bias
        )
        if causal:
            self.temporal = CausalConv3d(
                out_channels, out_channels, (k, 1, 1), pad_mode=pad_mode, bias=bias
            )
        else:
            self.temporal = Conv3d(
                out_channels, out_channels, (k, 1, 1), padding=(k // 2, 0, 0), bias=bias
            )
        tap = k - 1 if causal else k // 2  # the tap that reads frame t
        with torch.no_grad():
            self.temporal.weight.zero_()
            eye = torch.arange(out_channels)
            self.temporal.weight[eye, eye, tap, 0, 0] = 1.0
            if self.temporal.bias is not None:
                self.temporal.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return self.temporal(self.spatial(x))  # [B, C_out, T, H, W]


def conv3d_cost(
    in_channels: int,
    out_channels: int,
    kernel_size: Size3,
    out_size: tuple[int, int, int],
    groups: int = 1,
    bias: bool = True,
) -> dict[str, int]:
    """Parameters and FLOPs of one conv producing ``out_size`` = (T', H', W') per batch element.

    params = O · C/g · kT·kH·kW  (+ O with bias)
    macs   = T'·H'·W' · O · C/g · kT·kH·kW     (multiply-accumulates)
    flops  = 2 · macs                          (bias adds not counted)
    """
    kT, kH, kW = _triple(kernel_size, "kernel_size")
    taps = in_channels // groups * kT * kH * kW  # weights per output channel
    macs = math.prod(out_size) * out_channels * taps
    return {
        "params": out_channels * taps + (out_channels if bias else 0),
        "macs": macs,
        "flops": 2 * macs,
    }


def pseudo3d_cost(
    in_channels: int,
    out_channels: int,
    k: int,
    out_size: tuple[int, int, int],
    bias: bool = True,
) -> dict[str, int]:
    """``conv3d_cost`` of ``PseudoConv3d``: (1,k,k) C_in -> C_out, then (k,1,1) C_out -> C_out.

    FLOPs ratio full / pseudo = C_in·C_out·k³ / (C_in·C_out·k² + C_out²·k); with C_in = C_out
    that is k² / (k + 1), 2.25 for k = 3 (params likewise, up to bias).
    """
    spatial = conv3d_cost(in_channels, out_channels, (1, k, k), out_size, bias=bias)
    temporal = conv3d_cost(out_channels, out_channels, (k, 1, 1), out_size, bias=bias)
    return {key: spatial[key] + temporal[key] for key in spatial}


class _CallableModule(types.ModuleType):
    """This module, callable as its function ``conv3d``.

    The course's contract has ``vdlite.conv3d`` be two things: the module (``import
    vdlite.conv3d``, ``vdlite.conv3d.Conv3d``) and the function ``vdlite.conv3d(x, weight,
    bias=None, stride=1, padding=0, dilation=1, groups=1)``, equal to F.conv3d. A package
    attribute is one object, so it is the module, and the module forwards calls to ``conv3d``.
    """

    def __call__(self, *args, **kwargs) -> Tensor:
        return conv3d(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
__signature__ = inspect.signature(conv3d)  # what inspect.signature(vdlite.conv3d) reports

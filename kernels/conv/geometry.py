"""The arguments of a 3D convolution, shared by both conv3d paths: checks and geometry.

``conv3d(x, weight, bias, stride, padding, causal, pad_mode)`` with x ``[N, Cin, T, H, W]``
and weight ``[Cout, Cin, kT, kH, kW]``: ``geometry`` turns the options into per-axis strides,
padding *before* each axis and the output size, ``T' = (T + pad_before + pad_after - kT) // sT
+ 1`` (and so on); causal pads kT-1 frames before the first frame and none after. Both paths
raise the same ValueErrors naming the argument (``check_conv``).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from kernels.runtime import DTYPES, check_device

PAD_MODES = ("zeros", "replicate")
Size3 = tuple[int, int, int]


class Geometry(NamedTuple):
    """Per axis (T, H, W): stride, padding before, output size; and the padding mode."""

    stride: Size3
    pad: Size3
    out: Size3
    replicate: bool



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


def check_conv(name: str, x: Tensor, weight: Tensor, bias: Tensor | None, causal: bool,
               pad_mode: str, dilation, groups) -> None:
    """Clear errors before ``name`` launches: ranks, channels, dtypes, devices, options."""
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
        raise ValueError(f"{name} supports float16, bfloat16 and float32 x, got {x.dtype}")
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
        raise ValueError(f"{name} supports dilation=1 only, got dilation={dilation!r}")
    if groups != 1 or isinstance(groups, bool):
        raise ValueError(f"{name} supports groups=1 only, got groups={groups!r}")
    check_device(x, name)


def geometry(x: Tensor, weight: Tensor, stride, padding, causal: bool,
             pad_mode: str) -> Geometry:
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
    return Geometry(strides, before, tuple(out), pad_mode == "replicate")

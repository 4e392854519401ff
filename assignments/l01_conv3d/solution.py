"""Lesson 01's exercises, solved: 3D convolution by loops, by one GEMM, causal, and its cost."""

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

Triple = tuple[int, int, int]


def conv3d_loops(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Task 01.1: the definition of a 3D convolution (stride 1, no padding), one tap at a time.

        y[b, o, t, h, w] = bias[o] + Σ_{i,j,l} Σ_c weight[o, c, i, j, l] · x[b, c, t+i, h+j, w+l]

    x: [B, C, T, H, W], weight: [O, C, kT, kH, kW], bias: [O] or None
    -> y: [B, O, T-kT+1, H-kH+1, W-kW+1].
    """
    B, _, T, H, W = x.shape
    O, _, kT, kH, kW = weight.shape
    y = x.new_zeros(B, O, T - kT + 1, H - kH + 1, W - kW + 1)
    outputs = itertools.product(range(B), range(O), *map(range, y.shape[2:]))
    for b, o, t, h, v in outputs:
        total = x.new_zeros(()) if bias is None else bias[o]
        for i, j, l in itertools.product(range(kT), range(kH), range(kW)):
            total = total + weight[o, :, i, j, l] @ x[b, :, t + i, h + j, v + l]  # Σ over c
        y[b, o, t, h, v] = total
    return y


def conv_out_len(n: int, k: int, s: int, p: int, d: int) -> int:
    """Output length of a conv along one dim: (n + 2p - d·(k-1) - 1) // s + 1."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def im2col3d(
    x: Tensor,
    kernel_size: Triple,
    stride: Triple = (1, 1, 1),
    padding: Triple = (0, 0, 0),
    dilation: Triple = (1, 1, 1),
) -> Tensor:
    """Task 01.2a: every convolution window of x as one row of a matrix.

        cols[(b, t, h, w), (c, i, j, l)] = x_pad[b, c, t·s_T + i·d_T, h·s_H + j·d_H, w·s_W + l·d_W]

    x: [B, C, T, H, W] -> cols: [B·T'·H'·W', C·kT·kH·kW], rows in (b, t, h, w) order and
    columns in (c, i, j, l) order, the order of weight.reshape(O, -1).
    """
    pT, pH, pW = padding
    x = F.pad(x, (pW, pW, pH, pH, pT, pT))
    for dim, k, s, d in zip((2, 3, 4), kernel_size, stride, dilation, strict=True):
        x = x.unfold(dim, (k - 1) * d + 1, s)[..., ::d]  # window appended as the last dim
    B, C, T_, H_, W_ = x.shape[:5]  # x: [B, C, T', H', W', kT, kH, kW]
    return x.permute(0, 2, 3, 4, 1, 5, 6, 7).reshape(B * T_ * H_ * W_, -1)


def conv3d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Triple = (1, 1, 1),
    padding: Triple = (0, 0, 0),
    dilation: Triple = (1, 1, 1),
) -> Tensor:
    """Task 01.2b: conv3d as one matrix product, Y = cols @ Wᵀ (+ bias).

    cols: [M, K] = im2col3d(x), M = B·T'·H'·W', K = C·kT·kH·kW; weight as [O, K].
    x: [B, C, T, H, W], weight: [O, C, kT, kH, kW] -> y: [B, O, T', H', W'].
    """
    B, O = x.shape[0], weight.shape[0]
    sizes = [
        conv_out_len(n, k, s, p, d)
        for n, k, s, p, d in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation,
                                 strict=True)
    ]
    cols = im2col3d(x, tuple(weight.shape[2:]), stride, padding, dilation)
    y = cols @ weight.reshape(O, -1).T  # [M, O]
    if bias is not None:
        y = y + bias
    return y.reshape(B, *sizes, O).permute(0, 4, 1, 2, 3).contiguous()


def causal_time_pad(x: Tensor, kernel_t: int, mode: str = "zeros") -> Tensor:
    """Task 01.3a: kernel_t - 1 frames before frame 0, none after.

    mode "zeros": zero frames; "replicate": copies of frame 0.
    x: [B, C, T, H, W] -> [B, C, T + kernel_t - 1, H, W].
    """
    if mode == "zeros":
        before = x.new_zeros(*x.shape[:2], kernel_t - 1, *x.shape[3:])
    elif mode == "replicate":
        before = x[:, :, :1].expand(-1, -1, kernel_t - 1, -1, -1)
    else:
        raise ValueError(f"mode must be 'zeros' or 'replicate', got {mode!r}")
    return torch.cat([before, x], dim=2)


def causal_conv3d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, mode: str = "zeros"
) -> Tensor:
    """Task 01.3b: a stride-1 conv whose output frame t reads input frames t-kT+1 ... t.

    Time is padded by causal_time_pad; H and W get 'same' zero padding (kH//2, kW//2; odd kH,
    kW). x: [B, C, T, H, W], weight: [O, C, kT, kH, kW] -> y: [B, O, T, H, W].
    """
    kT, kH, kW = weight.shape[2:]
    return conv3d(causal_time_pad(x, kT, mode), weight, bias, padding=(0, kH // 2, kW // 2))


def frame_dependency(num_frames: int, kernel_t: int, causal: bool, dilation: int = 1) -> Tensor:
    """One zero-padded temporal conv: dep[t, τ] = output frame t reads input frame τ.

    Tap i reads τ = t - (kT-1-i)·d when causal, τ = t + (i - kT//2)·d when centred.
    """
    taps = torch.arange(kernel_t)
    offsets = (taps - (kernel_t - 1) if causal else taps - kernel_t // 2) * dilation
    t = torch.arange(num_frames)
    reach = t[None, :] - t[:, None]  # [T, T]: τ - t
    return (reach[..., None] == offsets).any(dim=-1)


def dependency_matrix(
    num_frames: int,
    kernel_sizes: Sequence[int],
    causal: Sequence[bool],
    dilations: Sequence[int] | None = None,
) -> Tensor:
    """Task 01.4: which input frames each output frame of a stack of temporal convs reads.

    dep = D_L · ... · D_1 (boolean product), D_l[t, τ] = layer l's frame t reads frame τ.
    -> [T, T] bool: dep[t, τ] = output frame t depends on input frame τ.
    """
    dilations = [1] * len(kernel_sizes) if dilations is None else dilations
    dep = torch.eye(num_frames, dtype=torch.long)
    for k, is_causal, d in zip(kernel_sizes, causal, dilations, strict=True):
        dep = frame_dependency(num_frames, k, is_causal, d).long() @ dep
    return dep > 0


def conv3d_flops(in_channels: int, out_channels: int, kernel_size: Triple, out_size: Triple) -> int:
    """Task 01.5a: FLOPs of one conv: 2 · T'·H'·W' · O · C · kT·kH·kW (one mul + one add)."""
    return 2 * math.prod(out_size) * out_channels * in_channels * math.prod(kernel_size)


def pseudo3d_flops(in_channels: int, out_channels: int, k: int, out_size: Triple) -> int:
    """Task 01.5b: FLOPs of (1, k, k) C_in -> C_out, then (k, 1, 1) C_out -> C_out."""
    spatial = conv3d_flops(in_channels, out_channels, (1, k, k), out_size)
    return spatial + conv3d_flops(out_channels, out_channels, (k, 1, 1), out_size)

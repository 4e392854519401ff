"""Lesson 01's exercises: 3D convolution by loops, by one GEMM, causal, and its cost.

Replace each `raise NotImplementedError(...)` with your code. Videos are [B, C, T, H, W];
weights are [O, C, kT, kH, kW] (out channels, in channels, kernel taps in T, H, W). Check
yourself with `python -m assignments.grade l01_conv3d`.
"""

import math  # noqa: F401
from collections.abc import Sequence

import torch  # noqa: F401
import torch.nn.functional as F  # noqa: F401
from torch import Tensor

Triple = tuple[int, int, int]


def conv3d_loops(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Task 01.1: the definition of a 3D convolution (stride 1, no padding), one tap at a time.

        y[b, o, t, h, w] = bias[o] + Σ_{i,j,l} Σ_c weight[o, c, i, j, l] · x[b, c, t+i, h+j, w+l]

    x: [B, C, T, H, W], weight: [O, C, kT, kH, kW], bias: [O] or None (no bias)
    -> y: [B, O, T-kT+1, H-kH+1, W-kW+1], x's dtype.

    Loop explicitly over b, o, t, h, w and the kernel taps (i, j, l); the sum over the C input
    channels may be one dot product `weight[o, :, i, j, l] @ x[b, :, t+i, h+j, w+l]`.
    """
    raise NotImplementedError("Task 01.1: loop over (b, o, t, h, w) and the taps (i, j, l)")


def im2col3d(
    x: Tensor,
    kernel_size: Triple,
    stride: Triple = (1, 1, 1),
    padding: Triple = (0, 0, 0),
    dilation: Triple = (1, 1, 1),
) -> Tensor:
    """Task 01.2a: every convolution window of x as one row of a matrix.

    With x_pad = x zero-padded by padding = (p_T, p_H, p_W) on both sides of T, H and W,

        cols[(b, t, h, w), (c, i, j, l)] = x_pad[b, c, t·s_T + i·d_T, h·s_H + j·d_H, w·s_W + l·d_W]

    x: [B, C, T, H, W] -> cols: [B·T'·H'·W', C·kT·kH·kW], where per dim
    n' = (n + 2p - d·(k-1) - 1) // s + 1. Rows in (b, t, h, w) order (w fastest); columns in
    (c, i, j, l) order (l fastest), the order of `weight.reshape(O, -1)`.

    Hint: F.pad, then `Tensor.unfold(dim, size, step)` on dims 2, 3, 4 (a window of span
    (k-1)·d+1, then every d-th element of it), then permute and reshape.
    """
    raise NotImplementedError("Task 01.2: pad, unfold T, H, W, permute to rows x columns")


def conv3d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Triple = (1, 1, 1),
    padding: Triple = (0, 0, 0),
    dilation: Triple = (1, 1, 1),
) -> Tensor:
    """Task 01.2b: conv3d as one matrix product (what F.conv3d computes, groups=1).

        Y = cols @ Wᵀ (+ bias),  cols = im2col3d(x): [M, K],  W = weight.reshape(O, K)

    M = B·T'·H'·W', K = C·kT·kH·kW; Y: [M, O] reshaped to the video y.
    x: [B, C, T, H, W], weight: [O, C, kT, kH, kW], bias: [O] or None
    -> y: [B, O, T', H', W'].
    """
    raise NotImplementedError("Task 01.2: im2col3d, one matmul with the weight, reshape to video")


def causal_time_pad(x: Tensor, kernel_t: int, mode: str = "zeros") -> Tensor:
    """Task 01.3a: pad kernel_t - 1 frames before frame 0 and none after.

    mode "zeros": zero frames; "replicate": copies of frame 0 (as if the clip had been still
    before it began). Any other mode: ValueError.
    x: [B, C, T, H, W] -> [B, C, T + kernel_t - 1, H, W], the padded frames first.
    """
    raise NotImplementedError("Task 01.3: kernel_t - 1 frames (zeros or frame 0) before x")


def causal_conv3d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, mode: str = "zeros"
) -> Tensor:
    """Task 01.3b: a stride-1 conv whose output frame t reads only input frames t-kT+1 ... t.

        y[:, :, t] = bias + Σ_i weight[:, :, i] ⋆ x_pad[:, :, t + i],  x_pad = causal_time_pad(x)

    Time is padded by causal_time_pad(x, kT, mode); H and W get 'same' zero padding, kH//2
    and kW//2 on each side (kH, kW odd). Use your conv3d (or F.conv3d) for the rest.
    x: [B, C, T, H, W], weight: [O, C, kT, kH, kW], bias: [O] or None -> y: [B, O, T, H, W].
    """
    raise NotImplementedError("Task 01.3: causal_time_pad, then a conv with (0, kH//2, kW//2)")


def dependency_matrix(
    num_frames: int,
    kernel_sizes: Sequence[int],
    causal: Sequence[bool],
    dilations: Sequence[int] | None = None,
) -> Tensor:
    """Task 01.4: which input frames each output frame of a stack of temporal convs reads.

    Layer l is a zero-padded (k_l, 1, 1) conv with time dilation d_l (1 when dilations is
    None) that keeps T frames: causal (k_l-1)·d_l zero frames before, none after, so tap i
    reads frame t - (k_l-1-i)·d_l; or centred (odd k_l, d_l·(k_l//2) zero frames on each
    side), so tap i reads frame t + (i - k_l//2)·d_l. A padded frame depends on nothing.

        D_l[t, τ] = layer l's output frame t reads its input frame τ   ([T, T] bool)
        dep = D_L · ... · D_2 · D_1   (boolean matrix product: some path τ -> ... -> t)

    -> dep: [T, T] bool, dep[t, τ] = the stack's output frame t depends on input frame τ.
    """
    raise NotImplementedError("Task 01.4: one [T, T] matrix per layer, then their bool product")


def conv3d_flops(in_channels: int, out_channels: int, kernel_size: Triple, out_size: Triple) -> int:
    """Task 01.5a: FLOPs of one conv (groups 1) producing out_size = (T', H', W') outputs.

        flops = 2 · T'·H'·W' · O · C · kT·kH·kW   (a multiply and an add per weight and output;
                                                  bias adds not counted)
    """
    raise NotImplementedError("Task 01.5: 2 x outputs x out channels x weights per output")


def pseudo3d_flops(in_channels: int, out_channels: int, k: int, out_size: Triple) -> int:
    """Task 01.5b: FLOPs of a pseudo-3D conv producing out_size = (T', H', W') outputs.

    A spatial (1, k, k) conv C_in -> C_out, then a temporal (k, 1, 1) conv C_out -> C_out, both
    at every output position. With C_in = C_out the full (k, k, k) conv costs k²/(k+1) times more.
    """
    raise NotImplementedError("Task 01.5: conv3d_flops of the spatial conv + the temporal conv")

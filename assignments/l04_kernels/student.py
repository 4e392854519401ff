"""Lesson 04's exercises: the naive temporal kernel, the online softmax step, the causal conv's
address arithmetic and the conv3d it gives.

Replace each `raise NotImplementedError(...)` with your code. Tokens are `[B, T, S, heads, D]`
(lesson 03's layout), clips `[N, C, T, H, W]`. Task 04.1 is a Triton kernel: without a GPU it
runs in Triton's interpreter, which needs TRITON_INTERPRET=1 set before Triton is imported
(the lessons' first cell and this folder's conftest.py do it). Check yourself with
`python -m assignments.grade l04_kernels`.
"""

import math  # noqa: F401

import torch  # noqa: F401
import triton  # noqa: F401
import triton.language as tl  # noqa: F401
from torch import Tensor

from kernels.runtime import precision  # noqa: F401


def naive_temporal(q: Tensor, k: Tensor, v: Tensor, causal: bool = False,
                   window: int | None = None) -> Tensor:
    """Task 04.1: temporal attention by a Triton kernel, one program per sequence (b, s, h).

        o[b, t, s, h] = sum_u softmax_u(q[b, t, s, h] . k[b, u, s, h] / sqrt(D) + M[t, u])
                        v[b, u, s, h],

    M = 0 where key u is allowed and -inf elsewhere: causal allows u <= t, a window w allows
    |t - u| <= w, both together both (`vdlite.attention.temporal_mask`).

    Write a `@triton.jit` kernel above this function, launched on a grid of B*S*heads
    programs (one axis). Program (b, s, h) loads its T frames of q, k, v through the strides
    (no permute, no copy) as tiles [BLOCK_T, D] with BLOCK_T = max(16, next power of 2 of T)
    (`tl.dot` needs >= 16 rows; padded rows load 0); scores x = q k^T / sqrt(D) by `tl.dot`;
    -inf where the key is padding or masked; the softmax over the keys with `tl.max` and
    `tl.sum`; o = p v by `tl.dot`; store the real rows. Pass `input_precision=precision(q.dtype)`
    to `tl.dot` (full-precision float32 dots). No torch.softmax, matmul or einsum: the kernel
    does the work.

    q, k, v: [B, T, S, heads, D], one dtype (float32 or float16), any strides; D a power of
    two >= 16 -> [B, T, S, heads, D], contiguous, in q's dtype.
    """
    raise NotImplementedError("Task 04.1: a kernel with one program per sequence: load the "
                              "frames through the strides, mask, softmax with tl.max/tl.sum")


def online_softmax_update(m: Tensor, l: Tensor, acc: Tensor, x: Tensor,
                          v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Task 04.2: fold one block of keys into the running softmax of R query rows.

    State per row r, over the keys seen so far: m the largest score, l = sum_j exp(x_j - m),
    acc = sum_j exp(x_j - m) v_j. With the block's scores x [R, n] and values v [n, D]:

        m' = max(m, max_j x_j),  p_j = exp(x_j - m'),  alpha = exp(m - m'),
        l' = alpha l + sum_j p_j,  acc' = alpha acc + p v

    -> (m', l', acc'). Start from m = -inf, l = 0, acc = 0 (alpha is then 0); after the last
    block, acc / l is softmax(x_all) @ v_all exactly, and no exp ever overflows.
    m, l: [R]; acc: [R, D]; x: [R, n]; v: [n, D]; any float dtype (the tests use float64).
    """
    raise NotImplementedError("Task 04.2: the new max, the rescale alpha, then l and acc")


def tap_source(out: Tensor, tap: int, stride: int, pad_before: int, size: int) -> Tensor:
    """Task 04.3a: which input index output positions `out` read through tap `tap`, on one axis.

    An axis of `size` inputs padded with `pad_before` zeros before it (and any number after):
    output position o, tap i reads padded index o*stride + i, which is input index
    o*stride + i - pad_before when that lies in [0, size), and padding otherwise: -1.
    Causal time padding is pad_before = kT - 1 (none after); H and W pad p on both sides.
    out: int64 tensor of output positions -> int64 tensor of the same shape.
    """
    raise NotImplementedError("Task 04.3: the padded index minus the padding before; -1 "
                              "outside [0, size)")


def causal_conv3d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                  stride: tuple[int, int, int] = (1, 1, 1),
                  padding: tuple[int, int] = (0, 0)) -> Tensor:
    """Task 04.3b: the causal conv3d as an implicit GEMM in PyTorch, one small GEMM per tap.

        y[n, o, t, h, w] = bias[o] + sum_{c, i, j, l} weight[o, c, i, j, l]
                           * x_pad[n, c, t*sT + i - (kT-1), h*sH + j - pH, w*sW + l - pW]

    x_pad: kT - 1 zero frames before frame 0 (none after), pH / pW zeros on both sides of H /
    W. Output size: T' = (T - 1) // sT + 1, H' = (H + 2 pH - kH) // sH + 1, likewise W'.
    For each tap (i, j, l): gather x at `tap_source` of every output position along each
    axis (zero where any axis reads padding), [N, T', H', W', Cin], and add its product with
    weight[:, :, i, j, l]^T [Cin, Cout]. No F.pad, no F.conv3d, no unfold: the padding lives
    in the indices, as in the kernel.
    x: [N, Cin, T, H, W]; weight: [Cout, Cin, kT, kH, kW]; bias: [Cout] or None; stride
    (sT, sH, sW); padding (pH, pW) -> [N, Cout, T', H', W'] in x's dtype.
    """
    raise NotImplementedError("Task 04.3: loop over the taps: gather by tap_source, mask the "
                              "padding, one GEMM each")

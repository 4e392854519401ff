"""Wrong: conv3d flattens the weight as (i, j, l, c) while im2col3d's columns are (c, i, j, l).

A transposed axis in the GEMM's reshape: `weight.permute(0, 2, 3, 4, 1)` before the reshape
pairs each window number with another channel's or tap's weight. Right only for C = 1 or a
1x1x1 kernel.
"""

from torch import Tensor

from assignments.l01_conv3d.solution import *  # noqa: F401,F403
from assignments.l01_conv3d.solution import Triple, conv_out_len, im2col3d


def conv3d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Triple = (1, 1, 1),
    padding: Triple = (0, 0, 0),
    dilation: Triple = (1, 1, 1),
) -> Tensor:
    B, O = x.shape[0], weight.shape[0]
    sizes = [
        conv_out_len(n, k, s, p, d)
        for n, k, s, p, d in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation,
                                 strict=True)
    ]
    cols = im2col3d(x, tuple(weight.shape[2:]), stride, padding, dilation)
    y = cols @ weight.permute(0, 2, 3, 4, 1).reshape(O, -1).T  # taps first, channels last
    if bias is not None:
        y = y + bias
    return y.reshape(B, *sizes, O).permute(0, 4, 1, 2, 3).contiguous()

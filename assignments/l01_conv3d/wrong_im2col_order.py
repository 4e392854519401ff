"""Wrong: im2col3d's columns in (i, j, l, c) order (channels last), not (c, i, j, l).

Each row holds the right numbers in the wrong places: the permute puts the channel axis after
the kernel taps, so the columns no longer line up with weight.reshape(O, -1).
"""

import torch.nn.functional as F
from torch import Tensor

from assignments.l01_conv3d.solution import *  # noqa: F401,F403
from assignments.l01_conv3d.solution import Triple


def im2col3d(
    x: Tensor,
    kernel_size: Triple,
    stride: Triple = (1, 1, 1),
    padding: Triple = (0, 0, 0),
    dilation: Triple = (1, 1, 1),
) -> Tensor:
    pT, pH, pW = padding
    x = F.pad(x, (pW, pW, pH, pH, pT, pT))
    for dim, k, s, d in zip((2, 3, 4), kernel_size, stride, dilation, strict=True):
        x = x.unfold(dim, (k - 1) * d + 1, s)[..., ::d]
    B, C, T_, H_, W_ = x.shape[:5]
    return x.permute(0, 2, 3, 4, 5, 6, 7, 1).reshape(B * T_ * H_ * W_, -1)  # C moved last

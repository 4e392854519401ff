"""Assignment A2, your solution: a video ControlNet that steers a frozen UNet3D with a depth
clip, and the edge-alignment measure. Replace each `raise NotImplementedError(...)`; the
README poses the tasks in full.

Grade yourself with `python -m assignments.grade a2_video_controlnet`.
"""

from __future__ import annotations

import copy  # noqa: F401  (yours to use: copy.deepcopy)

import torch  # noqa: F401  (yours to use)
import torch.nn as nn
import torch.nn.functional as F  # noqa: F401  (F.pad, F.max_pool3d)
from torch import Tensor

from vdlite.conv3d import Conv3d  # noqa: F401  (Conv3d(in, out, kernel, padding=...))
from vdlite.unet3d import ResBlock3d, UNet3D, timestep_embedding  # noqa: F401

# ---- Task A2.1: the depth encoder, with a zero-initialised output (3 points) -----------------


class DepthEncoder(nn.Module):
    """Depth clip [B, 1, T, H, W] -> hint [B, channels, T, H, W], added to the copy's stem output.

    Layers with temporal reach: e.g. two (2+1)D stages, each a spatial (1, 3, 3) conv padded
    (0, 1, 1), SiLU, a temporal (3, 1, 1) conv padded (1, 0, 0) (one frame on each side, so the
    window stays centred on frame t), SiLU; then a 1x1x1 conv hidden -> channels whose weight
    and bias start at zero (ControlNet's zero convolution on the condition), in `self.out`.
    """

    def __init__(self, channels: int, hidden: int = 16) -> None:
        super().__init__()
        raise NotImplementedError("Task A2.1: spatial and temporal convs, then a zero conv")

    def forward(self, depth: Tensor) -> Tensor:
        raise NotImplementedError("Task A2.1: the layers, then the zero conv")


# ---- Task A2.2: the ControlNet, a trainable copy of the encoder (4 points) -------------------


class ControlNet3D(nn.Module):
    """The trainable copy of `base`'s encoder, fed the depth hint, joined by zero convs.

    Attributes: `time_mlp`, `stem`, `down`, `mid` (deep copies of the base's, so they start
    equal and train apart; trainable even when the base was frozen before you copied it),
    `hint` (a DepthEncoder to base.base_channels), `zero_convs` (an nn.ModuleList of 1x1x1
    convs C -> C with zero weight and bias, one per skip of the base, in the encoder's order:
    the stem's output, then each layer of `down`) and `mid_zero_conv` (the same, for the
    middle block's output).

    forward(x [B, C, T, H, W], t [B], depth [B, 1, T, H, W]) -> (skip_residuals, mid_residual):
    run the copy as UNet3D.forward runs its encoder, with the hint added to the stem's output:

        emb = time_mlp(timestep_embedding(t, base_channels)),  h = stem(x) + hint(depth),
        f_0 = h,  f_i = down[i-1](h, emb) or down[i-1](h) (a Downsample),  m = mid(h, emb)

    and return [zero_convs[i](f_i) for each i] and mid_zero_conv(m).
    """

    def __init__(self, base: UNet3D, hint_hidden: int = 16) -> None:
        super().__init__()
        raise NotImplementedError("Task A2.2: copy the encoder, a DepthEncoder, the zero convs")

    def forward(self, x: Tensor, t: Tensor, depth: Tensor) -> tuple[list[Tensor], Tensor]:
        raise NotImplementedError("Task A2.2: the copy's features, each through its zero conv")


# ---- Task A2.3: the controlled model, base frozen (4 points) ---------------------------------


class ControlledUNet(nn.Module):
    """A frozen base steered by a control branch: attributes `base` and `control`.

    Every parameter of the base must have requires_grad False (an optimiser over the parameters
    that require grad then trains the control branch alone). forward(x, t, depth) calls
    control(x, t, depth) -> (skips, mid) and returns base(x, t, skip_residuals=skips,
    mid_residual=mid), which at initialisation equals base(x, t) exactly.
    """

    def __init__(self, base: UNet3D, control: nn.Module) -> None:
        super().__init__()
        raise NotImplementedError("Task A2.3: freeze the base, keep both")

    def forward(self, x: Tensor, t: Tensor, depth: Tensor) -> Tensor:
        raise NotImplementedError("Task A2.3: the control's residuals into the base's hook")


# ---- Task A2.4: edges on depth discontinuities (3 points) ------------------------------------


def edge_alignment(video: Tensor, depth: Tensor, threshold: float = 0.05,
                   radius: int = 0) -> Tensor:
    """The share of each clip's image gradient that lies on the depth map's edges: [B].

    video [B, C, T, H, W], depth [B, 1, T, H, W] (positive). Per frame, with u = 1 / depth:

        edge(p) = |u(y, x-1) - 2 u(y, x) + u(y, x+1)| > threshold · u(y, x)
                  or the same along the column (rows y-1, y, y+1);
                  pixels in the first or last column (row) use only the other direction
        N = edge dilated by a (2·radius + 1)^2 square (N = edge when radius = 0)
        g(p) = sqrt(Σ_c (I_c(y, x+1) - I_c(y, x))² + (I_c(y+1, x) - I_c(y, x))²),
               a difference past the last column or row counting 0
        A = Σ_{t,p} g N / Σ_{t,p} g,   0 for a clip with no gradient at all.
    """
    raise NotImplementedError("Task A2.4: disparity's second differences, the gradient, "
                              "the share")

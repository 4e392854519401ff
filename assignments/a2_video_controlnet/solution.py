"""Assignment A2, the reference: a video ControlNet steering a frozen UNet3D with a depth clip,
and the edge-alignment measure that tells whether samples keep the room's structure."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from vdlite.conv3d import Conv3d
from vdlite.unet3d import ResBlock3d, UNet3D, timestep_embedding

# ---- Task A2.1: the depth encoder, with a zero-initialised output (3 points) -----------------


def zero_conv(channels: int) -> nn.Module:
    """A 1x1x1 conv C -> C with zero weight and bias."""
    conv = Conv3d(channels, channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class DepthEncoder(nn.Module):
    """Depth [B, 1, T, H, W] -> hint [B, channels, T, H, W]: two (2+1)D stages (spatial (1,3,3)
    conv, SiLU, temporal (3,1,1) conv padded one frame each side, SiLU), then a zero conv."""

    def __init__(self, channels: int, hidden: int = 16) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            Conv3d(1, hidden, (1, 3, 3), padding=(0, 1, 1)), nn.SiLU(),
            Conv3d(hidden, hidden, (3, 1, 1), padding=(1, 0, 0)), nn.SiLU(),
            Conv3d(hidden, hidden, (1, 3, 3), padding=(0, 1, 1)), nn.SiLU(),
            Conv3d(hidden, hidden, (3, 1, 1), padding=(1, 0, 0)), nn.SiLU(),
        )
        self.out = Conv3d(hidden, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, depth: Tensor) -> Tensor:
        return self.out(self.layers(depth))


# ---- Task A2.2: the ControlNet, a trainable copy of the encoder (4 points) -------------------


class ControlNet3D(nn.Module):
    """Copies of base's time_mlp, stem, down and mid; a DepthEncoder added to the stem's output;
    one zero conv per skip (encoder order) and one for the middle block's output."""

    def __init__(self, base: UNet3D, hint_hidden: int = 16) -> None:
        super().__init__()
        self.base_channels = base.base_channels
        self.time_mlp = copy.deepcopy(base.time_mlp)
        self.stem = copy.deepcopy(base.stem)
        self.down = copy.deepcopy(base.down)
        self.mid = copy.deepcopy(base.mid)
        for part in (self.time_mlp, self.stem, self.down, self.mid):
            part.requires_grad_(True)  # a frozen base's copies come frozen: these must train
        self.hint = DepthEncoder(base.base_channels, hint_hidden)
        channels = [base.base_channels]
        for layer in base.down:  # a ResBlock3d's output width is its second conv's
            conv = layer.conv2 if isinstance(layer, ResBlock3d) else layer.conv
            channels.append(_out_channels(conv))
        self.zero_convs = nn.ModuleList(zero_conv(c) for c in channels)
        self.mid_zero_conv = zero_conv(channels[-1])

    def forward(self, x: Tensor, t: Tensor, depth: Tensor) -> tuple[list[Tensor], Tensor]:
        emb = self.time_mlp(timestep_embedding(t, self.base_channels).to(x.dtype))
        h = self.stem(x) + self.hint(depth)
        features = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock3d) else layer(h)
            features.append(h)
        for layer in self.mid:
            h = layer(h, emb)
        return [z(f) for z, f in zip(self.zero_convs, features, strict=True)], self.mid_zero_conv(h)


def _out_channels(conv: nn.Module) -> int:
    """Output channels of a Conv3d, or of a PseudoConv3d (its temporal half's)."""
    return conv.out_channels if hasattr(conv, "out_channels") else conv.temporal.out_channels


# ---- Task A2.3: the controlled model, base frozen (4 points) ---------------------------------


class ControlledUNet(nn.Module):
    """base(x, t, skip_residuals, mid_residual) with the residuals from control(x, t, depth);
    the base's parameters never require grad."""

    def __init__(self, base: UNet3D, control: nn.Module) -> None:
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.control = control

    def forward(self, x: Tensor, t: Tensor, depth: Tensor) -> Tensor:
        skips, mid = self.control(x, t, depth)
        return self.base(x, t, skip_residuals=skips, mid_residual=mid)


# ---- Task A2.4: edges on depth discontinuities (3 points) ------------------------------------


def depth_edges(depth: Tensor, threshold: float = 0.05) -> Tensor:
    """[B, 1, T, H, W] -> bool [B, T, H, W]: |u(p-1) - 2u(p) + u(p+1)| > threshold · u(p) along
    a row or a column, u = 1/depth."""
    u = 1 / depth[:, 0]
    edges = torch.zeros_like(u, dtype=torch.bool)
    second_x = (u[..., :-2] - 2 * u[..., 1:-1] + u[..., 2:]).abs()
    second_y = (u[..., :-2, :] - 2 * u[..., 1:-1, :] + u[..., 2:, :]).abs()
    edges[..., 1:-1] |= second_x > threshold * u[..., 1:-1]
    edges[..., 1:-1, :] |= second_y > threshold * u[..., 1:-1, :]
    return edges


def edge_alignment(video: Tensor, depth: Tensor, threshold: float = 0.05,
                   radius: int = 0) -> Tensor:
    """[B] share of each clip's forward-difference gradient magnitude on depth edges dilated by
    a (2 radius + 1)^2 square; 0 for a clip without gradient."""
    near = depth_edges(depth, threshold).float()
    if radius:
        near = F.max_pool3d(near, (1, 2 * radius + 1, 2 * radius + 1), stride=1,
                            padding=(0, radius, radius))
    dx = F.pad(video[..., 1:] - video[..., :-1], (0, 1))
    dy = F.pad(video[..., 1:, :] - video[..., :-1, :], (0, 0, 0, 1))
    g = (dx ** 2 + dy ** 2).sum(1).sqrt()  # [B, T, H, W]
    total = g.sum(dim=(1, 2, 3))
    on = (g * (near > 0).to(g.dtype)).sum(dim=(1, 2, 3))
    return torch.where(total > 0, on / total.clamp(min=1e-30), torch.zeros_like(total))

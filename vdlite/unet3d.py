"""A small 3D U-Net denoiser for video diffusion, built on `vdlite.conv3d`.

The network maps a noisy clip and its timestep to a prediction of the same shape:

    UNet3D(x_t [B, C, T, H, W], t [B]) -> [B, C, T, H, W]

It is the image-diffusion U-Net with every convolution made three-dimensional:

- `conv="full"`: each 3x3 convolution becomes 3x3x3, mixing space and time at once;
- `conv="pseudo"`: each becomes a (1,3,3) spatial conv followed by a (3,1,1) temporal conv
  whose weights start as the identity, so at initialisation the network is an image model
  applied frame by frame (Make-A-Video's factorisation);
- `conv="spatial"`: only the (1,3,3) spatial conv -- an image model, frames never mix.

The full-3D network normalises over whole clips; the other two normalise each frame alone
(`GroupNorm3d`), so that the pseudo-3D network at initialisation is exactly the image model.

Resolution halves in space at each level (and in time too when `temporal_downsample=True`),
with skip connections from the encoder to the decoder at each resolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from vdlite.conv3d import Conv3d, PseudoConv3d, _check_size
from vdlite.diffusion import timestep_embedding  # noqa: F401  (also importable from here)

CONV_KINDS = ("full", "pseudo", "spatial")


def conv3x3(in_ch: int, out_ch: int, kind: str) -> nn.Module:
    """The U-Net's 3x3 convolution, made 3D in one of three ways (see the module docstring)."""
    if kind == "full":
        return Conv3d(in_ch, out_ch, 3, padding=1)
    if kind == "pseudo":
        return PseudoConv3d(in_ch, out_ch, 3)
    if kind == "spatial":
        return Conv3d(in_ch, out_ch, (1, 3, 3), padding=(0, 1, 1))
    raise ValueError(f"conv must be one of {CONV_KINDS}, got {kind!r}")


def depth_to_space(x: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C*p*p, T, H, W] -> [B, C, T, H*p, W*p]: channel (c, i, j) becomes pixel (i, j)."""
    if p == 1:
        return x
    b, cpp, t, h, w = x.shape
    x = x.reshape(b, cpp // (p * p), p, p, t, h, w)
    return x.permute(0, 1, 4, 5, 2, 6, 3).reshape(b, cpp // (p * p), t, h * p, w * p)


def zero_init(conv: nn.Module) -> nn.Module:
    """Make a conv output zero at initialisation while it can still learn.

    For a pseudo-3D conv only the spatial half is zeroed: zeroing both halves of a product
    would leave each with a zero gradient (w_t · w_s has gradient w_s wrt w_t and w_t wrt
    w_s), and the layer would never leave zero.
    """
    target = conv.spatial if isinstance(conv, PseudoConv3d) else conv
    for p in target.parameters():
        nn.init.zeros_(p)
    return conv


class GroupNorm3d(nn.GroupNorm):
    """GroupNorm over (C/groups, T, H, W) per clip, or over (C/groups, H, W) per frame.

    `per_frame=True` folds time into the batch, so statistics never mix frames: the network
    then treats each frame as an image wherever its convolutions do too. With it, a pseudo-3D
    U-Net whose temporal convs are the identity is exactly an image U-Net run frame by frame.
    Up to 8 groups. x: [B, C, T, H, W] -> same shape.
    """

    def __init__(self, channels: int, per_frame: bool) -> None:
        super().__init__(math.gcd(8, channels), channels)
        self.per_frame = per_frame

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.per_frame:
            return super().forward(x)
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)  # [B*T, C, H, W]
        return super().forward(frames).reshape(b, t, c, h, w).transpose(1, 2)


class ResBlock3d(nn.Module):
    """Residual block: GroupNorm -> SiLU -> conv, add the timestep, GroupNorm -> SiLU -> conv.

    y = skip(x) + conv2(SiLU(GN(conv1(SiLU(GN(x))) + W_t emb))).  x: [B, Cin, T, H, W],
    emb: [B, E] -> y: [B, Cout, T, H, W].  The last conv starts at zero, so each block begins
    as the identity on its skip path (a common trick for stable early training).
    """

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, conv: str) -> None:
        super().__init__()
        per_frame = conv != "full"
        self.norm1 = GroupNorm3d(in_ch, per_frame)
        self.conv1 = conv3x3(in_ch, out_ch, conv)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = GroupNorm3d(out_ch, per_frame)
        self.conv2 = zero_init(conv3x3(out_ch, out_ch, conv))
        self.skip = nn.Identity() if in_ch == out_ch else Conv3d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None, None]  # [B, Cout, 1, 1, 1] broadcast
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    """Halve H and W (and T if `time`) with a strided 3x3(x3) convolution."""

    def __init__(self, ch: int, time: bool) -> None:
        super().__init__()
        kt = 3 if time else 1
        self.conv = Conv3d(ch, ch, (kt, 3, 3), stride=(2 if time else 1, 2, 2),
                           padding=(kt // 2, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double H and W (and T if `time`) by nearest-neighbour repetition, then a conv."""

    def __init__(self, ch: int, time: bool, conv: str) -> None:
        super().__init__()
        self.scale = (2.0 if time else 1.0, 2.0, 2.0)
        self.conv = conv3x3(ch, ch, conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.scale, mode="nearest"))


class UNet3D(nn.Module):
    """A 3D U-Net that predicts noise (or v) for a clip.

    Args:
        in_channels: video channels C (3 for RGB).
        base_channels: channels at full resolution; level i has base * channel_mults[i].
        channel_mults: one entry per resolution level; len-1 downsamplings.
        num_res_blocks: residual blocks per level on the way down (one more on the way up),
            at least 1 (with none, the encoder would never widen to channel_mults).
        conv: "full" (3x3x3), "pseudo" (2D then 1D) or "spatial" (2D only; an image model).
        temporal_downsample: also halve T at each downsampling (T must be divisible by
            2^(levels-1)).
        patch_size: p > 1 embeds non-overlapping p x p patches of each frame as tokens with a
            (1, p, p) stride-p convolution, runs the U-Net at (H/p, W/p), and turns each
            output position back into p x p pixels (depth-to-space): p^2 times less work.
        gradient_checkpointing: in training, keep only each block's input and recompute its
            activations in the backward pass (`torch.utils.checkpoint`), trading one more
            forward pass for the memory of every activation inside the blocks (lesson 09a).
            An attribute too: set `model.gradient_checkpointing = True` on a built model.

    Shapes: x [B, C, T, H, W] with H, W divisible by p * 2^(levels-1); t [B] integer timesteps.
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2, 2),
        num_res_blocks: int = 1,
        conv: str = "full",
        temporal_downsample: bool = False,
        patch_size: int = 1,
        gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if conv not in CONV_KINDS:
            raise ValueError(f"conv must be one of {CONV_KINDS}, got {conv!r}")
        for name, value in (("in_channels", in_channels), ("base_channels", base_channels),
                            ("num_res_blocks", num_res_blocks), ("patch_size", patch_size)):
            _check_size("UNet3D", name, value)
        if not channel_mults:
            raise ValueError(f"UNet3D: channel_mults must be a non-empty sequence of positive "
                             f"ints (one per level), got {channel_mults!r}")
        for i, mult in enumerate(channel_mults):
            _check_size("UNet3D", f"channel_mults[{i}]", mult)
        self.config = dict(in_channels=in_channels, base_channels=base_channels,
                           channel_mults=tuple(channel_mults), num_res_blocks=num_res_blocks,
                           conv=conv, temporal_downsample=temporal_downsample,
                           patch_size=patch_size, gradient_checkpointing=gradient_checkpointing)
        self.gradient_checkpointing = gradient_checkpointing
        self.levels = len(channel_mults)
        self.temporal_downsample = temporal_downsample
        emb_dim = 4 * base_channels
        self.base_channels = base_channels
        self.time_mlp = nn.Sequential(
            nn.Linear(base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.patch_size = patch_size
        if patch_size == 1:
            self.stem = conv3x3(in_channels, base_channels, conv)
        else:
            self.stem = Conv3d(in_channels, base_channels, (1, patch_size, patch_size),
                               stride=(1, patch_size, patch_size))

        chans = [base_channels * m for m in channel_mults]
        self.down = nn.ModuleList()
        skip_chans = [base_channels]
        ch = base_channels
        for i, c in enumerate(chans):
            for _ in range(num_res_blocks):
                self.down.append(ResBlock3d(ch, c, emb_dim, conv))
                ch = c
                skip_chans.append(ch)
            if i < self.levels - 1:
                self.down.append(Downsample(ch, temporal_downsample))
                skip_chans.append(ch)

        self.mid = nn.ModuleList([ResBlock3d(ch, ch, emb_dim, conv),
                                  ResBlock3d(ch, ch, emb_dim, conv)])

        self.up = nn.ModuleList()
        for i, c in reversed(list(enumerate(chans))):
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock3d(ch + skip_chans.pop(), c, emb_dim, conv))
                ch = c
            if i > 0:
                self.up.append(Upsample(ch, temporal_downsample, conv))

        self.out_norm = GroupNorm3d(ch, per_frame=conv != "full")
        self.out_conv = zero_init(conv3x3(ch, in_channels * patch_size**2, conv))

    def check_input(self, x: torch.Tensor, t: torch.Tensor) -> None:
        """Raise a clear error for inputs the network cannot process."""
        if x.ndim != 5:
            raise ValueError(f"x must be a video [B, C, T, H, W], got shape {tuple(x.shape)}")
        if x.shape[1] != self.config["in_channels"]:
            raise ValueError(f"x must have {self.config['in_channels']} channels, "
                             f"got {x.shape[1]}")
        factor = self.patch_size * 2 ** (self.levels - 1)
        if x.shape[3] % factor or x.shape[4] % factor:
            raise ValueError(f"H and W must be divisible by {factor}, got {tuple(x.shape[3:])}")
        if self.temporal_downsample and x.shape[2] % 2 ** (self.levels - 1):
            raise ValueError(f"T must be divisible by {2 ** (self.levels - 1)} with "
                             "temporal_downsample, "
                             f"got T={x.shape[2]}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must have shape [B]=[{x.shape[0]}], got {tuple(t.shape)}")

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                skip_residuals: Sequence[torch.Tensor] | None = None,
                mid_residual: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, C, T, H, W], t [B] -> prediction [B, C, T, H, W].

        `skip_residuals` (one tensor per skip connection, in the encoder's order: the stem's
        output, then each down layer's) and `mid_residual` (the middle block's output shape)
        are added to the skips and to the middle block's output before the decoder reads
        them: the hook through which a ControlNet (`vdlite.controlnet`) steers the network.
        """
        self.check_input(x, t)
        emb = self.time_mlp(timestep_embedding(t, self.base_channels).to(x.dtype))  # [B, E]
        h = self.stem(x)  # [B, base, T, H, W]
        skips = [h]
        for layer in self.down:
            h = self.block(layer, *((h, emb) if isinstance(layer, ResBlock3d) else (h,)))
            skips.append(h)
        for layer in self.mid:
            h = self.block(layer, h, emb)
        if skip_residuals is not None:
            if len(skip_residuals) != len(skips):
                raise ValueError(f"skip_residuals must hold {len(skips)} tensors (one per skip "
                                 f"connection), got {len(skip_residuals)}")
            skips = [s + r for s, r in zip(skips, skip_residuals, strict=True)]
        if mid_residual is not None:
            h = h + mid_residual
        for layer in self.up:
            if isinstance(layer, ResBlock3d):
                h = self.block(layer, torch.cat([h, skips.pop()], dim=1), emb)
            else:
                h = self.block(layer, h)
        h = self.out_conv(F.silu(self.out_norm(h)))  # [B, C*p*p, T, H/p, W/p]
        return depth_to_space(h, self.patch_size)  # [B, C, T, H, W]

    def block(self, layer: nn.Module, *args: torch.Tensor) -> torch.Tensor:
        """`layer(*args)`; with `gradient_checkpointing`, while training with gradients on, its
        activations are not kept but recomputed from `args` in the backward pass."""
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(layer, *args, use_reentrant=False)
        return layer(*args)

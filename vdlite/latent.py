"""Latent video diffusion: a denoiser that works on a frozen VAE's latents (lesson 06).

Every large video model denoises a compressed clip, not pixels: the VAE of `vdlite.vae` turns
a clip [B, 3, 1 + 4k, H, W] into latents [B, c, 1 + k, H/f, W/f], the denoiser learns to
remove noise from those, and sampling ends with one decode. `LatentDiffusion` holds both, so a
checkpoint of it is self-contained (the VAE's weights travel with the denoiser's):

    to_latent(x) = scale · mean of q(z | x)      (the encoder's mean, no sampling)
    to_pixels(z) = clamp(decode(z / scale), -1, 1)

`scale` makes the latents' standard deviation about 1, the scale the noise schedule assumes
(Stable Diffusion's 0.18215 is the same idea); `train` measures it on the first batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LatentDiffusion(nn.Module):
    """A denoiser on the latents of a frozen VAE.

    forward(z_t, t, *cond) = denoiser(z_t, t, *cond), on scaled latents z [B, c, t, h, w]."""

    def __init__(self, vae: nn.Module, denoiser: nn.Module) -> None:
        super().__init__()
        self.vae = vae.requires_grad_(False).eval()
        self.denoiser = denoiser
        self.register_buffer("scale", torch.ones(()))

    @property
    def text_encoder(self):
        return getattr(self.denoiser, "text_encoder", None)

    def train(self, mode: bool = True) -> LatentDiffusion:
        super().train(mode)
        self.vae.eval()  # the VAE stays frozen and in eval mode
        return self

    def forward(self, z_t: Tensor, t: Tensor, *cond) -> Tensor:
        return self.denoiser(z_t, t, *cond)

    @torch.no_grad()
    def to_latent(self, x: Tensor) -> Tensor:
        """Clips [B, 3, T, H, W] in [-1, 1] -> scaled latents [B, c, t, H/f, W/f]."""
        return self.vae.encode(x).mean * self.scale

    @torch.no_grad()
    def to_pixels(self, z: Tensor) -> Tensor:
        """Scaled latents -> clips in [-1, 1]."""
        return self.vae.decode(z / self.scale).clamp(-1, 1)

    @torch.no_grad()
    def set_scale(self, x: Tensor) -> float:
        """scale = 1 / std of the unscaled latents of the clips x; returns it."""
        self.scale.fill_(1.0)
        std = self.to_latent(x).float().std().item()
        self.scale.fill_(1.0 / max(std, 1e-6))
        return self.scale.item()

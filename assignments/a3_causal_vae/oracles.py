"""What the graded tests of A3 compare with, computed another way than the tasks ask: tiny
untrained VAEs in float64, the flicker ratio through the error's lag-1 autocovariance, and
which frames a latent frame reads by perturbing one frame at a time."""

import torch
from torch import Tensor

from vdlite.vae import CausalVAE, FrameVAE


def tiny_vae(kind: str, seed: int, **options) -> CausalVAE:
    """An untrained float64 VAE at spatial factor 4, 4 base and 2 latent channels: "frame"
    (FrameVAE) or "causal" (CausalVAE, with `options` such as time_kernel or pad_mode)."""
    torch.manual_seed(seed)
    if kind == "frame":
        return FrameVAE(base_channels=4, latent_channels=2, spatial_factor=4).double().eval()
    return CausalVAE(base_channels=4, latent_channels=2, spatial_factor=4,
                     **options).double().eval()


def ratio_by_autocovariance(video: Tensor, recon: Tensor) -> float:
    """Σ(Δe)² / (2 Σ e'²) with e' = e - mean_t e, written as 1 - (S1 + (e'_0² + e'_last²)/2) / S0
    (S0 = Σ_t e'_t², S1 = Σ_t e'_t e'_{t+1}), since Σ(Δe')² = 2 S0 - e'_0² - e'_last² - 2 S1."""
    e = (recon.double() - video.double()).movedim(2, -1).reshape(-1, video.shape[2])  # [N, T]
    e = e - e.mean(dim=1, keepdim=True)
    s0 = e.pow(2).sum()
    if s0 == 0:
        return 0.0
    s1 = (e[:, 1:] * e[:, :-1]).sum()
    ends = e[:, 0].pow(2).sum() + e[:, -1].pow(2).sum()
    return (1 - (s1 + ends / 2) / s0).item()


@torch.no_grad()
def frames_read(encode, clip_shape: tuple, seed: int = 0) -> Tensor:
    """[t, T] bool: latent frame i of encode(x) changes when input frame τ alone changes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(clip_shape, generator=g, dtype=torch.float64)
    base = encode(x)
    rows = []
    for tau in range(clip_shape[2]):
        y = x.clone()
        y[:, :, tau] += torch.randn(y[:, :, tau].shape, generator=g, dtype=torch.float64)
        rows.append((encode(y) - base).abs().amax(dim=(0, 1, 3, 4)) > 1e-12)
    return torch.stack(rows, dim=1)

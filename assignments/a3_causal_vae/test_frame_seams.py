"""Task A3.2: seams from a per-frame VAE. Untrained float64 VAEs (oracles.tiny_vae) reconstruct
a still clip with a little independent noise in every frame (as a camera's sensor adds); the
flicker is measured against the clean clip. Against vdlite's encode/decode and the
autocovariance ratio (1e-12), then the measured order, seeded."""

import pytest
import torch

from assignments.a3_causal_vae.oracles import ratio_by_autocovariance, tiny_vae


def still_clip(seed, frames=25, sigma=0.05):
    """(clean, noisy): one random image [3, 3, 12, 8] held for `frames` frames, and the same
    with independent Gaussian noise of std sigma in every frame."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(3, 3, 1, 12, 8, generator=g, dtype=torch.float64) * 2 - 1
    clean = image.expand(-1, -1, frames, -1, -1)
    return clean, clean + sigma * torch.randn(clean.shape, generator=g, dtype=torch.float64)


@pytest.mark.points(1)
def test_reconstruction_flicker_against_vdlite(impl):
    clean, noisy = still_clip(30, frames=13)
    for vae in (tiny_vae("frame", 31), tiny_vae("causal", 32, tied_upsample=True)):
        with torch.no_grad():
            expected = ratio_by_autocovariance(clean, vae.decode(vae.encode(noisy).mean))
        got = impl.reconstruction_flicker(vae, clean, noisy)
        assert abs(got - expected) < 1e-12, f"{type(vae).__name__}: {got} != {expected}"


@pytest.mark.points(2)
def test_frame_vae_flickers_white_causal_vae_does_not(impl):
    """Three seeds. The frame VAE's error is about white (ratio near 1); the causal VAE
    (tied time upsampling, replicate padding) reads each latent's frames together, and its
    error is correlated in time (ratio under 0.45). On the clean still clip both are still."""
    for seed in range(3):
        clean, noisy = still_clip(40 + seed)
        frame = impl.reconstruction_flicker(tiny_vae("frame", seed), clean, noisy)
        causal = impl.reconstruction_flicker(
            tiny_vae("causal", seed, tied_upsample=True), clean, noisy)
        assert frame > 0.8 and causal < 0.45, f"seed {seed}: frame {frame:.3f}, causal {causal:.3f}"
        for vae in (tiny_vae("frame", seed), tiny_vae("causal", seed, tied_upsample=True)):
            with torch.no_grad():
                recon = vae.decode(vae.encode(clean).mean)
            assert impl.error_change(clean, recon).max() < 1e-24, (
                f"{type(vae).__name__} on an exactly still clip should be still")

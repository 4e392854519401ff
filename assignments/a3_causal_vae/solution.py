"""Graduate question A3, answered: why a per-frame VAE flickers, where chunking leaves seams, and
why a video VAE is causal in time."""

from collections.abc import Callable

import torch
from torch import Tensor

from vdlite.vae import CausalVAE


# ---- A3.1: a flicker measure ------------------------------------------------------------
def error_change(video: Tensor, recon: Tensor) -> Tensor:
    """Task A3.1a: with e = recon - video, the mean over (B, C, H, W) of (e[t+1] - e[t])².
    [B, C, T, H, W] twice -> [T-1]."""
    e = recon - video
    return (e[:, :, 1:] - e[:, :, :-1]).pow(2).mean(dim=(0, 1, 3, 4))


def flicker_ratio(video: Tensor, recon: Tensor) -> float:
    """Task A3.1b: Σ_t ‖e[t+1] - e[t]‖² / (2 Σ_t ‖e[t] - ē‖²), ē the mean of e over time;
    0.0 when the error does not change in time (the denominator is 0)."""
    e = (recon - video).double()
    fluctuation = (e - e.mean(dim=2, keepdim=True)).pow(2).sum()
    if fluctuation == 0:
        return 0.0
    return ((e[:, :, 1:] - e[:, :, :-1]).pow(2).sum() / (2 * fluctuation)).item()


# ---- A3.2: seams from a per-frame VAE ---------------------------------------------------
@torch.no_grad()
def reconstruction_flicker(vae: CausalVAE, clean: Tensor, noisy: Tensor) -> float:
    """Task A3.2: flicker_ratio of vae's reconstruction of `noisy` (the posterior mean,
    decoded) against the `clean` clip.  clean, noisy [B, 3, T, H, W] -> float."""
    recon = vae.decode(vae.encode(noisy).mean)
    return flicker_ratio(clean, recon)


# ---- A3.3: seams at chunk boundaries ----------------------------------------------------
def chunk_plan(frames: int, latents_per_chunk: int, factor: int = 4) -> list[tuple[int, int]]:
    """Task A3.3a: [(start, stop), ...] frame ranges: the first chunk 1 + factor·c frames, then
    factor·c frames each, the last one shorter if the clip ends; ValueError unless frames is
    1 + factor·k and latents_per_chunk >= 1."""
    if frames < 1 or (frames - 1) % factor:
        raise ValueError(f"frames must be 1 + {factor}k, got {frames}")
    if latents_per_chunk < 1:
        raise ValueError(f"latents_per_chunk must be >= 1, got {latents_per_chunk}")
    step = factor * latents_per_chunk
    first = min(frames, 1 + step)
    return [(0, first)] + [(t, min(t + step, frames)) for t in range(first, frames, step)]


def encode_in_chunks(vae: CausalVAE, x: Tensor, latents_per_chunk: int,
                     carry_cache: bool) -> Tensor:
    """Task A3.3b: the posterior mean of x, encoded chunk by chunk along chunk_plan.
    carry_cache=True: vae.encoder's layers over the chunks with one cache dict (== whole clip).
    carry_cache=False: each chunk is a clip of its own, the later ones led by the previous
    chunk's last frame (so they hold 1 + 4m frames), whose first latent frame is dropped.
    x [B, 3, 1 + 4k, H, W] -> [B, latent, 1 + k, H/s, W/s]."""
    plan = chunk_plan(x.shape[2], latents_per_chunk, vae.temporal_factor)
    if carry_cache:
        with torch.no_grad():
            return vae.encode_stream([x[:, :, a:b] for a, b in plan]).mean
    with torch.no_grad():
        means = [vae.encode(x[:, :, :plan[0][1]]).mean]
        means += [vae.encode(x[:, :, a - 1:b]).mean[:, :, 1:] for a, b in plan[1:]]
    return torch.cat(means, dim=2)


def damaged_latents(vae: CausalVAE, frames: int, latents_per_chunk: int) -> Tensor:
    """Task A3.3c: which latent frames encode_in_chunks(carry_cache=False) gets wrong: those
    whose receptive field (the earliest frame they read, by autograd) starts before the lead
    frame of their chunk.  -> [1 + k] bool."""
    s = vae.spatial_factor
    x = torch.randn(1, vae.in_channels, frames, s, s, dtype=next(vae.parameters()).dtype)
    jac = torch.autograd.functional.jacobian(lambda v: vae.encode(v).mean, x)
    t_out = jac.shape[2]
    reads = jac.abs().movedim((2, 7), (0, 1)).reshape(t_out, frames, -1).sum(-1) > 0
    earliest = reads.float().argmax(dim=1)  # [t_out]: the first frame each latent reads
    lead = torch.zeros(t_out, dtype=torch.long)  # chunk 0 has no lead frame: nothing to damage
    factor = vae.temporal_factor
    for a, b in chunk_plan(frames, latents_per_chunk, factor)[1:]:
        lead[(a - 1) // factor + 1:(b - 1) // factor + 1] = a - 1
    return earliest < lead


def seam_score(video: Tensor, recon: Tensor, plan: list[tuple[int, int]]) -> float:
    """Task A3.3d: error_change averaged over the transitions into a chunk (t -> t+1 with
    t+1 the start of a chunk after the first), over its mean on all other transitions."""
    change = error_change(video, recon).double()
    boundary = torch.zeros_like(change, dtype=torch.bool)
    for a, _ in plan[1:]:
        boundary[a - 1] = True
    return (change[boundary].mean() / change[~boundary].mean()).item()


# ---- A3.4: why causal -------------------------------------------------------------------
@torch.no_grad()
def image_latent(vae: CausalVAE, image: Tensor) -> Tensor:
    """Task A3.4a: an image as a one-frame video: [B, 3, H, W] -> posterior mean [B, latent,
    H/s, W/s]."""
    return vae.encode(image.unsqueeze(2)).mean[:, :, 0]


def latest_frame_read(encode: Callable[[Tensor], Tensor], clip_shape: tuple) -> list[int]:
    """Task A3.4b: for each latent frame of encode(x) (x of clip_shape [B, C, T, H, W], the
    latent [B, C', t, h, w]), the last input frame it depends on, measured by autograd."""
    x = torch.randn(clip_shape, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(encode, x)  # [B, C', t, h, w, B, C, T, H, W]
    T, t_out = clip_shape[2], jac.shape[2]
    reads = jac.abs().movedim((2, 7), (0, 1)).reshape(t_out, T, -1).sum(-1) > 0  # [t, T]
    return [int(row.nonzero().max()) for row in reads]

"""Graduate question A3: why a per-frame VAE flickers, where chunking leaves seams, and why a
video VAE is causal in time.

Replace each `raise NotImplementedError(...)` with your code; README.md poses the question and
the tasks. Videos are [B, C, T, H, W]; VAEs are vdlite's `CausalVAE` and `FrameVAE`. Check
yourself with `python -m assignments.grade a3_causal_vae`.
"""

from collections.abc import Callable

import torch  # noqa: F401
from torch import Tensor

from vdlite.vae import CausalVAE


def error_change(video: Tensor, recon: Tensor) -> Tensor:
    """Task A3.1a: how much the error changes at each transition t -> t+1.

    With e = recon - video, the mean over (B, C, H, W) of (e[t+1] - e[t])².
    video, recon [B, C, T, H, W] -> [T-1], in their dtype.
    """
    raise NotImplementedError("Task A3.1: the change of the error recon - video, per transition")


def flicker_ratio(video: Tensor, recon: Tensor) -> float:
    """Task A3.1b: the von Neumann ratio of the reconstruction error, in float64.

    With e = recon - video and ē its mean over time (per b, c, h, w):

        Σ_t ‖e[t+1] - e[t]‖²  /  (2 Σ_t ‖e[t] - ē‖²)

    (sums over the transitions and frames and everything else). About 1 for an error
    independent from frame to frame, 1 - ρ for an AR(1) error of correlation ρ, near 0 for one
    that drifts slowly, above 1 for one that alternates. 0.0 when the denominator is 0 (the
    error does not change in time). -> a Python float.
    """
    raise NotImplementedError("Task A3.1: the temporal change of the error over twice its "
                              "fluctuation about its mean in time")


def reconstruction_flicker(vae: CausalVAE, clean: Tensor, noisy: Tensor) -> float:
    """Task A3.2: flicker_ratio of vae's reconstruction of `noisy` against `clean`.

    The reconstruction is vae.decode(vae.encode(noisy).mean) (the posterior mean, no sampling,
    no gradients). clean, noisy [B, 3, T, H, W] -> float.
    """
    raise NotImplementedError("Task A3.2: reconstruct the noisy clip, measure against the clean")


def chunk_plan(frames: int, latents_per_chunk: int, factor: int = 4) -> list[tuple[int, int]]:
    """Task A3.3a: the frame ranges [(start, stop), ...] a long clip is encoded in.

    With c = latents_per_chunk: the first chunk is frames [0, 1 + factor·c) (1 + c latent
    frames), each later one factor·c frames (c latent frames), the last one shorter where the
    clip ends (still a multiple of factor). The ranges tile [0, frames). A ValueError unless
    frames = 1 + factor·k (k >= 0) and c >= 1.
    """
    raise NotImplementedError("Task A3.3: 1 + factor·c frames first, then factor·c at a time")


def encode_in_chunks(vae: CausalVAE, x: Tensor, latents_per_chunk: int,
                     carry_cache: bool) -> Tensor:
    """Task A3.3b: the posterior mean of x, encoded along chunk_plan(T, c, vae.temporal_factor).

    carry_cache=True: the chunks in order through `vae.encode_stream(pieces)`, which carries each
    causal conv's cache from one chunk to the next; equal to the whole clip.
    carry_cache=False: every chunk is encoded by vae.encode as a clip of its own (its causal
    padding starts afresh); a later chunk [a, b) is led by the previous chunk's last frame, so
    vae.encode gets frames [a-1, b) (1 + 4m of them) and its first latent frame, which stands for
    frame a-1 alone, is dropped.
    x [B, 3, 1 + 4k, H, W] -> [B, latent, 1 + k, H/s, W/s]; no gradients needed.
    """
    raise NotImplementedError("Task A3.3: the chunks through the encoder, with or without the "
                              "cache")


def damaged_latents(vae: CausalVAE, frames: int, latents_per_chunk: int) -> Tensor:
    """Task A3.3c: which latent frames encode_in_chunks(..., carry_cache=False) gets wrong.

    Predict it, do not diff it: latent frame t is wrong exactly when it belongs to a chunk
    after the first and reads (in the whole clip) a frame before that chunk's lead frame a-1.
    Find the earliest frame each latent frame of vae.encode reads on a clip of `frames`
    frames (autograd: the nonzero pattern of the Jacobian, or one-frame perturbations).
    -> [1 + k] bool.
    """
    raise NotImplementedError("Task A3.3: each latent frame's earliest frame against its "
                              "chunk's lead frame")


def seam_score(video: Tensor, recon: Tensor, plan: list[tuple[int, int]]) -> float:
    """Task A3.3d: how much more the error changes at chunk boundaries than elsewhere.

    With d = error_change(video, recon): the mean of d over the boundary transitions (t -> t+1
    where t+1 is the start of a chunk after the first) over the mean of d over all the other
    transitions. About 1 when the boundaries are like any other transition. -> float.
    """
    raise NotImplementedError("Task A3.3: error_change at the boundaries over the rest")


def image_latent(vae: CausalVAE, image: Tensor) -> Tensor:
    """Task A3.4a: an image encoded as a one-frame video: [B, 3, H, W] -> the posterior mean
    [B, latent, H/s, W/s] (no time axis)."""
    raise NotImplementedError("Task A3.4: an image is a clip of one frame")


def latest_frame_read(encode: Callable[[Tensor], Tensor], clip_shape: tuple) -> list[int]:
    """Task A3.4b: for each latent frame of encode(x), the last input frame it depends on.

    encode maps a float64 clip x of clip_shape [B, C, T, H, W] to a latent [B, C', t, h, w];
    measure it (autograd's Jacobian, or perturbing one frame at a time), do not assume it.
    -> a list of t ints.
    """
    raise NotImplementedError("Task A3.4: measure which frames each latent frame reads")

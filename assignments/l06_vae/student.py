"""Lesson 06a's exercises: the causal VAE's frame rule, causal convs, streaming, the KL.

Replace each `raise NotImplementedError(...)` with your code. Videos are [B, C, T, H, W];
conv weights are [O, C, kT, kH, kW] (out channels, in channels, kernel taps in T, H, W) with
odd kH and kW. Check yourself with `python -m assignments.grade l06_vae`.
"""

from collections.abc import Sequence

import torch  # noqa: F401
import torch.nn.functional as F  # noqa: F401
from torch import Tensor


def latent_frames(frames: int, factor: int = 4) -> int:
    """Task 06.1: how many latent frames a causal VAE makes of `frames` input frames.

        1 + factor·k frames  ->  1 + k latent frames    (k = 0, 1, 2, ...)

    The first frame is encoded alone; every later latent frame stands for `factor` frames.
    Any other count (including frames < 1) raises ValueError, and the message names the valid
    counts nearest to it, the one below and the one above (e.g. 48 frames, factor 4: "45 or
    49"); when frames < 1 there is none below, so name 1.
    """
    raise NotImplementedError("Task 06.1: 1 + (frames - 1) // factor, or a ValueError naming "
                              "the nearest valid counts")


def causal_pad(x: Tensor, frames: int, mode: str = "zeros") -> Tensor:
    """Task 06.2a: put `frames` frames in front of frame 0, none after.

    mode "zeros": zero frames; "replicate": copies of frame 0 (as if the clip had been still
    before it began). Any other mode: ValueError. frames may be 0.
    x: [B, C, T, H, W] -> [B, C, frames + T, H, W], the new frames first.
    """
    raise NotImplementedError("Task 06.2: `frames` zero frames or copies of frame 0, then x")


def causal_conv3d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride_t: int = 1,
                  mode: str = "zeros") -> Tensor:
    """Task 06.2b: a conv causal in time, with stride `stride_t` in time and 1 in H and W.

    Time is padded by causal_pad(x, kT - 1, mode); H and W get 'same' zero padding, kH // 2
    and kW // 2 on each side. With s = stride_t, output frame t reads input frames
    t·s - (kT - 1) ... t·s and none later:

        y[:, :, t] = bias + Σ_i weight[:, :, i] ⋆ x_pad[:, :, t·s + i],   x_pad = causal_pad(x)

    x: [B, C, T, H, W], weight: [O, C, kT, kH, kW], bias: [O] or None
    -> y: [B, O, ceil(T / s), H, W]. You may use F.conv3d (lesson 01 built it).
    """
    raise NotImplementedError("Task 06.2: causal_pad, then a conv with stride (s, 1, 1) and "
                              "padding (0, kH // 2, kW // 2)")


class CausalConvStream:
    """Task 06.3: causal_conv3d(·, weight, bias, stride_t, mode) on a clip that arrives in
    chunks along time.

    `stream = CausalConvStream(weight, bias, stride_t, mode)`, then `stream(chunk)` for each
    chunk [B, C, n, H, W] in order (n >= 1, any lengths). Each call returns exactly the output
    frames that the input frames seen so far complete and that no earlier call returned:
    output frame t needs input frame t·s (its newest), so after N frames the outputs
    0 ... (N - 1) // s have all been returned. A call may complete none; it then returns a
    tensor [B, O, 0, H, W]. Concatenating the returns along time gives causal_conv3d of the
    whole clip.

    Keep a cache between calls: how many frames you have seen, and the last P = kT - 1 frames of
    the padded clip (at the start, the causal padding itself: zeros, or copies of the first
    chunk's frame 0).
    """

    def __init__(self, weight: Tensor, bias: Tensor | None = None, stride_t: int = 1,
                 mode: str = "zeros") -> None:
        raise NotImplementedError("Task 06.3: keep the weights, a frame count and a cache")

    def __call__(self, chunk: Tensor) -> Tensor:
        raise NotImplementedError("Task 06.3: cache + chunk, the outputs they complete, "
                                  "update the cache")


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """Task 06.4: the KL divergence of the encoder's diagonal Gaussian from N(0, I), per clip.

        KL(N(μ, σ²) ‖ N(0, 1)) = ½ (μ² + σ² - 1 - log σ²)   for each latent number,

    with σ² = exp(logvar), summed over every dim but the first.
    mean, logvar: [B, ...] (the same shape) -> [B].
    """
    raise NotImplementedError("Task 06.4: 0.5 * (mean² + exp(logvar) - 1 - logvar), summed "
                              "per clip")


def latent_dependency(frames: int, kernel_sizes: Sequence[int],
                      strides: Sequence[int]) -> Tensor:
    """Task 06.5: which input frames each output frame of a stack of causal convs reads.

    Layer l is a causal (k_l, 1, 1) conv with time stride s_l (as causal_conv3d: k_l - 1
    padded frames in front). It maps n frames to ceil(n / s_l), and its output frame t reads
    its input frames t·s_l - (k_l - 1) ... t·s_l, those that exist (>= 0; a padded frame adds
    nothing new, since replicate padding only copies frame 0). With D_l[t, τ] for one layer
    ([n_out, n_in] bool), the stack is the boolean product D_L ··· D_2 D_1.

    -> dep: [T_out, frames] bool, dep[t, τ] = output frame t depends on input frame τ.
    """
    raise NotImplementedError("Task 06.5: one [n_out, n_in] matrix per layer, then their bool "
                              "product")

"""Lesson 06a's exercises, solved: the frame rule, causal convs, streaming, the KL, dependency."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def latent_frames(frames: int, factor: int = 4) -> int:
    """Task 06.1: 1 + factor·k frames -> 1 + k latent frames; any other count is a ValueError
    that names the nearest valid counts below and above (only 1 when frames < 1)."""
    if frames >= 1 and (frames - 1) % factor == 0:
        return 1 + (frames - 1) // factor
    if frames < 1:
        raise ValueError(f"a clip needs at least 1 frame, got {frames}: the nearest valid count "
                         f"is 1")
    below = 1 + (frames - 1) // factor * factor
    raise ValueError(f"clips have 1 + {factor}k frames (the first alone, then groups of "
                     f"{factor}); got {frames}: the nearest valid counts are {below} or "
                     f"{below + factor}")


def causal_pad(x: Tensor, frames: int, mode: str = "zeros") -> Tensor:
    """Task 06.2a: `frames` frames in front of x, zeros or copies of frame 0.
    [B, C, T, H, W] -> [B, C, frames + T, H, W]."""
    if mode == "zeros":
        before = x.new_zeros(*x.shape[:2], frames, *x.shape[3:])
    elif mode == "replicate":
        before = x[:, :, :1].expand(-1, -1, frames, -1, -1)
    else:
        raise ValueError(f"mode must be 'zeros' or 'replicate', got {mode!r}")
    return torch.cat([before, x], dim=2)


def _conv_padded(window: Tensor, weight: Tensor, bias: Tensor | None, stride_t: int) -> Tensor:
    """A conv of frames already padded in time: stride (stride_t, 1, 1), 'same' zeros in H, W."""
    kH, kW = weight.shape[3:]
    return F.conv3d(window, weight, bias, stride=(stride_t, 1, 1), padding=(0, kH // 2, kW // 2))


def causal_conv3d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride_t: int = 1,
                  mode: str = "zeros") -> Tensor:
    """Task 06.2b: output frame t reads input frames t·s - (kT-1) ... t·s only.
    x [B, C, T, H, W], weight [O, C, kT, kH, kW] -> [B, O, ceil(T / s), H, W]."""
    return _conv_padded(causal_pad(x, weight.shape[2] - 1, mode), weight, bias, stride_t)


class CausalConvStream:
    """Task 06.3: causal_conv3d on a clip that arrives in chunks, with a cache of P = kT-1
    frames; each call returns the output frames that the frames seen so far complete."""

    def __init__(self, weight: Tensor, bias: Tensor | None = None, stride_t: int = 1,
                 mode: str = "zeros") -> None:
        self.weight, self.bias, self.stride_t, self.mode = weight, bias, stride_t, mode
        self.pad = weight.shape[2] - 1
        self.seen = 0  # input frames received so far
        self.held: Tensor | None = None  # the last P padded frames, [B, C, P, H, W]

    def __call__(self, chunk: Tensor) -> Tensor:
        P, s = self.pad, self.stride_t
        if self.held is None:  # before the first frame: the causal padding
            self.held = causal_pad(chunk[:, :, :1], P, self.mode)[:, :, :P]
        frames = torch.cat([self.held, chunk], dim=2)  # padded frames seen ... now + P - 1
        seen, now = self.seen, self.seen + chunk.shape[2]
        self.seen, self.held = now, frames[:, :, frames.shape[2] - P:]
        first, last = -(-seen // s), (now - 1) // s  # output t needs input frame t·s
        if last < first:
            B, _, _, H, W = chunk.shape
            return chunk.new_zeros(B, self.weight.shape[0], 0, H, W)
        window = frames[:, :, first * s - seen:last * s - seen + P + 1]
        return _conv_padded(window, self.weight, self.bias, s)


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """Task 06.4: KL(N(mean, exp(logvar)) || N(0, I)) per clip, summed over everything but
    the batch: 0.5 Σ (mean² + exp(logvar) - 1 - logvar).  [B, ...] -> [B]."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1)


def latent_dependency(frames: int, kernel_sizes: Sequence[int],
                      strides: Sequence[int]) -> Tensor:
    """Task 06.5: dep[t, τ] = output frame t of a stack of causal (k, 1, 1) convs with time
    strides s reads input frame τ. Layer l maps n frames to ceil(n / s_l); its output frame t
    reads frames t·s_l - (k_l - 1) ... t·s_l (those >= 0). -> [T_out, frames] bool."""
    dep = torch.eye(frames, dtype=torch.long)
    n = frames
    for k, s in zip(kernel_sizes, strides, strict=True):
        out = -(-n // s)
        t = torch.arange(out)[:, None] * s  # the newest frame each output reads
        tau = torch.arange(n)[None, :]
        reads = (tau <= t) & (tau >= t - (k - 1))  # [out, n]
        dep = reads.long() @ dep
        n = out
    return dep > 0

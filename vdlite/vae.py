"""The temporal-causal video VAE, and the per-frame 2D VAE it replaces (lesson 06).

A latent video diffusion model denoises a compressed clip. `CausalVAE` compresses a clip
``[B, 3, T, H, W]`` by ``spatial_factor`` (8, or 4 for the course's small CPU sizes) in height
and width and by 4 in time, under the 1 + 4k rule:

    1 + 4k frames  ->  1 + k latent frames  ->  1 + 4k frames

The first frame is compressed alone, like an image; every later latent frame summarises four
frames. Every convolution is causal in time (`CausalConv3d`: its output frame t reads input
frames <= t), and time is halved by stride-2 causal convs, so latent frame i depends only on
input frames <= 4i. That makes the VAE streamable: `encode(x, chunk=c)` and `decode(z,
chunk=c)` process a long clip a few frames at a time, carrying each causal conv's last input
frames from one chunk to the next in a cache, and give the same result as the whole clip at
once. This only holds if no layer mixes statistics across time, so the normalisation here is
an RMS norm over the channels of each position (as Wan's VAE uses), not GroupNorm over
(C, T, H, W).

`FrameVAE` is the baseline: the same network with 2D kernels and no temporal compression, run
on each frame on its own, as an image VAE applied to video is. Nothing ties its frames
together except the input: where a pixel and everything near it stays still, a frame VAE is
a deterministic function of the same pixels and reconstructs it the same; where something
moves nearby, its errors in one frame owe nothing to the next. Lesson 06b measures both VAEs'
flicker: at the course's sizes, far from moving objects, the causal VAE's is the larger, with
or without `tied_upsample` (`lessons/measured/`).

Shapes (defaults: spatial_factor 8, latent_channels 4):
    encode: x [B, 3, 1 + 4k, H, W] -> Posterior(mean, logvar), each [B, 4, 1 + k, H/8, W/8]
    decode: z [B, 4, 1 + k, h, w]  -> [B, 3, 1 + 4k, 8h, 8w]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vdlite import backend
from vdlite.conv3d import CausalConv3d

__all__ = ["CausalVAE", "FrameVAE", "Posterior", "nearest_valid_frames"]

Cache = dict  # one entry per streaming layer: what it must remember from earlier chunks


def nearest_valid_frames(frames: int, factor: int) -> tuple[int, int]:
    """The frame counts 1 + factor·k just below and just above ``frames`` (equal if it fits)."""
    below = 1 + max(0, (frames - 1) // factor) * factor
    above = below if below >= frames else below + factor
    return below, above


def conv_fallback(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple, padding: tuple,
                  dilation: tuple) -> Tensor:
    """What the VAE's convs run where no Triton kernel does: PyTorch's own F.conv3d (oneDNN on
    the CPU, cuDNN on CUDA). The package's `vdlite.conv3d` computes the same (tested) as one
    explicit im2col GEMM, which is for reading: on the CPU it trained the course's small causal
    VAE 6.6x slower (60 steps, one thread: 41 s against 6.2 s). `kernels/bench/vae.py` swaps
    this for the im2col reference to time it."""
    return F.conv3d(x, weight, bias, stride, padding, dilation)


class StreamingCausalConv3d(CausalConv3d):
    """`CausalConv3d` that can also run on a clip chunk by chunk with a cache.

    With P = (kT-1)·d_T frames of causal padding and time stride s, output frame t reads the
    padded frames t·s ... t·s + P, i.e. input frames t·s - P ... t·s. So it can be computed as
    soon as input frame t·s has arrived, from the P frames before it. ``forward(x, cache)``
    keeps, per layer, how many frames it has seen and the last P of them (at the start, the
    padding: zeros, or copies of frame 0 for pad_mode="replicate"), and returns exactly the
    output frames that the frames seen so far complete. Chunks of any length give the same
    frames as the whole clip; a chunk that completes none returns a clip of 0 frames.
    """

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:  # type: ignore[override]
        if cache is None:  # on CUDA the Triton kernel, causal padding fused
            return super().forward(x)
        P, s = self.time_pad, self.stride[0]
        seen, held = cache.get(self, (0, None))
        if held is None:  # the first chunk: the causal padding
            held = self._time_padded(x[:, :, :1])[:, :, :P]
        frames = torch.cat([held, x], dim=2)  # padded frames seen, ..., seen + T + P - 1
        now = seen + x.shape[2]
        cache[self] = (now, frames[:, :, frames.shape[2] - P:])
        first, last = -(-seen // s), (now - 1) // s  # the output frames this chunk completes
        if last < first:
            return self._empty_output(x)
        start = first * s - seen  # padded frame first·s, as an index into `frames`
        return self._conv_padded(frames[:, :, start:last * s - seen + P + 1])

    def _time_padded(self, x: Tensor) -> Tensor:
        """x with its P = (kT-1)·d_T causal frames in front: zeros, or copies of frame 0."""
        mode = "replicate" if self.pad_mode == "replicate" else "constant"
        return F.pad(x, (0, 0, 0, 0, self.time_pad, 0), mode=mode)

    def _conv_padded(self, window: Tensor) -> Tensor:
        """The conv of frames already padded in time (H and W get their 'same' zeros here):
        the Triton kernel on CUDA, else ``conv_fallback``."""
        pad_hw = (0, self.pads[1][0], self.pads[2][0])
        def reference(window: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
            return conv_fallback(window, weight, bias, self.stride, pad_hw, self.dilation)

        return backend.conv3d(window, self.weight, self.bias, self.stride, pad_hw, reference,
                              self.dilation)

    def _reference(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """Without a kernel: the time padding, then ``conv_fallback`` (F.conv3d)."""
        return self._conv_padded(self._time_padded(x))

    def _empty_output(self, x: Tensor) -> Tensor:
        (_, (ph, _), (pw, _)), (_, kH, kW) = self.pads, self.kernel_size
        H, W = x.shape[3:]
        h = (H + 2 * ph - self.dilation[1] * (kH - 1) - 1) // self.stride[1] + 1
        w = (W + 2 * pw - self.dilation[2] * (kW - 1) - 1) // self.stride[2] + 1
        return x.new_zeros(x.shape[0], self.out_channels, 0, h, w)


class ChannelRMSNorm(nn.Module):
    """x / sqrt(mean_c x² + eps) · g, per position (b, t, h, w): no statistics across time or
    space, so a chunked clip is normalised exactly as the whole one.  [B, C, T, H, W] -> same."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(channels, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps) * self.scale


class ResBlock(nn.Module):
    """x -> skip(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))), causal convs (kT = time_kernel)."""

    def __init__(self, c_in: int, c_out: int, time_kernel: int, pad_mode: str) -> None:
        super().__init__()
        k = (time_kernel, 3, 3)
        self.norm1, self.norm2 = ChannelRMSNorm(c_in), ChannelRMSNorm(c_out)
        self.conv1 = StreamingCausalConv3d(c_in, c_out, k, pad_mode=pad_mode)
        self.conv2 = StreamingCausalConv3d(c_out, c_out, k, pad_mode=pad_mode)
        self.skip = (nn.Identity() if c_in == c_out
                     else StreamingCausalConv3d(c_in, c_out, 1, pad_mode=pad_mode))

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        skip = self.skip(x) if isinstance(self.skip, nn.Identity) else self.skip(x, cache)
        return skip + h


class TimeUpsample(nn.Module):
    """1 + k frames -> 1 + 2k: a causal (3, 1, 1) conv C -> 2C makes two frames of each frame,
    and the very first one is dropped, so frame 0 stays a single frame (the image).
    Output frame n reads input frames <= ceil(n / 2).  [B, C, T, H, W] -> [B, C, 2T - 1, H, W].

    The two halves of the conv make the two frames. Initialised independently (the default),
    they make two different frames of one still input, so a fresh decoder shimmers on a clip
    where nothing moves (lesson 06b measures it). ``tied=True`` starts the second half as a copy
    of the first: then a still clip decodes to still frames from the first step (with
    replicate padding), and training separates the halves only where frames must differ."""

    def __init__(self, channels: int, pad_mode: str, tied: bool = False) -> None:
        super().__init__()
        self.conv = StreamingCausalConv3d(channels, 2 * channels, (3, 1, 1), pad_mode=pad_mode)
        if tied:
            with torch.no_grad():
                self.conv.weight[channels:] = self.conv.weight[:channels]
                self.conv.bias[channels:] = self.conv.bias[:channels]

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        y = self.conv(x, cache)
        B, C2, T, H, W = y.shape
        y = y.reshape(B, 2, C2 // 2, T, H, W).permute(0, 2, 3, 1, 4, 5)  # frame t -> (t, a), (t, b)
        y = y.reshape(B, C2 // 2, 2 * T, H, W)
        if cache is None:
            return y[:, :, 1:]
        started = cache.get(self, False)
        cache[self] = started or T > 0
        return y if started else y[:, :, 1:]


class SpaceUpsample(nn.Module):
    """Nearest-neighbour ×2 in height and width, then a causal 3×3 conv (kT = time_kernel)."""

    def __init__(self, channels: int, time_kernel: int, pad_mode: str) -> None:
        super().__init__()
        self.conv = StreamingCausalConv3d(channels, channels, (time_kernel, 3, 3),
                                          pad_mode=pad_mode)

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        x = x.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)
        return self.conv(x, cache)


@dataclass
class Posterior:
    """The encoder's diagonal Gaussian q(z | x) = N(mean, exp(logvar)), each [B, C, t, h, w]."""

    mean: Tensor
    logvar: Tensor

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """z = mean + exp(logvar / 2) · ε,  ε ~ N(0, I) (reparameterised: gradients flow)."""
        device = self.mean.device if generator is None else generator.device
        noise = torch.randn(self.mean.shape, generator=generator, device=device,
                            dtype=self.mean.dtype).to(self.mean.device)
        return self.mean + torch.exp(0.5 * self.logvar) * noise

    def kl(self) -> Tensor:
        """KL(q ‖ N(0, I)) per clip, summed over the latent: 0.5 Σ (mean² + var - 1 - logvar).
        -> [B]"""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1 - self.logvar).flatten(1).sum(1)


class CausalVAE(nn.Module):
    """The temporal-causal video VAE: ×``spatial_factor`` in H and W, ×``temporal_factor`` in time.

    Encoder: a causal 3×3×3 conv in, then one stage per halving of H and W (a ResBlock, then a
    stride-(s_T, 2, 2) causal conv; s_T = 2 on the last log2(temporal_factor) stages), a
    ResBlock, and a causal conv out to 2·latent_channels (mean and log-variance). The decoder
    mirrors it with nearest ×2 upsampling in space and `TimeUpsample` in time.
    Frames: 1 + f·k in, 1 + k latent frames (f = temporal_factor), 1 + f·k back out.
    ``pad_mode`` is the causal padding of every conv: "replicate" (copies of frame 0, as
    CogVideoX's VAE) or "zeros" (as Wan's). ``tied_upsample`` starts each `TimeUpsample`'s two
    halves equal (see there).
    """

    def __init__(self, in_channels: int = 3, latent_channels: int = 4, base_channels: int = 32,
                 spatial_factor: int = 8, temporal_factor: int = 4, pad_mode: str = "replicate",
                 time_kernel: int = 3, logvar_range: tuple[float, float] = (-30.0, 20.0),
                 tied_upsample: bool = False) -> None:
        super().__init__()
        stages = round(math.log2(spatial_factor)) if spatial_factor >= 2 else 0
        time_stages = round(math.log2(temporal_factor)) if temporal_factor >= 1 else -1
        if spatial_factor < 2 or 2**stages != spatial_factor:
            raise ValueError(f"spatial_factor must be a power of 2 (4 or 8), got {spatial_factor}")
        if temporal_factor < 1 or 2**time_stages != temporal_factor or time_stages > stages:
            raise ValueError(f"temporal_factor must be 1, 2 or 4 and at most spatial_factor, "
                             f"got {temporal_factor}")
        if temporal_factor > 1 and time_kernel < 2:
            raise ValueError("temporal compression needs time_kernel >= 2")
        self.in_channels, self.latent_channels = in_channels, latent_channels
        self.spatial_factor, self.temporal_factor = spatial_factor, temporal_factor
        self.logvar_range = logvar_range
        widths = [base_channels * min(2**i, 4) for i in range(stages)]
        halves_time = [i >= stages - time_stages for i in range(stages)]
        kT = time_kernel

        def conv(c_in: int, c_out: int, k: tuple = (kT, 3, 3), stride: tuple = (1, 1, 1)):
            return StreamingCausalConv3d(c_in, c_out, k, stride=stride, pad_mode=pad_mode)

        self.encoder = nn.ModuleList([conv(in_channels, widths[0])])
        for i, width in enumerate(widths):
            self.encoder.append(ResBlock(widths[max(i - 1, 0)], width, kT, pad_mode))
            self.encoder.append(conv(width, width, stride=(2 if halves_time[i] else 1, 2, 2)))
        self.encoder.extend([ResBlock(widths[-1], widths[-1], kT, pad_mode),
                             ChannelRMSNorm(widths[-1]), nn.SiLU(),
                             conv(widths[-1], 2 * latent_channels)])

        self.decoder = nn.ModuleList([conv(latent_channels, widths[-1]),
                                      ResBlock(widths[-1], widths[-1], kT, pad_mode)])
        for i in reversed(range(stages)):
            self.decoder.append(ResBlock(widths[min(i + 1, stages - 1)], widths[i], kT, pad_mode))
            if halves_time[i]:
                self.decoder.append(TimeUpsample(widths[i], pad_mode, tied_upsample))
            self.decoder.append(SpaceUpsample(widths[i], kT, pad_mode))
        self.decoder.extend([ChannelRMSNorm(widths[0]), nn.SiLU(), conv(widths[0], in_channels)])

    # ---- shapes -------------------------------------------------------------------------
    def latent_frames(self, frames: int) -> int:
        """1 + f·k frames -> 1 + k latent frames (f = temporal_factor); another count is a
        ValueError naming the nearest valid ones."""
        return self.latent_frames_of(frames, self.temporal_factor, type(self).__name__)

    @staticmethod
    def latent_frames_of(frames: int, factor: int, name: str = "CausalVAE") -> int:
        """`latent_frames` for a temporal factor, without building a VAE."""
        if frames < 1 or (frames - 1) % factor:
            below, above = nearest_valid_frames(frames, factor)
            counts = f"{below} or {above}" if frames >= 1 else f"{above}"
            raise ValueError(f"{name} encodes clips of 1 + {factor}k frames (the first frame "
                             f"alone, then groups of {factor}); got {frames} frames: the "
                             f"nearest valid counts are {counts}")
        return 1 + (frames - 1) // factor

    def check_clip(self, x: Tensor) -> None:
        """A clear error unless x is a float clip [B, in_channels, 1 + f·k, H, W] with H and W
        multiples of spatial_factor."""
        if not isinstance(x, Tensor) or x.dim() != 5 or not x.is_floating_point():
            raise ValueError(f"x must be a float clip [B, {self.in_channels}, T, H, W], got "
                             f"{_describe(x)}")
        B, C, T, H, W = x.shape
        if C != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels, got {C} "
                             f"(shape {list(x.shape)})")
        self.latent_frames(T)  # a ValueError unless T = 1 + f·k
        if H % self.spatial_factor or W % self.spatial_factor or H == 0 or W == 0:
            raise ValueError(f"x's height and width must be positive multiples of "
                             f"spatial_factor={self.spatial_factor}, got {H}x{W}")

    # ---- encode and decode --------------------------------------------------------------
    def encode(self, x: Tensor, chunk: int | None = None) -> Posterior:
        """x [B, C, 1 + f·k, H, W] -> q(z | x), mean and logvar [B, latent, 1 + k, H/s, W/s].

        chunk=c streams the clip: frame 0 alone, then f·c frames at a time (c latent frames),
        with each causal conv's cache carried over; equal to the whole clip (float rounding).
        """
        self.check_clip(x)
        pieces = self._chunks(x, self.temporal_factor, chunk)
        return self._posterior(self._stream(self.encoder, pieces, chunk is not None))

    def encode_stream(self, pieces: list[Tensor]) -> Posterior:
        """q(z | x) for a clip that arrives in consecutive pieces along T, x = cat(pieces, T):
        each causal conv's cache is carried from piece to piece, so the result equals
        ``encode(x)`` (float rounding) wherever the cuts fall. The first piece holds
        1 + f·c frames and each later one a multiple of f (f = temporal_factor), so that
        every piece completes whole latent frames."""
        if not pieces:
            raise ValueError("pieces must hold at least one clip piece")
        f = self.temporal_factor
        for i, piece in enumerate(pieces):
            frames = piece.shape[2] if isinstance(piece, Tensor) and piece.dim() == 5 else None
            if frames is None or frames % f != (1 % f if i == 0 else 0) or frames == 0:
                wanted = f"1 + {f}c frames" if i == 0 else f"a positive multiple of {f} frames"
                raise ValueError(f"pieces[{i}] must be a clip [B, C, T, H, W] of {wanted}, got "
                                 f"{_describe(piece)}")
        self.check_clip(pieces[0][:, :, :1])  # channels, height and width
        return self._posterior(self._stream(self.encoder, list(pieces), True))

    def _posterior(self, h: Tensor) -> Posterior:
        mean, logvar = h.chunk(2, dim=1)
        return Posterior(mean, logvar.clamp(*self.logvar_range))

    def decode(self, z: Tensor, chunk: int | None = None) -> Tensor:
        """z [B, latent, 1 + k, h, w] -> x̂ [B, C, 1 + f·k, s·h, s·w].

        chunk=c streams the latents: latent frame 0 alone, then c latent frames at a time.
        """
        if not isinstance(z, Tensor) or z.dim() != 5 or not z.is_floating_point() \
                or z.shape[1] != self.latent_channels or 0 in z.shape:
            raise ValueError(f"z must be a float latent [B, {self.latent_channels}, t, h, w] "
                             f"with t, h, w >= 1, got {_describe(z)}")
        return self._stream(self.decoder, self._chunks(z, 1, chunk), chunk is not None)

    def forward(self, x: Tensor,
                generator: torch.Generator | None = None) -> tuple[Tensor, Posterior]:
        """Reconstruct x through a sampled latent: (x̂, q(z | x))."""
        posterior = self.encode(x)
        return self.decode(posterior.sample(generator)), posterior

    def loss(self, x: Tensor, kl_weight: float = 1e-6,
             generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, float]]:
        """mean |x - x̂|² + kl_weight · KL / (pixels per clip): the β-VAE objective, per pixel."""
        recon, posterior = self(x, generator)
        mse = (recon - x).pow(2).mean()
        kl = posterior.kl().mean() / x[0].numel()
        return mse + kl_weight * kl, {"mse": mse.item(), "kl": kl.item()}

    @staticmethod
    def _chunks(x: Tensor, factor: int, chunk: int | None) -> list[Tensor]:
        if chunk is None:
            return [x]
        if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
            raise ValueError(f"chunk must be a positive number of latent frames, got {chunk!r}")
        step = factor * chunk
        return [x[:, :, :1]] + [x[:, :, t:t + step] for t in range(1, x.shape[2], step)]

    @staticmethod
    def _stream(layers: nn.ModuleList, pieces: list[Tensor], streaming: bool) -> Tensor:
        cache: Cache | None = {} if streaming else None
        outputs = []
        for h in pieces:
            for layer in layers:
                takes_cache = isinstance(layer, (StreamingCausalConv3d, ResBlock, TimeUpsample,
                                                 SpaceUpsample))
                h = layer(h, cache) if takes_cache else layer(h)
            outputs.append(h)
        return torch.cat(outputs, dim=2)


class FrameVAE(CausalVAE):
    """The per-frame 2D baseline: `CausalVAE`'s network with (1, 3, 3) kernels and no temporal
    compression, so each frame is encoded and decoded alone, as an image VAE applied to video.
    Same spatial factor and channels. x [B, C, T, H, W] -> latents [B, latent, T, H/s, W/s]."""

    def __init__(self, in_channels: int = 3, latent_channels: int = 4, base_channels: int = 32,
                 spatial_factor: int = 8,
                 logvar_range: tuple[float, float] = (-30.0, 20.0)) -> None:
        super().__init__(in_channels, latent_channels, base_channels, spatial_factor,
                         temporal_factor=1, pad_mode="zeros", time_kernel=1,
                         logvar_range=logvar_range)


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {list(value.shape)}"
    return type(value).__name__

"""The small trained model that Task A1.4 probes: one layer of full space-time attention.

`TinySpaceTimeDenoiser` sees a moving-sprite clip buried in heavy Gaussian noise (σ = 1 on
pixels in [-1, 1]) and predicts the clean clip. Every pixel is one token, and each token
attends jointly over all T·S tokens of the clip (full attention, no factorisation, no
positional embedding), so the model is free to put its weight anywhere in space-time. A
sprite's pixels are too noisy to read one at a time; averaging the same sprite over frames
helps only if the attention finds it where it has moved to. What the attention learned is
what the probe measures.

    noisy [B, 3, T, H, W] -> embed (1x3x3 conv) -> x [B, T, S, C], S = H*W
    x = x + proj(full_attention(LayerNorm(x)))        weights [B, heads, T*S, T*S]
    x = x + MLP(x)
    -> head (1x3x3 conv) -> clean estimate [B, 3, T, H, W]

The checkpoint `probe_model.pt` (a state_dict) is written by
`python -m assignments.a1_kinematic_attention.train_probe_model`; `load()` reads it with
`torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn

from vdlite.data import MovingSprites

CHECKPOINT = Path(__file__).with_name("probe_model.pt")
SIZE, FRAMES, NOISE = 13, 7, 1.0  # clips of 7 frames of 13 x 13 pixels, noise σ = 1
CHANNELS, HEADS = 32, 2


def sprites(num_clips: int, seed: int, sprites: int | tuple[int, int] = (1, 2),
            speed: tuple[float, float] = (0.75, 2.0)) -> MovingSprites:
    """The clips the model is trained and probed on: plain backgrounds, sprites of 0.25 to
    0.35 of the frame (3.25 to 4.55 pixels across) moving at `speed` pixels per frame."""
    return MovingSprites(num_clips=num_clips, frames=FRAMES, size=SIZE, sprites=sprites,
                         speed=speed, sprite_size=(0.25, 0.35), seed=seed)


class TinySpaceTimeDenoiser(nn.Module):
    """One pre-norm transformer block with full space-time attention over pixel tokens."""

    def __init__(self, channels: int = CHANNELS, heads: int = HEADS) -> None:
        super().__init__()
        self.heads = heads
        self.embed = nn.Conv3d(3, channels, (1, 3, 3), padding=(0, 1, 1))
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.mlp = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, 2 * channels),
                                 nn.GELU(), nn.Linear(2 * channels, channels))
        self.head = nn.Conv3d(channels, 3, (1, 3, 3), padding=(0, 1, 1))

    def _weights(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, N, C] (N = T*S tokens) -> attention weights [B, heads, N, N] (each row sums
        to 1 over the N keys) and values [B, N, heads, C/heads]."""
        B, N, C = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, N, 3, self.heads, -1).unbind(2)
        scores = torch.einsum("bnhd,bmhd->bhnm", q, k) / math.sqrt(q.shape[-1])
        return torch.softmax(scores, dim=-1), v

    def _tokens(self, noisy: Tensor) -> Tensor:
        """[B, 3, T, H, W] -> [B, T*S, C], token n = t*S + y*W + x."""
        return self.embed(noisy).flatten(2).transpose(1, 2)

    def attention(self, noisy: Tensor) -> Tensor:
        """The attention weights on clip `noisy`: [B, 3, T, H, W] -> [B, heads, T, S, T, S],
        entry [b, h, t, s, t', s'] = the weight query (frame t, position s) gives key
        (frame t', position s'); for each query they sum to 1 over all (t', s')."""
        B, _, T, H, W = noisy.shape
        weights, _ = self._weights(self._tokens(noisy))
        return weights.reshape(B, self.heads, T, H * W, T, H * W)

    def forward(self, noisy: Tensor) -> Tensor:
        """noisy [B, 3, T, H, W] -> the clean clip's estimate [B, 3, T, H, W]."""
        B, _, T, H, W = noisy.shape
        x = self._tokens(noisy)  # [B, N, C]
        weights, v = self._weights(x)
        mixed = torch.einsum("bhnm,bmhd->bnhd", weights, v).flatten(2)  # [B, N, C]
        x = x + self.proj(mixed)
        x = x + self.mlp(x)
        return self.head(x.transpose(1, 2).reshape(B, -1, T, H, W))


def load(path: Path = CHECKPOINT) -> TinySpaceTimeDenoiser:
    """The trained model from its state_dict, in eval mode."""
    model = TinySpaceTimeDenoiser()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def probe_clips(num_clips: int, seed: int) -> dict[str, Tensor]:
    """`num_clips` noisy one-sprite clips whose sprite moves at one constant velocity through
    the whole clip (clips that bounce off a wall are skipped), for probing the model:
        video     [B, 3, T, H, W] the clean clip plus N(0, NOISE²) noise (float32)
        centre    [B, 2] the sprite's (x, y) centre in frame T // 2, in pixels
        velocity  [B, 2] its (v_x, v_y) in pixels per frame
    """
    data = sprites(16 * num_clips, seed, sprites=1, speed=(1.0, 2.0))
    batch = data.batch(range(len(data)))
    position, velocity = batch["positions"][:, :, 0], batch["velocities"][:, 0, 0]  # [B,T,2]
    straight = position[:, :1] + velocity[:, None] * torch.arange(FRAMES)[:, None]
    keep = ((straight - position).abs().amax(dim=(1, 2)) < 1e-3).nonzero()[:num_clips, 0]
    if len(keep) < num_clips:
        raise ValueError(f"only {len(keep)} straight clips among {len(data)}; ask for fewer")
    g = torch.Generator().manual_seed(seed)
    clean = batch["video"][keep]
    return {"video": clean + NOISE * torch.randn(clean.shape, generator=g),
            "centre": position[keep, FRAMES // 2], "velocity": velocity[keep]}

"""Lesson 00, reference solution: frames <-> tensors, bouncing motion, two consistency figures,
and what full attention over a clip costs."""

from __future__ import annotations

import torch

# ---- Task 00.1: 8-bit frames <-> a float video ----------------------------------------------


def frames_to_video(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames [T, H, W, 3] -> float32 video [3, T, H, W] in [-1, 1]: x = v / 127.5 - 1."""
    return frames.permute(3, 0, 1, 2).to(torch.float32) / 127.5 - 1


def video_to_frames(video: torch.Tensor) -> torch.Tensor:
    """Float video [3, T, H, W] -> uint8 frames [T, H, W, 3]: v = round((clamp(x) + 1) * 127.5)."""
    levels = ((video.clamp(-1, 1) + 1) * 127.5).round()
    return levels.to(torch.uint8).permute(1, 2, 3, 0)


# ---- Task 00.2: bouncing off the walls ------------------------------------------------------


def fold(x: torch.Tensor, lo: torch.Tensor | float, hi: torch.Tensor | float) -> torch.Tensor:
    """Reflect x into [lo, hi]: the triangle wave of period 2 (hi - lo) equal to x on [lo, hi].

    w = (x - lo) mod 2 span, span = hi - lo;  fold(x) = lo + w if w <= span else lo + 2 span - w.
    """
    span = hi - lo
    w = torch.remainder(x - lo, 2 * span)
    return lo + torch.where(w <= span, w, 2 * span - w)


def sprite_positions(p0: torch.Tensor, v: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                     frames: int, stride: int = 1) -> torch.Tensor:
    """Centres [T, N, 2] of N sprites bouncing in [lo, hi]: p(n) = fold(p0 + v n), n = t * stride.

    p0, v: [N, 2] start (x, y) and velocity per native frame; lo, hi: [N], the same on both axes.
    """
    n = torch.arange(frames, dtype=p0.dtype) * stride  # [T] native frame times
    line = p0 + v * n[:, None, None]  # [T, N, 2]
    return fold(line, lo[:, None], hi[:, None])


# ---- Task 00.3: flicker and background change -----------------------------------------------


def flicker(video: torch.Tensor) -> float:
    """Mean |x[b, c, t+1, p] - x[b, c, t, p]| over b, c, t and pixels p; x [B, 3, T, H, W]."""
    return float(torch.diff(video, dim=2).abs().mean())


def background_change(video: torch.Tensor, masks: torch.Tensor) -> float:
    """Mean |x_{t+1} - x_t| over b, c, t and the pixels that are background in frames t and t+1.

    video [B, 3, T, H, W]; masks [B, T, H, W] bool, True on the sprites (foreground).
    0.0 when no pixel is background in two consecutive frames.
    """
    still = ~masks[:, 1:] & ~masks[:, :-1]  # [B, T-1, H, W]
    change = torch.diff(video, dim=2).abs().mean(dim=1)  # [B, T-1, H, W], mean over channels
    count = int(still.sum())
    return float((change * still).sum() / count) if count else 0.0


# ---- Task 00.4: what full attention costs ---------------------------------------------------


def num_tokens(T: int, H: int, W: int, p: int) -> int:
    """Tokens of a clip [T, H, W] cut into p x p patches per frame: N = T * (H / p) * (W / p)."""
    if H % p or W % p:
        raise ValueError(f"patch size p={p} must divide H={H} and W={W}")
    return T * (H // p) * (W // p)


def full_attention_pairs(T: int, H: int, W: int, p: int) -> int:
    """(query, key) score entries of full attention over the clip's tokens, per head: N^2."""
    return num_tokens(T, H, W, p) ** 2


def attention_score_bytes(T: int, H: int, W: int, p: int, heads: int,
                          bytes_per_number: int = 4) -> int:
    """Bytes of the score matrices [heads, N, N] of one clip: heads * N^2 * bytes_per_number."""
    return heads * full_attention_pairs(T, H, W, p) * bytes_per_number

"""Lesson 00, your solution: frames <-> tensors, bouncing motion, two consistency figures, and
what full attention over a clip costs. Replace each `raise NotImplementedError(...)`.

Grade yourself with `python -m assignments.grade l00_video_tensor`.
"""

from __future__ import annotations

import torch

# ---- Task 00.1: 8-bit frames <-> a float video (4 points) -----------------------------------


def frames_to_video(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames [T, H, W, 3] (what a video file decodes to) -> float32 video [3, T, H, W].

    The 8-bit level v in {0, ..., 255} becomes x = v / 127.5 - 1, so 0 -> -1 and 255 -> +1,
    and the channel axis moves to the front: out[c, t, h, w] = frames[t, h, w, c] / 127.5 - 1.
    """
    raise NotImplementedError("Task 00.1: permute to [3, T, H, W], map v -> v / 127.5 - 1")


def video_to_frames(video: torch.Tensor) -> torch.Tensor:
    """Float video [3, T, H, W] in [-1, 1] -> uint8 frames [T, H, W, 3], the inverse.

    v = round((clamp(x, -1, 1) + 1) * 127.5), rounding to the nearest level (torch.round);
    values outside [-1, 1] are clamped first. Computed in the video's own dtype.
    video_to_frames(frames_to_video(f)) == f exactly for every uint8 f.
    """
    raise NotImplementedError("Task 00.1: clamp, map x -> round((x + 1) * 127.5), uint8, permute")


# ---- Task 00.2: bouncing off the walls (5 points) -------------------------------------------


def fold(x: torch.Tensor, lo: torch.Tensor | float, hi: torch.Tensor | float) -> torch.Tensor:
    """Reflect x into [lo, hi] as a ball bounces between two walls (elementwise, broadcasting).

    fold is the triangle wave of period 2 (hi - lo) that equals x on [lo, hi]: with
    span = hi - lo and w = (x - lo) mod 2 span (in [0, 2 span)),
        fold(x) = lo + w              if w <= span   (on the way out)
                = lo + 2 span - w     otherwise      (on the way back).
    So fold(hi + d) = hi - d and fold(lo - d) = lo + d for 0 <= d <= span: a reflection,
    not a clamp. lo < hi.
    """
    raise NotImplementedError("Task 00.2: reflect x into [lo, hi] as a triangle wave")


def sprite_positions(p0: torch.Tensor, v: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                     frames: int, stride: int = 1) -> torch.Tensor:
    """Centres [T, N, 2] of N sprites moving at constant velocity and bouncing off the walls.

    p0: [N, 2] start centres (x, y); v: [N, 2] velocities in pixels per native frame;
    lo, hi: [N], each sprite's centre range (the same on both axes). Output frame t shows
    native frame n = t * stride, and reflections unfold into a straight line:
        positions[t, i] = fold(p0[i] + v[i] * t * stride, lo[i], hi[i])        (T = frames)
    as in `vdlite.data.MovingSprites`. Keep p0's dtype.
    """
    raise NotImplementedError("Task 00.2: fold the straight lines p0 + v * t * stride")


# ---- Task 00.3: flicker and background change (4 points) ------------------------------------


def flicker(video: torch.Tensor) -> float:
    """Mean absolute change between consecutive frames, over every pixel and channel.

    video [B, 3, T, H, W]:  mean over b, c, t < T-1, pixels p of |x[b, c, t+1, p] - x[b, c, t, p]|.
    """
    raise NotImplementedError("Task 00.3: mean |x_{t+1} - x_t| along the time axis")


def background_change(video: torch.Tensor, masks: torch.Tensor) -> float:
    """Mean absolute frame-to-frame change of the pixels that are background in both frames.

    video [B, 3, T, H, W]; masks [B, T, H, W] bool, True where a sprite is (foreground).
    With still[b, t, p] = not masks[b, t, p] and not masks[b, t+1, p]  ([B, T-1, H, W]):
        mean over b, c, t and pixels p with still[b, t, p] of |x[b, c, t+1, p] - x[b, c, t, p]|,
    and 0.0 when no pixel is still.
    """
    raise NotImplementedError("Task 00.3: mean |x_{t+1} - x_t| over pixels background in both")


# ---- Task 00.4: what full attention costs (3 points) ----------------------------------------


def num_tokens(T: int, H: int, W: int, p: int) -> int:
    """Tokens of a clip of T frames of H x W pixels cut into non-overlapping p x p patches.

    Each frame gives S = (H / p) * (W / p) tokens, the clip N = T * S. Raise ValueError when
    p does not divide both H and W.
    """
    raise NotImplementedError("Task 00.4: N = T * (H / p) * (W / p), ValueError if p ∤ H or W")


def full_attention_pairs(T: int, H: int, W: int, p: int) -> int:
    """(query, key) score entries full attention over the clip's N tokens computes, per head.

    Every token attends to every token, itself included, in both directions: N^2.
    """
    raise NotImplementedError("Task 00.4: the number of (query, key) pairs of full attention")


def attention_score_bytes(T: int, H: int, W: int, p: int, heads: int,
                          bytes_per_number: int = 4) -> int:
    """Bytes of one clip's attention scores: `heads` matrices [N, N] of `bytes_per_number`-byte
    numbers (4 for float32, 2 for float16/bfloat16): heads * N^2 * bytes_per_number."""
    raise NotImplementedError("Task 00.4: heads * N^2 * bytes_per_number")

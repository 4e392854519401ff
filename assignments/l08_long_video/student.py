"""Lessons 08a and 08b's exercises: the chunk schedule, replacement conditioning, and the cost
of sliding-window temporal attention.

Replace each `raise NotImplementedError(...)` with your code. Clips are [B, C, T, H, W].
Check yourself with `python -m assignments.grade l08_long_video`.
"""

import torch  # noqa: F401
from torch import Tensor

from vdlite.diffusion import NoiseSchedule


def chunk_starts(frames: int, chunk: int, overlap: int) -> list[int]:
    """Task 08.1: the first frame of each chunk of `chunk` frames covering frames 0..frames-1,
    consecutive chunks sharing at least `overlap` frames.

    Step by s = chunk - overlap: 0, s, 2s, ... while a whole chunk fits (start + chunk <=
    frames); then, if the last frame is not yet covered, one more chunk that ends exactly at
    the last frame (start frames - chunk). (20, 8, 2) -> [0, 6, 12]; (21, 8, 2) -> [0, 6, 12, 13].
    Raise ValueError when overlap >= chunk, frames < chunk, chunk < 1 or overlap < 0.
    """
    raise NotImplementedError("Task 08.1: step by chunk - overlap, then cover the tail")


def replace_known(x_t: Tensor, known: Tensor, mask: Tensor, t: Tensor, schedule: NoiseSchedule,
                  noise: Tensor) -> Tensor:
    """Task 08.2: replacement conditioning, the known frames of x_t put at noise level t:

        out[b, :, f] = √ᾱ_t[b] known[b, :, f] + √(1 - ᾱ_t[b]) noise[b, :, f]   (f known)
        out[b, :, f] = x_t[b, :, f]                                           (f unknown)

    x_t, known, noise: [B, C, T, H, W]; mask: bool [T] (the same frames for every clip) or
    [B, T]; t: [B] long. ᾱ_t is `schedule.alpha_bar(t)` (float64 [B]); return x_t's dtype.
    """
    raise NotImplementedError("Task 08.2: q(x_t | known) for the known frames, x_t elsewhere")


def window_pairs(frames: int, tokens: int, window: int | None) -> int:
    """Task 08.3: how many (query, key) pairs temporal attention scores over T = `frames` frames
    at S = `tokens` positions when frame t sees the frames t' with |t - t'| <= window (None:
    every frame, T²·S). Count exactly: near the clip's ends the window is cut off, so the count
    is below T·S·(2w + 1) for 0 < w, and a window of T - 1 or more sees the whole clip.
    """
    raise NotImplementedError("Task 08.3: the frames each frame sees, summed, times S")

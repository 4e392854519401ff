"""Reference solutions of assignment l08_long_video (absent from the handout)."""

import torch
from torch import Tensor

from vdlite.diffusion import NoiseSchedule


def chunk_starts(frames: int, chunk: int, overlap: int) -> list[int]:
    if chunk < 1 or overlap < 0:
        raise ValueError(f"need chunk >= 1 and overlap >= 0, got {chunk} and {overlap}")
    if overlap >= chunk:
        raise ValueError(f"overlap must be < chunk, got overlap={overlap}, chunk={chunk}")
    if frames < chunk:
        raise ValueError(f"frames must be >= chunk, got frames={frames}, chunk={chunk}")
    starts = list(range(0, frames - chunk + 1, chunk - overlap))
    if starts[-1] + chunk < frames:
        starts.append(frames - chunk)
    return starts


def replace_known(x_t: Tensor, known: Tensor, mask: Tensor, t: Tensor, schedule: NoiseSchedule,
                  noise: Tensor) -> Tensor:
    ab = schedule.alpha_bar(t).view(-1, 1, 1, 1, 1)  # [B, 1, 1, 1, 1] float64
    noised = (ab.sqrt() * known + (1 - ab).sqrt() * noise).to(x_t.dtype)
    m = mask.reshape(-1, 1, x_t.shape[2], 1, 1)  # [B or 1, 1, T, 1, 1]
    return torch.where(m, noised, x_t)


def window_pairs(frames: int, tokens: int, window: int | None) -> int:
    if window is None or window >= frames - 1:
        return frames * frames * tokens
    w = window
    return tokens * (frames * (2 * w + 1) - w * (w + 1))


"""Pictures for the lessons: clips as strips of frames, and clips as inline gifs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from vdlite.video_io import tile_videos, write_gif


def frame_strip(
    videos: torch.Tensor | list[torch.Tensor],
    labels: list[str] | None = None,
    frame_size: float = 1.0,
    title: str | None = None,
) -> plt.Figure:
    """One row per clip, one column per frame: videos [N, 3, T, H, W] (or a list of [3, T, H, W])
    in [-1, 1]. `labels` names the rows; columns are labelled t = 0 .. T-1."""
    clips = list(videos)
    n, t = len(clips), clips[0].shape[1]
    fig, axes = plt.subplots(n, t, figsize=(frame_size * t, frame_size * n + 0.3), squeeze=False)
    for r, clip in enumerate(clips):
        frames = ((clip.detach().float().cpu().clamp(-1, 1) + 1) / 2).permute(1, 2, 3, 0)
        for c in range(t):
            ax = axes[r, c]
            ax.imshow(frames[c].numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={c}", fontsize=8)
        if labels:
            axes[r, 0].set_ylabel(labels[r], fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.2)
    return fig


def gif_bytes(videos: torch.Tensor | list[torch.Tensor], ncols: int | None = None,
              fps: int = 6, scale: int = 3) -> bytes:
    """The bytes of a looping gif of one clip [3, T, H, W] or a grid of clips."""
    grid = videos if torch.is_tensor(videos) and videos.ndim == 4 else tile_videos(videos, ncols)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.gif"
        write_gif(grid, path, fps=fps, scale=scale)
        return path.read_bytes()


def show_gif(videos: torch.Tensor | list[torch.Tensor], ncols: int | None = None,
             fps: int = 6, scale: int = 3):
    """An IPython image of `gif_bytes(...)`, for the last line of a notebook cell."""
    from IPython.display import Image

    return Image(data=gif_bytes(videos, ncols, fps, scale), format="gif")

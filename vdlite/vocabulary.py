"""The sprites' vocabulary: the shapes, colours and motion directions that the synthetic data
draws, the captions name and the metrics recognise.

`vdlite.data` generates clips with it, `vdlite.text` writes and reads captions with it, and
`vdlite.metrics` / `vdlite.features` score samples by it, so none of them needs the dataset to
know the words. Directions are in image coordinates: x grows to the right, y downwards.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["COLOUR_NAMES", "DIRECTIONS", "PALETTE", "SHAPES", "direction_name", "path_direction"]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
"""Sprite shapes, indexed by `shape_ids`. Each is inscribed in the circle of the sprite's
diameter centred on its position, and that centre is also the shape's area centroid."""

PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (1.0, -1.0, -1.0),
    "green": (-1.0, 1.0, -1.0),
    "blue": (-0.6, -0.6, 1.0),
    "yellow": (1.0, 1.0, -1.0),
    "cyan": (-1.0, 1.0, 1.0),
    "magenta": (1.0, -1.0, 1.0),
    "white": (1.0, 1.0, 1.0),
    "orange": (1.0, 0.0, -1.0),
}
"""Sprite colours in [-1, 1], indexed by `colour_ids` in this order. Every colour has a channel
at 1, and backgrounds stay at or below -0.4 in every channel, so sprites always stand out."""

COLOUR_NAMES: tuple[str, ...] = tuple(PALETTE)

DIRECTIONS: tuple[str, ...] = ("right", "down", "left", "up")
"""Motion directions, by the angle of (dx, dy) in image coordinates: 0, 90, 180, 270 degrees."""


def direction_name(dx: float, dy: float) -> str:
    """The nearest of the four directions to the displacement (dx, dy), image coordinates.

    angle = atan2(dy, dx) (y down, so 90 degrees is "down"); the name is
    DIRECTIONS[round(angle / 90 degrees) mod 4]. An exact diagonal is a tie, settled by
    Python's round (half to even): (1, 1) is "right", (-1, 1) is "left".
    """
    angle = math.atan2(dy, dx)
    return DIRECTIONS[round(angle / (math.pi / 2)) % 4]


def path_direction(positions: Tensor) -> str:
    """Direction of the least-squares velocity of a path of centres ``[T, 2]`` (x, y).

    The slope v of the line c0 + v t fitted to the T >= 2 centres, so a sprite that bounces
    near the end of a clip is still described by where it mostly went.
    """
    if positions.dim() != 2 or positions.shape[1] != 2 or positions.shape[0] < 2:
        raise ValueError(f"positions must be [T >= 2, 2], got shape {tuple(positions.shape)}")
    p = positions.double()
    t = torch.arange(p.shape[0], dtype=torch.float64)
    t = t - t.mean()
    v = (t[:, None] * (p - p.mean(dim=0))).sum(dim=0) / (t * t).sum()  # [2] pixels per frame
    return direction_name(float(v[0]), float(v[1]))

"""The sprites' vocabulary: the shapes, colours and motion directions that the synthetic data
draws, the captions name and the metrics recognise.

`vdlite.data` generates clips with it, `vdlite.text` writes and reads captions with it, and
`vdlite.metrics` / `vdlite.features` score samples by it, so none of them needs the dataset to
know the words. Directions are in image coordinates: x grows to the right, y downwards.

The drawing rules live here too: `shape_mask` (which pixels a shape covers) and the background
palette (`BACKGROUND_GREY`, `BACKGROUND_TINT`), so that the metrics can render the four shapes
and test a background's colours against the real ones without the dataset.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["BACKGROUND_GREY", "BACKGROUND_TINT", "COLOUR_NAMES", "DIRECTIONS", "PALETTE",
           "SHAPES", "direction_name", "path_direction", "shape_mask"]

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

BACKGROUND_GREY: tuple[float, float] = (-0.9, -0.5)
"""The grey levels g of backgrounds: a background colour is g·(1, 1, 1) plus a tint."""

BACKGROUND_TINT = 0.1
"""The largest tint of a background colour, per channel: colour_c = g + t_c, |t_c| <= 0.1.
Textures blend two such colours, so every real background pixel lies in the set
{x : some g in BACKGROUND_GREY with |x_c - g| <= BACKGROUND_TINT for every channel c}."""

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


def shape_mask(shape: str, centre: Tensor, radius: float | Tensor, size: int) -> Tensor:
    """Binary masks [T, H, W] of one sprite of shape `shape` with centre `centre` [T, 2] (x, y)
    and radius `radius` (a number, or one per frame [T]) on a size × size grid: a pixel is in
    when its centre is inside.

    With (dx, dy) the pixel centre minus the sprite centre and r the radius:
        circle    dx² + dy² <= r²
        square    max(|dx|, |dy|) <= r/√2                   (corners on the circle)
        diamond   |dx| + |dy| <= r                          (the square turned 45°)
        triangle  n · (dx, dy) <= r/2 for the three edge normals n = (0, 1), (±√3/2, -½)
                  (equilateral, apex up, vertices on the circle; its centroid is the centre)
    Every shape lies inside the circle of radius r, and its area centroid is the centre.
    Areas: circle πr², square and diamond 2r², triangle (3√3/4) r².
    """
    grid = torch.arange(size, dtype=torch.float32, device=centre.device)
    dx = grid - centre[:, 0, None, None]  # [T, 1, W]
    dy = grid[:, None] - centre[:, 1, None, None]  # [T, H, 1]
    r = radius if isinstance(radius, (int, float)) else radius.reshape(-1, 1, 1)  # [T, 1, 1]
    if shape == "circle":
        return dx**2 + dy**2 <= r**2
    if shape == "square":
        return torch.maximum(dx.abs(), dy.abs()) <= r / math.sqrt(2)
    if shape == "diamond":
        return dx.abs() + dy.abs() <= r
    if shape == "triangle":
        h = math.sqrt(3) / 2
        return (dy <= r / 2) & (h * dx - dy / 2 <= r / 2) & (-h * dx - dy / 2 <= r / 2)
    raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")

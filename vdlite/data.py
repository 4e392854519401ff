"""Video data for the course: synthetic moving sprites with ground truth.

A video is a float32 tensor `[C, T, H, W]` (one clip) or `[B, C, T, H, W]` (a batch) with
C = 3 (RGB) and pixels in [-1, 1]: the value v stands for the 8-bit level (v + 1) * 127.5.
Pixel (row y, column x) has its centre at the point (x, y); a pixel covers [x - ½, x + ½].

`MovingSprites`: clips of coloured shapes that glide at constant velocity and bounce off the
frame edges, generated on the fly, with positions, velocities and masks as ground truth. The
shapes and colours are `vdlite.vocabulary`'s. Your own footage and video files in and out
(`VideoFolder`, `read_video`, `write_gif`, `write_mp4`, `to_uint8`, `tile_videos`) are
`vdlite.video_io`'s, importable from here too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from vdlite.video_io import (  # noqa: F401  (re-exported: the lessons read them from here)
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    SkippedVideoWarning,
    VideoFolder,
    check_int,
    find_videos,
    read_video,
    resize_crop,
    tile_videos,
    to_uint8,
    write_gif,
    write_mp4,
)
from vdlite.vocabulary import (  # noqa: F401  (re-exported: vdlite.data.SHAPES, shape_mask ...)
    BACKGROUND_GREY,
    BACKGROUND_TINT,
    COLOUR_NAMES,
    PALETTE,
    SHAPES,
    shape_mask,
)

# ---------------------------------------------------------------------------------------------
# Moving sprites
# ---------------------------------------------------------------------------------------------

BACKGROUNDS = ("plain", "textured", "mixed")
TEXTURES = ("smooth", "stripes", "checker")

_PALETTE = torch.tensor(list(PALETTE.values()))  # [num_colours, 3]


class MovingSprites(Dataset):
    """Synthetic clips of 1 to a few sprites moving at constant velocity, bouncing off the edges.

    Clip i is generated from its own `torch.Generator`, seeded from (seed, i), so it is the same
    whatever order clips are asked for. Every random number is drawn in a fixed order whatever
    the options, so changing `frames`, `stride`, `occluder` or `background` keeps a clip's
    sprites and their motion.

    Motion. A sprite of diameter d (radius r = d/2) has its centre p confined to
    [r - ½, size - ½ - r] on each axis, which keeps the whole sprite inside the frame. It starts
    at p0 with velocity v (pixels per native frame) and reflects off the walls. Reflections can
    be unfolded: p(n) = fold(p0 + v n), where fold maps the straight line onto [lo, hi] as a
    triangle wave of period 2(hi - lo). The clip shows native frames n = 0, s, 2s, ... for
    stride s, so a stride-2 clip is frames 0, 2, 4, ... of the stride-1 clip.

    Rendering. Sprites are drawn in order, later ones on top, then the occluder (a vertical bar
    of its own grey) on top of all. Crisp binary shapes: a pixel belongs to a shape when its
    centre lies inside it.

    An item is a dict; N = `max_sprites`, absent sprites (n >= the clip's count) are padding:
        video       [3, T, H, W] float32 in [-1, 1]
        positions   [T, N, 2] float32, (x, y) centre = area centroid of the whole shape, pixels
        velocities  [T, N, 2] float32, pixels per output frame: stride × the velocity on the
                    native step that leaves frame t (after any bounce at frame t itself), so
                    positions[t+1] = positions[t] + velocities[t] unless a wall lies between;
                    with one wall at w in between, positions[t+1] = 2w - (positions[t] +
                    velocities[t]) (the overshoot reflected)
        masks       [T, N, H, W] bool, the visible pixels of each sprite (not hidden by later
                    sprites or the occluder)
        present     [N] bool
        shape_ids   [N] long, index into SHAPES (-1 when absent)
        colour_ids  [N] long, index into COLOUR_NAMES (-1 when absent); distinct within a clip
        sizes       [N] float32, diameter in pixels (0 when absent)
        background  [3] float32, the plain colour, or the mean colour of the texture
        occluder    [H, W] bool, the occluding bar (all False when the clip has none)
    Absent sprites have zero positions, velocities and sizes and all-False masks.

    Args:
        num_clips: the dataset's length.
        frames: T, frames per clip.
        size: H = W, pixels.
        sprites: sprites per clip, an int or an inclusive (min, max) range drawn per clip.
        occluder: probability that a clip has an occluding bar.
        background: "plain" (one dark colour), "textured" (a static smooth, striped or
            checkered pattern of two dark colours) or "mixed" (either, half the clips each).
        stride: native frames per output frame.
        speed: (min, max) speed in pixels per native frame (or one number).
        sprite_size: (min, max) diameter as a fraction of `size` (or one number), below 1.
        seed: the dataset's seed.
    """

    def __init__(
        self,
        num_clips: int = 1024,
        frames: int = 8,
        size: int = 32,
        sprites: int | tuple[int, int] = (1, 3),
        occluder: float = 0.0,
        background: str = "plain",
        stride: int = 1,
        speed: float | tuple[float, float] = (0.5, 2.0),
        sprite_size: float | tuple[float, float] = (0.2, 0.35),
        seed: int = 0,
    ) -> None:
        self.num_clips = check_int("num_clips", num_clips, 1)
        self.frames = check_int("frames", frames, 1)
        self.size = check_int("size", size, 4)
        self.stride = check_int("stride", stride, 1)
        self.seed = check_int("seed", seed, None)
        self.sprites = _check_range("sprites", sprites, 1, len(PALETTE), integer=True)
        self.speed = _check_range("speed", speed, 0.0, math.inf)
        self.sprite_size = _check_range("sprite_size", sprite_size, 0.0, 1.0, open_ends=True)
        if isinstance(occluder, bool) or not isinstance(occluder, (int, float)) or not (
            0.0 <= occluder <= 1.0
        ):
            raise ValueError(f"occluder must be a probability in [0, 1], got {occluder!r}")
        self.occluder = float(occluder)
        if background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
        self.background = background
        self.max_sprites = self.sprites[1]

    def __len__(self) -> int:
        return self.num_clips

    def generator(self, index: int) -> torch.Generator:
        """The generator of clip `index`; the seeds of one dataset's clips are all distinct."""
        return torch.Generator().manual_seed((self.seed * 0x9E3779B9 + index) % 2**32)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        index = int(index)
        if not -self.num_clips <= index < self.num_clips:
            raise IndexError(f"clip {index} out of range for {self.num_clips} clips")
        g = self.generator(index % self.num_clips)
        S, N = self.size, self.max_sprites

        def rand(*shape: int) -> Tensor:  # uniform in [0, 1), float64 for the motion
            return torch.rand(shape, generator=g, dtype=torch.float64)

        # --- draw the clip: always the same draws, in the same order ---
        count = int(torch.randint(self.sprites[0], self.sprites[1] + 1, (), generator=g))
        present = torch.arange(N) < count
        shape_ids = torch.randint(len(SHAPES), (N,), generator=g)
        colour_ids = torch.randperm(len(PALETTE), generator=g)[:N]  # distinct colours
        lo_d, hi_d = self.sprite_size
        diameter = S * (lo_d + (hi_d - lo_d) * rand(N))  # [N]
        radius = diameter / 2
        lo, hi = radius - 0.5, S - 0.5 - radius  # [N], the centre's range on both axes
        p0 = lo[:, None] + (hi - lo)[:, None] * rand(N, 2)  # [N, 2]
        speed = self.speed[0] + (self.speed[1] - self.speed[0]) * rand(N)
        angle = 2 * math.pi * rand(N)
        v = speed[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)  # [N, 2]
        background, bg_colour = self._draw_background(g)  # [3, H, W], [3]
        has_occluder = rand() < self.occluder
        bar_width = int(torch.randint(max(1, S // 10), max(2, S // 5) + 1, (), generator=g))
        bar_left = int(torch.randint(0, S - bar_width + 1, (), generator=g))
        bar_grey = -0.2 + 0.4 * float(rand())

        # --- simulate: the straight line p0 + v n, folded into [lo, hi] ---
        n = torch.arange(self.frames, dtype=torch.float64) * self.stride  # native frame times
        lo2, span = lo[:, None], (hi - lo)[:, None]  # [N, 1]
        w = torch.remainder(p0 + v * n[:, None, None] - lo2, 2 * span)  # [T, N, 2]
        positions = lo2 + span - (w - span).abs()  # [T, N, 2]
        velocities = torch.where(w < span, v, -v) * self.stride  # leaving frame t
        positions = torch.where(present[:, None], positions, 0).float()
        velocities = torch.where(present[:, None], velocities, 0).float()
        radius = torch.where(present, radius, 0).float()

        # --- render: the painter's algorithm, back to front ---
        cols = torch.arange(S)
        occluder = has_occluder & (cols >= bar_left) & (cols < bar_left + bar_width)  # [W]
        occluder = occluder.expand(S, S)  # [H, W]
        masks = torch.zeros(self.frames, N, S, S, dtype=torch.bool)  # visible pixels
        covered = occluder.expand(self.frames, S, S)  # [T, H, W], hidden by what is in front
        for k in reversed(range(count)):  # front (last drawn) to back
            shape = shape_mask(SHAPES[shape_ids[k]], positions[:, k], float(radius[k]), S)
            masks[:, k] = shape & ~covered
            covered = covered | shape
        video = background[:, None].expand(3, self.frames, S, S)  # [3, T, H, W]
        for k in range(count):
            video = torch.where(masks[:, k], _PALETTE[colour_ids[k], :, None, None, None], video)
        video = torch.where(occluder, bar_grey, video)
        return {
            "video": video,
            "positions": positions,
            "velocities": velocities,
            "masks": masks,
            "present": present,
            "shape_ids": torch.where(present, shape_ids, -1),
            "colour_ids": torch.where(present, colour_ids, -1),
            "sizes": 2 * radius,
            "background": bg_colour,
            "occluder": occluder.clone(),
        }

    def _draw_background(self, g: torch.Generator) -> tuple[Tensor, Tensor]:
        """A static background image [3, H, W] and its mean colour [3].

        Background colours are dark and greyish: a grey level in BACKGROUND_GREY = [-0.9, -0.5]
        plus a tint of up to ±BACKGROUND_TINT = ±0.1 per channel (`vdlite.vocabulary`). A
        texture blends two such colours, c1 + (c2 - c1) s, by a pattern s in [0, 1] of random
        period P in [size/4, size/2] and angle φ:
            smooth    s = ½ + ½ sin(2πx/P + φ) sin(2πy/(1.5 P) - φ)
            stripes   s = 1 where sin(2π u/(P/2)) > 0, u = x cos φ + y sin φ, else 0
            checker   s = (⌊x/c⌋ + ⌊y/c⌋) mod 2 with cells of c = ⌊P/2⌋ pixels
        """
        S = self.size
        u = torch.rand(12, generator=g, dtype=torch.float32)  # all the draws, fixed order
        (lo, hi), tint = BACKGROUND_GREY, BACKGROUND_TINT
        c1 = lo + (hi - lo) * u[0] + 2 * tint * u[1:4] - tint  # [3]
        c2 = lo + (hi - lo) * u[4] + 2 * tint * u[5:8] - tint
        textured = self.background == "textured" or (self.background == "mixed" and u[8] < 0.5)
        if not textured:
            return c1[:, None, None].expand(3, S, S), c1
        y, x = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")  # [H, W] each
        kind = TEXTURES[int(u[9] * len(TEXTURES))]
        period = S / 4 + S / 4 * u[10]  # pixels, one period of the pattern
        phase = 2 * math.pi * u[11]
        if kind == "smooth":
            s = 0.5 + 0.5 * torch.sin(2 * math.pi * x / period + phase) * torch.sin(
                2 * math.pi * y / (1.5 * period) - phase)
        elif kind == "stripes":
            along = x * torch.cos(phase) + y * torch.sin(phase)
            s = (torch.sin(2 * math.pi * along / (period / 2)) > 0).float()
        else:
            cell = max(2, int(period / 2))
            s = ((x // cell + y // cell) % 2).float()
        image = c1[:, None, None] + (c2 - c1)[:, None, None] * s  # [3, H, W]
        return image, image.mean(dim=(1, 2))

    def batch(self, indices: Iterable[int]) -> dict[str, Tensor]:
        """Clips `indices` stacked into a batch: each item's [...] becomes [B, ...]."""
        return default_collate([self[i] for i in indices])


def sprite_batch(dataset: MovingSprites, indices: Iterable[int]) -> dict[str, Tensor]:
    """`dataset.batch(indices)`: clips stacked into a batch dict."""
    return dataset.batch(indices)


def _check_range(
    name: str, value: object, minimum: float, maximum: float, integer: bool = False,
    open_ends: bool = False,
) -> tuple:
    """`value` as (lo, hi) with minimum <= lo <= hi <= maximum (strict when open_ends)."""
    kind, kinds = ("an int", "ints") if integer else ("a number", "numbers")
    types = (int,) if integer else (int, float)
    pair = value if isinstance(value, (tuple, list)) else (value, value)
    ok = len(pair) == 2 and all(isinstance(p, types) and not isinstance(p, bool) for p in pair)
    if ok:
        lo, hi = pair
        inside = (minimum < lo and hi < maximum) if open_ends else (minimum <= lo and hi <= maximum)
        ok = inside and lo <= hi
    if not ok:
        bounds = f"{minimum} < min <= max < {maximum}" if open_ends else (
            f"{minimum} <= min <= max <= {maximum}")
        raise ValueError(f"{name} must be {kind} or an inclusive (min, max) pair of {kinds} "
                         f"with {bounds}, got {value!r}")
    return tuple(pair)

"""Video data for the course: synthetic moving sprites with ground truth, your own footage, and
reading and writing video files.

A video is a float32 tensor `[C, T, H, W]` (one clip) or `[B, C, T, H, W]` (a batch) with
C = 3 (RGB) and pixels in [-1, 1]: the value v stands for the 8-bit level (v + 1) * 127.5.
Pixel (row y, column x) has its centre at the point (x, y); a pixel covers [x - ½, x + ½].

Contents, in reading order:
- `MovingSprites`: clips of coloured shapes that glide at constant velocity and bounce off the
  frame edges, generated on the fly, with positions, velocities and masks as ground truth;
- `VideoFolder`: clips cut from the videos (and folders of frames) under a directory, skipping
  the unreadable ones with a `SkippedVideoWarning`;
- `read_video`, `write_gif`, `write_mp4`, `to_uint8`, `tile_videos`: files in, files out.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from vdlite.checkpoint import one_line

# ---------------------------------------------------------------------------------------------
# Moving sprites
# ---------------------------------------------------------------------------------------------

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
        self.num_clips = _check_int("num_clips", num_clips, 1)
        self.frames = _check_int("frames", frames, 1)
        self.size = _check_int("size", size, 4)
        self.stride = _check_int("stride", stride, 1)
        self.seed = _check_int("seed", seed, None)
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

        Background colours are dark and greyish: a grey level in [-0.9, -0.5] plus a tint of up
        to ±0.1 per channel. A texture blends two such colours, c1 + (c2 - c1) s, by a pattern
        s in [0, 1] of random period P in [size/4, size/2] and angle φ:
            smooth    s = ½ + ½ sin(2πx/P + φ) sin(2πy/(1.5 P) - φ)
            stripes   s = 1 where sin(2π u/(P/2)) > 0, u = x cos φ + y sin φ, else 0
            checker   s = (⌊x/c⌋ + ⌊y/c⌋) mod 2 with cells of c = ⌊P/2⌋ pixels
        """
        S = self.size
        u = torch.rand(12, generator=g, dtype=torch.float32)  # all the draws, fixed order
        c1 = -0.9 + 0.4 * u[0] + 0.2 * u[1:4] - 0.1  # [3]
        c2 = -0.9 + 0.4 * u[4] + 0.2 * u[5:8] - 0.1
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


def shape_mask(shape: str, centre: Tensor, radius: float, size: int) -> Tensor:
    """Binary masks [T, H, W] of one sprite of shape `shape` with centre `centre` [T, 2] (x, y)
    and radius `radius` on a size × size grid: a pixel is in when its centre is inside.

    With (dx, dy) the pixel centre minus the sprite centre and r the radius:
        circle    dx² + dy² <= r²
        square    max(|dx|, |dy|) <= r/√2                   (corners on the circle)
        diamond   |dx| + |dy| <= r                          (the square turned 45°)
        triangle  n · (dx, dy) <= r/2 for the three edge normals n = (0, 1), (±√3/2, -½)
                  (equilateral, apex up, vertices on the circle; its centroid is the centre)
    Every shape lies inside the circle of radius r, and its area centroid is the centre.
    """
    grid = torch.arange(size, dtype=torch.float32)
    dx = grid - centre[:, 0, None, None]  # [T, 1, W]
    dy = grid[:, None] - centre[:, 1, None, None]  # [T, H, 1]
    r = radius
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


def sprite_batch(dataset: MovingSprites, indices: Iterable[int]) -> dict[str, Tensor]:
    """`dataset.batch(indices)`: clips stacked into a batch dict."""
    return dataset.batch(indices)


def _check_int(name: str, value: object, minimum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


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


# ---------------------------------------------------------------------------------------------
# Reading your own footage
# ---------------------------------------------------------------------------------------------

VIDEO_EXTENSIONS = (".mp4", ".gif", ".webm", ".avi", ".mov")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


class SkippedVideoWarning(UserWarning):
    """`VideoFolder` skipped a video it cannot read; the message (one line) names it and why."""


class _UnreadableVideo(ValueError):
    """A video file or folder of frames that cannot be read: its `path` and a one-line
    `reason`. `read_video` raises it; `VideoFolder` skips the video."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"read_video: {path}: {reason}")
        self.path, self.reason = path, reason


class VideoFolder(Dataset):
    """Clips cut from every video under `root`: files ending in VIDEO_EXTENSIONS, and folders
    holding IMAGE_EXTENSIONS frames (one video per folder, frames sorted by file name).

    Each video is decoded once, here, and resized: shorter side to `size` (antialiased
    bilinear), then centre-cropped to size × size. A video of L frames gives
    floor(L / (frames × stride)) non-overlapping clips; clip k shows frames
    k·frames·stride + j·stride for j = 0..frames-1. Videos shorter than one clip are skipped.

    A video that `read_video` cannot read is skipped with a one-line `SkippedVideoWarning`,
    "VideoFolder: skipped PATH: REASON", and the rest are kept. Unreadable are: a file the
    decoder fails on, even after some frames (a truncated file is dropped whole rather than
    cut short), or that gives no frames; a folder of frames with an unreadable frame or
    frames of different sizes. Only when no video is left is it an error (ValueError naming
    `root` and each skipped video with its reason). A file truncated so that the decoder
    stops cleanly, without an error, cannot be told from a shorter video and is kept.

    Items: {"video": [3, frames, size, size] float32 in [-1, 1]}.
    Attributes: `paths` (one per video read), `lengths` (their frame counts), `clips` (the
    (video, k) pairs in item order), `skipped` (the (path, reason) pairs of those skipped).
    """

    def __init__(self, root: str | os.PathLike, frames: int = 8, size: int = 32,
                 stride: int = 1) -> None:
        self.root = Path(root)
        self.frames = _check_int("frames", frames, 1)
        self.size = _check_int("size", size, 1)
        self.stride = _check_int("stride", stride, 1)
        if not self.root.exists():
            raise FileNotFoundError(f"VideoFolder: {self.root} does not exist")
        found = [self.root] if self.root.is_file() else find_videos(self.root)
        if not found:
            raise ValueError(f"no videos under {self.root}: looked for files ending in "
                             f"{', '.join(VIDEO_EXTENSIONS)} and folders of "
                             f"{', '.join(IMAGE_EXTENSIONS)} frames")
        self.paths: list[Path] = []
        self.videos: list[Tensor] = []  # each [3, L, size, size]
        self.skipped: list[tuple[Path, str]] = []
        for path in found:
            try:
                video = read_video(path, size)
            except _UnreadableVideo as err:
                warnings.warn(f"VideoFolder: skipped {path}: {err.reason}", SkippedVideoWarning,
                              stacklevel=2)
                self.skipped.append((path, err.reason))
                continue
            self.paths.append(path)
            self.videos.append(video)
        skipped = "; ".join(f"{self._name(p)}: {reason}" for p, reason in self.skipped)
        if not self.videos:
            raise ValueError(f"VideoFolder: no readable video under {self.root}; skipped "
                             f"{skipped}")
        self.lengths = [v.shape[1] for v in self.videos]
        span = self.frames * self.stride
        self.clips = [(i, k) for i, n in enumerate(self.lengths) for k in range(n // span)]
        if not self.clips:
            lengths = ", ".join(
                f"{p.name}: {n}" for p, n in zip(self.paths, self.lengths, strict=True))
            raise ValueError(f"every video under {self.root} is shorter than one clip, which "
                             f"needs frames × stride = {self.frames} × {self.stride} = {span} "
                             f"frames; lengths found: {lengths}"
                             + (f"; skipped as unreadable: {skipped}" if skipped else ""))

    def _name(self, path: Path) -> str:
        """`path` relative to `root` (its name when it is `root`)."""
        return path.name if path == self.root else str(path.relative_to(self.root))

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        video, k = self.clips[index]
        start = k * self.frames * self.stride
        clip = self.videos[video][:, start : start + self.frames * self.stride : self.stride]
        return {"video": clip.clone()}


def find_videos(root: Path) -> list[Path]:
    """Video files and folders of frames under `root` (root included), in sorted order."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        files = sorted(files)
        if any(f.lower().endswith(IMAGE_EXTENSIONS) for f in files):
            found.append(Path(folder))
        found += [Path(folder) / f for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
    return found


def read_video(path: str | os.PathLike, size: int | None = None) -> Tensor:
    """Read a video file or a folder of frames as [3, T, H, W] float32 in [-1, 1].

    Files are decoded by imageio (video formats through imageio-ffmpeg); a folder's
    .png/.jpg/.jpeg frames are read in file-name order. Greyscale becomes RGB by repeating;
    an alpha channel is composited onto black. With `size`, frames are resized as they are
    read (shorter side to `size`, antialiased bilinear, then centre-cropped to size × size),
    so long, large videos never sit in memory at full resolution.

    A video that cannot be read raises a one-line ValueError "read_video: PATH: REASON":
    the decoder failed ("cannot decode: ERROR", whatever its type, even after some frames),
    it gave no frames ("no frames"), a frame of a folder cannot be read ("cannot read frame
    NAME: ERROR"), or a folder's frames differ in size ("frames have different sizes:
    64x48 (12 frames), 32x32 (1 frame: f_012.png)", width x height, the most common first).
    """
    path = Path(path)
    if size is not None:
        _check_int("size", size, 1)
    if not path.exists():
        raise FileNotFoundError(f"read_video: {path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise ValueError(f"read_video: {path} holds no {'/'.join(IMAGE_EXTENSIONS)} frames")
        frames = _folder_frames(path, files)
    else:
        frames = _video_frames(path)
    chunks = []
    while chunk := list(islice(frames, 64)):
        x = torch.from_numpy(np.stack([_rgb01(f) for f in chunk]))  # [t, H, W, 3] in [0, 1]
        x = x.permute(3, 0, 1, 2) * 2 - 1  # [3, t, H, W] in [-1, 1]
        chunks.append(x if size is None else resize_crop(x, size))
    if not chunks:
        raise _UnreadableVideo(path, "no frames")
    return torch.cat(chunks, dim=1)


def _video_frames(path: Path) -> Iterator[np.ndarray]:
    """The frames of a video file as imageio decodes them."""
    with _reading(path, "cannot decode"):
        yield from iio.imiter(path)


def _folder_frames(folder: Path, files: list[Path]) -> Iterator[np.ndarray]:
    """The frames of a folder of images, once their headers show that all share one size."""
    sizes: dict[tuple[int, int], list[str]] = {}  # (width, height): file names
    for f in files:
        with _reading(folder, f"cannot read frame {f.name}"), Image.open(f) as image:
            sizes.setdefault(image.size, []).append(f.name)
    if len(sizes) > 1:
        raise _UnreadableVideo(folder, f"frames have different sizes: {_size_counts(sizes)}")
    for f in files:
        with _reading(folder, f"cannot read frame {f.name}"):
            frame = iio.imread(f)
        yield frame


def _size_counts(sizes: dict[tuple[int, int], list[str]]) -> str:
    """"64x48 (12 frames), 32x32 (1 frame: f_012.png)": each width x height with its number of
    frames, the most common first, naming up to 3 frames of each other size."""
    parts = []
    for i, ((w, h), names) in enumerate(sorted(sizes.items(), key=lambda s: -len(s[1]))):
        count = f"{len(names)} frame" + ("s" if len(names) > 1 else "")
        if i > 0:
            count += ": " + ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        parts.append(f"{w}x{h} ({count})")
    return ", ".join(parts)


@contextmanager
def _reading(path: Path, what: str) -> Iterator[None]:
    """Raise any error of the decoder inside as _UnreadableVideo(path, "WHAT: ERROR").

    Decoders raise many types (OSError, ValueError, RuntimeError, IndexError, SyntaxError,
    struct.error, ...), so every Exception is caught but MemoryError; KeyboardInterrupt and
    SystemExit pass through."""
    try:
        yield
    except MemoryError:
        raise
    except Exception as err:
        raise _UnreadableVideo(path, f"{what}: {one_line(err)}") from err


def _rgb01(frame: np.ndarray) -> np.ndarray:
    """One decoded frame [H, W], [H, W, 1|2|3|4] of any dtype as float32 RGB [H, W, 3] in
    [0, 1]; integers are divided by their type's maximum, alpha multiplies the colour."""
    if np.issubdtype(frame.dtype, np.integer):
        frame = frame.astype(np.float32) / np.iinfo(frame.dtype).max
    frame = np.asarray(frame, dtype=np.float32)
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.shape[2] in (2, 4):  # grey + alpha, RGB + alpha
        frame = frame[:, :, :-1] * frame[:, :, -1:]
    return np.broadcast_to(frame, (*frame.shape[:2], 3))


def resize_crop(video: Tensor, size: int) -> Tensor:
    """[3, T, H, W] -> [3, T, size, size]: shorter side to `size` (antialiased bilinear, which
    averages when shrinking), then the centre size × size square."""
    _, _, H, W = video.shape
    h, w = max(size, round(H * size / min(H, W))), max(size, round(W * size / min(H, W)))
    if (h, w) != (H, W):
        video = F.interpolate(video.transpose(0, 1), size=(h, w), mode="bilinear",
                              antialias=True, align_corners=False).transpose(0, 1)
    top, left = (h - size) // 2, (w - size) // 2
    return video[:, :, top : top + size, left : left + size].clamp(-1, 1)


# ---------------------------------------------------------------------------------------------
# Writing videos
# ---------------------------------------------------------------------------------------------


def tile_videos(videos: Tensor | Sequence[Tensor], ncols: int | None = None, gap: int = 1,
                gap_value: float = 1.0) -> Tensor:
    """Lay clips out in a grid: [B, 3, T, H, W] (or B clips [3, T, H, W]) -> [3, T, H', W'].

    Row-major, `ncols` clips per row (default: all B in one row), separated by `gap` pixels
    of `gap_value`; H' = rows·H + (rows-1)·gap, W' = ncols·W + (ncols-1)·gap. Cells past the
    last clip are filled with `gap_value`.
    """
    if not isinstance(videos, Tensor):
        videos = list(videos)
        for v in videos:
            _check_video(v, batch=False)
        if len({tuple(v.shape) for v in videos}) > 1:
            raise ValueError(f"tile_videos: clips must share one shape, got "
                             f"{sorted({tuple(v.shape) for v in videos})}")
        videos = torch.stack(videos)
    _check_video(videos)
    if videos.dim() == 4:
        videos = videos[None]
    B, C, T, H, W = videos.shape
    ncols = B if ncols is None else _check_int("ncols", ncols, 1)
    gap = _check_int("gap", gap, 0)
    rows = math.ceil(B / ncols)
    grid = videos.new_full((C, T, rows * (H + gap) - gap, ncols * (W + gap) - gap), gap_value)
    for b in range(B):
        y, x = b // ncols * (H + gap), b % ncols * (W + gap)
        grid[:, :, y : y + H, x : x + W] = videos[b]
    return grid


def to_uint8(video: Tensor) -> np.ndarray:
    """[3, T, H, W] (or a batch [B, 3, T, H, W], tiled side by side) in [-1, 1] ->
    uint8 frames [T, H, W, 3]: round((clamp(v, -1, 1) + 1) · 127.5)."""
    _check_video(video)
    if video.dim() == 5:
        video = tile_videos(video)
    if torch.isnan(video).any():
        raise ValueError("to_uint8: the video contains NaN")
    video = video.detach().cpu().float().clamp(-1, 1)
    return ((video + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()


def write_gif(video: Tensor, path: str | os.PathLike, fps: float = 8, scale: int = 1) -> None:
    """Write [3, T, H, W] (or [B, 3, T, H, W], tiled side by side) as a GIF that loops forever,
    each pixel upscaled to a `scale` × `scale` block (nearest neighbour).

    GIF stores at most 256 palette colours and frame times in hundredths of a second (fps 8
    gives 0.12 s). All frames share one palette: the clip's own colours when it has at most 128
    (then the file is exact), else 128 picked by Pillow's median cut (refined by k-means).
    Pillow merges a frame identical to the one before into it, which would shorten the clip;
    to keep every frame, the palette is stored twice (entries i and i + 128 are the same
    colour) and a repeated frame uses the other copy for its first pixel.
    """
    _check_fps(fps)
    frames = to_uint8(video)  # [T, H, W, 3]
    T, H, W, _ = frames.shape
    rgb = frames.astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], np.int32)  # [T, H, W]
    keys, index = np.unique(rgb, return_inverse=True)
    if len(keys) <= 128:
        colours = (keys[:, None] >> np.array([16, 8, 0])) & 255  # [num_colours, 3]
    else:  # quantize all frames together, as one tall image
        tall = Image.fromarray(frames.reshape(T * H, W, 3)).quantize(
            128, method=Image.Quantize.MEDIANCUT, kmeans=2, dither=Image.Dither.NONE)
        colours = np.array(tall.getpalette()[: 3 * 128]).reshape(-1, 3)
        index = np.asarray(tall)
    index = _upscale(index.reshape(T, H, W, 1).astype(np.uint8), _check_int("scale", scale, 1))
    index = index[..., 0]  # [T, scale·H, scale·W], palette entries
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(colours)] = palette[128 : 128 + len(colours)] = colours
    for t in range(1, T):
        if np.array_equal(index[t] % 128, index[t - 1] % 128):
            index[t, 0, 0] = index[t - 1, 0, 0] ^ 128  # same colour, other palette entry
    images = [Image.fromarray(i) for i in index]  # mode "L", then "P" with the palette
    for im in images:
        im.putpalette(palette.tobytes())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=10 * max(1, round(100 / fps)), optimize=False)


def write_mp4(video: Tensor, path: str | os.PathLike, fps: float = 8, scale: int = 1) -> None:
    """Write [3, T, H, W] (or [B, 3, T, H, W], tiled side by side) as an H.264 MP4 (imageio
    with imageio-ffmpeg), each pixel upscaled to a `scale` × `scale` block.

    Players expect pixel format yuv420p, which stores colour at half resolution and needs
    even sizes: an odd height or width is padded with one copy of the last row or column, so
    the file can be one pixel taller or wider than the video. Quality 8 (x264 CRF 10) is close
    to lossless for brightness; colour edges blur by the chroma subsampling.
    """
    _check_fps(fps)
    frames = _upscale(to_uint8(video), _check_int("scale", scale, 1))  # [T, H, W, 3]
    _, H, W, _ = frames.shape
    frames = np.pad(frames, ((0, 0), (0, H % 2), (0, W % 2), (0, 0)), mode="edge")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, frames, plugin="FFMPEG", fps=fps, codec="libx264", quality=8,
                pixelformat="yuv420p", macro_block_size=2)


def _upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """[T, H, W, C] -> [T, scale·H, scale·W, C], each pixel repeated (nearest neighbour)."""
    return frames.repeat(scale, axis=1).repeat(scale, axis=2)


def _check_fps(fps: object) -> None:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")


def _check_video(video: object, batch: bool = True) -> None:
    """Raise unless `video` is a tensor [3, T, H, W] (or, with `batch`, [B, 3, T, H, W])."""
    want = "[3, T, H, W] or a batch [B, 3, T, H, W]" if batch else "[3, T, H, W]"
    if not isinstance(video, Tensor):
        raise TypeError(f"expected a video tensor {want}, got {type(video).__name__}")
    if video.dim() not in ((4, 5) if batch else (4,)) or video.shape[-4] != 3:
        raise ValueError(f"expected a video {want} with 3 colour channels, got shape "
                         f"{tuple(video.shape)}")

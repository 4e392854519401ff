"""Videos in and out: clips cut from your own footage, and GIF, MP4 and tiled images written.

A video is a float32 tensor `[C, T, H, W]` (one clip) or `[B, C, T, H, W]` (a batch) with
C = 3 (RGB) and pixels in [-1, 1]: the value v stands for the 8-bit level (v + 1) * 127.5.

- `VideoFolder`: clips cut from the videos (and folders of frames) under a directory, skipping
  the unreadable ones with a `SkippedVideoWarning`;
- `read_video`, `resize_crop`: one file or folder of frames to a tensor;
- `write_gif`, `write_mp4`, `to_uint8`, `tile_videos`: tensors to files and pictures.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from vdlite.checkpoint import one_line


def check_int(name: str, value: object, minimum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value



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
        self.frames = check_int("frames", frames, 1)
        self.size = check_int("size", size, 1)
        self.stride = check_int("stride", stride, 1)
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
        check_int("size", size, 1)
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
    ncols = B if ncols is None else check_int("ncols", ncols, 1)
    gap = check_int("gap", gap, 0)
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
    index = _upscale(index.reshape(T, H, W, 1).astype(np.uint8), check_int("scale", scale, 1))
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
    frames = _upscale(to_uint8(video), check_int("scale", scale, 1))  # [T, H, W, 3]
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

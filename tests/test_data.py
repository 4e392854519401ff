"""Tests for vdlite.data: the moving-sprites ground truth checked against the rendered pixels and
the laws of its motion, and video files written, read back and cut into clips.

Tolerances: positions and velocities are float32 of values below 64, so the motion laws hold to
1e-4 px; a crisp shape's pixel centroid lies within 1 px of its true centroid; GIF round trips
of clips with at most 128 colours are exact (to the 8-bit level); MP4 (H.264, yuv420p) round
trips of flat colours are within 0.05 mean (yuv420p halves colour resolution, so pixels along
colour edges take most of the error) and 0.08 two or more pixels away from colour edges (in
[-1, 1] units).
"""

import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch.utils.data import DataLoader

from vdlite.data import (
    COLOUR_NAMES,
    PALETTE,
    SHAPES,
    MovingSprites,
    VideoFolder,
    read_video,
    sprite_batch,
    tile_videos,
    to_uint8,
    write_gif,
    write_mp4,
)

PALETTE_T = torch.tensor([PALETTE[name] for name in COLOUR_NAMES])  # [colours, 3]
KEYS = {"video", "positions", "velocities", "masks", "present", "shape_ids", "colour_ids",
        "sizes", "background", "occluder"}


def centroids(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre centroids [..., 2] (x, y) and areas [...] of boolean masks [..., H, W]."""
    H, W = masks.shape[-2:]
    y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    m = masks.double()
    area = m.sum((-2, -1))
    cx = (m * x).sum((-2, -1)) / area
    cy = (m * y).sum((-2, -1)) / area
    return torch.stack([cx, cy], dim=-1), area


def quantized(video: torch.Tensor) -> torch.Tensor:
    """A video rounded to the 8-bit levels a file can hold, [3, T, H, W] in [-1, 1]."""
    return torch.from_numpy(to_uint8(video)).permute(3, 0, 1, 2).float() / 127.5 - 1


def bounds(sizes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The range [lo, hi] of a sprite centre: the sprite's circle stays inside the frame."""
    r = sizes.double() / 2
    return r - 0.5, size - 0.5 - r


# ---------------------------------------------------------------------------------------------
# MovingSprites: the item
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [
    {},
    {"frames": 5, "size": 24, "sprites": (2, 5), "stride": 3, "background": "textured",
     "occluder": 1.0},
    {"frames": 1, "size": 9, "sprites": 4, "background": "mixed"},
])
def test_item_keys_shapes_dtypes(kw):
    ds = MovingSprites(**kw)
    T, S, N = ds.frames, ds.size, ds.max_sprites
    item = ds[3]
    assert set(item) == KEYS
    expect = {
        "video": ((3, T, S, S), torch.float32), "positions": ((T, N, 2), torch.float32),
        "velocities": ((T, N, 2), torch.float32), "masks": ((T, N, S, S), torch.bool),
        "present": ((N,), torch.bool), "shape_ids": ((N,), torch.int64),
        "colour_ids": ((N,), torch.int64), "sizes": ((N,), torch.float32),
        "background": ((3,), torch.float32), "occluder": ((S, S), torch.bool),
    }
    for key, (shape, dtype) in expect.items():
        assert item[key].shape == shape, key
        assert item[key].dtype == dtype, key


@settings(max_examples=40, deadline=None)
@given(size=st.integers(6, 40), frames=st.integers(1, 6), stride=st.integers(1, 3),
       lo=st.integers(1, 4), extra=st.integers(0, 4),
       background=st.sampled_from(["plain", "textured", "mixed"]),
       occluder=st.sampled_from([0.0, 0.5, 1.0]), seed=st.integers(0, 2**40),
       index=st.integers(0, 99))
def test_item_invariants(size, frames, stride, lo, extra, background, occluder, seed, index):
    """Any configuration: pixels in [-1, 1]; padding where absent; visible masks disjoint and
    coloured with their sprite's palette colour; distinct colours within a clip."""
    ds = MovingSprites(num_clips=100, frames=frames, size=size, sprites=(lo, lo + extra),
                       stride=stride, background=background, occluder=occluder, seed=seed)
    item = ds[index]
    video, masks, present = item["video"], item["masks"], item["present"]
    assert torch.isfinite(video).all() and video.min() >= -1 and video.max() <= 1
    count = int(present.sum())
    assert lo <= count <= lo + extra
    assert present[:count].all() and not present[count:].any()  # present sprites come first
    assert (item["shape_ids"][~present] == -1).all() and (item["colour_ids"][~present] == -1).all()
    assert not masks[:, ~present].any() and (item["sizes"][~present] == 0).all()
    assert (item["positions"][:, ~present] == 0).all()
    assert (item["velocities"][:, ~present] == 0).all()
    assert item["shape_ids"][present].lt(len(SHAPES)).all()
    assert item["shape_ids"][present].ge(0).all()
    assert len(set(item["colour_ids"][present].tolist())) == count
    assert masks.sum(1).max() <= 1  # a pixel shows at most one sprite
    for k in range(count):
        colour = PALETTE_T[item["colour_ids"][k]]
        pixels = video.permute(1, 2, 3, 0)[masks[:, k]]  # [pixels, 3]
        assert torch.equal(pixels, colour.expand_as(pixels))


def test_deterministic_whatever_the_order():
    a = MovingSprites(sprites=(1, 4), background="mixed", occluder=0.5, seed=7)
    b = MovingSprites(sprites=(1, 4), background="mixed", occluder=0.5, seed=7)
    forward = [a[i] for i in range(12)]
    backward = [b[i] for i in reversed(range(12))][::-1]
    for x, y in zip(forward, backward, strict=True):
        for key in KEYS:
            assert torch.equal(x[key], y[key]), key
    assert torch.equal(a[-1]["video"], a[len(a) - 1]["video"])


def test_clips_differ_across_indices_and_seeds():
    s0, s1 = MovingSprites(seed=0), MovingSprites(seed=1)
    clips0 = [s0[i]["video"] for i in range(20)]
    for i in range(20):
        for j in range(i):
            assert not torch.equal(clips0[i], clips0[j]), (i, j)
        assert not torch.equal(clips0[i], s1[i]["video"]), i


def test_index_out_of_range():
    ds = MovingSprites(num_clips=5)
    with pytest.raises(IndexError, match="5"):
        ds[5]
    with pytest.raises(IndexError):
        ds[-6]
    assert len(ds) == 5 and len(list(iter(ds))) == 5


def test_batch_matches_default_collate():
    ds = MovingSprites(num_clips=8, sprites=(1, 3))
    loaded = next(iter(DataLoader(ds, batch_size=4)))
    batch, same = ds.batch(range(4)), sprite_batch(ds, [0, 1, 2, 3])
    for key in KEYS:
        assert loaded[key].shape[0] == 4
        assert torch.equal(loaded[key], batch[key]) and torch.equal(batch[key], same[key]), key
        assert torch.equal(batch[key][2], ds[2][key]), key


def test_generation_is_fast():
    """One 8 × 32 × 32 clip in a few ms; 25 ms would mean a Python loop over pixels."""
    ds = MovingSprites(sprites=(1, 3), background="mixed", occluder=0.5)
    ds[0]
    start = time.perf_counter()
    for i in range(100):
        ds[i]
    assert (time.perf_counter() - start) / 100 < 0.025


# ---------------------------------------------------------------------------------------------
# MovingSprites: ground truth against pixels and physics
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single():
    return MovingSprites(num_clips=120, sprites=1, background="mixed", seed=3).batch(range(120))


@pytest.fixture(scope="module")
def multi():
    ds = MovingSprites(num_clips=160, frames=8, sprites=(2, 4), stride=2, seed=4)
    return ds.batch(range(120))


def test_all_shapes_and_colours_occur(multi):
    ids = multi["shape_ids"][multi["present"]]
    assert set(ids.tolist()) == set(range(len(SHAPES)))
    assert set(multi["colour_ids"][multi["present"]].tolist()) == set(range(len(PALETTE)))


def test_centroid_matches_position_single_sprite(single):
    c, area = centroids(single["masks"][:, :, 0])  # [B, T, 2]
    assert (area > 0).all()
    err = (c - single["positions"][:, :, 0].double()).abs()
    assert err.max() <= 1.0, err.max()


def test_centroid_matches_position_where_unoccluded(multi):
    """A sprite whose circle is apart from every other sprite's is wholly visible."""
    pos, r = multi["positions"].double(), multi["sizes"].double() / 2  # [B, T, N, 2], [B, N]
    present = multi["present"]
    dist = (pos[:, :, :, None] - pos[:, :, None]).norm(dim=-1)  # [B, T, N, N]
    reach = r[:, None, :, None] + r[:, None, None, :]
    other = present[:, None, None, :] & ~torch.eye(pos.shape[2], dtype=torch.bool)
    apart = ((dist > reach) | ~other).all(-1) & present[:, None]  # [B, T, N]
    assert apart.sum() > 500
    c, area = centroids(multi["masks"])
    err = (c - pos).abs().amax(-1)[apart]
    assert (area[apart] > 0).all()
    assert err.max() <= 1.0, err.max()


def test_plain_background_and_occluder_pixels():
    ds = MovingSprites(num_clips=40, sprites=(1, 3), occluder=0.5, seed=5)
    b = ds.batch(range(40))
    video = b["video"].permute(0, 2, 3, 4, 1)  # [B, T, H, W, 3]
    rest = ~b["masks"].any(2) & ~b["occluder"][:, None]  # [B, T, H, W]
    for i in range(40):
        pixels = video[i][rest[i]]
        assert torch.equal(pixels, b["background"][i].expand_as(pixels))
        bar = video[i][b["occluder"][i].expand_as(rest[i])]
        if len(bar):
            assert (bar == bar[0]).all()  # one grey
            assert bar[0, 0] == bar[0, 1] == bar[0, 2]
            assert not (PALETTE_T == bar[0]).all(1).any()


def test_sprites_contrast_with_plain_background(single):
    plain = single["background"]  # [B, 3], "mixed": the mean of textured ones too
    gap = (PALETTE_T[None] - plain[:, None]).abs().amax(-1)  # [B, colours]
    assert gap.min() >= 1.4
    assert (plain <= -0.4).all() and (plain >= -1).all()


def test_sprites_stay_inside_the_frame(multi):
    present = multi["present"]
    lo, hi = bounds(multi["sizes"], 32)  # [B, N]
    pos = multi["positions"].double()  # [B, T, N, 2]
    inside = (pos >= lo[:, None, :, None] - 1e-4) & (pos <= hi[:, None, :, None] + 1e-4)
    assert inside.all(-1).all(1)[present].all()
    # every visible pixel lies within the sprite's circle
    H = W = 32
    y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    d2 = (x - pos[..., 0, None, None]) ** 2 + (y - pos[..., 1, None, None]) ** 2
    r2 = (multi["sizes"].double() / 2)[:, None, :, None, None] ** 2
    assert (d2[multi["masks"]] <= r2.expand_as(d2)[multi["masks"]] + 1e-4).all()


@pytest.mark.parametrize("stride", [1, 3])
def test_motion_is_straight_or_reflected(stride):
    """positions[t+1] = positions[t] + velocities[t] when that stays within the centre's range
    [lo, hi]; otherwise the overshoot is reflected off the wall w: 2w - (p + v). To 1e-4 px."""
    ds = MovingSprites(num_clips=120, frames=8, sprites=(1, 3), stride=stride, seed=6)
    b = ds.batch(range(120))
    p, v = b["positions"].double(), b["velocities"].double()  # [B, T, N, 2]
    lo, hi = (x[:, None, :, None] for x in bounds(b["sizes"], 32))  # [B, 1, N, 1]
    ahead = p[:, :-1] + v[:, :-1]  # where a straight line would go
    reflected = torch.where(ahead > hi, 2 * hi - ahead, torch.where(ahead < lo, 2 * lo - ahead,
                                                                    ahead))
    present = b["present"][:, None, :, None].expand_as(ahead)
    straight = (ahead >= lo) & (ahead <= hi) & present
    bounced = ~((ahead >= lo) & (ahead <= hi)) & present
    assert straight.sum() > 1000 and bounced.sum() > 20  # both cases are exercised
    assert (p[:, 1:] - ahead)[straight].abs().max() <= 1e-4
    assert (p[:, 1:] - reflected)[bounced].abs().max() <= 1e-4


def test_speed_is_constant_and_in_range():
    ds = MovingSprites(num_clips=60, frames=10, sprites=(1, 3), stride=2, speed=(0.7, 1.5),
                       seed=8)
    b = ds.batch(range(60))
    speed = b["velocities"].double().norm(dim=-1)  # [B, T, N]
    present = b["present"][:, None].expand_as(speed)
    assert (speed - speed[:, :1]).abs()[present].max() <= 1e-5
    assert speed[present].min() >= 2 * 0.7 - 1e-5 and speed[present].max() <= 2 * 1.5 + 1e-5


@pytest.mark.parametrize("stride", [2, 3])
def test_stride_takes_every_kth_native_frame(stride):
    native = MovingSprites(num_clips=20, frames=9, sprites=(1, 3), occluder=0.5,
                           background="mixed", seed=9)
    strided = MovingSprites(num_clips=20, frames=8 // stride + 1, sprites=(1, 3), occluder=0.5,
                            background="mixed", stride=stride, seed=9)
    for i in range(20):
        a, b = native[i], strided[i]
        assert torch.equal(b["video"], a["video"][:, ::stride])
        assert torch.equal(b["positions"], a["positions"][::stride])
        assert torch.equal(b["masks"], a["masks"][::stride])
        # float32 rounding of stride × v (exact when the stride is a power of 2)
        assert torch.allclose(b["velocities"], stride * a["velocities"][::stride], rtol=1e-6,
                              atol=0)
        for key in ("present", "shape_ids", "colour_ids", "sizes", "background", "occluder"):
            assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("change", [{"occluder": 1.0}, {"background": "textured"},
                                    {"frames": 3}])
def test_options_keep_the_sprites(change):
    """Every draw happens whatever the options, so a clip keeps its sprites and motion."""
    kw = {"num_clips": 10, "frames": 6, "sprites": (1, 3), "seed": 10}
    base, other = MovingSprites(**kw), MovingSprites(**{**kw, **change})
    for i in range(10):
        a, b = base[i], other[i]
        T = b["positions"].shape[0]
        for key in ("positions", "velocities"):
            assert torch.equal(a[key][:T], b[key]), key
        for key in ("present", "shape_ids", "colour_ids", "sizes"):
            assert torch.equal(a[key], b[key]), key


def test_occluder_hides_sprites():
    kw = {"num_clips": 30, "sprites": (1, 3), "seed": 11}
    clear = MovingSprites(**kw).batch(range(30))
    hidden = MovingSprites(**kw, occluder=1.0).batch(range(30))
    assert not clear["occluder"].any()
    bar = hidden["occluder"]  # [B, H, W]
    assert (bar == bar[:, :1]).all()  # a vertical bar: every row alike
    width = bar[:, 0].sum(-1)
    assert (width >= 1).all() and (width <= 32 // 5).all()
    cols = bar[:, 0].float().argmax(-1)
    assert all(bar[i, 0, cols[i] : cols[i] + width[i]].all() for i in range(30))  # contiguous
    assert not (hidden["masks"] & bar[:, None, None]).any()
    assert torch.equal(hidden["masks"], clear["masks"] & ~bar[:, None, None])
    assert (hidden["masks"].sum() < clear["masks"].sum())


def test_occluder_probability():
    b = MovingSprites(num_clips=300, occluder=0.3, seed=12).batch(range(300))
    rate = b["occluder"].flatten(1).any(1).float().mean()
    assert 0.2 <= rate <= 0.4  # 300 Bernoulli(0.3) draws: sd 0.026


def test_backgrounds():
    for kind, textured_share in (("plain", (0, 0)), ("textured", (1, 1)), ("mixed", (0.3, 0.7))):
        b = MovingSprites(num_clips=40, sprites=1, background=kind, seed=13).batch(range(40))
        video = b["video"].permute(0, 2, 3, 4, 1)  # [B, T, H, W, 3]
        shown = ~b["masks"].any(2)  # [B, T, H, W] background pixels
        textured = 0
        for i in range(40):
            both = shown[i, 0] & shown[i, -1]
            assert torch.equal(video[i, 0][both], video[i, -1][both])  # static
            pixels = video[i][shown[i]]  # [pixels, 3]
            textured += bool((pixels != pixels[0]).any())
            lo, hi = pixels.amin(0) - 1e-6, pixels.amax(0) + 1e-6
            assert ((lo <= b["background"][i]) & (b["background"][i] <= hi)).all()
        assert textured_share[0] <= textured / 40 <= textured_share[1], kind


@pytest.mark.parametrize("kw, match", [
    ({"num_clips": 0}, "num_clips must be >= 1"),
    ({"frames": 2.5}, "frames must be an int"),
    ({"size": 2}, "size must be >= 4"),
    ({"stride": 0}, "stride must be >= 1"),
    ({"sprites": 0}, r"sprites must be an int or an inclusive \(min, max\)"),
    ({"sprites": (3, 2)}, "sprites must be"),
    ({"sprites": 9}, "max <= 8"),
    ({"sprites": (1, 2, 3)}, "sprites must be"),
    ({"speed": -1.0}, "speed must be"),
    ({"sprite_size": (0.2, 1.0)}, "sprite_size must be .* max < 1"),
    ({"sprite_size": 0}, "sprite_size must be"),
    ({"occluder": 1.5}, r"occluder must be a probability in \[0, 1\]"),
    ({"background": "noise"}, "background must be one of .*plain"),
    ({"seed": "0"}, "seed must be an int"),
])
def test_argument_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        MovingSprites(**kw)


# ---------------------------------------------------------------------------------------------
# Writing and reading videos
# ---------------------------------------------------------------------------------------------


def blocks(T: int = 8, H: int = 32, W: int = 32) -> torch.Tensor:
    """Flat colours: two blocks on a dark ground, one moving 2 px a frame. [3, T, H, W]."""
    colours = torch.tensor([[-0.8, -0.7, -0.9], [1, -1, -1], [-1, 1, 1], [1, 1, -1]])
    label = torch.zeros(T, H, W, dtype=torch.long)
    for t in range(T):
        label[t, 4 : H // 2 + 2, 2 * t % (W - 12) : 2 * t % (W - 12) + 12] = 1
        label[t, H // 2 + 4 : H - 2, 10 : W - 4] = 2 + t % 2
    return colours[label].permute(3, 0, 1, 2), label


def test_to_uint8_rounds_clamps_and_round_trips():
    levels = torch.arange(256, dtype=torch.float32).reshape(1, 1, 16, 16).expand(3, 2, 16, 16)
    video = levels / 127.5 - 1
    frames = to_uint8(video)
    assert frames.shape == (2, 16, 16, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[..., 0], levels[0].numpy().astype(np.uint8))
    assert np.array_equal(to_uint8(torch.full((3, 1, 2, 2), 7.0)), np.full((1, 2, 2, 3), 255))
    assert np.array_equal(to_uint8(torch.full((3, 1, 2, 2), -7.0)), np.zeros((1, 2, 2, 3)))
    batch = torch.stack([video, -video])
    assert to_uint8(batch).shape == (2, 16, 33, 3)  # side by side, 1 px gap


@pytest.mark.parametrize("fn", [to_uint8, lambda v: tile_videos(v),
                                lambda v: write_gif(v, "/nonexistent/x.gif"),
                                lambda v: write_mp4(v, "/nonexistent/x.mp4")])
def test_video_checks(fn):
    with pytest.raises(ValueError, match=r"\[3, T, H, W\].*got shape \(3, 8, 8\)"):
        fn(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match=r"3 colour channels, got shape \(1, 2, 8, 8\)"):
        fn(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="got shape"):
        fn(torch.zeros(2, 4, 2, 8, 8))
    with pytest.raises(TypeError, match="ndarray"):
        fn(np.zeros((3, 2, 8, 8)))


def test_nan_and_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(torch.full((3, 1, 2, 2), float("nan")))
    with pytest.raises(ValueError, match="scale must be >= 1"):
        write_gif(torch.zeros(3, 2, 4, 4), tmp_path / "a.gif", scale=0)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        write_mp4(torch.zeros(3, 2, 4, 4), tmp_path / "a.mp4", fps=0)
    with pytest.raises(ValueError, match="clips must share one shape"):
        tile_videos([torch.zeros(3, 2, 4, 4), torch.zeros(3, 2, 4, 5)])


def test_tile_videos_layout():
    clips = torch.rand(5, 3, 2, 4, 6) * 2 - 1
    grid = tile_videos(clips, ncols=3, gap=2, gap_value=-0.5)
    assert grid.shape == (3, 2, 2 * 4 + 2, 3 * 6 + 2 * 2)
    filled = torch.zeros(grid.shape[-2:], dtype=torch.bool)
    for b in range(5):
        y, x = b // 3 * 6, b % 3 * 8
        assert torch.equal(grid[:, :, y : y + 4, x : x + 6], clips[b])
        filled[y : y + 4, x : x + 6] = True
    assert (grid[:, :, ~filled] == -0.5).all()  # gaps and the empty sixth cell
    assert torch.equal(tile_videos(list(clips)), tile_videos(clips, ncols=5))
    assert tile_videos(clips).shape == (3, 2, 4, 5 * 6 + 4)  # default: one row
    assert torch.equal(tile_videos(clips[0]), clips[0])


def test_gif_round_trip_is_exact(tmp_path):
    for i, kind in enumerate(["plain", "textured"]):
        clip = MovingSprites(size=33, frames=9, background=kind, occluder=0.5)[i]["video"]
        write_gif(clip, tmp_path / f"{kind}.gif")
        assert torch.allclose(read_video(tmp_path / f"{kind}.gif"), quantized(clip), atol=1e-6)


def test_gif_keeps_repeated_frames_and_loops(tmp_path):
    clip, _ = blocks(T=3)
    still = torch.cat([clip[:, :1].expand(3, 4, 32, 32), clip, clip[:, -1:].expand(3, 3, 32, 32)],
                      dim=1)  # 10 frames, two runs of repeats
    write_gif(still, tmp_path / "still.gif", fps=5)
    back = read_video(tmp_path / "still.gif")
    assert back.shape[1] == 10
    assert torch.allclose(back, quantized(still), atol=1e-6)
    with Image.open(tmp_path / "still.gif") as im:
        assert im.info["loop"] == 0 and im.info["duration"] == 200 and im.n_frames == 10


def test_gif_scale_and_batch(tmp_path):
    a, b = blocks(T=4)[0], -blocks(T=4)[0]
    write_gif(torch.stack([a, b]), tmp_path / "pair.gif", scale=3)
    back = read_video(tmp_path / "pair.gif")
    side_by_side = quantized(tile_videos(torch.stack([a, b])))  # [3, 4, 32, 65]
    upscaled = side_by_side.repeat_interleave(3, dim=2).repeat_interleave(3, dim=3)
    assert back.shape == (3, 4, 96, 195)
    assert torch.allclose(back, upscaled, atol=1e-6)


def test_gif_with_many_colours_is_close(tmp_path):
    clip = MovingSprites(background="textured")[0]["video"]
    noisy = (clip + 0.08 * torch.randn(clip.shape, generator=torch.Generator().manual_seed(0)))
    noisy = noisy.clamp(-1, 1)
    write_gif(noisy, tmp_path / "noisy.gif")
    back = read_video(tmp_path / "noisy.gif")
    assert back.shape == noisy.shape
    assert (back - quantized(noisy)).abs().mean() < 0.04  # 128 colours for ~5000


def test_mp4_round_trip_within_lossy_tolerance(tmp_path):
    """Odd sizes are padded to even; flat colours survive H.264 to 0.05 mean (measured: 0.030),
    and to 0.08 at pixels 2+ px from a colour edge, out of reach of chroma bleeding (measured:
    0.051)."""
    clip, label = blocks(T=8, H=33, W=31)
    write_mp4(clip, tmp_path / "clip.mp4", fps=8)
    back = read_video(tmp_path / "clip.mp4")
    assert back.shape == (3, 8, 34, 32)
    err = (back[:, :, :33, :31] - clip).abs()  # [3, T, H, W]
    assert err.mean() < 0.05
    lab = label[:, None].float()
    near_edge = torch.nn.functional.max_pool2d(lab, 5, 1, 2) != -torch.nn.functional.max_pool2d(
        -lab, 5, 1, 2)
    interior = ~near_edge[:, 0]  # [T, H, W]
    assert interior.float().mean() > 0.5
    assert err.amax(0)[interior].max() < 0.08


def test_png_folder_round_trip_greyscale_and_rgba(tmp_path):
    clip, _ = blocks(T=5, H=12, W=20)
    frames = to_uint8(clip)  # [T, H, W, 3]
    for kind in ("rgb", "grey", "rgba"):
        (tmp_path / kind).mkdir()
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / "rgb" / f"f{t:03d}.png")
        Image.fromarray(frame[..., 1]).save(tmp_path / "grey" / f"f{t:03d}.png")
        rgba = np.concatenate([frame, np.full_like(frame[..., :1], 255)], axis=-1)
        Image.fromarray(rgba).save(tmp_path / "rgba" / f"f{t:03d}.png")
    assert torch.allclose(read_video(tmp_path / "rgb"), quantized(clip), atol=1e-6)
    assert torch.allclose(read_video(tmp_path / "rgba"), quantized(clip), atol=1e-6)
    grey = read_video(tmp_path / "grey")
    assert grey.shape == (3, 5, 12, 20)
    assert torch.allclose(grey, quantized(clip)[1:2].expand_as(grey), atol=1e-6)


def test_read_video_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.mp4"):
        read_video(tmp_path / "nothing.mp4")
    with pytest.raises(ValueError, match="no .png/.jpg/.jpeg frames"):
        read_video(tmp_path)


# ---------------------------------------------------------------------------------------------
# VideoFolder
# ---------------------------------------------------------------------------------------------


def test_video_folder_counts_and_content(tmp_path):
    """Clips are frames k·F·s + j·s, floor(L / (F·s)) of them per video."""
    frames, stride = 4, 2
    gif_clip = MovingSprites(frames=20)[0]["video"]
    mp4_clip, _ = blocks(T=13)
    png_clip = MovingSprites(frames=17)[1]["video"]
    write_gif(gif_clip, tmp_path / "a.gif")
    write_mp4(mp4_clip, tmp_path / "b.mp4")
    (tmp_path / "nested" / "c").mkdir(parents=True)
    for t, frame in enumerate(to_uint8(png_clip)):
        Image.fromarray(frame).save(tmp_path / "nested" / "c" / f"{t:04d}.png")
    (tmp_path / "notes.txt").write_text("not a video")
    data = VideoFolder(tmp_path, frames=frames, size=32, stride=stride)
    assert [p.name for p in data.paths] == ["a.gif", "b.mp4", "c"]
    assert data.lengths == [20, 13, 17]
    span = frames * stride
    assert len(data) == sum(math.floor(n / span) for n in data.lengths) == 2 + 1 + 2
    items = [data[i]["video"] for i in range(len(data))]
    assert all(v.shape == (3, frames, 32, 32) for v in items)
    assert torch.allclose(items[1], quantized(gif_clip)[:, 8:16:2], atol=1e-6)
    assert torch.allclose(items[4], quantized(png_clip)[:, 8:16:2], atol=1e-6)
    assert (items[2] - mp4_clip[:, 0:8:2]).abs().mean() < 0.05
    loaded = next(iter(DataLoader(data, batch_size=5)))
    assert loaded["video"].shape == (5, 3, frames, 32, 32)


def test_video_folder_resizes_shorter_side_and_centre_crops(tmp_path):
    """64 × 32 frames, red in columns 16..47 and blue outside; size 16 halves them to 32 × 16
    and keeps columns 8..23, the red middle: all red but for the averaged border columns."""
    red, blue = torch.tensor([1.0, -1, -1]), torch.tensor([-1.0, -1, 1])
    video = blue[:, None, None, None].repeat(1, 3, 32, 64)
    video[:, :, :, 16:48] = red[:, None, None, None]
    (tmp_path / "wide").mkdir()
    for t, frame in enumerate(to_uint8(video)):
        Image.fromarray(frame).save(tmp_path / "wide" / f"{t}.png")
    data = VideoFolder(tmp_path, frames=3, size=16)
    clip = data[0]["video"]
    assert clip.shape == (3, 3, 16, 16)
    inner = clip[:, :, :, 1:-1]
    assert torch.allclose(inner, red[:, None, None, None].expand_as(inner), atol=1e-5)
    assert (clip[2, :, :, [0, -1]] > -1 + 1e-3).all()  # some blue averaged in at the borders
    assert torch.equal(read_video(tmp_path / "wide", size=16), clip)


def test_video_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        VideoFolder(tmp_path / "missing")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("no videos here")
    with pytest.raises(ValueError, match=r"no videos under .*\.mp4, \.gif.*\.png"):
        VideoFolder(tmp_path / "empty")
    (tmp_path / "short").mkdir()
    write_gif(blocks(T=5)[0], tmp_path / "short" / "a.gif")
    write_gif(blocks(T=7)[0], tmp_path / "short" / "b.gif")
    with pytest.raises(ValueError, match=r"8 × 2 = 16 frames; lengths found: a.gif: 5, b.gif: 7"):
        VideoFolder(tmp_path / "short", frames=8, stride=2)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        VideoFolder(tmp_path / "short", stride=0)
    short_ok = VideoFolder(tmp_path / "short", frames=3, stride=2)  # 5 // 6 = 0, 7 // 6 = 1
    assert short_ok.clips == [(1, 0)]


def test_models_and_metrics_need_neither_the_dataset_nor_the_other_denoiser():
    """The sprites' words live in vdlite.vocabulary and the timestep embedding in
    vdlite.diffusion, so text, metrics, features and the DiT import no dataset, and the DiT
    does not import the U-Net (a fresh interpreter, so nothing was imported before)."""
    import subprocess
    import sys

    code = ("import sys; import vdlite.metrics, vdlite.text, vdlite.features, "
            "vdlite.transformer; print(sorted(m for m in ('vdlite.data', 'vdlite.unet3d') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

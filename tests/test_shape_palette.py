"""Shape and background-palette figures on clips whose answer is known by construction: real
sprite clips, the same clips blurred, with their sprite's shape swapped or their background
lightened, and a brute-force oracle for the distance to the palette."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from vdlite.data import MovingSprites
from vdlite.metrics import (
    background_colour_fd,
    background_colours,
    background_off_palette,
    consistency_report,
    distance_to_background_palette,
    per_clip_figures,
    shape_error,
    shape_fidelity,
)
from vdlite.vocabulary import BACKGROUND_GREY, BACKGROUND_TINT, PALETTE, SHAPES, shape_mask


def sprite_clips(size, n=16, seed=0, background="plain", frames=5):
    """n clips of one sprite, odd or even sizes: the batch dict of `MovingSprites`."""
    data = MovingSprites(num_clips=n, frames=frames, size=size, sprites=1,
                         background=background, seed=seed)
    return data.batch(range(n))


def redraw(batch, shapes):
    """The batch's plain clips drawn again with shapes[i][t] for clip i's sprite in frame t
    (same place, radius, colour and background): [B, 3, T, H, W]."""
    video = batch["video"].clone()
    colours = torch.tensor(list(PALETTE.values()))
    for i, per_frame in enumerate(shapes):
        background = batch["background"][i][:, None, None]  # [3, 1, 1]
        for t, shape in enumerate(per_frame):
            centre, radius = batch["positions"][i, t : t + 1, 0], float(batch["sizes"][i, 0]) / 2
            mask = shape_mask(shape, centre, radius, video.shape[-1])[0]  # [H, W]
            colour = colours[batch["colour_ids"][i, 0]][:, None, None]
            video[i, :, t] = torch.where(mask, colour, background)
    return video


def blur(video, sigma):
    """Each frame convolved with a Gaussian of std `sigma` pixels (edges replicated)."""
    half = math.ceil(3 * sigma)
    x = torch.arange(-half, half + 1, dtype=torch.float64)
    kernel = torch.exp(-x**2 / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).float()
    b, c, t, h, w = video.shape
    frames = video.transpose(1, 2).reshape(b * t * c, 1, h, w)
    frames = F.conv2d(F.pad(frames, (half, half, 0, 0), mode="replicate"),
                      kernel.view(1, 1, 1, -1))
    frames = F.conv2d(F.pad(frames, (0, 0, half, half), mode="replicate"),
                      kernel.view(1, 1, -1, 1))
    return frames.reshape(b, t, c, h, w).transpose(1, 2)


# ---- shape ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [25, 32, 37])
def test_real_sprites_are_their_own_shape_up_to_pixelation(size):
    """Real clips: shape error <= 0.03 on average and <= 0.15 for any clip (pixelation: the
    found centroid and area are those of the sprite's pixels; measured 0.004-0.014 and at
    most 0.105 for sizes 25-41), and the shape named right in at least 80% of the clips."""
    batch = sprite_clips(size, n=20)
    truth = [SHAPES[k] for k in batch["shape_ids"][:, 0]]
    assert set(truth) == set(SHAPES)  # the clips hold all four shapes
    fidelity, names = shape_fidelity(batch["video"])
    assert (1 - fidelity).mean() <= 0.03 and (1 - fidelity).max() <= 0.15
    assert sum(n == t for n, t in zip(names, truth, strict=True)) >= 0.8 * len(truth)
    assert shape_error(batch["video"]) == pytest.approx(float((1 - fidelity).mean()), rel=1e-9)
    assert torch.equal(redraw(batch, [[s] * 5 for s in truth]), batch["video"])  # the oracle


@pytest.mark.parametrize("size", [29, 37])
def test_blurring_costs_more_the_more_it_blurs(size):
    """Gaussian blurs of 0.5 and 1 pixel: each worse than the last, by at least 0.05 (measured
    about 0.1 and 0.2 apart); a blur much wider than the sprite stops costing more."""
    video = sprite_clips(size, seed=1)["video"]
    errors = [shape_error(v) for v in (video, blur(video, 0.5), blur(video, 1.0))]
    assert errors[0] + 0.05 < errors[1] and errors[1] + 0.05 < errors[2], errors


def test_a_sprite_that_changes_shape_every_frame_scores_worse():
    """Each clip's sprite drawn as the four shapes in turn, frame after frame: worse than the
    real clip in every clip, by 0.1 on average (measured 0.146; at a size of 41, where the
    shapes differ)."""
    batch = sprite_clips(41, n=12, seed=2, frames=8)
    swapped = redraw(batch, [[SHAPES[(i + t) % 4] for t in range(8)] for i in range(12)])
    real, _ = shape_fidelity(batch["video"])
    changing, _ = shape_fidelity(swapped)
    assert (changing < real).all() and (real - changing).mean() > 0.1


def test_a_disc_drawn_in_place_of_a_square_is_named_circle():
    batch = sprite_clips(37, n=24, seed=3)
    squares = [i for i in range(24) if SHAPES[batch["shape_ids"][i, 0]] == "square"]
    assert len(squares) >= 3
    batch = {k: v[squares] for k, v in batch.items()}
    _, before = shape_fidelity(batch["video"])
    _, after = shape_fidelity(redraw(batch, [["circle"] * 5] * len(squares)))
    assert before == ["square"] * len(squares) and after == ["circle"] * len(squares)


def test_a_clip_without_a_sprite_has_no_shape():
    video = sprite_clips(23, n=2)["video"]
    video[1] = video[1].median()  # clip 1: background only
    fidelity, names = shape_fidelity(video)
    assert names[0] in SHAPES and names[1] is None and fidelity[1].isnan()
    assert not math.isnan(shape_error(video))  # the mean over the clips that have one


# ---- background palette --------------------------------------------------------------------

def brute_force_distance(colours, greys=20001):
    """min over a grid of greys g of the distance to the cube |x_c - g| <= tint, float64."""
    g = torch.linspace(*BACKGROUND_GREY, greys, dtype=torch.float64)
    outside = ((colours.double()[:, None, :] - g[None, :, None]).abs() - BACKGROUND_TINT)
    return outside.clamp(min=0).norm(dim=2).amin(dim=1)


def test_distance_to_the_palette_matches_a_brute_force_search():
    """Oracle: a grid of 20001 greys, whose spacing (2e-5) bounds its error by sqrt(3) * 1e-5;
    random colours over [-1, 1]³ and near the palette, and points worked out by hand."""
    g = torch.Generator().manual_seed(0)
    colours = torch.cat([2 * torch.rand(300, 3, generator=g, dtype=torch.float64) - 1,
                         -0.7 + 0.35 * torch.randn(300, 3, generator=g, dtype=torch.float64)])
    exact = distance_to_background_palette(colours)
    assert exact.shape == (600,) and exact.dtype == torch.float64
    assert torch.allclose(exact, brute_force_distance(colours), rtol=0, atol=2e-5)
    assert (exact == 0).sum() > 20  # some of them inside
    lo, hi = BACKGROUND_GREY
    tau = BACKGROUND_TINT
    by_hand = {(0.0, 0.0, 0.0): math.sqrt(3) * (0 - hi - tau),  # above the lightest cube
               (lo + 0.05, lo - tau, lo + tau): 0.0,  # on the darkest cube's faces
               (lo - 0.1 - tau, lo - tau, lo - tau): 0.1,  # beyond the darkest cube's face
               (-0.6, -0.6, -0.3): 0.1,  # g = -0.5 reaches -0.4 in the last channel
               (-0.9, -0.7, -0.5): 0.1 * math.sqrt(2)}  # g = -0.7, between the ends
    for point, distance in by_hand.items():
        found = distance_to_background_palette(torch.tensor(point, dtype=torch.float64))
        assert found.item() == pytest.approx(distance, abs=1e-12), point
    with pytest.raises(ValueError, match=r"colours must be \[..., 3\]"):
        distance_to_background_palette(torch.zeros(4, 2))


@pytest.mark.parametrize("background", ["plain", "textured"])
def test_real_backgrounds_lie_on_the_palette(background):
    """Every real background pixel, plain or textured (a blend of two palette colours), is in
    the set: distance 0 up to float32 rounding of the blend (1e-6)."""
    batch = sprite_clips(23, n=24, seed=4, background=background)
    pixels = batch["video"].movedim(1, -1)[~batch["masks"][:, :, 0]]  # [pixels, 3]
    assert distance_to_background_palette(pixels).max() <= 1e-6
    assert background_off_palette(batch["video"]) <= 1e-6


def test_a_lighter_background_lies_farther_off_the_palette():
    """The background pixels lightened by 0.2 and by 0.5: the first leaves some clips' colours
    (those above a grey of -0.6 in some channel) off the palette, the second all of them."""
    batch = sprite_clips(27, n=24, seed=5, background="mixed")
    background = ~batch["masks"][:, :, 0][:, None]  # [B, 1, T, H, W]
    figures = [background_off_palette((batch["video"] + shift * background).clamp(-1, 1))
               for shift in (0.0, 0.2, 0.5)]
    assert figures[0] <= 1e-6 < figures[1] and figures[1] + 0.05 < figures[2], figures


def test_background_colour_fd_sees_backgrounds_collapsed_to_one_grey():
    """Real clips against other real clips: about Tr Σ (1/N + 1/M), small; against clips whose
    backgrounds are all one neutral grey (on the palette, so background_off_palette is 0):
    at least Tr Σ of the real colours. Measured 0.002 and 0.047 (Tr Σ 0.046), 40 clips each."""
    real = sprite_clips(25, n=40, seed=6)
    other = sprite_clips(25, n=40, seed=7)["video"]
    grey = torch.where(real["masks"][:, :, 0][:, None], real["video"], -0.7)
    colours = background_colours(real["video"])
    assert torch.allclose(colours, real["background"], atol=1e-6)
    spread = torch.cov(colours.double().T).trace().item()
    same, collapsed = background_colour_fd(real["video"], other), background_colour_fd(
        real["video"], grey)
    assert background_off_palette(grey) == 0.0
    assert collapsed >= spread * 0.99 and same < collapsed / 5, (same, collapsed, spread)
    with pytest.raises(ValueError, match="fake"):
        background_colour_fd(real["video"], torch.zeros(2, 3, 1, 8, 8))


def test_the_figures_join_the_report_and_the_per_clip_figures():
    """Means over clips of the per-clip values are the report's."""
    batch = sprite_clips(23, n=6, seed=8, background="mixed")
    video = torch.cat([batch["video"], blur(batch["video"], 0.8)])
    per, report = per_clip_figures(video), consistency_report(video)
    for name in ("shape_error", "background_off_palette"):
        assert per[name].shape == (12,)
        assert per[name].nanmean().item() == pytest.approx(report[name], rel=1e-6), name


def test_shape_mask_takes_one_radius_per_frame():
    """A radius per frame [T] draws what the same radii drawn one frame at a time draw."""
    centre = torch.tensor([[4.3, 5.1], [6.0, 6.5], [7.7, 3.2]])
    radii = torch.tensor([2.5, 3.1, 4.0], dtype=torch.float64)
    for shape, t in itertools.product(SHAPES, range(3)):
        alone = shape_mask(shape, centre[t : t + 1], float(radii[t]), 13)[0]
        assert torch.equal(shape_mask(shape, centre, radii, 13)[t], alone), (shape, t)

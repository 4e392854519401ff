"""Consistency figures on clips whose answer is known by construction."""

import math

import pytest
import torch

from vdlite import metrics
from vdlite.data import MovingSprites
from vdlite.metrics import (
    compare_clips,
    complete_path_residual,
    consistency_report,
    path_residual,
    per_clip_figures,
    size_drift,
    sprite_masks,
)


def square_clip(t=7, size=20, start=(3, 4), vel=(1, 2), side=4, colour=(1.0, -1.0, -1.0)):
    """A square moving exactly `vel` pixels per frame on a grey background: [1, 3, T, S, S]."""
    video = torch.full((1, 3, t, size, size), -0.5)
    for i in range(t):
        x, y = start[0] + vel[0] * i, start[1] + vel[1] * i
        video[0, :, i, y : y + side, x : x + side] = torch.tensor(colour)[:, None, None]
    return video


def test_constant_velocity_square_is_perfectly_consistent():
    rep = consistency_report(square_clip())
    assert rep["background_change"] == 0.0
    assert rep["colour_drift"] == pytest.approx(0.0, abs=1e-6)
    assert rep["size_drift"] == pytest.approx(0.0, abs=1e-6)
    assert rep["path_residual"] == pytest.approx(0.0, abs=1e-4)
    assert rep["missing_frames"] == 0.0


def test_background_flicker_is_measured_exactly():
    video = square_clip()
    video[:, :, 1::2] += 0.1 * (sprite_masks(video)[:, None, 1::2] == 0)  # odd frames brighter
    assert consistency_report(video)["background_change"] == pytest.approx(0.1, rel=1e-5)


def test_a_jump_off_the_line_gives_the_least_squares_residual():
    # Centroid x: 0,1,2,3,4 plus a 5-pixel jump at the last frame; fit by hand in float64.
    video = square_clip(t=5, vel=(1, 0))
    video[0, :, 4] = -0.5
    video[0, :, 4, 4:8, 12:16] = torch.tensor([1.0, -1.0, -1.0])[:, None, None]
    t = torch.arange(5, dtype=torch.float64)
    cx = torch.tensor([4.5, 5.5, 6.5, 7.5, 13.5], dtype=torch.float64)
    design = torch.stack([torch.ones_like(t), t], 1)
    fit = design @ torch.linalg.lstsq(design, cx[:, None]).solution
    expected = (cx[:, None] - fit).pow(2).mean().sqrt().item()
    assert path_residual(video) == pytest.approx(expected, rel=1e-4)


def test_size_drift_is_the_coefficient_of_variation_of_area():
    video = square_clip(t=2, vel=(0, 0), side=4)
    video[0, :, 1, 4:10, 3:9] = torch.tensor([1.0, -1.0, -1.0])[:, None, None]  # 36 px
    areas = torch.tensor([16.0, 36.0])
    assert size_drift(video) == pytest.approx((areas.std() / areas.mean()).item(), rel=1e-5)


def real_and_shuffled(n=16):
    """n real sprite clips, and the same frames shuffled across clips: frame t of clip b comes
    from clip (b + t) % n, a different sprite in every frame."""
    data = MovingSprites(num_clips=64, frames=8, size=32, sprites=1, background="plain", seed=3)
    real = torch.stack([data[i]["video"] for i in range(n)])
    mixed = torch.stack([real[(torch.arange(n) + t) % n, :, t] for t in range(8)], dim=2)
    return real, mixed


def test_real_sprite_clips_score_far_better_than_shuffled_frames():
    real, mixed = real_and_shuffled()
    good, bad = consistency_report(real), consistency_report(mixed)
    assert good["background_change"] < 1e-6 < bad["background_change"]
    for key in ("colour_drift", "size_drift", "path_residual"):
        assert good[key] < bad[key] / 3, key


def test_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"):
        consistency_report(torch.zeros(1, 1, 4, 8, 8))
    with pytest.raises(ValueError, match="at least 2 frames"):
        consistency_report(torch.zeros(1, 3, 1, 8, 8))


def test_flicker_is_the_mean_absolute_frame_difference():
    """Oracle: the figure written out with loops over a small odd clip, float64."""
    g = torch.Generator().manual_seed(0)
    video = torch.rand(2, 3, 5, 7, 9, generator=g, dtype=torch.float64)
    total, count = 0.0, 0
    for b in range(2):
        for c in range(3):
            for t in range(4):
                diff = (video[b, c, t + 1] - video[b, c, t]).abs()
                total, count = total + float(diff.sum()), count + diff.numel()
    assert consistency_report(video)["flicker"] == pytest.approx(total / count, rel=1e-6)
    still = video[:, :, :1].expand(2, 3, 5, 7, 9)
    assert consistency_report(still)["flicker"] == 0.0


def test_losing_the_sprite_where_it_strays_lowers_path_but_not_complete_path():
    """A clip that jumps off its line at frame 4 scores a path residual r > 0. Erasing the
    sprite in that frame lowers path_residual to 0 (the remaining frames lie on a line), which
    is the bias complete_path_residual removes: it leaves the erased clip out and reports the
    straight clip's 0 beside the jumping clip's r; with only the erased clip it is NaN."""
    straight = square_clip(t=5, vel=(1, 0))
    jump = square_clip(t=5, vel=(1, 0))
    jump[0, :, 4] = -0.5
    jump[0, :, 4, 4:8, 12:16] = torch.tensor([1.0, -1.0, -1.0])[:, None, None]
    r = path_residual(jump)
    assert r > 1
    erased = jump.clone()
    erased[0, :, 4] = -0.5  # the sprite is lost in the frame where it strayed
    assert path_residual(erased) == pytest.approx(0.0, abs=1e-4)
    assert complete_path_residual(torch.cat([straight, jump])) == pytest.approx(
        path_residual(torch.cat([straight, jump])), rel=1e-6)
    assert complete_path_residual(torch.cat([jump, erased])) == pytest.approx(r, rel=1e-6)
    assert complete_path_residual(erased) != complete_path_residual(erased)  # NaN
    assert consistency_report(torch.cat([jump, erased]))["complete_path_residual"] == (
        pytest.approx(r, rel=1e-6))


def test_per_clip_figures_average_to_the_report():
    """Means over clips of the per-clip figures are the report's (background_change aside: the
    report pools its pixels over clips), NaN where a clip has no value."""
    real, mixed = real_and_shuffled(6)
    clips = torch.cat([real, mixed])
    per, rep = per_clip_figures(clips), consistency_report(clips)
    for name in ("colour_drift", "size_drift", "path_residual", "missing_frames", "flicker",
                 "shape_error", "background_off_palette"):
        values = per[name][~per[name].isnan()]
        assert values.shape[0] >= 6 and values.mean().item() == pytest.approx(rep[name], rel=1e-5)
    erased = real[:1].clone()
    erased[:, :, 1:] = erased[:, :, :1].median()  # the sprite only in frame 0
    assert per_clip_figures(erased)["path_residual"].isnan().all()


def test_compare_clips_tells_real_clips_from_shuffled_frames_and_a_set_from_itself():
    """Real clips against their frames shuffled across clips: every figure where the two
    differ is better for the real clips, with the whole interval below 0. A set against
    itself: every difference is 0 and the verdict "cannot tell"."""
    real, mixed = real_and_shuffled()
    res = compare_clips(real, mixed, n_boot=500)
    for name in ("background_change", "colour_drift", "size_drift", "path_residual",
                 "complete_path_residual", "flicker"):
        r = res[name]
        assert r["high"] < 0 and r["a"] < r["b"] and r["low"] <= r["diff"] <= r["high"], name
        assert r["pairs"] == 16
    same = compare_clips(real, real.clone(), n_boot=200)
    assert all(r["diff"] == r["low"] == r["high"] == 0 for r in same.values()
               if r["pairs"])
    with pytest.raises(ValueError, match="of one shape"):
        compare_clips(real, mixed[:3])
    with pytest.raises(ValueError, match="0 < level < 1"):
        compare_clips(real, mixed, level=1.5)


# ---- reconstruction figures: psnr and error_flicker ---------------------------------------
def test_psnr_of_a_known_error():
    video = torch.zeros(2, 3, 4, 5, 7)
    recon = torch.full_like(video, 0.2)  # mse 0.04: 10 log10(4 / 0.04) = 20 dB
    assert abs(metrics.psnr(video, recon) - 20.0) < 1e-6
    assert metrics.psnr(video, video) == float("inf")
    clamped = metrics.psnr(video, torch.full_like(video, 5.0))  # recon clamped to 1: mse 1
    assert abs(clamped - 10 * math.log10(4)) < 1e-6


def test_error_flicker_is_zero_for_a_still_error_and_2_sigma_over_root_pi_for_independent_ones():
    gen = torch.Generator().manual_seed(0)
    video = torch.rand(4, 3, 9, 16, 20, generator=gen) * 1.6 - 0.8
    still = torch.randn(4, 3, 1, 16, 20, generator=gen) * 0.05
    assert metrics.error_flicker(video, video + still) < 1e-7  # float32 rounding of video + still
    sigma = 0.05
    noisy = video + sigma * torch.randn(video.shape, generator=gen)  # |noise| < 0.2 (no clamp)
    expected = 2 * sigma / math.sqrt(math.pi)  # E|n1 - n2| for n1, n2 ~ N(0, sigma^2)
    got = metrics.error_flicker(video, noisy)
    assert abs(got - expected) < 0.02 * expected, (got, expected)  # 92k samples: ~0.3% std
    per = metrics.error_flicker(video, noisy, per_transition=True)
    assert per.shape == (8,) and abs(per.mean().item() - got) < 1e-6


def test_still_flicker_counts_only_the_pixels_the_clip_keeps_still():
    """Known answers: a reconstruction that errs by the same amount in every frame scores 0
    (float64); changes confined to moving pixels score 0; independent Gaussian noise of std
    sigma on the still pixels scores 2 sigma / sqrt(pi) (2%); per transition it is the same
    figure split by t, NaN where no pixel is still."""
    gen = torch.Generator().manual_seed(0)
    B, T, H, W = 3, 7, 15, 11
    background = torch.rand(B, 3, 1, H, W, generator=gen, dtype=torch.float64) * 1.2 - 0.6
    video = background.expand(B, 3, T, H, W).clone()
    for t in range(T):  # a 3x3 square moving right one pixel per frame
        video[:, :, t, 5:8, t:t + 3] = 0.9
    still = (video.diff(dim=2) == 0).all(dim=1, keepdim=True)
    assert 0 < still.double().mean() < 1
    offset = torch.randn(B, 3, 1, H, W, generator=gen, dtype=torch.float64) * 0.05
    assert metrics.still_flicker(video, video + offset) == 0
    moving = ~still.expand(B, 3, T - 1, H, W)
    ones = torch.ones(B, 3, 1, H, W, dtype=torch.bool)
    # pixels of frame t whose transitions in and out (where they exist) both move
    free = torch.cat([ones, moving], 2) & torch.cat([moving, ones], 2)
    assert free.any()
    junk = torch.zeros_like(video)
    junk[free] = 0.1 * torch.randn(int(free.sum()), generator=gen, dtype=torch.float64)
    assert metrics.still_flicker(video, video + junk) == 0  # only moving pixels changed
    junk[:, :, 0, 0, 0] = 0.1  # a corner of the background, still in transition 0 -> 1
    assert metrics.still_flicker(video, video + junk) > 0
    sigma = 0.05
    big = torch.rand(8, 3, 9, 32, 32, generator=gen) * 1.6 - 0.8
    big = big[:, :, :1].expand(-1, -1, 9, -1, -1).clone()  # a still clip
    noisy = big + sigma * torch.randn(big.shape, generator=gen)
    got, expected = metrics.still_flicker(big, noisy), 2 * sigma / math.sqrt(math.pi)
    assert abs(got - expected) < 0.02 * expected, (got, expected)
    per = metrics.still_flicker(big, noisy, per_transition=True)
    assert per.shape == (8,) and abs(per.mean().item() - got) < 1e-6
    cut = video.clone()
    cut[:, :, 3:] = -cut[:, :, 3:]  # transition 2 -> 3 changes every pixel
    per = metrics.still_flicker(cut, cut, per_transition=True)
    assert per[2].isnan() and (per[:2] == 0).all() and (per[3:] == 0).all()
    with pytest.raises(ValueError, match="no pixel that stays the same"):
        metrics.still_flicker(torch.stack([big[:, :, 0], -big[:, :, 0]], 2),
                              torch.zeros(8, 3, 2, 32, 32))


def test_still_flicker_with_a_margin_ignores_a_halo_around_what_moves():
    """A reconstruction that blurs a moving square adds a halo one pixel wide on the still
    background next to it: still_flicker counts the halo, margin=1 does not (exactly 0), and
    noise far from the square is counted either way, over fewer pixels with the margin."""
    B, T, H, W = 2, 6, 20, 24
    video = torch.full((B, 3, T, H, W), -0.5, dtype=torch.float64)
    for t in range(T):
        video[:, :, t, 8:11, 2 + 2 * t:5 + 2 * t] = 0.9
    halo = video.clone()
    for t in range(T):  # a one-pixel ring around the square, drawn in grey
        ring = torch.zeros(H, W, dtype=torch.bool)
        ring[7:12, 1 + 2 * t:6 + 2 * t] = True
        ring[8:11, 2 + 2 * t:5 + 2 * t] = False
        halo[:, :, t, ring] = 0.2
    assert metrics.still_flicker(video, halo) > 0
    assert metrics.still_flicker(video, halo, margin=1) == 0
    noisy = halo.clone()
    noisy[:, :, 1:, 18:, :] += 0.1  # the bottom rows, far from the square, jump at t = 0 -> 1
    assert metrics.still_flicker(video, noisy, margin=1) > 0
    far = metrics.still_flicker(video, noisy, per_transition=True, margin=1)
    assert far[0] > 0 and (far[1:] == 0).all()
    with pytest.raises(ValueError, match="margin must be an int >= 0"):
        metrics.still_flicker(video, video, margin=-1)


def test_reconstruction_figures_check_their_inputs():
    video = torch.zeros(1, 3, 3, 4, 4)
    with pytest.raises(ValueError, match="recon must have video's shape"):
        metrics.error_flicker(video, torch.zeros(1, 3, 2, 4, 4))
    with pytest.raises(TypeError, match="recon must be a float tensor"):
        metrics.psnr(video, torch.zeros(1, 3, 3, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="recon must be finite"):
        metrics.psnr(video, torch.full_like(video, float("nan")))


def test_missing_frames_calls_noise_perfect_and_flicker_and_shape_error_do_not():
    """A clip of noise is 'far from the background' at every pixel, so missing_frames reads 0
    (lesson 02, section 10: a v-prediction recipe that drew noise). The flicker and the shape
    error are what see it: both far above real clips'."""
    real = torch.stack([MovingSprites(num_clips=8, frames=8, size=32, sprites=1,
                                      background="plain", seed=3)[i]["video"]
                        for i in range(8)])
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    real_report, noise_report = metrics.consistency_report(real), metrics.consistency_report(noise)
    assert noise_report["missing_frames"] == real_report["missing_frames"] == 0.0
    assert noise_report["flicker"] > 10 * real_report["flicker"]
    assert noise_report["shape_error"] > 0.5 > 10 * real_report["shape_error"]

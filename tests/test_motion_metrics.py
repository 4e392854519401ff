"""The flow-based figures of vdlite.metrics (warping error, forward–backward agreement,
acceleration) on clips whose order is known by construction.

Textured clips are sums of sinusoids evaluated exactly at p - d(t), so a clip translating at
constant velocity has exactly constant motion; flicker is added per frame, as additive noise
or a brightness jitter of growing amplitude."""

import math

import torch

from vdlite.data import MovingSprites
from vdlite.metrics import (
    compare_clips,
    flicker,
    flow_consistency,
    motion_figures,
    motion_report,
    warping_error,
)


def textured_clip(shifts, size=(21, 27), seed=0, waves=10):
    """[1, 3, T, H, W]: frame t is a smooth random texture moved by shifts[t] = (dx, dy)."""
    g = torch.Generator().manual_seed(seed)
    freq = (torch.rand(waves, 2, generator=g, dtype=torch.float64) - 0.5) * 0.6
    phase = torch.rand(waves, 3, generator=g, dtype=torch.float64) * 2 * math.pi
    amp = torch.rand(waves, 3, generator=g, dtype=torch.float64) * 2 / waves
    h, w = size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    frames = []
    for dx, dy in shifts:
        arg = freq[:, 0, None, None] * (xs - dx) + freq[:, 1, None, None] * (ys - dy)
        frames.append((amp[:, :, None, None] * torch.sin(arg[:, None] + phase[:, :, None, None]))
                      .sum(0))
    return torch.stack(frames, dim=1)[None].clamp(-1, 1).float()


def sprite_clips(n=12, seed=0):
    data = MovingSprites(num_clips=n, frames=7, size=24, sprites=1, background="textured",
                         seed=seed)
    return torch.stack([data[i]["video"] for i in range(n)])


def jitter(video, amount, seed=0, noise=False):
    """Per-frame flicker: brightness offsets per frame and channel, or per-pixel noise."""
    g = torch.Generator().manual_seed(seed)
    b, c, t, h, w = video.shape
    shape = (b, c, t, h, w) if noise else (b, c, t, 1, 1)
    return (video + amount * torch.randn(shape, generator=g)).clamp(-1, 1)


def test_constant_motion_costs_nothing_that_flicker_charges():
    clip = textured_clip([(1.3 * t, -0.6 * t) for t in range(6)])
    still = clip[:, :, :1].expand_as(clip).contiguous()
    # flicker charges the motion itself; the warping error follows it. Flicker is a mean
    # absolute difference and the warping error a mean square, so compare it with flicker².
    print(flicker(clip), warping_error(clip))
    assert flicker(clip) > 0.02
    assert warping_error(clip) < 0.01 * flicker(clip) ** 2
    assert warping_error(still) < 1e-12


def test_warping_error_orders_none_mild_strong_flicker():
    for noise in (False, True):
        clips = sprite_clips()
        values = [warping_error(jitter(clips, a, noise=noise)) for a in (0.0, 0.03, 0.15)]
        print(noise, values)
        assert values[0] < values[1] < values[2]
        assert values[1] > 2 * values[0]


def test_acceleration_is_small_for_constant_velocity_and_grows_when_speed_changes():
    constant = textured_clip([(1.0 * t, 0.5 * t) for t in range(6)])
    speeding = textured_clip([(0.3 * t * t, 0.0) for t in range(6)])  # 0.3 px per frame^2
    bounce = textured_clip([(1.2 * min(t, 5 - t), 0.0) for t in range(6)])  # turns at t = 2.5
    acc = [flow_consistency(x)["acceleration"] for x in (constant, speeding, bounce)]
    print(acc)
    assert acc[0] < 0.1 < acc[1] < acc[2]


def test_shuffled_frames_move_erratically():
    clips = sprite_clips(seed=1)
    g = torch.Generator().manual_seed(0)
    shuffled = clips[:, :, torch.randperm(clips.shape[2], generator=g)]
    real, mixed = flow_consistency(clips), flow_consistency(shuffled)
    print(real, mixed)
    assert mixed["acceleration"] > 2 * real["acceleration"]
    assert warping_error(shuffled) > 2 * warping_error(clips)


def test_forward_backward_agrees_for_translation_and_not_for_noise():
    clip = textured_clip([(0.8 * t, 0.4 * t) for t in range(5)])
    g = torch.Generator().manual_seed(0)
    noise = (torch.rand(1, 3, 5, 21, 27, generator=g) * 2 - 1)
    assert flow_consistency(clip)["forward_backward"] < 0.1
    assert flow_consistency(noise)["forward_backward"] > 0.5


def test_per_clip_figures_and_report_agree_and_two_frames_have_no_acceleration():
    clips = sprite_clips(n=5)
    figures = motion_figures(clips)
    assert set(figures) == {"warping_error", "forward_backward", "acceleration"}
    assert all(v.shape == (5,) for v in figures.values())
    report = motion_report(clips)
    for k, v in figures.items():
        assert report[k] == float(v.nanmean())
    two = motion_figures(clips[:, :, :2])
    assert two["acceleration"].isnan().all() and not two["warping_error"].isnan().any()


def test_compare_clips_with_motion_sees_added_flicker():
    clips = sprite_clips(n=16, seed=2)
    result = compare_clips(jitter(clips, 0.1, seed=3), clips, motion=True, n_boot=500)
    assert result["warping_error"]["low"] > 0  # the flickering set is worse beyond noise
    assert "warping_error" not in compare_clips(clips, clips, n_boot=10)

"""vdlite.flow: warping against a float64 oracle and gradcheck; Horn–Schunck flow against
known motion (sub-pixel translations and a rotation of analytic textures, sprites with their
true displacement); the forward–backward occlusion check; bad inputs.

Textures are sums of random sinusoids evaluated exactly at any point, so b(p) = f(p - d)
gives the true flow d with no interpolation error in the test data. Endpoint errors are
measured away from a 4-pixel border (where part of the motion leaves the frame)."""

import math

import pytest
import torch
import torch.nn.functional as F

from vdlite.data import MovingSprites
from vdlite.flow import (
    endpoint_error,
    estimate_flow,
    flow_to_rgb,
    inside,
    occlusion,
    pixel_grid,
    pyramid,
    upsample_flow,
    warp,
)

H, W = 33, 37  # odd, not powers of two


def texture(points: torch.Tensor, seed: int = 0, waves: int = 12) -> torch.Tensor:
    """A smooth colour texture [3, ...] at points [2, ...] (x, y): a sum of `waves` sinusoids
    of random direction, frequency (up to 0.3 rad per pixel per axis), phase and amplitude."""
    g = torch.Generator().manual_seed(seed)
    freq = (torch.rand(waves, 2, generator=g, dtype=torch.float64) - 0.5) * 0.6
    phase = torch.rand(waves, 3, generator=g, dtype=torch.float64) * 2 * math.pi
    amp = torch.rand(waves, 3, generator=g, dtype=torch.float64) * 2 / waves
    arg = torch.einsum("kd,d...->k...", freq, points)[:, None]  # [waves, 1, ...]
    extra = (1,) * (points.ndim - 1)
    waves_ = amp.view(waves, 3, *extra) * torch.sin(arg + phase.view(waves, 3, *extra))
    out = waves_.sum(dim=0)  # [3, ...]
    return out.clamp(-1, 1)


def grid64() -> torch.Tensor:
    return pixel_grid(H, W, torch.zeros((), dtype=torch.float64))[0]  # [2, H, W]


def interior(b: int = 1, border: int = 4) -> torch.Tensor:
    m = torch.zeros(b, H, W, dtype=torch.bool)
    m[:, border:-border, border:-border] = True
    return m


def bilinear_oracle(b: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """warp by its definition, pixel by pixel in float64: out(p) = Σ_q b(q) hat(q_x - s_x)
    hat(q_y - s_y) with s = p + flow(p) clamped to the frame (border reads)."""
    n, c, h, w = b.shape
    out = torch.zeros_like(b)
    for i in range(n):
        for y in range(h):
            for x in range(w):
                sx = min(max(x + float(flow[i, 0, y, x]), 0.0), w - 1.0)
                sy = min(max(y + float(flow[i, 1, y, x]), 0.0), h - 1.0)
                for qy in range(h):
                    for qx in range(w):
                        weight = max(0.0, 1 - abs(qx - sx)) * max(0.0, 1 - abs(qy - sy))
                        if weight:
                            out[i, :, y, x] += weight * b[i, :, qy, qx]
    return out


def test_warp_matches_its_definition_in_float64():
    g = torch.Generator().manual_seed(0)
    b = torch.randn(2, 3, 5, 7, generator=g, dtype=torch.float64)
    flow = torch.randn(2, 2, 5, 7, generator=g, dtype=torch.float64) * 2.5  # some leave
    torch.testing.assert_close(warp(b, flow), bilinear_oracle(b, flow), rtol=0, atol=1e-12)


def test_warp_by_a_whole_pixel_shifts_and_by_zero_is_identity():
    g = torch.Generator().manual_seed(1)
    b = torch.randn(1, 3, 6, 9, generator=g, dtype=torch.float64)
    flow = torch.zeros(1, 2, 6, 9, dtype=torch.float64)
    torch.testing.assert_close(warp(b, flow), b, rtol=0, atol=1e-12)
    flow[:, 0] = 1  # a(p) = b(p + (1, 0)): the column to the right
    torch.testing.assert_close(warp(b, flow)[..., :-1], b[..., 1:], rtol=0, atol=1e-12)


def test_warp_gradcheck():
    g = torch.Generator().manual_seed(2)
    b = torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    # keep sample points off the pixel grid, where bilinear weights have kinks
    flow = (torch.rand(1, 2, 4, 5, generator=g, dtype=torch.float64) * 0.8 + 0.1)
    flow.requires_grad_(True)
    assert torch.autograd.gradcheck(warp, (b, flow))


@pytest.mark.parametrize("shift", [(0.3, -0.7), (0.45, 0.15), (1.6, 0.45), (-2.25, 1.1),
                                   (2.5, -1.8)])
def test_subpixel_translation_of_texture_within_a_quarter_pixel(shift):
    """Done-when of the flow: within 0.25 px on textured content (measured 0.04-0.05)."""
    p = grid64()
    d = torch.tensor(shift, dtype=torch.float64)[:, None, None]
    for seed in range(3):
        a = texture(p, seed)[None].float()
        b = texture(p - d, seed)[None].float()  # a(p) = b(p + d)
        truth = d.expand(2, H, W)[None].float()
        assert endpoint_error(estimate_flow(a, b), truth, interior()) < 0.25, seed


def test_rotation_of_texture_within_a_quarter_pixel():
    p = grid64()
    centre = torch.tensor([(W - 1) / 2, (H - 1) / 2], dtype=torch.float64)[:, None, None]
    angle = math.radians(4)  # up to 1.7 px at the corners
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]],
                       dtype=torch.float64)
    moved = torch.einsum("ij,jhw->ihw", rot, p - centre) + centre  # where a's pixel went
    unrotated = torch.einsum("ij,jhw->ihw", rot.T, p - centre) + centre
    a = texture(p)[None].float()
    b = texture(unrotated)[None].float()  # b(R(p - c) + c) = a(p)
    truth = (moved - p)[None].float()
    assert float(truth.norm(dim=1).max()) > 1.5
    assert endpoint_error(estimate_flow(a, b), truth, interior()) < 0.25


def test_no_motion_gives_no_flow():
    a = texture(grid64())[None].float()
    assert float(estimate_flow(a, a).abs().max()) < 1e-5


def test_sprites_on_texture_move_by_their_displacement():
    """Sprite pixels get their sprite's displacement, and the static texture about none.
    Measured: 0.58 px on sprites (speeds 0.5-2 px per frame), 0.24 px on the background; the
    smoothness term blurs the flow across the sprite's outline, so the bounds are loose."""
    data = MovingSprites(num_clips=16, frames=2, size=32, sprites=1, background="textured",
                         seed=0)
    items = [data[i] for i in range(16)]
    a = torch.stack([it["video"][:, 0] for it in items])
    b = torch.stack([it["video"][:, 1] for it in items])
    mask = torch.stack([it["masks"][0, 0] for it in items])  # [16, 32, 32], sprite in a
    step = torch.stack([it["positions"][1, 0] - it["positions"][0, 0] for it in items])
    truth = torch.where(mask[:, None], step[:, :, None, None], 0.0)
    flow = estimate_flow(a, b)
    sprite, background = endpoint_error(flow, truth, mask), endpoint_error(flow, truth, ~mask)
    speed = float(step.norm(dim=1).mean())
    print({"sprite": sprite, "background": background, "mean speed": speed})
    assert sprite < 0.75 < speed
    assert background < 0.35


def test_warp_with_the_estimated_flow_reconstructs_the_first_frame():
    p = grid64()
    d = torch.tensor([1.3, -0.6], dtype=torch.float64)[:, None, None]
    a, b = texture(p)[None].float(), texture(p - d)[None].float()
    flow = estimate_flow(a, b)
    m = interior()[:, None]
    good = (warp(b, flow) - a).abs()[m.expand_as(a)].mean()
    wrong_sign = (warp(b, -flow) - a).abs()[m.expand_as(a)].mean()
    unwarped = (b - a).abs()[m.expand_as(a)].mean()
    assert good < 0.05 * unwarped and wrong_sign > unwarped


def test_estimate_flow_is_differentiable():
    g = torch.Generator().manual_seed(3)
    a = torch.rand(1, 1, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.rand(1, 1, 6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: estimate_flow(a, b, alpha=0.3, levels=1, iterations=3, warps=2), (a, b))


def test_occlusion_flags_what_a_sprite_covers_and_uncovers():
    """A sprite moving over a texture: pixels of frame a that the sprite covers in frame b
    have nowhere to go, so the check should flag them far more often than pixels 4 px or
    more from the sprite. Measured: 0.44 of the covered pixels, 0.05 of the far ones (the
    smooth flow spreads over part of the covered band, so not all of it is caught)."""
    data = MovingSprites(num_clips=12, frames=2, size=32, sprites=1, background="textured",
                         speed=(2.0, 2.5), seed=1)
    items = [data[i] for i in range(12)]
    a = torch.stack([it["video"][:, 0] for it in items])
    b = torch.stack([it["video"][:, 1] for it in items])
    m0 = torch.stack([it["masks"][0, 0] for it in items])
    m1 = torch.stack([it["masks"][1, 0] for it in items])
    covered = ~m0 & m1  # background in a, hidden under the sprite in b
    occluded = occlusion(estimate_flow(a, b), estimate_flow(b, a))
    far = ~F.max_pool2d((m0 | m1).float()[:, None], 9, 1, 4)[:, 0].bool()  # 4 px from sprite
    rate_covered = float(occluded[covered].float().mean())
    rate_far = float(occluded[far].float().mean())
    print({"covered": rate_covered, "far from the sprite": rate_far})
    assert rate_covered > 0.3 and rate_far < 0.1 and rate_covered > 4 * rate_far


def test_occlusion_flags_pixels_that_leave_the_frame():
    flow = torch.zeros(1, 2, 5, 6)
    flow[:, 0] = 2.0  # everything moves 2 px right: the last two columns leave
    back = -flow
    occ = occlusion(flow, back)
    assert occ[..., -2:].all() and not occ[..., :-2].any()
    assert (inside(flow) == ~occ).all()


def test_pyramid_and_upsampling_keep_a_constant_flow():
    flow = torch.tensor([1.5, -0.5]).view(1, 2, 1, 1).expand(2, 2, 5, 9).contiguous()
    up = upsample_flow(flow, 9, 17)
    torch.testing.assert_close(up, torch.tensor([3.0, -1.0]).view(1, 2, 1, 1).expand(2, 2, 9, 17))
    x = torch.rand(1, 3, 33, 37)
    assert [tuple(p.shape[-2:]) for p in pyramid(x, 3)] == [(33, 37), (17, 19), (9, 10)]


def test_flow_to_rgb_colours():
    flow = torch.zeros(1, 2, 1, 3)
    flow[0, 0, 0, 1] = 1.0  # +x
    flow[0, 1, 0, 2] = 1.0  # +y (down on screen)
    rgb = flow_to_rgb(flow)
    torch.testing.assert_close(rgb[0, :, 0, 0], torch.ones(3))  # still: white
    torch.testing.assert_close(rgb[0, :, 0, 1], torch.tensor([1.0, -1.0, -1.0]))  # red
    assert rgb.shape == (1, 3, 1, 3) and rgb.min() >= -1 and rgb.max() <= 1


def test_endpoint_error():
    flow = torch.zeros(1, 2, 2, 2)
    truth = torch.zeros(1, 2, 2, 2)
    truth[0, 0, 0, 0], truth[0, 1, 0, 0] = 3.0, 4.0
    assert endpoint_error(flow, truth) == pytest.approx(5 / 4)
    mask = torch.tensor([[[True, False], [False, False]]])
    assert endpoint_error(flow, truth, mask) == pytest.approx(5.0)


@pytest.mark.parametrize("call, match", [
    (lambda: estimate_flow(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9)), "same shape"),
    (lambda: estimate_flow(torch.rand(3, 8, 8), torch.rand(3, 8, 8)), r"a must be frames"),
    (lambda: estimate_flow(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.rand(1, 3, 8, 8)),
     "a must be floating point"),
    (lambda: estimate_flow([1], torch.rand(1, 3, 8, 8)), "a must be a torch.Tensor"),
    (lambda: estimate_flow(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), alpha=0),
     "alpha must be positive"),
    (lambda: estimate_flow(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), iterations=0),
     "iterations must be a positive int"),
    (lambda: estimate_flow(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), levels=0),
     "levels must be a positive int"),
    (lambda: warp(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)), r"flow must have shape"),
    (lambda: warp(torch.rand(2, 3, 8, 8), torch.rand(1, 2, 8, 8)), r"flow must have shape"),
    (lambda: endpoint_error(torch.rand(1, 2, 4, 4), torch.rand(1, 2, 4, 5)), "same shape"),
])
def test_bad_inputs_are_named(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()

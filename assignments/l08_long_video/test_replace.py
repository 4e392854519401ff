"""Task 08.2: replacement conditioning puts the known frames at x_t's noise level, q(x_t |
known) = √ᾱ_t known + √(1-ᾱ_t) ε, and leaves every other frame alone: against
NoiseSchedule.q_sample and vdlite.long_video.replace_known, float64 to 1e-12, on odd shapes
with per-clip and shared masks and different t per clip; and inside a sampling loop, the model
sees the known frames at its noise level."""

import pytest
import torch

from vdlite.diffusion import NoiseSchedule, ddim_step, ddim_timesteps, oracle_denoiser
from vdlite.long_video import replace_known as package_replace_known

SCHEDULE = NoiseSchedule("cosine", 1000)


def cases(seed):
    g = torch.Generator().manual_seed(seed)
    for shape in ((2, 3, 5, 7, 3), (1, 1, 9, 4, 5), (3, 2, 2, 1, 6)):
        b, t_frames = shape[0], shape[2]
        x, known, noise = (torch.randn(shape, generator=g, dtype=torch.float64)
                           for _ in range(3))
        per_clip = torch.rand(b, t_frames, generator=g) < 0.5
        shared = torch.rand(t_frames, generator=g) < 0.5
        t = torch.randint(0, 1000, (b,), generator=g)
        yield x, known, noise, per_clip, t
        yield x, known, noise, shared, t


@pytest.mark.points(2)
def test_known_frames_are_noised_to_level_t_and_the_rest_kept(impl):
    for x, known, noise, mask, t in cases(800):
        out = impl.replace_known(x, known, mask, t, SCHEDULE, noise)
        where = f"x_t {tuple(x.shape)}, mask {mask.int().tolist()}, t {t.tolist()}"
        assert out.shape == x.shape and out.dtype == x.dtype, f"{where}: shape/dtype"
        m = mask.expand(x.shape[0], -1) if mask.ndim == 1 else mask  # [B, T]
        noised = SCHEDULE.q_sample(known, t, noise)
        for b in range(x.shape[0]):
            assert torch.allclose(out[b][:, m[b]], noised[b][:, m[b]], rtol=0, atol=1e-12), \
                f"{where}: clip {b}'s known frames are not √ᾱ_t known + √(1-ᾱ_t) noise"
            assert torch.equal(out[b][:, ~m[b]], x[b][:, ~m[b]]), \
                f"{where}: clip {b}'s unknown frames changed"
        assert torch.allclose(out, package_replace_known(x, known, mask, t, SCHEDULE, noise),
                              rtol=0, atol=1e-12)


@pytest.mark.points(2)
def test_inside_a_sampler_the_model_sees_the_known_frames_at_its_noise_level(impl):
    """DDIM (6 steps) with the oracle denoiser of a clip x0, the known frames put in by your
    function before every step. At each step the model's input, on the known frames, must be
    √ᾱ_t x0 + √(1-ᾱ_t) z with z ~ N(0, 1): the std of z over 2·3·3·12·10 values within
    [0.9, 1.1] (clean known frames give z far from N(0, 1) at low noise); and the clip comes out
    as x0 (to 1e-8)."""
    g = torch.Generator().manual_seed(801)
    x0 = torch.rand(2, 3, 7, 12, 10, generator=g, dtype=torch.float64) * 1.6 - 0.8
    mask = torch.tensor([True, True, False, False, True, False, False])
    oracle = oracle_denoiser(x0, SCHEDULE, "eps")
    stds = []

    def model(x, t):
        ab = SCHEDULE.alpha_bar(t).view(-1, 1, 1, 1, 1)
        z = (x[:, :, mask] - ab.sqrt() * x0[:, :, mask]) / (1 - ab).sqrt()
        stds.append(round(z.std().item(), 3))
        return oracle(x, t)

    x = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    taus = ddim_timesteps(1000, 6)
    for i, j in zip(taus, taus[1:] + [-1], strict=True):
        t = torch.full((2,), i, dtype=torch.long)
        noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
        x = impl.replace_known(x, x0, mask, t, SCHEDULE, noise)
        x = ddim_step(x, t, torch.full_like(t, j), model(x, t), SCHEDULE, "eps")
    assert all(0.9 < s < 1.1 for s in stds), f"the known frames' noise, per step: {stds}"
    assert torch.allclose(x, x0, rtol=0, atol=1e-8), \
        f"max |sample - x0| = {(x - x0).abs().max():.3g}"

"""Tests for vdlite.diffusion: schedules, the forward process against its closed form,
parameterisation round trips, oracle-denoiser sampling, guidance and the loss.

Statistical checks use a tolerance of 5 standard errors; seeds are fixed, so they are
deterministic, and a correct implementation fails one with probability < 1e-6 per check.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vdlite.diffusion import (
    NoiseSchedule,
    classifier_free_guidance,
    ddim_sample,
    ddim_step,
    ddim_timesteps,
    ddpm_sample,
    diffusion_loss,
    oracle_denoiser,
)

KINDS = ["linear", "cosine"]
PREDICTIONS = ["eps", "v", "x0"]
VIDEO = (2, 3, 5, 7, 9)  # [B, C, T, H, W], odd sizes


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def full(b: int, t: int) -> torch.Tensor:
    return torch.full((b,), t, dtype=torch.long)


def random_clip(shape=VIDEO, seed: int = 0) -> torch.Tensor:
    """A random x0 in [-1, 1], float64."""
    return torch.rand(shape, generator=gen(seed), dtype=torch.float64) * 2 - 1


def toy_model(x_t: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
    """A deterministic, nonlinear, t- and cond-dependent stand-in for a trained network."""
    scale = (t.to(x_t.dtype) / 100).view(-1, *(1,) * (x_t.dim() - 1))
    out = torch.tanh(x_t) * (0.5 + scale)
    if cond is not None:
        out = out + cond.to(x_t).view(-1, *(1,) * (x_t.dim() - 1))
    return out


# --- schedules ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [10, 50, 1000])
def test_schedule_ranges(kind, n):
    s = NoiseSchedule(kind, n)
    for v in (s.betas, s.alphas, s.alpha_bars):
        assert v.dtype == torch.float64 and v.shape == (n,)
    assert ((s.betas > 0) & (s.betas < 1)).all()
    assert ((s.alpha_bars > 0) & (s.alpha_bars < 1)).all()
    assert (s.alpha_bars[1:] < s.alpha_bars[:-1]).all()


def test_cosine_matches_closed_formula():
    n, sh = 1000, 0.008
    s = NoiseSchedule("cosine", n)
    u = torch.arange(n + 1, dtype=torch.float64)
    f = torch.cos((u / n + sh) / (1 + sh) * math.pi / 2) ** 2
    closed = f[1:] / f[0]  # ᾱ_t = f(t+1)/f(0)
    unclipped = s.betas < 0.999  # only the last step(s) are clipped
    assert unclipped[:-1].all()
    torch.testing.assert_close(s.alpha_bars[unclipped], closed[unclipped], rtol=1e-12, atol=0)


def test_linear_endpoints():
    s = NoiseSchedule("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4, rel=1e-12)
    assert s.betas[-1].item() == pytest.approx(0.02, rel=1e-12)
    s = NoiseSchedule("linear", 250)  # β range scaled by 1000/N
    assert s.betas[0].item() == pytest.approx(4e-4, rel=1e-12)
    assert s.betas[-1].item() == pytest.approx(0.08, rel=1e-12)


def test_snr_decreases():
    s = NoiseSchedule("cosine", 100)
    snr = s.snr(torch.arange(100))
    assert (snr[1:] < snr[:-1]).all()
    torch.testing.assert_close(snr, s.alpha_bars / (1 - s.alpha_bars))


def test_ddim_timesteps():
    assert ddim_timesteps(1000, 4) == [999, 666, 333, 0]
    assert ddim_timesteps(10, 1) == [9]
    assert ddim_timesteps(7, 7) == [6, 5, 4, 3, 2, 1, 0]
    for n, k in [(1000, 20), (50, 49), (13, 5)]:
        ts = ddim_timesteps(n, k)
        assert len(ts) == k and ts[0] == n - 1 and ts[-1] == 0
        assert all(a > b for a, b in zip(ts, ts[1:], strict=False))


# --- forward process ------------------------------------------------------------------------


def assert_gaussian_moments(samples, mean, var, sigmas: float = 5.0):
    """samples [M, D] have per-column mean `mean` [D] and variance `var` within `sigmas` SEs.

    SE of the sample mean: √(var/M); of the sample variance of a Gaussian: var·√(2/(M−1)).
    """
    m = samples.shape[0]
    mean = torch.as_tensor(mean, dtype=samples.dtype).expand(samples.shape[1])
    var = torch.as_tensor(var, dtype=samples.dtype).expand(samples.shape[1])
    assert ((samples.mean(0) - mean).abs() <= sigmas * (var / m).sqrt()).all()
    assert ((samples.var(0) - var).abs() <= sigmas * var * math.sqrt(2 / (m - 1))).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("t", [0, 37, 99])
def test_q_sample_marginal(kind, t):
    s = NoiseSchedule(kind, 100)
    m = 20_000
    x0 = torch.linspace(-1, 1, 6, dtype=torch.float64).expand(m, 6)  # [M, D]
    noise = torch.randn(m, 6, generator=gen(t), dtype=torch.float64)
    xt = s.q_sample(x0, full(m, t), noise)
    ab = s.alpha_bars[t]
    assert_gaussian_moments(xt, ab.sqrt() * x0[0], 1 - ab)


@pytest.mark.parametrize("kind", KINDS)
def test_iterated_one_step_process_matches_closed_form(kind):
    """x_t = √α_t x_{t−1} + √β_t ε, iterated from x0, has marginal N(√ᾱ_t x0, (1−ᾱ_t) I)."""
    n, m = 100, 20_000
    s = NoiseSchedule(kind, n)
    g = gen(1)
    x0 = torch.linspace(-1, 1, 6, dtype=torch.float64)  # [D]
    x = x0.expand(m, 6).clone()  # [M, D]
    checked = 0
    for t in range(n):
        x = s.alphas[t].sqrt() * x + s.betas[t].sqrt() * torch.randn(
            x.shape, generator=g, dtype=torch.float64
        )
        if t in (0, 9, 49, n - 1):
            ab = s.alpha_bars[t]
            assert_gaussian_moments(x, ab.sqrt() * x0, 1 - ab)
            checked += 1
    assert checked == 4


def test_q_sample_dtype_and_device_follow_x0():
    s = NoiseSchedule("cosine", 10)
    x0 = torch.zeros(2, 3, 1, 4, 4, dtype=torch.float32)
    xt = s.q_sample(x0, torch.tensor([0, 9]), torch.randn(x0.shape, dtype=torch.float64))
    assert xt.dtype == torch.float32 and xt.shape == x0.shape


# --- parameterisations ----------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), t=st.integers(0, 999), seed=st.integers(0, 2**16))
def test_conversions_round_trip(kind, t, seed):
    s = NoiseSchedule(kind, 1000)
    x0 = random_clip((2, 3, 2, 3, 5), seed)
    eps = torch.randn(x0.shape, generator=gen(seed + 1), dtype=torch.float64)
    tt = full(2, t)
    xt = s.q_sample(x0, tt, eps)
    v = s.v_target(x0, eps, tt)
    close = dict(rtol=0, atol=1e-9)
    torch.testing.assert_close(s.x0_to_eps(xt, tt, s.eps_to_x0(xt, tt, eps)), eps, **close)
    torch.testing.assert_close(s.eps_to_x0(xt, tt, eps), x0, **close)
    torch.testing.assert_close(s.x0_to_eps(xt, tt, x0), eps, **close)
    torch.testing.assert_close(s.v_to_x0(xt, tt, v), x0, **close)
    torch.testing.assert_close(s.v_to_eps(xt, tt, v), eps, **close)
    torch.testing.assert_close(
        s.v_target(s.v_to_x0(xt, tt, v), s.v_to_eps(xt, tt, v), tt), v, **close
    )


def test_posterior_at_t0_is_x0_without_noise():
    s = NoiseSchedule("cosine", 50)
    x0, xt = random_clip(seed=1), random_clip(seed=2)
    mean, var = s.posterior(xt, full(2, 0), x0)
    assert (var == 0).all()
    torch.testing.assert_close(mean, x0, rtol=0, atol=1e-10)


# --- sampling with an oracle ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_ddpm_oracle_returns_clean_clip(kind, prediction):
    s = NoiseSchedule(kind, 50)
    x0 = random_clip()
    out = ddpm_sample(
        oracle_denoiser(x0, s, prediction),
        VIDEO,
        s,
        prediction=prediction,
        generator=gen(),
        progress=False,
        dtype=torch.float64,
    )
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("steps", [5, 10])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_oracle_returns_clean_clip(kind, prediction, steps, eta):
    s = NoiseSchedule(kind, 1000)
    x0 = random_clip()
    out = ddim_sample(
        oracle_denoiser(x0, s, prediction),
        VIDEO,
        s,
        steps=steps,
        eta=eta,
        prediction=prediction,
        generator=gen(),
        progress=False,
        dtype=torch.float64,
    )
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-9)


def test_clip_x0_only_matters_outside_unit_range():
    s = NoiseSchedule("cosine", 1000)
    x0 = random_clip() * 3  # partly outside [-1, 1]
    oracle = oracle_denoiser(x0, s)
    kw = dict(steps=5, generator=gen(), progress=False, dtype=torch.float64)
    torch.testing.assert_close(
        ddim_sample(oracle, VIDEO, s, clip_x0=False, **kw), x0, rtol=0, atol=1e-9
    )
    clipped = ddim_sample(oracle, VIDEO, s, clip_x0=True, **kw)
    torch.testing.assert_close(clipped, x0.clamp(-1, 1), rtol=0, atol=1e-9)


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("clip_x0", [False, True])
def test_ddim_eta1_full_steps_is_ddpm(prediction, clip_x0):
    """DDIM with η = 1 on every timestep is DDPM's ancestral sampler, noise draw for draw."""
    s = NoiseSchedule("linear", 30)
    shape = (2, 2, 3, 4, 5)
    kw = dict(prediction=prediction, progress=False, clip_x0=clip_x0, dtype=torch.float64)
    a = ddpm_sample(toy_model, shape, s, generator=gen(3), **kw)
    b = ddim_sample(toy_model, shape, s, steps=30, eta=1.0, generator=gen(3), **kw)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_ddim_step_noise_level_and_marginal():
    """With the exact x̂0, a DDIM step keeps q's marginal for any η (Song et al. 2021, eq. 7),
    and from one fixed x_t the step t → t−1 has variance σ² = η² β̃_t."""
    s = NoiseSchedule("cosine", 100)
    m, t, eta = 20_000, 40, 0.5
    x0 = torch.linspace(-1, 1, 6, dtype=torch.float64).expand(m, 6)  # [M, D]
    oracle = oracle_denoiser(x0, s)
    tt = full(m, t)

    xt = s.q_sample(x0, tt, torch.randn(x0.shape, generator=gen(1), dtype=torch.float64))
    out = ddim_step(xt, tt, full(m, 10), oracle(xt, tt), s, eta=eta, generator=gen(2))
    ab = s.alpha_bars[10]
    assert_gaussian_moments(out, ab.sqrt() * x0[0], 1 - ab)

    xt = xt[:1].expand(m, 6)  # one fixed x_t
    out = ddim_step(xt, tt, full(m, t - 1), oracle(xt, tt), s, eta=eta, generator=gen(3))
    _, beta_tilde = s.posterior(xt[:1], tt[:1], x0[:1])
    assert_gaussian_moments(out, out.mean(0), eta**2 * beta_tilde.squeeze())


def test_ddim_step_to_clean_returns_x0_hat():
    s = NoiseSchedule("cosine", 100)
    x0, eps = random_clip(seed=4), random_clip(seed=5)
    t = full(2, 60)
    xt = s.q_sample(x0, t, eps)
    out = ddim_step(xt, t, full(2, -1), eps, s, eta=1.0, generator=gen())
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-12)


# --- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_generator_determinism(sampler):
    s = NoiseSchedule("cosine", 20)
    shape = (2, 3, 3, 4, 4)

    def run(seed):
        if sampler == "ddpm":
            return ddpm_sample(toy_model, shape, s, generator=gen(seed), progress=False)
        return ddim_sample(
            toy_model, shape, s, steps=5, eta=0.5, generator=gen(seed), progress=False
        )

    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))


def test_ddim_eta0_is_deterministic_given_x_T():
    s = NoiseSchedule("cosine", 100)
    x_T = torch.randn(VIDEO, generator=gen(), dtype=torch.float64)
    a = ddim_sample(toy_model, VIDEO, s, steps=8, x_T=x_T, generator=gen(1), progress=False)
    b = ddim_sample(toy_model, VIDEO, s, steps=8, x_T=x_T, generator=gen(2), progress=False)
    assert torch.equal(a, b)


# --- classifier-free guidance ---------------------------------------------------------------


def counting(model):
    calls = []

    def wrapped(x_t, t, cond=None):
        calls.append(x_t.shape[0])
        return model(x_t, t, cond)

    return wrapped, calls


@pytest.mark.parametrize("batched", [True, False])
def test_classifier_free_guidance(batched):
    x = random_clip(seed=6)
    t = torch.tensor([3, 17])
    cond = torch.tensor([0.7, -0.4], dtype=torch.float64)
    null = torch.tensor(0.1, dtype=torch.float64) if batched else None
    pc, pu = toy_model(x, t, cond), toy_model(x, t, null)
    model, calls = counting(toy_model)

    close = dict(rtol=0, atol=1e-12)
    torch.testing.assert_close(classifier_free_guidance(model, cond, null, 1.0)(x, t), pc, **close)
    torch.testing.assert_close(classifier_free_guidance(model, cond, null, 0.0)(x, t), pu, **close)
    torch.testing.assert_close(
        classifier_free_guidance(model, cond, null, 3.0)(x, t), pu + 3 * (pc - pu), **close
    )
    assert calls == ([4] * 3 if batched else [2, 2] * 3)  # one pass on [2B] or two on [B]


def test_sampler_guidance_uses_the_hook():
    s = NoiseSchedule("cosine", 50)
    cond = torch.tensor([0.5, -0.5])
    null = torch.zeros(())
    guided = classifier_free_guidance(toy_model, cond, null, 2.5)
    kw = dict(steps=5, x_T=torch.randn(VIDEO, generator=gen()), progress=False)
    a = ddim_sample(toy_model, VIDEO, s, cond=cond, null_cond=null, guidance_scale=2.5, **kw)
    b = ddim_sample(guided, VIDEO, s, **kw)
    torch.testing.assert_close(a, b)
    c = ddim_sample(toy_model, VIDEO, s, cond=cond, **kw)  # scale 1: plain conditional
    assert not torch.allclose(a, c)


# --- loss -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_oracle_loss_is_zero(kind, prediction):
    s = NoiseSchedule(kind, 1000)
    x0 = random_clip()
    loss = diffusion_loss(oracle_denoiser(x0, s, prediction), x0, s, prediction, generator=gen())
    assert loss.dim() == 0 and loss.item() < 1e-20


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_zero_model_loss_is_target_second_moment(prediction):
    """With x0 = ±1, E[ε²] = 1 and E[v² | t] = ᾱ_t + (1−ᾱ_t)·x0² = 1 for every t; given t the
    n elements are independent with Var(target²) ≤ 2, so the loss is 1 ± 5·√(2/n)."""
    s = NoiseSchedule("cosine", 1000)
    x0 = torch.randint(0, 2, (64, 3, 4, 8, 8), generator=gen(), dtype=torch.float64) * 2 - 1
    loss = diffusion_loss(lambda x, t: torch.zeros_like(x), x0, s, prediction, generator=gen(1))
    assert abs(loss.item() - 1) < 5 * math.sqrt(2 / x0.numel())


def test_loss_reproducible_and_cond_dropout():
    s = NoiseSchedule("cosine", 100)
    x0 = random_clip((256, 1, 1, 2, 2))
    cond = torch.ones(256, 4, dtype=torch.float64)  # e.g. a text embedding [B, D]
    null = torch.zeros(4, dtype=torch.float64)  # one null embedding, broadcast to [B, D]
    seen = []

    def model(x_t, t, c):
        seen.append(c)
        return torch.zeros_like(x_t)

    a = diffusion_loss(
        model, x0, s, cond=cond, generator=gen(), cond_drop_prob=0.25, null_cond=null
    )
    b = diffusion_loss(
        model, x0, s, cond=cond, generator=gen(), cond_drop_prob=0.25, null_cond=null
    )
    assert torch.equal(a, b) and torch.equal(seen[0], seen[1])
    dropped = (seen[0] == 0).all(1)
    assert ((seen[0] == 1).all(1) | dropped).all()
    # Binomial(256, 0.25): mean 64, sd ≈ 6.9
    assert abs(dropped.sum().item() - 64) < 5 * math.sqrt(256 * 0.25 * 0.75)
    diffusion_loss(model, x0, s, cond=cond, generator=gen())
    assert torch.equal(seen[-1], cond)  # no dropout by default


# --- errors ---------------------------------------------------------------------------------


def test_errors():
    s = NoiseSchedule("cosine", 10)
    x0 = torch.zeros(2, 3, 1, 4, 4)
    with pytest.raises(ValueError, match="unknown schedule kind 'quadratic'"):
        NoiseSchedule("quadratic")
    with pytest.raises(ValueError, match="prediction must be 'eps', 'v' or 'x0'"):
        diffusion_loss(toy_model, x0, s, prediction="score")
    with pytest.raises(ValueError, match="prediction must be 'eps', 'v' or 'x0'"):
        ddim_sample(toy_model, x0.shape, s, prediction="noise", progress=False)
    with pytest.raises(ValueError, match=r"timestep out of range \[0, 9\]"):
        s.q_sample(x0, torch.tensor([0, 10]), torch.zeros_like(x0))
    with pytest.raises(ValueError, match="out of range"):
        s.q_sample(x0, torch.tensor([-1, 0]), torch.zeros_like(x0))
    with pytest.raises(ValueError, match=r"noise shape .* != x0 shape"):
        s.q_sample(x0, torch.tensor([0, 1]), torch.zeros(2, 3, 2, 4, 4))
    with pytest.raises(ValueError, match=r"t must have shape \[2\]"):
        s.q_sample(x0, torch.tensor([0, 1, 2]), torch.zeros_like(x0))
    with pytest.raises(TypeError, match="integer"):
        s.q_sample(x0, torch.tensor([0.0, 1.0]), torch.zeros_like(x0))
    with pytest.raises(ValueError, match="steps must be in"):
        ddim_sample(toy_model, x0.shape, s, steps=11, progress=False)
    with pytest.raises(ValueError, match="model output shape"):
        ddim_sample(lambda x, t: x[:1], x0.shape, s, steps=5, progress=False)
    with pytest.raises(ValueError, match="needs a cond"):
        ddpm_sample(toy_model, x0.shape, s, guidance_scale=3.0, progress=False)
    with pytest.raises(ValueError, match="null_cond"):
        diffusion_loss(toy_model, x0, s, cond=torch.ones(2), cond_drop_prob=0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_with_a_cpu_generator():
    s = NoiseSchedule("cosine", 100)
    x0 = random_clip().float()
    kw = dict(steps=5, eta=1.0, progress=False)
    cpu = ddim_sample(oracle_denoiser(x0, s), VIDEO, s, generator=gen(), **kw)
    gpu = ddim_sample(oracle_denoiser(x0.cuda(), s), VIDEO, s, generator=gen(), device="cuda", **kw)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-4)
    loss = diffusion_loss(oracle_denoiser(x0.cuda(), s), x0.cuda(), s, generator=gen())
    assert loss.item() < 1e-8

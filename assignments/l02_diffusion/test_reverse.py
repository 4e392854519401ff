"""Tasks 2.3–2.5: the DDPM posterior, the DDIM step and the training loss, checked against
vdlite.diffusion (the course's reference) and against closed-form properties: the posterior
averaged over q(x_t | x_0) gives back q(x_{t−1} | x_0), and with the true x_0 a DDIM step moves
x_t exactly along its own noising path.

The learner's functions get a schedule whose finished formulas are hidden (`hidden_formulas`):
they may read ᾱ_t, β_t and α_t from it, not call `schedule.posterior` and the like.
"""

import pytest
import torch

from assignments.l02_diffusion._shared import SHAPE, TOL, draw, hidden_formulas
from vdlite.diffusion import NoiseSchedule, ddim_step, diffusion_loss, oracle_denoiser


def per_clip(values: torch.Tensor) -> torch.Tensor:
    """[B] → [B, 1, 1, 1, 1]."""
    return values.view(-1, 1, 1, 1, 1)


@pytest.mark.points(2)
def test_posterior_mean_matches_vdlite(impl):
    """Task 02.3: μ̃_t, for t = 0 (μ̃_0 = x_0), a middle and the last step, both schedules."""
    x_t, x0 = draw(10, SHAPE, SHAPE)
    t = torch.tensor([0, 333, 999])
    for kind in ("linear", "cosine"):
        mean, _ = impl.posterior(x_t, t, x0, hidden_formulas(kind, 1000))
        want, _ = NoiseSchedule(kind, 1000).posterior(x_t, t, x0)
        torch.testing.assert_close(mean, want, **TOL)


@pytest.mark.points(1)
def test_posterior_variance_matches_vdlite(impl):
    """Task 02.3: β̃_t as [B, 1, 1, 1, 1] (β̃_0 = 0), both schedules."""
    x_t, x0 = draw(11, SHAPE, SHAPE)
    t = torch.tensor([998, 0, 41])
    for kind in ("linear", "cosine"):
        _, var = impl.posterior(x_t, t, x0, hidden_formulas(kind, 1000))
        _, want = NoiseSchedule(kind, 1000).posterior(x_t, t, x0)
        torch.testing.assert_close(var, want, **TOL)


@pytest.mark.points(1)
def test_posterior_averages_to_the_forward_marginal(impl):
    """Task 02.3: x_t ~ N(√ᾱ_t x_0, (1−ᾱ_t) I) then x_{t−1} ~ N(μ̃_t, β̃_t I) must give
    q(x_{t−1} | x_0) = N(√ᾱ_{t−1} x_0, (1−ᾱ_{t−1}) I). μ̃_t = c_0 x_0 + c_t x_t is linear in x_t, so
    (law of total expectation) μ̃_t at x_t = √ᾱ_t x_0 is √ᾱ_{t−1} x_0, and (law of total
    variance) β̃_t + c_t² (1−ᾱ_t) = 1−ᾱ_{t−1}, with c_t read off as μ̃_t at x_t = 1, x_0 = 0."""
    reference, schedule = NoiseSchedule("linear", 29), hidden_formulas("linear", 29)
    (x0,) = draw(12, SHAPE)
    t = torch.tensor([28, 0, 13])
    abar, abar_prev = per_clip(reference.alpha_bar(t)), per_clip(reference.alpha_bar(t - 1))
    mean, var = impl.posterior(abar.sqrt() * x0, t, x0, schedule)
    torch.testing.assert_close(mean, abar_prev.sqrt() * x0, **TOL)
    ones, zeros = torch.ones(SHAPE, dtype=torch.float64), torch.zeros(SHAPE, dtype=torch.float64)
    c_t, _ = impl.posterior(ones, t, zeros, schedule)
    total = var + c_t**2 * (1 - abar)
    torch.testing.assert_close(total, (1 - abar_prev).expand(SHAPE), **TOL)


@pytest.mark.points(2)
def test_ddim_step_matches_vdlite(impl):
    """Task 02.4: one η = 0 step for an arbitrary x̂_0 (not consistent with x_t), a different
    (t, t') per clip: a long jump, one step, and a step to clean (t' = −1)."""
    x_t, x0_hat = draw(20, SHAPE, SHAPE)
    t, t_prev = torch.tensor([999, 40, 7]), torch.tensor([500, 39, -1])
    for kind in ("linear", "cosine"):
        got = impl.ddim_step(x_t, t, t_prev, x0_hat, hidden_formulas(kind, 1000))
        want = ddim_step(x_t, t, t_prev, x0_hat, NoiseSchedule(kind, 1000), prediction="x0",
                         eta=0.0, clip_x0=False)
        torch.testing.assert_close(got, want, **TOL)


@pytest.mark.points(1)
def test_ddim_step_follows_the_noising_path(impl):
    """Task 02.4: with the true x_0, one step maps q_sample(x_0, t, ε) exactly to
    q_sample(x_0, t', ε) — the same ε at a lower noise level."""
    reference = NoiseSchedule("cosine", 1000)
    x0, eps = draw(21, SHAPE, SHAPE)
    t, t_prev = torch.tensor([999, 250, 1]), torch.tensor([0, 249, 0])
    x_t = reference.q_sample(x0, t, eps)
    got = impl.ddim_step(x_t, t, t_prev, x0, hidden_formulas("cosine", 1000))
    torch.testing.assert_close(got, reference.q_sample(x0, t_prev, eps), **TOL)


@pytest.mark.points(1)
def test_ddim_step_to_clean_returns_x0_hat(impl):
    """Task 02.4: t' = −1 means clean (ᾱ_{−1} = 1), so the step returns x̂_0 whatever x_t is."""
    x_t, x0_hat = draw(22, SHAPE, SHAPE)
    t = torch.tensor([17, 0, 999])
    got = impl.ddim_step(x_t, t, torch.full_like(t, -1), x0_hat, hidden_formulas("linear", 1000))
    torch.testing.assert_close(got, x0_hat, **TOL)


def toy_model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed 'denoiser' that depends on both x_t and t, so every part of the loss matters."""
    return torch.tanh(x_t) * per_clip(t.to(x_t.dtype) / 1000) + 0.1


@pytest.mark.points(2)
def test_diffusion_loss_matches_vdlite(impl):
    """Task 02.5: with t then ε drawn from the same seeded generator, the loss equals vdlite's
    diffusion_loss for ε-, v- and x_0-prediction."""
    (x0,) = draw(30, SHAPE)
    for prediction in ("eps", "v", "x0"):
        for kind in ("linear", "cosine"):
            got = impl.diffusion_loss(toy_model, x0, hidden_formulas(kind, 1000), prediction,
                                      generator=torch.Generator().manual_seed(7))
            want = diffusion_loss(toy_model, x0, NoiseSchedule(kind, 1000), prediction,
                                  generator=torch.Generator().manual_seed(7))
            assert got.shape == ()
            torch.testing.assert_close(got, want, **TOL)


@pytest.mark.points(1)
def test_diffusion_loss_of_a_perfect_denoiser_is_zero(impl):
    """Task 02.5: vdlite's oracle_denoiser, which knows x_0, has zero loss for every target."""
    reference = NoiseSchedule("cosine", 1000)
    (x0,) = draw(31, SHAPE)
    for prediction in ("eps", "v", "x0"):
        oracle = oracle_denoiser(x0, reference, prediction)
        loss = impl.diffusion_loss(oracle, x0, hidden_formulas("cosine", 1000), prediction,
                                   generator=torch.Generator().manual_seed(8))
        torch.testing.assert_close(loss, torch.zeros((), dtype=torch.float64), rtol=0, atol=1e-20)

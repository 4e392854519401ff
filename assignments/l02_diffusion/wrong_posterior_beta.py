"""Wrong: the posterior variance taken as β_t instead of β̃_t = (1−ᾱ_{t−1}) / (1−ᾱ_t) · β_t.
(DDPM's sampler may *choose* σ_t² = β_t, but it is not the variance of q(x_{t−1} | x_t, x_0):
it adds noise even at t = 0.) The mean is right."""

from assignments.l02_diffusion.solution import *  # noqa: F401,F403
from assignments.l02_diffusion.solution import NoiseSchedule, Tensor, per_clip


def posterior(
    x_t: Tensor, t: Tensor, x0: Tensor, schedule: NoiseSchedule
) -> tuple[Tensor, Tensor]:
    abar, abar_prev = schedule.alpha_bar(t), schedule.alpha_bar(t - 1)
    beta, alpha = schedule.betas[t], schedule.alphas[t]
    x0_coef = abar_prev.sqrt() * beta / (1 - abar)
    xt_coef = alpha.sqrt() * (1 - abar_prev) / (1 - abar)
    mean = per_clip(x0_coef, x0) * x0 + per_clip(xt_coef, x_t) * x_t
    return mean, per_clip(beta, x_t)

"""Wrong: the forward process with ᾱ_t where √ᾱ_t belongs, x_t = ᾱ_t x_0 + (1−ᾱ_t) ε — the mean
and the *variance* of q(x_t | x_0) confused with the coefficients of x_0 and ε."""

from assignments.l02_diffusion.solution import *  # noqa: F401,F403
from assignments.l02_diffusion.solution import NoiseSchedule, Tensor, per_clip


def q_sample(x0: Tensor, t: Tensor, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    abar = per_clip(schedule.alpha_bar(t), x0)
    return abar * x0 + (1 - abar) * noise

"""Wrong: the DDIM step re-noises ε̂ at the *current* level, x_{t'} = √ᾱ_{t'} x̂_0 + √(1−ᾱ_t) ε̂,
using ᾱ_t where ᾱ_{t'} belongs, so the noise never shrinks (and t' = −1 is not clean)."""

from assignments.l02_diffusion.solution import *  # noqa: F401,F403
from assignments.l02_diffusion.solution import NoiseSchedule, Tensor, signal_and_noise_scales


def ddim_step(
    x_t: Tensor, t: Tensor, t_prev: Tensor, x0_hat: Tensor, schedule: NoiseSchedule
) -> Tensor:
    a, s = signal_and_noise_scales(t, x_t, schedule)
    a_prev, _ = signal_and_noise_scales(t_prev, x_t, schedule)
    eps_hat = (x_t - a * x0_hat) / s
    return a_prev * x0_hat + s * eps_hat

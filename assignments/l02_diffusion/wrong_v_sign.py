"""Wrong: the v target with its sign flipped, v = √(1−ᾱ_t) x_0 − √ᾱ_t ε (the velocity of the
rotation taken the other way round), so v-prediction trains towards −v."""

from assignments.l02_diffusion.solution import *  # noqa: F401,F403
from assignments.l02_diffusion.solution import NoiseSchedule, Tensor, signal_and_noise_scales


def v_target(x0: Tensor, eps: Tensor, t: Tensor, schedule: NoiseSchedule) -> Tensor:
    a, s = signal_and_noise_scales(t, x0, schedule)
    return s * x0 - a * eps

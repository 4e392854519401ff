"""Lesson 02's exercises: the diffusion maths around the 3D U-Net, on vdlite's NoiseSchedule.

Replace each `raise NotImplementedError(...)` with your code; check yourself with
`python -m assignments.grade l02_diffusion`.

Videos are [B, C, T, H, W]; a timestep t is an integer tensor [B] with one noise level per clip,
broadcast over C, T, H and W. Read the noise levels from the package's schedule:
`schedule.alpha_bar(t)` gives ᾱ_t as float64 [B] (with ᾱ_{-1} = 1 for t = -1, "clean"), and
`schedule.betas[t]`, `schedule.alphas[t]` give β_t and α_t = 1 - β_t. The schedule's own
finished formulas (`schedule.q_sample`, `schedule.v_target`, `schedule.posterior`, ...) are
hidden from the graded tests: write the formulas yourself.
"""

from __future__ import annotations

import math  # noqa: F401
from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: F401
from torch import Tensor

from vdlite.diffusion import NoiseSchedule

Denoiser = Callable[[Tensor, Tensor], Tensor]


def q_sample(x0: Tensor, t: Tensor, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Task 02.1: draw x_t ~ q(x_t | x_0) with the given noise ε:

        x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε

    x0, noise: [B, C, T, H, W]; t: integer [B] in 0..N−1, one step per clip. ᾱ_t [B] must be
    reshaped to [B, 1, 1, 1, 1] to broadcast over the clip. Returns x_t [B, C, T, H, W] in x0's
    dtype.
    """
    raise NotImplementedError("Task 02.1: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise")


def v_target(x0: Tensor, eps: Tensor, t: Tensor, schedule: NoiseSchedule) -> Tensor:
    """Task 02.2a: the velocity target (Salimans & Ho 2022):

        v = √ᾱ_t · ε − √(1 − ᾱ_t) · x_0

    x0, eps: [B, C, T, H, W]; t: integer [B]. Returns v [B, C, T, H, W] in x0's dtype.
    """
    raise NotImplementedError("Task 02.2: v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0")


def v_to_x0_eps(
    x_t: Tensor, t: Tensor, v: Tensor, schedule: NoiseSchedule
) -> tuple[Tensor, Tensor]:
    """Task 02.2b: recover (x_0, ε) from x_t and v. With a = √ᾱ_t, s = √(1 − ᾱ_t) (a² + s² = 1),
    x_t = a x_0 + s ε and v = a ε − s x_0 are a rotation of (x_0, ε), so

        x_0 = a · x_t − s · v,     ε = s · x_t + a · v

    x_t, v: [B, C, T, H, W]; t: integer [B]. Returns (x_0, ε), each [B, C, T, H, W].
    """
    raise NotImplementedError("Task 02.2: x0 = a x_t - s v and eps = s x_t + a v")


def posterior(
    x_t: Tensor, t: Tensor, x0: Tensor, schedule: NoiseSchedule
) -> tuple[Tensor, Tensor]:
    """Task 02.3: the DDPM posterior q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I), with ᾱ_{−1} = 1:

        μ̃_t = (√ᾱ_{t−1} β_t / (1 − ᾱ_t)) · x_0 + (√α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)) · x_t
        β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t

    x_t, x0: [B, C, T, H, W]; t: integer [B] in 0..N−1 (at t = 0, ᾱ_{−1} = 1 makes μ̃_0 = x_0 and
    β̃_0 = 0). Returns (μ̃_t [B, C, T, H, W], β̃_t [B, 1, 1, 1, 1]), both in x_t's dtype.
    """
    raise NotImplementedError("Task 02.3: the posterior mean and variance of x_{t-1}")


def ddim_step(
    x_t: Tensor, t: Tensor, t_prev: Tensor, x0_hat: Tensor, schedule: NoiseSchedule
) -> Tensor:
    """Task 02.4: one deterministic DDIM step (η = 0, Song et al. 2021) from t to t' < t, given
    the model's prediction x̂_0:

        ε̂ = (x_t − √ᾱ_t · x̂_0) / √(1 − ᾱ_t)
        x_{t'} = √ᾱ_{t'} · x̂_0 + √(1 − ᾱ_{t'}) · ε̂

    x_t, x0_hat: [B, C, T, H, W]; t: integer [B] in 0..N−1; t_prev: integer [B], each
    −1 ≤ t_prev < t (−1 means clean: ᾱ_{−1} = 1 and the step returns x̂_0). Returns x_{t'}
    [B, C, T, H, W] in x_t's dtype.
    """
    raise NotImplementedError("Task 02.4: x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s) eps_hat")


def diffusion_loss(
    model: Denoiser,
    x0: Tensor,
    schedule: NoiseSchedule,
    prediction: str = "eps",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Task 02.5: the training loss of one batch x0 [B, C, T, H, W]:

        L = mean over all elements of (model(x_t, t) − target)²

    Draw, in this order and from `generator`,
        t = torch.randint(0, N, (B,), generator=generator)            # [B], N = num_steps
        ε = torch.randn(x0.shape, generator=generator, dtype=x0.dtype) # [B, C, T, H, W]
    then x_t = q_sample(x0, t, ε) and target = ε ("eps"), v_target(x0, ε, t) ("v") or x0
    ("x0"). Returns a scalar tensor.
    """
    raise NotImplementedError("Task 02.5: draw t then eps, noise x0, regress the target (MSE)")

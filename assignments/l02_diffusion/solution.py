"""Lesson 02, reference: the diffusion formulas on top of vdlite's NoiseSchedule."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from vdlite.diffusion import NoiseSchedule

Denoiser = Callable[[Tensor, Tensor], Tensor]


def per_clip(values: Tensor, x: Tensor) -> Tensor:
    """[B] → [B, 1, 1, 1, 1] (as many ones as x has dims after B), in x's dtype."""
    return values.view(-1, *(1,) * (x.dim() - 1)).to(x.dtype)


def signal_and_noise_scales(t: Tensor, x: Tensor, schedule: NoiseSchedule) -> tuple[Tensor, Tensor]:
    """(√ᾱ_t, √(1 − ᾱ_t)), each [B, 1, 1, 1, 1] to broadcast over x [B, C, T, H, W]."""
    abar = schedule.alpha_bar(t)  # [B] float64
    return per_clip(abar.sqrt(), x), per_clip((1 - abar).sqrt(), x)


def q_sample(x0: Tensor, t: Tensor, noise: Tensor, schedule: NoiseSchedule) -> Tensor:
    """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε. x0, noise: [B, C, T, H, W]; t: [B]."""
    a, s = signal_and_noise_scales(t, x0, schedule)
    return a * x0 + s * noise


def v_target(x0: Tensor, eps: Tensor, t: Tensor, schedule: NoiseSchedule) -> Tensor:
    """v = √ᾱ_t ε − √(1 − ᾱ_t) x_0. x0, eps: [B, C, T, H, W]; t: [B]."""
    a, s = signal_and_noise_scales(t, x0, schedule)
    return a * eps - s * x0


def v_to_x0_eps(
    x_t: Tensor, t: Tensor, v: Tensor, schedule: NoiseSchedule
) -> tuple[Tensor, Tensor]:
    """(x_0, ε) = (√ᾱ_t x_t − √(1 − ᾱ_t) v, √(1 − ᾱ_t) x_t + √ᾱ_t v)."""
    a, s = signal_and_noise_scales(t, x_t, schedule)
    return a * x_t - s * v, s * x_t + a * v


def posterior(
    x_t: Tensor, t: Tensor, x0: Tensor, schedule: NoiseSchedule
) -> tuple[Tensor, Tensor]:
    """q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I): returns the mean μ̃_t [B, C, T, H, W] and the
    variance β̃_t [B, 1, 1, 1, 1]."""
    abar, abar_prev = schedule.alpha_bar(t), schedule.alpha_bar(t - 1)  # [B] each
    beta, alpha = schedule.betas[t], schedule.alphas[t]  # [B] each
    x0_coef = abar_prev.sqrt() * beta / (1 - abar)
    xt_coef = alpha.sqrt() * (1 - abar_prev) / (1 - abar)
    variance = (1 - abar_prev) / (1 - abar) * beta
    mean = per_clip(x0_coef, x0) * x0 + per_clip(xt_coef, x_t) * x_t
    return mean, per_clip(variance, x_t)


def ddim_step(
    x_t: Tensor, t: Tensor, t_prev: Tensor, x0_hat: Tensor, schedule: NoiseSchedule
) -> Tensor:
    """x_{t'} = √ᾱ_{t'} x̂_0 + √(1 − ᾱ_{t'}) ε̂, with ε̂ = (x_t − √ᾱ_t x̂_0) / √(1 − ᾱ_t)."""
    a, s = signal_and_noise_scales(t, x_t, schedule)
    a_prev, s_prev = signal_and_noise_scales(t_prev, x_t, schedule)
    eps_hat = (x_t - a * x0_hat) / s
    return a_prev * x0_hat + s_prev * eps_hat


def diffusion_loss(
    model: Denoiser,
    x0: Tensor,
    schedule: NoiseSchedule,
    prediction: str = "eps",
    generator: torch.Generator | None = None,
) -> Tensor:
    """MSE between model(x_t, t) and the eps / v / x0 target, t then ε drawn from generator."""
    t = torch.randint(0, schedule.num_steps, x0.shape[:1], generator=generator)  # [B]
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)  # [B, C, T, H, W]
    x_t = q_sample(x0, t, eps, schedule)
    targets = {"eps": eps, "x0": x0}
    target = v_target(x0, eps, t, schedule) if prediction == "v" else targets[prediction]
    return F.mse_loss(model(x_t, t), target)

"""Gaussian diffusion for videos: the noise schedule and forward process q(x_t | x_0), the ε- and
v-parameterisations, the training loss, and the DDPM and DDIM samplers with classifier-free
guidance.

Timesteps are integers t = 0..N−1, t = 0 the least noisy; ᾱ_{−1} = 1 stands for clean data.
Data x_0 is any tensor [B, ...]: videos [B, C, T, H, W], single frames [B, C, 1, H, W].
A denoiser is a callable model(x_t, t) or model(x_t, t, cond) -> prediction of x_t's shape;
`timestep_embedding` is how the course's denoisers read t.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

Denoiser = Callable[..., Tensor]
PREDICTIONS = ("eps", "v", "x0")


def _bcast(values: Tensor, x: Tensor) -> Tensor:
    """[B] → [B, 1, ..., 1] to broadcast over x [B, ...], in x's dtype and device."""
    return values.view(-1, *(1,) * (x.dim() - 1)).to(device=x.device, dtype=x.dtype)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps, as in the Transformer and DDPM: how a
    denoiser (`UNet3D`, `VideoDiT`, a ControlNet's copy) is told the noise level.

    emb[b, i] = cos(t_b * f_i) for i < dim/2 and sin(t_b * f_{i - dim/2}) after, with
    frequencies f_i = max_period^(-i / (dim/2)).  t: [B] -> [B, dim].
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]  # [B, half]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class NoiseSchedule:
    """β_t for t = 0..N−1, α_t = 1 − β_t and ᾱ_t = ∏_{s≤t} α_s, as float64 tensors [N].

    "linear":  β_t evenly spaced from 1e-4·k to 0.02·k, k = 1000/N (Ho et al. 2020 for N = 1000,
               rescaled for other N as improved DDPM does).
    "cosine":  ᾱ_t = f(t+1)/f(0), f(u) = cos²((u/N + s)/(1 + s) · π/2), s = 0.008
               (Nichol & Dhariwal 2021), i.e. β_t = 1 − f(t+1)/f(t).
    Both clip β_t at 0.999, so ᾱ_t > 0 (the cosine f reaches 0 at u = N).
    """

    def __init__(self, kind: str = "cosine", num_steps: int = 1000) -> None:
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        if kind == "linear":
            k = 1000 / num_steps
            betas = torch.linspace(1e-4 * k, 0.02 * k, num_steps, dtype=torch.float64)
        elif kind == "cosine":
            u = torch.arange(num_steps + 1, dtype=torch.float64)  # [N+1]
            f = torch.cos((u / num_steps + 0.008) / 1.008 * math.pi / 2) ** 2
            betas = 1 - f[1:] / f[:-1]
        else:
            raise ValueError(f"unknown schedule kind {kind!r}; expected 'linear' or 'cosine'")
        self.kind, self.num_steps = kind, num_steps
        self.betas = betas.clamp(max=0.999)  # [N]
        self.alphas = 1 - self.betas  # [N]
        self.alpha_bars = torch.cumprod(self.alphas, dim=0)  # [N]

    def __repr__(self) -> str:
        return f"NoiseSchedule(kind={self.kind!r}, num_steps={self.num_steps})"

    def to(self, device: torch.device | str) -> NoiseSchedule:
        """Move the schedule's tensors to `device` (in place) and return it. Optional: every
        method also moves what it gathers to t's device."""
        self.betas, self.alphas, self.alpha_bars = (
            v.to(device) for v in (self.betas, self.alphas, self.alpha_bars)
        )
        return self

    def _check_t(self, t: Tensor, x: Tensor | None = None, lowest: int = 0) -> None:
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise TypeError(f"t must be an integer tensor, got {t.dtype}")
        if t.dim() != 1 or (x is not None and t.shape[0] != x.shape[0]):
            want = f"[{x.shape[0]}]" if x is not None else "[B]"
            raise ValueError(f"t must have shape {want}, got {list(t.shape)}")
        if t.numel() and (int(t.min()) < lowest or int(t.max()) >= self.num_steps):
            raise ValueError(
                f"timestep out of range [{lowest}, {self.num_steps - 1}]: "
                f"got values in [{int(t.min())}, {int(t.max())}]"
            )

    def alpha_bar(self, t: Tensor) -> Tensor:
        """ᾱ_t for t [B] in −1..N−1, as float64 [B]; ᾱ_{−1} = 1 (no noise)."""
        self._check_t(t, lowest=-1)
        ab = self.alpha_bars.to(t.device)
        return torch.cat([ab.new_ones(1), ab])[t + 1]

    def _coefs(self, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """(√ᾱ_t, √(1−ᾱ_t)), each [B, 1, ..., 1] for x [B, ...], computed in float64."""
        self._check_t(t, x)
        ab = self.alpha_bar(t)
        return _bcast(ab.sqrt(), x), _bcast((1 - ab).sqrt(), x)

    def snr(self, t: Tensor) -> Tensor:
        """Signal-to-noise ratio SNR(t) = ᾱ_t / (1 − ᾱ_t), float64 [B] for t [B]."""
        self._check_t(t)
        ab = self.alpha_bar(t)
        return ab / (1 - ab)

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Draw x_t ~ q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I):  x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε.

        x0, noise: [B, ...]; t: [B]. Returns x_t [B, ...] in x0's dtype.
        """
        if noise.shape != x0.shape:
            raise ValueError(f"noise shape {list(noise.shape)} != x0 shape {list(x0.shape)}")
        a, s = self._coefs(t, x0)
        return a * x0 + s * noise.to(x0.dtype)

    def x0_to_eps(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        """ε = (x_t − √ᾱ_t x_0) / √(1−ᾱ_t). All tensors [B, ...], t [B]."""
        a, s = self._coefs(t, x_t)
        return (x_t - a * x0) / s

    def eps_to_x0(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t. All tensors [B, ...], t [B]."""
        a, s = self._coefs(t, x_t)
        return (x_t - s * eps) / a

    def v_target(self, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """v = √ᾱ_t ε − √(1−ᾱ_t) x_0 (Salimans & Ho 2022). All tensors [B, ...], t [B]."""
        a, s = self._coefs(t, x0)
        return a * eps - s * x0

    def v_to_x0(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor:
        """x_0 = √ᾱ_t x_t − √(1−ᾱ_t) v. All tensors [B, ...], t [B]."""
        a, s = self._coefs(t, x_t)
        return a * x_t - s * v

    def v_to_eps(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor:
        """ε = √(1−ᾱ_t) x_t + √ᾱ_t v. All tensors [B, ...], t [B]."""
        a, s = self._coefs(t, x_t)
        return s * x_t + a * v

    def pred_to_x0_eps(
        self, x_t: Tensor, t: Tensor, pred: Tensor, prediction: str = "eps"
    ) -> tuple[Tensor, Tensor]:
        """(x̂_0, ε̂) from a model's output `pred` [B, ...]: ε̂, v̂ or x̂_0 per `prediction`."""
        _check_prediction(prediction)
        if prediction == "eps":
            return self.eps_to_x0(x_t, t, pred), pred
        if prediction == "x0":
            return pred, self.x0_to_eps(x_t, t, pred)
        return self.v_to_x0(x_t, t, pred), self.v_to_eps(x_t, t, pred)

    def posterior(self, x_t: Tensor, t: Tensor, x0: Tensor) -> tuple[Tensor, Tensor]:
        """q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I), with ᾱ_{−1} = 1:

            μ̃_t = (√ᾱ_{t−1} β_t / (1−ᾱ_t)) x_0 + (√α_t (1−ᾱ_{t−1}) / (1−ᾱ_t)) x_t
            β̃_t = (1−ᾱ_{t−1}) / (1−ᾱ_t) · β_t

        x_t, x0: [B, ...]; t: [B]. Returns (μ̃_t [B, ...], β̃_t [B, 1, ..., 1]).
        """
        self._check_t(t, x_t)
        ab, ab_prev = self.alpha_bar(t), self.alpha_bar(t - 1)
        beta, alpha = self.betas.to(t.device)[t], self.alphas.to(t.device)[t]
        c0 = ab_prev.sqrt() * beta / (1 - ab)
        ct = alpha.sqrt() * (1 - ab_prev) / (1 - ab)
        var = (1 - ab_prev) / (1 - ab) * beta
        return _bcast(c0, x0) * x0 + _bcast(ct, x_t) * x_t, _bcast(var, x_t)


def _check_prediction(prediction: str) -> None:
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be 'eps', 'v' or 'x0', got {prediction!r}")


def _target(schedule: NoiseSchedule, x0: Tensor, eps: Tensor, t: Tensor, prediction: str) -> Tensor:
    if prediction == "x0":
        return x0
    return eps if prediction == "eps" else schedule.v_target(x0, eps, t)


def _call(model: Denoiser, x_t: Tensor, t: Tensor, cond: Any) -> Tensor:
    """model(x_t, t) when cond is None, model(x_t, t, cond) otherwise; checks the output shape."""
    out = model(x_t, t) if cond is None else model(x_t, t, cond)
    if out.shape != x_t.shape:
        raise ValueError(f"model output shape {list(out.shape)} != x_t shape {list(x_t.shape)}")
    return out


def _randn(
    shape: Any, generator: torch.Generator | None, device: Any, dtype: torch.dtype
) -> Tensor:
    """N(0, I), drawn on the generator's device (so a CPU generator reproduces a CUDA run)."""
    where = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=where, dtype=dtype).to(device)


def _rand(shape: Any, generator: torch.Generator | None, device: Any) -> Tensor:
    where = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=where).to(device)


def _randint(high: int, shape: Any, generator: torch.Generator | None, device: Any) -> Tensor:
    where = generator.device if generator is not None else device
    return torch.randint(0, high, shape, generator=generator, device=where).to(device)


def _part(x: Tensor, part: tuple[int, int]) -> Tensor:
    """Part i of P equal parts of x along dim 0, part = (i, P): ``x[i*B : (i+1)*B]``, B = len/P."""
    i, count = part
    if not 0 <= i < count:
        raise ValueError(f"part must be (index, count) with 0 <= index < count, got {part}")
    size = len(x) // count
    return x[i * size:(i + 1) * size]


def _drop_cond(cond: Any, null_cond: Any, p: float, generator: torch.Generator | None,
               part: tuple[int, int] = (0, 1)) -> Tensor:
    """Replace each sample's cond [B, ...] by null_cond (broadcast to cond's shape) with prob. p;
    the draws are made for the whole batch and part (index, count) of them kept (`_part`)."""
    if not 0 <= p <= 1:
        raise ValueError(f"cond_drop_prob must be in [0, 1], got {p}")
    if not isinstance(cond, Tensor) or null_cond is None:
        raise ValueError("cond_drop_prob > 0 needs a tensor cond [B, ...] and a null_cond")
    null = torch.as_tensor(null_cond, device=cond.device, dtype=cond.dtype)
    drop = _part(_rand((len(cond) * part[1],), generator, cond.device), part) < p  # [B]
    return torch.where(drop.view(-1, *(1,) * (cond.dim() - 1)), null, cond)


def diffusion_loss(
    model: Denoiser,
    x0: Tensor,
    schedule: NoiseSchedule,
    prediction: str = "eps",
    cond: Any = None,
    generator: torch.Generator | None = None,
    cond_drop_prob: float = 0.0,
    null_cond: Any = None,
    part: tuple[int, int] = (0, 1),
) -> Tensor:
    """L = E_{t, ε} ‖model(x_t, t, c) − target‖²  (mean over all elements → scalar), with
    t ~ U{0..N−1} per sample, ε ~ N(0, I), x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, and target = ε ("eps"),
    v = √ᾱ_t ε − √(1−ᾱ_t) x_0 ("v") or x_0 itself ("x0"). x0: [B, ...].

    Which to predict matters for a small network: a failed ε or v prediction at low noise
    leaves noise in the sample, a failed x_0 prediction leaves blur.

    Classifier-free guidance training: with cond_drop_prob = p, each sample's cond (a tensor
    [B, ...]: class ids, text tokens or embeddings) is replaced by null_cond with probability p,
    so one model learns both p(x | c) and p(x). null_cond broadcasts to cond's shape (e.g. a
    learned null embedding [L, D] for cond [B, L, D]).

    Data parallelism (`vdlite.parallel`): with part = (i, P), x0 (and cond) is the i-th of P
    equal parts of a batch of P·B; t, ε and the dropped conditions are drawn for the whole
    batch and the i-th part kept, so P processes with the same generator together draw exactly
    what one process draws on the whole batch. part = (0, 1) is the whole batch.
    """
    _check_prediction(prediction)
    n = len(x0) * part[1]  # the whole batch
    t = _part(_randint(schedule.num_steps, (n,), generator, x0.device), part)  # [B]
    noise = _part(_randn((n, *x0.shape[1:]), generator, x0.device, x0.dtype), part)  # [B, ...]
    x_t = schedule.q_sample(x0, t, noise)
    if cond_drop_prob > 0:
        cond = _drop_cond(cond, null_cond, cond_drop_prob, generator, part)
    pred = _call(model, x_t, t, cond)
    return F.mse_loss(pred, _target(schedule, x0, noise, t, prediction))


def classifier_free_guidance(
    model: Denoiser, cond: Any, null_cond: Any, scale: float
) -> Callable[[Tensor, Tensor], Tensor]:
    """Classifier-free guidance (Ho & Salimans 2022) as a denoiser (x_t, t) → prediction:

        pred = uncond + s · (cond − uncond),  cond = model(x_t, t, c), uncond = model(x_t, t, ∅)

    s = 1 is the conditional model, s = 0 the unconditional one, s > 1 pushes past it towards c.
    ∅ is null_cond, or no cond at all (model(x_t, t)) when null_cond is None. When cond and
    null_cond are tensors, both predictions come from one forward pass on the batch concatenated
    to [2B, ...] (null_cond broadcast to cond's shape).
    """

    def guided(x_t: Tensor, t: Tensor) -> Tensor:
        if isinstance(cond, Tensor) and isinstance(null_cond, Tensor):
            x2, t2 = torch.cat([x_t, x_t]), torch.cat([t, t])  # [2B, ...], [2B]
            c2 = torch.cat([cond, null_cond.to(cond).expand_as(cond)])  # [2B, ...]
            pred_c, pred_u = _call(model, x2, t2, c2).chunk(2)
        else:
            pred_c, pred_u = _call(model, x_t, t, cond), _call(model, x_t, t, null_cond)
        return pred_u + scale * (pred_c - pred_u)

    return guided


def _denoiser(
    model: Denoiser, cond: Any, null_cond: Any, guidance_scale: float
) -> Callable[[Tensor, Tensor], Tensor]:
    """The (x_t, t) → prediction callable a sampler uses: unconditional, conditional or guided."""
    if cond is None:
        if guidance_scale != 1:
            raise ValueError("guidance_scale != 1 needs a cond to guide towards")
        return lambda x_t, t: _call(model, x_t, t, None)
    if guidance_scale == 1:
        return lambda x_t, t: _call(model, x_t, t, cond)
    return classifier_free_guidance(model, cond, null_cond, guidance_scale)


def _start(
    shape: Any, x_T: Tensor | None, generator: torch.Generator | None, device: Any, dtype: Any
) -> Tensor:
    """x_{N−1} ~ N(0, I) of `shape`, or the given x_T."""
    if x_T is None:
        return _randn(shape, generator, device, dtype)
    if tuple(x_T.shape) != tuple(shape):
        raise ValueError(f"x_T shape {list(x_T.shape)} != shape {list(shape)}")
    return x_T.to(device)


def ddpm_step(
    x_t: Tensor,
    t: Tensor,
    pred: Tensor,
    schedule: NoiseSchedule,
    prediction: str = "eps",
    generator: torch.Generator | None = None,
    clip_x0: bool = True,
) -> Tensor:
    """One ancestral step x_t → x_{t−1} ~ q(x_{t−1} | x_t, x̂_0) = N(μ̃_t, β̃_t I) (Ho et al. 2020):

        μ̃_t = (√ᾱ_{t−1} β_t / (1−ᾱ_t)) x̂_0 + (√α_t (1−ᾱ_{t−1}) / (1−ᾱ_t)) x_t,
        β̃_t = (1−ᾱ_{t−1}) / (1−ᾱ_t) · β_t.

    x_t, pred: [B, ...]; t: [B]. At t = 0, ᾱ_{−1} = 1 gives β̃_0 = 0 and μ̃_0 = x̂_0: the last
    step adds no noise and returns x̂_0. clip_x0 clamps x̂_0 to [-1, 1] first.
    """
    x0_hat, _ = schedule.pred_to_x0_eps(x_t, t, pred, prediction)
    if clip_x0:
        x0_hat = x0_hat.clamp(-1, 1)
    mean, var = schedule.posterior(x_t, t, x0_hat)
    return mean + var.sqrt() * _randn(x_t.shape, generator, x_t.device, x_t.dtype)


@torch.no_grad()
def ddpm_sample(
    model: Denoiser,
    shape: tuple[int, ...] | torch.Size,
    schedule: NoiseSchedule,
    prediction: str = "eps",
    cond: Any = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    clip_x0: bool = True,
    x_T: Tensor | None = None,
    guidance_scale: float = 1.0,
    null_cond: Any = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Ancestral sampling: x_{N−1} ~ N(0, I) (or x_T), then N ddpm_steps t = N−1, ..., 0.

    Returns samples [*shape] in x_0 space. guidance_scale ≠ 1 applies classifier_free_guidance
    with null_cond. clip_x0 clamps every x̂_0 to [-1, 1]; with an oracle denoiser this changes
    the result only when the true x_0 lies outside [-1, 1]. dtype is used when x_T is None.
    """
    _check_prediction(prediction)
    denoise = _denoiser(model, cond, null_cond, guidance_scale)
    x = _start(shape, x_T, generator, device, dtype)  # [B, ...]
    for i in tqdm(range(schedule.num_steps - 1, -1, -1), desc="DDPM", disable=not progress):
        t = torch.full(x.shape[:1], i, device=x.device, dtype=torch.long)  # [B]
        x = ddpm_step(x, t, denoise(x, t), schedule, prediction, generator, clip_x0)
    return x


def ddim_timesteps(num_steps: int, steps: int) -> list[int]:
    """`steps` evenly spaced timesteps from N−1 down to 0, e.g. (1000, 4) → [999, 666, 333, 0]."""
    if not 1 <= steps <= num_steps:
        raise ValueError(f"steps must be in [1, {num_steps}], got {steps}")
    if steps == 1:
        return [num_steps - 1]
    n, m = num_steps - 1, steps - 1
    return [(2 * n * k + m) // (2 * m) for k in range(m, -1, -1)]  # round(n·k/m), exactly


def ddim_step(
    x_t: Tensor,
    t: Tensor,
    t_prev: Tensor,
    pred: Tensor,
    schedule: NoiseSchedule,
    prediction: str = "eps",
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    clip_x0: bool = True,
) -> Tensor:
    """One DDIM step x_t → x_{t'} for any t' < t (Song et al. 2021, eq. 12):

        x_{t'} = √ᾱ_{t'} x̂_0 + √(1−ᾱ_{t'}−σ²) ε̂ + σ z,
        σ = η √((1−ᾱ_{t'}) / (1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'}),  z ~ N(0, I).

    x_t, pred: [B, ...]; t, t_prev: [B], t_prev = −1 meaning clean (ᾱ_{−1} = 1: the step returns
    x̂_0). η = 0 is deterministic; η = 1 with t' = t−1 is DDPM's ancestral step. With clip_x0,
    x̂_0 is clamped to [-1, 1] and ε̂ recomputed from it, so that x_t = √ᾱ_t x̂_0 + √(1−ᾱ_t) ε̂.
    """
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    if t_prev.shape != t.shape or bool((t_prev >= t).any()):
        raise ValueError("t_prev must have t's shape and be < t")
    x0_hat, eps_hat = schedule.pred_to_x0_eps(x_t, t, pred, prediction)
    if clip_x0:
        x0_hat = x0_hat.clamp(-1, 1)
        eps_hat = schedule.x0_to_eps(x_t, t, x0_hat)
    ab, ab_prev = schedule.alpha_bar(t), schedule.alpha_bar(t_prev)  # [B] float64
    var = eta**2 * (1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)
    c0 = _bcast(ab_prev.sqrt(), x_t)
    ce = _bcast((1 - ab_prev - var).clamp(min=0).sqrt(), x_t)
    x_prev = c0 * x0_hat + ce * eps_hat
    if eta > 0:
        x_prev = x_prev + _bcast(var.sqrt(), x_t) * _randn(
            x_t.shape, generator, x_t.device, x_t.dtype
        )
    return x_prev


@torch.no_grad()
def ddim_sample(
    model: Denoiser,
    shape: tuple[int, ...] | torch.Size,
    schedule: NoiseSchedule,
    steps: int = 20,
    eta: float = 0.0,
    prediction: str = "eps",
    cond: Any = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    clip_x0: bool = True,
    x_T: Tensor | None = None,
    guidance_scale: float = 1.0,
    null_cond: Any = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """DDIM sampling on `steps` evenly spaced timesteps N−1 = τ_1 > ... > τ_S = 0: x_{τ_1} ~ N(0, I)
    (or x_T), then ddim_step τ_i → τ_{i+1}, the last step τ_S → −1 returning x̂_0.

    Returns samples [*shape] in x_0 space. Deterministic at eta = 0 (given x_T). guidance_scale,
    null_cond, clip_x0 and dtype as in ddpm_sample.
    """
    _check_prediction(prediction)
    denoise = _denoiser(model, cond, null_cond, guidance_scale)
    taus = ddim_timesteps(schedule.num_steps, steps)
    x = _start(shape, x_T, generator, device, dtype)  # [B, ...]
    pairs = zip(taus, taus[1:] + [-1], strict=True)  # (t, t_prev), the last t_prev = −1: clean
    for i, j in tqdm(pairs, total=steps, desc="DDIM", disable=not progress):
        t = torch.full(x.shape[:1], i, device=x.device, dtype=torch.long)  # [B]
        t_prev = torch.full_like(t, j)
        x = ddim_step(x, t, t_prev, denoise(x, t), schedule, prediction, eta, generator, clip_x0)
    return x


def oracle_denoiser(x0: Tensor, schedule: NoiseSchedule, prediction: str = "eps") -> Denoiser:
    """A perfect denoiser for one known clean batch x0 [B, ...]: for any x_t it returns the exact

        ε = (x_t − √ᾱ_t x_0) / √(1−ᾱ_t),   v = √ᾱ_t ε − √(1−ᾱ_t) x_0,   or x_0 itself.

    Its diffusion_loss is 0, and every sampler driven by it returns x0. It ignores cond.
    """
    _check_prediction(prediction)

    def model(x_t: Tensor, t: Tensor, cond: Any = None) -> Tensor:
        clean = x0.to(x_t)
        return _target(schedule, clean, schedule.x0_to_eps(x_t, t, clean), t, prediction)

    return model

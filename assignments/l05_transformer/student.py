"""Lesson 05, your solution: patch tokens, adaLN-Zero, 3D RoPE and inflation, the pieces of the
video DiT of `vdlite.transformer`. Replace each `raise NotImplementedError(...)`.

Grade yourself with `python -m assignments.grade l05_transformer`.
"""

from __future__ import annotations

import math  # noqa: F401  (yours to use: math.sqrt)

import torch  # noqa: F401  (yours to use)
import torch.nn.functional as F  # noqa: F401  (F.silu)
from torch import Tensor, nn

from vdlite.positions import default_split  # noqa: F401  (rope_3d's default split)

# ---- Task 05.1: from a clip to tokens and back (2 points) -----------------------------------


def patchify(x: Tensor, p: int) -> Tensor:
    """Cut each frame into non-overlapping p x p patches: ``[B, C, T, H, W] -> [B, T, S, C*p*p]``.

    S = (H/p) * (W/p), row-major: token ``s = i*(W/p) + j`` of frame t holds the pixels
    ``x[b, :, t, i*p:(i+1)*p, j*p:(j+1)*p]`` flattened in (channel, row, column) order, i.e.

        out[b, t, i*(W/p) + j, c*p*p + y*p + x'] = x[b, c, t, i*p + y, j*p + x'].

    H and W are divisible by p. A reshape and a permutation: no arithmetic.
    """
    raise NotImplementedError("Task 05.1: reshape to [B, C, T, H/p, p, W/p, p], permute, reshape")


def unpatchify(tokens: Tensor, p: int, hw: tuple[int, int]) -> Tensor:
    """The inverse of ``patchify``: ``[B, T, S, C*p*p] -> [B, C, T, H, W]``, hw = (H/p, W/p).

    C = tokens.shape[-1] / (p*p); ``unpatchify(patchify(x, p), p, hw) == x`` exactly.
    """
    raise NotImplementedError("Task 05.1: undo patchify's reshape and permutation")


# ---- Task 05.2: adaLN-Zero (6 points) -------------------------------------------------------


def modulate(x: Tensor, shift: Tensor, scale: Tensor, eps: float = 1e-6) -> Tensor:
    """adaLN's modulation: ``LN(x) * (1 + scale) + shift``.

    ``LN(x) = (x - mean) / sqrt(var + eps)`` over the last axis (the biased variance, no
    learned affine: ``nn.LayerNorm(dim, elementwise_affine=False, eps=eps)``). The ``1 +``
    makes scale = shift = 0 the plain LayerNorm.
    x: ``[B, T, S, dim]``, shift, scale: ``[B, dim]`` (one per clip, broadcast over T and S)
    -> ``[B, T, S, dim]``.
    """
    raise NotImplementedError("Task 05.2: layer-normalise x, then * (1 + scale) + shift")


class AdaLNZero(nn.Module):
    """A residual branch f steered by a conditioning vector c through adaLN-Zero (DiT):

        ``out = x + gate * f(modulate(x, shift, scale), *args)``,
        ``(shift, scale, gate) = ada(SiLU(c)).chunk(3, dim=-1)``,

    with ``self.ada = nn.Linear(dim, 3 * dim)`` (outputs in that order: shift, scale, gate)
    whose weight and bias start at zero, and ``self.f = f`` kept as given (random). A fresh
    branch is then exactly the identity, yet the gate gets a gradient (f(...) times the
    incoming one) and learns. x: ``[B, T, S, dim]``, c: ``[B, dim]``; each of shift, scale,
    gate is ``[B, dim]``, broadcast over T and S; ``*args`` (e.g. hw) are passed on to f.
    ``x + vdlite.transformer.Modulated(dim, f)(x, c, *args)`` computes the same.
    """

    def __init__(self, dim: int, f: nn.Module) -> None:
        raise NotImplementedError("Task 05.2: super().__init__(); self.ada zero-initialised; "
                                  "self.f = f")

    def forward(self, x: Tensor, c: Tensor, *args: object) -> Tensor:
        raise NotImplementedError("Task 05.2: chunk ada(silu(c)) into shift, scale, gate; "
                                  "return x + gate * f(modulate(...), *args)")


# ---- Task 05.3: rotary position embeddings, 1D and 3D (6 points) ----------------------------


def rotate(x: Tensor, positions: Tensor | float, base: float = 10000.0) -> Tensor:
    """1D RoPE: rotate each pair ``(x[2i], x[2i+1])`` by the angle ``a_i = position * theta_i``,
    ``theta_i = base^(-2i/dim)``, i < dim/2:

        ``out[2i]   = x[2i] cos(a_i) - x[2i+1] sin(a_i)``
        ``out[2i+1] = x[2i] sin(a_i) + x[2i+1] cos(a_i)``.

    Then ``<rotate(q, m), rotate(k, n)>`` depends on m - n only.
    x: ``[..., dim]``, dim even; positions: a number or a tensor broadcastable to
    ``x.shape[:-1]`` (one position per vector) -> ``[..., dim]``, x's dtype. Compute the
    angles in float64 and cast cos and sin to x's dtype.
    """
    raise NotImplementedError("Task 05.3: angles = positions[..., None] * theta; rotate pairs")


def rope_3d(x: Tensor, grid: tuple[int, int, int], split: tuple[int, int, int] | None = None,
            base: float = 10000.0) -> Tensor:
    """3D RoPE: split the head dim ``D = dt + dh + dw`` and rotate the three parts by the
    token's frame t, row h and column w (each part with its own ``theta_i = base^(-2i/part)``):

        ``out = cat(rotate(x[..., :dt], t), rotate(x[..., dt:dt+dh], h),``
        ``          rotate(x[..., dt+dh:], w))``  (cat along the last axis)

    where token s of frame t sits at row ``h = s // W`` and column ``w = s % W`` (row-major).
    A q.k score then depends only on the offsets (t - t', h - h', w - w').
    x: ``[B, T, S, heads, D]``, grid: ``(T, H, W)`` with H*W = S, split: ``(dt, dh, dw)``, even
    ints summing to D, by default ``vdlite.positions.default_split(D)`` (you may import it)
    -> ``[B, T, S, heads, D]``.
    """
    raise NotImplementedError("Task 05.3: positions t, h, w broadcast to [T, S, heads]; "
                              "rotate each part of the head dim; concatenate")


# ---- Task 05.4: inflating an image block into a video block (6 points) ----------------------


class TemporalAttention(nn.Module):
    """Multi-head self-attention over the T frames at each position s (no positions, no mask):

        ``q, k, v = self.qkv(x).reshape(B, T, S, 3, heads, D).unbind(3)``  (``[B, T, S, heads, D]``)
        ``y[b, t, s, h] = sum_u softmax_u(q[b, t, s, h] . k[b, u, s, h] / sqrt(D)) v[b, u, s, h]``
        ``out = self.out(y.reshape(B, T, S, dim))``

    with ``self.qkv = nn.Linear(dim, 3 * dim)``, ``self.out = nn.Linear(dim, dim)`` (PyTorch's
    default init) and D = dim / heads. x: ``[B, T, S, dim]`` -> ``[B, T, S, dim]``.
    """

    def __init__(self, dim: int, heads: int) -> None:
        raise NotImplementedError("Task 05.4: super().__init__(); self.heads, self.qkv, self.out")

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError("Task 05.4: q, k, v from qkv; softmax over frames; out")


class InflatedBlock(nn.Module):
    """An image block that becomes a video block (AnimateDiff's motion module):

        ``h = self.image_block(x, *args)``;  ``out = h + self.temporal(h)``

    with ``self.image_block = image_block`` (kept, weights shared) and ``self.temporal =
    TemporalAttention(dim, heads)`` whose output projection ``self.temporal.out`` (weight and
    bias) is zero-initialised, and nothing else: a fresh InflatedBlock on a clip equals the
    image block applied to each frame alone, and the branch still learns.
    image_block: any module mapping ``[B, T, S, dim]`` (and ``*args``) to ``[B, T, S, dim]``
    frame by frame, e.g. ``vdlite.transformer.FactorizedBlock(dim, heads, temporal=False)``.
    """

    def __init__(self, image_block: nn.Module, dim: int, heads: int) -> None:
        raise NotImplementedError("Task 05.4: keep image_block; TemporalAttention with out = 0")

    def forward(self, x: Tensor, *args: object) -> Tensor:
        raise NotImplementedError("Task 05.4: h = image_block(x, *args); h + temporal(h)")

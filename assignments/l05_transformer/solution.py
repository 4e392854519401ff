"""Lesson 05, the reference: patch tokens, adaLN-Zero, 3D RoPE and inflation, from tensor ops."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vdlite.positions import default_split

# ---- Task 05.1: from a clip to tokens and back ---------------------------------------------


def patchify(x: Tensor, p: int) -> Tensor:
    """``[B, C, T, H, W] -> [B, T, S, C*p*p]``, token s = i*(W/p) + j, pixels in (c, row, col)."""
    B, C, T, H, W = x.shape
    grid = x.reshape(B, C, T, H // p, p, W // p, p)  # [B, C, T, i, row, j, col]
    return torch.einsum("bctiyjx->btijcyx", grid).reshape(B, T, -1, C * p * p)


def unpatchify(tokens: Tensor, p: int, hw: tuple[int, int]) -> Tensor:
    """``[B, T, S, C*p*p] -> [B, C, T, H, W]`` with hw = (H/p, W/p): the inverse of patchify."""
    B, T, _, cpp = tokens.shape
    h, w = hw
    C = cpp // (p * p)
    grid = tokens.reshape(B, T, h, w, C, p, p)  # [B, T, i, j, C, row, col]
    return torch.einsum("btijcyx->bctiyjx", grid).reshape(B, C, T, h * p, w * p)


# ---- Task 05.2: adaLN-Zero ------------------------------------------------------------------


def layer_norm(x: Tensor, eps: float) -> Tensor:
    """``(x - mean) / sqrt(var + eps)`` over the last axis (biased variance), no affine."""
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def modulate(x: Tensor, shift: Tensor, scale: Tensor, eps: float = 1e-6) -> Tensor:
    """``LN(x) * (1 + scale) + shift``: x ``[B, T, S, dim]``, shift, scale ``[B, dim]``."""
    return layer_norm(x, eps) * (1 + scale[:, None, None]) + shift[:, None, None]


class AdaLNZero(nn.Module):
    """``x + gate * f(modulate(x, shift, scale))``, ``(shift, scale, gate) = ada(SiLU(c))``."""

    def __init__(self, dim: int, f: nn.Module) -> None:
        super().__init__()
        self.ada = nn.Linear(dim, 3 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)
        self.f = f

    def forward(self, x: Tensor, c: Tensor, *args: object) -> Tensor:
        shift, scale, gate = self.ada(F.silu(c)).chunk(3, dim=-1)  # [B, dim] each
        return x + gate[:, None, None] * self.f(modulate(x, shift, scale), *args)


# ---- Task 05.3: rotary position embeddings, 1D and 3D ---------------------------------------


def rotate(x: Tensor, positions: Tensor | float, base: float = 10000.0) -> Tensor:
    """Rotate pair ``(x[2i], x[2i+1])`` by ``position * base^(-2i/dim)``: ``[..., dim]``."""
    dim = x.shape[-1]
    theta = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=x.device) / dim)
    positions = torch.as_tensor(positions, dtype=torch.float64, device=x.device)
    angles = positions[..., None] * theta  # [..., dim/2]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]  # [..., dim/2] each
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


def rope_3d(x: Tensor, grid: tuple[int, int, int], split: tuple[int, int, int] | None = None,
            base: float = 10000.0) -> Tensor:
    """Rotate the (dt, dh, dw) parts of each head by the token's frame t, row h and column w."""
    T, H, W = grid
    dt, dh, dw = default_split(x.shape[-1]) if split is None else split
    s = torch.arange(H * W, device=x.device)
    t = torch.arange(T, device=x.device)[:, None, None]  # [T, 1, 1]: over S and heads
    h, w = (s // W)[:, None], (s % W)[:, None]  # [S, 1]: over heads
    xt, xh, xw = x.split([dt, dh, dw], dim=-1)
    return torch.cat((rotate(xt, t, base), rotate(xh, h, base), rotate(xw, w, base)), dim=-1)


# ---- Task 05.4: inflating an image block into a video block ---------------------------------


class TemporalAttention(nn.Module):
    """Multi-head self-attention over the T frames at each position: ``[B, T, S, dim]``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, T, S, dim = x.shape
        qkv = self.qkv(x).reshape(B, T, S, 3, self.heads, dim // self.heads)
        q, k, v = qkv.unbind(3)  # [B, T, S, heads, D] each
        scores = torch.einsum("btshd,bushd->bshtu", q, k) / math.sqrt(q.shape[-1])
        y = torch.einsum("bshtu,bushd->btshd", scores.softmax(dim=-1), v)
        return self.out(y.reshape(B, T, S, dim))


class InflatedBlock(nn.Module):
    """``h = image_block(x, *args); h + temporal(h)``, temporal.out zero-initialised."""

    def __init__(self, image_block: nn.Module, dim: int, heads: int) -> None:
        super().__init__()
        self.image_block = image_block
        self.temporal = TemporalAttention(dim, heads)
        nn.init.zeros_(self.temporal.out.weight)
        nn.init.zeros_(self.temporal.out.bias)

    def forward(self, x: Tensor, *args: object) -> Tensor:
        h = self.image_block(x, *args)
        return h + self.temporal(h)

"""Helpers the graded tests share (no solution logic): small random base U-Nets, inputs, and
the base's own skip features read with forward hooks."""

from __future__ import annotations

import torch

from vdlite.unet3d import UNet3D


def random_base(seed: int, conv: str = "pseudo", mults: tuple[int, ...] = (1, 2)) -> UNet3D:
    """A float64 UNet3D whose every parameter is random (its zero-initialised output conv too,
    so that it predicts something nonzero), as if trained."""
    net = UNet3D(3, 8, mults, 1, conv).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net


def inputs(seed: int, b: int = 2, t: int = 5, h: int = 10, w: int = 14):
    """x [b, 3, t, h, w], timesteps [b] and a depth input [b, 1, t, h, w], float64."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, t, h, w, generator=g, dtype=torch.float64)
    depth = torch.rand(b, 1, t, h, w, generator=g, dtype=torch.float64) * 2 - 1
    return x, torch.randint(0, 1000, (b,), generator=g), depth


def base_features(base: UNet3D, x: torch.Tensor, t: torch.Tensor):
    """The base's skip features (the stem's output, then each down layer's, in order) and its
    middle block's output, recorded by forward hooks during base(x, t)."""
    seen: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda mod, args, out: seen.append(out))
             for m in [base.stem, *base.down, base.mid[-1]]]
    try:
        with torch.no_grad():
            base(x, t)
    finally:
        for h in hooks:
            h.remove()
    return seen[:-1], seen[-1]

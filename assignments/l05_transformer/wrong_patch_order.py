"""Wrong: patches flattened in (row, column, channel) order, consistently both ways."""

import torch
from torch import Tensor

from assignments.l05_transformer.solution import *  # noqa: F401,F403


def patchify(x: Tensor, p: int) -> Tensor:
    B, C, T, H, W = x.shape
    grid = x.reshape(B, C, T, H // p, p, W // p, p)
    return torch.einsum("bctiyjx->btijyxc", grid).reshape(B, T, -1, C * p * p)


def unpatchify(tokens: Tensor, p: int, hw: tuple[int, int]) -> Tensor:
    B, T, _, cpp = tokens.shape
    h, w = hw
    grid = tokens.reshape(B, T, h, w, p, p, cpp // (p * p))
    return torch.einsum("btijyxc->bctiyjx", grid).reshape(B, -1, T, h * p, w * p)

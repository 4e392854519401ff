"""Wrong: token s placed at row s // H, column s % H (H for W): positions are scrambled."""

import torch
from torch import Tensor

from assignments.l05_transformer.solution import *  # noqa: F401,F403
from assignments.l05_transformer.solution import rotate
from vdlite.positions import default_split


def rope_3d(x: Tensor, grid: tuple[int, int, int], split: tuple[int, int, int] | None = None,
            base: float = 10000.0) -> Tensor:
    T, H, W = grid
    dt, dh, dw = default_split(x.shape[-1]) if split is None else split
    s = torch.arange(H * W, device=x.device)
    t = torch.arange(T, device=x.device)[:, None, None]
    h, w = (s // H)[:, None], (s % H)[:, None]
    xt, xh, xw = x.split([dt, dh, dw], dim=-1)
    return torch.cat((rotate(xt, t, base), rotate(xh, h, base), rotate(xw, w, base)), dim=-1)

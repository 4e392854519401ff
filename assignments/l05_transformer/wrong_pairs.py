"""Wrong: rotates the pairs (x[i], x[i + dim/2]) (the "rotate half" layout) instead of
(x[2i], x[2i+1]): still a relative rotation, but not the course's channels."""

import torch
from torch import Tensor

from assignments.l05_transformer.solution import *  # noqa: F401,F403


def rotate(x: Tensor, positions: Tensor | float, base: float = 10000.0) -> Tensor:
    dim = x.shape[-1]
    theta = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=x.device) / dim)
    angles = torch.as_tensor(positions, dtype=torch.float64, device=x.device)[..., None] * theta
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x0, x1 = x[..., : dim // 2], x[..., dim // 2:]
    return torch.cat((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)

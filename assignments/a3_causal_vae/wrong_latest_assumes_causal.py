"""Wrong: latest_frame_read trusts the design instead of measuring it.

It returns factor·t for latent frame t, which a causal encoder honours; an encoder with centred
time padding reads later frames than that, and this answer cannot see it.
"""

from collections.abc import Callable

import torch
from torch import Tensor

from assignments.a3_causal_vae.solution import *  # noqa: F401,F403


def latest_frame_read(encode: Callable[[Tensor], Tensor], clip_shape: tuple) -> list[int]:
    t_out = encode(torch.zeros(clip_shape, dtype=torch.float64)).shape[2]
    factor = (clip_shape[2] - 1) // max(t_out - 1, 1)
    return [factor * t for t in range(t_out)]

"""Wrong: only the first latent frame of each later chunk is counted as damaged.

That is the picture of one causal conv (its first kT - 1 outputs read the padding), carried
over to the whole encoder. A stack of causal convs, with strides in time, reaches back much
further: several latent frames after each boundary still read frames before it.
"""

import torch
from torch import Tensor

from assignments.a3_causal_vae.solution import *  # noqa: F401,F403
from vdlite.vae import CausalVAE


def damaged_latents(vae: CausalVAE, frames: int, latents_per_chunk: int) -> Tensor:
    k = (frames - 1) // vae.temporal_factor
    damaged = torch.zeros(1 + k, dtype=torch.bool)
    damaged[1 + latents_per_chunk::latents_per_chunk] = True
    return damaged

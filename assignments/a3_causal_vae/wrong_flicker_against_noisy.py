"""Wrong: the flicker of the reconstruction is measured against the noisy input.

The noise is new in every frame and no VAE reproduces it, so the error against the noisy clip
is white for any VAE: the measure then sees the sensor's noise, not what the VAE adds.
"""

import torch
from torch import Tensor

from assignments.a3_causal_vae.solution import *  # noqa: F401,F403
from assignments.a3_causal_vae.solution import flicker_ratio
from vdlite.vae import CausalVAE


@torch.no_grad()
def reconstruction_flicker(vae: CausalVAE, clean: Tensor, noisy: Tensor) -> float:
    return flicker_ratio(noisy, vae.decode(vae.encode(noisy).mean))

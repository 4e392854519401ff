"""Wrong: flicker_ratio divides by the total error energy, not its fluctuation in time.

Σ‖Δe‖² / (2 Σ‖e‖²) leaves a still error (a bias, a blur that is the same in every frame) in the
denominator, so a VAE that is wrong in the same way in every frame looks as if it did not
flicker, whatever its error does from frame to frame on top of that.
"""

from torch import Tensor

from assignments.a3_causal_vae.solution import *  # noqa: F401,F403


def flicker_ratio(video: Tensor, recon: Tensor) -> float:
    e = (recon - video).double()
    energy = e.pow(2).sum()
    if energy == 0:
        return 0.0
    return ((e[:, :, 1:] - e[:, :, :-1]).pow(2).sum() / (2 * energy)).item()

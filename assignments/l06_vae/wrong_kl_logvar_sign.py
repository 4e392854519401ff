"""Wrong: + logvar where the KL has - logvar: ½ Σ (mean² + exp(logvar) - 1 + logvar).

Still zero at the prior (mean 0, logvar 0), so a check at N(0, I) alone misses it; but it
rewards a shrinking variance (exp(logvar) + logvar falls without bound as logvar -> -inf)
where the true KL penalises it."""

from torch import Tensor

from assignments.l06_vae.solution import *  # noqa: F401,F403


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 + logvar).flatten(1).sum(1)

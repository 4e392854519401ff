"""Task 06.4: the diagonal-Gaussian KL against torch.distributions.kl_divergence and
vdlite.vae.Posterior.kl, in float64 to 1e-12 (relative), on odd shapes."""

import pytest
import torch

from vdlite.vae import Posterior


def oracle(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) elementwise by torch.distributions, summed per clip."""
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    return torch.distributions.kl_divergence(q, p).flatten(1).sum(1)


@pytest.mark.points(2)
def test_kl_matches_torch_distributions(impl):
    g = torch.Generator().manual_seed(640)
    for shape in ((3, 4, 5, 6, 7), (2, 5), (1, 3, 1, 2, 9)):
        mean = 1.5 * torch.randn(shape, generator=g, dtype=torch.float64)
        logvar = 2.0 * torch.randn(shape, generator=g, dtype=torch.float64)
        kl = impl.gaussian_kl(mean, logvar)
        assert kl.shape == (shape[0],), f"one KL per clip: got shape {tuple(kl.shape)}"
        torch.testing.assert_close(kl, oracle(mean, logvar), rtol=1e-12, atol=1e-12)


@pytest.mark.points(1)
def test_kl_is_the_packages_and_zero_at_the_prior(impl):
    g = torch.Generator().manual_seed(641)
    mean = torch.randn(2, 4, 3, 5, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(2, 4, 3, 5, 3, generator=g, dtype=torch.float64) - 1.0
    torch.testing.assert_close(impl.gaussian_kl(mean, logvar), Posterior(mean, logvar).kl(),
                               rtol=1e-12, atol=1e-12)
    zero = torch.zeros(3, 2, 5, 4, dtype=torch.float64)
    assert torch.equal(impl.gaussian_kl(zero, zero), torch.zeros(3, dtype=torch.float64))
    assert (impl.gaussian_kl(mean, logvar) > 0).all()

"""Task A2.3: the controlled model equals the base exactly at initialisation, its base is frozen,
and it passes the control's residuals to the base's skips and middle block."""

import pytest
import torch
import torch.nn.functional as F

from vdlite.controlnet import ControlNet3D

from ._models import inputs, random_base


@pytest.mark.points(2)
def test_equals_the_base_exactly_at_initialisation(impl):
    for seed, conv, mults in ((230, "pseudo", (1, 2)), (231, "full", (1, 2, 2))):
        base = random_base(seed, conv, mults)
        model = impl.ControlledUNet(base, ControlNet3D(base).double())
        x, t, depth = inputs(seed, t=3, h=12, w=8)
        out = model(x, t, depth)
        assert out.abs().max() > 0 and torch.equal(out, base(x, t)), (
            "at initialisation the controlled model must equal base(x, t) bit for bit")


@pytest.mark.points(2)
def test_the_base_is_frozen_and_steered_through_its_skips(impl):
    base = random_base(232)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    control = ControlNet3D(base).double()
    model = impl.ControlledUNet(base, control)
    frozen = [n for n, p in base.named_parameters() if p.requires_grad]
    assert not frozen, f"base parameters still require grad: {frozen[:3]}..."
    x, t, depth = inputs(232)
    with torch.no_grad():  # a trained control branch: nonzero residuals
        for p in control.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel()),
                                      dtype=p.dtype))
    skips, mid = control(x, t, depth)
    with torch.no_grad():
        torch.testing.assert_close(model(x, t, depth), base(x, t, skips, mid), rtol=1e-12,
                                   atol=1e-12)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        F.mse_loss(model(x, t, depth), torch.zeros_like(x)).backward()
        opt.step()
    assert all(p.grad is None for p in base.parameters()), "gradients leaked into the base"
    assert all(torch.equal(v, before[k]) for k, v in base.state_dict().items())

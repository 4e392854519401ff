"""Task A2.2: the ControlNet is a copy of the base's encoder, its zero convolutions give exactly
zero residuals of the base's skip shapes, residual i is the zero conv of the copy's feature i,
and gradients reach the copy and the depth encoder only after the zero convs have moved."""

import pytest
import torch
import torch.nn.functional as F

from vdlite.controlnet import ControlledUNet

from ._models import base_features, inputs, random_base

COPIED = ("time_mlp", "stem", "down", "mid")


@pytest.mark.points(1)
def test_the_copy_starts_from_the_base_weights_and_is_independent(impl):
    base = random_base(220)
    control = impl.ControlNet3D(base).double()
    for name in COPIED:
        mine, theirs = getattr(control, name), getattr(base, name)
        pairs = list(zip(mine.state_dict().items(), theirs.state_dict().items(), strict=True))
        assert pairs, f"control.{name} holds no weights"
        for (k, p), (_, q) in pairs:
            assert torch.equal(p, q), f"control.{name}.{k} differs from the base's"
            assert p.data_ptr() != q.data_ptr(), f"control.{name}.{k} shares the base's storage"
    with torch.no_grad():
        base.stem.spatial.weight.add_(1.0)
    assert not torch.equal(control.stem.spatial.weight, base.stem.spatial.weight)
    frozen = random_base(221).requires_grad_(False)  # a trained base is often frozen first
    control = impl.ControlNet3D(frozen)
    still = [n for n, p in control.named_parameters() if not p.requires_grad]
    assert not still, f"built from a frozen base, these would never train: {still[:3]}"


@pytest.mark.points(1)
def test_residuals_have_the_skip_shapes_and_are_zero_at_initialisation(impl):
    for seed, conv, mults in ((221, "pseudo", (1, 2)), (222, "full", (1, 2, 2))):
        base = random_base(seed, conv, mults)
        control = impl.ControlNet3D(base).double()
        x, t, depth = inputs(seed, t=3, h=12, w=8)
        skips, mid = control(x, t, depth)
        features, middle = base_features(base, x, t)
        assert len(skips) == len(features), (f"{len(skips)} skip residuals; the base has "
                                             f"{len(features)} skips")
        for i, (s, f) in enumerate(zip(skips, features, strict=True)):
            assert s.shape == f.shape, f"residual {i}: {tuple(s.shape)} != skip {tuple(f.shape)}"
            assert torch.count_nonzero(s) == 0, f"residual {i} is not zero at initialisation"
        assert mid.shape == middle.shape and torch.count_nonzero(mid) == 0


@pytest.mark.points(1)
def test_residual_i_is_the_zero_conv_of_the_copys_feature_i(impl):
    base = random_base(223)
    control = impl.ControlNet3D(base).double()
    x, t, depth = inputs(223, t=4, h=6, w=10)
    with torch.no_grad():  # every zero conv made the identity: residual i = copy's feature i
        for conv in [*control.zero_convs, control.mid_zero_conv]:
            c = conv.weight.shape[0]
            conv.weight.copy_(torch.eye(c, dtype=conv.weight.dtype).view(c, c, 1, 1, 1))
            conv.bias.zero_()
        skips, mid = control(x, t, depth)
    features, middle = base_features(base, x, t)  # the copy is the base's encoder, the hint 0
    for i, (s, f) in enumerate(zip(skips, features, strict=True)):
        torch.testing.assert_close(s, f, rtol=1e-12, atol=1e-12,
                                   msg=lambda m, i=i: f"residual {i} is not skip {i}'s: {m}")
    torch.testing.assert_close(mid, middle, rtol=1e-12, atol=1e-12)


@pytest.mark.points(1)
def test_gradients_reach_the_copy_and_the_hint_only_after_the_zero_convs_move(impl):
    base = random_base(224)
    control = impl.ControlNet3D(base).double()
    model = ControlledUNet(base, control)
    x, t, depth = inputs(224)
    target = torch.randn_like(x)
    groups = {"zero convs": [*control.zero_convs.parameters(),
                             *control.mid_zero_conv.parameters()],
              "copy": [p for n in COPIED[1:] for p in getattr(control, n).parameters()],
              "depth encoder": list(control.hint.parameters())}
    opt = torch.optim.SGD(control.parameters(), lr=0.05)
    seen = []
    for _ in range(3):
        opt.zero_grad(set_to_none=False)
        F.mse_loss(model(x, t, depth), target).backward()
        seen.append({name: any(p.grad is not None and p.grad.abs().max() > 0 for p in ps)
                     for name, ps in groups.items()})
        opt.step()
    assert seen[0] == {"zero convs": True, "copy": False, "depth encoder": False}, (
        f"first step: {seen[0]}; only the zero convs (whose inputs are nonzero) get a gradient")
    assert seen[2] == {"zero convs": True, "copy": True, "depth encoder": True}, (
        f"third step: {seen[2]}; by now every part of the control branch learns")

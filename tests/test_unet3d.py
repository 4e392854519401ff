"""The 3D U-Net: shapes, how its variants mix frames, and exact inflation at initialisation."""

import pytest
import torch

from vdlite.conv3d import PseudoConv3d
from vdlite.unet3d import UNet3D, timestep_embedding


def randomise(net: UNet3D, seed: int, keep_temporal: bool) -> None:
    """Give every parameter random values; keep pseudo-3D temporal convs at identity if asked."""
    gen = torch.Generator().manual_seed(seed)
    temporal = set()
    if keep_temporal:
        for mod in net.modules():
            if isinstance(mod, PseudoConv3d):
                temporal |= {id(p) for p in mod.temporal.parameters()}
    with torch.no_grad():
        for p in net.parameters():
            if id(p) not in temporal:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.2)


@pytest.mark.parametrize("conv", ["full", "pseudo", "spatial"])
@pytest.mark.parametrize("patch_size", [1, 2])
def test_output_shape_matches_input_for_odd_frame_counts(conv, patch_size):
    net = UNet3D(3, 8, (1, 2), 1, conv, patch_size=patch_size).double()
    randomise(net, 0, keep_temporal=False)
    for t in (1, 5, 7):
        x = torch.randn(2, 3, t, 8, 12, dtype=torch.float64)
        y = net(x, torch.tensor([3, 999]))
        assert y.shape == x.shape
        assert torch.isfinite(y).all()


def test_zero_initialised_output_layer_predicts_zero():
    net = UNet3D(3, 8, (1, 2), 1, "full")
    y = net(torch.randn(1, 3, 4, 8, 8), torch.tensor([10]))
    assert torch.count_nonzero(y) == 0


def test_pseudo3d_at_init_is_the_image_model_frame_by_frame():
    """Identity temporal convs + per-frame norms: a clip is processed as independent frames."""
    net = UNet3D(3, 8, (1, 2), 1, "pseudo").double()
    randomise(net, 1, keep_temporal=True)
    x = torch.randn(2, 3, 5, 8, 8, dtype=torch.float64)
    t = torch.tensor([7, 500])
    clip = net(x, t)
    frames = torch.stack([net(x[:, :, i : i + 1], t)[:, :, 0] for i in range(5)], dim=2)
    torch.testing.assert_close(clip, frames, rtol=0, atol=1e-12)
    # Once the temporal convs learn something, frames interact.
    randomise(net, 2, keep_temporal=False)
    clip = net(x, t)
    frames = torch.stack([net(x[:, :, i : i + 1], t)[:, :, 0] for i in range(5)], dim=2)
    assert (clip - frames).abs().max() > 1e-3


def test_spatial_unet_never_mixes_frames_and_full_unet_does():
    x = torch.randn(1, 3, 6, 8, 8, dtype=torch.float64)
    x2 = x.clone()
    x2[:, :, 0] += 1.0  # change the first frame only
    t = torch.tensor([100])
    for conv, mixes in (("spatial", False), ("full", True)):
        net = UNet3D(3, 8, (1, 2), 1, conv).double()
        randomise(net, 3, keep_temporal=False)
        later = (net(x2, t) - net(x, t))[:, :, 1:].abs().max()
        assert (later > 1e-6) == mixes, conv


def test_every_parameter_gets_a_gradient():
    net = UNet3D(3, 8, (1, 2), 1, "full")
    randomise(net, 4, keep_temporal=False)
    net(torch.randn(2, 3, 4, 8, 8), torch.tensor([1, 2])).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_timestep_embedding_is_sinusoidal():
    emb = timestep_embedding(torch.tensor([0, 5]), 8)
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    freqs = torch.exp(-torch.log(torch.tensor(10_000.0)) * torch.arange(4) / 4)
    torch.testing.assert_close(emb[1, 4:], torch.sin(5 * freqs))


def test_bad_inputs_raise_clear_errors():
    net = UNet3D(3, 8, (1, 2), 1, "full", patch_size=2)
    t = torch.tensor([0])
    with pytest.raises(ValueError, match=r"\[B, C, T, H, W\]"):
        net(torch.randn(3, 8, 8), t)
    with pytest.raises(ValueError, match="3 channels"):
        net(torch.randn(1, 4, 2, 8, 8), t)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 3, 2, 6, 8), t)
    with pytest.raises(ValueError, match="t must have shape"):
        net(torch.randn(1, 3, 2, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="conv must be one of"):
        UNet3D(conv="4d")


@pytest.mark.parametrize("conv", ["full", "pseudo", "spatial"])
def test_zero_initialised_layers_still_learn(conv):
    """One Adam step from initialisation must move the output away from zero."""
    torch.manual_seed(0)
    net = UNet3D(3, 8, (1, 2), 1, conv)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, t = torch.randn(2, 3, 4, 8, 8), torch.tensor([5, 50])
    target = torch.randn_like(x)
    for _ in range(2):
        opt.zero_grad()
        (net(x, t) - target).square().mean().backward()
        opt.step()
    for name, mod in net.named_modules():
        if name.endswith("conv2") or name == "out_conv":
            weight = mod.spatial.weight if conv == "pseudo" else mod.weight
            assert weight.abs().sum() > 0, name

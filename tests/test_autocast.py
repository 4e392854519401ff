"""Every vdlite model trains under ``torch.autocast`` (bf16): the package's convolutions cast
their operands to the autocast dtype as ``F.conv3d`` does (``vdlite.backend.autocast_operands``)
instead of rejecting bf16 activations that meet float32 weights.

Oracles: ``vdlite.conv3d`` under autocast against ``F.conv3d`` under autocast (both bf16; the
two sum in different orders, so they agree to bf16 rounding: relative Frobenius error 1e-2),
and each model's autocast step against its float32 step: the loss within 5e-2 relative error,
each parameter's gradient within 5e-2 of its norm plus 1e-3 of the whole gradient's norm (a
bias just before a normalisation has a float32 gradient of ~1e-10, all rounding), bf16's
8-bit mantissa through a few layers.
CPU autocast; the same code runs CUDA autocast on a GPU.
"""

import pytest
import torch
import torch.nn.functional as F

import vdlite
from vdlite.conv3d import CausalConv3d, Conv3d
from vdlite.transformer import VideoDiT
from vdlite.unet3d import UNet3D
from vdlite.vae import CausalVAE

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


@pytest.fixture(autouse=True)
def reference_backend(monkeypatch):
    monkeypatch.setenv("VDLITE_BACKEND", "torch")


def test_conv3d_under_autocast_is_f_conv3d_under_autocast():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 5, 7, 9, generator=g)
    w, b = torch.randn(4, 3, 3, 2, 3, generator=g), torch.randn(4, generator=g)
    with torch.autocast(**BF16):
        ours = vdlite.conv3d(x, w, b, stride=(1, 2, 1), padding=1, groups=2)
        theirs = F.conv3d(x, w, b, stride=(1, 2, 1), padding=1, groups=2)
    assert ours.dtype == theirs.dtype == torch.bfloat16
    assert rel(ours, theirs) <= 1e-2
    x64 = x.double()  # autocast leaves float64 alone, as it does for F.conv3d
    with torch.autocast(**BF16):
        assert vdlite.conv3d(x64, w.double(), b.double(), padding=1, groups=2).dtype == x64.dtype


def conv_step(make):
    torch.manual_seed(0)
    conv = make()
    x = torch.randn(2, conv.in_channels, 5, 6, 7)
    return conv, x, lambda y: y.float().square().mean()


def model_step(make):
    torch.manual_seed(0)
    net = make()
    for p in net.parameters():  # leave zero-initialised outputs: every layer contributes
        p.data.add_(0.05 * torch.randn_like(p))
    x, t = torch.randn(2, 3, 5, 8, 8), torch.tensor([7, 600])
    return net, (x, t), lambda y: (y.float() - x).square().mean()


CASES = {
    "Conv3d": lambda: conv_step(lambda: Conv3d(3, 5, 3, stride=(1, 2, 1), padding=1)),
    "CausalConv3d": lambda: conv_step(lambda: CausalConv3d(3, 5, 3, pad_mode="replicate")),
    "UNet3D": lambda: model_step(lambda: UNet3D(3, 8, (1, 2))),
    "UNet3D pseudo": lambda: model_step(lambda: UNet3D(3, 8, (1, 2), conv="pseudo")),
    "VideoDiT": lambda: model_step(lambda: VideoDiT(3, 2, dim=32, depth=1, heads=2,
                                                    temporal_radius=1)),
}


def loss_and_grads(module, inputs, loss_of, autocast: bool):
    module.zero_grad()
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    with torch.autocast(**BF16, enabled=autocast):
        out = module(*inputs)
        loss = loss_of(out)
    loss.backward()
    return out, loss.detach(), {n: p.grad.clone() for n, p in module.named_parameters()}


@pytest.mark.parametrize("name", list(CASES))
def test_a_training_step_under_autocast_matches_float32(name):
    module, inputs, loss_of = CASES[name]()
    _, loss32, grads32 = loss_and_grads(module, inputs, loss_of, autocast=False)
    out, loss16, grads16 = loss_and_grads(module, inputs, loss_of, autocast=True)
    assert out.dtype == torch.bfloat16
    assert rel(loss16, loss32) <= 5e-2
    total = torch.cat([g.flatten() for g in grads32.values()]).norm()
    for n, g in grads16.items():
        assert g.dtype == torch.float32, n  # the parameters and their gradients stay float32
        error = (g - grads32[n]).norm()  # a bias before a norm has a float32 gradient of ~0
        assert error <= 5e-2 * grads32[n].norm() + 1e-3 * total, n


def test_the_causal_vae_encodes_and_decodes_under_autocast():
    torch.manual_seed(0)
    vae = CausalVAE(base_channels=8, latent_channels=4)
    x = torch.randn(1, 3, 5, 16, 16)
    z32 = vae.encode(x).mean
    with torch.autocast(**BF16):
        z16 = vae.encode(x).mean
        y16 = vae.decode(z16)
    assert y16.dtype == torch.bfloat16 and y16.shape == x.shape
    assert rel(z16, z32) <= 5e-2

"""Task 09.1: the bytes saved for backward. Oracles: chains of Linear + tanh layers whose saved
tensors are counted by hand ((k + 1) B D elements, k B D when each layer is checkpointed), and
`vdlite.memory.saved_bytes` on a small U-Net's forward."""

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from vdlite.memory import saved_bytes as package_saved_bytes
from vdlite.unet3d import UNet3D


def chain(layers, x, ck: bool):
    def run():
        h = x
        for layer in layers:
            f = lambda a, layer=layer: torch.tanh(layer(a))  # noqa: E731
            h = checkpoint(f, h, use_reentrant=False) if ck else f(h)
        return h.sum()
    return run


@pytest.mark.points(2)
def test_a_linear_chain_counted_by_hand(impl):
    """k layers tanh(W h + c) on x [B, D]: a Linear saves its input, a tanh its output, which
    is the next Linear's input (one storage): x and k outputs, (k + 1) B D elements."""
    for B, D, k, dtype in ((7, 5, 3, torch.float64), (3, 11, 2, torch.float32),
                           (1, 6, 5, torch.float32)):
        torch.manual_seed(0)
        layers = [nn.Linear(D, D).to(dtype) for _ in range(k)]
        params = [p for layer in layers for p in layer.parameters()]
        x = torch.randn(B, D, dtype=dtype)
        e = x.element_size()
        where = f"B={B}, D={D}, k={k}, {dtype}"
        assert impl.saved_bytes(chain(layers, x, False), params) == (k + 1) * B * D * e, where
        assert impl.saved_bytes(chain(layers, x, True), params) == k * B * D * e, \
            f"{where}, each layer checkpointed (only its input is kept)"
        assert impl.saved_bytes(chain(layers, x, False)) > (k + 1) * B * D * e, \
            f"{where}: with nothing excluded, the saved weights count too"


@pytest.mark.points(1)
def test_a_unet_step_as_the_package_counts_it(impl):
    torch.manual_seed(1)
    model = UNet3D(3, 6, (1, 2), 1, conv="pseudo")
    x, t = torch.randn(2, 3, 3, 6, 10), torch.tensor([4, 900])
    for ck in (False, True):
        model.gradient_checkpointing = ck

        def step():
            return model(x, t).square().mean()

        assert impl.saved_bytes(step, model.parameters()) == \
            package_saved_bytes(step, model.parameters()), f"gradient_checkpointing={ck}"

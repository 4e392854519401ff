"""Task 05.2: adaLN-Zero, against its formula, vdlite's `Modulated`, and identity at init."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vdlite.transformer import Modulated, SelfAttention


def mlp(dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, 13), nn.GELU(), nn.Linear(13, dim)).double()


@pytest.mark.points(2)
def test_modulate_matches_formula(impl):
    """modulate(x, shift, scale) = LN(x) * (1 + scale) + shift, LN without affine, eps 1e-6."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 7, 11, generator=g, dtype=torch.float64) * 3 + 1  # [B, T, S, dim]
    shift, scale = torch.randn(2, 2, 11, generator=g, dtype=torch.float64)  # [B, dim] each
    oracle = F.layer_norm(x, (11,), eps=1e-6) * (1 + scale[:, None, None]) + shift[:, None, None]
    torch.testing.assert_close(impl.modulate(x, shift, scale), oracle, rtol=1e-12, atol=1e-12)


@pytest.mark.points(1)
def test_fresh_block_is_the_identity(impl):
    """A freshly built AdaLNZero returns x bit for bit: its gate starts at exactly zero."""
    torch.manual_seed(0)
    block = impl.AdaLNZero(11, mlp(11)).double()
    x = torch.randn(3, 5, 7, 11, dtype=torch.float64)
    c = torch.randn(3, 11, dtype=torch.float64)
    torch.testing.assert_close(block(x, c), x, rtol=0, atol=0)


@pytest.mark.points(1)
def test_fresh_block_gate_gets_a_gradient(impl):
    """Only the modulation is zero, not f: the gate rows of `ada` get a gradient at step one."""
    torch.manual_seed(1)
    block = impl.AdaLNZero(11, mlp(11)).double()
    x = torch.randn(2, 3, 5, 11, dtype=torch.float64)
    c = torch.randn(2, 11, dtype=torch.float64)
    block(x, c).pow(2).sum().backward()
    gate_rows = block.ada.weight.grad[2 * 11:]  # ada's output is (shift, scale, gate)
    assert gate_rows.abs().max() > 1e-6, "the gate got no gradient: is f zero too?"


@pytest.mark.points(2)
def test_matches_vdlite_modulated(impl):
    """With trained (random) modulation: x + Modulated(x, c, hw), the extra args passed to f."""
    torch.manual_seed(2)
    dim, hw = 12, (2, 3)
    block = impl.AdaLNZero(dim, SelfAttention(dim, 2, "spatial")).double()
    with torch.no_grad():
        for param in block.ada.parameters():
            param.normal_(0, 0.3)
    oracle = Modulated(dim, block.f).double()
    oracle.ada.load_state_dict(block.ada.state_dict())
    x = torch.randn(2, 5, 6, dim, dtype=torch.float64)
    c = torch.randn(2, dim, dtype=torch.float64)
    torch.testing.assert_close(block(x, c, hw), x + oracle(x, c, hw), rtol=1e-10, atol=1e-10)

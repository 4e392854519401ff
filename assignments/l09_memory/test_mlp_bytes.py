"""Task 09.2: the MLP block's saved bytes by hand. Oracle: the bytes the block's forward saves,
counted by the package's hooks (`vdlite.memory.saved_bytes`), on odd shapes in float32 and
float64."""

import pytest
import torch
from torch import nn

from vdlite.memory import saved_bytes


def measured(B, T, S, D, r, dtype) -> int:
    torch.manual_seed(0)
    norm = nn.LayerNorm(D, elementwise_affine=False)
    w1, w2 = nn.Linear(D, r * D).to(dtype), nn.Linear(r * D, D).to(dtype)
    act = nn.GELU(approximate="tanh")
    x = torch.randn(B, T, S, D, dtype=dtype, requires_grad=True)
    params = [*w1.parameters(), *w2.parameters()]
    return saved_bytes(lambda: x + w2(act(w1(norm(x)))), params)


@pytest.mark.points(3)
def test_mlp_block_bytes_match_the_hooks(impl):
    for B, T, S, D, r, dtype in ((2, 5, 7, 6, 4, torch.float32), (3, 1, 9, 10, 2, torch.float64),
                                 (1, 7, 3, 14, 3, torch.float32), (5, 2, 4, 6, 1, torch.float64)):
        e = torch.empty((), dtype=dtype).element_size()
        got = impl.mlp_saved_bytes(B, T, S, D, r, e)
        assert got == measured(B, T, S, D, r, dtype), f"B={B}, T={T}, S={S}, dim={D}, ratio={r}"

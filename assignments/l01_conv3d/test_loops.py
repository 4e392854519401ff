"""Task 01.1: the six-loop definition against F.conv3d (float64, stride 1, no padding)."""

import pytest
import torch
import torch.nn.functional as F


@pytest.mark.points(3)
def test_conv3d_loops_matches_f_conv3d(impl):
    g = torch.Generator().manual_seed(101)
    x = torch.randn(2, 3, 5, 6, 7, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 3, 2, 3, 2, generator=g, dtype=torch.float64)
    bias = torch.randn(3, generator=g, dtype=torch.float64)
    for b in (None, bias):
        y = impl.conv3d_loops(x, weight, b)
        assert y.shape == (2, 3, 4, 4, 6)
        torch.testing.assert_close(y, F.conv3d(x, weight, b), rtol=1e-12, atol=1e-12)

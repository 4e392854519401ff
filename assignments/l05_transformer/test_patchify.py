"""Task 05.1: patchify / unpatchify, against vdlite.transformer's own and as inverses."""

import pytest
import torch

from vdlite.transformer import patchify as vdlite_patchify
from vdlite.transformer import unpatchify as vdlite_unpatchify


@pytest.mark.points(1)
def test_patchify_and_unpatchify_match_vdlite(impl):
    """Token s = i*(W/p) + j of frame t holds that patch's pixels in (channel, row, col) order."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 6, 9, generator=g, dtype=torch.float64)  # [B, C, T, H, W], p = 3
    tokens = torch.randn(2, 5, 6, 3 * 3 * 3, generator=g, dtype=torch.float64)  # hw = (2, 3)
    mine = impl.patchify(x, 3)
    assert mine.shape == (2, 5, 6, 27)
    torch.testing.assert_close(mine, vdlite_patchify(x, 3), rtol=0, atol=0)
    torch.testing.assert_close(impl.unpatchify(tokens, 3, (2, 3)),
                               vdlite_unpatchify(tokens, 3, (2, 3)), rtol=0, atol=0)


@pytest.mark.points(1)
def test_unpatchify_inverts_patchify(impl):
    """unpatchify(patchify(x)) == x and patchify(unpatchify(tokens)) == tokens, exactly."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 3, 10, 4, generator=g, dtype=torch.float64)  # p = 2: hw = (5, 2)
    tokens = torch.randn(3, 2, 10, 2 * 2 * 2, generator=g, dtype=torch.float64)
    torch.testing.assert_close(impl.unpatchify(impl.patchify(x, 2), 2, (5, 2)), x,
                               rtol=0, atol=0)
    torch.testing.assert_close(impl.patchify(impl.unpatchify(tokens, 2, (5, 2)), 2), tokens,
                               rtol=0, atol=0)

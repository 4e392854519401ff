"""Task 05.3: RoPE, against vdlite.positions and the relative property of its scores."""

import pytest
import torch

from vdlite.positions import rope_3d as vdlite_rope_3d
from vdlite.positions import rotate as vdlite_rotate


@pytest.mark.points(1)
def test_rotate_matches_vdlite(impl):
    """Pairs (x[2i], x[2i+1]) turned by position * 10000^(-2i/dim), positions broadcast."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 3, 10, generator=g, dtype=torch.float64)
    positions = torch.randn(5, 3, generator=g, dtype=torch.float64) * 4  # one per vector
    torch.testing.assert_close(impl.rotate(x, positions), vdlite_rotate(x, positions),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.points(1)
def test_rotate_scores_depend_only_on_offsets(impl):
    """|R_m q| = |q|, R_0 q = q, R_1 q != q, and <R_m q, R_n k> depends on m - n alone."""
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(2, 3, 10, generator=g, dtype=torch.float64)  # 3 heads, dim 10
    m = torch.arange(7, dtype=torch.float64)[:, None]  # [7, 1]: positions 0..6
    qm, km = impl.rotate(q.expand(7, 3, 10), m), impl.rotate(k.expand(7, 3, 10), m)
    torch.testing.assert_close(qm.norm(dim=-1), q.norm(dim=-1).expand(7, 3),
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(qm[0], q, rtol=1e-12, atol=1e-12)
    assert (qm[1] - q).abs().max() > 0.1, "position 1 must rotate"
    scores = torch.einsum("mhd,nhd->hmn", qm, km)  # [heads, 7, 7]
    torch.testing.assert_close(scores[:, 1:, 1:], scores[:, :-1, :-1], rtol=1e-12, atol=1e-12)


@pytest.mark.points(2)
def test_rope_3d_matches_vdlite(impl):
    """The default split (default_split(D)) and a given one, on a 3 x 2 x 5 token grid."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 10, 3, 14, generator=g, dtype=torch.float64)  # [B, T, S, heads, D]
    torch.testing.assert_close(impl.rope_3d(x, (3, 2, 5)), vdlite_rope_3d(x, (3, 2, 5)),
                               rtol=1e-12, atol=1e-12)
    y = torch.randn(1, 3, 10, 2, 18, generator=g, dtype=torch.float64)
    torch.testing.assert_close(impl.rope_3d(y, (3, 2, 5), split=(4, 6, 8)),
                               vdlite_rope_3d(y, (3, 2, 5), split=(4, 6, 8)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.points(2)
def test_rope_3d_scores_depend_only_on_offsets(impl):
    """The same q and k at every token of a 4 x 3 x 5 grid: score((t,h,w), (u,v,x)) depends
    on (t-u, h-v, w-x) only, and on each of the three."""
    g = torch.Generator().manual_seed(3)
    T, H, W, heads, D = 4, 3, 5, 2, 14
    q, k = torch.randn(2, heads, D, generator=g, dtype=torch.float64)
    rq = impl.rope_3d(q.expand(1, T, H * W, heads, D), (T, H, W)).reshape(T, H, W, heads, D)
    rk = impl.rope_3d(k.expand(1, T, H * W, heads, D), (T, H, W)).reshape(T, H, W, heads, D)
    s = torch.einsum("thwnd,uvxnd->nthwuvx", rq, rk)  # [heads, T, H, W, T, H, W]
    tol = dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(s[:, 1:, :, :, 1:], s[:, :-1, :, :, :-1], **tol)  # shift t
    torch.testing.assert_close(s[:, :, 1:, :, :, 1:], s[:, :, :-1, :, :, :-1], **tol)  # h
    torch.testing.assert_close(s[:, :, :, 1:, :, :, 1:], s[:, :, :, :-1, :, :, :-1], **tol)  # w
    origin = s[:, 0, 0, 0]  # [heads, T, H, W]: scores against keys at offsets (u, v, x)
    for key in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
        assert (origin[(slice(None), *key)] - origin[:, 0, 0, 0]).abs().max() > 1e-3, (
            f"a key at offset {key} scores as one at offset 0: that axis is not rotated")

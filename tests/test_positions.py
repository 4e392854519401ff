"""Tests for vdlite.positions: rotary embeddings (1D, 3D) and the relative temporal bias.

Properties, in float64 on odd shapes: a rotary score depends only on the offset (checked by
shifting and against the closed form Re sum_i q_i conj(k_i) e^{j (m - n) theta_i} with
complex numbers), rotation preserves norms and position 0 is the identity. The bias depends
only on the clipped offset t' - t. Tolerance: 1e-12 (float64 rounding) unless stated.
"""

import pytest
import torch

from vdlite.positions import (
    RelativeTemporalBias,
    default_split,
    relative_temporal_buckets,
    rope_3d,
    rope_frequencies,
    rotate,
)

TOL = {"rtol": 1e-12, "atol": 1e-12}


def randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def test_frequencies():
    theta = rope_frequencies(10, base=100.0)
    assert theta.shape == (5,)
    torch.testing.assert_close(theta, 100.0 ** (-torch.arange(0, 10, 2).double() / 10), **TOL)
    with pytest.raises(ValueError):
        rope_frequencies(7)


def test_rotate_score_depends_only_on_offset():
    dim = 14
    q, k = randn(dim, seed=1), randn(dim, seed=2)
    theta = rope_frequencies(dim)
    qc, kc = torch.view_as_complex(q.view(-1, 2)), torch.view_as_complex(k.view(-1, 2))
    for m in (0, 3, -5, 17):
        for n in (0, 1, 7, -2):
            score = rotate(q, m) @ rotate(k, n)
            closed = (qc * kc.conj() * torch.exp(1j * (m - n) * theta)).sum().real
            torch.testing.assert_close(score, closed, **TOL)
            for c in (1, -4, 11, 2.5):
                shifted = rotate(q, m + c) @ rotate(k, n + c)
                torch.testing.assert_close(score, shifted, rtol=1e-11, atol=1e-11)


def test_rotate_broadcasts_positions():
    x = randn(3, 5, 7, 6)
    pos = torch.arange(5)[:, None]  # [5, 1] broadcasts over [3, 5, 7]
    out = rotate(x, pos)
    for p in range(5):
        torch.testing.assert_close(out[:, p], rotate(x[:, p], p), **TOL)


def test_rotate_preserves_norm_and_zero_is_identity():
    x = randn(4, 3, 10)
    pos = randn(4, 3) * 50
    torch.testing.assert_close(rotate(x, pos).norm(dim=-1), x.norm(dim=-1), **TOL)
    torch.testing.assert_close(rotate(x, 0), x, rtol=0, atol=0)
    with pytest.raises(ValueError):
        rotate(randn(3, 5), 1)


def test_default_split():
    assert default_split(64) == (16, 24, 24)
    assert default_split(128) == (32, 48, 48)
    for D in (6, 8, 10, 12, 30, 72, 96, 256):
        dt, dh, dw = default_split(D)
        assert dt + dh + dw == D and dh == dw
        assert all(d > 0 and d % 2 == 0 for d in (dt, dh, dw))
    for D in (4, 7, 65):
        with pytest.raises(ValueError):
            default_split(D)


def test_rope_3d_invalid():
    x = randn(1, 3, 10, 2, 12)
    with pytest.raises(ValueError, match="grid"):
        rope_3d(x, (3, 2, 4))
    with pytest.raises(ValueError, match="grid"):
        rope_3d(x, (2, 2, 5))
    for split in ((4, 4, 2, 2), (4, 4, 2), (3, 5, 4), (2, 4, 4)):
        with pytest.raises(ValueError, match="split"):
            rope_3d(x, (3, 2, 5), split=split)
    with pytest.raises(ValueError, match="D"):
        rope_3d(randn(1, 3, 10, 2, 13), (3, 2, 5))


def test_rope_3d_matches_per_axis_rotate():
    T, H, W, D = 3, 5, 7, 14
    x = randn(2, T, H * W, 3, D)
    split = (4, 6, 4)
    out = rope_3d(x, (T, H, W), split=split, offset=(1, -2, 0.5))
    for t in range(T):
        for s in range(H * W):
            h, w = divmod(s, W)
            xs = x[:, t, s]
            ref = torch.cat((rotate(xs[..., :4], t + 1), rotate(xs[..., 4:10], h - 2),
                             rotate(xs[..., 10:], w + 0.5)), dim=-1)
            torch.testing.assert_close(out[:, t, s], ref, **TOL)
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1), **TOL)


def scores(q, k):
    """All token pairs' q.k per head: [B, T, S, heads, D] x2 -> [B, heads, T*S, T*S]."""
    return torch.einsum("bnhd,bmhd->bhnm", q.flatten(1, 2), k.flatten(1, 2))


@pytest.mark.parametrize("split", [None, (2, 8, 4)])
def test_rope_3d_scores_invariant_to_offset(split):
    T, H, W, D = 3, 5, 7, 14
    grid = (T, H, W)
    q, k = randn(2, T, H * W, 3, D, seed=1), randn(2, T, H * W, 3, D, seed=2)
    ref = scores(rope_3d(q, grid, split), rope_3d(k, grid, split))
    for offset in ((5, 0, 0), (0, -3, 0), (0, 0, 9), (2, 7, -4), (0.5, 1.5, -2.25)):
        got = scores(rope_3d(q, grid, split, offset=offset), rope_3d(k, grid, split, offset=offset))
        torch.testing.assert_close(got, ref, rtol=1e-11, atol=1e-11)


def test_rope_3d_score_depends_only_on_relative_position():
    """Same q at every token, same k at every token: the score is a function of (dt, dh, dw)."""
    T, H, W, D = 4, 3, 5, 12
    q = randn(1, 1, 1, 2, D, seed=3).expand(1, T, H * W, 2, D)
    k = randn(1, 1, 1, 2, D, seed=4).expand(1, T, H * W, 2, D)
    s = scores(rope_3d(q, (T, H, W)), rope_3d(k, (T, H, W)))[0]  # [heads, T*S, T*S]
    coords = [(t, *divmod(r, W)) for t in range(T) for r in range(H * W)]
    by_offset = {}
    for i, a in enumerate(coords):
        for j, b in enumerate(coords):
            key = tuple(x - y for x, y in zip(a, b, strict=True))
            by_offset.setdefault(key, s[:, i, j])
            torch.testing.assert_close(s[:, i, j], by_offset[key], rtol=1e-11, atol=1e-11)
    assert len(by_offset) == (2 * T - 1) * (2 * H - 1) * (2 * W - 1)


def test_rope_3d_strided_views():
    qkv = randn(2, 3, 6, 3, 2, 12)
    q = qkv.unbind(3)[0]
    torch.testing.assert_close(rope_3d(q, (3, 2, 3)), rope_3d(q.contiguous(), (3, 2, 3)),
                               rtol=0, atol=0)


def test_rope_3d_gradcheck():
    x = randn(1, 2, 6, 1, 8).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: rope_3d(x, (2, 2, 3), split=(2, 4, 2)), (x,))


def test_relative_bias_zero_at_init():
    bias = RelativeTemporalBias(heads=3, max_distance=4)
    out = bias(9)
    assert out.shape == (3, 9, 9)
    assert torch.count_nonzero(out) == 0


@pytest.mark.parametrize("num_buckets", [None, 8, 12])
def test_relative_bias_depends_only_on_clipped_offset(num_buckets):
    M, T = 6, 20  # T > max_distance
    module = RelativeTemporalBias(heads=3, max_distance=M, num_buckets=num_buckets).double()
    with torch.no_grad():
        module.bias.copy_(randn(*module.bias.shape))
    b = module(T)
    assert b.shape == (3, T, T)
    for c in (1, 4, 13):  # shift both frames: unchanged
        torch.testing.assert_close(b[:, c:, c:], b[:, : T - c, : T - c], rtol=0, atol=0)
    for t in range(T):
        for u in range(T):  # offsets beyond the clip read the value at +-M
            d = max(-M, min(M, u - t))
            torch.testing.assert_close(b[:, t, u], b[:, 0, d] if d >= 0 else b[:, -d, 0],
                                       rtol=0, atol=0)
    if num_buckets is None:  # one learned value per head per clipped offset
        for t in range(T):
            for u in range(T):
                d = max(-M, min(M, u - t))
                torch.testing.assert_close(b[:, t, u], module.bias[:, d + M], rtol=0, atol=0)
        assert len({tuple(b[:, 0, u].tolist()) for u in range(T)} |
                   {tuple(b[:, t, 0].tolist()) for t in range(T)}) == 2 * M + 1


def test_relative_bias_buckets_and_gradients():
    buckets = relative_temporal_buckets(40, max_distance=16, num_buckets=16)
    assert buckets.min() >= 0 and buckets.max() < 16
    module = RelativeTemporalBias(heads=2, max_distance=3)
    module(7).sum().backward()
    assert module.bias.grad is not None and module.bias.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        RelativeTemporalBias(heads=2, max_distance=0)
    with pytest.raises(ValueError):
        RelativeTemporalBias(heads=2, max_distance=3, num_buckets=16)

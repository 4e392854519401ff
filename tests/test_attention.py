"""Tests for vdlite.attention: the reference attention the Triton kernels are checked against.

Oracle: torch.nn.functional.scaled_dot_product_attention with an explicit bool mask, the
tokens permuted here into its [batch, heads, L, D] layout, in float64 on odd,
non-power-of-two shapes. Masks in the oracle are written out element by element, not taken
from ``temporal_mask``. Tolerance: rtol = atol = 1e-12 (float64 rounding). Strided inputs
must give *bitwise* the same result as contiguous copies.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from vdlite.attention import (
    cross_attention,
    full_attention,
    neighbourhood_temporal_attention,
    spatial_attention,
    temporal_attention,
    temporal_mask,
    windowed_temporal_attention,
)

TOL = {"rtol": 1e-12, "atol": 1e-12}
WINDOWS = [None, 0, 1, 3, 50]  # 50 is wider than any T used here


def tokens(B=2, T=5, S=30, heads=3, D=8, seed=0, dtype=torch.float64):
    """Three independent contiguous [B, T, S, heads, D] tensors."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, T, S, heads, D, generator=g, dtype=dtype) for _ in range(3)]


def fused_tokens(B=2, T=5, S=30, heads=3, D=8, seed=0):
    """q, k, v as the no-copy views ``qkv.unbind(3)`` of one fused projection."""
    g = torch.Generator().manual_seed(seed)
    qkv = torch.randn(B, T, S, 3, heads, D, generator=g, dtype=torch.float64)
    return qkv.unbind(3)


def allowed_frames(T, causal, window):
    """The temporal mask written out element by element: True = frame t may see frame u."""
    return torch.tensor(
        [
            [(not causal or u <= t) and (window is None or abs(t - u) <= window) for u in range(T)]
            for t in range(T)
        ]
    )


def sdpa(q, k, v, mask=None):
    """SDPA on [batch, heads, L, D] operands; the mask is bool, True = may attend."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def oracle_spatial(q, k, v):
    B, T, S, h, D = q.shape

    def to_sdpa(x):  # [B, T, S, h, D] -> [B*T, h, S, D]
        return x.permute(0, 1, 3, 2, 4).reshape(B * T, h, S, D)

    out = sdpa(to_sdpa(q), to_sdpa(k), to_sdpa(v))
    return out.reshape(B, T, h, S, D).permute(0, 1, 3, 2, 4)


def oracle_temporal(q, k, v, causal=False, window=None):
    B, T, S, h, D = q.shape

    def to_sdpa(x):  # [B, T, S, h, D] -> [B*S, h, T, D]
        return x.permute(0, 2, 3, 1, 4).reshape(B * S, h, T, D)

    out = sdpa(to_sdpa(q), to_sdpa(k), to_sdpa(v), allowed_frames(T, causal, window))
    return out.reshape(B, S, h, T, D).permute(0, 3, 1, 2, 4)


def oracle_full(q, k, v):
    B, T, S, h, D = q.shape

    def to_sdpa(x):  # [B, T, S, h, D] -> [B, h, T*S, D]
        return x.reshape(B, T * S, h, D).transpose(1, 2)

    out = sdpa(to_sdpa(q), to_sdpa(k), to_sdpa(v))
    return out.transpose(1, 2).reshape(B, T, S, h, D)


def oracle_cross(q, k, v, key_padding_mask=None):
    B, T, S, h, D = q.shape
    mask = None if key_padding_mask is None else key_padding_mask[:, None, None, :]  # [B,1,1,L]
    out = sdpa(q.reshape(B, T * S, h, D).transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
               mask)
    return out.transpose(1, 2).reshape(B, T, S, h, D)


def prompt(B=2, L=7, heads=3, D=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, L, heads, D, generator=g, dtype=torch.float64) for _ in range(2)]


# ---- against the SDPA oracle ---------------------------------------------------------------

SHAPES = [
    {"B": 2, "T": 5, "S": 30, "heads": 3, "D": 8},
    {"B": 2, "T": 7, "S": 13, "heads": 3, "D": 12},
    {"B": 1, "T": 1, "S": 13, "heads": 1, "D": 5},
]


@pytest.mark.parametrize("shape", SHAPES)
def test_spatial_matches_sdpa(shape):
    q, k, v = tokens(**shape)
    out = spatial_attention(q, k, v)
    assert out.shape == q.shape and out.dtype == q.dtype
    torch.testing.assert_close(out, oracle_spatial(q, k, v), **TOL)


@pytest.mark.parametrize("T", [1, 5, 7])
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("causal", [False, True])
def test_temporal_matches_sdpa_for_every_mask(causal, window, T):
    q, k, v = tokens(T=T, S=13, D=12, seed=T)
    out = temporal_attention(q, k, v, causal=causal, window=window)
    assert out.shape == q.shape and out.dtype == q.dtype
    torch.testing.assert_close(out, oracle_temporal(q, k, v, causal, window), **TOL)


@pytest.mark.parametrize("shape", SHAPES)
def test_full_matches_sdpa(shape):
    q, k, v = tokens(**shape)
    out = full_attention(q, k, v)
    assert out.shape == q.shape and out.dtype == q.dtype
    torch.testing.assert_close(out, oracle_full(q, k, v), **TOL)


@pytest.mark.parametrize("L", [1, 7])
def test_cross_matches_sdpa(L):
    q, _, _ = tokens(T=5, S=13, D=12)
    k, v = prompt(L=L, D=12)
    out = cross_attention(q, k, v)
    assert out.shape == q.shape and out.dtype == q.dtype
    torch.testing.assert_close(out, oracle_cross(q, k, v), **TOL)


def test_cross_key_padding_mask_matches_sdpa_and_ignores_padding():
    q, _, _ = tokens(T=5, S=13, D=12)
    k, v = prompt(L=7, D=12)
    real = torch.tensor([[True] * 4 + [False] * 3, [True] * 7])  # prompt 0 has 3 pad tokens
    out = cross_attention(q, k, v, key_padding_mask=real)
    torch.testing.assert_close(out, oracle_cross(q, k, v, real), **TOL)
    k2, v2 = k.clone(), v.clone()
    k2[~real], v2[~real] = 1e3, -1e3  # whatever sits in the padding slots
    assert torch.equal(cross_attention(q, k2, v2, key_padding_mask=real), out)
    all_real = torch.ones(2, 7, dtype=torch.bool)
    torch.testing.assert_close(cross_attention(q, k, v, all_real), cross_attention(q, k, v), **TOL)


@settings(max_examples=25, deadline=None)
@given(
    T=st.integers(1, 9),
    S=st.integers(1, 7),
    D=st.integers(1, 9),
    causal=st.booleans(),
    window=st.none() | st.integers(0, 10),
    seed=st.integers(0, 2**16),
)
def test_temporal_random_configurations(T, S, D, causal, window, seed):
    q, k, v = tokens(B=1, T=T, S=S, heads=2, D=D, seed=seed)
    torch.testing.assert_close(
        temporal_attention(q, k, v, causal, window), oracle_temporal(q, k, v, causal, window),
        **TOL,
    )


# ---- the mask ------------------------------------------------------------------------------


@pytest.mark.parametrize("T", [0, 1, 6])
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("causal", [False, True])
def test_temporal_mask_matches_definition(causal, window, T):
    mask = temporal_mask(T, causal, window)
    assert mask.dtype == torch.bool and mask.shape == (T, T)
    assert torch.equal(mask, allowed_frames(T, causal, window).reshape(T, T))


def test_temporal_mask_examples():
    assert torch.equal(temporal_mask(3, causal=True), torch.tensor(
        [[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    assert torch.equal(temporal_mask(4, window=1), torch.tensor(
        [[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]], dtype=torch.bool))
    assert torch.equal(temporal_mask(4, causal=True, window=1), torch.tensor(
        [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=torch.bool))
    assert torch.equal(temporal_mask(4, window=0), torch.eye(4, dtype=torch.bool))


# ---- strided views -------------------------------------------------------------------------

FUNCTIONS = {
    "spatial": spatial_attention,
    "temporal": temporal_attention,
    "temporal_causal_window": lambda q, k, v: temporal_attention(q, k, v, causal=True, window=2),
    "full": full_attention,
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_fused_qkv_views_equal_contiguous_exactly(name):
    q, k, v = fused_tokens(T=5, S=13, D=12)
    assert not any(x.is_contiguous() for x in (q, k, v))
    expected = FUNCTIONS[name](q.contiguous(), k.contiguous(), v.contiguous())
    assert torch.equal(FUNCTIONS[name](q, k, v), expected)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_transposed_views_equal_contiguous_exactly(name):
    base = tokens(T=5, S=13, D=12)
    q, k, v = (x.transpose(1, 2).contiguous().transpose(1, 2) for x in base)  # T, S swapped
    assert not any(x.is_contiguous() for x in (q, k, v))
    assert all(torch.equal(x, y) for x, y in zip((q, k, v), base, strict=True))
    assert torch.equal(FUNCTIONS[name](q, k, v), FUNCTIONS[name](*base))


def test_cross_accepts_strided_views():
    q, _, _ = fused_tokens(T=5, S=13, D=12)
    g = torch.Generator().manual_seed(3)
    kv = torch.randn(2, 7, 2, 3, 12, generator=g, dtype=torch.float64)  # fused [B, L, 2, h, D]
    k, v = kv.unbind(2)
    assert not any(x.is_contiguous() for x in (q, k, v))
    expected = cross_attention(q.contiguous(), k.contiguous(), v.contiguous())
    assert torch.equal(cross_attention(q, k, v), expected)


def test_inputs_are_not_modified():
    q, k, v = fused_tokens(T=5, S=13, D=12)
    before = [x.clone() for x in (q, k, v)]
    for fn in FUNCTIONS.values():
        fn(q, k, v)
    assert all(torch.equal(x, y) for x, y in zip((q, k, v), before, strict=True))


# ---- gradients -----------------------------------------------------------------------------


def tiny(B=1, T=3, S=2, heads=2, D=2, seed=0):
    return [x.requires_grad_() for x in tokens(B=B, T=T, S=S, heads=heads, D=D, seed=seed)]


def test_gradcheck_spatial():
    assert torch.autograd.gradcheck(spatial_attention, tiny())


@pytest.mark.parametrize(("causal", "window"), [(False, None), (True, 1)])
def test_gradcheck_temporal(causal, window):
    fn = lambda q, k, v: temporal_attention(q, k, v, causal=causal, window=window)  # noqa: E731
    assert torch.autograd.gradcheck(fn, tiny())


def test_gradcheck_full_and_cross():
    assert torch.autograd.gradcheck(full_attention, tiny(T=2))
    q = tiny()[0]
    k, v = (x.requires_grad_() for x in prompt(B=1, L=4, heads=2, D=2))
    mask = torch.tensor([[True, True, False, True]])
    assert torch.autograd.gradcheck(lambda q, k, v: cross_attention(q, k, v, mask), (q, k, v))


# ---- properties ----------------------------------------------------------------------------


@pytest.mark.parametrize("window", [None, 0, 2])
def test_causal_output_ignores_future_frames(window):
    q, k, v = tokens(T=7, S=13, D=12)
    out = temporal_attention(q, k, v, causal=True, window=window)
    g = torch.Generator().manual_seed(9)
    for t in range(7):
        k2, v2 = k.clone(), v.clone()
        k2[:, t + 1:] += 10 * torch.randn(k2[:, t + 1:].shape, generator=g, dtype=k.dtype)
        v2[:, t + 1:] += 10 * torch.randn(v2[:, t + 1:].shape, generator=g, dtype=v.dtype)
        out2 = temporal_attention(q, k2, v2, causal=True, window=window)
        assert torch.equal(out2[:, : t + 1], out[:, : t + 1])
        if t < 6:
            assert not torch.allclose(out2[:, t + 1:], out[:, t + 1:])  # the perturbation bites


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("window", [0, 1, 2])
def test_window_output_ignores_frames_outside_the_window(window, causal):
    q, k, v = tokens(T=7, S=13, D=12)
    out = temporal_attention(q, k, v, causal=causal, window=window)
    g = torch.Generator().manual_seed(9)
    for t in range(7):
        outside = [u for u in range(7) if abs(t - u) > window]
        k2, v2 = k.clone(), v.clone()
        k2[:, outside] += 10 * torch.randn(k2[:, outside].shape, generator=g, dtype=k.dtype)
        v2[:, outside] += 10 * torch.randn(v2[:, outside].shape, generator=g, dtype=v.dtype)
        out2 = temporal_attention(q, k2, v2, causal=causal, window=window)
        assert torch.equal(out2[:, t], out[:, t])


def test_full_attention_on_one_frame_is_spatial_attention():
    q, k, v = tokens(T=1, S=30, D=8)
    torch.testing.assert_close(full_attention(q, k, v), spatial_attention(q, k, v), **TOL)


def test_temporal_attention_is_spatial_attention_on_the_transposed_layout():
    """Swap T and S: the T frames at each position become the 'tokens of a frame'."""
    q, k, v = tokens(T=7, S=13, D=12)
    swapped = spatial_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    torch.testing.assert_close(temporal_attention(q, k, v), swapped.transpose(1, 2), **TOL)


def test_wide_window_is_no_window():
    q, k, v = tokens(T=5, S=13, D=12)
    for causal in (False, True):
        assert torch.equal(temporal_attention(q, k, v, causal, window=4),
                           temporal_attention(q, k, v, causal))


def test_window_zero_returns_v():
    q, k, v = tokens(T=5, S=13, D=12)
    torch.testing.assert_close(temporal_attention(q, k, v, window=0), v, **TOL)


def test_softmax_is_stable_for_huge_scores():
    q, k, v = tokens(T=3, S=5, D=4, dtype=torch.float32)
    for fn in FUNCTIONS.values():
        out = fn(q * 1e4, k * 1e4, v)
        assert torch.isfinite(out).all()


# ---- dtypes --------------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "tol"), [
    (torch.float32, 1e-5), (torch.float16, 2e-2), (torch.bfloat16, 1e-1),
])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_low_precision_dtypes(name, dtype, tol):
    q, k, v = tokens(T=5, S=13, D=12)
    out = FUNCTIONS[name](q.to(dtype), k.to(dtype), v.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), FUNCTIONS[name](q, k, v), rtol=tol, atol=tol)


# ---- errors --------------------------------------------------------------------------------


def test_error_messages():
    q, k, v = tokens(T=3, S=4, D=5)
    with pytest.raises(ValueError, match=r"q must be 5-D \[B, T, S, heads, D\]"):
        spatial_attention(q[0], k, v)
    with pytest.raises(ValueError, match=r"v must be 5-D"):
        temporal_attention(q, k, v[..., None])
    with pytest.raises(ValueError, match=r"k must be a torch.Tensor"):
        full_attention(q, k.numpy(), v)
    with pytest.raises(ValueError, match=r"k must have the shape of q"):
        spatial_attention(q, k[:, :2], v)
    with pytest.raises(ValueError, match=r"v must have the shape of q"):
        temporal_attention(q, k, v[..., :4])
    with pytest.raises(ValueError, match=r"k must have the dtype of q"):
        spatial_attention(q, k.float(), v)
    with pytest.raises(ValueError, match=r"q must be float16, bfloat16, float32 or float64"):
        full_attention(q.long(), k.long(), v.long())
    with pytest.raises(ValueError, match=r"v must be on the device of q"):
        spatial_attention(q, k, v.to("meta"))
    with pytest.raises(ValueError, match=r"head size D >= 1"):
        temporal_attention(q[..., :0], k[..., :0], v[..., :0])
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"window must be None or an int >= 0"):
            temporal_attention(q, k, v, window=bad)
    with pytest.raises(ValueError, match=r"T must be an int >= 0"):
        temporal_mask(-1)


def test_cross_attention_error_messages():
    q, _, _ = tokens(T=3, S=4, D=5)
    k, v = prompt(L=6, D=5)
    with pytest.raises(ValueError, match=r"k must be 4-D \[B, L, heads, D\]"):
        cross_attention(q, k[None], v)
    with pytest.raises(ValueError, match=r"q must be 5-D"):
        cross_attention(q[0], k, v)
    with pytest.raises(ValueError, match=r"v must have the shape of k"):
        cross_attention(q, k, v[:, :5])
    with pytest.raises(ValueError, match=r"k must be \[B, L, heads, D\] = \[2, L, 3, 5\]"):
        cross_attention(q, k[..., :4], v[..., :4])
    with pytest.raises(ValueError, match=r"v must have the dtype of q"):
        cross_attention(q, k.double(), v.float())
    with pytest.raises(ValueError, match=r"L >= 1"):
        cross_attention(q, k[:, :0], v[:, :0])
    with pytest.raises(ValueError, match=r"head size D >= 1"):
        cross_attention(q[..., :0], k[..., :0], v[..., :0])
    with pytest.raises(ValueError, match=r"key_padding_mask must be a bool tensor"):
        cross_attention(q, k, v, key_padding_mask=torch.ones(2, 6))
    with pytest.raises(ValueError, match=r"key_padding_mask must be \[B, L\] = \[2, 6\]"):
        cross_attention(q, k, v, key_padding_mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"at least one real"):
        cross_attention(q, k, v, key_padding_mask=torch.zeros(2, 6, dtype=torch.bool))


# ---- windowed temporal attention: the band only ---------------------------------------------


@pytest.mark.parametrize("T", [1, 5, 13])
@pytest.mark.parametrize("window", [0, 1, 3, 50])
@pytest.mark.parametrize("causal", [False, True])
def test_windowed_equals_masked_temporal_attention(causal, window, T):
    q, k, v = fused_tokens(T=T, S=11, D=12, seed=T)
    assert not any(x.is_contiguous() for x in (q, k, v))
    out = windowed_temporal_attention(q, k, v, window, causal)
    assert out.shape == q.shape and out.dtype == q.dtype
    torch.testing.assert_close(out, temporal_attention(q, k, v, causal, window), **TOL)
    expected = windowed_temporal_attention(q.contiguous(), k.contiguous(), v.contiguous(),
                                           window, causal)
    assert torch.equal(out, expected)


@settings(max_examples=25, deadline=None)
@given(
    B=st.integers(1, 3),
    T=st.integers(1, 9),
    S=st.integers(1, 7),
    D=st.integers(1, 9),
    causal=st.booleans(),
    window=st.integers(0, 10),
    seed=st.integers(0, 2**16),
)
def test_windowed_random_configurations(B, T, S, D, causal, window, seed):
    q, k, v = tokens(B=B, T=T, S=S, heads=2, D=D, seed=seed)
    torch.testing.assert_close(windowed_temporal_attention(q, k, v, window, causal),
                               oracle_temporal(q, k, v, causal, window), **TOL)


@pytest.mark.parametrize(("causal", "window"), [(False, 1), (True, 1), (False, 0)])
def test_gradcheck_windowed(causal, window):
    fn = lambda q, k, v: windowed_temporal_attention(q, k, v, window, causal)  # noqa: E731
    assert torch.autograd.gradcheck(fn, tiny(B=2, T=4))


def test_windowed_edge_cases():
    q, k, v = tokens(T=5, S=13, D=12)
    torch.testing.assert_close(windowed_temporal_attention(q, k, v, 0), v, **TOL)
    empty = [x[:, :0] for x in (q, k, v)]
    assert windowed_temporal_attention(*empty, window=2).shape == (2, 0, 13, 3, 12)
    assert torch.isfinite(windowed_temporal_attention(q * 1e4, k * 1e4, v, 2)).all()


def test_windowed_error_messages():
    q, k, v = tokens(T=3, S=4, D=5)
    for bad in (None, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"window must be an int >= 0"):
            windowed_temporal_attention(q, k, v, bad)
    with pytest.raises(ValueError, match=r"v must have the shape of q"):
        windowed_temporal_attention(q, k, v[..., :4], 1)
    with pytest.raises(ValueError, match=r"k must have the dtype of q"):
        windowed_temporal_attention(q, k.float(), v, 1)
    with pytest.raises(ValueError, match=r"q must be 5-D \[B, T, S, heads, D\]"):
        windowed_temporal_attention(q[0], k, v, 1)


# ---- neighbourhood temporal attention ------------------------------------------------------


def oracle_neighbourhood(q, k, v, hw, radius, causal=False, window=None):
    """Full attention over all T*S tokens with the mask written out element by element:
    (t, s) may see (u, r) if frame u is allowed and r is within `radius` rows and columns."""
    B, T, S, h, D = q.shape
    H, W = hw
    frames = allowed_frames(T, causal, window)
    near = torch.tensor([[abs(s // W - r // W) <= radius and abs(s % W - r % W) <= radius
                          for r in range(S)] for s in range(S)])
    mask = (frames[:, None, :, None] & near[None, :, None, :]).reshape(T * S, T * S)

    def to_sdpa(x):  # [B, T, S, h, D] -> [B, h, T*S, D]
        return x.reshape(B, T * S, h, D).transpose(1, 2)

    out = sdpa(to_sdpa(q), to_sdpa(k), to_sdpa(v), mask)
    return out.transpose(1, 2).reshape(B, T, S, h, D)


@pytest.mark.parametrize("hw,radius", [((3, 5), 1), ((4, 3), 2), ((1, 7), 1), ((5, 5), 6)])
@pytest.mark.parametrize("causal,window", [(False, None), (True, None), (False, 1), (True, 2)])
def test_neighbourhood_matches_sdpa_for_every_mask(hw, radius, causal, window):
    q, k, v = fused_tokens(B=2, T=5, S=hw[0] * hw[1], heads=3, D=6, seed=radius)
    out = neighbourhood_temporal_attention(q, k, v, hw, radius, causal, window)
    torch.testing.assert_close(out, oracle_neighbourhood(q, k, v, hw, radius, causal, window),
                               **TOL)


@pytest.mark.parametrize("causal,window", [(False, None), (True, 1)])
def test_neighbourhood_radius_zero_is_temporal_and_wide_radius_is_full(causal, window):
    q, k, v = tokens(T=4, S=12, D=6)
    out = neighbourhood_temporal_attention(q, k, v, (3, 4), 0, causal, window)
    torch.testing.assert_close(out, temporal_attention(q, k, v, causal, window), **TOL)
    wide = neighbourhood_temporal_attention(q, k, v, (3, 4), 3)
    torch.testing.assert_close(wide, full_attention(q, k, v), **TOL)


def test_neighbourhood_ignores_positions_outside_the_square():
    q, k, v = tokens(B=1, T=3, S=20, D=4)  # grid 4 x 5; token (1, 1) sees rows 0-2, cols 0-2
    out = neighbourhood_temporal_attention(q, k, v, (4, 5), 1)
    far = [s for s in range(20) if s // 5 > 2 or s % 5 > 2]
    k2, v2 = k.clone(), v.clone()
    k2[:, :, far], v2[:, :, far] = 50.0, -50.0
    out2 = neighbourhood_temporal_attention(q, k2, v2, (4, 5), 1)
    assert torch.equal(out2[:, :, 6], out[:, :, 6])  # token (1, 1) = 1*5 + 1
    assert not torch.allclose(out2[:, :, 19], out[:, :, 19])


def test_gradcheck_neighbourhood():
    q, k, v = (x.requires_grad_() for x in tokens(B=1, T=3, S=6, heads=2, D=3))
    assert torch.autograd.gradcheck(
        lambda a, b, c: neighbourhood_temporal_attention(a, b, c, (2, 3), 1, True, 1), (q, k, v))


def test_neighbourhood_error_messages():
    q, k, v = tokens(T=2, S=6, D=4)
    with pytest.raises(ValueError, match="radius must be an int >= 0"):
        neighbourhood_temporal_attention(q, k, v, (2, 3), -1)
    with pytest.raises(ValueError, match=r"H\*W = S = 6"):
        neighbourhood_temporal_attention(q, k, v, (2, 4), 1)
    with pytest.raises(ValueError, match="k must have the shape of q"):
        neighbourhood_temporal_attention(q, k[:, :1], v, (2, 3), 1)

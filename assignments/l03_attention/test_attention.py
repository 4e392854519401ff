"""Tasks 03.1-03.3: spatial, temporal and full attention against PyTorch's SDPA and vdlite.

Oracles: ``torch.nn.functional.scaled_dot_product_attention`` in float64 over all T*S tokens
with an explicit boolean mask (built from ``vdlite.attention.temporal_mask`` and the token
grid), the reference functions of ``vdlite.attention``, and two properties: causality
(changing the future leaves the past unchanged) and locality of a window.
"""

import pytest
import torch
import torch.nn.functional as F

from vdlite import attention as ref

B, T, S, HEADS, D = 2, 5, 7, 3, 6  # odd, non-power-of-two
RTOL, ATOL = 1e-10, 1e-12  # float64, two orders of summation
MASKS = [(False, None), (True, None), (False, 0), (False, 1), (False, 2), (True, 1),
         (True, 2), (False, 9), (True, 9)]  # (causal, window), window 9 > T - 1


def qkv(seed: int, shape: tuple[int, ...] = (B, T, S, HEADS, D)) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3)]


def masked_sdpa(q, k, v, allowed: torch.Tensor) -> torch.Tensor:
    """SDPA over all T*S tokens (token n = t*S + s) with a bool mask ``[T*S, T*S]``."""
    b, t, s, h, d = q.shape

    def flat(x):  # [B, T, S, h, D] -> [B, h, T*S, D]
        return x.permute(0, 3, 1, 2, 4).reshape(b, h, t * s, d)

    out = F.scaled_dot_product_attention(flat(q), flat(k), flat(v), attn_mask=allowed)
    return out.reshape(b, h, t, s, d).permute(0, 2, 3, 1, 4)


def token_grid(t: int, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The frame and the position of each of the T*S tokens, ``[T*S]`` each."""
    return torch.arange(t).repeat_interleave(s), torch.arange(s).repeat(t)


def temporal_oracle_mask(t: int, s: int, causal: bool, window: int | None) -> torch.Tensor:
    """Token n sees token m when they share a position and vdlite's mask allows the frames."""
    frame, pos = token_grid(t, s)
    frames_ok = ref.temporal_mask(t, causal, window)[frame[:, None], frame[None, :]]
    return frames_ok & (pos[:, None] == pos[None, :])


@pytest.mark.points(2)
def test_spatial_attention_matches_sdpa_per_frame(impl):
    q, k, v = qkv(0)

    def frames(x):  # [B, T, S, h, D] -> [B*T, h, S, D]: each frame its own sequence
        return x.transpose(2, 3).reshape(B * T, HEADS, S, D)

    expected = F.scaled_dot_product_attention(frames(q), frames(k), frames(v))
    expected = expected.reshape(B, T, HEADS, S, D).transpose(2, 3)
    out = impl.spatial_attention(q, k, v)
    assert out.shape == (B, T, S, HEADS, D)
    torch.testing.assert_close(out, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.points(1)
def test_spatial_attention_is_full_attention_within_each_frame(impl):
    q, k, v = qkv(1, (1, 3, 11, 1, 5))
    frame, _ = token_grid(3, 11)
    expected = masked_sdpa(q, k, v, frame[:, None] == frame[None, :])
    reference = ref.spatial_attention(q, k, v)
    out = impl.spatial_attention(q, k, v)
    torch.testing.assert_close(out, expected, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(out, reference, rtol=RTOL, atol=ATOL)


@pytest.mark.points(2)
def test_temporal_mask_matches_vdlite(impl):
    for t in (1, 2, 5, 8):
        for causal, window in MASKS:
            expected = ref.temporal_mask(t, causal, window)
            got = impl.temporal_mask(t, causal=causal, window=window)
            assert got.dtype == torch.bool and got.shape == (t, t), (t, causal, window)
            assert torch.equal(got, expected), f"T={t}, causal={causal}, window={window}"


@pytest.mark.points(2)
def test_temporal_attention_matches_masked_sdpa(impl):
    q, k, v = qkv(2)
    for causal, window in MASKS:
        expected = masked_sdpa(q, k, v, temporal_oracle_mask(T, S, causal, window))
        out = impl.temporal_attention(q, k, v, causal=causal, window=window)
        assert out.shape == (B, T, S, HEADS, D)
        torch.testing.assert_close(out, expected, rtol=RTOL, atol=ATOL,
                                   msg=lambda m, c=causal, w=window: f"causal={c}, window={w}: {m}")
        torch.testing.assert_close(out, ref.temporal_attention(q, k, v, causal, window),
                                   rtol=RTOL, atol=ATOL)


@pytest.mark.points(2)
def test_causal_temporal_attention_ignores_the_future(impl):
    """Changing q, k, v at frames > t leaves the outputs of frames <= t unchanged (and those of
    the changed frames do change, so the test changed something)."""
    q, k, v = qkv(3)
    g = torch.Generator().manual_seed(4)
    for window in (None, 1, 3):
        out = impl.temporal_attention(q, k, v, causal=True, window=window)
        for t in range(T - 1):
            q2, k2, v2 = (x.clone() for x in (q, k, v))
            for x in (q2, k2, v2):
                x[:, t + 1:] = torch.randn(x[:, t + 1:].shape, generator=g, dtype=x.dtype)
            out2 = impl.temporal_attention(q2, k2, v2, causal=True, window=window)
            torch.testing.assert_close(out2[:, :t + 1], out[:, :t + 1], rtol=0, atol=1e-14,
                                       msg=lambda m, t=t, w=window: (
                                           f"window={w}: frames <= {t} changed when only "
                                           f"frames > {t} did: {m}"))
            assert not torch.allclose(out2[:, t + 1:], out[:, t + 1:])


@pytest.mark.points(1)
def test_windowed_temporal_attention_ignores_frames_outside_the_window(impl):
    """With window=w, changing frame u changes exactly the frames t with |t - u| <= w."""
    q, k, v = qkv(5)
    g = torch.Generator().manual_seed(6)
    for window in (0, 1, 2):
        out = impl.temporal_attention(q, k, v, window=window)
        for u in range(T):
            k2, v2 = k.clone(), v.clone()
            k2[:, u] = torch.randn(k2[:, u].shape, generator=g, dtype=k.dtype)
            v2[:, u] = torch.randn(v2[:, u].shape, generator=g, dtype=v.dtype)
            out2 = impl.temporal_attention(q, k2, v2, window=window)
            for t in range(T):
                changed = not torch.allclose(out2[:, t], out[:, t], rtol=0, atol=1e-14)
                assert changed == (abs(t - u) <= window), (
                    f"window={window}: changing frame {u} "
                    f"{'changed' if changed else 'left unchanged'} the output of frame {t}")


@pytest.mark.points(2)
def test_full_attention_matches_sdpa(impl):
    q, k, v = qkv(7)
    expected = masked_sdpa(q, k, v, torch.ones(T * S, T * S, dtype=torch.bool))
    reference = ref.full_attention(q, k, v)
    out = impl.full_attention(q, k, v)
    assert out.shape == (B, T, S, HEADS, D)
    torch.testing.assert_close(out, expected, rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(out, reference, rtol=RTOL, atol=ATOL)

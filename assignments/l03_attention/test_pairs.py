"""Task 03.4: the exact count of attention score pairs.

Oracles: the closed forms (T S)^2 and T S (S + T); ``vdlite.cost.attention_pairs``; and the
True entries of the token-level mask built from ``vdlite.attention.temporal_mask``.
"""

import pytest
import torch

from vdlite import attention as ref
from vdlite import cost

SIZES = [(1, 1), (1, 7), (2, 3), (5, 7), (7, 5), (9, 1), (13, 10)]  # (T, S)
WINDOWS = [0, 1, 2, 3, 4, 12]  # 12 > T - 1 for every T here


def _check(got, expected, what: str) -> None:
    assert isinstance(got, int) and not isinstance(got, bool), (
        f"{what}: return a Python int, got {type(got).__name__}")
    assert got == expected, f"{what}: got {got}, expected {expected}"


@pytest.mark.points(1)
def test_full_and_factorised_pairs_closed_forms(impl):
    for T, S in SIZES:
        _check(impl.attention_pairs("full", T, S), (T * S) ** 2, f"full, T={T}, S={S}")
        _check(impl.attention_pairs("spatial", T, S), T * S * S, f"spatial, T={T}, S={S}")
        _check(impl.attention_pairs("temporal", T, S), S * T * T, f"temporal, T={T}, S={S}")
        _check(impl.attention_pairs("factorized", T, S), T * S * (S + T),
               f"factorized, T={T}, S={S}")


@pytest.mark.points(1)
def test_windowed_pairs_match_vdlite_cost(impl):
    for T, S in SIZES:
        for causal in (False, True):
            for window in WINDOWS:
                for kind in ("window", "temporal", "factorized"):
                    expected = cost.attention_pairs(kind, T, S, window, causal)
                    got = impl.attention_pairs(kind, T, S, window=window, causal=causal)
                    _check(got, expected, f"{kind}, T={T}, S={S}, window={window}, "
                                          f"causal={causal}")
            expected = cost.attention_pairs("temporal", T, S, None, causal)
            _check(impl.attention_pairs("temporal", T, S, causal=causal), expected,
                   f"temporal, T={T}, S={S}, causal={causal}")


@pytest.mark.points(1)
def test_windowed_pairs_count_the_allowed_token_pairs(impl):
    """The count is the number of True entries of the [T*S, T*S] mask of windowed temporal
    attention: same position, and frames that temporal_mask allows."""
    for T, S in [(5, 7), (8, 3), (13, 2)]:
        frame = torch.arange(T).repeat_interleave(S)
        pos = torch.arange(S).repeat(T)
        same_pos = pos[:, None] == pos[None, :]
        for causal in (False, True):
            for window in WINDOWS:
                frames_ok = ref.temporal_mask(T, causal, window)[frame[:, None], frame[None, :]]
                expected = int((frames_ok & same_pos).sum())
                got = impl.attention_pairs("window", T, S, window=window, causal=causal)
                _check(got, expected, f"window, T={T}, S={S}, window={window}, causal={causal}")

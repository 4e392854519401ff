"""Task 08.3: the exact count of query-key pairs of sliding-window temporal attention: the
allowed entries of vdlite.attention.temporal_mask(T, window=w) times S, on a sweep of frame
counts, token counts and windows (including 0, T - 1 and wider); and below T·S·(2w + 1)."""

import pytest

from vdlite.attention import temporal_mask


@pytest.mark.points(2)
def test_window_pairs_counts_the_mask(impl):
    for t in (1, 2, 5, 8, 13):
        for s in (1, 3, 7):
            for w in (None, 0, 1, 2, 4, t - 1, t + 3):
                want = int(temporal_mask(t, False, w).sum()) * s
                got = impl.window_pairs(t, s, w)
                assert got == want, f"window_pairs({t}, {s}, {w}) = {got}, the mask has {want}"
                if w is not None:
                    assert got <= t * s * (2 * w + 1)

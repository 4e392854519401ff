"""Task 09.3: the bytes a rank sends in one re-shard, against B·C·e·T_i·(S - S_i) (everything
but the piece it keeps) with the package's shard sizes, and its properties."""

import pytest

from vdlite.parallel import shard_ranges


def sizes(n, world):
    return [b - a for a, b in shard_ranges(n, world)]


@pytest.mark.points(1)
def test_even_split_sends_the_fraction_p_minus_1_over_p_squared(impl):
    """T and S divisible by P: each rank holds 1/P of the clip and sends (P-1)/P of that."""
    for world in (1, 2, 4, 8):
        B, T, S, C, e = 2, 16, 256, 192, 2  # the GPU preset's width in bf16
        got = impl.reshard_bytes(B, T, S, C, world, e)
        assert list(got) == [B * T * S * C * e * (world - 1) // world**2] * world, \
            f"world {world}: got {got}"


@pytest.mark.points(1)
def test_uneven_split(impl):
    for B, T, S, C, world, e in ((1, 7, 15, 3, 2, 4), (2, 9, 10, 5, 4, 2), (1, 5, 7, 1, 3, 8)):
        t, s = sizes(T, world), sizes(S, world)
        want = [B * C * e * t[i] * (S - s[i]) for i in range(world)]
        got = impl.reshard_bytes(B, T, S, C, world, e)
        assert list(got) == want, f"clip {[B, T, S, C]} on {world} ranks, {e} B/element: " \
                                  f"got {got}, expected {want}"

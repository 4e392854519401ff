"""Task 08.1: the chunk schedule covers every frame, the tail too, with consecutive chunks
sharing at least `overlap` frames and the last ending at the last frame; the same starts as
vdlite.long_video.chunk_starts on a sweep of awkward lengths; clear errors."""

import pytest

from vdlite.long_video import chunk_starts as package_chunk_starts

SWEEP = [(n, k, o) for k in (1, 2, 3, 5, 8, 11) for o in range(k) for n in range(k, 4 * k + 4)]


@pytest.mark.points(2)
def test_every_frame_is_covered_and_chunks_overlap_enough(impl):
    for n, k, o in SWEEP:
        starts = impl.chunk_starts(n, k, o)
        where = f"chunk_starts({n}, {k}, {o}) = {starts}"
        assert starts and starts[0] == 0, f"{where}: the first chunk must start at frame 0"
        assert starts[-1] + k == n, f"{where}: the last chunk must end at the last frame {n - 1}"
        covered = {f for s in starts for f in range(s, s + k)}
        assert covered == set(range(n)), f"{where}: frames {sorted(set(range(n)) - covered)} " \
                                         "are never made"
        for a, b in zip(starts, starts[1:], strict=False):
            assert a < b and a + k - b >= o, f"{where}: chunks at {a} and {b} share fewer " \
                                             f"than {o} frames (or do not advance)"


@pytest.mark.points(1)
def test_the_starts_are_the_packages(impl):
    for n, k, o in SWEEP:
        assert impl.chunk_starts(n, k, o) == package_chunk_starts(n, k, o), (n, k, o)


@pytest.mark.points(1)
@pytest.mark.parametrize("args", [(10, 4, 4), (10, 4, 6), (3, 4, 1), (10, 0, 0), (10, 4, -1)],
                         ids=["overlap=chunk", "overlap>chunk", "frames<chunk", "chunk=0",
                              "overlap<0"])
def test_bad_schedules_are_errors(impl, args):
    with pytest.raises(ValueError):
        impl.chunk_starts(*args)

"""Task 09.1: frame shards cover every frame once, in order, balanced, for many (frames, world)
including counts the world size does not divide; fewer frames than ranks is an error."""

import pytest

from vdlite.parallel import frame_shards as package_shards

CASES = [(f, w) for f in (1, 2, 3, 5, 7, 8, 13, 16, 33, 64) for w in (1, 2, 3, 4, 6, 8) if f >= w]


@pytest.mark.points(2)
def test_shards_cover_every_frame_once(impl):
    for frames, world in CASES:
        got = impl.frame_shards(frames, world)
        where = f"frame_shards({frames}, {world}) = {got}"
        assert len(got) == world, f"{where}: expected one range per rank"
        covered = [t for start, stop in got for t in range(start, stop)]
        assert covered == list(range(frames)), f"{where}: must cover 0..{frames - 1} once, in order"
        sizes = [stop - start for start, stop in got]
        assert max(sizes) - min(sizes) <= 1, f"{where}: shard sizes differ by more than one"
        assert [tuple(r) for r in got] == package_shards(frames, world), \
            f"{where}: the first frames % world ranks take the extra frame"


@pytest.mark.points(1)
def test_fewer_frames_than_ranks_is_an_error(impl):
    for frames, world in ((1, 2), (3, 4), (0, 1)):
        with pytest.raises(ValueError):
            impl.frame_shards(frames, world)

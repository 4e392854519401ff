"""Wrong: every rank takes frames // world frames, so the last frames % world are dropped.

The common bug with frame counts the world size does not divide: 7 frames on 2 ranks become
3 + 3, and frame 6 is never denoised."""

from assignments.l09_parallel.solution import *  # noqa: F401,F403


def frame_shards(frames: int, world: int) -> list[tuple[int, int]]:
    if frames < world:
        raise ValueError(f"cannot shard {frames} frames over {world} ranks")
    n = frames // world
    return [(r * n, (r + 1) * n) for r in range(world)]

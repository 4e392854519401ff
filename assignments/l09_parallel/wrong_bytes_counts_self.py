"""Wrong: counts the piece a rank keeps for itself as sent, so every rank "sends" its whole
shard instead of (P-1)/P of it."""

from assignments.l09_parallel.solution import *  # noqa: F401,F403
from assignments.l09_parallel.solution import frame_shards


def reshard_bytes(batch: int, frames: int, tokens: int, channels: int, world: int,
                  element_bytes: int) -> list[int]:
    t = [b - a for a, b in frame_shards(frames, world)]
    return [batch * ti * tokens * channels * element_bytes for ti in t]

"""Reference solution of assignment l09_parallel (see student.py for the tasks)."""

import torch
from torch import Tensor


def frame_shards(frames: int, world: int) -> list[tuple[int, int]]:
    if frames < world:
        raise ValueError(f"cannot shard {frames} frames over {world} ranks")
    base, extra = divmod(frames, world)
    starts = [r * base + min(r, extra) for r in range(world + 1)]
    return list(zip(starts[:-1], starts[1:], strict=True))


def time_to_space(shards: list[Tensor], token_ranges: list[tuple[int, int]]) -> list[Tensor]:
    sent = [[x[:, :, a:b] for a, b in token_ranges] for x in shards]  # sent[i][j]: i -> j
    return [torch.cat([sent[i][j] for i in range(len(shards))], dim=1)
            for j in range(len(token_ranges))]


def space_to_time(shards: list[Tensor], frame_ranges: list[tuple[int, int]]) -> list[Tensor]:
    sent = [[y[:, t0:t1] for t0, t1 in frame_ranges] for y in shards]  # sent[j][i]: j -> i
    return [torch.cat([sent[j][i] for j in range(len(shards))], dim=2)
            for i in range(len(frame_ranges))]


def reshard_bytes(batch: int, frames: int, tokens: int, channels: int, world: int,
                  element_bytes: int) -> list[int]:
    t = [b - a for a, b in frame_shards(frames, world)]
    s = [b - a for a, b in frame_shards(tokens, world)]
    return [sum(batch * t[i] * s[j] * channels * element_bytes
                for j in range(world) if j != i) for i in range(world)]

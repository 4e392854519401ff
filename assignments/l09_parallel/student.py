"""Lesson 09b's exercises: shard ranges, the all-to-all re-shard on simulated ranks, its bytes.

Replace each `raise NotImplementedError(...)` with your code. A clip's tokens are
[B, T, S, C]: T frames of S tokens of width C. P ranks are simulated by lists of P tensors,
entry r being what rank r holds. Check yourself with `python -m assignments.grade l09_parallel`.
"""

import torch  # noqa: F401
from torch import Tensor


def frame_shards(frames: int, world: int) -> list[tuple[int, int]]:
    """Task 09.1: the contiguous (start, stop) frames of each of `world` ranks.

    Rank r gets ``frames // world + (1 if r < frames % world else 0)`` frames, in order, so
    the ranges cover 0..frames exactly once even when world does not divide frames (the first
    ``frames % world`` ranks take one more). frames < world leaves a rank without a frame:
    raise ValueError. Returns a list of `world` pairs.
    """
    raise NotImplementedError("Task 09.1: the base count, the first frames % world ranks one "
                              "more, running starts")


def time_to_space(shards: list[Tensor], token_ranges: list[tuple[int, int]]) -> list[Tensor]:
    """Task 09.2: the all-to-all from time shards to space shards, on simulated ranks.

    shards[i]: rank i's frames, ``[B, T_i, S, C]``; token_ranges[j] = (a_j, b_j): the tokens
    rank j will hold. Rank i sends rank j the piece ``shards[i][:, :, a_j:b_j]``; rank j stacks
    the pieces it receives from ranks 0, 1, ..., P-1 along the frames. Returns the P space
    shards, entry j ``[B, T, b_j - a_j, C]`` with T = sum of the T_i.
    """
    raise NotImplementedError("Task 09.2: cut every time shard by the token ranges, then stack "
                              "what each rank receives")


def space_to_time(shards: list[Tensor], frame_ranges: list[tuple[int, int]]) -> list[Tensor]:
    """Task 09.2: the all-to-all back, from space shards to time shards.

    shards[j]: rank j's tokens of all frames, ``[B, T, S_j, C]`` (the token ranges in rank
    order, together covering all S tokens once); frame_ranges[i] = (t0_i, t1_i): the frames rank
    i will hold. Rank j sends rank i ``shards[j][:, t0_i:t1_i]``; rank i joins what it receives
    from ranks 0..P-1 along the tokens. Returns the P time shards, entry i
    ``[B, t1_i - t0_i, S, C]``.
    """
    raise NotImplementedError("Task 09.2: cut every space shard by the frame ranges, then join "
                              "what each rank receives")


def reshard_bytes(batch: int, frames: int, tokens: int, channels: int, world: int,
                  element_bytes: int) -> list[int]:
    """Task 09.3: the bytes each rank sends to the other ranks in one time -> space re-shard.

    Frames and tokens are split as `frame_shards` splits them (tokens too: the first
    ``tokens % world`` ranks hold one more). Rank i sends rank j != i its T_i frames of rank
    j's S_j tokens, batch * T_i * S_j * channels elements of `element_bytes` bytes each; what
    it keeps (j = i) does not travel. Returns one int per rank.
    """
    raise NotImplementedError("Task 09.3: sum over the other ranks of T_i * S_j * B * C * bytes")

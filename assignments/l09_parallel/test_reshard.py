"""Task 09.2: the re-shard on simulated ranks against slicing the whole clip: time -> space
hands rank j all frames of its tokens, space -> time hands rank i all tokens of its frames,
for uneven frame and token counts, and with overlapping token ranges (halo bands)."""

import pytest
import torch

from vdlite.parallel import frame_shards, shard_ranges, token_shards

# (B, T, S, C, world): odd counts that the world size does not divide
SHAPES = [(2, 7, 15, 3, 2), (1, 5, 11, 4, 3), (3, 9, 6, 2, 4), (1, 4, 4, 5, 1)]


def clip(B, T, S, C, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, S, C, generator=g, dtype=torch.float64)


@pytest.mark.points(2)
def test_time_to_space_hands_each_rank_its_tokens(impl):
    for B, T, S, C, world in SHAPES:
        x = clip(B, T, S, C)
        frames, tokens = frame_shards(T, world), shard_ranges(S, world)
        got = impl.time_to_space([x[:, a:b] for a, b in frames], tokens)
        assert len(got) == world, f"expected {world} space shards, got {len(got)}"
        for j, (a, b) in enumerate(tokens):
            want = x[:, :, a:b]
            assert got[j].shape == want.shape, \
                f"rank {j} of {world}, clip {[B, T, S, C]}: got {list(got[j].shape)}, " \
                f"expected {list(want.shape)}"
            assert torch.equal(got[j], want), f"rank {j} of {world}, clip {[B, T, S, C]}: " \
                                              f"not the tokens {a}..{b - 1} of every frame"


@pytest.mark.points(1)
def test_time_to_space_with_halo_bands(impl):
    """Bands of rows widened by one halo row overlap: rows on a border go to two ranks."""
    B, T, hw, C, world = 1, 5, (5, 3), 2, 2
    x = clip(B, T, hw[0] * hw[1], C, seed=1)
    tokens = token_shards(hw, world, halo=1)
    got = impl.time_to_space([x[:, a:b] for a, b in frame_shards(T, world)], tokens)
    for j, (a, b) in enumerate(tokens):
        assert torch.equal(got[j], x[:, :, a:b]), f"rank {j}: not the tokens {a}..{b - 1}"


@pytest.mark.points(1)
def test_space_to_time_and_round_trip(impl):
    for B, T, S, C, world in SHAPES:
        x = clip(B, T, S, C, seed=2)
        frames, tokens = frame_shards(T, world), shard_ranges(S, world)
        got = impl.space_to_time([x[:, :, a:b] for a, b in tokens], frames)
        assert len(got) == world, f"expected {world} time shards, got {len(got)}"
        for i, (a, b) in enumerate(frames):
            assert got[i].shape == x[:, a:b].shape and torch.equal(got[i], x[:, a:b]), \
                f"rank {i} of {world}, clip {[B, T, S, C]}: not all tokens of frames {a}..{b - 1}"
        back = impl.space_to_time(impl.time_to_space(got, tokens), frames)
        assert all(torch.equal(u, v) for u, v in zip(back, got, strict=True)), \
            "time -> space -> time must give the time shards back"

"""Task 00.4: tokens of a patchified clip, full attention's score entries, their memory.

Oracles: `vdlite.transformer.patchify` run on a meta tensor (shapes only, no memory), whose
output [1, T, S, 3 p^2] counts the tokens; `vdlite.cost.attention_pairs`; and the size in
bytes of the score tensor q @ k^T [heads, N, N] PyTorch builds (again on the meta device).
"""

import pytest
import torch

from vdlite.cost import attention_pairs
from vdlite.transformer import patchify

CLIPS = [(5, 12, 18, 3), (7, 10, 15, 5), (3, 9, 21, 1), (61, 64, 64, 1), (17, 36, 28, 4)]
"""(T, H, W, p); (61, 64, 64, 1) is the lesson's 10 s latent clip."""


def patch_grid(T: int, H: int, W: int, p: int) -> tuple[int, int]:
    """(T, S): frames and tokens per frame of `patchify` on a clip [1, 3, T, H, W]."""
    tokens = patchify(torch.empty(1, 3, T, H, W, device="meta"), p)  # [1, T, S, 3 p^2]
    return tokens.shape[1], tokens.shape[2]


@pytest.mark.points(1)
def test_num_tokens_matches_patchify(impl):
    for T, H, W, p in CLIPS:
        frames, per_frame = patch_grid(T, H, W, p)
        n = impl.num_tokens(T, H, W, p)
        assert isinstance(n, int) and n == frames * per_frame, (T, H, W, p)
    for T, H, W, p in [(5, 10, 12, 3), (5, 9, 10, 3)]:  # p does not divide H, or W
        with pytest.raises(ValueError):
            impl.num_tokens(T, H, W, p)


@pytest.mark.points(1)
def test_full_attention_pairs_matches_cost(impl):
    for T, H, W, p in CLIPS:
        frames, per_frame = patch_grid(T, H, W, p)
        pairs = impl.full_attention_pairs(T, H, W, p)
        assert isinstance(pairs, int), (T, H, W, p)
        assert pairs == attention_pairs("full", frames, per_frame), (T, H, W, p)


@pytest.mark.points(1)
def test_score_bytes_match_the_score_tensor(impl):
    head_counts = [3, 1, 5, 2, 6]
    dtypes = [(torch.float32, 4), (torch.float16, 2), (torch.float64, 8), (torch.bfloat16, 2),
              (torch.float32, 4)]
    for (T, H, W, p), heads, (dtype, size) in zip(CLIPS, head_counts, dtypes, strict=True):
        frames, per_frame = patch_grid(T, H, W, p)
        q = torch.empty(heads, frames * per_frame, 8, device="meta", dtype=dtype)
        scores = q @ q.mT  # [heads, N, N]
        got = impl.attention_score_bytes(T, H, W, p, heads, size)
        assert isinstance(got, int), (T, H, W, p)
        assert got == scores.numel() * scores.element_size(), (T, H, W, p, heads, size)

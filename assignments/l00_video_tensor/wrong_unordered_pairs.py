"""Wrong: counts each pair of distinct tokens once, N (N - 1) / 2, but attention scores every
(query, key) pair in both directions and each token with itself: N^2."""

from assignments.l00_video_tensor.solution import *  # noqa: F401,F403
from assignments.l00_video_tensor.solution import num_tokens


def full_attention_pairs(T: int, H: int, W: int, p: int) -> int:
    n = num_tokens(T, H, W, p)
    return n * (n - 1) // 2

"""Reference solution of lesson 03's assignment: attention across space and time.

Tokens are ``[B, T, S, heads, D]``; every function computes softmax(q k^T / sqrt(D) + M) v
and differs only in which keys a query sees.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def spatial_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Each (frame t, head h) attends over the S tokens of frame t.

    q, k, v: ``[B, T, S, heads, D]`` -> ``[B, T, S, heads, D]``.
    """
    scores = torch.einsum("btshd,btrhd->bthsr", q, k) / math.sqrt(q.shape[-1])  # [B,T,h,S,S]
    weights = scores.softmax(dim=-1)  # over the keys r of the frame
    return torch.einsum("bthsr,btrhd->btshd", weights, v)


def temporal_mask(
    T: int,
    causal: bool = False,
    window: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Bool ``[T, T]``: ``mask[t, t']`` is True when frame t may attend to frame t'.

    causal: t' <= t; window=w: |t - t'| <= w; both: t - w <= t' <= t.
    """
    frames = torch.arange(T, device=device)
    past = frames[:, None] - frames[None, :]  # [T, T]: t - t', > 0 when t' is earlier
    allowed = past >= 0 if causal else torch.ones(T, T, dtype=torch.bool, device=device)
    if window is not None:
        allowed = allowed & (past.abs() <= window)
    return allowed


def temporal_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, window: int | None = None
) -> Tensor:
    """Each (position s, head h) attends over the frames at position s that
    ``temporal_mask(T, causal, window)`` allows.

    q, k, v: ``[B, T, S, heads, D]`` -> ``[B, T, S, heads, D]``.
    """
    allowed = temporal_mask(q.shape[1], causal, window, q.device)  # [T, T]
    scores = torch.einsum("btshd,bushd->bshtu", q, k) / math.sqrt(q.shape[-1])  # [B,S,h,T,T]
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)  # over frames u
    return torch.einsum("bshtu,bushd->btshd", weights, v)


def full_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Every token attends over all T*S tokens of the clip, one softmax over all of them.

    q, k, v: ``[B, T, S, heads, D]`` -> ``[B, T, S, heads, D]``.
    """
    B, T, S, heads, D = q.shape

    def tokens(x: Tensor) -> Tensor:  # [B, T, S, h, D] -> [B, T*S, h, D]
        return x.reshape(B, T * S, heads, D)

    scores = torch.einsum("bnhd,bmhd->bhnm", tokens(q), tokens(k)) / math.sqrt(D)
    out = torch.einsum("bhnm,bmhd->bnhd", scores.softmax(dim=-1), tokens(v))
    return out.reshape(B, T, S, heads, D)


def _frame_pairs(T: int, window: int | None = None, causal: bool = False) -> int:
    """The number of True entries of ``temporal_mask(T, causal, window)``.

    With w = min(window, T - 1) (no window: T - 1), the pairs 0 <= t - t' <= w number
    T (w + 1) - w (w + 1) / 2 (the first w frames lack some past); the two-sided band is that
    twice, less the diagonal counted twice.
    """
    w = T - 1 if window is None else min(window, T - 1)
    one_sided = T * (w + 1) - w * (w + 1) // 2
    return one_sided if causal else 2 * one_sided - T


def attention_pairs(
    kind: str, T: int, S: int, window: int | None = None, causal: bool = False
) -> int:
    """Exact (query, key) score entries per batch element and head.

    full: (T S)^2; spatial: T S^2; temporal: S * (allowed frame pairs);
    factorized: spatial + temporal; window: temporal with a window (required).
    """
    if kind == "window" and window is None:
        raise ValueError("kind='window' needs window=w")
    spatial = T * S * S
    temporal = S * _frame_pairs(T, window, causal)
    counts = {"full": (T * S) ** 2, "spatial": spatial, "temporal": temporal,
              "factorized": spatial + temporal, "window": temporal}
    if kind not in counts:
        raise ValueError(f"kind must be one of {tuple(counts)}, got {kind!r}")
    return counts[kind]

"""Lesson 03: attention across space and time. Fill in every function (see README.md).

Inside attention a clip is a grid of tokens ``[B, T, S, heads, D]``: T frames, S = H*W tokens
per frame, ``heads`` vectors of size D per token. Every function below computes scaled
dot-product attention,

    attn(q, k, v) = softmax(q k^T / sqrt(D) + M) v,

and they differ only in which keys a query sees (M = 0 where allowed, -inf elsewhere).
q, k and v may be strided views (``qkv.unbind(3)`` of a ``[B, T, S, 3, heads, D]`` tensor):
read them as they are, e.g. with ``torch.einsum``, and never write into them.
"""

from __future__ import annotations

import math  # noqa: F401

import torch
from torch import Tensor


def spatial_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Task 03.1: each (frame t, head h) attends over the S tokens of frame t.

    ``out[b, t, s, h] = sum_r softmax_r(q[b, t, s, h] . k[b, t, r, h] / sqrt(D)) v[b, t, r, h]``,
    the softmax taken over the S keys r of the query's own frame.

    q, k, v: ``[B, T, S, heads, D]`` -> ``[B, T, S, heads, D]``. Scores ``[B, T, heads, S, S]``.
    """
    raise NotImplementedError("Task 03.1: spatial attention: scores by einsum, softmax over "
                              "the keys of the frame, weighted sum of v")


def temporal_mask(
    T: int,
    causal: bool = False,
    window: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Task 03.2: which frames each frame may attend to.

    Returns bool ``[T, T]`` with ``mask[t, t'] = True`` where frame t may see frame t':

    - no argument: every pair;
    - ``causal=True``: t' <= t (no frame sees the future);
    - ``window=w``: |t - t'| <= w (``window=0``: each frame only itself);
    - both: t - w <= t' <= t.

    The diagonal is always True. ``device``: where to make the mask.
    """
    raise NotImplementedError("Task 03.2: the [T, T] bool mask from causal and window")


def temporal_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, window: int | None = None
) -> Tensor:
    """Task 03.2: each (position s, head h) attends over the T frames at position s.

    ``out[b, t, s, h] = sum_u softmax_u(q[b, t, s, h] . k[b, u, s, h] / sqrt(D) + M[t, u])
    v[b, u, s, h]``, with ``M[t, u] = 0`` where ``temporal_mask(T, causal, window)`` allows
    frame u and ``-inf`` where it does not; the softmax runs over the key frames u.

    q, k, v: ``[B, T, S, heads, D]`` -> ``[B, T, S, heads, D]``. Scores ``[B, S, heads, T, T]``.
    """
    raise NotImplementedError("Task 03.2: temporal attention: scores over frames, mask with "
                              "-inf where temporal_mask forbids, softmax over key frames")


def full_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Task 03.3: every token attends over all T*S tokens of the clip.

    ``out[b, t, s, h] = sum_{u, r} softmax_{u, r}(q[b, t, s, h] . k[b, u, r, h] / sqrt(D))
    v[b, u, r, h]``, ONE softmax over all (frame u, position r) pairs together.

    q, k, v: ``[B, T, S, heads, D]`` -> ``[B, T, S, heads, D]``.
    Scores ``[B, heads, T*S, T*S]``.
    """
    raise NotImplementedError("Task 03.3: full 3D attention: one softmax over all T*S keys")


def attention_pairs(
    kind: str, T: int, S: int, window: int | None = None, causal: bool = False
) -> int:
    """Task 03.4: the exact number of (query, key) score entries per batch element and head.

    - ``"full"``: (T S)^2, every token with every token;
    - ``"spatial"``: T S^2, each token with the S tokens of its frame;
    - ``"temporal"``: S times the number of True entries of ``temporal_mask(T, causal,
      window)`` (S T^2 without a mask);
    - ``"factorized"``: spatial + temporal (T S (S + T) without a mask);
    - ``"window"``: temporal, ``window`` required: about T S (2w + 1), but counting only
      frames inside the clip, so the first and last frames see fewer.

    ``causal`` and ``window`` are ``temporal_mask``'s and apply to the temporal kinds only.
    Returns a Python int. T, S >= 1; window >= 0 may exceed T - 1.
    """
    raise NotImplementedError("Task 03.4: count the score entries exactly, edges included")

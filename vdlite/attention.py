"""Reference attention on the video token layout: spatial, temporal, full and cross (lesson 03).

Inside attention a video is a grid of tokens ``[B, T, S, heads, D]``: T frames, S = H*W
tokens per frame, each token split into ``heads`` vectors of size D. One layout serves both
axes, so the fused projection ``[B, T, S, 3, heads, D]`` unbinds into q, k, v *views*
(``qkv.unbind(3)``) with no copy, and every function here accepts such strided views.

All four functions compute the same thing, scaled dot-product attention,

    attn(q, k, v) = softmax(q k^T / sqrt(D) + mask) v,

and differ only in *which* tokens a query sees:

- ``spatial_attention``: the S tokens of its own frame (cost T * S^2 per head);
- ``temporal_attention``: the T tokens at its own position s, one per frame (cost S * T^2),
  optionally limited by ``temporal_mask`` (causal and/or a sliding window);
- ``full_attention``: all T*S tokens of the clip (cost (T*S)^2);
- ``cross_attention``: the L tokens of a text prompt ``[B, L, heads, D]``.

``windowed_temporal_attention`` is ``temporal_attention`` with a window that computes only
the band of 2w + 1 frames (cost T * S * (2w + 1)) instead of masking a T x T score matrix.
``neighbourhood_temporal_attention`` widens temporal attention in space instead: a query sees
the (2r + 1) x (2r + 1) positions around its own in every frame, so it can follow something
that moves (cost S * T^2 * (2r + 1)^2).

These are the ground truth the Triton kernels in ``kernels/`` are tested against: short,
in the input dtype, with the softmax made stable by subtracting each row's max
(``torch.softmax`` does this).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "check_qkv",
    "cross_attention",
    "full_attention",
    "neighbourhood_temporal_attention",
    "spatial_attention",
    "temporal_attention",
    "temporal_mask",
    "windowed_temporal_attention",
]

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
TOKENS = "[B, T, S, heads, D]"
PROMPT = "[B, L, heads, D]"


def _check_tensor(name: str, x: object, rank: int, layout: str) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor {layout}, got {type(x).__name__}")
    if x.dim() != rank:
        raise ValueError(f"{name} must be {rank}-D {layout}, got shape {tuple(x.shape)}")
    if x.dtype not in DTYPES:
        raise ValueError(
            f"{name} must be float16, bfloat16, float32 or float64, got dtype {x.dtype}"
        )


def _check_same(named: dict[str, Tensor]) -> None:
    """q, k, v (and any mask) must share one dtype and one device."""
    (first, x), *rest = named.items()
    for name, y in rest:
        if y.dtype != x.dtype:
            raise ValueError(f"{name} must have the dtype of {first} ({x.dtype}), got {y.dtype}")
        if y.device != x.device:
            raise ValueError(
                f"{name} must be on the device of {first} ({x.device}), got {y.device}"
            )


def check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    """Three ``[B, T, S, heads, D]`` tensors of one shape, dtype and device, with D >= 1."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        _check_tensor(name, x, 5, TOKENS)
    for name, x in (("k", k), ("v", v)):
        if x.shape != q.shape:
            raise ValueError(
                f"{name} must have the shape of q {tuple(q.shape)} {TOKENS}, "
                f"got {tuple(x.shape)}"
            )
    _check_same({"q": q, "k": k, "v": v})
    if q.shape[-1] == 0:
        raise ValueError(f"q, k, v need head size D >= 1, got shape {tuple(q.shape)} {TOKENS}")


def temporal_mask(
    T: int,
    causal: bool = False,
    window: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Which frames each frame may attend to: bool ``[T, T]``, ``mask[t, t'] = True`` if allowed.

    - ``causal=True``: t' <= t (no frame sees the future);
    - ``window=w``: |t - t'| <= w (w = 0 is each frame alone);
    - both: t - w <= t' <= t.

    The diagonal is always True, so every row has at least one frame to attend to.
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 0:
        raise ValueError(f"T must be an int >= 0, got T={T!r}")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                               or window < 0):
        raise ValueError(f"window must be None or an int >= 0, got window={window!r}")
    t = torch.arange(T, device=device)
    offset = t[:, None] - t[None, :]  # [T, T]: t - t', > 0 when t' is in the past
    allowed = torch.ones(T, T, dtype=torch.bool, device=device)
    if causal:
        allowed &= offset >= 0
    if window is not None:
        allowed &= offset.abs() <= window
    return allowed


def spatial_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Each (frame t, head h) attends over the S tokens of frame t.

    ``out[b, t, s, h] = sum_r softmax_r(q[b, t, s, h] . k[b, t, r, h] / sqrt(D)) v[b, t, r, h]``

    q, k, v: ``[B, T, S, heads, D]`` (strided views are fine) -> ``[B, T, S, heads, D]``.
    """
    check_qkv(q, k, v)
    scores = torch.einsum("btshd,btrhd->bthsr", q, k) / math.sqrt(q.shape[-1])  # [B,T,h,S,S]
    weights = torch.softmax(scores, dim=-1)  # rows sum to 1 over the S keys r
    return torch.einsum("bthsr,btrhd->btshd", weights, v)  # [B, T, S, heads, D]


def temporal_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, window: int | None = None
) -> Tensor:
    """Each (position s, head h) attends over the T frames at position s.

    ``out[b, t, s, h] = sum_u softmax_u(q[b, t, s, h] . k[b, u, s, h] / sqrt(D) + M[t, u])
    v[b, u, s, h]`` with ``M[t, u] = 0`` where ``temporal_mask(T, causal, window)`` allows
    frame u and ``-inf`` where it does not.

    q, k, v: ``[B, T, S, heads, D]`` (strided views are fine) -> ``[B, T, S, heads, D]``.
    """
    check_qkv(q, k, v)
    allowed = temporal_mask(q.shape[1], causal, window, q.device)  # [T, T]
    scores = torch.einsum("btshd,bushd->bshtu", q, k) / math.sqrt(q.shape[-1])  # [B,S,h,T,T]
    scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # rows sum to 1 over the allowed frames u
    return torch.einsum("bshtu,bushd->btshd", weights, v)  # [B, T, S, heads, D]


def full_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Every token attends over all T*S tokens of the clip (no factorisation).

    ``out[b, t, s, h] = sum_{u, r} softmax_{u, r}(q[b, t, s, h] . k[b, u, r, h] / sqrt(D))
    v[b, u, r, h]``, the softmax taken jointly over all (frame u, position r) pairs.

    q, k, v: ``[B, T, S, heads, D]`` (strided views are fine) -> ``[B, T, S, heads, D]``.
    """
    check_qkv(q, k, v)
    B, T, S, heads, D = q.shape
    scores = torch.einsum("btshd,burhd->bhtsur", q, k) / math.sqrt(D)  # [B, h, T, S, T, S]
    weights = torch.softmax(scores.reshape(B, heads, T, S, T * S), dim=-1)
    weights = weights.reshape(B, heads, T, S, T, S)  # rows sum to 1 over all (u, r)
    return torch.einsum("bhtsur,burhd->btshd", weights, v)  # [B, T, S, heads, D]


def cross_attention(
    q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None = None
) -> Tensor:
    """Every video token attends over the L tokens of a prompt.

    ``out[b, t, s, h] = sum_l softmax_l(q[b, t, s, h] . k[b, l, h] / sqrt(D) + M[b, l])
    v[b, l, h]`` with ``M[b, l] = 0`` where ``key_padding_mask[b, l]`` is True (a real token)
    and ``-inf`` where it is False (padding). No mask means every token is real.

    q: ``[B, T, S, heads, D]``; k, v: ``[B, L, heads, D]``; key_padding_mask: bool ``[B, L]``
    -> ``[B, T, S, heads, D]``.
    """
    _check_tensor("q", q, 5, TOKENS)
    _check_tensor("k", k, 4, PROMPT)
    _check_tensor("v", v, 4, PROMPT)
    B, _, _, heads, D = q.shape
    if v.shape != k.shape:
        raise ValueError(
            f"v must have the shape of k {tuple(k.shape)} {PROMPT}, got {tuple(v.shape)}"
        )
    if (k.shape[0], k.shape[2], k.shape[3]) != (B, heads, D):
        raise ValueError(
            f"k must be [B, L, heads, D] = [{B}, L, {heads}, {D}] to match q "
            f"{tuple(q.shape)} {TOKENS}, got {tuple(k.shape)}"
        )
    _check_same({"q": q, "k": k, "v": v})
    if D == 0:
        raise ValueError(f"q, k, v need head size D >= 1, got shape {tuple(q.shape)} {TOKENS}")
    L = k.shape[1]
    if L == 0:
        raise ValueError(f"k, v need a prompt of L >= 1 tokens, got shape {tuple(k.shape)}")
    scores = torch.einsum("btshd,blhd->bthsl", q, k) / math.sqrt(D)  # [B, T, h, S, L]
    if key_padding_mask is not None:
        if not isinstance(key_padding_mask, Tensor) or key_padding_mask.dtype != torch.bool:
            raise ValueError("key_padding_mask must be a bool tensor [B, L] (True = real token)")
        if key_padding_mask.shape != (B, L):
            raise ValueError(
                f"key_padding_mask must be [B, L] = [{B}, {L}], got {tuple(key_padding_mask.shape)}"
            )
        if key_padding_mask.device != q.device:
            raise ValueError(
                f"key_padding_mask must be on the device of q ({q.device}), "
                f"got {key_padding_mask.device}"
            )
        if not key_padding_mask.any(dim=1).all():
            raise ValueError("key_padding_mask needs at least one real (True) token per prompt")
        scores = scores.masked_fill(~key_padding_mask[:, None, None, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # rows sum to 1 over the real prompt tokens l
    return torch.einsum("bthsl,blhd->btshd", weights, v)  # [B, T, S, heads, D]


def windowed_temporal_attention(
    q: Tensor, k: Tensor, v: Tensor, window: int, causal: bool = False
) -> Tensor:
    """Temporal attention that computes only the band of frames each query may see.

    The maths of ``temporal_attention(q, k, v, causal, window)``,

    ``out[b, t, s, h] = sum_u softmax_u(q[b, t, s, h] . k[b, u, s, h] / sqrt(D)) v[b, u, s, h]``
    over the frames ``u`` with ``t - w <= u <= t + w`` (``u <= t`` when causal) and
    ``0 <= u < T``; but instead of a ``[T, T]`` score matrix per position, mostly masked, it
    gathers for every frame t the band of ``P + 1 + F`` frames ``u = t - P .. t + F``: ``P = w``
    frames of past and ``F = w`` of future (``F = 0`` when causal), with w first clipped to
    T - 1 since a wider window sees nothing more. Band slots that fall off the clip's ends hold
    zero padding, masked with ``-inf``. Score entries per head: ``T * S * (2w + 1)``
    (``T * S * (w + 1)`` causal) instead of ``T^2 * S``.

    The band is a view (``unfold``) of the padded keys in time-major order ``[T, B, S, heads]``,
    where those four merge into one batch dimension, so ``bmm`` reads it without a copy.

    q, k, v: ``[B, T, S, heads, D]`` (strided views are fine); window: int >= 0
    -> ``[B, T, S, heads, D]`` (a transposed view of a time-major result).
    """
    check_qkv(q, k, v)
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be an int >= 0, got window={window!r}")
    T, D = q.shape[1], q.shape[-1]
    if T == 0:  # an empty clip has no band to gather
        return torch.zeros_like(q)
    past = min(window, T - 1)
    future = 0 if causal else past
    band = past + 1 + future

    def neighbours(x: Tensor) -> Tensor:  # [B, T, S, h, D] -> [T, B, S, h, D, band], a view
        pad = (0, 0) * 4 + (past, future)  # nothing on D, h, S, B; P frames before, F after
        padded = torch.nn.functional.pad(x.transpose(0, 1), pad)  # [T + P + F, B, S, h, D]
        return padded.unfold(0, band, 1)  # [t, ..., j] is frame t - P + j (zeros off the clip)

    u = torch.arange(T, device=q.device)[:, None] - past + torch.arange(band, device=q.device)
    inside = (u >= 0) & (u < T)  # [T, band]: False where the band runs off the clip
    scores = torch.einsum("btshd,tbshdj->tbshj", q, neighbours(k)) / math.sqrt(D)
    scores = scores.masked_fill(~inside[:, None, None, None, :], float("-inf"))  # [T,B,S,h,band]
    weights = torch.softmax(scores, dim=-1)  # rows sum to 1 over the frames inside the clip
    out = torch.einsum("tbshj,tbshdj->tbshd", weights, neighbours(v))  # [T, B, S, heads, D]
    return out.transpose(0, 1)  # [B, T, S, heads, D]


def neighbourhood_mask(hw: tuple[int, int], radius: int, device: torch.device | str | None = None
                       ) -> Tensor:
    """Which positions are near which in an H x W grid: bool ``[S, S]``, S = H*W, True where
    token r lies in the (2*radius + 1)^2 square around token s (|dh| <= radius, |dw| <= radius)."""
    H, W = hw
    s = torch.arange(H * W, device=device)
    rows, cols = s // W, s % W
    near_rows = (rows[:, None] - rows[None, :]).abs() <= radius
    return near_rows & ((cols[:, None] - cols[None, :]).abs() <= radius)


def neighbourhood_temporal_attention(
    q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int], radius: int = 1,
    causal: bool = False, window: int | None = None,
) -> Tensor:
    """Temporal attention that looks around: each query sees the nearby positions of every frame.

    Per-position temporal attention (``temporal_attention``) compares a token only with the
    same pixel position in the other frames; a sprite that moves has left that position, so
    the attention mixes frames where it is present with frames where it is not. Here token
    (t, s) attends jointly over the frames u its temporal mask allows and, in each, the
    ``N = (2r + 1)^2`` positions r with |row(r) - row(s)| <= radius and |col(r) - col(s)| <= radius:

    ``out[b, t, s, h] = sum_{u, r} softmax_{u, r}(q[b, t, s, h] . k[b, u, r, h] / sqrt(D)
    + M[t, u] + N[s, r]) v[b, u, r, h]``, with ``M`` from ``temporal_mask`` and ``N`` from
    ``neighbourhood_mask`` (0 where allowed, -inf elsewhere). radius = 0 is
    ``temporal_attention``; radius >= max(H, W) - 1 is full attention under the temporal mask.
    Cost: T * S * T * N score entries per head, against T * S * T per-position.

    The neighbours are gathered with ``unfold`` from keys zero-padded by ``radius`` on both
    sides of H and W; slots that fall off the grid are masked.

    q, k, v: ``[B, T, S, heads, D]`` (strided views are fine), hw: ``(H, W)`` with H*W = S,
    radius: int >= 0 -> ``[B, T, S, heads, D]``.
    """
    check_qkv(q, k, v)
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"radius must be an int >= 0, got radius={radius!r}")
    B, T, S, heads, D = q.shape
    H, W = hw
    if H * W != S:
        raise ValueError(f"hw = (H, W) = {tuple(hw)} must have H*W = S = {S} for q {TOKENS}")
    n = 2 * radius + 1

    def neighbours(x: Tensor) -> Tensor:  # [B, T, S, h, D] -> [B, T, S, h, D, N]
        grid = x.reshape(B, T, H, W, heads, D)
        pad = (0, 0, 0, 0, radius, radius, radius, radius)  # nothing on D, h; r on W and H
        padded = torch.nn.functional.pad(grid, pad)  # [B, T, H + 2r, W + 2r, h, D]
        near = padded.unfold(2, n, 1).unfold(3, n, 1)  # [B, T, H, W, h, D, n, n]
        return near.reshape(B, T, S, heads, D, n * n)  # slot j = (dh, dw) = divmod(j, n) - r

    inside = torch.nn.functional.pad(torch.ones(H, W, device=q.device), (radius,) * 4)
    inside = inside.unfold(0, n, 1).unfold(1, n, 1).reshape(S, n * n) > 0  # [S, N]
    allowed = temporal_mask(T, causal, window, q.device)  # [T, T]
    keep = allowed[None, :, :, None] & inside[:, None, None, :]  # [S, T, U, N]
    scores = torch.einsum("btshd,bushdj->bshtuj", q, neighbours(k)) / math.sqrt(D)
    scores = scores.masked_fill(~keep[:, None], float("-inf"))  # [B, S, h, T, U, N]
    weights = torch.softmax(scores.reshape(B, S, heads, T, -1), dim=-1).reshape(scores.shape)
    return torch.einsum("bshtuj,bushdj->btshd", weights, neighbours(v))  # [B, T, S, heads, D]

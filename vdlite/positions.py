"""Where a token is, for attention: rotary embeddings (1D and 3D) and a relative temporal bias.

Attention by itself is blind to order: permute the keys and the scores permute with them.
Two ways to tell a query where its keys are, both *relative* (they see only offsets):

- **RoPE** (Su et al. 2021, RoFormer). Rotate each consecutive pair ``(x[2i], x[2i+1])`` of
  q and k by the angle ``m * theta_i`` (m the position, ``theta_i = base^(-2i/dim)``). Seen
  as a complex number ``z_i = x[2i] + j x[2i+1]``, rotation is ``z_i -> z_i e^{j m theta_i}``,
  so a dot product of rotated vectors is

      <R_m q, R_n k> = Re sum_i q_i conj(k_i) e^{j (m - n) theta_i},

  a function of the offset m - n alone. ``rope_3d`` splits the head dim D into three parts
  and rotates them by a token's frame t, row h and column w (as CogVideoX does).
- **Relative bias** (VDM, Ho et al. 2022, in its temporal attention): add a learned
  ``bias[head, t' - t]`` to the temporal scores before the softmax.

Tokens are ``[B, T, S, heads, D]`` with S = H*W, row-major: s = h*W + w.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "RelativeTemporalBias",
    "default_split",
    "relative_temporal_buckets",
    "rope_3d",
    "rope_frequencies",
    "rotate",
]


def rope_frequencies(
    dim: int,
    base: float = 10000.0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """Angle per unit position of each pair: ``theta_i = base^(-2i/dim)``, i < dim/2 -> ``[dim/2]``.

    theta_0 = 1 (the fastest pair turns one radian per position); later pairs turn ever slower.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0 or dim % 2:
        raise ValueError(f"dim must be an even int >= 0, got dim={dim!r}")
    i = torch.arange(dim // 2, dtype=torch.float64, device=device)
    return (base ** (-2 * i / dim)).to(dtype)  # [dim/2]


def rotate(x: Tensor, positions: Tensor | float, base: float = 10000.0) -> Tensor:
    """1D RoPE: rotate pair ``(x[2i], x[2i+1])`` of each vector by ``position * theta_i``.

    ``out[2i]   = x[2i] cos(a_i) - x[2i+1] sin(a_i)``
    ``out[2i+1] = x[2i] sin(a_i) + x[2i+1] cos(a_i)``,  ``a_i = position * theta_i``.

    x: ``[..., dim]`` with dim even; positions: a number or a tensor broadcastable to
    ``x.shape[:-1]`` (one position per vector) -> ``[..., dim]``, same dtype as x.
    Angles are computed in float64 and cast to x's dtype.
    """
    dim = x.shape[-1]
    if dim % 2:
        raise ValueError(f"rotate needs an even last dim, got shape {tuple(x.shape)}")
    theta = rope_frequencies(dim, base, device=x.device)  # [dim/2]
    positions = torch.as_tensor(positions, dtype=torch.float64, device=x.device)
    angles = positions[..., None] * theta  # [..., dim/2]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    pairs = x.reshape(*x.shape[:-1], dim // 2, 2)  # [..., dim/2, 2]
    x0, x1 = pairs[..., 0], pairs[..., 1]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)  # [..., dim/2, 2]
    return out.flatten(-2)  # [..., dim]


def default_split(D: int) -> tuple[int, int, int]:
    """CogVideoX's split of the head dim: t gets about D/4, h and w about 3D/8 each.

    Rounding: h and w each get 3D/8 rounded *down* to an even number, ``dh = dw = 2*floor(3D/16)``,
    and t takes the rest, ``dt = D - 2*dh`` (even, and >= D/4). D = 64 -> (16, 24, 24),
    D = 128 -> (32, 48, 48). Needs D even and >= 6 so that every part is at least one pair.
    """
    if isinstance(D, bool) or not isinstance(D, int) or D < 6 or D % 2:
        raise ValueError(f"head dim D must be an even int >= 6 to split over t, h, w, got D={D!r}")
    dh = 2 * (3 * D // 16)
    return D - 2 * dh, dh, dh


def rope_3d(
    x: Tensor,
    grid: tuple[int, int, int],
    split: tuple[int, int, int] | None = None,
    base: float = 10000.0,
    offset: tuple[float, float, float] = (0, 0, 0),
) -> Tensor:
    """3D RoPE: rotate the three parts of the head dim by a token's frame, row and column.

    ``D = dt + dh + dw``; token (t, s) with ``h, w = divmod(s, W)`` becomes

        ``cat(rotate(x[:dt], t + ot), rotate(x[dt:dt+dh], h + oh), rotate(x[dt+dh:], w + ow))``,

    so a q.k score depends only on (t - t', h - h', w - w'); ``offset = (ot, oh, ow)`` shifts
    every position and leaves all scores unchanged. Each part has its own frequencies
    ``theta_i = base^(-2i/part)``.

    x: ``[B, T, S, heads, D]`` (strided views are fine), grid: ``(T, H, W)`` with H*W = S,
    split: ``(dt, dh, dw)`` of even ints >= 0 summing to D, default ``default_split(D)``
    -> ``[B, T, S, heads, D]``.
    """
    if not isinstance(x, Tensor) or x.dim() != 5:
        raise ValueError(f"x must be a 5-D tensor [B, T, S, heads, D], got {_shape(x)}")
    if len(grid) != 3:
        raise ValueError(f"grid must be (T, H, W), got {grid!r}")
    T, H, W = grid
    if x.shape[1] != T or x.shape[2] != H * W:
        raise ValueError(
            f"grid (T, H, W) = {tuple(grid)} needs x of shape [B, {T}, {H * W}, heads, D], "
            f"got {tuple(x.shape)}"
        )
    D = x.shape[-1]
    if split is None:
        split = default_split(D)
    if (len(split) != 3 or sum(split) != D
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 or d % 2
                   for d in split)):
        raise ValueError(f"split must be three even ints >= 0 summing to D={D}, got {split!r}")
    ot, oh, ow = offset
    s = torch.arange(H * W, device=x.device)
    t_pos = (torch.arange(T, device=x.device) + ot)[:, None, None]  # [T, 1, 1]
    h_pos = (s // W + oh)[:, None]  # [S, 1]: broadcasts over heads
    w_pos = (s % W + ow)[:, None]  # [S, 1]
    xt, xh, xw = x.split(list(split), dim=-1)  # [B, T, S, heads, dt | dh | dw]
    return torch.cat(
        (rotate(xt, t_pos, base), rotate(xh, h_pos, base), rotate(xw, w_pos, base)), dim=-1
    )  # [B, T, S, heads, D]


def _shape(x: object) -> str:
    return f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__


def relative_temporal_buckets(
    T: int,
    max_distance: int,
    num_buckets: int | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Which learned bucket each pair of frames reads: long ``[T, T]``, indexed [t, t'].

    ``num_buckets=None``: one bucket per clipped offset, ``bucket = clip(t' - t, -M, M) + M``
    with M = max_distance (2M + 1 buckets).

    ``num_buckets=n`` (T5-style, as lucidrains/video-diffusion-pytorch does): half the buckets
    for t' < t, half for t' > t; within a half, small offsets get one bucket each and the rest
    share log-spaced buckets up to M, beyond which all offsets share the last bucket.
    """
    t = torch.arange(T, device=device)
    offset = t[None, :] - t[:, None]  # [T, T]: t' - t
    if num_buckets is None:
        return offset.clamp(-max_distance, max_distance) + max_distance
    half = num_buckets // 2
    exact = half // 2  # |offset| < exact: one bucket each
    n = offset.abs().clamp(max=max_distance)
    far = n.clamp(min=1).double()
    logb = exact + (far / exact).log() / math.log(max_distance / exact) * (half - exact)
    logb = logb.long().clamp(max=half - 1)
    return torch.where(n < exact, n, logb) + half * (offset > 0)


class RelativeTemporalBias(nn.Module):
    """Learned additive bias for temporal attention scores: ``bias[head, t, t'] = b[head, t' - t]``.

    VDM (Ho et al. 2022) adds such a relative position bias in its temporal attention, so the
    model knows frame order without absolute positions and generalises to other clip lengths.
    Offsets are clipped at +-max_distance (one learned value per head per clipped offset), or
    grouped into ``num_buckets`` log-spaced buckets (see ``relative_temporal_buckets``).
    Zero-initialised: at the start it adds nothing.

    ``forward(T) -> [heads, T, T]``, added to scores ``[..., heads, T, T]`` before the softmax.
    """

    def __init__(self, heads: int, max_distance: int = 32, num_buckets: int | None = None):
        super().__init__()
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads!r}")
        if max_distance < 1:
            raise ValueError(f"max_distance must be >= 1, got {max_distance!r}")
        if num_buckets is not None and (num_buckets < 8 or 2 * max_distance < num_buckets):
            raise ValueError(
                f"num_buckets must be None or in [8, 2*max_distance], got {num_buckets!r}"
            )
        self.max_distance = max_distance
        self.num_buckets = num_buckets
        n = 2 * max_distance + 1 if num_buckets is None else num_buckets
        self.bias = nn.Parameter(torch.zeros(heads, n))  # [heads, buckets]

    def forward(self, T: int) -> Tensor:
        buckets = relative_temporal_buckets(T, self.max_distance, self.num_buckets,
                                         self.bias.device)  # [T, T]
        return self.bias[:, buckets]  # [heads, T, T]

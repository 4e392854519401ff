"""Task 00.2: bouncing positions p(n) = fold(p0 + v n) onto [lo, hi].

Oracle: the ground-truth positions of `vdlite.data.MovingSprites` (which simulates the motion
in float64 and stores it in float32, hence atol 1e-4 px), and the reflection properties that
define the triangle wave.
"""

import pytest
import torch

from vdlite.data import MovingSprites


def motion(item: dict, stride: int) -> tuple[torch.Tensor, ...]:
    """A clip's start p0 [N, 2], native velocity v [N, 2] and centre range lo, hi [N]."""
    radius = item["sizes"].double() / 2
    size = item["video"].shape[-1]
    p0 = item["positions"][0].double()  # inside [lo, hi], so fold(p0) = p0
    v = item["velocities"][0].double() / stride  # per output frame -> per native frame
    return p0, v, radius - 0.5, size - 0.5 - radius


@pytest.mark.points(1)
def test_fold_is_a_reflection(impl):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(7, 9, generator=g, dtype=torch.float64) * 120 - 60
    lo = torch.rand(7, 9, generator=g, dtype=torch.float64) * 5 - 3
    hi = lo + 1 + 5 * torch.rand(7, 9, generator=g, dtype=torch.float64)
    y = impl.fold(x, lo, hi)
    assert y.shape == x.shape
    assert ((y >= lo - 1e-9) & (y <= hi + 1e-9)).all()
    inside = (x >= lo) & (x <= hi)
    torch.testing.assert_close(y[inside], x[inside], rtol=0, atol=1e-9)  # identity inside
    tol = dict(rtol=0, atol=1e-9)
    torch.testing.assert_close(impl.fold(2 * hi - x, lo, hi), y, **tol)  # mirror at hi
    torch.testing.assert_close(impl.fold(2 * lo - x, lo, hi), y, **tol)  # mirror at lo
    torch.testing.assert_close(impl.fold(x + 2 * (hi - lo), lo, hi), y, **tol)  # period
    torch.testing.assert_close(impl.fold(x, 0.5, 4.25), impl.fold(x, lo * 0 + 0.5, 4.25), **tol)


@pytest.mark.points(2)
def test_fold_matches_moving_sprites(impl):
    data = MovingSprites(num_clips=3, frames=29, size=21, sprites=(3, 3), speed=(1.5, 3.0),
                         seed=3)
    n = torch.arange(29, dtype=torch.float64)
    for i in range(len(data)):
        item = data[i]
        p0, v, lo, hi = motion(item, stride=1)
        line = p0 + v * n[:, None, None]  # [T, N, 2], the unfolded straight line
        lo, hi = lo[:, None], hi[:, None]  # [N, 1]
        assert ((line < lo) | (line > hi)).any()  # the clip bounces
        torch.testing.assert_close(impl.fold(line, lo, hi), item["positions"].double(),
                                   rtol=0, atol=1e-4)


@pytest.mark.points(2)
def test_sprite_positions_match_moving_sprites_strided(impl):
    stride, frames = 3, 13
    data = MovingSprites(num_clips=3, frames=frames, size=19, sprites=(3, 3), stride=stride,
                         speed=(2.0, 3.5), seed=11)
    for i in range(len(data)):
        item = data[i]
        p0, v, lo, hi = motion(item, stride)
        positions = impl.sprite_positions(p0, v, lo, hi, frames, stride)
        assert positions.shape == (frames, 3, 2) and positions.dtype == torch.float64
        torch.testing.assert_close(positions, item["positions"].double(), rtol=0, atol=1e-4)

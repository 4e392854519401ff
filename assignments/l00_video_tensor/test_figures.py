"""Task 00.3: the flicker and background-change figures.

Oracle: `vdlite.metrics.flicker` and `vdlite.metrics.background_change`, on random float64
clips (tolerance 1e-12) and on moving-sprite clips with their ground-truth masks.
"""

import pytest
import torch

from vdlite import metrics
from vdlite.data import MovingSprites

TOL = dict(rtol=1e-12, atol=1e-12)


def sprite_clips(seed: int, **options) -> tuple[torch.Tensor, torch.Tensor]:
    """Three clips [3, 3, 7, 13, 13] (float64) and their foreground masks [3, 7, 13, 13]."""
    data = MovingSprites(num_clips=3, frames=7, size=13, seed=seed, **options)
    items = [data[i] for i in range(3)]
    video = torch.stack([item["video"] for item in items]).double()
    masks = torch.stack([item["masks"].any(dim=1) for item in items])  # any sprite
    return video, masks


@pytest.mark.points(2)
def test_flicker_matches_metrics(impl):
    g = torch.Generator().manual_seed(0)
    video = torch.rand(2, 3, 7, 5, 9, generator=g, dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(float(impl.flicker(video)), metrics.flicker(video), **TOL)
    clips, _ = sprite_clips(seed=1, background="textured", occluder=0.5)
    torch.testing.assert_close(float(impl.flicker(clips)), metrics.flicker(clips), **TOL)


@pytest.mark.points(2)
def test_background_change_matches_metrics(impl):
    g = torch.Generator().manual_seed(2)
    video = torch.rand(2, 3, 6, 7, 5, generator=g, dtype=torch.float64) * 2 - 1
    masks = torch.rand(2, 6, 7, 5, generator=g) < 0.4
    torch.testing.assert_close(float(impl.background_change(video, masks)),
                               metrics.background_change(video, masks), **TOL)
    everywhere = torch.ones_like(masks)  # no background pixel at all
    assert float(impl.background_change(video, everywhere)) == 0.0
    clips, masks = sprite_clips(seed=4, background="mixed", occluder=0.5)
    torch.testing.assert_close(float(impl.background_change(clips, masks)),
                               metrics.background_change(clips, masks), **TOL)

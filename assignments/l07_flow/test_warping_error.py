"""Task 07.4: the warping error against vdlite.metrics.warping_error (relative 1e-4) on sprite
clips on plain and textured backgrounds; a still clip scores 0; a batch scores the mean of its
clips."""

import pytest
import torch

from vdlite.data import MovingSprites
from vdlite.metrics import warping_error as package_warping_error


def clips(n: int, size: int, background: str, seed: int, frames: int = 4) -> torch.Tensor:
    data = MovingSprites(num_clips=n, frames=frames, size=size, sprites=(1, 2),
                         background=background, occluder=0.5, seed=seed)
    return data.batch(range(n))["video"]  # [n, 3, frames, size, size]


@pytest.mark.points(2)
def test_warping_error_matches_the_package(impl):
    for n, size, background, seed in ((3, 23, "textured", 730), (2, 30, "plain", 731),
                                      (3, 19, "mixed", 732)):
        video = clips(n, size, background, seed)
        got, ref = impl.warping_error(video), package_warping_error(video)
        assert isinstance(got, float), f"return a Python float, got {type(got).__name__}"
        assert got == pytest.approx(ref, rel=1e-4, abs=1e-9), (
            f"{n} clips of {size}x{size}, {background}: got {got:.6g}, expected {ref:.6g}")


@pytest.mark.points(1)
def test_still_clips_and_means_over_clips(impl):
    still = clips(1, 21, "textured", 733, frames=1).expand(-1, -1, 3, -1, -1).contiguous()
    assert impl.warping_error(still) == pytest.approx(0.0, abs=1e-10), "a still clip scores 0"
    video = clips(2, 21, "mixed", 734, frames=3)
    # the second clip flickers: each of its frames a little brighter or darker
    g = torch.Generator().manual_seed(735)
    offsets = 0.1 * torch.rand(1, 3, 1, 1, generator=g)  # [1, T, 1, 1], one per frame
    video[1] = (video[1] + offsets).clamp(-1, 1)
    each = [impl.warping_error(video[i:i + 1]) for i in range(2)]
    together = impl.warping_error(video)
    assert together == pytest.approx(sum(each) / 2, rel=1e-4), (
        f"a batch scores the mean of its clips: {together:.6g} against {each}")

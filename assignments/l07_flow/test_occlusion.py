"""Task 07.3: the forward–backward check against vdlite.flow.occlusion (the same mask, exactly)
on flows between sprite frames and on random flows, in float64; and where a known motion leaves
the frame."""

import pytest
import torch

from vdlite.data import MovingSprites
from vdlite.flow import estimate_flow, occlusion


@pytest.mark.points(1)
def test_occlusion_matches_the_package(impl):
    data = MovingSprites(num_clips=4, frames=2, size=23, sprites=(1, 2), background="mixed",
                         speed=(1.5, 2.5), seed=720)
    video = data.batch(range(4))["video"]  # [4, 3, 2, 23, 23]
    a, b = video[:, :, 0], video[:, :, 1]
    forward, backward = estimate_flow(a, b).double(), estimate_flow(b, a).double()
    g = torch.Generator().manual_seed(721)
    random_f = 1.5 * torch.randn(2, 2, 9, 13, generator=g, dtype=torch.float64)
    random_b = -random_f + 0.8 * torch.randn(2, 2, 9, 13, generator=g, dtype=torch.float64)
    for name, f, bk in (("sprite flows", forward, backward), ("random flows", random_f, random_b)):
        got, ref = impl.occlusion(f, bk), occlusion(f, bk)
        assert got.shape == ref.shape and got.dtype == torch.bool, (
            f"{name}: expected a bool mask of shape {tuple(ref.shape)}, got {got.dtype} "
            f"{tuple(got.shape)}")
        differ = int((got != ref).sum())
        assert differ == 0, (f"{name}: {differ} of {ref.numel()} pixels differ from the package "
                             f"({int(ref.sum())} occluded there, {int(got.sum())} in yours)")


@pytest.mark.points(1)
def test_occlusion_of_a_known_motion(impl):
    # everything moves by d, and back by -d: only what leaves the frame is occluded
    for d in ((2.0, 0.0), (-0.6, 1.7), (0.4, -0.4)):
        forward = torch.tensor(d, dtype=torch.float64).view(1, 2, 1, 1).expand(1, 2, 7, 10)
        got = impl.occlusion(forward.contiguous(), -forward.contiguous())
        ys, xs = torch.meshgrid(torch.arange(7.0, dtype=torch.float64),
                                torch.arange(10.0, dtype=torch.float64), indexing="ij")
        sx, sy = xs + d[0], ys + d[1]
        leaves = (sx < -0.5) | (sx > 9.5) | (sy < -0.5) | (sy > 6.5)  # the frame's extent
        assert torch.equal(got[0], leaves), (
            f"motion {d}: occluded should be exactly the {int(leaves.sum())} pixels whose "
            f"p + d leaves the frame [-½, W-½] x [-½, H-½]; yours flags {int(got.sum())}")
    # a backward flow that does not return: every pixel fails the check
    forward = torch.full((1, 2, 5, 6), 0.3, dtype=torch.float64)
    assert impl.occlusion(forward, forward).all(), "forward = backward = 0.3 px: all fail"

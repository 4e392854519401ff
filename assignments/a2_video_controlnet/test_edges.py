"""Task A2.4: edge alignment, against shares computed by hand on small odd clips (a step in
depth, a crease, a receding plane) and against vdlite.controlnet.edge_alignment on rooms."""

import pytest
import torch

from vdlite.controlnet import edge_alignment as package_edge_alignment
from vdlite.room import RoomClips


def grid(h: int, w: int):
    return torch.meshgrid(torch.arange(h, dtype=torch.float64),
                          torch.arange(w, dtype=torch.float64), indexing="ij")


@pytest.mark.points(2)
def test_hand_computed_shares(impl):
    y, x = grid(7, 13)
    near_far = torch.where(x < 6, 1.0, 3.0).double()  # depth jumps between columns 5 and 6
    depth = near_far.expand(2, 1, 3, 7, 13).clone()
    on = torch.where(x < 6, -0.5, 0.5).double().expand(1, 3, 3, 7, 13)  # a colour edge on the jump
    off = torch.where(x < 2, -0.5, 0.5).double().expand(1, 3, 3, 7, 13)  # and one far from it
    got = impl.edge_alignment(torch.cat([on, off]), depth)
    assert got.shape == (2,), f"one value per clip: shape {tuple(got.shape)}, expected (2,)"
    torch.testing.assert_close(got, torch.tensor([1.0, 0.0], dtype=torch.float64),
                               rtol=0, atol=1e-12)
    # the off edge (between columns 1 and 2) is 4 columns from the edge pixels 5 and 6
    for radius, share in ((3, 0.0), (4, 1.0)):
        torch.testing.assert_close(impl.edge_alignment(off, depth[:1], radius=radius),
                                   torch.tensor([share], dtype=torch.float64), rtol=0, atol=1e-12,
                                   msg=lambda m, r=radius: f"radius {r}: {m}")
    # a receding plane (disparity affine in x and y) has no edge: nothing is aligned
    plane = (1 / (0.2 + 0.03 * x + 0.05 * y)).expand(1, 1, 3, 7, 13)
    assert impl.edge_alignment(on, plane).item() == 0
    # a crease along column 4: edge pixels exactly column 4; a vertical colour step between
    # columns 4 and 5 puts gradient on column 4 only (forward differences): share 1; a ramp
    # in y puts the same gradient on every row but the last: share 1/13 of those pixels
    crease = (1 / (0.5 + 0.1 * (x - 4).abs())).expand(1, 1, 3, 7, 13)
    step = torch.where(x < 5, 0.0, 0.4).double().expand(1, 3, 3, 7, 13)
    torch.testing.assert_close(impl.edge_alignment(step, crease),
                               torch.tensor([1.0], dtype=torch.float64), rtol=0, atol=1e-12)
    ramp = (0.1 * y).expand(1, 3, 3, 7, 13)
    torch.testing.assert_close(impl.edge_alignment(ramp, crease),
                               torch.tensor([1 / 13], dtype=torch.float64), rtol=0, atol=1e-12)
    # a relative threshold: the same room twice as large has the same edges
    torch.testing.assert_close(impl.edge_alignment(ramp, 2 * crease),
                               torch.tensor([1 / 13], dtype=torch.float64), rtol=0, atol=1e-12)
    assert impl.edge_alignment(torch.zeros(1, 3, 3, 7, 13, dtype=torch.float64),
                               depth[:1]).item() == 0


@pytest.mark.points(1)
def test_matches_the_package_on_rooms(impl):
    batch = RoomClips(6, frames=3, size=21, seed=240).batch(range(6))
    video, depth = batch["video"].double(), batch["depth"].double()
    noisy = video + 0.3 * torch.randn(video.shape, generator=torch.Generator().manual_seed(241),
                                      dtype=torch.float64)
    for clip in (video, noisy):
        for threshold, radius in ((0.05, 0), (0.02, 1), (0.2, 2)):
            torch.testing.assert_close(
                impl.edge_alignment(clip, depth, threshold=threshold, radius=radius),
                package_edge_alignment(clip, depth, threshold=threshold, radius=radius),
                rtol=1e-10, atol=1e-12)

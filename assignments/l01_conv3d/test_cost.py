"""Task 01.5: FLOPs of full vs pseudo-3D convolution, against vdlite.conv3d's cost functions."""

import pytest

from vdlite.conv3d import conv3d_cost, pseudo3d_cost


@pytest.mark.points(1)
def test_conv3d_flops(impl):
    for c_in, c_out, kernel, out in [(3, 5, (3, 2, 1), (7, 9, 11)), (128, 256, (3, 3, 3),
                                                                    (16, 64, 64)),
                                     (6, 1, (1, 5, 3), (1, 3, 5))]:
        assert impl.conv3d_flops(c_in, c_out, kernel, out) == conv3d_cost(
            c_in, c_out, kernel, out)["flops"], (c_in, c_out, kernel, out)


@pytest.mark.points(2)
def test_pseudo3d_flops(impl):
    for c_in, c_out, k, out in [(3, 5, 3, (7, 9, 11)), (256, 128, 3, (16, 64, 64)),
                                (6, 6, 5, (5, 3, 1)), (96, 96, 3, (9, 15, 13))]:
        assert impl.pseudo3d_flops(c_in, c_out, k, out) == pseudo3d_cost(
            c_in, c_out, k, out)["flops"], (c_in, c_out, k, out)

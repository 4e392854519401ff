"""Wrong: pseudo3d_flops gives the temporal conv C_in input channels instead of C_out.

The temporal (k, 1, 1) conv runs on the spatial conv's output, which has C_out channels; the
mistake is invisible when C_in = C_out.
"""

from assignments.l01_conv3d.solution import *  # noqa: F401,F403
from assignments.l01_conv3d.solution import Triple, conv3d_flops


def pseudo3d_flops(in_channels: int, out_channels: int, k: int, out_size: Triple) -> int:
    spatial = conv3d_flops(in_channels, out_channels, (1, k, k), out_size)
    return spatial + conv3d_flops(in_channels, out_channels, (k, 1, 1), out_size)

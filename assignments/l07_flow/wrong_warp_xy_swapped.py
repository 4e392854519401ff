"""Wrong: the flow's channels swapped, channel 0 moving along rows and channel 1 along columns.

Image tensors index [row, column] = [y, x], so it is tempting to take flow[:, 0] as the row
displacement; the course's flows (and grid_sample's grids) put x, the column, first."""

from torch import Tensor

from assignments.l07_flow.solution import *  # noqa: F401,F403
from assignments.l07_flow.solution import warp as _warp


def warp(b: Tensor, flow: Tensor) -> Tensor:
    return _warp(b, flow.flip(1))  # wrong: (dy, dx) read as (dx, dy)

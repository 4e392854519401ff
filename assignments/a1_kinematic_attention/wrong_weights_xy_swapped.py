"""Wrong: the velocity's components swapped, v_x moving along rows and v_y along columns.

A frame is indexed [row, column] = [y, x], so it is tempting to add v[0] to the row index;
(v_x, v_y) is (columns, rows) per frame, and so is every position in this assignment."""

from torch import Tensor

from assignments.a1_kinematic_attention.solution import *  # noqa: F401,F403
from assignments.a1_kinematic_attention.solution import ideal_weights as _ideal_weights


def ideal_weights(x: float, y: float, t: int, velocity: tuple[float, float], frames: int,
                  hw: tuple[int, int], sigma: float) -> Tensor:
    return _ideal_weights(x, y, t, (velocity[1], velocity[0]), frames, hw, sigma)  # wrong

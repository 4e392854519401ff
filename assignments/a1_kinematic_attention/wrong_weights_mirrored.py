"""Wrong: the ideal weights sit at (x - v_x (t'-t), y - v_y (t'-t)), the mirrored trajectory.

Writing the trajectory as "where the object was" and subtracting the displacement puts the
past frames' weight ahead of the object and the future frames' weight behind it: the sign of
v (t' - t) flipped, the line sheared the wrong way."""

from torch import Tensor

from assignments.a1_kinematic_attention.solution import *  # noqa: F401,F403
from assignments.a1_kinematic_attention.solution import ideal_weights as _ideal_weights


def ideal_weights(x: float, y: float, t: int, velocity: tuple[float, float], frames: int,
                  hw: tuple[int, int], sigma: float) -> Tensor:
    return _ideal_weights(x, y, t, (-velocity[0], -velocity[1]), frames, hw, sigma)  # wrong

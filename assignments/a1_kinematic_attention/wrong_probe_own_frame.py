"""Wrong: the trajectory mass counts the query's own frame t too.

In frame t every line passes through the query, and a query puts much of its weight on itself
and its neighbours; counting that frame adds the same large share to the trajectory, the
mirrored line and the static one, and hides how differently they fare in the other frames."""

from torch import Tensor

from assignments.a1_kinematic_attention.solution import *  # noqa: F401,F403
from assignments.a1_kinematic_attention.solution import near_trajectory, query_row


def trajectory_mass(weights: Tensor, hw: tuple[int, int], t: int, centre: tuple[float, float],
                    velocity: tuple[float, float], radius: float) -> float:
    row = query_row(weights, hw, t, centre)
    near = near_trajectory(len(row), hw, t, centre, velocity, radius)
    return float((row * near).sum() / row.sum())  # wrong: frame t is not left out

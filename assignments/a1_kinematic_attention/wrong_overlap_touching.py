"""Wrong: squares that only touch counted as overlapping (<= where the test is <).

At a frame where the object's edge lies exactly on the patch's edge they share a line, not an
area: the patch sees nothing of the object. With whole-pixel motion this happens often, and
the closed test adds a frame at each end of the window (off by one, twice)."""

from torch import Tensor

from assignments.a1_kinematic_attention.solution import *  # noqa: F401,F403
from assignments.a1_kinematic_attention.solution import gaps


def overlap_frames(centre: tuple[float, float], patch: float, start: tuple[float, float],
                   size: float, velocity: tuple[float, float], frames: int) -> Tensor:
    return (gaps(centre, start, velocity, frames) <= (patch + size) / 2).all(dim=1)  # wrong

"""Wrong: rounds (budget - fixed) / per_frame up, so the last frame it promises does not fit."""

import math

from assignments.l09_memory.solution import *  # noqa: F401,F403


def frames_in_budget(budget: float, fixed: float, per_frame: float) -> int:
    return max(0, math.ceil((budget - fixed) / per_frame))

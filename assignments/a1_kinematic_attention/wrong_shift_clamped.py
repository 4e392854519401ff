"""Wrong: a point that leaves the grid reads the nearest edge token instead of being masked.

Clamping is what grid_sample's border padding does, and it keeps every frame in the softmax;
but once the object has left the frame the edge token holds something else (background, or
another object), which the query then mixes in with a weight of its own."""

import torch
from torch import Tensor

from assignments.a1_kinematic_attention.solution import *  # noqa: F401,F403
from assignments.a1_kinematic_attention.solution import along_motion, attend_frames


def shifted_temporal_attention(q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int],
                               velocity: tuple[float, float]) -> Tensor:
    keys, inside = along_motion(k, hw, velocity)
    values, _ = along_motion(v, hw, velocity)
    return attend_frames(q, keys, values, torch.ones_like(inside))  # wrong: nothing masked

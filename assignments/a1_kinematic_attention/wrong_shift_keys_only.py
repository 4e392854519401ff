"""Wrong: the keys read along the motion, the values at the query's own position p.

The scores then compare the query with the object where it has moved to, but the output
averages whatever is at the fixed position p in each frame, mostly background once the object
has left: the weights track the object, the content does not."""

from torch import Tensor

from assignments.a1_kinematic_attention.solution import *  # noqa: F401,F403
from assignments.a1_kinematic_attention.solution import along_motion, attend_frames


def shifted_temporal_attention(q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int],
                               velocity: tuple[float, float]) -> Tensor:
    keys, inside = along_motion(k, hw, velocity)
    values, _ = along_motion(v, hw, (0.0, 0.0))  # wrong: should follow the motion too
    return attend_frames(q, keys, values, inside)

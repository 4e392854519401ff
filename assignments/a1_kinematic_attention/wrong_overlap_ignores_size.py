"""Wrong: the object treated as a point, overlapping while its centre is inside the patch.

Then the overlap lasts P / |v| frames, not (P + L) / |v|: the object's own extent reaches
into the patch for L / (2|v|) frames before its centre does, and as long after."""

from assignments.a1_kinematic_attention.solution import *  # noqa: F401,F403
from assignments.a1_kinematic_attention.solution import overlap_frames as _overlap_frames
from assignments.a1_kinematic_attention.solution import overlap_interval as _overlap_interval


def overlap_interval(centre, patch, start, size, velocity):
    return _overlap_interval(centre, patch, start, 0.0, velocity)  # wrong: size ignored


def overlap_frames(centre, patch, start, size, velocity, frames):
    return _overlap_frames(centre, patch, start, 0.0, velocity, frames)  # wrong: size ignored

"""Wrong: the padding goes after the axis instead of before it (the index is o*stride + i, the
padding never subtracted), so the causal conv's output frame t reads frames t .. t + kT - 1:
the future, where it should read t - kT + 1 .. t."""

from torch import Tensor

from assignments.l04_kernels.solution import *  # noqa: F401,F403


def tap_source(out: Tensor, tap: int, stride: int, pad_before: int, size: int) -> Tensor:
    src = out * stride + tap  # wrong: - pad_before
    return src.where((src >= 0) & (src < size), -1)

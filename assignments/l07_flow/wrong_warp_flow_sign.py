"""Wrong: reads b at p - flow(p) instead of p + flow(p).

The forward flow says where a's pixel went in b, so a(p) ≈ b(p + flow(p)); reading at
p - flow(p) moves the content the other way (a forward warp of b, by the wrong convention)."""

from torch import Tensor

from assignments.l07_flow.solution import *  # noqa: F401,F403
from assignments.l07_flow.solution import warp as _warp


def warp(b: Tensor, flow: Tensor) -> Tensor:
    return _warp(b, -flow)  # wrong sign

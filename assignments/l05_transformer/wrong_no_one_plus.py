"""Wrong: modulation LN(x) * scale + shift, without the 1 +: a zero scale wipes LN(x) out."""

from torch import Tensor

from assignments.l05_transformer.solution import *  # noqa: F401,F403
from assignments.l05_transformer.solution import layer_norm


def modulate(x: Tensor, shift: Tensor, scale: Tensor, eps: float = 1e-6) -> Tensor:
    return layer_norm(x, eps) * scale[:, None, None] + shift[:, None, None]

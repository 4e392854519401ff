"""Wrong: the new temporal branch keeps its random output projection, so the inflated block
no longer equals the image block at initialisation."""

from torch import Tensor, nn

from assignments.l05_transformer.solution import *  # noqa: F401,F403
from assignments.l05_transformer.solution import TemporalAttention


class InflatedBlock(nn.Module):
    def __init__(self, image_block: nn.Module, dim: int, heads: int) -> None:
        super().__init__()
        self.image_block = image_block
        self.temporal = TemporalAttention(dim, heads)

    def forward(self, x: Tensor, *args: object) -> Tensor:
        h = self.image_block(x, *args)
        return h + self.temporal(h)

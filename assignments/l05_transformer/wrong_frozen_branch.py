"""Wrong: zeroes the temporal branch's q, k, v projection as well as its output projection:
exact at initialisation, but every gradient of the branch is zero, so it never learns."""

from torch import Tensor, nn

from assignments.l05_transformer.solution import *  # noqa: F401,F403
from assignments.l05_transformer.solution import TemporalAttention


class InflatedBlock(nn.Module):
    def __init__(self, image_block: nn.Module, dim: int, heads: int) -> None:
        super().__init__()
        self.image_block = image_block
        self.temporal = TemporalAttention(dim, heads)
        for param in self.temporal.parameters():
            nn.init.zeros_(param)

    def forward(self, x: Tensor, *args: object) -> Tensor:
        h = self.image_block(x, *args)
        return h + self.temporal(h)

"""A2, wrong: the encoder is deep-copied from a base that was frozen first, and the copies keep
requires_grad False, so only the depth encoder and the zero convs would ever train."""

from assignments.a2_video_controlnet import solution
from assignments.a2_video_controlnet.solution import *  # noqa: F401,F403


class ControlNet3D(solution.ControlNet3D):
    def __init__(self, base, hint_hidden: int = 16) -> None:
        frozen = {n: p.requires_grad for n, p in base.named_parameters()}
        super().__init__(base, hint_hidden)
        for part in ("time_mlp", "stem", "down", "mid"):  # as the base had them
            for n, p in getattr(self, part).named_parameters():
                p.requires_grad_(frozen[f"{part}.{n}"])

"""Wrong: the seam score divides by the mean over all transitions, boundaries included.

The boundaries then sit on both sides of the ratio, which understates a seam (a score can never
exceed the number of transitions over the number of boundaries).
"""

from torch import Tensor

from assignments.a3_causal_vae.solution import *  # noqa: F401,F403
from assignments.a3_causal_vae.solution import error_change


def seam_score(video: Tensor, recon: Tensor, plan: list[tuple[int, int]]) -> float:
    change = error_change(video, recon).double()
    at = [change[a - 1] for a, _ in plan[1:]]
    return (sum(at) / len(at) / change.mean()).item()

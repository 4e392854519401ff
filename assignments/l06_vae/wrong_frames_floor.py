"""Wrong: the frame rule as frames // factor, forgetting that the first frame is encoded alone.

1 + 4k frames make 1 + k latent frames, not k: 49 frames give 13 latents, and 49 // 4 = 12.
(The error for counts off the rule is the solution's.)"""

from assignments.l06_vae.solution import *  # noqa: F401,F403
from assignments.l06_vae.solution import latent_frames as _checked


def latent_frames(frames: int, factor: int = 4) -> int:
    _checked(frames, factor)  # raises for counts off the rule
    return frames // factor

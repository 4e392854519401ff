"""Wrong: every chunk gets 1 + 4c frames, as if each were a clip of its own.

Only the first chunk holds the frame encoded alone; later chunks of 1 + 4c frames put one frame
too many into each, so the chunks no longer line up with the groups of 4 the latent frames
stand for (and the last chunk is not a multiple of 4).
"""

from assignments.a3_causal_vae.solution import *  # noqa: F401,F403


def chunk_plan(frames: int, latents_per_chunk: int, factor: int = 4) -> list[tuple[int, int]]:
    if frames < 1 or (frames - 1) % factor or latents_per_chunk < 1:
        raise ValueError(f"frames must be 1 + {factor}k and latents_per_chunk >= 1")
    step = 1 + factor * latents_per_chunk
    return [(t, min(t + step, frames)) for t in range(0, frames, step)]

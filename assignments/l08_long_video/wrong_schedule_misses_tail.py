"""Wrong: steps by chunk - overlap and stops when the next chunk would overrun, so when
frames - chunk is not a multiple of the step the last frames are never made (the window list
of Gen-L-Video can do this)."""

from assignments.l08_long_video.solution import *  # noqa: F401,F403


def chunk_starts(frames: int, chunk: int, overlap: int) -> list[int]:
    if chunk < 1 or overlap < 0 or overlap >= chunk or frames < chunk:
        raise ValueError(f"bad schedule: frames={frames}, chunk={chunk}, overlap={overlap}")
    return list(range(0, frames - chunk + 1, chunk - overlap))  # the tail is missed

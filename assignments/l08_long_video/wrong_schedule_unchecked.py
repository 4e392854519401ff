"""Wrong: a closed form, ceil((frames - overlap) / (chunk - overlap)) chunks at multiples of
the step with the last start clipped to frames - chunk. It covers every length, but checks
nothing: overlap >= chunk (a step <= 0) silently gives one chunk, and frames < chunk a
negative start, where a caller needs an error."""

import math

from assignments.l08_long_video.solution import *  # noqa: F401,F403


def chunk_starts(frames: int, chunk: int, overlap: int) -> list[int]:
    step = chunk - overlap
    n = math.ceil((frames - overlap) / step) if step > 0 else 1
    return [min(i * step, frames - chunk) for i in range(max(n, 1))]

"""Wrong: counts T·S·(2w + 1) pairs, as if every frame had w neighbours on each side; near the
clip's ends the window is cut off, so this overcounts (and exceeds T²·S for wide windows)."""

from assignments.l08_long_video.solution import *  # noqa: F401,F403


def window_pairs(frames: int, tokens: int, window: int | None) -> int:
    if window is None:
        return frames * frames * tokens
    return frames * tokens * (2 * window + 1)

"""Wrong: the windowed count is the textbook T S (2w + 1) (T S (w + 1) causal), as if every
frame had w frames on each side: the frames at the clip's edges are counted with keys that
do not exist (and a causal mask without a window still counts all T frames)."""

from assignments.l03_attention.solution import *  # noqa: F401,F403


def attention_pairs(
    kind: str, T: int, S: int, window: int | None = None, causal: bool = False
) -> int:
    if window is None:
        frames = T
    else:
        frames = window + 1 if causal else 2 * window + 1  # wrong: no edge correction
    spatial = T * S * S
    temporal = T * S * frames
    return {"full": (T * S) ** 2, "spatial": spatial, "temporal": temporal,
            "factorized": spatial + temporal, "window": temporal}[kind]

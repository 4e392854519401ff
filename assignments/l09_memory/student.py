"""Lesson 09a, your solution: what a training step keeps in memory, the frames a budget holds,
and frame interleaving. Replace each `raise NotImplementedError(...)`.

Grade yourself with `python -m assignments.grade l09_memory`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

# ---- Task 09.1: the bytes saved for backward (3 points) -------------------------------------


def saved_bytes(fn: Callable[[], object], exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the tensors autograd saves for the backward pass while `fn()` runs.

    Run `fn()` inside `torch.autograd.graph.saved_tensors_hooks(pack, unpack)`: every tensor an
    operation saves passes through `pack(t)` (return t itself; `unpack` returns it back). Count
    each storage once, `t.untyped_storage().nbytes()`, keyed by
    `t.untyped_storage().data_ptr()`: several operations may save the same tensor, or views of
    it. Leave out the storages of the tensors in `exclude` (the model's parameters). Keep what
    `fn()` returns alive until you have counted (its graph holds the saved tensors).
    """
    raise NotImplementedError("Task 09.1: a pack hook that records storage sizes by data_ptr")


# ---- Task 09.2: one block's saved activations by hand (3 points) ----------------------------


def mlp_saved_bytes(batch: int, frames: int, tokens: int, dim: int, ratio: int,
                    element_bytes: int = 4) -> int:
    """Bytes autograd saves for the block y = x + W2 GELU(W1 LN(x)) on x [B, T, S, dim]
    (x requires grad; LN without affine weights; W1: dim -> ratio dim; W2 back; parameters not
    counted).

    Per token, what each operation keeps for its backward:
        LayerNorm  its input x (dim) and the token's mean and 1/std (1 + 1)
        W1         its input LN(x) (dim), for W1's gradient
        GELU       its input h = W1 LN(x) (ratio dim)
        W2         its input GELU(h) (ratio dim), for W2's gradient
        + x        nothing
    all in x's dtype (`element_bytes` each). Every token of every frame of every clip keeps
    them: N = B T S tokens.
    """
    raise NotImplementedError("Task 09.2: count the elements per token, times N, times bytes")


# ---- Task 09.3: frames in a budget (2 points) -----------------------------------------------


def frames_in_budget(budget: float, fixed: float, per_frame: float) -> int:
    """The most frames T with fixed + per_frame T <= budget (all in bytes), 0 if not even one.

    `fixed` is what a step holds whatever T (weights, gradients, Adam's moments, and the
    intercept of the measured line); `per_frame` > 0 the bytes each frame adds.
    T = floor((budget - fixed) / per_frame), never below 0.
    """
    raise NotImplementedError("Task 09.3: floor((budget - fixed) / per_frame), at least 0")


# ---- Task 09.4: frame interleaving (3 points) -----------------------------------------------


def interleave(video: torch.Tensor, stride: int, frames: int | None = None) -> torch.Tensor:
    """Frames 0, k, 2k, ... of clips: [B, C, T, H, W] -> [B, C, frames, H, W], k = stride.

    out[:, :, i] = video[:, :, i k] for i = 0 .. frames - 1. `frames` frames at stride k span
    (frames - 1) k + 1 native frames: a clip shorter than that is a ValueError whose message
    says "need a clip of at least N frames" with N that count. frames=None takes as many as
    fit, ceil(T / k). A stride below 1 is a ValueError.
    """
    raise NotImplementedError("Task 09.4: check (frames - 1) * stride + 1 <= T, then slice")

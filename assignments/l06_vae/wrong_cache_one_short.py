"""Wrong: the cache keeps the last kT - 2 frames instead of kT - 1.

Output frame t reads kT frames: its newest comes from the chunk, the kT - 1 before it from the
cache. Keeping one frame fewer shifts every later chunk's windows by a frame: they start one
frame late and run one frame past what has arrived, so outputs are lost or read the wrong
frames. A single chunk (the whole clip) is still right.
"""

import torch
from torch import Tensor

from assignments.l06_vae.solution import *  # noqa: F401,F403
from assignments.l06_vae.solution import CausalConvStream as _Right
from assignments.l06_vae.solution import _conv_padded, causal_pad


class CausalConvStream(_Right):
    def __call__(self, chunk: Tensor) -> Tensor:
        P, s = self.pad, self.stride_t
        if self.held is None:
            self.held = causal_pad(chunk[:, :, :1], P, self.mode)[:, :, :P]
        frames = torch.cat([self.held, chunk], dim=2)
        seen, now = self.seen, self.seen + chunk.shape[2]
        keep = P - 1  # wrong: P
        self.seen, self.held = now, frames[:, :, frames.shape[2] - keep:]
        first, last = -(-seen // s), (now - 1) // s
        window = frames[:, :, first * s - seen:last * s - seen + P + 1]
        if last < first or window.shape[2] <= P:
            B, _, _, H, W = chunk.shape
            return chunk.new_zeros(B, self.weight.shape[0], 0, H, W)
        return _conv_padded(window, self.weight, self.bias, s)

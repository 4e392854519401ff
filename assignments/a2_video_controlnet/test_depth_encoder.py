"""Task A2.1: the depth encoder starts at exactly zero yet learns, and its temporal layers read
a window of depth frames centred on each frame."""

import pytest
import torch


@pytest.mark.points(1)
def test_a_fresh_encoder_outputs_zero_and_its_last_layer_still_learns(impl):
    enc = impl.DepthEncoder(5, hidden=3).double()
    g = torch.Generator().manual_seed(210)
    depth = torch.randn(2, 1, 7, 9, 11, generator=g, dtype=torch.float64, requires_grad=True)
    out = enc(depth)
    assert out.shape == (2, 5, 7, 9, 11), f"hint shape {tuple(out.shape)}, expected (2, 5, ...)"
    assert torch.count_nonzero(out) == 0, "a fresh DepthEncoder must output exactly 0"
    (out * torch.randn(out.shape, generator=g, dtype=torch.float64)).sum().backward()
    moved = [p for p in enc.parameters() if p.grad is not None and p.grad.abs().max() > 0]
    assert moved, "the zero-initialised output layer must get a gradient at the first step"


def reads(enc, frames: int, t: int, seed: int) -> set[int]:
    """The depth frames that output frame t depends on (autograd: nonzero gradient)."""
    g = torch.Generator().manual_seed(seed)
    depth = torch.randn(1, 1, frames, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    enc(depth)[:, :, t].pow(2).sum().backward()
    return {k for k in range(frames) if depth.grad[:, :, k].abs().max() > 0}


@pytest.mark.points(2)
def test_each_frame_reads_a_window_of_depth_frames_centred_on_it(impl):
    enc = impl.DepthEncoder(4, hidden=5).double()
    g = torch.Generator().manual_seed(211)
    with torch.no_grad():  # as if trained: every weight nonzero
        for p in enc.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    frames = 11
    window = reads(enc, frames, frames // 2, 212) - {frames // 2}
    r = max((abs(k - frames // 2) for k in window), default=0)
    assert r >= 1, "frame t reads only depth frame t: the encoder has no temporal layer"
    for t in range(frames):
        got = reads(enc, frames, t, 213 + t)
        expected = set(range(max(0, t - r), min(frames, t + r + 1)))
        assert got == expected, (f"output frame {t} reads depth frames {sorted(got)}, expected "
                                 f"{sorted(expected)}: the window must be centred on frame t")

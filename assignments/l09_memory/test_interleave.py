"""Task 09.4: frame interleaving. Oracle: `vdlite.data.MovingSprites(stride=k)`, whose clips are
frames 0, k, 2k, ... of the native clip; the frame-count check at its exact boundary."""

import pytest
import torch

from vdlite.data import MovingSprites


def clips(frames: int, stride: int, n: int = 3) -> torch.Tensor:
    data = MovingSprites(num_clips=n, frames=frames, size=10, stride=stride, seed=9)
    return torch.stack([data[i]["video"] for i in range(n)])


@pytest.mark.points(2)
def test_every_kth_frame_is_the_datasets_stride(impl):
    for frames, k in ((7, 3), (5, 4), (6, 1), (4, 2)):
        native = clips((frames - 1) * k + 1, 1)  # exactly long enough
        got = impl.interleave(native, k, frames)
        assert torch.equal(got, clips(frames, k)), f"{frames} frames at stride {k}"
        assert torch.equal(impl.interleave(native, k), clips(frames, k)), \
            f"frames=None at stride {k} on {native.shape[2]} frames"
    native = clips(20, 1)
    assert impl.interleave(native, 3).shape[2] == 7  # frames 0, 3, ..., 18


@pytest.mark.points(1)
def test_too_few_frames_is_an_error_naming_the_count(impl):
    native = clips(21, 1)
    with pytest.raises(ValueError, match="need a clip of at least 25 frames"):
        impl.interleave(native, 4, 7)
    assert impl.interleave(native, 4, 6).shape[2] == 6  # 21 = 5 * 4 + 1 frames: just enough
    with pytest.raises(ValueError):
        impl.interleave(native, 0)

"""Task 00.1: uint8 frames [T, H, W, 3] <-> float video [3, T, H, W] in [-1, 1].

Oracle: `vdlite.data.to_uint8`, the package's own float -> 8-bit conversion (what `write_gif`
and `write_mp4` store), and the exact round trip over all 256 levels.
"""

import pytest
import torch

from vdlite.data import to_uint8


def random_frames(seed: int, T: int = 5, H: int = 11, W: int = 13) -> torch.Tensor:
    """uint8 frames [T, H, W, 3] holding every level 0..255 at least once."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (T * H * W * 3,), generator=g, dtype=torch.uint8)
    frames[:256] = torch.arange(256, dtype=torch.uint8)
    return frames[torch.randperm(frames.numel(), generator=g)].reshape(T, H, W, 3)


@pytest.mark.points(1)
def test_frames_to_video_layout_and_levels(impl):
    frames = random_frames(0)
    video = impl.frames_to_video(frames)
    assert video.shape == (3, 5, 11, 13) and video.dtype == torch.float32
    # the package's writer turns the video back into the very same 8-bit frames (exact)
    torch.testing.assert_close(torch.from_numpy(to_uint8(video)), frames, rtol=0, atol=0)
    black_white = torch.tensor([[[[0, 0, 0], [255, 255, 255]]]], dtype=torch.uint8)  # [1, 1, 2, 3]
    ends = impl.frames_to_video(black_white)  # [3, 1, 1, 2]: level 0 -> -1, level 255 -> +1
    torch.testing.assert_close(ends[:, 0, 0], torch.tensor([[-1.0, 1.0]] * 3), rtol=0, atol=1e-6)


@pytest.mark.points(1)
def test_video_to_frames_matches_to_uint8(impl):
    g = torch.Generator().manual_seed(1)
    video = torch.rand(3, 7, 5, 9, generator=g) * 2.4 - 1.2  # float32, some outside [-1, 1]
    frames = impl.video_to_frames(video)
    assert frames.shape == (7, 5, 9, 3) and frames.dtype == torch.uint8
    torch.testing.assert_close(frames, torch.from_numpy(to_uint8(video)), rtol=0, atol=0)


@pytest.mark.points(2)
def test_round_trip_is_exact(impl):
    frames = random_frames(2, T=3, H=9, W=15)
    again = impl.video_to_frames(impl.frames_to_video(frames))
    torch.testing.assert_close(again, frames, rtol=0, atol=0)  # every level comes back
    g = torch.Generator().manual_seed(3)
    video = torch.rand(3, 5, 7, 3, generator=g) * 2 - 1
    snapped = impl.frames_to_video(impl.video_to_frames(video))
    # float -> 8 bits -> float moves each value to its nearest level: at most half a level
    torch.testing.assert_close(snapped, video, rtol=0, atol=0.5 / 127.5 + 1e-6)

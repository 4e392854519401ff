"""Task A3.4: why causal. An image is a one-frame clip (against vdlite's CausalVAE, 1e-12), and
the last frame each latent frame reads, against one-frame perturbations (oracles.frames_read)
and against the reach of a stack of centred (non-causal) convolutions worked out by hand."""

import pytest
import torch
import torch.nn.functional as F

from assignments.a3_causal_vae.oracles import frames_read, tiny_vae


@pytest.mark.points(1)
def test_an_image_is_a_one_frame_clip(impl):
    g = torch.Generator().manual_seed(50)
    for mode in ("replicate", "zeros"):
        vae = tiny_vae("causal", 51, pad_mode=mode)
        clip = torch.rand(2, 3, 9, 12, 8, generator=g, dtype=torch.float64)
        got = impl.image_latent(vae, clip[:, :, 0])
        with torch.no_grad():
            expected = vae.encode(clip).mean[:, :, 0]
        assert got.shape == expected.shape, f"{tuple(got.shape)} != {tuple(expected.shape)}"
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


KERNELS, STRIDES = (3, 3, 5, 3), (1, 2, 1, 2)


def centred_encoder(x):
    """Four convs with (k-1)/2 frames of zero padding on both sides in time: non-causal."""
    g = torch.Generator().manual_seed(52)
    for k, s in zip(KERNELS, STRIDES, strict=True):
        w = torch.randn(3, x.shape[1], k, 3, 3, generator=g, dtype=torch.float64)
        x = torch.tanh(F.conv3d(x, w, stride=(s, 1, 1), padding=(k // 2, 1, 1)))
    return x


def centred_reach(frames):
    """The last input frame of each output frame of centred_encoder, layer by layer: output t of
    a layer reads its input t·s + (k-1)/2 at most (the last one that exists)."""
    last = list(range(frames))
    for k, s in zip(KERNELS, STRIDES, strict=True):
        n = (len(last) - 1) // s + 1
        last = [last[min(t * s + k // 2, len(last) - 1)] for t in range(n)]
    return last


@pytest.mark.points(2)
def test_latest_frame_read(impl):
    vae = tiny_vae("causal", 53)
    shape = (1, 3, 21, 4, 4)
    reads = frames_read(lambda x: vae.encode(x).mean, shape)
    expected = [int(row.nonzero().max()) for row in reads]
    assert expected == [4 * t for t in range(6)]  # the causal design, seen by perturbation
    assert list(impl.latest_frame_read(lambda x: vae.encode(x).mean, shape)) == expected
    frame = tiny_vae("frame", 54)
    assert list(impl.latest_frame_read(lambda x: frame.encode(x).mean, (1, 3, 7, 4, 4))) == \
        list(range(7))
    got = list(impl.latest_frame_read(centred_encoder, (1, 2, 19, 5, 3)))
    assert got == centred_reach(19), f"got {got}, a centred stack reads up to {centred_reach(19)}"
    assert got[0] > 0, "a centred encoder's first latent frame reads the future"

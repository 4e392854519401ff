"""Task 06.3: the streaming conv, call by call, against vdlite's StreamingCausalConv3d fed the
same chunks with a cache dict, and against the whole-clip CausalConv3d (float64, 1e-12)."""

import pytest
import torch

from vdlite.vae import StreamingCausalConv3d

MODES = ("zeros", "replicate")


def setup(kernel, stride_t, mode, seed, T=13, C=3, O=4, H=5, W=4):
    """A clip [2, C, T, H, W], weights, and vdlite's streaming conv holding them (float64)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, C, T, H, W, generator=g, dtype=torch.float64)
    weight = torch.randn(O, C, *kernel, generator=g, dtype=torch.float64)
    bias = torch.randn(O, generator=g, dtype=torch.float64)
    conv = StreamingCausalConv3d(C, O, kernel, stride=(stride_t, 1, 1), pad_mode=mode).double()
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return x, weight, bias, conv


def compare(impl, kernel, stride_t, mode, sizes, seed):
    """Feed chunks of `sizes` frames to the learner's stream and to vdlite's; every call must
    return the same frames (possibly none), and all of them the whole clip's conv."""
    x, weight, bias, conv = setup(kernel, stride_t, mode, seed, T=sum(sizes))
    stream = impl.CausalConvStream(weight, bias, stride_t, mode)
    cache, got, t = {}, [], 0
    with torch.no_grad():
        for n in sizes:
            chunk = x[:, :, t:t + n]
            out, ref = stream(chunk), conv(chunk, cache)
            where = (f"kernel {kernel}, stride {stride_t}, {mode}, chunks {sizes}, "
                     f"frames {t}..{t + n - 1}")
            assert out.shape == ref.shape, (
                f"{where}: got {tuple(out.shape)}, expected {tuple(ref.shape)}")
            torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12, msg=where)
            got.append(out)
            t += n
        whole = conv(x)
    torch.testing.assert_close(torch.cat(got, dim=2), whole, rtol=1e-12, atol=1e-12)


@pytest.mark.points(1)
def test_one_chunk_is_the_whole_clip(impl):
    for i, (kernel, stride_t) in enumerate((((3, 3, 3), 1), ((3, 1, 3), 2), ((2, 3, 1), 1))):
        for mode in MODES:
            compare(impl, kernel, stride_t, mode, [9], seed=610 + i)


@pytest.mark.points(2)
def test_one_frame_at_a_time(impl):
    for i, (kernel, stride_t) in enumerate((((3, 3, 3), 1), ((3, 1, 3), 2), ((4, 3, 1), 2))):
        for mode in MODES:
            compare(impl, kernel, stride_t, mode, [1] * 9, seed=620 + i)


@pytest.mark.points(2)
def test_chunks_of_any_length(impl):
    chunkings = ([2, 1, 4, 1, 5], [1, 4, 4, 4], [3, 3, 3, 4], [5, 8], [1, 2, 1, 2, 1, 2, 4])
    for i, (kernel, stride_t) in enumerate((((3, 3, 3), 2), ((4, 1, 3), 2), ((3, 3, 1), 1),
                                            ((1, 3, 3), 2), ((2, 1, 1), 3))):
        for mode in MODES:
            for sizes in chunkings:
                compare(impl, kernel, stride_t, mode, sizes, seed=630 + i)

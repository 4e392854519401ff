"""Task 04.3: the causal conv's address arithmetic. `tap_source` against F.conv1d of an
explicitly padded index signal (a one-hot kernel at the tap reads what the padded signal holds
there); `causal_conv3d` against F.conv3d on explicitly padded input in float64, on odd shapes,
strides and paddings, and without F.pad, F.conv3d or unfold."""

import pytest
import torch
import torch.nn.functional as F

import vdlite

f64 = torch.float64
AXES = [(7, 3, 1, 2, 0), (7, 3, 2, 2, 0), (5, 4, 3, 3, 0), (9, 3, 1, 1, 1), (8, 5, 2, 2, 2),
        (6, 1, 1, 0, 0), (4, 3, 2, 0, 1), (2, 3, 1, 2, 0)]  # size, k, stride, before, after
CONVS = [  # x, weight, stride, (pH, pW), bias
         ((2, 3, 7, 6, 5), (4, 3, 3, 3, 2), (1, 1, 1), (1, 0), True),
         ((1, 2, 9, 5, 7), (3, 2, 3, 1, 3), (2, 2, 1), (0, 1), False),
         ((1, 4, 5, 8, 6), (5, 4, 2, 3, 3), (3, 2, 2), (1, 1), True),
         ((2, 1, 1, 3, 3), (2, 1, 3, 3, 3), (1, 1, 1), (1, 1), True)]


def padded_oracle(size, k, stride, before, after, tap):
    """Input index (or -1) each output position reads through `tap`, by F.conv1d: the signal
    1..size, zero-padded, convolved with a one-hot kernel at `tap`, minus one."""
    signal = torch.arange(1, size + 1, dtype=f64)[None, None]
    one_hot = torch.zeros(1, 1, k, dtype=f64)
    one_hot[0, 0, tap] = 1
    read = F.conv1d(F.pad(signal, (before, after)), one_hot, stride=stride)
    return read[0, 0].long() - 1


@pytest.mark.points(1)
def test_tap_source_reads_what_the_padded_axis_holds(impl):
    for size, k, stride, before, after in AXES:
        out_size = (size + before + after - k) // stride + 1
        for tap in range(k):
            got = impl.tap_source(torch.arange(out_size), tap, stride, before, size)
            expected = padded_oracle(size, k, stride, before, after, tap)
            assert torch.equal(got, expected), (
                f"size {size}, k {k}, stride {stride}, pad before {before}, tap {tap}: got "
                f"{got.tolist()}, expected {expected.tolist()} (-1 is padding)")


def conv_oracle(x, weight, bias, stride, padding):
    """F.conv3d on x padded kT - 1 frames before (none after) and pH, pW on both sides."""
    kT = weight.shape[2]
    pH, pW = padding
    return F.conv3d(F.pad(x, (pW, pW, pH, pH, kT - 1, 0)), weight, bias, stride)


def conv_cases(seed):
    g = torch.Generator().manual_seed(seed)
    for x_shape, w_shape, stride, padding, has_bias in CONVS:
        x = torch.randn(x_shape, generator=g, dtype=f64)
        weight = torch.randn(w_shape, generator=g, dtype=f64)
        bias = torch.randn(w_shape[0], generator=g, dtype=f64) if has_bias else None
        yield x, weight, bias, stride, padding


@pytest.mark.points(2)
def test_causal_conv3d_matches_F_conv3d(impl):
    for x, weight, bias, stride, padding in conv_cases(440):
        expected = conv_oracle(x, weight, bias, stride, padding)
        got = impl.causal_conv3d(x, weight, bias, stride, padding)
        where = f"x {tuple(x.shape)}, weight {tuple(weight.shape)}, stride {stride}, pad {padding}"
        assert got.shape == expected.shape, f"{where}: shape {tuple(got.shape)}"
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12,
                                   msg=lambda m, w=where: f"{w}: {m}")


@pytest.mark.points(1)
def test_causal_conv3d_keeps_the_padding_in_the_indices(impl, monkeypatch):
    cases = list(conv_cases(441))
    expected = [conv_oracle(*case) for case in cases]

    def refuse(*args, **kwargs):
        raise AssertionError("the padding lives in the indices: no F.pad, F.conv3d, unfold or "
                             "vdlite.conv3d")

    for module, name in [(F, "pad"), (F, "conv3d"), (torch, "conv3d"), (F, "unfold"),
                         (torch.Tensor, "unfold"), (torch, "constant_pad_nd"),
                         (vdlite, "conv3d")]:
        monkeypatch.setattr(module, name, refuse)
    for case, ref in zip(cases, expected, strict=True):
        torch.testing.assert_close(impl.causal_conv3d(*case), ref, rtol=1e-12, atol=1e-12)

"""Task 06.2: causal padding against F.pad, the strided causal conv against vdlite's
CausalConv3d with the same weights (float64, 1e-12), and causality by perturbation."""

import pytest
import torch
import torch.nn.functional as F

from vdlite.conv3d import CausalConv3d

MODES = {"zeros": "constant", "replicate": "replicate"}  # ours -> F.pad's


def package_conv(weight, bias, stride_t, mode) -> CausalConv3d:
    """vdlite's CausalConv3d holding `weight` and `bias`, in float64."""
    O, C, *kernel = weight.shape
    conv = CausalConv3d(C, O, tuple(kernel), stride=(stride_t, 1, 1), pad_mode=mode).double()
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


@pytest.mark.points(2)
def test_causal_pad_matches_f_pad(impl):
    g = torch.Generator().manual_seed(601)
    x = torch.randn(2, 3, 5, 4, 7, generator=g, dtype=torch.float64)
    for mode, f_mode in MODES.items():
        for frames in (0, 1, 2, 4):
            out = impl.causal_pad(x, frames, mode)
            assert out.shape == (2, 3, 5 + frames, 4, 7), (mode, frames)
            expected = F.pad(x, (0, 0, 0, 0, frames, 0), mode=f_mode)
            torch.testing.assert_close(out, expected, rtol=0, atol=0, msg=f"{mode}, {frames}")
    with pytest.raises(ValueError):
        impl.causal_pad(x, 2, "reflect")


@pytest.mark.points(2)
def test_causal_conv3d_with_time_stride_matches_the_package(impl):
    g = torch.Generator().manual_seed(602)
    for T in (7, 9):
        x = torch.randn(2, 3, T, 5, 6, generator=g, dtype=torch.float64)
        for kernel in ((3, 3, 3), (2, 1, 3), (4, 3, 1), (1, 3, 3)):
            weight = torch.randn(4, 3, *kernel, generator=g, dtype=torch.float64)
            bias = torch.randn(4, generator=g, dtype=torch.float64)
            for stride_t in (1, 2, 3):
                for mode in MODES:
                    y = impl.causal_conv3d(x, weight, bias, stride_t, mode)
                    with torch.no_grad():
                        ref = package_conv(weight, bias, stride_t, mode)(x)
                    assert y.shape == ref.shape == (2, 4, -(-T // stride_t), 5, 6), (
                        T, kernel, stride_t, mode, tuple(y.shape))
                    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12,
                                               msg=f"T={T} kernel={kernel} s={stride_t} {mode}")


@pytest.mark.points(1)
def test_causal_conv3d_never_reads_the_future(impl):
    g = torch.Generator().manual_seed(603)
    x = torch.randn(1, 2, 9, 3, 5, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 2, 3, 3, 1, generator=g, dtype=torch.float64)
    for stride_t in (1, 2):
        for tau in (3, 6):
            changed = x.clone()
            changed[:, :, tau] += torch.randn(1, 2, 3, 5, generator=g, dtype=torch.float64)
            first = -(-tau // stride_t)  # the first output frame whose newest frame is >= tau
            for mode in MODES:
                y = impl.causal_conv3d(x, weight, None, stride_t, mode)
                y_changed = impl.causal_conv3d(changed, weight, None, stride_t, mode)
                torch.testing.assert_close(
                    y_changed[:, :, :first], y[:, :, :first], rtol=0, atol=1e-12,
                    msg=f"{mode}, stride {stride_t}: changing frame {tau} changed an output "
                        f"frame before {first}")
                assert (y_changed[:, :, first] - y[:, :, first]).abs().max() > 1e-6, (
                    f"{mode}, stride {stride_t}: output frame {first} does not read frame {tau}")

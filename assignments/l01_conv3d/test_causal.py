"""Task 01.3: causal time padding, against F.pad + F.conv3d and by the causality property."""

import pytest
import torch
import torch.nn.functional as F

MODES = {"zeros": "constant", "replicate": "replicate"}  # ours -> F.pad's


def padded_before(x: torch.Tensor, frames: int, mode: str) -> torch.Tensor:
    """The oracle: F.pad with `frames` frames before the first and none after."""
    return F.pad(x, (0, 0, 0, 0, frames, 0), mode=MODES[mode])


@pytest.mark.points(2)
def test_causal_time_pad_matches_f_pad(impl):
    g = torch.Generator().manual_seed(104)
    x = torch.randn(2, 3, 5, 4, 3, generator=g, dtype=torch.float64)
    for mode in MODES:
        for kernel_t in (1, 2, 3, 5):
            out = impl.causal_time_pad(x, kernel_t, mode)
            assert out.shape == (2, 3, 5 + kernel_t - 1, 4, 3), (mode, kernel_t)
            torch.testing.assert_close(out, padded_before(x, kernel_t - 1, mode), rtol=0, atol=0)


@pytest.mark.points(2)
def test_causal_conv3d_matches_padded_f_conv3d(impl):
    g = torch.Generator().manual_seed(105)
    x = torch.randn(2, 3, 6, 5, 7, generator=g, dtype=torch.float64)
    for kernel in ((3, 3, 1), (2, 1, 3), (4, 3, 3)):
        weight = torch.randn(4, 3, *kernel, generator=g, dtype=torch.float64)
        bias = torch.randn(4, generator=g, dtype=torch.float64)
        for mode in MODES:
            y = impl.causal_conv3d(x, weight, bias, mode)
            ref = F.conv3d(padded_before(x, kernel[0] - 1, mode), weight, bias,
                           padding=(0, kernel[1] // 2, kernel[2] // 2))
            assert y.shape == (2, 4, 6, 5, 7), (kernel, mode)
            torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.points(1)
def test_causal_conv3d_never_reads_the_future(impl):
    g = torch.Generator().manual_seed(106)
    x = torch.randn(1, 2, 7, 3, 5, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 2, 3, 1, 3, generator=g, dtype=torch.float64)
    t = 3
    x_changed = x.clone()
    x_changed[:, :, t] += torch.randn(1, 2, 3, 5, generator=g, dtype=torch.float64)
    for mode in MODES:
        y, y_changed = impl.causal_conv3d(x, weight, None, mode), impl.causal_conv3d(
            x_changed, weight, None, mode)
        assert y.shape == y_changed.shape == (1, 3, 7, 3, 5)
        torch.testing.assert_close(y_changed[:, :, :t], y[:, :, :t], rtol=0, atol=1e-12,
                                   msg=f"{mode}: changing frame {t} changed an earlier output")
        assert (y_changed[:, :, t] - y[:, :, t]).abs().max() > 1e-6, (
            f"{mode}: output frame {t} does not read input frame {t}")

"""Task 01.2: im2col3d against vdlite's window view, conv3d against F.conv3d (float64)."""

import pytest
import torch
import torch.nn.functional as F

from vdlite.conv3d import im2col3d as windows_view

# (kernel (kT, kH, kW), stride, padding, dilation): all three switched on, in odd mixes
GEOMETRIES = [
    ((3, 2, 3), (1, 2, 1), (1, 0, 2), (2, 1, 1)),
    ((2, 3, 1), (2, 1, 3), (0, 2, 1), (1, 2, 1)),
    ((1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1)),
    ((3, 3, 3), (3, 2, 2), (2, 1, 1), (1, 1, 3)),
]


@pytest.mark.points(2)
def test_im2col3d_rows_are_windows_columns_are_c_then_taps(impl):
    g = torch.Generator().manual_seed(102)
    x = torch.randn(2, 3, 7, 9, 11, generator=g, dtype=torch.float64)
    for kernel, stride, padding, dilation in GEOMETRIES:
        cols = impl.im2col3d(x, kernel, stride, padding, dilation)
        view = windows_view(x, kernel, stride, padding, dilation)  # [B, T', H', W', C, kT, kH, kW]
        expected = view.reshape(-1, view[0, 0, 0, 0].numel())  # rows (b,t,h,w), cols (c,i,j,l)
        assert cols.shape == expected.shape, (kernel, stride, padding, dilation)
        torch.testing.assert_close(cols, expected, rtol=0, atol=0)


@pytest.mark.points(3)
def test_conv3d_matches_f_conv3d(impl):
    g = torch.Generator().manual_seed(103)
    x = torch.randn(2, 3, 7, 9, 11, generator=g, dtype=torch.float64)
    for kernel, stride, padding, dilation in GEOMETRIES:
        weight = torch.randn(5, 3, *kernel, generator=g, dtype=torch.float64)
        bias = torch.randn(5, generator=g, dtype=torch.float64)
        for b in (None, bias):
            y = impl.conv3d(x, weight, b, stride, padding, dilation)
            ref = F.conv3d(x, weight, b, stride, padding, dilation)
            assert y.shape == ref.shape, (kernel, stride, padding, dilation)
            torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)

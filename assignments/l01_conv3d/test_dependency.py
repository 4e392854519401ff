"""Task 01.4: the frame dependency matrix against autograd's Jacobian of a real conv stack."""

import pytest
import torch
from torch import nn

from vdlite.conv3d import CausalConv3d, Conv3d


def temporal_stack(kernel_sizes, causal, dilations) -> nn.Sequential:
    """Random zero-padded (k, 1, 1) convs, 2 -> 2 channels: causal, or centred ('same')."""
    layers = [
        CausalConv3d(2, 2, (k, 1, 1), dilation=(d, 1, 1)) if c
        else Conv3d(2, 2, (k, 1, 1), padding=(d * (k // 2), 0, 0), dilation=(d, 1, 1))
        for k, c, d in zip(kernel_sizes, causal, dilations, strict=True)
    ]
    return nn.Sequential(*layers).double()


def jacobian_pattern(stack: nn.Module, num_frames: int) -> torch.Tensor:
    """[T, T] bool: d(output frame t) / d(input frame τ) has a nonzero entry."""
    x = torch.randn(1, 2, num_frames, 1, 1, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(stack, x)  # [1, 2, T, 1, 1, 1, 2, T, 1, 1]
    return jac.reshape(2, num_frames, 2, num_frames).abs().sum(dim=(0, 2)) > 0


def check(impl, num_frames, kernel_sizes, causal, dilations=None):
    dep = impl.dependency_matrix(num_frames, kernel_sizes, causal, dilations)
    stack = temporal_stack(kernel_sizes, causal, dilations or [1] * len(kernel_sizes))
    expected = jacobian_pattern(stack, num_frames)
    assert dep.dtype == torch.bool and dep.shape == (num_frames, num_frames)
    assert torch.equal(dep, expected), f"got\n{dep.int()}\nexpected (autograd)\n{expected.int()}"


@pytest.mark.points(2)
def test_dependency_of_a_causal_stack(impl):
    torch.manual_seed(107)
    check(impl, 9, [3, 2, 4], [True, True, True])
    check(impl, 5, [3], [True])


@pytest.mark.points(2)
def test_dependency_of_a_mixed_dilated_stack(impl):
    torch.manual_seed(108)
    check(impl, 11, [3, 3, 2, 5], [True, False, True, False], [1, 2, 3, 1])
    check(impl, 7, [5, 3], [False, False])

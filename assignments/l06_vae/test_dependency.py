"""Task 06.5: which frames a stack of strided causal convs reads, against the nonzero pattern
of autograd's Jacobian of a real stack of vdlite StreamingCausalConv3d layers."""

import pytest
import torch
from torch import nn

from vdlite.vae import StreamingCausalConv3d


def jacobian_pattern(kernel_sizes, strides, frames: int, mode: str) -> torch.Tensor:
    """[T_out, frames] bool: output frame t has a nonzero derivative by input frame τ."""
    stack = nn.Sequential(*[StreamingCausalConv3d(2, 2, (k, 1, 1), stride=(s, 1, 1), pad_mode=mode)
                            for k, s in zip(kernel_sizes, strides, strict=True)]).double()
    x = torch.randn(1, 2, frames, 1, 1, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(stack, x)  # [1, 2, T_out, 1, 1, 1, 2, T, 1, 1]
    return jac.reshape(2, -1, 2, frames).abs().sum(dim=(0, 2)) > 0


def check(impl, frames, kernel_sizes, strides, mode="zeros"):
    dep = impl.latent_dependency(frames, kernel_sizes, strides)
    expected = jacobian_pattern(kernel_sizes, strides, frames, mode)
    assert isinstance(dep, torch.Tensor) and dep.dtype == torch.bool, "a bool tensor, please"
    assert dep.shape == expected.shape, (
        f"shape {tuple(dep.shape)}, expected {tuple(expected.shape)}")
    assert torch.equal(dep, expected), f"got\n{dep.int()}\nexpected (autograd)\n{expected.int()}"


@pytest.mark.points(2)
def test_strided_stacks_against_autograd(impl):
    torch.manual_seed(650)
    check(impl, 9, [3, 3], [2, 1])
    check(impl, 13, [3, 3, 3, 3], [1, 2, 1, 2], "replicate")
    check(impl, 11, [4, 2, 3], [2, 2, 1])
    check(impl, 10, [1, 3], [2, 3])
    check(impl, 6, [2], [1])


@pytest.mark.points(1)
def test_an_encoders_time_axis(impl):
    """The time axis of a CausalVAE encoder (spatial factor 4): a conv in, a ResBlock (two
    convs) and a stride-2 conv per stage, a last ResBlock and a conv out, all kT = 3."""
    torch.manual_seed(651)
    kernels = [3] * 10
    strides = [1, 1, 1, 2, 1, 1, 2, 1, 1, 1]
    check(impl, 17, kernels, strides, "replicate")

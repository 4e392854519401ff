"""kernels: the course's Triton kernels (fused temporal attention, flash spatial attention,
implicit-GEMM causal conv3d) with autograd wrappers and benchmarks.

They run on CUDA tensors, or on the CPU through Triton's interpreter: set
``TRITON_INTERPRET=1`` before importing ``kernels`` (Triton reads it when the kernels are
defined). Lesson 04 builds them; ``vdlite.backend`` decides when ``vdlite`` calls them.
"""

from torch import Tensor

from kernels import conv3d as _conv3d
from kernels import spatial_attention as _spatial
from kernels import temporal_attention as _temporal
from kernels.conv3d import conv3d
from kernels.spatial_attention import spatial_attention
from kernels.temporal_attention import temporal_attention

__all__ = ["conv3d", "spatial_attention", "takes_attention", "takes_conv3d",
           "temporal_attention"]


def takes_attention(axis: str, q: Tensor) -> bool:
    """Whether the kernel for ``axis`` ("spatial" or "temporal") takes q's dtype and head dim."""
    module = _spatial if axis == "spatial" else _temporal
    return q.dtype in module.DTYPES and q.shape[-1] in module.HEAD_DIMS


def takes_conv3d(x: Tensor, padding: object, dilation: object, groups: int) -> bool:
    """Whether ``kernels.conv3d`` takes this convolution: a supported dtype, groups 1, no
    dilation, and padding given as numbers (not "same"/"valid")."""
    return (x.dtype in _conv3d.DTYPES and groups == 1 and not isinstance(padding, str)
            and dilation in (1, (1, 1, 1)))

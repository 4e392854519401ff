"""kernels: the course's Triton kernels (fused temporal attention, flash spatial attention,
implicit-GEMM causal conv3d) with autograd wrappers and benchmarks.

They run on CUDA tensors, or on the CPU through Triton's interpreter: set
``TRITON_INTERPRET=1`` before importing ``kernels`` (Triton reads it when the kernels are
defined). Lesson 04 builds them; ``vdlite.backend`` decides when ``vdlite`` calls them.
"""

from torch import Tensor

from kernels import spatial_attention as _spatial
from kernels import temporal_attention as _temporal
from kernels.spatial_attention import spatial_attention
from kernels.temporal_attention import temporal_attention

__all__ = ["spatial_attention", "takes_attention", "temporal_attention"]


def takes_attention(axis: str, q: Tensor) -> bool:
    """Whether the kernel for ``axis`` ("spatial" or "temporal") takes q's dtype and head dim."""
    module = _spatial if axis == "spatial" else _temporal
    return q.dtype in module.DTYPES and q.shape[-1] in module.HEAD_DIMS

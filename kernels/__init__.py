"""kernels: the course's Triton kernels (fused temporal attention, flash spatial attention,
implicit-GEMM causal conv3d) with autograd wrappers and benchmarks.

They run on CUDA tensors, or on the CPU through Triton's interpreter: set
``TRITON_INTERPRET=1`` before importing ``kernels`` (Triton reads it when the kernels are
defined). Lesson 04 builds them.
"""

from kernels.temporal_attention import temporal_attention

__all__ = ["temporal_attention"]

"""kernels: the course's Triton kernels (fused temporal attention, flash spatial attention,
implicit-GEMM causal conv3d) with autograd wrappers and benchmarks.

The kernels arrive with lesson 04; until then this package holds nothing to import.
"""

__all__: list[str] = []

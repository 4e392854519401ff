"""Causal 3D convolution as an implicit GEMM: ``lesson.py``, the kernel to read, ``tuned.py``,
the same maths made fast (``kernels.conv3d``), and ``geometry.py``, the arguments both share."""

"""Spatial (flash) attention: ``lesson.py``, the kernel to read, and ``tuned.py``, the same
maths made fast (``kernels.spatial_attention``)."""

"""Temporal attention: ``lesson.py``, the kernel to read (one sequence a program, plain
launches), and ``tuned.py``, the same maths made fast (``kernels.temporal_attention``)."""

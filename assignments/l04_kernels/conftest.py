"""Task 04.1 runs a Triton kernel: without a GPU, in Triton's interpreter, which Triton picks
when a kernel is *defined*. So TRITON_INTERPRET=1 is set here, before any test imports
student.py (or Triton); pytest loads this file first. (A lesson notebook sets it in its
first cell, for the same reason.)"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

"""Which implementation runs an op: the PyTorch references of ``vdlite`` or the Triton kernels.

``vdlite`` is pure PyTorch and never needs Triton to import. Three ops have a Triton kernel in
the ``kernels`` package (lesson 04): spatial attention, per-position temporal attention and
the 3D convolution. For each call, ``kernels_for(x)`` decides from the ``VDLITE_BACKEND``
environment variable, read at every call so a test or a notebook can switch it:

- unset (the default): the kernels for CUDA tensors when Triton is installed, the references
  otherwise, and the references for shapes a kernel does not take (e.g. head dim 16 in
  spatial attention), so training never stops for want of a kernel;
- ``torch``: the references always (the ground truth, on any device);
- ``triton``: the kernels always, on CUDA tensors or on the CPU through Triton's interpreter
  (``TRITON_INTERPRET=1``); a shape a kernel does not take raises its error instead of
  quietly running the reference.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from torch import Tensor

__all__ = ["BACKENDS", "backend", "kernels_for"]

BACKENDS = ("torch", "triton")


def backend() -> str | None:
    """The backend ``VDLITE_BACKEND`` asks for: "torch", "triton", or None (unset: automatic)."""
    name = os.environ.get("VDLITE_BACKEND", "").strip().lower()
    if not name:
        return None
    if name not in BACKENDS:
        raise ValueError(f"VDLITE_BACKEND must be one of {BACKENDS} or unset, got {name!r}")
    return name


def _kernels(required: bool) -> ModuleType | None:
    try:
        return importlib.import_module("kernels")
    except ImportError as err:
        if required:
            raise RuntimeError(f"VDLITE_BACKEND=triton needs Triton and the course's kernels "
                               f"package, which failed to import: {err}") from err
        return None


def kernels_for(x: Tensor) -> tuple[ModuleType | None, bool]:
    """``(kernels module or None, forced)`` for an op on tensor x.

    None means: run the reference. ``forced`` is True under ``VDLITE_BACKEND=triton``, where
    the caller must not fall back to the reference for a shape the kernel does not take.
    """
    name = backend()
    if name == "torch":
        return None, False
    if name == "triton":
        if not x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
            raise RuntimeError(f"VDLITE_BACKEND=triton runs kernels on CUDA tensors, or on the "
                               f"CPU with TRITON_INTERPRET=1; got a tensor on {x.device}")
        return _kernels(required=True), True
    return (_kernels(required=False) if x.is_cuda else None), False

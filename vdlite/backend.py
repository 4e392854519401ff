"""Which implementation runs an op: the PyTorch references of ``vdlite`` or the Triton kernels.

``vdlite`` is pure PyTorch and never needs Triton to import. Four ops have a Triton kernel in
the ``kernels`` package (lessons 04a–04c): spatial attention, per-position and neighbourhood
temporal attention, and the 3D convolution. This module is the one place that chooses: ``vdlite``
calls ``backend.spatial_attention``, ``backend.temporal_attention``,
``backend.neighbourhood_attention`` and ``backend.conv3d``, which
run the kernel or the reference as the ``VDLITE_BACKEND`` environment variable says (read at
every call, so a test or a notebook can switch it):

- unset (the default): the kernels for CUDA tensors in the dtypes where they are measured to
  make the course's training step faster (``MEASURED_FASTER``: bfloat16), when Triton is
  installed; the references otherwise, and for shapes a kernel does not take (e.g. head dim 16
  in spatial attention), so training never stops for want of a kernel. Measured on an H100
  (``python -m kernels.bench.step``, kernels/BENCHMARKS.md): in float32 every GPU preset's
  step was slower with the kernels than with the references (0.75-0.84x), in bf16 autocast
  faster (U-Net 1.49x, DiT 1.27x with its neighbourhood attention on the reference and 1.48x
  with it on the kernel);
- ``torch``: the references always (the ground truth, on any device);
- ``triton``: the kernels always, on CUDA tensors or on the CPU through Triton's interpreter
  (``TRITON_INTERPRET=1``); a shape a kernel does not take raises its error instead of
  quietly running the reference;
- ``triton-lesson``: as ``triton``, with the lesson kernels (``kernels.lesson``, the readable
  path of each op) in place of the tuned ones.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType

import torch
from torch import Tensor

__all__ = ["BACKENDS", "MEASURED_FASTER", "autocast_operands", "backend", "conv3d", "kernels_for",
           "neighbourhood_attention", "spatial_attention", "temporal_attention"]

BACKENDS = ("torch", "triton", "triton-lesson")
MEASURED_FASTER = (torch.bfloat16,)
"""The dtypes in which the default backend sends a call to a kernel (see the module docstring)."""


def backend() -> str | None:
    """The backend ``VDLITE_BACKEND`` asks for: "torch", "triton", "triton-lesson", or None
    (unset: automatic)."""
    name = os.environ.get("VDLITE_BACKEND", "").strip().lower()
    if not name:
        return None
    if name not in BACKENDS:
        raise ValueError(f"VDLITE_BACKEND must be one of {BACKENDS} or unset, got {name!r}")
    return name


def _kernels(required: bool, module: str = "kernels") -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if required:
            raise RuntimeError(f"VDLITE_BACKEND={backend()} needs Triton and the course's "
                               f"kernels package, which failed to import: {err}") from err
        return None


def kernels_for(x: Tensor) -> tuple[ModuleType | None, bool]:
    """``(kernels module or None, forced)`` for an op on tensor x.

    None means: run the reference. ``forced`` is True under ``VDLITE_BACKEND=triton`` (the
    ``kernels`` module) and ``triton-lesson`` (``kernels.lesson``, the same names), where the
    caller must not fall back to the reference for a shape the kernel does not take.
    """
    name = backend()
    if name == "torch":
        return None, False
    if name in ("triton", "triton-lesson"):
        if not x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
            raise RuntimeError(f"VDLITE_BACKEND={name} runs kernels on CUDA tensors, or on the "
                               f"CPU with TRITON_INTERPRET=1; got a tensor on {x.device}")
        module = "kernels.lesson" if name == "triton-lesson" else "kernels"
        return _kernels(required=True, module=module), True
    return (_kernels(required=False) if x.is_cuda else None), False


def _chosen(x: Tensor, takes: Callable[[ModuleType], bool]) -> ModuleType | None:
    """The kernels module if it runs this call, else None: the kernel runs when the backend
    forces it, or by default when x's dtype is one of MEASURED_FASTER and the kernel `takes`
    the call (head dim, padding, ...)."""
    kernels, forced = kernels_for(x)
    if kernels is not None and (forced or (x.dtype in MEASURED_FASTER and takes(kernels))):
        return kernels
    return None


def spatial_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """``kernels.spatial_attention`` or ``vdlite.attention.spatial_attention`` (same maths):
    q, k, v ``[B, T, S, heads, D]`` -> ``[B, T, S, heads, D]``, attention over S."""
    kernels = _chosen(q, lambda m: m.takes_attention("spatial", q))
    if kernels is not None:
        return kernels.spatial_attention(q, k, v)
    from vdlite import attention
    return attention.spatial_attention(q, k, v)


def temporal_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = False,
                       window: int | None = None) -> Tensor:
    """``kernels.temporal_attention`` or ``vdlite.attention.temporal_attention``: attention
    over T at each of the S positions, with the causal and window masks."""
    kernels = _chosen(q, lambda m: m.takes_attention("temporal", q))
    if kernels is not None:
        return kernels.temporal_attention(q, k, v, causal, window)
    from vdlite import attention
    return attention.temporal_attention(q, k, v, causal, window)


def neighbourhood_attention(q: Tensor, k: Tensor, v: Tensor, hw: tuple[int, int], radius: int,
                            causal: bool = False, window: int | None = None) -> Tensor:
    """``kernels.neighbourhood_attention`` or ``vdlite.attention.neighbourhood_temporal_attention``:
    attention over the (2r+1)^2 positions around each token in every allowed frame.

    By default the kernel runs where the others do (bf16 CUDA tensors of a head dim it takes)."""
    kernels = _chosen(q, lambda m: m.takes_neighbourhood(q, radius))
    if kernels is not None:
        return kernels.neighbourhood_attention(q, k, v, hw, radius, causal, window)
    from vdlite import attention
    return attention.neighbourhood_temporal_attention(q, k, v, hw, radius, causal, window)


def autocast_operands(x: Tensor, weight: Tensor, bias: Tensor | None
                      ) -> tuple[Tensor, Tensor, Tensor | None]:
    """Under ``torch.autocast`` a convolution runs in the autocast dtype, as ``F.conv3d`` does
    (bf16 activations meet float32 weights): x, weight and bias cast to it. Otherwise, and for
    float64 inputs (which autocast leaves alone), unchanged."""
    device = x.device.type
    if not torch.is_autocast_enabled(device) or x.dtype == torch.float64:
        return x, weight, bias
    dtype = torch.get_autocast_dtype(device)
    return x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)


def conv3d(x: Tensor, weight: Tensor, bias: Tensor | None, stride: object, padding: object,
           reference: Callable[[Tensor, Tensor, Tensor | None], Tensor], dilation: object = 1,
           groups: int = 1, causal: bool = False, pad_mode: str = "zeros") -> Tensor:
    """``kernels.conv3d(x, weight, bias, stride, padding, causal, pad_mode, dilation)`` where
    the kernel runs this convolution, else ``reference(x, weight, bias)``: the caller's own
    PyTorch way to compute the same output (its padding, its cache). Under autocast both get
    the operands in the autocast dtype (``autocast_operands``)."""
    x, weight, bias = autocast_operands(x, weight, bias)
    kernels = _chosen(x, lambda m: m.takes_conv3d(x, padding, dilation, groups))
    if kernels is None:
        return reference(x, weight, bias)
    return kernels.conv3d(x, weight, bias, stride, padding, causal, pad_mode, dilation=dilation,
                          groups=groups)

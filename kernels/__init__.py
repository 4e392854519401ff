"""kernels: the course's Triton kernels, each op as a lesson kernel beside its tuned one.

    kernels/runtime.py       what every kernel shares: interpreter set-up, LOG2E, launch, checks
    kernels/temporal/        temporal attention: lesson.py (to read), tuned.py (fast)
    kernels/spatial/         flash spatial attention: lesson.py, tuned.py
    kernels/neighbourhood/   neighbourhood temporal attention: lesson.py, tuned.py
    kernels/conv/            causal implicit-GEMM conv3d: lesson.py, tuned.py, geometry.py
    kernels/bench/           GPU benchmarks: python -m kernels.bench (results in BENCHMARKS.md)

The public functions ``kernels.temporal_attention``, ``kernels.spatial_attention``,
``kernels.neighbourhood_attention`` and ``kernels.conv3d`` run the tuned path;
``kernels.lesson`` has the lesson path under the same names (``VDLITE_BACKEND=triton-lesson``
runs it for every call of ``vdlite``). Both paths have one interface and pass the same tests
against the float64 references in ``vdlite``.

They run on CUDA tensors, or on the CPU through Triton's interpreter: set
``TRITON_INTERPRET=1`` before importing ``kernels`` (and Triton: Triton reads it when the
kernels are defined). Lessons 04a–04c build them; ``vdlite.backend`` decides when ``vdlite`` calls
them.

Neighbourhood temporal attention (the DiT presets' temporal attention: each token attends over
the (2R + 1) x (2R + 1) positions around it in every allowed frame) has the same two paths: the
lesson kernel takes one position a program and walks its neighbours, each a step of temporal
attention with an online softmax; the tuned kernel takes a tile of positions and all their
frames a program and loads the keys and values of the tile's halo once for every query in it.
``python -m kernels.bench.neighbourhood`` times it against FlexAttention and the reference.
On an H100 it passed the bf16 check of that command, and with it the DiT preset's bf16
training step took 121 ms against 141 ms on the reference (``python -m kernels.bench.step``),
so ``vdlite`` calls it by default where it calls the other kernels (``vdlite.backend``).
"""

from torch import Tensor

from kernels.conv.tuned import conv3d
from kernels.neighbourhood.tuned import neighbourhood_attention
from kernels.runtime import DTYPES, HEAD_DIMS
from kernels.spatial.tuned import spatial_attention
from kernels.temporal.tuned import temporal_attention

__all__ = ["conv3d", "neighbourhood_attention", "spatial_attention", "takes_attention",
           "takes_conv3d", "takes_neighbourhood", "temporal_attention"]


def takes_attention(axis: str, q: Tensor) -> bool:
    """Whether the attention kernels (``axis`` "spatial" or "temporal", both paths) take q's
    dtype and head dim."""
    return q.dtype in DTYPES and q.shape[-1] in HEAD_DIMS


def takes_neighbourhood(q: Tensor, radius: int) -> bool:
    """Whether ``neighbourhood_attention`` (both paths) takes q's dtype and head dim and this
    radius (an int >= 0; a radius past the grid is clipped to it)."""
    return (takes_attention("temporal", q) and isinstance(radius, int)
            and not isinstance(radius, bool) and radius >= 0)


def takes_conv3d(x: Tensor, padding: object, dilation: object, groups: int) -> bool:
    """Whether ``kernels.conv3d`` (both paths) takes this convolution: a supported dtype,
    groups 1, no dilation, and padding given as numbers (not "same"/"valid")."""
    return (x.dtype in DTYPES and groups == 1 and not isinstance(padding, str)
            and dilation in (1, (1, 1, 1)))

"""kernels: the course's Triton kernels, each op as a lesson kernel beside its tuned one.

    kernels/runtime.py       what every kernel shares: interpreter set-up, LOG2E, launch, checks
    kernels/temporal/        temporal attention: lesson.py (to read), tuned.py (fast)
    kernels/spatial/         flash spatial attention: lesson.py, tuned.py
    kernels/conv/            causal implicit-GEMM conv3d: lesson.py, tuned.py, geometry.py
    kernels/bench/           GPU benchmarks: python -m kernels.bench (results in BENCHMARKS.md)

The public functions ``kernels.temporal_attention``, ``kernels.spatial_attention`` and
``kernels.conv3d`` run the tuned path; ``kernels.lesson`` has the lesson path under the same
names (``VDLITE_BACKEND=triton-lesson`` runs it for every call of ``vdlite``). Both paths have
one interface and pass the same tests against the float64 references in ``vdlite``.

They run on CUDA tensors, or on the CPU through Triton's interpreter: set
``TRITON_INTERPRET=1`` before importing ``kernels`` (and Triton: Triton reads it when the
kernels are defined). Lessons 04a–04c build them; ``vdlite.backend`` decides when ``vdlite`` calls
them.
"""

from torch import Tensor

from kernels.conv.tuned import conv3d
from kernels.runtime import DTYPES, HEAD_DIMS
from kernels.spatial.tuned import spatial_attention
from kernels.temporal.tuned import temporal_attention

__all__ = ["conv3d", "spatial_attention", "takes_attention", "takes_conv3d",
           "temporal_attention"]


def takes_attention(axis: str, q: Tensor) -> bool:
    """Whether the attention kernels (``axis`` "spatial" or "temporal", both paths) take q's
    dtype and head dim."""
    return q.dtype in DTYPES and q.shape[-1] in HEAD_DIMS


def takes_conv3d(x: Tensor, padding: object, dilation: object, groups: int) -> bool:
    """Whether ``kernels.conv3d`` (both paths) takes this convolution: a supported dtype,
    groups 1, no dilation, and padding given as numbers (not "same"/"valid")."""
    return (x.dtype in DTYPES and groups == 1 and not isinstance(padding, str)
            and dilation in (1, (1, 1, 1)))

"""Helpers every kernel module shares.

Triton's own jit helpers (``tl.cdiv``, ``tl.max``, ``tl.sum``) are fixed in compiled mode when
triton is imported before ``TRITON_INTERPRET=1`` is set (torch imports it early, e.g. in
``torch.utils.flop_counter``), and then cannot run inside an interpreted kernel. These
stand-ins are defined here, in the ``kernels`` package, so they follow the mode the kernels are
defined in; the reductions reuse Triton's combine functions, which the interpreter maps to numpy.
"""

import statistics

import torch
import triton
import triton.language as tl


@triton.jit
def _cdiv(a, b):
    """ceil(a / b) for a >= 0."""
    return (a + b - 1) // b


@triton.jit
def _max(x, axis: tl.constexpr):
    """tl.max(x, axis)."""
    return tl.reduce(x, axis, tl.standard._elementwise_max)


@triton.jit
def _sum(x, axis: tl.constexpr):
    """tl.sum(x, axis) of float32 values."""
    return tl.reduce(x, axis, tl.standard._sum_combine)


def _precision(dtype: torch.dtype) -> str:
    """float32 dots in full precision; half types go to the tensor cores as they are."""
    return "ieee" if dtype == torch.float32 else "tf32"


def timeit(fn, warmup: int = 5, reps: int = 30) -> float:
    """Median CUDA-event time of fn() in ms over reps calls, after warmup calls (benchmarks)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    events = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        events.append((s, e))
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in events)

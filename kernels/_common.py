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
from triton import knobs
from triton.runtime import driver
from triton.runtime.jit import JITFunction


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


def _interpreted() -> bool:
    """True when Triton's interpreter runs this package's kernels (TRITON_INTERPRET=1 set
    before ``kernels`` was imported)."""
    return not isinstance(_cdiv, JITFunction)


FAST_LAUNCH = True  # launch compiled kernels straight through their launcher (see _Launch)


class _Launch:
    """One kernel with its grid and constants, launched with as little host work as possible.

    ``kernel[grid](*args, **constants)`` re-binds all ~40 arguments, recomputes a cache key
    from their values and looks the compiled kernel up on every call: at T = 8 that host work
    cost as much as the kernel itself. A _Launch belongs to a plan whose key fixes everything
    Triton specialises on (dtype, shapes, strides, pointer alignment), so after the first
    launch, through the JIT, it keeps the compiled kernel and calls its launcher directly,
    as the JIT does. Triton's interpreter always takes the ordinary path. Used by the temporal
    attention and conv3d wrappers, whose plans are keyed on all of that."""

    __slots__ = ("kernel", "grid", "constants", "options", "tail", "compiled")

    def __init__(self, kernel, grid, constants: dict, num_warps: int, num_stages: int):
        self.kernel, self.constants = kernel, constants
        self.grid = tuple(grid) + (1,) * (3 - len(grid))  # the launcher takes all three axes
        self.options = {"num_warps": num_warps, "num_stages": num_stages}
        self.tail = None  # the constants' values in signature order (they come last)
        self.compiled = None

    def __call__(self, *args):
        ck = self.compiled
        if ck is None:
            ck = self.kernel[self.grid](*args, **self.constants, **self.options)
            if FAST_LAUNCH and not _interpreted():
                if hasattr(ck, "result"):  # Triton's async compile mode hands back a future
                    ck = ck.result()
                names = self.kernel.arg_names[len(args):]
                if sorted(names) == sorted(self.constants):
                    self.tail = tuple(self.constants[name] for name in names)
                    self.compiled = ck
            return
        device = driver.active.get_current_device()
        stream = driver.active.get_current_stream(device)
        enter, leave = knobs.runtime.launch_enter_hook, knobs.runtime.launch_exit_hook
        if getattr(enter, "calls", enter) or getattr(leave, "calls", leave):  # e.g. a profiler
            meta = ck.launch_metadata(self.grid, stream, *args, *self.tail)
        else:  # no hooks to call (the launcher skips None)
            meta = enter = leave = None
        g = self.grid
        ck.run(g[0], g[1], g[2], stream, ck.function, ck.packed_metadata, meta, enter, leave,
               *args, *self.tail)


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

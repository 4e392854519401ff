"""What every kernel module shares: the interpreter set-up, the constants and the argument checks.

- Interpreter. The kernels run on CUDA tensors, or on the CPU through Triton's interpreter when
  ``TRITON_INTERPRET=1`` was set before ``kernels`` (and Triton) were imported; Triton reads it
  when a kernel is defined. ``interpreted()`` says which mode this package's kernels are in.
- Stand-ins. Triton's own jit helpers (``tl.cdiv``, ``tl.max``, ``tl.sum``) are fixed in
  compiled mode when triton is imported before ``TRITON_INTERPRET=1`` is set (torch imports it
  early, e.g. in ``torch.utils.flop_counter``), and then cannot run inside an interpreted
  kernel. The tuned kernels call ``_cdiv``, ``_max`` and ``_sum`` instead, defined here so that
  they follow the mode this package is defined in; the reductions reuse Triton's combine
  functions, which the interpreter maps to numpy. The lesson kernels call ``tl.max`` and
  ``tl.sum`` themselves, and ``check_device`` says how to set the interpreter up when those
  would fail.
- Constants: ``LOG2E``, once. Both attention kernels work in base 2 (``exp2`` is one
  instruction): scores ``x2 = q.k * LOG2E / sqrt(D)``, and the statistic their forward saves
  for the backward is the base-2 log-sum-exp ``lse2 = log2(sum_u exp2(x2_u))``.
- Launching: ``_Launch`` (a tuned path's launch with no per-call host work), ``precision``,
  ``sm_count`` (read from the device).
- Checks: the attention and device checks both paths of an op make before launching.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton import knobs
from triton.runtime import driver
from triton.runtime.jit import JITFunction

from vdlite.attention import check_qkv

LOG2E = tl.constexpr(1.4426950408889634)  # log2(e); LOG2E.value on the host
DTYPES = (torch.float16, torch.bfloat16, torch.float32)  # what every kernel takes
HEAD_DIMS = (16, 32, 64, 128)  # the attention kernels' head sizes D (tl.arange: powers of two)


# ----------------------------------------------------------------------------- interpreter


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


def interpreted() -> bool:
    """True when Triton's interpreter runs this package's kernels."""
    return _interpreted()


def check_device(x: Tensor, name: str) -> None:
    """A clear error where ``name``'s kernels cannot run x: CPU tensors without the interpreter,
    or an interpreter whose ``tl.max``/``tl.sum`` Triton fixed in compiled mode."""
    if x.device.type != "cuda" and not _interpreted():
        raise RuntimeError(
            f"{name} runs Triton kernels and got {x.device.type} tensors: use CUDA tensors, or "
            "set TRITON_INTERPRET=1 before importing kernels to run them on the CPU through "
            "Triton's interpreter (slow; for tests and lessons)"
        )
    if _interpreted() and isinstance(tl.max, JITFunction) and ".lesson" in name:
        raise RuntimeError(
            f"{name} calls tl.max and tl.sum, which Triton fixed in compiled mode because triton "
            "was imported before TRITON_INTERPRET=1 was set: set it first, before importing "
            "torch.utils.flop_counter, triton or kernels"
        )


# ----------------------------------------------------------------------------- launching


FAST_LAUNCH = True  # launch compiled kernels straight through their launcher (see _Launch)


class _Launch:
    """One kernel with its grid and constants, launched with as little host work as possible.

    ``kernel[grid](*args, **constants)`` re-binds all ~40 arguments, recomputes a cache key
    from their values and looks the compiled kernel up on every call: at T = 8 that host work
    cost as much as the kernel itself. A _Launch belongs to a plan whose key fixes everything
    Triton specialises on (dtype, shapes, strides, pointer alignment), so after the first
    launch, through the JIT, it keeps the compiled kernel and calls its launcher directly,
    as the JIT does. Triton's interpreter always takes the ordinary path. Used by the tuned
    temporal attention and conv3d wrappers, whose plans are keyed on all of that."""

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


def precision(dtype: torch.dtype) -> str:
    """float32 dots in full precision; half types go to the tensor cores as they are."""
    return "ieee" if dtype == torch.float32 else "tf32"


@functools.cache
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def sm_count(device: torch.device) -> int:
    """The number of streaming multiprocessors of a CUDA device, as the device reports it."""
    return _sm_count(device.index if device.index is not None else torch.cuda.current_device())


# ----------------------------------------------------------------------------- checks


def check_attention(name: str, q: Tensor, k: Tensor, v: Tensor) -> None:
    """Clear errors before launching an attention kernel: shapes, dtypes, devices, head size."""
    check_qkv(q, k, v)  # the reference's checks: rank, shapes, dtype, device, D >= 1
    if q.dtype not in DTYPES:
        reference = name.split(".")[-1]
        raise ValueError(
            f"{name} supports float16, bfloat16 and float32, got {q.dtype} "
            f"(vdlite.attention.{reference} computes in any float dtype)"
        )
    if q.shape[-1] not in HEAD_DIMS:
        raise ValueError(
            f"{name} supports head sizes D in {HEAD_DIMS}, "
            f"got D={q.shape[-1]} (shape {tuple(q.shape)} [B, T, S, heads, D])"
        )


def check_mask(causal: bool, window: int | None) -> None:
    """Temporal attention's mask arguments: causal a bool, window None or an int >= 0."""
    if not isinstance(causal, bool):
        raise ValueError(f"causal must be a bool, got causal={causal!r}")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                               or window < 0):
        raise ValueError(f"window must be None or an int >= 0, got window={window!r}")


def check_neighbourhood(q: Tensor, hw: object, radius: object) -> tuple[int, int]:
    """Neighbourhood attention's grid and radius: ``hw`` two ints (H, W) >= 1 with H*W = S of
    q ``[B, T, S, heads, D]`` (0 only for an empty grid), radius an int >= 0. Returns (H, W)."""
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"radius must be an int >= 0, got radius={radius!r}")
    try:
        H, W = (int(n) for n in hw)
    except (TypeError, ValueError):
        raise ValueError(f"hw must be two ints (H, W), got hw={hw!r}") from None
    if H < 0 or W < 0 or H * W != q.shape[2]:
        raise ValueError(f"hw = (H, W) = {(H, W)} must have H*W = S = "
                         f"{q.shape[2]} for q of shape {tuple(q.shape)} [B, T, S, heads, D]")
    return H, W

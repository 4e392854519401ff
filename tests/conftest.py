"""Shared set-up of the test suite: Triton's interpreter, and the oracle helpers of the kernel
tests.

Without a GPU the kernels run in Triton's interpreter, which Triton picks when a kernel is
defined: ``TRITON_INTERPRET=1`` is set here (unless the caller set it), before any test module
imports ``kernels`` or Triton (pytest loads this file first). The interpreter runs one program
at a time, so sizes are tiny, and it computes bfloat16 wrongly: bfloat16 is tested on CUDA.

Oracle: the float64 reference on the same values (the kernel's inputs upcast). Error: relative
Frobenius error ``||x - ref|| / ||ref||``; where a reference is exactly zero (a softmax over
one frame or token has no gradient in q or k) the largest absolute entry. Tolerances
(measured errors in brackets): float32 1e-5 [~3e-7: full-precision dots, float32
accumulation]; float16 4e-3 [~5e-4: P and dS, outputs and gradients rounded to float16];
bfloat16 3e-2.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}
ZERO_TOL = {torch.float32: 1e-5, torch.float16: 1e-3, torch.bfloat16: 1e-2}
HALF = [pytest.param(torch.float32, id="fp32"), pytest.param(torch.float16, id="fp16")]
PATHS = ("tuned", "lesson")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def kernels_path(name: str):
    """The module whose ``temporal_attention``, ``spatial_attention`` and ``conv3d`` are the
    path ``name``: ``kernels`` (tuned) or ``kernels.lesson``."""
    import kernels
    import kernels.lesson

    return kernels.lesson if name == "lesson" else kernels


@pytest.fixture(params=PATHS)
def path(request):
    """Each kernel test runs on both paths: the tuned kernels and the lesson kernels."""
    return kernels_path(request.param)


def error(x: torch.Tensor, ref: torch.Tensor) -> float:
    """Relative Frobenius error of x against a float64 reference; absolute where ref == 0."""
    diff = x.detach().double().cpu() - ref.detach().cpu()
    norm = ref.detach().cpu().norm()
    return diff.abs().max().item() if norm == 0 else (diff.norm() / norm).item()


def assert_close(x: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype, what: str) -> None:
    """x within the dtype's tolerance of the float64 reference (ZERO_TOL where ref is 0)."""
    tol = ZERO_TOL[dtype] if ref.norm() == 0 else TOL[dtype]
    assert error(x, ref) <= tol, f"{what}: error {error(x, ref):.2e} > {tol:.0e}"


def tokens(shape, dtype, seed=0) -> list[torch.Tensor]:
    """q, k, v ``[B, T, S, heads, D]`` of standard normals, seeded, on DEVICE."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g).to(dtype).to(DEVICE) for _ in range(3)]


def grads_against_reference(fn, reference, inputs, grad=None, **kwargs):
    """(out, ref, grads, ref_grads): fn and the float64 reference on the same values, and the
    gradients of each input (None where an input is None) under one upstream gradient."""
    leaves = [None if x is None else x.detach().requires_grad_() for x in inputs]
    out = fn(*leaves, **kwargs)
    if grad is None:
        g = torch.Generator().manual_seed(1)
        grad = torch.randn(out.shape, generator=g).to(out.dtype).to(out.device)
    out.backward(grad)
    leaves64 = [None if x is None else x.detach().double().requires_grad_() for x in inputs]
    ref = reference(*leaves64, **kwargs)
    ref.backward(grad.double())
    return (out, ref, [None if x is None else x.grad for x in leaves],
            [None if x is None else x.grad for x in leaves64])


def assert_paths_agree(tuned, lesson, inputs, tol=1e-6, **kwargs):
    """The tuned and the lesson function give the same output and input gradients, to float32
    rounding (the same sums in another order), under one upstream gradient."""
    results = []
    for fn in (tuned, lesson):
        leaves = [x.detach().requires_grad_() for x in inputs]
        out = fn(*leaves, **kwargs)
        g = torch.Generator().manual_seed(1)
        out.backward(torch.randn(out.shape, generator=g).to(out.dtype).to(out.device))
        results.append([out] + [x.grad for x in leaves])
    for name, a, b in zip(["out"] + [f"grad {i}" for i in range(len(inputs))], *results,
                          strict=True):
        diff = error(a, b.double())
        assert diff <= tol, f"{name}: tuned and lesson differ by {diff:.1e}"

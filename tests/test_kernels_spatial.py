"""Tests for kernels.spatial_attention: flash spatial attention in Triton, forward and backward.

Oracle: ``vdlite.attention.spatial_attention`` in float64 on the same values (the kernel's
inputs upcast), for the output and for dq, dk, dv under a random upstream gradient. Error:
relative Frobenius error ``||x - ref|| / ||ref||``; where a reference gradient is exactly zero
(S = 1: a softmax over one token has no gradient in q or k) the largest absolute entry.
Tolerances (measured errors in brackets): float32 1e-5 [3e-7: full-precision dots, float32
accumulation]; float16 4e-3 [3e-4: P and dS are rounded to float16 before their dots, as in
flash attention]; bfloat16 (CUDA only) 3e-2.

Shapes are odd on purpose: S = 1, 7, 37, 100 against the interpreter's 16-row blocks (tails
masked, several key and query blocks), T = 1 and 3, several heads, D = 32, 64, 128; unequal
query and key blocks, so that the two are never confused; q, k, v as the strided views
``qkv.unbind(3)``.

Without a GPU the kernels run in Triton's interpreter, which Triton picks when a kernel is
defined: ``TRITON_INTERPRET=1`` is set here (unless the caller set it), before ``kernels`` is
imported (see tests/test_kernels_temporal.py). The interpreter runs one program at a time, so
sizes are tiny. bfloat16 is tested on CUDA only: the interpreter computes bfloat16 wrongly.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import importlib  # noqa: E402

import pytest  # noqa: E402

from kernels.spatial_attention import spatial_attention  # noqa: E402
from vdlite.attention import spatial_attention as reference  # noqa: E402

module = importlib.import_module("kernels.spatial_attention")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}
ZERO_TOL = {torch.float32: 1e-5, torch.float16: 1e-3, torch.bfloat16: 1e-2}
SHAPES = [  # (B, T, S, heads, D)
    (2, 1, 1, 3, 32),
    (1, 3, 7, 2, 32),
    (1, 1, 37, 3, 64),
    (1, 1, 100, 1, 128),
    (2, 3, 37, 2, 32),
]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def error(x, ref):
    """Relative Frobenius error of x against a float64 reference; absolute where ref == 0."""
    diff = x.double() - ref
    return diff.abs().max().item() if ref.norm() == 0 else (diff.norm() / ref.norm()).item()


def assert_close(x, ref, dtype, what):
    tol = ZERO_TOL[dtype] if ref.norm() == 0 else TOL[dtype]
    assert error(x, ref) <= tol, f"{what}: error {error(x, ref):.2e} > {tol:.0e}"


def check(q, k, v):
    """Kernel against the float64 reference: output, and dq, dk, dv of a random gradient."""
    g = torch.Generator().manual_seed(1)
    grad = torch.randn(q.shape, generator=g).to(q.dtype).to(q.device)
    leaves = [x.detach().requires_grad_() for x in (q, k, v)]
    out = spatial_attention(*leaves)
    out.backward(grad)
    leaves64 = [x.detach().double().requires_grad_() for x in (q, k, v)]
    ref = reference(*leaves64)
    ref.backward(grad.double())
    assert out.shape == q.shape and out.dtype == q.dtype and out.is_contiguous()
    assert_close(out, ref, q.dtype, "out")
    for name, x, r in zip(("dq", "dk", "dv"), leaves, leaves64, strict=True):
        assert x.grad.shape == q.shape and x.grad.dtype == q.dtype
        assert_close(x.grad, r.grad, q.dtype, name)


def tokens(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g).to(dtype).to(DEVICE) for _ in range(3)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_reference(shape, dtype):
    check(*tokens(shape, dtype))


@pytest.mark.parametrize("block_m, block_n", [(32, 16), (16, 32)])
def test_unequal_blocks(monkeypatch, block_m, block_n):
    """Query blocks of BLOCK_M rows and key blocks of BLOCK_N: a swap of the two would show."""
    monkeypatch.setattr(module, "_config", lambda D, dtype, kernel: (block_m, block_n, 4, 1))
    check(*tokens((1, 2, 37, 2, 32), torch.float32))


def test_sharp_softmax():
    """Large scores (|x| ~ 100): the online softmax's running max keeps exp2 in range."""
    q, k, v = tokens((1, 1, 37, 1, 32), torch.float32)
    check(q * 10, k * 10, v)


@pytest.mark.parametrize("D", [64, 128])
def test_fused_qkv_views(D):
    """q, k, v as no-copy views of one [B, T, S, 3, heads, D] projection, gradient into it."""
    g = torch.Generator().manual_seed(2)
    qkv = torch.randn(1, 2, 21, 3, 2, D, generator=g).to(DEVICE)
    q, k, v = qkv.unbind(3)
    assert q.stride(2) == 3 * 2 * D and not q.is_contiguous()
    check(q, k, v)


def test_strided_upstream_gradient():
    """dO arrives with any strides: out.sum() gives an expanded (stride-0) gradient."""
    q, k, v = [x.requires_grad_() for x in tokens((1, 2, 19, 2, 32), torch.float32)]
    spatial_attention(q, k, v).sum().backward()
    leaves64 = [x.detach().double().requires_grad_() for x in (q, k, v)]
    reference(*leaves64).sum().backward()
    for name, x, r in zip(("dq", "dk", "dv"), (q, k, v), leaves64, strict=True):
        assert_close(x.grad, r.grad, torch.float32, name)


def test_empty_frames():
    q, k, v = [x.requires_grad_() for x in tokens((2, 0, 5, 3, 32), torch.float32)]
    out = spatial_attention(q, k, v)
    out.sum().backward()
    assert out.shape == (2, 0, 5, 3, 32) and q.grad.shape == q.shape


@needs_cuda
@pytest.mark.parametrize("shape", [(1, 3, 4096, 2, 64), (2, 2, 1000, 3, 128), (1, 2, 77, 4, 32)],
                         ids=lambda s: "x".join(map(str, s)))
def test_bfloat16_on_cuda(shape):
    check(*tokens(shape, torch.bfloat16))


def bad_inputs():
    """(name, q, k, v, error match): each must raise ValueError before launching."""
    q = torch.randn(1, 2, 3, 1, 32)
    return [
        ("rank", q[0], q[0], q[0], "must be 5-D"),
        ("shape", q, q[:, :, :2], q, "must have the shape of q"),
        ("float64", q.double(), q.double(), q.double(), "supports float16, bfloat16 and"),
        ("int", q.long(), q.long(), q.long(), "must be float16, bfloat16, float32"),
        ("dtypes", q, q.half(), q, "must have the dtype of q"),
        ("devices", q, q.to("meta"), q, "must be on the device of q"),
        ("D=24", *[torch.randn(1, 2, 3, 1, 24)] * 3, r"head sizes D in \(16, 32, 64, 128\)"),
        ("D=8", *[torch.randn(1, 2, 3, 1, 8)] * 3, "got D=8"),
    ]


@pytest.mark.parametrize(
    "q, k, v, match", [pytest.param(*case[1:], id=case[0]) for case in bad_inputs()]
)
def test_clear_errors(q, k, v, match):
    with pytest.raises(ValueError, match=match):
        spatial_attention(q, k, v)


def test_cpu_without_interpreter_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(module, "_interpreted", lambda: False)
    q = torch.randn(1, 2, 3, 1, 32)
    with pytest.raises(RuntimeError, match="use CUDA tensors, or set TRITON_INTERPRET=1"):
        spatial_attention(q, q, q)

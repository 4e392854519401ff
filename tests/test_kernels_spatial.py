"""Tests for flash spatial attention in Triton, both paths: the tuned
``kernels.spatial_attention`` and the lesson ``kernels.lesson.spatial_attention``, forward and
backward.

Oracle: ``vdlite.attention.spatial_attention`` in float64 (tests/conftest.py has the helpers,
the tolerances and the interpreter set-up), for the output and for dq, dk, dv under a random
upstream gradient; and the two paths against each other. Shapes are odd on purpose: S = 1, 7,
37, 100 against the interpreter's 16-row blocks (tails masked, several key and query blocks),
T = 1 and 3, several heads, D = 32, 64, 128; unequal query and key blocks in the tuned path,
so that the two are never confused; q, k, v as the strided views ``qkv.unbind(3)``.
"""

import importlib

import pytest
import torch
from conftest import (
    DEVICE,
    HALF,
    assert_close,
    assert_paths_agree,
    error,
    grads_against_reference,
    needs_cuda,
    tokens,
)

import kernels
import kernels.lesson
from vdlite.attention import spatial_attention as reference

module = importlib.import_module("kernels.spatial.tuned")
SHAPES = [  # (B, T, S, heads, D)
    (2, 1, 1, 3, 32),
    (1, 3, 7, 2, 32),
    (1, 1, 37, 3, 64),
    (1, 1, 100, 1, 128),
    (2, 3, 37, 2, 32),
]


def check(path, q, k, v):
    """One path against the float64 reference: output, and dq, dk, dv of a random gradient."""
    out, ref, grads, ref_grads = grads_against_reference(path.spatial_attention, reference,
                                                         (q, k, v))
    assert out.shape == q.shape and out.dtype == q.dtype and out.is_contiguous()
    assert_close(out, ref, q.dtype, "out")
    for name, x, r in zip(("dq", "dk", "dv"), grads, ref_grads, strict=True):
        assert x.shape == q.shape and x.dtype == q.dtype
        assert_close(x, r, q.dtype, name)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_reference(path, shape, dtype):
    check(path, *tokens(shape, dtype))


def test_tuned_equals_lesson():
    """The two paths agree with each other, output and gradients (float32, to rounding)."""
    q, k, v = torch.randn(1, 2, 41, 3, 2, 32, generator=torch.Generator().manual_seed(4)
                          ).to(DEVICE).unbind(3)
    assert_paths_agree(kernels.spatial_attention, kernels.lesson.spatial_attention, (q, k, v))


@pytest.mark.parametrize("block_m, block_n", [(32, 16), (16, 32)])
def test_unequal_blocks(monkeypatch, block_m, block_n):
    """Tuned: query blocks of BLOCK_M rows and key blocks of BLOCK_N: a swap would show."""
    monkeypatch.setattr(module, "_config", lambda D, dtype, kernel: (block_m, block_n, 4, 1))
    check(kernels, *tokens((1, 2, 37, 2, 32), torch.float32))


def test_sharp_softmax(path):
    """Large scores (|x| ~ 100): the online softmax's running max keeps exp2 in range. Scores
    that large carry a float32 rounding of ~1e-5 into exp2, so the bound is 3e-5."""
    q, k, v = tokens((1, 1, 37, 1, 32), torch.float32)
    out, ref, grads, ref_grads = grads_against_reference(path.spatial_attention, reference,
                                                         (q * 10, k * 10, v))
    for name, x, r in zip(("out", "dq", "dk", "dv"), [out, *grads], [ref, *ref_grads],
                          strict=True):
        assert error(x, r) <= 3e-5, name


@pytest.mark.parametrize("D", [64, 128])
def test_fused_qkv_views(path, D):
    """q, k, v as no-copy views of one [B, T, S, 3, heads, D] projection, gradient into it."""
    g = torch.Generator().manual_seed(2)
    qkv = torch.randn(1, 2, 21, 3, 2, D, generator=g).to(DEVICE)
    q, k, v = qkv.unbind(3)
    assert q.stride(2) == 3 * 2 * D and not q.is_contiguous()
    check(path, q, k, v)


def test_strided_upstream_gradient(path):
    """dO arrives with any strides: out.sum() gives an expanded (stride-0) gradient."""
    q, k, v = [x.requires_grad_() for x in tokens((1, 2, 19, 2, 32), torch.float32)]
    path.spatial_attention(q, k, v).sum().backward()
    leaves64 = [x.detach().double().requires_grad_() for x in (q, k, v)]
    reference(*leaves64).sum().backward()
    for name, x, r in zip(("dq", "dk", "dv"), (q, k, v), leaves64, strict=True):
        assert_close(x.grad, r.grad, torch.float32, name)


def test_empty_frames(path):
    q, k, v = [x.requires_grad_() for x in tokens((2, 0, 5, 3, 32), torch.float32)]
    out = path.spatial_attention(q, k, v)
    out.sum().backward()
    assert out.shape == (2, 0, 5, 3, 32) and q.grad.shape == q.shape


@needs_cuda
@pytest.mark.parametrize("shape", [(1, 3, 4096, 2, 64), (2, 2, 1000, 3, 128), (1, 2, 77, 4, 32)],
                         ids=lambda s: "x".join(map(str, s)))
def test_bfloat16_on_cuda(path, shape):
    check(path, *tokens(shape, torch.bfloat16))


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
def test_clear_errors(path, q, k, v, match):
    with pytest.raises(ValueError, match=match):
        path.spatial_attention(q, k, v)


def test_cpu_without_interpreter_is_a_clear_error(path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("kernels.runtime"), "_interpreted", lambda: False)
    q = torch.randn(1, 2, 3, 1, 32)
    with pytest.raises(RuntimeError, match="use CUDA tensors, or set TRITON_INTERPRET=1"):
        path.spatial_attention(q, q, q)

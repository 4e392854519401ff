"""Tests for temporal attention in Triton, both paths: the tuned ``kernels.temporal_attention``
and the lesson ``kernels.lesson.temporal_attention``, forward and backward.

Oracle: ``vdlite.attention.temporal_attention`` in float64 (tests/conftest.py has the helpers,
the tolerances and the interpreter set-up), for the output and for dq, dk, dv under a random
upstream gradient; and the two paths against each other. Shapes are odd on purpose: T = 1, 2,
5, 7, 8 (several positions packed into one 16-row frame block in the tuned path), 13 (padded
to 16) and 70 (two 64-frame blocks in the tuned path: online softmax, skipped key blocks,
atomic dq); S not a multiple of a block of positions; q, k, v as the strided views
``qkv.unbind(3)``; every mask.
"""

import importlib
import os
import subprocess
import sys

import pytest
import torch
from conftest import (
    DEVICE,
    assert_close,
    assert_paths_agree,
    grads_against_reference,
    needs_cuda,
    tokens,
)

import kernels
import kernels.lesson
from vdlite.attention import temporal_attention as reference

MASKS = [(causal, window) for causal in (False, True) for window in (None, 0, 1, 3, 100)]
SHAPES = [  # (B, T, S, heads, D)
    (2, 1, 5, 3, 16),
    (1, 7, 9, 2, 32),
    (2, 13, 5, 3, 16),
]
MODULE = importlib.import_module("kernels.temporal.tuned")


def check(path, q, k, v, causal, window):
    """One path against the float64 reference: output and dq, dk, dv, shapes and dtypes."""
    out, ref, grads, ref_grads = grads_against_reference(
        path.temporal_attention, reference, (q, k, v), causal=causal, window=window)
    assert out.shape == q.shape and out.dtype == q.dtype and out.is_contiguous()
    assert_close(out, ref, q.dtype, "out")
    for name, x, r in zip(("dq", "dk", "dv"), grads, ref_grads, strict=True):
        assert x.shape == q.shape and x.dtype == q.dtype
        assert_close(x, r, q.dtype, name)


@pytest.mark.parametrize("causal, window", MASKS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_reference(path, shape, causal, window):
    check(path, *tokens(shape, torch.float32), causal, window)


@pytest.mark.parametrize("causal, window", [(False, None), (True, None), (False, 1), (True, 3)])
def test_half_precision_matches_reference(path, causal, window):
    check(path, *tokens((2, 13, 5, 3, 16), torch.float16), causal, window)


@pytest.mark.parametrize("causal, window", [(False, None), (True, None), (False, 1), (True, 2)])
@pytest.mark.parametrize("T", [2, 5, 8])
def test_packed_short_clips(T, causal, window):
    """Tuned: for T <= 8, 16 // T positions share one 16-row frame block, their cross terms
    masked (the lesson path has one sequence per program: the tests above cover it)."""
    check(kernels, *tokens((2, T, 11, 3, 16), torch.float32), causal, window)


@pytest.mark.parametrize("causal, window", [(False, None), (True, None), (False, 3),
                                            (True, 5), (False, 100)])
def test_long_clip_two_frame_blocks(path, causal, window):
    """T = 70 > 64: the tuned path loops over key blocks (online softmax, atomic dq); the
    lesson path pads to one 128-row tile."""
    check(path, *tokens((1, 70, 3, 1, 16), torch.float32), causal, window)


@pytest.mark.parametrize("D", [64, 128])
def test_fused_qkv_views(path, D):
    """q, k, v as no-copy views of one [B, T, S, 3, heads, D] projection, gradient into it."""
    g = torch.Generator().manual_seed(2)
    qkv = torch.randn(2, 7, 5, 3, 3, D, generator=g).to(DEVICE)
    q, k, v = qkv.unbind(3)
    assert q.stride(2) == 3 * 3 * D and not q.is_contiguous()
    check(path, q, k, v, causal=True, window=2)


@pytest.mark.parametrize("causal, window", [(False, None), (True, 2)])
def test_tuned_equals_lesson(causal, window):
    """The two paths agree with each other, output and gradients, on strided views (float32:
    the same sums in another order, so to rounding)."""
    g = torch.Generator().manual_seed(4)
    q, k, v = torch.randn(2, 9, 6, 3, 2, 32, generator=g).to(DEVICE).unbind(3)
    assert_paths_agree(kernels.temporal_attention, kernels.lesson.temporal_attention, (q, k, v),
                       causal=causal, window=window)


def test_strided_upstream_gradient(path):
    """dO arrives with any strides: out.sum() gives an expanded (stride-0) gradient."""
    q, k, v = [x.requires_grad_() for x in tokens((1, 7, 5, 2, 16), torch.float32)]
    path.temporal_attention(q, k, v, causal=True).sum().backward()
    leaves64 = [x.detach().double().requires_grad_() for x in (q, k, v)]
    reference(*leaves64, causal=True).sum().backward()
    for name, x, r in zip(("dq", "dk", "dv"), (q, k, v), leaves64, strict=True):
        assert_close(x.grad, r.grad, torch.float32, name)


def test_empty_positions(path):
    q, k, v = [x.requires_grad_() for x in tokens((2, 5, 0, 3, 16), torch.float32)]
    out = path.temporal_attention(q, k, v)
    out.sum().backward()
    assert out.shape == (2, 5, 0, 3, 16) and q.grad.shape == q.shape


@needs_cuda
@pytest.mark.parametrize("causal, window", MASKS)
def test_bfloat16_on_cuda(path, causal, window):
    check(path, *tokens((2, 16, 37, 3, 64), torch.bfloat16), causal, window)


def bad_inputs():
    """(name, q, k, v, kwargs, error match): each must raise ValueError before launching."""
    q = torch.randn(1, 3, 2, 1, 16)
    return [
        ("rank", q[0], q[0], q[0], {}, "must be 5-D"),
        ("shape", q, q[:, :2], q, {}, "must have the shape of q"),
        ("float64", q.double(), q.double(), q.double(), {}, "supports float16, bfloat16 and"),
        ("int", q.long(), q.long(), q.long(), {}, "must be float16, bfloat16, float32"),
        ("dtypes", q, q.half(), q, {}, "must have the dtype of q"),
        ("devices", q, q.to("meta"), q, {}, "must be on the device of q"),
        ("D=24", *[torch.randn(1, 3, 2, 1, 24)] * 3, {}, r"head sizes D in \(16, 32, 64, 128\)"),
        ("D=8", *[torch.randn(1, 3, 2, 1, 8)] * 3, {}, "got D=8"),
        ("window<0", q, q, q, {"window": -1}, "window must be None or an int >= 0"),
        ("window float", q, q, q, {"window": 1.5}, "window must be None or an int >= 0"),
        ("window bool", q, q, q, {"window": True}, "window must be None or an int >= 0"),
        ("causal", q, q, q, {"causal": "yes"}, "causal must be a bool"),
    ]


@pytest.mark.parametrize(
    "q, k, v, kwargs, match", [pytest.param(*case[1:], id=case[0]) for case in bad_inputs()]
)
def test_clear_errors(path, q, k, v, kwargs, match):
    with pytest.raises(ValueError, match=match):
        path.temporal_attention(q, k, v, **kwargs)


def test_tuned_batch_limit_is_a_clear_error():
    """The tuned grid puts B on CUDA's z axis (65,535 at most); the lesson's grid has no limit."""
    q = torch.randn(65536, 1, 1, 1, 16)
    with pytest.raises(ValueError, match="B <= 65535"):
        kernels.temporal_attention(q, q, q)


def test_cpu_without_interpreter_is_a_clear_error(path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("kernels.runtime"), "_interpreted", lambda: False)
    monkeypatch.setattr(MODULE, "_PLANS", {})
    q = torch.randn(1, 3, 2, 1, 16)
    with pytest.raises(RuntimeError, match="use CUDA tensors, or set TRITON_INTERPRET=1"):
        path.temporal_attention(q, q, q)


def test_cpu_without_interpreter_in_a_fresh_process():
    """The real thing: a process that imports kernels without TRITON_INTERPRET."""
    code = (
        "import torch, kernels, kernels.lesson\n"
        "q = torch.randn(1, 3, 2, 1, 16)\n"
        "for path in (kernels, kernels.lesson):\n"
        "    try:\n        path.temporal_attention(q, q, q)\n"
        "    except RuntimeError as e:\n        print(e)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.count("set TRITON_INTERPRET=1") == 2, result.stdout + result.stderr


# ----------------------------------------------------------------------------- tuned configs
# Every kernel configuration the GPU may pick must also run here: the 3-D kernels (BLOCK_S > 1)
# and the 2-D kernels (BLOCK_S = 1), packed or not, with the backward's query blocks (BLOCK_Q)
# split or whole, one key block or several. CONFIG_OVERRIDE forces a config on both passes.


@pytest.fixture
def override(monkeypatch):
    """Force (BLOCK_T, BLOCK_S, num_warps, num_stages[, BLOCK_Q]) on the forward and backward."""
    monkeypatch.setattr(MODULE, "CONFIG_OVERRIDE", {})

    def set_config(fwd, bwd):
        MODULE.CONFIG_OVERRIDE.update(fwd=fwd, bwd=bwd)

    return set_config


@pytest.mark.parametrize("T, fwd, bwd", [
    (32, (64, 1, 4, 1), (64, 1, 4, 1, 16)),  # 2-D, two clips packed into 64 rows, 4 query blocks
    (20, (64, 1, 4, 1), (64, 1, 4, 1, 32)),  # 2-D, three clips in 60 of 64 rows
    (8, (64, 1, 4, 1), (64, 1, 4, 1, 16)),  # 2-D, eight clips per block
    (13, (32, 1, 2, 1), (32, 1, 2, 1, 16)),  # 2-D, one padded clip per block, 2 query blocks
    (64, (64, 1, 4, 2), (64, 1, 4, 1, 64)),  # 2-D, one clip, whole query block
    (32, (32, 4, 4, 1), (32, 4, 4, 1)),  # 3-D, 32-frame blocks, 4 positions per program
    (16, (32, 4, 4, 1), (32, 4, 4, 1)),  # 3-D, two clips packed per 32-row block
    (40, (16, 4, 4, 1), (16, 2, 2, 1)),  # 3-D, three key blocks: online softmax, atomic dq
    (40, (32, 1, 2, 1), (16, 1, 1, 1)),  # 2-D, several key blocks: online softmax, atomic dq
])
@pytest.mark.parametrize("causal, window", [(False, None), (True, None), (False, 2), (True, 5)])
def test_forced_configs(override, T, fwd, bwd, causal, window):
    override(fwd, bwd)
    check(kernels, *tokens((1, T, 5, 2, 16), torch.float32), causal, window)


def test_forced_config_fp16_and_views(override):
    """A 2-D config on half precision and on the strided views of a fused projection."""
    override((64, 1, 4, 1), (64, 1, 4, 1, 16))
    g = torch.Generator().manual_seed(3)
    qkv = torch.randn(1, 16, 6, 3, 2, 32, generator=g).to(torch.float16).to(DEVICE)
    check(kernels, *qkv.unbind(3), causal=True, window=3)


@pytest.mark.parametrize("config", [(8, 1, 4, 1), (64, 3, 4, 1), (32, 1, 4, 1, 64),
                                    (32, 1, 4, 1, 8)])
def test_bad_config_override(override, config):
    override(config, config)
    q = torch.randn(1, 4, 2, 1, 16, device=DEVICE)
    with pytest.raises(ValueError, match="bad config"):
        kernels.temporal_attention(q, q, q)


def test_default_configs_are_valid():
    for T in (1, 8, 9, 16, 17, 32, 33, 64, 65, 200):
        for backward in (False, True):
            block_t, block_s, num_warps, num_stages, block_q = MODULE._config(T, 64, backward)
            if block_s > 1:
                assert block_s >= num_warps, "3-D dot: one warp per sequence"
            else:
                assert block_t >= 16 * num_warps, "2-D dot: 16 rows per warp"


# ----------------------------------------------------------------------------- plans, launches


def test_plan_cache_repeats_and_still_checks_arguments(monkeypatch):
    monkeypatch.setattr(MODULE, "_PLANS", {})
    q, k, v = tokens((1, 6, 4, 2, 16), torch.float32)
    first = kernels.temporal_attention(q, k, v, causal=True)
    assert len(MODULE._PLANS) == 1
    second = kernels.temporal_attention(q, k, v, causal=True)  # the cached plan
    assert len(MODULE._PLANS) == 1 and torch.equal(first, second)
    with pytest.raises(ValueError, match="causal must be a bool"):
        kernels.temporal_attention(q, k, v, causal=1)  # 1 == True: same key, still refused
    with pytest.raises(ValueError, match="window must be None"):
        kernels.temporal_attention(q, k, v, causal=True, window=True)
    with pytest.raises(ValueError, match="must have the shape of q"):
        kernels.temporal_attention(q, k, v[:, :, :2])


def test_no_grad_forward_matches_autograd_forward():
    """Without a backward to come the forward skips the logsumexp; same output."""
    q, k, v = tokens((2, 5, 7, 2, 16), torch.float32)
    with torch.no_grad():
        plain = kernels.temporal_attention(q, k, v, causal=True, window=2)
    leaves = [x.detach().requires_grad_() for x in (q, k, v)]
    graded = kernels.temporal_attention(*leaves, causal=True, window=2)
    assert graded.requires_grad and not plain.requires_grad
    assert torch.equal(plain, graded.detach())


class _FakeCompiled:
    """Stands in for Triton's CompiledKernel: records what its launcher is called with."""

    function, packed_metadata = "function", "packed"

    def __init__(self):
        self.calls = []

    def run(self, *args):
        self.calls.append(args)


class _FakeKernel:
    arg_names = ["X", "n", "A", "B"]  # two runtime arguments, then the constants

    def __init__(self):
        self.compiled = _FakeCompiled()
        self.jit_calls = []

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            self.jit_calls.append((grid, args, kwargs))
            return self.compiled
        return launch


def test_direct_launch_after_the_first(monkeypatch):
    """After one launch through the JIT, _Launch calls the compiled kernel's launcher itself,
    with Triton's argument order: grid, stream, function, metadata, hooks, then every argument
    of the signature, the constants last (in signature order)."""
    class Active:
        get_current_device = staticmethod(lambda: 0)
        get_current_stream = staticmethod(lambda device: 1234)

    common = importlib.import_module("kernels.runtime")
    monkeypatch.setattr(common, "_interpreted", lambda: False)
    monkeypatch.setattr(common, "driver", type("Driver", (), {"active": Active}))
    kernel = _FakeKernel()
    launch = common._Launch(kernel, (3, 2), {"B": 7, "A": 5}, num_warps=4, num_stages=1)
    launch("x", 10)  # a 2-D grid, as the backward's
    assert kernel.jit_calls == [((3, 2, 1), ("x", 10), {"B": 7, "A": 5, "num_warps": 4,
                                                          "num_stages": 1})]
    launch("y", 11)
    assert len(kernel.jit_calls) == 1
    (call,) = kernel.compiled.calls
    assert call[:5] == (3, 2, 1, 1234, "function") and call[5] == "packed"
    assert call[6:9] == (None, None, None)  # no launch hooks set: none called
    assert call[9:] == ("y", 11, 5, 7)
    monkeypatch.setattr(common, "FAST_LAUNCH", False)
    other = common._Launch(kernel, (1, 1, 1), {"A": 1, "B": 2}, num_warps=4, num_stages=1)
    other("z", 1)
    other("z", 1)
    assert len(kernel.jit_calls) == 3  # without FAST_LAUNCH: always through the JIT

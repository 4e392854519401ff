"""Tests for neighbourhood temporal attention in Triton, both paths: the tuned
``kernels.neighbourhood_attention`` and the lesson ``kernels.lesson.neighbourhood_attention``,
forward and backward.

Oracle: ``vdlite.attention.neighbourhood_temporal_attention`` in float64 (tests/conftest.py has
the helpers, the tolerances and the interpreter set-up), for the output and for dq, dk, dv
under a random upstream gradient; and the two paths against each other. Grids are odd on
purpose (3 x 5, 5 x 4, 1 x 7, 7 x 1, 9 x 9): tiles that overhang the grid, halos shifted back
onto it at the edges, a radius wider than the grid; every mask; q, k, v as strided views.
The lesson path takes one program per position and (2R + 1)^2 steps each under the
interpreter, so its shapes are the smallest.
"""

import importlib

import pytest
import torch
from conftest import (
    DEVICE,
    assert_close,
    assert_paths_agree,
    grads_against_reference,
    tokens,
)

import kernels
import kernels.lesson
from vdlite.attention import neighbourhood_temporal_attention as reference

TUNED = importlib.import_module("kernels.neighbourhood.tuned")
CASES = [  # (B, T, H, W, heads, D), radius, causal, window
    pytest.param((1, 5, 3, 5, 2, 16), 1, False, None, id="3x5-r1"),
    pytest.param((1, 4, 5, 4, 1, 16), 2, True, None, id="5x4-r2-causal"),
    pytest.param((2, 6, 1, 7, 1, 32), 1, False, 1, id="1x7-r1-window1"),
    pytest.param((1, 5, 7, 1, 2, 16), 2, True, 1, id="7x1-r2-causal-window1"),
    pytest.param((1, 3, 3, 5, 1, 16), 0, True, None, id="3x5-r0-causal"),
    pytest.param((1, 4, 3, 2, 1, 16), 5, False, 0, id="3x2-r5-window0"),
]


def check(path, q, k, v, hw, radius, causal, window):
    """One path against the float64 reference: output and dq, dk, dv, shapes and dtypes."""
    out, ref, grads, ref_grads = grads_against_reference(
        path.neighbourhood_attention, reference, (q, k, v), hw=hw, radius=radius,
        causal=causal, window=window)
    assert out.shape == q.shape and out.dtype == q.dtype and out.is_contiguous()
    assert_close(out, ref, q.dtype, "out")
    for name, x, r in zip(("dq", "dk", "dv"), grads, ref_grads, strict=True):
        assert x.shape == q.shape and x.dtype == q.dtype
        assert_close(x, r, q.dtype, name)


def grid_tokens(shape, dtype, seed=0):
    B, T, H, W, heads, D = shape
    return tokens((B, T, H * W, heads, D), dtype, seed), (H, W)


@pytest.mark.parametrize("shape, radius, causal, window", CASES)
def test_matches_reference(path, shape, radius, causal, window):
    (q, k, v), hw = grid_tokens(shape, torch.float32)
    check(path, q, k, v, hw, radius, causal, window)


@pytest.mark.parametrize("causal, window", [(False, None), (True, 3)])
def test_tuned_several_frame_blocks(causal, window):
    """Tuned, T = 40 on 2 x 2 tiles: two blocks of 32 query frames, key frames in steps of 4,
    the frame ranges that the masks allow."""
    (q, k, v), hw = grid_tokens((1, 40, 3, 3, 1, 16), torch.float32)
    check(kernels, q, k, v, hw, 1, causal, window)


def test_tuned_halo_in_several_chunks():
    """Tuned, radius 4 on 9 x 9: 4 x 4 tiles whose 81-position halo takes two 64-column
    steps per key frame."""
    assert TUNED._config(3, 16, (9, 9), 4)[0]["TH"] == 4
    (q, k, v), hw = grid_tokens((1, 3, 9, 9, 1, 16), torch.float32)
    check(kernels, q, k, v, hw, 4, True, None)


def test_fused_qkv_views(path):
    """q, k, v as no-copy views of one [B, T, S, 3, heads, D] projection."""
    g = torch.Generator().manual_seed(2)
    q, k, v = torch.randn(1, 4, 15, 3, 2, 32, generator=g).to(DEVICE).unbind(3)
    assert q.stride(2) == 3 * 2 * 32 and not q.is_contiguous()
    check(path, q, k, v, (5, 3), 1, True, 2)


def test_half_precision_matches_reference(path):
    """float16 within 4e-3 of the float64 reference (P and dS rounded to float16)."""
    (q, k, v), hw = grid_tokens((1, 5, 3, 5, 1, 16), torch.float16)
    check(path, q, k, v, hw, 1, False, 2)


def test_tuned_equals_lesson():
    """The two paths agree, output and gradients, on strided views (float32, to rounding)."""
    g = torch.Generator().manual_seed(4)
    q, k, v = torch.randn(1, 5, 12, 3, 2, 16, generator=g).to(DEVICE).unbind(3)
    assert_paths_agree(kernels.neighbourhood_attention, kernels.lesson.neighbourhood_attention,
                       (q, k, v), hw=(4, 3), radius=1, causal=True, window=None)


def test_no_grad_forward_matches_autograd_forward():
    """Without a backward to come the tuned forward skips the log-sum-exp; same output."""
    (q, k, v), hw = grid_tokens((1, 4, 3, 5, 2, 16), torch.float32)
    with torch.no_grad():
        plain = kernels.neighbourhood_attention(q, k, v, hw, 1, causal=True)
    leaves = [x.detach().requires_grad_() for x in (q, k, v)]
    graded = kernels.neighbourhood_attention(*leaves, hw, 1, causal=True)
    assert graded.requires_grad and not plain.requires_grad
    assert torch.equal(plain, graded.detach())


def test_empty_batch(path):
    """Nothing to launch: the reference's empty result and gradients."""
    q, k, v = [x.requires_grad_() for x in tokens((0, 5, 6, 3, 16), torch.float32)]
    out = path.neighbourhood_attention(q, k, v, (2, 3), 1)
    out.sum().backward()
    assert out.shape == (0, 5, 6, 3, 16) and q.grad.shape == q.shape


def test_tile_rule():
    """The tile whose halo costs at most twice the needed scores: R = 1 on 2 x 2 tiles (a 4 x 4
    halo: 16 scores for 9), R = 3 likewise (8 x 8 for 49); never a tile larger than the grid."""
    assert TUNED._tile((16, 16), 1) == (2, 2)
    assert TUNED._tile((64, 64), 3) == (2, 2)
    assert TUNED._tile((1, 7), 1)[0] == 1 and TUNED._tile((7, 1), 2)[1] == 1
    for hw in [(16, 16), (64, 64), (3, 5), (9, 9)]:
        for radius in range(6):
            config, num_warps = TUNED._config(16, 64, hw, radius)
            rows = config["TH"] * config["TW"] * config["FRAMES"]
            assert 16 <= rows <= 128 and config["CHUNK"] * config["BLOCK_U"] >= 16
            assert config["HALO_H"] <= hw[0] and config["HALO_W"] <= hw[1]


def bad_inputs():
    """(name, q, k, v, kwargs, error match): each must raise ValueError before launching."""
    q = torch.randn(1, 3, 6, 1, 16)
    return [
        ("shape", q, q[:, :2], q, {}, "must have the shape of q"),
        ("float64", q.double(), q.double(), q.double(), {}, "supports float16, bfloat16 and"),
        ("D=24", *[torch.randn(1, 3, 6, 1, 24)] * 3, {}, r"head sizes D in \(16, 32, 64, 128\)"),
        ("hw", q, q, q, {"hw": (4, 2)}, r"must have H\*W = S = 6"),
        ("hw not a pair", q, q, q, {"hw": 6}, "hw must be two ints"),
        ("radius<0", q, q, q, {"radius": -1}, "radius must be an int >= 0"),
        ("radius float", q, q, q, {"radius": 1.5}, "radius must be an int >= 0"),
        ("radius bool", q, q, q, {"radius": True}, "radius must be an int >= 0"),
        ("window<0", q, q, q, {"window": -1}, "window must be None or an int >= 0"),
        ("causal", q, q, q, {"causal": "yes"}, "causal must be a bool"),
    ]


@pytest.mark.parametrize(
    "q, k, v, kwargs, match", [pytest.param(*case[1:], id=case[0]) for case in bad_inputs()]
)
def test_clear_errors(path, q, k, v, kwargs, match):
    kwargs = {"hw": (2, 3), **kwargs}
    with pytest.raises(ValueError, match=match):
        path.neighbourhood_attention(q, k, v, **kwargs)


def test_plan_cache_still_checks_arguments(monkeypatch):
    monkeypatch.setattr(TUNED, "_PLANS", {})
    (q, k, v), hw = grid_tokens((1, 3, 2, 3, 1, 16), torch.float32)
    first = kernels.neighbourhood_attention(q, k, v, hw, 1)
    assert len(TUNED._PLANS) == 1
    assert torch.equal(first, kernels.neighbourhood_attention(q, k, v, hw, 1))
    with pytest.raises(ValueError, match="radius must be an int"):
        kernels.neighbourhood_attention(q, k, v, hw, True)  # True == 1: same key, still refused


def test_takes_neighbourhood():
    q = torch.zeros(1, 2, 4, 1, 32)
    assert kernels.takes_neighbourhood(q, 1) and kernels.takes_neighbourhood(q, 0)
    assert not kernels.takes_neighbourhood(q[..., :12], 1)
    assert not kernels.takes_neighbourhood(q.double(), 1)
    assert not kernels.takes_neighbourhood(q, -1)

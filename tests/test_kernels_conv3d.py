"""Tests for the Triton implicit-GEMM 3D convolution, both paths: the tuned ``kernels.conv3d``
and the lesson ``kernels.lesson.conv3d``, forward and backward.

Oracle: ``F.conv3d`` in float64 on the same values (the kernel's inputs upcast); for
``causal=True`` the same after padding time explicitly (``F.pad`` with kT-1 zero frames, or
kT-1 copies of frame 0 concatenated), and ``vdlite.CausalConv3d`` in float64 for both pad
modes. Compared: the output and dx, dweight, dbias under a random upstream gradient, by
relative Frobenius error (tests/conftest.py: helpers, tolerances, interpreter set-up); and the
two paths against each other.

Shapes are odd on purpose: T = 1, 7, 13; H, W = 5, 9; Cin, Cout = 3, 17, 20; kernels
(3, 3, 3), (3, 1, 1), (1, 3, 3), (1, 1, 1); stride 1 and 2 (where the tuned dx splits into
residue classes, and at kT = 1 some classes have no tap at all); channels-last and contiguous
x. The interpreter's cost is per operation, so the kernels use wide blocks there;
``test_small_tiles`` reruns the tuned path with 16-wide blocks so that several position,
channel and output-channel blocks (and tiles holding frame 0 among other frames) are covered.
"""

import importlib

import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICE, TOL, assert_paths_agree, error, needs_cuda

import kernels
import kernels.lesson
from vdlite.conv3d import CausalConv3d

module = importlib.import_module("kernels.conv.tuned")


def reference(x, w, b, stride, padding, causal, pad_mode):
    """The float64 oracle: F.conv3d, after padding time by hand when causal.

    causal: padding = (pH, pW) or (0, pH, pW); kT-1 zero frames or copies of frame 0 go before
    frame 0."""
    if causal:
        kT = w.shape[2]
        if pad_mode == "replicate":
            x = torch.cat([x[:, :, :1]] * (kT - 1) + [x], dim=2)
        else:
            x = F.pad(x, (0, 0, 0, 0, kT - 1, 0))
        padding = (0, *padding[-2:])
    return F.conv3d(x, w, b, stride, padding)


def operands(shape, c_out, kernel, dtype, channels_last=True, bias=True, seed=0,
             weight_channels_last=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g).to(dtype)
    w = (torch.randn(c_out, shape[1], *kernel, generator=g) / 4).to(dtype)
    b = torch.randn(c_out, generator=g).to(dtype) if bias else None
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    if weight_channels_last:
        w = w.contiguous(memory_format=torch.channels_last_3d)
    return [t.to(DEVICE) if t is not None else None for t in (x, w, b)]


def check(path, shape, c_out, kernel, stride=1, padding=0, causal=False, pad_mode="zeros",
          dtype=torch.float32, channels_last=True, bias=True, weight_channels_last=False):
    """One path against the float64 oracle: output, dx, dweight, dbias, layouts and dtypes."""
    x, w, b = operands(shape, c_out, kernel, dtype, channels_last, bias,
                       weight_channels_last=weight_channels_last)
    leaves = [t.detach().requires_grad_() for t in (x, w, b) if t is not None]
    y = path.conv3d(*leaves, *([None] if b is None else []), stride=stride, padding=padding,
               causal=causal, pad_mode=pad_mode)
    grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(1)).to(dtype).to(DEVICE)
    y.backward(grad)
    leaves64 = [t.detach().double().requires_grad_() for t in (x, w, b) if t is not None]
    ref = reference(*leaves64, *([None] if b is None else []), stride,
                    padding, causal, pad_mode)
    ref.backward(grad.double())

    assert y.shape == ref.shape and y.dtype == dtype
    assert y.is_contiguous(memory_format=torch.channels_last_3d)
    assert error(y, ref) <= TOL[dtype], f"out: error {error(y, ref):.2e}"
    for name, t, t64 in zip(("dx", "dweight", "dbias"), leaves, leaves64, strict=False):
        assert t.grad.shape == t.shape and t.grad.dtype == dtype, name
        assert error(t.grad, t64.grad) <= TOL[dtype], f"{name}: error {error(t.grad, t64.grad):.2e}"


def with_dtypes(cases, half=1):
    """Each case in float32, the first ``half`` also in float16."""
    return ([pytest.param(*case, torch.float32, id=f"{case}-fp32") for case in cases]
            + [pytest.param(*case, torch.float16, id=f"{case}-fp16") for case in cases[:half]])


# (shape [N, Cin, T, H, W], Cout, kernel, stride, padding): non-causal, zero padding
PLAIN = [
    ((2, 3, 5, 5, 5), 17, (3, 3, 3), 1, 1),
    ((1, 20, 13, 5, 9), 3, (3, 3, 3), 2, 1),
    ((1, 17, 7, 9, 5), 20, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
    ((2, 5, 7, 5, 9), 20, (3, 1, 1), (2, 1, 1), (1, 0, 0)),
    ((1, 20, 7, 5, 9), 17, (1, 1, 1), 2, 0),  # stride > kernel: some inputs get no gradient
    ((1, 3, 5, 9, 5), 17, (3, 3, 3), 1, 0),  # no padding ("valid")
    ((2, 17, 1, 5, 9), 3, (1, 3, 3), 1, (0, 2, 1)),  # T = 1, uneven H/W padding
]


@pytest.mark.parametrize("shape, c_out, kernel, stride, padding, dtype", with_dtypes(PLAIN))
def test_matches_f_conv3d(path, shape, c_out, kernel, stride, padding, dtype):
    check(path, shape, c_out, kernel, stride, padding, dtype=dtype)


# (shape, Cout, kernel, stride, (pH, pW)): causal in time
CAUSAL = [
    ((1, 3, 7, 5, 9), 17, (3, 3, 3), 1, (1, 1)),
    ((1, 20, 13, 5, 9), 17, (3, 3, 3), 2, (1, 1)),
    ((1, 3, 1, 9, 5), 20, (3, 3, 3), 1, (1, 1)),  # T = 1: every tap but the last is padding
    ((1, 5, 13, 5, 9), 17, (3, 1, 1), 1, (0, 0)),
    ((1, 17, 7, 5, 9), 3, (3, 1, 1), (2, 1, 1), (0, 0)),
    ((2, 5, 7, 5, 9), 17, (1, 3, 3), 1, (1, 1)),  # kT = 1: nothing to pad in time
]


@pytest.mark.parametrize("pad_mode", ["zeros", "replicate"])
@pytest.mark.parametrize("shape, c_out, kernel, stride, padding, dtype", with_dtypes(CAUSAL))
def test_causal_matches_padded_reference(path, shape, c_out, kernel, stride, padding, dtype,
                                         pad_mode):
    check(path, shape, c_out, kernel, stride, padding, True, pad_mode, dtype=dtype)


@pytest.mark.parametrize("causal, pad_mode, stride", [
    (False, "zeros", 1), (True, "replicate", (2, 1, 2)),
])
def test_tuned_equals_lesson(causal, pad_mode, stride):
    """The two paths agree with each other: output, dx, dweight, dbias (float32, to rounding)."""
    x, w, b = operands((1, 5, 6, 5, 7), 17, (3, 3, 3), torch.float32)
    assert_paths_agree(kernels.conv3d, kernels.lesson.conv3d, (x, w, b), stride=stride,
                       padding=1, causal=causal, pad_mode=pad_mode)


@pytest.mark.parametrize("causal, pad_mode, stride, padding", [
    (False, "zeros", 1, 1), (True, "zeros", 1, (1, 1)), (True, "replicate", (2, 1, 2), (0, 1, 1)),
])
def test_contiguous_input(path, causal, pad_mode, stride, padding):
    """NCDHW x (channels strided by T*H*W) gives the same results, read through strides."""
    check(path, (1, 20, 5, 5, 9), 17, (3, 3, 3), stride, padding, causal, pad_mode,
          channels_last=False)


@pytest.mark.parametrize("pad_mode", ["zeros", "replicate"])
@pytest.mark.parametrize("stride", [1, 2])
def test_matches_vdlite_causal_conv3d(path, pad_mode, stride):
    """The documented mapping: CausalConv3d(k, stride, pad_mode)(x) ==
    conv3d(x, weight, bias, stride, (kH // 2, kW // 2), causal=True, pad_mode=pad_mode)."""
    torch.manual_seed(0)
    m = CausalConv3d(5, 17, (3, 3, 3), stride=stride, pad_mode=pad_mode).double()
    x = torch.randn(1, 5, 7, 9, 5, dtype=torch.float64, requires_grad=True)
    ref = m(x)
    grad = torch.randn(ref.shape, dtype=torch.float64)
    ref.backward(grad)
    leaves = [t.detach().float().to(DEVICE).requires_grad_() for t in (x, m.weight, m.bias)]
    y = path.conv3d(*leaves, stride=stride, padding=1, causal=True, pad_mode=pad_mode)
    y.backward(grad.float().to(DEVICE))
    assert error(y, ref) <= 1e-5
    for t, t64 in zip(leaves, (x, m.weight, m.bias), strict=True):
        assert error(t.grad, t64.grad) <= 1e-5


@pytest.mark.parametrize("stride", [1, 2])
def test_small_tiles(monkeypatch, stride):
    """16-wide blocks: several position blocks, two Cin and Cout blocks per GEMM, two dW
    shares, and frame-0 rows sharing a tile with frame-1 rows (the replicate correction's
    row mask)."""
    monkeypatch.setattr(module, "_config", lambda *args: module._Tiles(16, 16, 16, 1, 1))
    monkeypatch.setattr(module, "_PLANS", {})  # cached plans hold the default tiles
    check(kernels, (1, 20, 4, 2, 5), 17, (3, 1, 3), stride, (0, 1), True, "replicate")


@pytest.mark.parametrize("causal, pad_mode, stride, padding", [
    (False, "zeros", 2, 1), (True, "zeros", 1, (1, 1)), (True, "replicate", (2, 1, 2), (1, 1)),
])
def test_channels_last_weight_is_read_in_place(monkeypatch, causal, pad_mode, stride, padding):
    """A channels-last weight (Cin contiguous) is read through its strides, with no copy (the
    plan says so); output and gradients still match the oracle. An NCDHW weight is copied."""
    monkeypatch.setattr(module, "_PLANS", {})
    check(kernels, (2, 17, 7, 5, 9), 20, (3, 3, 3), stride, padding, causal, pad_mode,
          weight_channels_last=True)
    check(kernels, (2, 17, 7, 5, 9), 20, (3, 3, 3), stride, padding, causal, pad_mode)
    assert sorted(plan.arrange for plan in module._PLANS.values()) == [False, True]


def test_zero_padding_taps_of_a_whole_tile_are_skipped(path):
    """With zero padding, a tile whose rows all sit in frame 0 of a causal conv never visits
    time taps 0 .. kT-2 (they read only padding): a NaN in tap 0 of the weight reaches output
    frames t >= 2 (NaN * x) but not frame 0's first tile, which a padded copy would have
    multiplied by zeros (0 * NaN = NaN). Frames 13 x 17 = 221 positions: 128-row tiles (the
    interpreter's, and the GPU's at this size) put rows 0-127 in frame 0 alone. The other
    values still match the oracle, also in a tile holding frames 0 and 1. With replicate
    padding every tap is visited (each output reads tap 0), and the values match the
    oracle."""
    x, w, b = operands((1, 5, 4, 13, 17), 6, (3, 3, 3), torch.float32)
    ref = reference(x.double(), w.double(), b.double(), 1, (1, 1), True, "zeros")
    bad = w.clone()
    bad[:, :, 0] = float("nan")
    y = path.conv3d(x, bad, b, padding=1, causal=True).cpu()
    flat = y.permute(0, 2, 3, 4, 1).reshape(4 * 221, 6)  # rows in the kernel's order
    assert not flat[:128].isnan().any() and flat[2 * 221:].isnan().all()
    first = ref.cpu().permute(0, 2, 3, 4, 1).reshape(4 * 221, 6)[:128]
    assert ((flat[:128] - first).norm() / first.norm()).item() <= 1e-5
    assert path.conv3d(x, bad, b, padding=1, causal=True, pad_mode="replicate").isnan().all()
    assert error(path.conv3d(x, w, b, padding=1, causal=True), ref) <= 1e-5
    for dtype, tol in ((torch.float32, 1e-5), (torch.float16, 4e-3)):
        xd, wd, bd = (t.to(dtype) for t in (x, w, b))
        ref = reference(*(t.double() for t in (xd, wd, bd)), 1, (1, 1), True, "replicate")
        y = path.conv3d(xd, wd, bd, padding=1, causal=True, pad_mode="replicate")
        assert error(y, ref) <= tol


def test_causal_output_ignores_the_future(path):
    """Property: changing frames > t leaves output frames <= t unchanged (both pad modes)."""
    x, w, b = operands((1, 3, 7, 5, 5), 17, (3, 3, 3), torch.float32)
    x2 = x.clone()
    x2[:, :, 4:] = torch.randn_like(x2[:, :, 4:])
    for pad_mode in ("zeros", "replicate"):
        y = path.conv3d(x, w, b, padding=1, causal=True, pad_mode=pad_mode)
        y2 = path.conv3d(x2, w, b, padding=1, causal=True, pad_mode=pad_mode)
        assert y.shape[2] == 7
        assert torch.equal(y[:, :, :4], y2[:, :, :4])
        assert not torch.allclose(y[:, :, 4:], y2[:, :, 4:])


def test_no_bias_and_expanded_upstream_gradient(path):
    """bias=None, and dy with stride 0 everywhere (y.sum()): made channels-last first."""
    x, w, _ = operands((1, 5, 7, 5, 9), 17, (3, 3, 3), torch.float32, bias=False)
    x.requires_grad_()
    w.requires_grad_()
    path.conv3d(x, w, causal=True, padding=1, pad_mode="replicate").sum().backward()
    x64, w64 = (t.detach().double().requires_grad_() for t in (x, w))
    reference(x64, w64, None, 1, (1, 1), True, "replicate").sum().backward()
    assert error(x.grad, x64.grad) <= 1e-5 and error(w.grad, w64.grad) <= 1e-5


def test_gradient_of_weight_only(path):
    """Only dweight asked for: dx is not computed, and dweight is still right."""
    x, w, b = operands((1, 5, 7, 5, 9), 17, (3, 3, 3), torch.float32)
    w.requires_grad_()
    (gw,) = torch.autograd.grad(path.conv3d(x, w, b, padding=1).square().sum(), w)
    w64 = w.detach().double().requires_grad_()
    (gw64,) = torch.autograd.grad(F.conv3d(x.double(), w64, b.double(), padding=1)
                                  .square().sum(), w64)
    assert error(gw, gw64) <= 1e-5


def test_empty_batch(path):
    x, w, b = operands((0, 3, 7, 5, 9), 17, (3, 3, 3), torch.float32)
    leaves = [t.requires_grad_() for t in (x, w, b)]
    y = path.conv3d(*leaves, padding=1)
    y.sum().backward()
    assert y.shape == (0, 17, 7, 5, 9) and x.grad.shape == x.shape
    assert w.grad.abs().sum() == 0 and b.grad.abs().sum() == 0


@needs_cuda
@pytest.mark.parametrize("causal, pad_mode, stride", [
    (False, "zeros", 1), (True, "zeros", 1), (True, "replicate", 1), (True, "replicate", 2),
])
def test_bfloat16_on_cuda(path, causal, pad_mode, stride):
    check(path, (2, 64, 9, 17, 33), 96, (3, 3, 3), stride, (1, 1) if causal else 1, causal,
          pad_mode, dtype=torch.bfloat16)


def bad_calls():
    """(name, args, kwargs, error match): each must raise ValueError before launching."""
    x = torch.randn(1, 4, 5, 6, 6, device=DEVICE)
    w = torch.randn(8, 4, 3, 3, 3, device=DEVICE)
    return [
        ("x rank", (x[0], w), {}, r"x must be a 5-D tensor \[N, C, T, H, W\]"),
        ("weight rank", (x, w[0]), {}, r"weight must be a 5-D tensor \[Cout, Cin"),
        ("channels", (x, w[:, :3]), {}, "in_channels mismatch: x has 4 channels"),
        ("float64", (x.double(), w.double()), {}, "supports float16, bfloat16 and float32"),
        ("dtypes", (x, w.half()), {}, "weight must share x's dtype and device"),
        ("devices", (x, w.to("meta")), {}, "weight must share x's dtype and device"),
        ("bias shape", (x, w, torch.randn(7, device=DEVICE)), {}, r"bias must have shape \(8,\)"),
        ("bias dtype", (x, w, torch.randn(8, device=DEVICE).half()), {},
         "bias must share x's dtype"),
        ("stride 0", (x, w), {"stride": 0}, "stride must be >= 1"),
        ("stride pair", (x, w), {"stride": (1, 2)}, "stride must be an int or 3 ints"),
        ("padding < 0", (x, w), {"padding": -1}, "padding must be >= 0"),
        ("padding str", (x, w), {"padding": "same"}, "padding must be an int or 3 ints"),
        ("causal time padding", (x, w), {"causal": True, "padding": (1, 1, 1)},
         "padding applies to H and W only"),
        ("pad_mode", (x, w), {"causal": True, "pad_mode": "reflect"},
         r"pad_mode must be one of \('zeros', 'replicate'\)"),
        ("replicate needs causal", (x, w), {"pad_mode": "replicate"}, "needs causal=True"),
        ("causal bool", (x, w), {"causal": 1}, "causal must be a bool"),
        ("dilation", (x, w), {"dilation": 2}, "supports dilation=1 only"),
        ("groups", (x, w), {"groups": 2}, "supports groups=1 only"),
        ("kernel too long", (x, torch.randn(8, 4, 7, 3, 3, device=DEVICE)), {},
         "kernel size 7 along T"),
    ]


@pytest.mark.parametrize("args, kwargs, match",
                         [pytest.param(*case[1:], id=case[0]) for case in bad_calls()])
def test_clear_errors(path, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        path.conv3d(*args, **kwargs)


def test_cpu_without_interpreter_is_a_clear_error(path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("kernels.runtime"), "_interpreted",
                        lambda: False)
    monkeypatch.setattr(module, "_PLANS", {})
    x, w = torch.randn(1, 4, 5, 6, 6), torch.randn(8, 4, 3, 3, 3)
    with pytest.raises(RuntimeError, match="use CUDA tensors, or set TRITON_INTERPRET=1"):
        path.conv3d(x, w)


def test_plans_are_cached_per_key_and_the_checks_run_once_per_key(monkeypatch):
    """A repeated call reuses its plan without re-checking; any change of shape, layout,
    alignment or option as written (1 and (1, 1) are written differently) makes a new plan."""
    monkeypatch.setattr(module, "_PLANS", {})
    x, w, b = operands((1, 3, 5, 5, 9), 17, (3, 3, 3), torch.float32)
    y = kernels.conv3d(x, w, b, padding=1, causal=True)
    checks = []
    check_args = module.check_conv
    monkeypatch.setattr(module, "check_conv", lambda *a: checks.append(a) or check_args(*a))
    assert torch.equal(kernels.conv3d(x.clone(), w, b, padding=1, causal=True), y)
    assert checks == [] and len(module._PLANS) == 1
    assert torch.equal(kernels.conv3d(x, w, b, padding=(1, 1), causal=True), y)
    flat = torch.randn(x.numel() + 1, device=x.device)
    unaligned = flat[1:].view(x.shape).copy_(x)  # NCDHW, 4 bytes past a 16-byte boundary
    assert unaligned.data_ptr() % 16 != x.data_ptr() % 16
    assert error(kernels.conv3d(unaligned, w, b, padding=1, causal=True), reference(
        x.double(), w.double(), b.double(), 1, (1, 1), True, "zeros")) <= 1e-5
    assert len(checks) == 2 and len(module._PLANS) == 3
    with pytest.raises(ValueError, match="stride must be an int or 3 ints"):
        kernels.conv3d(x, w, b, stride=True, padding=1, causal=True)  # True == 1, not an int


def test_strided_bias_and_the_no_grad_path(path):
    """A bias view with stride 2 is read as its values; without gradients the call skips
    autograd and returns the same output as with them."""
    x, w, _ = operands((2, 5, 7, 5, 9), 17, (3, 3, 3), torch.float32)
    b = torch.randn(34, generator=torch.Generator().manual_seed(3)).to(DEVICE)[::2]
    assert not b.is_contiguous()
    ref = reference(x.double(), w.double(), b.double(), 1, (1, 1), True, "replicate")
    with torch.no_grad():
        y = path.conv3d(x, w, b, padding=1, causal=True, pad_mode="replicate")
    assert not y.requires_grad and error(y, ref) <= 1e-5
    wg = w.detach().requires_grad_()
    y2 = path.conv3d(x, wg, b, padding=1, causal=True, pad_mode="replicate")
    assert y2.requires_grad and torch.equal(y2.detach(), y)


@pytest.mark.parametrize("c_in, c_out", [(32, 64), (32, 17), (64, 32)])
def test_channel_counts_that_fill_whole_blocks(c_in, c_out):
    """Tuned: Cin a multiple of the K chunk and/or Cout of the N block: the forward drops those
    masks (EVEN_K, EVEN_N); each combination against the oracle, both pad modes."""
    for pad_mode in ("zeros", "replicate"):
        check(kernels, (1, c_in, 3, 5, 3), c_out, (3, 3, 3), 1, (1, 1), True, pad_mode)


def test_int64_offsets_are_chosen_by_the_reach_of_x():
    small = torch.empty(1, 4, 5, 6, 6)
    assert not module._needs_int64(small)
    huge = torch.empty(0, device="meta").as_strided((2, 4, 5, 6, 6), (2**31, 1, 1, 1, 1))
    assert module._needs_int64(huge)


def test_backward_launches_are_kept_in_the_plan(monkeypatch):
    """The first backward stores its two launches in the forward's plan; the second reuses
    them and is still right."""
    monkeypatch.setattr(module, "_PLANS", {})
    x, w, b = operands((1, 5, 7, 5, 9), 17, (3, 3, 3), torch.float32)
    x64, w64, b64 = (t.detach().double().requires_grad_() for t in (x, w, b))
    ref = torch.autograd.grad(reference(x64, w64, b64, 1, (1, 1), True, "replicate").square()
                              .sum(), (x64, w64, b64))
    leaves = [t.detach().requires_grad_() for t in (x, w, b)]
    for _ in range(2):
        y = kernels.conv3d(*leaves, padding=1, causal=True, pad_mode="replicate")
        grads = torch.autograd.grad(y.square().sum(), leaves)
        assert all(error(g, r) <= 1e-5 for g, r in zip(grads, ref, strict=True))
    (plan,) = module._PLANS.values()
    assert sorted(key[0] for key in plan.backward) == ["dw", "dx"]

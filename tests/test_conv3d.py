"""vdlite.conv3d against its oracle, torch.nn.functional.conv3d, in float64.

Outputs and gradients (x, weight, bias) must agree to rtol = atol = 1e-10 (float64 rounding
is ~1e-16 per term; the sums here have < 300 terms). Shapes are odd and not powers of two.
Causality, identity-at-init and cost accounting are tested as properties.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from vdlite.conv3d import (
    CausalConv3d,
    Conv3d,
    PseudoConv3d,
    conv3d,
    conv3d_cost,
    conv3d_loops,
    im2col3d,
    pseudo3d_cost,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")  # oracle
TOL = {"rtol": 1e-10, "atol": 1e-10}
f64 = torch.float64


def operands(B=2, C=6, T=7, H=9, W=11, O=9, kernel=(3, 3, 3), groups=1, bias=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, T, H, W, dtype=f64, generator=gen, requires_grad=True)
    w = torch.randn(O, C // groups, *kernel, dtype=f64, generator=gen, requires_grad=True)
    b = torch.randn(O, dtype=f64, generator=gen, requires_grad=True) if bias else None
    return x, w, b


def assert_matches_torch(x, w, b, **kwargs):
    """conv3d == F.conv3d in value and in all three gradients, for one upstream gradient."""
    y, ref = conv3d(x, w, b, **kwargs), F.conv3d(x, w, b, **kwargs)
    assert y.shape == ref.shape
    torch.testing.assert_close(y, ref, **TOL)
    g = torch.randn(ref.shape, dtype=ref.dtype, generator=torch.Generator().manual_seed(1))
    leaves = [t for t in (x, w, b) if t is not None]
    grads = torch.autograd.grad(y, leaves, g)
    ref_grads = torch.autograd.grad(ref, leaves, g)
    for name, got, want in zip("xwb", grads, ref_grads, strict=False):
        torch.testing.assert_close(got, want, **TOL, msg=lambda m, n=name: f"grad {n}: {m}")


# --- conv3d == F.conv3d ----------------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 2, (2, 1, 3)])
def test_stride(stride):
    assert_matches_torch(*operands(), stride=stride)


@pytest.mark.parametrize("padding", [0, 1, (2, 0, 1), "same", "valid"])
def test_padding(padding):
    assert_matches_torch(*operands(), padding=padding)


@pytest.mark.parametrize("dilation", [1, 2, (1, 2, 3)])
def test_dilation(dilation):
    assert_matches_torch(*operands(), dilation=dilation)


@pytest.mark.parametrize("groups", [1, 3])
def test_groups(groups):
    assert_matches_torch(*operands(groups=groups), groups=groups)


@pytest.mark.parametrize("kernel", [(1, 3, 3), (3, 1, 1), (2, 3, 4), (1, 1, 1)])
def test_kernel_shapes(kernel):
    assert_matches_torch(*operands(kernel=kernel), padding=1)


@pytest.mark.parametrize("bias", [True, False])
def test_bias(bias):
    assert_matches_torch(*operands(bias=bias), padding=1)


@pytest.mark.parametrize(
    "kernel, kwargs",
    [
        ((2, 3, 4), dict(stride=(2, 1, 3), padding=(2, 0, 1), dilation=(1, 2, 1), groups=3)),
        ((3, 3, 3), dict(stride=2, padding=1, dilation=2, groups=3)),
        ((2, 3, 4), dict(padding="same", dilation=(1, 2, 3), groups=3)),
        ((3, 1, 1), dict(stride=(2, 1, 1), padding=(1, 0, 0))),
        ((1, 3, 3), dict(stride=(1, 2, 2), padding=(0, 1, 1), groups=3)),
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_combinations(kernel, kwargs, bias):
    x, w, b = operands(kernel=kernel, groups=kwargs.get("groups", 1), bias=bias)
    assert_matches_torch(x, w, b, **kwargs)


@settings(max_examples=25, deadline=None, database=None)
@given(
    kernel=st.tuples(*[st.integers(1, 3)] * 3),
    stride=st.tuples(*[st.integers(1, 3)] * 3),
    padding=st.tuples(*[st.integers(0, 2)] * 3),
    dilation=st.tuples(*[st.integers(1, 2)] * 3),
    groups=st.sampled_from([1, 2]),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_configurations(kernel, stride, padding, dilation, groups, bias, seed):
    x, w, b = operands(
        B=1, C=4, T=5, H=6, W=7, O=6, kernel=kernel, groups=groups, bias=bias, seed=seed
    )
    assert_matches_torch(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


def test_gradcheck():
    x, w, b = operands(B=1, C=4, T=4, H=4, W=3, O=2, kernel=(2, 3, 2), groups=2)
    kwargs = dict(stride=(1, 2, 1), padding=(1, 1, 0), dilation=(2, 1, 1), groups=2)
    assert torch.autograd.gradcheck(lambda *a: conv3d(*a, **kwargs), (x, w, b))


def test_float32_matches_torch():
    x, w, b = (t.detach().float() for t in operands(kernel=(3, 3, 3)))
    torch.testing.assert_close(
        conv3d(x, w, b, padding=1), F.conv3d(x, w, b, padding=1), rtol=1e-4, atol=1e-4
    )


def test_memory_format_follows_input():
    x, w, b = (t.detach() for t in operands())
    assert conv3d(x, w, b, padding=1).is_contiguous()
    x_cl = x.contiguous(memory_format=torch.channels_last_3d)
    y = conv3d(x_cl, w, b, padding=1)
    assert y.is_contiguous(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(y, F.conv3d(x, w, b, padding=1), **TOL)
    for pad_mode in CausalConv3d.pad_modes:
        conv = CausalConv3d(6, 4, 3, pad_mode=pad_mode).double()
        assert conv(x_cl).is_contiguous(memory_format=torch.channels_last_3d)
        torch.testing.assert_close(conv(x_cl), conv(x), **TOL)


# --- the lesson's two other views: loops and im2col ------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 1), groups=2)],
)
def test_loops_match_torch(kwargs):
    x, w, b = (
        t.detach()
        for t in operands(
            B=2, C=4, T=4, H=5, W=6, O=4, kernel=(2, 3, 2), groups=kwargs.get("groups", 1)
        )
    )
    torch.testing.assert_close(conv3d_loops(x, w, b, **kwargs), F.conv3d(x, w, b, **kwargs), **TOL)


def test_im2col3d_shape_and_values():
    x = operands()[0].detach()  # [2, 6, 7, 9, 11]
    cols = im2col3d(x, (2, 3, 4), stride=(2, 1, 3), padding=(1, 0, 2), dilation=(1, 2, 1))
    # T' = (7 + 2 - 1·1 - 1)//2 + 1 = 4, H' = (9 - 2·2 - 1)//1 + 1 = 5, W' = (11 + 4 - 3 - 1)//3 + 1
    assert cols.shape == (2, 4, 5, 4, 6, 2, 3, 4)
    x_pad = F.pad(x, (2, 2, 0, 0, 1, 1))
    b, t, h, w, c, i, j, l = 1, 3, 2, 1, 4, 1, 2, 3
    assert cols[b, t, h, w, c, i, j, l] == x_pad[b, c, t * 2 + i, h + j * 2, w * 3 + l]
    rows = cols.permute(0, 1, 2, 3, 5, 6, 7, 4).reshape(-1, 6 * 2 * 3 * 4)  # the im2col matrix
    assert rows.shape == (2 * 4 * 5 * 4, 144)


def test_im2col3d_is_a_view():
    x = operands()[0].detach().contiguous(memory_format=torch.channels_last_3d)
    cols = im2col3d(x, 3, stride=2)
    assert cols.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()


# --- modules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs",
    [((6, 9, 3), dict(padding=1)), ((6, 9, (2, 3, 1)), dict(stride=2, groups=3, bias=False))],
)
def test_module_matches_nn_conv3d(args, kwargs):
    torch.manual_seed(0)
    ours = Conv3d(*args, **kwargs).double()
    torch.manual_seed(0)
    ref = nn.Conv3d(*args, **kwargs).double()  # same RNG draws in the same order
    for name, p in ref.named_parameters():
        assert torch.equal(getattr(ours, name), p), name
    x = operands()[0].detach()
    torch.testing.assert_close(ours(x), ref(x), **TOL)
    assert "kernel_size=" in repr(ours) and "groups=" in repr(ours)


# --- CausalConv3d --------------------------------------------------------------------------


@pytest.mark.parametrize("pad_mode", ["zeros", "replicate"])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kT", [2, 3, 4])
def test_causal_no_leak_from_future(pad_mode, dilation, kT):
    torch.manual_seed(0)
    conv = CausalConv3d(3, 4, (kT, 3, 3), dilation=(dilation, 1, 1), pad_mode=pad_mode).double()
    x = torch.randn(2, 3, 9, 5, 6, dtype=f64)
    y = conv(x)
    assert y.shape == (2, 4, 9, 5, 6)  # stride 1: as many frames out as in
    for t0 in (0, 4, 8):
        x2 = x.clone()
        x2[:, :, t0:] += torch.randn_like(x2[:, :, t0:])
        y2 = conv(x2)
        assert torch.equal(y2[:, :, :t0], y[:, :, :t0])  # the past is untouched, bit for bit
        assert (y2[:, :, t0:] - y[:, :, t0:]).abs().amax(dim=(0, 1, 3, 4)).min() > 0


@pytest.mark.parametrize("pad_mode", ["zeros", "replicate"])
@pytest.mark.parametrize("stride", [1, (2, 1, 1), (2, 2, 1)])
def test_causal_matches_explicit_padding(pad_mode, stride):
    torch.manual_seed(0)
    kernel, dilation = (3, 3, 5), (2, 1, 1)
    conv = CausalConv3d(3, 4, kernel, stride=stride, dilation=dilation, pad_mode=pad_mode)
    conv = conv.double()
    x = torch.randn(2, 3, 9, 5, 7, dtype=f64, requires_grad=True)
    time_pad = (kernel[0] - 1) * dilation[0]
    if pad_mode == "zeros":
        x_pad = F.pad(x, (2, 2, 1, 1, time_pad, 0))
    else:  # copies of frame 0 before it, then zero padding in space only
        x_pad = torch.cat([x[:, :, :1].expand(-1, -1, time_pad, -1, -1), x], dim=2)
        x_pad = F.pad(x_pad, (2, 2, 1, 1, 0, 0))
    ref = F.conv3d(x_pad, conv.weight, conv.bias, stride=stride, dilation=dilation)
    y = conv(x)
    torch.testing.assert_close(y, ref, **TOL)
    s = conv.stride
    assert y.shape[2:] == tuple(math.ceil(n / si) for n, si in zip((9, 5, 7), s, strict=True))
    g = torch.randn_like(y)
    torch.testing.assert_close(
        torch.autograd.grad(y, x, g)[0], torch.autograd.grad(ref, x, g)[0], **TOL
    )


def test_causal_stride2_frame_count():
    conv = CausalConv3d(2, 2, 3, stride=(2, 1, 1))
    for k in range(4):  # 1 + 4k frames -> 1 + 2k
        assert conv(torch.randn(1, 2, 1 + 4 * k, 4, 4)).shape[2] == 1 + 2 * k


@pytest.mark.parametrize("pad_mode", ["zeros", "replicate"])
def test_causal_with_one_frame_kernel_is_plain_conv(pad_mode):
    conv = CausalConv3d(3, 4, (1, 3, 3), pad_mode=pad_mode).double()
    x = torch.randn(2, 3, 5, 6, 7, dtype=f64)
    torch.testing.assert_close(
        conv(x), F.conv3d(x, conv.weight, conv.bias, padding=(0, 1, 1)), **TOL
    )


# --- PseudoConv3d ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "causal, pad_mode", [(False, "zeros"), (True, "zeros"), (True, "replicate")]
)
def test_pseudo3d_is_framewise_spatial_conv_at_init(causal, pad_mode):
    torch.manual_seed(0)
    layer = PseudoConv3d(3, 5, 3, causal=causal, pad_mode=pad_mode).double()
    B, C, T, H, W = 2, 3, 6, 7, 9
    x = torch.randn(B, C, T, H, W, dtype=f64)
    # frame by frame: fold time into the batch, so that every frame is a one-frame video
    frames = x.transpose(1, 2).reshape(B * T, C, 1, H, W)
    framewise = layer.spatial(frames).reshape(B, T, 5, H, W).transpose(1, 2)
    assert torch.equal(layer(x), framewise)  # the temporal conv is exactly the identity
    conv2d = F.conv2d(frames[:, :, 0], layer.spatial.weight[:, :, 0], layer.spatial.bias, padding=1)
    torch.testing.assert_close(framewise, conv2d.reshape(B, T, 5, H, W).transpose(1, 2), **TOL)
    with torch.no_grad():
        layer.temporal.weight.add_(0.1 * torch.randn_like(layer.temporal.weight))
    assert not torch.allclose(layer(x), framewise)


# --- cost accounting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs",
    [((6, 9, 3), dict()), ((6, 9, (2, 3, 1)), dict(groups=3, bias=False)), ((4, 8, (1, 3, 3)), {})],
)
def test_cost_params_match_module(args, kwargs):
    n_params = sum(p.numel() for p in Conv3d(*args, **kwargs).parameters())
    assert conv3d_cost(*args, out_size=(5, 6, 7), **kwargs)["params"] == n_params


def test_cost_flops_formula():
    cost = conv3d_cost(6, 9, (2, 3, 4), (5, 6, 7), groups=3)
    assert cost["macs"] == 5 * 6 * 7 * 9 * 2 * 2 * 3 * 4
    assert cost["flops"] == 2 * cost["macs"]


@pytest.mark.parametrize("c_in, c_out, k", [(32, 32, 3), (16, 48, 3), (8, 8, 5)])
def test_pseudo3d_cost(c_in, c_out, k):
    size = (8, 16, 16)
    pseudo = pseudo3d_cost(c_in, c_out, k, size)
    layer = PseudoConv3d(c_in, c_out, k)
    assert pseudo["params"] == sum(p.numel() for p in layer.parameters())
    full = conv3d_cost(c_in, c_out, k, size)
    ratio = (c_in * c_out * k**3) / (c_in * c_out * k**2 + c_out**2 * k)
    assert full["flops"] / pseudo["flops"] == pytest.approx(ratio, rel=1e-12)


# --- errors ---------------------------------------------------------------------------------


def test_error_messages():
    x, w, b = (t.detach() for t in operands())  # x [2, 6, 7, 9, 11], w [9, 6, 3, 3, 3]
    with pytest.raises(ValueError, match=r"x must be 5-D"):
        conv3d(x[0], w)
    with pytest.raises(ValueError, match=r"weight must be 5-D"):
        conv3d(x, w[0])
    with pytest.raises(ValueError, match=r"in_channels must be divisible by groups"):
        conv3d(x, w, groups=4)
    with pytest.raises(ValueError, match=r"weight.shape\[1\]·groups"):
        conv3d(x, w, groups=3)
    with pytest.raises(ValueError, match=r"dtype and device"):
        conv3d(x.float(), w)
    with pytest.raises(ValueError, match=r"bias must have shape \(9,\)"):
        conv3d(x, w, b[:4])
    with pytest.raises(ValueError, match=r"stride must be >= 1"):
        conv3d(x, w, stride=(1, 0, 1))
    with pytest.raises(ValueError, match=r"dilation must be >= 1"):
        conv3d(x, w, dilation=0)
    with pytest.raises(ValueError, match=r"padding must be >= 0"):
        conv3d(x, w, padding=-1)
    with pytest.raises(ValueError, match=r"padding='same' needs stride 1"):
        conv3d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"spans 9 along T, but the padded input has only 7"):
        conv3d(x, w, dilation=(4, 1, 1))
    with pytest.raises(ValueError, match=r"pad_mode must be one of \('zeros', 'replicate'\)"):
        CausalConv3d(2, 2, 3, pad_mode="reflect")
    with pytest.raises(ValueError, match=r"odd in H and W"):
        CausalConv3d(2, 2, (3, 2, 3))


def test_padding_wider_than_the_kernel_reach():
    """dL/dx crops its padded gradient when padding > d·(k-1) (a negative pad inside)."""
    x, w, b = operands(kernel=(1, 3, 1))
    assert_matches_torch(x, w, b, stride=(2, 1, 3), padding=(2, 3, 1))


def test_gradients_for_each_subset_of_inputs():
    """The backward computes only the gradients that are asked for, each correct alone."""
    for wanted in ("x", "w", "b"):
        x, w, b = operands(kernel=(3, 2, 3), groups=3)
        leaves = dict(x=x, w=w, b=b)
        for name, leaf in leaves.items():
            leaf.requires_grad_(name == wanted)
        got = torch.autograd.grad(conv3d(x, w, b, padding=1, groups=3).square().sum(),
                                  leaves[wanted])
        want = torch.autograd.grad(F.conv3d(x, w, b, padding=1, groups=3).square().sum(),
                                   leaves[wanted])
        torch.testing.assert_close(got, want, **TOL)

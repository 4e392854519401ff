"""The library's clear errors and edge cases: one readable error rather than a deep traceback.

- Constructors of ``Conv3d``, ``CausalConv3d``, ``PseudoConv3d``, ``UNet3D`` and ``VideoDiT``
  reject zero, negative, non-int and bool sizes with a ValueError naming the class and argument.
- ``kernels.temporal_attention`` and ``kernels.spatial_attention`` (and their lesson paths in
  ``kernels.lesson``) on empty clips (B, T, S or heads = 0) do what the references in
  ``vdlite.attention`` do: an empty result of the input's shape and dtype, and empty gradients.
- ``vdlite.conv3d`` is the module (``import vdlite.conv3d as m; m.Conv3d``) and still callable
  as the function ``conv3d(x, weight, bias, stride, padding, dilation, groups)``.
- ``python -m vdlite.cost`` turns a bad ``--device`` or ``--window`` into one line on stderr
  and exit status 2.

The kernels run in Triton's interpreter without a GPU (tests/conftest.py sets it up).
"""

import inspect
import itertools
import os
import subprocess
import sys
import types

import pytest
import torch
import torch.nn.functional as F

import kernels
import kernels.lesson
import vdlite
from vdlite import attention
from vdlite.conv3d import CausalConv3d, Conv3d, PseudoConv3d
from vdlite.transformer import VideoDiT
from vdlite.unet3d import UNet3D

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

# ----------------------------------------------------------------------------- constructors

BAD_SIZES = [
    (Conv3d, dict(in_channels=0, out_channels=5, kernel_size=3), "Conv3d: in_channels"),
    (Conv3d, dict(in_channels=3, out_channels=0, kernel_size=3), "Conv3d: out_channels"),
    (Conv3d, dict(in_channels=3, out_channels=-5, kernel_size=3), "Conv3d: out_channels"),
    (Conv3d, dict(in_channels=3.0, out_channels=5, kernel_size=3), "Conv3d: in_channels"),
    (Conv3d, dict(in_channels=True, out_channels=5, kernel_size=3), "Conv3d: in_channels"),
    (Conv3d, dict(in_channels=3, out_channels=5, kernel_size=0), "Conv3d: kernel_size"),
    (Conv3d, dict(in_channels=3, out_channels=5, kernel_size=(3, 0, 3)),
     r"Conv3d: kernel_size \(H\)"),
    (Conv3d, dict(in_channels=3, out_channels=5, kernel_size=(3, 3, True)),
     r"Conv3d: kernel_size \(W\)"),
    (Conv3d, dict(in_channels=3, out_channels=5, kernel_size=3, stride=(1, 1, 0)),
     r"Conv3d: stride \(W\)"),
    (Conv3d, dict(in_channels=3, out_channels=5, kernel_size=3, dilation=-1), "Conv3d: dilation"),
    (Conv3d, dict(in_channels=3, out_channels=6, kernel_size=3, groups=0), "Conv3d: groups"),
    (Conv3d, dict(in_channels=3, out_channels=6, kernel_size=3, groups=1.0), "Conv3d: groups"),
    (CausalConv3d, dict(in_channels=3, out_channels=0, kernel_size=3),
     "CausalConv3d: out_channels"),
    (CausalConv3d, dict(in_channels=3, out_channels=5, kernel_size=3, stride=0),
     "CausalConv3d: stride"),
    (CausalConv3d, dict(in_channels=3, out_channels=5, kernel_size=(0, 3, 3)),
     r"CausalConv3d: kernel_size \(T\)"),
    (PseudoConv3d, dict(in_channels=0, out_channels=5), "PseudoConv3d: in_channels"),
    (PseudoConv3d, dict(in_channels=3, out_channels=-1), "PseudoConv3d: out_channels"),
    (PseudoConv3d, dict(in_channels=3, out_channels=5, kernel_size=True),
     "PseudoConv3d: kernel_size"),
    (UNet3D, dict(in_channels=0), "UNet3D: in_channels"),
    (UNet3D, dict(base_channels=0), "UNet3D: base_channels"),
    (UNet3D, dict(base_channels=12.0), "UNet3D: base_channels"),
    (UNet3D, dict(channel_mults=(1, 0, 3)), r"UNet3D: channel_mults\[1\]"),
    (UNet3D, dict(channel_mults=(1, 1.5)), r"UNet3D: channel_mults\[1\]"),
    (UNet3D, dict(channel_mults=()), "UNet3D: channel_mults"),
    (UNet3D, dict(num_res_blocks=0), "UNet3D: num_res_blocks"),
    (UNet3D, dict(num_res_blocks=-1), "UNet3D: num_res_blocks"),
    (UNet3D, dict(patch_size=0), "UNet3D: patch_size"),
    (VideoDiT, dict(in_channels=0), "VideoDiT: in_channels"),
    (VideoDiT, dict(patch_size=0), "VideoDiT: patch_size"),
    (VideoDiT, dict(patch_size=2.0), "VideoDiT: patch_size"),
    (VideoDiT, dict(dim=0), "VideoDiT: dim"),
    (VideoDiT, dict(dim=-12), "VideoDiT: dim"),
    (VideoDiT, dict(depth=0), "VideoDiT: depth"),
    (VideoDiT, dict(heads=0), "VideoDiT: heads"),
    (VideoDiT, dict(mlp_ratio=0), "VideoDiT: mlp_ratio"),
    (VideoDiT, dict(temporal_radius=-1), "VideoDiT: temporal_radius"),
    (VideoDiT, dict(temporal=False, temporal_radius=-1), "VideoDiT: temporal_radius"),
    (VideoDiT, dict(temporal_radius=1.0), "VideoDiT: temporal_radius"),
    (VideoDiT, dict(patch_size=4, fine_patch=2.0), "VideoDiT: fine_patch"),
    (VideoDiT, dict(patch_size=4, fine_patch=0), "VideoDiT: fine_patch"),
    (VideoDiT, dict(patch_size=4, fine_patch=2, fine_dim=0), "VideoDiT: fine_dim"),
]


@pytest.mark.parametrize("cls, kwargs, message", BAD_SIZES,
                         ids=[f"{c.__name__}-{k}" for c, k, _ in BAD_SIZES])
def test_bad_sizes_name_the_class_and_argument(cls, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        cls(**kwargs)
    text = str(info.value)
    assert "must be a" in text and "int" in text and "got" in text, text


# ----------------------------------------------------------------------------- empty attention

EMPTY_SHAPES = [  # (B, T, S, heads, D): one of B, T, S, heads is 0
    (2, 0, 5, 3, 16),
    (3, 5, 0, 1, 32),
    (0, 3, 7, 3, 16),
    (1, 7, 5, 0, 16),
]
KERNELS = {
    "temporal": (lambda q, k, v: kernels.temporal_attention(q, k, v, causal=True, window=1),
                 lambda q, k, v: attention.temporal_attention(q, k, v, causal=True, window=1)),
    "temporal-nomask": (kernels.temporal_attention, attention.temporal_attention),
    "spatial": (kernels.spatial_attention, attention.spatial_attention),
    "temporal-lesson": (
        lambda q, k, v: kernels.lesson.temporal_attention(q, k, v, causal=True, window=1),
        lambda q, k, v: attention.temporal_attention(q, k, v, causal=True, window=1)),
    "spatial-lesson": (kernels.lesson.spatial_attention, attention.spatial_attention),
}


@pytest.mark.parametrize("which", list(KERNELS))
def test_empty_clips_match_the_reference(which):
    """The references return an empty [B, T, S, heads, D] with empty gradients: so do the
    kernels, for q, k, v given as the strided views of a fused projection."""
    for shape, dtype, grad in itertools.product(EMPTY_SHAPES, (torch.float32, torch.float16),
                                                (False, True)):
        B, T, S, heads, D = shape
        for fn in KERNELS[which]:  # the kernel, then the reference it must match
            qkv = torch.randn(B, T, S, 3, heads, D, dtype=dtype, device=DEVICE,
                              requires_grad=grad)
            out = fn(*qkv.unbind(3))
            assert out.shape == shape and out.dtype == dtype and out.is_contiguous(), shape
            if grad:
                out.sum().backward()
                assert qkv.grad.shape == qkv.shape and qkv.grad.dtype == dtype, shape


# ----------------------------------------------------------------------------- vdlite.conv3d


def test_vdlite_conv3d_is_the_module():
    import vdlite.conv3d as module

    assert isinstance(module, types.ModuleType) and module is sys.modules["vdlite.conv3d"]
    assert vdlite.conv3d is module
    assert module.Conv3d is vdlite.Conv3d and module.CausalConv3d is vdlite.CausalConv3d
    assert module.PseudoConv3d is vdlite.PseudoConv3d and callable(module.conv3d)
    from vdlite import CausalConv3d, Conv3d, PseudoConv3d, conv3d  # noqa: F401

    assert conv3d is module


def test_vdlite_conv3d_is_callable_as_the_function():
    """``vdlite.conv3d(x, weight, bias, stride, padding, dilation, groups)`` is
    ``vdlite.conv3d.conv3d(...)``, equal to F.conv3d, with the function's signature."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 5, 7, 9, generator=g, dtype=torch.float64)
    w = torch.randn(10, 3, 3, 1, 3, generator=g, dtype=torch.float64)
    b = torch.randn(10, generator=g, dtype=torch.float64)
    args = dict(stride=(1, 2, 3), padding=(1, 0, 2), dilation=(2, 1, 1), groups=2)
    y = vdlite.conv3d(x, w, b, **args)
    torch.testing.assert_close(y, F.conv3d(x, w, b, **args))
    torch.testing.assert_close(vdlite.conv3d.conv3d(x, w, b, **args), y)
    torch.testing.assert_close(vdlite.conv3d(x, w, b, (1, 2, 3), (1, 0, 2), (2, 1, 1), 2), y)
    torch.testing.assert_close(vdlite.conv3d(x[:, :3], w[:5]), F.conv3d(x[:, :3], w[:5]))
    params = list(inspect.signature(vdlite.conv3d).parameters)
    assert params == ["x", "weight", "bias", "stride", "padding", "dilation", "groups"]


# ----------------------------------------------------------------------------- vdlite.cost


def run_cost(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VDLITE_DEBUG"}
    return subprocess.run([sys.executable, "-m", "vdlite.cost", "--out", str(tmp_path), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, *texts: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("vdlite") and ": error: " in lines[0], lines[0]
    for text in texts:
        assert text in lines[0], lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cost_without_cuda_is_a_one_line_error(tmp_path):
    proc = run_cost("--device", "cuda", tmp_path=tmp_path)
    assert_one_line_error(proc, "--device cuda", "CUDA is not available")
    assert not any(tmp_path.iterdir())


def test_cost_unknown_device_is_a_one_line_error(tmp_path):
    assert_one_line_error(run_cost("--device", "tpu", tmp_path=tmp_path), "--device", "'tpu'")


@pytest.mark.parametrize("window", ["-1", "abc", "1.5"])
def test_cost_bad_window_is_a_one_line_error(window, tmp_path):
    assert_one_line_error(run_cost("--window", window, tmp_path=tmp_path), "--window", window)
    assert not any(tmp_path.iterdir())

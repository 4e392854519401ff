"""Task 04.1: the naive temporal kernel against vdlite.attention.temporal_attention in float64,
on the strided views of a fused projection and on a transposed layout, at odd T (padded to 16
or 32 rows), with every kind of mask; float16 within its rounding; and written as a kernel
(no torch.softmax, matmul or einsum). Without a GPU it runs in Triton's interpreter."""

import pytest
import torch
import torch.nn.functional as F

import vdlite.attention
from vdlite.attention import temporal_attention

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
MASKS = [(False, None), (True, None), (False, 0), (False, 2), (True, 1), (True, 30)]


def views(shape, seed, dtype=torch.float32):
    """q, k, v [B, T, S, heads, D]: the strided views of a fused projection [B, T, S, 3, heads,
    D], no copy."""
    g = torch.Generator().manual_seed(seed)
    B, T, S, heads, D = shape
    qkv = torch.randn(B, T, S, 3, heads, D, generator=g).to(dtype).to(DEVICE)
    return qkv.unbind(3)


def rel_err(x, ref):
    return ((x.double().cpu() - ref.cpu()).norm() / ref.norm()).item()


def check(impl, q, k, v, causal, window, tol):
    out = impl.naive_temporal(q, k, v, causal=causal, window=window)
    where = f"shape {tuple(q.shape)}, {q.dtype}, causal={causal}, window={window}"
    assert out.shape == q.shape and out.dtype == q.dtype, (
        f"{where}: got {tuple(out.shape)} {out.dtype}")
    ref = temporal_attention(q.double(), k.double(), v.double(), causal=causal, window=window)
    err = rel_err(out, ref)
    assert err <= tol, f"{where}: relative error {err:.2e} > {tol:.0e}"


@pytest.mark.points(2)
def test_matches_the_reference_on_views_and_masks(impl):
    for n, (T, causal, window) in enumerate([(5, *MASKS[0]), (5, *MASKS[1]), (11, *MASKS[2]),
                                              (11, *MASKS[4]), (17, *MASKS[1]), (17, *MASKS[3]),
                                              (1, *MASKS[1]), (16, *MASKS[5])]):
        q, k, v = views((2, T, 3, 2, 16), seed=400 + n)
        check(impl, q, k, v, causal, window, 1e-5)


@pytest.mark.points(1)
def test_other_strides_head_sizes_and_float16(impl):
    g = torch.Generator().manual_seed(410)
    q, k, v = (torch.randn(1, 7, 9, 2, 32, generator=g).to(DEVICE).transpose(1, 2)
               for _ in range(3))  # [B, T, S, heads, D] views of [B, S, T, heads, D] memory
    check(impl, q, k, v, True, None, 1e-5)
    q, k, v = views((1, 13, 2, 1, 64), seed=411, dtype=torch.float16)
    check(impl, q, k, v, True, 3, 4e-3)


@pytest.mark.points(1)
def test_the_kernel_does_the_work(impl, monkeypatch):
    q, k, v = views((1, 6, 3, 2, 16), seed=420)
    expected = temporal_attention(q.double(), k.double(), v.double(), causal=True)

    def refuse(*args, **kwargs):
        raise AssertionError("write the attention in the Triton kernel: no torch.softmax, "
                             "matmul, einsum or vdlite.attention")

    for module, name in [(torch, "softmax"), (torch, "matmul"), (torch, "einsum"),
                         (torch, "bmm"), (torch.Tensor, "softmax"), (torch.Tensor, "__matmul__"),
                         (F, "softmax"), (F, "scaled_dot_product_attention"),
                         (vdlite.attention, "temporal_attention")]:
        monkeypatch.setattr(module, name, refuse)
    out = impl.naive_temporal(q, k, v, causal=True)
    assert rel_err(out, expected) <= 1e-5

"""Task 03.5: attention on the strided q, k, v views of one fused projection.

A model computes q, k, v with one projection to ``[B, T, S, 3, heads, D]`` and hands the
views ``qkv.unbind(3)`` to spatial and then temporal attention. Oracle: the reference
functions of ``vdlite.attention`` (which read strided views), and the property that the
fused tensor is left as it was.
"""

import pytest
import torch

from vdlite import attention as ref

B, T, S, HEADS, D = 2, 5, 7, 3, 6
RTOL, ATOL = 1e-10, 1e-12


@pytest.mark.points(2)
def test_attention_on_unbound_views_of_a_fused_qkv(impl):
    g = torch.Generator().manual_seed(8)
    qkv = torch.randn(B, T, S, 3, HEADS, D, generator=g, dtype=torch.float64)
    before = qkv.clone()
    q, k, v = qkv.unbind(3)  # [B, T, S, heads, D] each, strides (.., 3*heads*D, D, 1)
    assert not q.is_contiguous()
    calls = {
        "spatial_attention": (impl.spatial_attention, ref.spatial_attention),
        "temporal_attention(causal=True, window=1)": (
            lambda *x: impl.temporal_attention(*x, causal=True, window=1),
            lambda *x: ref.temporal_attention(*x, causal=True, window=1)),
        "temporal_attention()": (impl.temporal_attention, ref.temporal_attention),
        "full_attention": (impl.full_attention, ref.full_attention),
    }
    for name, (mine, reference) in calls.items():  # in turn on the same views, as a model does
        expected = reference(before[:, :, :, 0], before[:, :, :, 1], before[:, :, :, 2])
        out = mine(q, k, v)
        assert out.shape == (B, T, S, HEADS, D), name
        torch.testing.assert_close(out, expected, rtol=RTOL, atol=ATOL,
                                   msg=lambda m, n=name: f"{n} on strided views: {m}")
        assert torch.equal(qkv, before), f"{name} wrote into its inputs q, k, v"

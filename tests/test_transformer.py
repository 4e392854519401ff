"""Tests for vdlite.transformer: the factorized space-time transformer (video DiT).

Oracles: attention written from scratch here with F.scaled_dot_product_attention on tokens
permuted into its [batch, heads, L, D] layout, masks spelled out element by element; the
image model run on each frame as its own T=1 clip. Shapes are odd (T = 3 or 5, 6 x 6 or
6 x 10 pixels with patch 2, so S = 9 or 15; heads 2 or 3; dim 24 or 36).

Tolerances, all in float64: rtol = atol = 1e-12 wherever two computations differ only in
rounding (oracles; inflation and disabled temporal attention, where RoPE's frame rotation
cancels in spatial attention only up to rounding); exact equality (torch.equal) where the
claim is exact (patchify round trip, identity and zero at initialisation, causality and
frames that never mix, where the unseen inputs are multiplied by exact zeros).
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vdlite.positions import rope_3d
from vdlite.transformer import (
    CrossAttention,
    FactorizedBlock,
    SelfAttention,
    VideoDiT,
    inflate,
    merge_tokens,
    patchify,
    set_temporal_attention,
    split_tokens,
    unpatchify,
)

TOL = {"rtol": 1e-12, "atol": 1e-12}
F64 = torch.float64


class TinyText(nn.Module):
    """A stand-in text encoder: embedding lookup; id 0 is padding, id 1 starts every prompt."""

    def __init__(self, vocab: int = 13, dim: int = 10, length: int = 4) -> None:
        super().__init__()
        self.dim, self.length = dim, length
        self.embed = nn.Embedding(vocab, dim)

    def forward(self, tokens):
        return self.embed(tokens), tokens != 0

    def null_tokens(self, batch):
        tokens = torch.zeros(batch, self.length, dtype=torch.long)
        tokens[:, 0] = 1
        return tokens


def randomise(model: nn.Module, seed: int, scale: float = 0.3) -> nn.Module:
    """Perturb every parameter (zero-initialised ones included) with scaled Gaussian noise."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def video(B=2, C=3, T=5, H=6, W=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(B, C, T, H, W, generator=gen, dtype=F64)


def frame_by_frame(model, x, t, cond=None):
    """The model applied to each frame of x as its own T=1 clip."""
    return torch.cat([model(x[:, :, i : i + 1], t, cond) for i in range(x.shape[2])], dim=2)


def image_model_of(net: VideoDiT) -> VideoDiT:
    """The same network without temporal branches, sharing every other weight."""
    img = VideoDiT(**{**net.config, "temporal": False}, text_encoder=net.text_encoder).double()
    missing, unexpected = img.load_state_dict(net.state_dict(), strict=False)
    assert not missing and all(".temporal." in k for k in unexpected)
    return img


def test_patchify_and_unpatchify_are_inverses():
    x = video(B=2, C=3, T=3, H=6, W=10)
    tokens = patchify(x, 2)  # [B, T, S, C*p*p], S = 3 * 5
    assert tokens.shape == (2, 3, 15, 12)
    # Token s = i * (W/p) + j of frame t is the p x p patch at row i, column j.
    torch.testing.assert_close(tokens[:, 1, 1 * 5 + 3], x[:, :, 1, 2:4, 6:8].reshape(2, 12),
                               rtol=0, atol=0)
    assert torch.equal(unpatchify(tokens, 2, (3, 5)), x)
    assert torch.equal(patchify(unpatchify(tokens, 2, (3, 5)), 2), tokens)


@pytest.mark.parametrize("m,hw", [(2, (3, 5)), (3, (1, 2))])
def test_merge_and_split_tokens_are_inverses_and_merge_is_patchify_of_the_token_grid(m, hw):
    gen = torch.Generator().manual_seed(1)
    fine = torch.randn(2, 3, hw[0] * m * hw[1] * m, 4, generator=gen, dtype=F64)  # [B,T,S_f,C]
    merged = merge_tokens(fine, hw, m)
    assert merged.shape == (2, 3, hw[0] * hw[1], m * m * 4)
    assert torch.equal(split_tokens(merged, hw, m), fine)
    # As an image [B, C, T, H_f, W_f], merging is patchify with p = m, up to channel order:
    # merged token i*W + j holds fine tokens (i*m + a, j*m + b) in (a, b, channel) order.
    grid = fine.reshape(2, 3, hw[0] * m, hw[1] * m, 4).permute(0, 4, 1, 2, 3)
    by_patch = patchify(grid, m).reshape(2, 3, hw[0] * hw[1], 4, m * m).transpose(3, 4)
    assert torch.equal(merged, by_patch.reshape(merged.shape))


@pytest.mark.parametrize("T", [1, 3, 5])
def test_output_has_the_shape_of_the_input(T):
    net = randomise(VideoDiT(3, 2, dim=24, depth=2, heads=2).double(), 0)
    x = video(T=T, H=6, W=10)
    y = net(x, torch.tensor([3, 999]))
    assert y.shape == x.shape and torch.isfinite(y).all()


def tokens_to_sdpa(x, axis):
    """[B, T, S, h, D] -> SDPA's [batch, h, L, D]: batch = B*T (spatial) or B*S (temporal)."""
    B, T, S, h, D = x.shape
    if axis == "spatial":
        return x.permute(0, 1, 3, 2, 4).reshape(B * T, h, S, D)
    return x.permute(0, 2, 3, 1, 4).reshape(B * S, h, T, D)


def sdpa_to_tokens(y, axis, B, T, S):
    h, D = y.shape[1], y.shape[3]
    if axis == "spatial":
        return y.reshape(B, T, h, S, D).permute(0, 1, 3, 2, 4)
    return y.reshape(B, S, h, T, D).permute(0, 3, 1, 2, 4)


def oracle_self_attention(attn, x, hw, mask=None):
    """Linear -> split heads -> RoPE -> SDPA -> merge heads -> Linear, from the module's weights."""
    B, T, S, dim = x.shape
    h = attn.heads
    qkv = F.linear(x, attn.qkv.weight, attn.qkv.bias).reshape(B, T, S, 3, h, dim // h)
    q, k, v = (qkv[:, :, :, i].contiguous() for i in range(3))
    q, k = rope_3d(q, (T, *hw)), rope_3d(k, (T, *hw))
    y = F.scaled_dot_product_attention(*(tokens_to_sdpa(z, attn.axis) for z in (q, k, v)),
                                       attn_mask=mask)
    y = sdpa_to_tokens(y, attn.axis, B, T, S).reshape(B, T, S, dim)
    return F.linear(y, attn.out.weight, attn.out.bias)


@pytest.mark.parametrize("dim,heads", [(24, 2), (36, 3), (24, 4)])
def test_spatial_self_attention_matches_sdpa_oracle(dim, heads):
    torch.manual_seed(0)
    attn = SelfAttention(dim, heads, "spatial").double()
    x = torch.randn(2, 3, 15, dim, dtype=F64)  # token grid 3 x 5
    torch.testing.assert_close(attn(x, (3, 5)), oracle_self_attention(attn, x, (3, 5)), **TOL)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("window", [None, 0, 1, 7])
def test_temporal_self_attention_matches_sdpa_oracle(causal, window):
    torch.manual_seed(1)
    attn = SelfAttention(36, 3, "temporal", causal, window).double()
    T = 5
    x = torch.randn(2, T, 9, 36, dtype=F64)  # token grid 3 x 3
    mask = torch.tensor([[(not causal or u <= t) and (window is None or abs(t - u) <= window)
                          for u in range(T)] for t in range(T)])
    torch.testing.assert_close(attn(x, (3, 3)), oracle_self_attention(attn, x, (3, 3), mask),
                               **TOL)


def test_cross_attention_matches_sdpa_oracle_and_ignores_padding():
    torch.manual_seed(2)
    attn = randomise(CrossAttention(24, 10, 2).double(), 2)
    B, T, S, L = 2, 3, 9, 4
    x, ctx = torch.randn(B, T, S, 24, dtype=F64), torch.randn(B, L, 10, dtype=F64)
    real = torch.tensor([[True, True, False, False], [True, True, True, True]])
    q = F.linear(x, attn.q.weight, attn.q.bias).reshape(B, T * S, 2, 12).transpose(1, 2)
    k, v = F.linear(ctx, attn.kv.weight, attn.kv.bias).reshape(B, L, 2, 2, 12).unbind(2)
    y = F.scaled_dot_product_attention(q, k.transpose(1, 2), v.transpose(1, 2),
                                       attn_mask=real[:, None, None, :])  # [B, h, T*S, D]
    y = F.linear(y.transpose(1, 2).reshape(B, T, S, 24), attn.out.weight, attn.out.bias)
    torch.testing.assert_close(attn(x, ctx, real), y, **TOL)
    padded = ctx.clone()
    padded[0, 2:] = 100.0
    assert torch.equal(attn(x, padded, real), attn(x, ctx, real))


@pytest.mark.parametrize("causal,window,radius", [(True, 1, 1), (False, None, 1),
                                                  (True, None, 2)])
def test_neighbourhood_temporal_self_attention_matches_sdpa_oracle(causal, window, radius):
    """radius r: token (t, s) attends to (u, r') for allowed frames u and r' within r rows and
    columns of s; the oracle is SDPA over all T*S tokens with that mask written out."""
    torch.manual_seed(2)
    attn = SelfAttention(36, 3, "temporal", causal, window, radius).double()
    T, H, W = 4, 3, 5
    S, dim, h = H * W, 36, 3
    x = torch.randn(2, T, S, dim, dtype=F64)
    qkv = F.linear(x, attn.qkv.weight, attn.qkv.bias).reshape(2, T, S, 3, h, dim // h)
    q, k, v = (qkv[:, :, :, i].contiguous() for i in range(3))
    q, k = rope_3d(q, (T, H, W)), rope_3d(k, (T, H, W))
    mask = torch.tensor([[(not causal or u <= t) and (window is None or abs(t - u) <= window)
                          and abs(s // W - r // W) <= radius and abs(s % W - r % W) <= radius
                          for u in range(T) for r in range(S)]
                         for t in range(T) for s in range(S)])
    y = F.scaled_dot_product_attention(*(z.reshape(2, T * S, h, -1).transpose(1, 2)
                                         for z in (q, k, v)), attn_mask=mask)
    y = F.linear(y.transpose(1, 2).reshape(2, T, S, dim), attn.out.weight, attn.out.bias)
    torch.testing.assert_close(attn(x, (H, W)), y, **TOL)


@pytest.mark.parametrize("window,radius", [(None, 0), (1, 0), (None, 1)])
def test_causal_model_outputs_never_depend_on_future_frames(window, radius):
    net = randomise(VideoDiT(3, 2, dim=24, depth=2, heads=2, causal=True, window=window,
                             temporal_radius=radius).double(), 3)
    x, t = video(T=5), torch.tensor([10, 700])
    y = net(x, t)
    for now in range(4):
        future = x.clone()
        future[:, :, now + 1 :] = torch.randn_like(future[:, :, now + 1 :])
        y2 = net(future, t)
        assert torch.equal(y2[:, :, : now + 1], y[:, :, : now + 1])
        assert not torch.allclose(y2[:, :, now + 1 :], y[:, :, now + 1 :])


def test_fresh_block_is_the_identity_and_fresh_model_predicts_zero():
    torch.manual_seed(4)
    block = FactorizedBlock(24, 2, cross=True, context_dim=10, causal=True, window=2).double()
    x, c = torch.randn(2, 3, 9, 24, dtype=F64), torch.randn(2, 24, dtype=F64)
    ctx = torch.randn(2, 4, 10, dtype=F64)
    assert torch.equal(block(x, c, (3, 3), ctx), x)
    net = VideoDiT(3, 2, dim=24, depth=2, heads=2, text_encoder=TinyText())
    assert torch.count_nonzero(net(video(T=3).float(), torch.tensor([1, 2]))) == 0
    fine = VideoDiT(3, 2, dim=24, depth=2, heads=2, fine_patch=1, fine_dim=8)
    assert torch.count_nonzero(fine(video(T=3).float(), torch.tensor([1, 2]))) == 0


def test_fine_patch_model_has_the_input_shape_and_learns_from_zero():
    """fine_patch: blocks on a 3 x 3 grid of 2 x 2 patches, pixels drawn from 1 x 1 tokens."""
    net = VideoDiT(3, 2, dim=24, depth=2, heads=2, fine_patch=1, fine_dim=8,
                   temporal_radius=1).double()
    x, t = video(T=5, H=6, W=6), torch.tensor([3, 900])
    loss = F.mse_loss(net(x, t), x)
    loss.backward()
    assert net.fine_head.conv.weight.grad.abs().max() > 0  # the zero conv gets a gradient
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
    y = net(x, t)
    assert y.shape == x.shape and torch.isfinite(y).all() and y.abs().max() > 0
    with pytest.raises(ValueError, match="fine_patch must divide patch_size=4"):
        VideoDiT(3, 4, dim=24, depth=1, heads=2, fine_patch=3)
    with pytest.raises(ValueError, match="fine_patch must divide patch_size=2"):
        VideoDiT(3, 2, dim=24, depth=1, heads=2, fine_patch=2)


@pytest.mark.parametrize("text,radius,fine", [(False, 0, None), (True, 0, None), (False, 1, None),
                                              (True, 1, 1)])
def test_inflated_model_is_the_image_model_frame_by_frame(text, radius, fine):
    torch.manual_seed(5)
    img = VideoDiT(3, 2, dim=24, depth=2, heads=2, temporal=False, causal=text,
                   text_encoder=TinyText() if text else None, temporal_radius=radius,
                   fine_patch=fine, fine_dim=8)
    img = randomise(img.double(), 5)
    net = inflate(img)
    assert net.config == {**img.config, "temporal": True}
    assert all(b.temporal is not None for b in net.blocks)
    x, t = video(T=5), torch.tensor([3, 800])
    cond = torch.tensor([[1, 5, 7, 0], [1, 2, 0, 0]]) if text else None
    torch.testing.assert_close(net(x, t, cond), frame_by_frame(img, x, t, cond), **TOL)
    # Every image weight was copied; the new temporal weights are the only extra ones.
    video_state = net.state_dict()
    for name, value in img.state_dict().items():
        assert torch.equal(video_state[name], value)


def test_inflated_temporal_branches_learn_after_one_step():
    img = randomise(VideoDiT(3, 2, dim=24, depth=2, heads=2, temporal=False).double(), 6)
    net = inflate(img)
    x, t = video(T=3), torch.tensor([5, 400])
    before = net(x, t).detach()
    loss = F.mse_loss(net(x, t), torch.zeros_like(x))
    loss.backward()
    for block in net.blocks:
        assert block.temporal.ada.weight.grad.abs().max() > 0
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
    after = net(x, t).detach()
    assert not torch.allclose(before, after)
    off = set_temporal_attention(net, False)(x, t).detach()
    assert (after - off).abs().max() > 1e-6  # the temporal branches now contribute


def test_disabled_temporal_attention_is_the_image_model_frame_by_frame():
    net = randomise(VideoDiT(3, 2, dim=36, depth=2, heads=3).double(), 7)
    x, t = video(T=5, H=6, W=10), torch.tensor([0, 999])
    on = net(x, t)
    frames = frame_by_frame(image_model_of(net), x, t)
    assert (on - frames).abs().max() > 1e-3  # with temporal attention, frames interact
    set_temporal_attention(net, False)
    torch.testing.assert_close(net(x, t), frames, **TOL)
    set_temporal_attention(net, True)
    assert torch.equal(net(x, t), on)


@pytest.mark.parametrize("fine", [None, 1])
def test_image_model_never_mixes_frames(fine):
    net = randomise(VideoDiT(3, 2, dim=24, depth=2, heads=2, temporal=False, fine_patch=fine,
                             fine_dim=8).double(), 8)
    x, t = video(T=5), torch.tensor([9, 99])
    x2 = x.clone()
    x2[:, :, 2] += 1.0
    changed = (net(x2, t) - net(x, t)).abs().amax(dim=(0, 1, 3, 4))  # [T]
    assert changed[2] > 0 and torch.equal(changed[[0, 1, 3, 4]], torch.zeros(4, dtype=F64))


def test_text_conditioning_changes_the_output_and_none_means_the_empty_prompt():
    torch.manual_seed(9)
    net = randomise(VideoDiT(3, 2, dim=24, depth=2, heads=3, text_encoder=TinyText()).double(), 9)
    x, t = video(T=3), torch.tensor([50, 500])
    a = torch.tensor([[1, 5, 7, 0], [1, 2, 0, 0]])
    b = torch.tensor([[1, 5, 8, 0], [1, 2, 0, 0]])
    ya, yb = net(x, t, a), net(x, t, b)
    assert (ya[0] - yb[0]).abs().max() > 1e-6  # the prompt that changed
    assert torch.equal(ya[1], yb[1])  # the prompt that did not
    assert torch.equal(net(x, t), net(x, t, net.null_tokens(2)))
    with pytest.raises(ValueError, match="torch.long"):
        net(x, t, a.float())
    with pytest.raises(ValueError, match=r"\[B, L\]"):
        net(x, t, a[:1])
    with pytest.raises(ValueError, match=r"\[B, L\]"):
        net(x, t, a[:, :, None])
    with pytest.raises(ValueError, match="token ids"):
        net(x, t, [[1, 2]])


@pytest.mark.parametrize("fine", [None, 1])
def test_config_rebuilds_the_same_network(fine):
    net = randomise(VideoDiT(3, 2, dim=24, depth=2, heads=2, causal=True, window=1,
                             fine_patch=fine, fine_dim=8).double(), 10)
    copy = VideoDiT(**net.config).double()
    copy.load_state_dict(net.state_dict())
    x, t = video(T=3), torch.tensor([1, 2])
    assert torch.equal(copy(x, t), net(x, t))


def test_block_with_cross_attention_passes_gradcheck():
    torch.manual_seed(11)
    block = randomise(FactorizedBlock(12, 2, mlp_ratio=2, cross=True, context_dim=5, causal=True)
                      .double(), 11)
    x = torch.randn(1, 3, 4, 12, dtype=F64, requires_grad=True)  # T=3, token grid 2 x 2
    c, ctx = torch.randn(1, 12, dtype=F64), torch.randn(1, 3, 5, dtype=F64)
    real = torch.tensor([[True, True, False]])
    assert torch.autograd.gradcheck(lambda z: block(z, c, (2, 2), ctx, real), (x,))


def test_bad_inputs_raise_clear_errors():
    net = VideoDiT(3, 2, dim=24, depth=1, heads=2)
    x, t = torch.randn(1, 3, 2, 6, 6), torch.tensor([1])
    with pytest.raises(ValueError, match="B, C, T, H, W"):
        net(x[0], t)
    with pytest.raises(ValueError, match="3 channels"):
        net(x[:, :2], t)
    with pytest.raises(ValueError, match="divisible by patch_size=2"):
        net(torch.randn(1, 3, 2, 6, 7), t)
    with pytest.raises(ValueError, match=r"t must have shape \[B\]"):
        net(x, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="no text_encoder"):
        net(x, t, torch.ones(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="no text_encoder"):
        net.null_tokens(1)
    with pytest.raises(ValueError, match="divisible by heads"):
        SelfAttention(24, 5)
    with pytest.raises(ValueError, match="even and >= 6"):
        SelfAttention(20, 5)  # D = 4
    with pytest.raises(ValueError, match="even and >= 6"):
        SelfAttention(21, 3)  # D = 7
    with pytest.raises(ValueError, match="axis"):
        SelfAttention(24, 2, "full")
    with pytest.raises(ValueError, match="only to axis='temporal'"):
        SelfAttention(24, 2, "spatial", causal=True)
    with pytest.raises(ValueError, match="radius applies only to axis='temporal'"):
        SelfAttention(24, 2, "spatial", radius=1)
    with pytest.raises(ValueError, match="radius must be an int >= 0"):
        SelfAttention(24, 2, "temporal", radius=-1)
    with pytest.raises(ValueError, match="context_dim"):
        FactorizedBlock(24, 2, cross=True)
    with pytest.raises(ValueError, match="image model"):
        inflate(net)

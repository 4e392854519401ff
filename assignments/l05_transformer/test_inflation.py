"""Task 05.4: temporal attention against SDPA, and an inflated block that starts as the image
block applied frame by frame."""

import pytest
import torch
import torch.nn.functional as F

from vdlite.transformer import FactorizedBlock

DIM, HEADS, HW = 18, 3, (2, 3)  # head dim 6; a 2 x 3 token grid, S = 6


def image_block(seed: int) -> FactorizedBlock:
    """An image model's block (no temporal branch) with random weights, as if trained."""
    torch.manual_seed(seed)
    block = FactorizedBlock(DIM, HEADS, mlp_ratio=2, temporal=False).double()
    with torch.no_grad():
        for param in block.parameters():
            param.normal_(0, 0.2)
    return block


def clip(seed: int, T: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens x [2, T, S, DIM] and conditioning c [2, DIM]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, T, HW[0] * HW[1], DIM, generator=g, dtype=torch.float64)
    return x, torch.randn(2, DIM, generator=g, dtype=torch.float64)


@pytest.mark.points(2)
def test_temporal_attention_matches_sdpa(impl):
    """out(softmax(q k^T / sqrt(D)) v) over the T frames of each position, per head."""
    torch.manual_seed(0)
    att = impl.TemporalAttention(DIM, HEADS).double()
    with torch.no_grad():
        for param in att.out.parameters():  # whatever its init, give it a trained output
            param.normal_(0, 0.3)
    x, _ = clip(0, T=7)
    B, T, S, _ = x.shape
    q, k, v = att.qkv(x).reshape(B, T, S, 3, HEADS, DIM // HEADS).unbind(3)  # [B, T, S, h, D]
    y = F.scaled_dot_product_attention(*(a.permute(0, 2, 3, 1, 4) for a in (q, k, v)))
    oracle = att.out(y.permute(0, 3, 1, 2, 4).reshape(B, T, S, DIM))  # from [B, S, h, T, D]
    torch.testing.assert_close(att(x), oracle, rtol=1e-10, atol=1e-10)


@pytest.mark.points(2)
def test_inflated_block_equals_image_block_frame_by_frame(impl):
    """A fresh InflatedBlock on a clip == the image block on each frame alone (float64; only
    RoPE's frame rotation, which cancels in spatial attention, leaves rounding)."""
    image = image_block(1)
    video = impl.InflatedBlock(image, DIM, HEADS).double()
    x, c = clip(1)
    frames = torch.cat([image(x[:, t:t + 1], c, HW) for t in range(x.shape[1])], dim=1)
    torch.testing.assert_close(video(x, c, HW), frames, rtol=0, atol=1e-10)


@pytest.mark.points(1)
def test_fresh_temporal_branch_gets_a_gradient(impl):
    """Only the output projection is zero: temporal.out.weight gets a gradient at step one."""
    video = impl.InflatedBlock(image_block(2), DIM, HEADS).double()
    x, c = clip(2)
    video(x, c, HW).pow(2).sum().backward()
    grad = video.temporal.out.weight.grad
    assert grad is not None and grad.abs().max() > 1e-6, "the branch is stuck at zero"


@pytest.mark.points(1)
def test_trained_temporal_branch_mixes_frames(impl):
    """Once the temporal weights move, changing frame 0 changes the output at frame 3."""
    video = impl.InflatedBlock(image_block(3), DIM, HEADS).double()
    with torch.no_grad():
        for param in video.temporal.parameters():
            param.normal_(0, 0.2)
    x, c = clip(3)
    nudged = x.clone()
    nudged[:, 0] += 1.0
    change = (video(nudged, c, HW)[:, 3] - video(x, c, HW)[:, 3]).abs().max()
    assert change > 1e-3, "frame 3 ignores frame 0: is the temporal branch applied?"

"""Task A1.3: temporal attention along a constant motion. Oracles in float64: for whole-pixel
velocities, full attention over all T*S tokens (PyTorch's scaled_dot_product_attention) with a
boolean mask, built by loops, that lets query (t, p) see in each frame t' only the token at
p + v (t' - t) when it is on the grid; for fractional velocities, a loop over every query and
frame that reads keys and values bilinearly. Properties: v = 0 is vdlite's temporal attention,
and a clip that translates by v per frame is left unchanged by uniform attention along v.
Odd, non-power-of-two shapes; tolerances 1e-10 relative, 1e-12 absolute."""

import math

import pytest
import torch
import torch.nn.functional as F

from vdlite.attention import temporal_attention

RTOL, ATOL = 1e-10, 1e-12
SHAPES = [(2, 5, (3, 7), 3, 6), (1, 7, (5, 5), 2, 5), (1, 4, (1, 9), 1, 3), (2, 3, (6, 1), 2, 4)]


def qkv(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3)]


def trajectory_mask(T: int, hw, velocity) -> torch.Tensor:
    """bool [T*S, T*S]: token t*S + y*W + x sees token t'*S + y'*W + x' exactly when
    (x', y') = (x, y) + v (t' - t) lies on the grid."""
    H, W = hw
    S = H * W
    allowed = torch.zeros(T * S, T * S, dtype=torch.bool)
    for t in range(T):
        for y in range(H):
            for x in range(W):
                for u in range(T):
                    xx, yy = x + velocity[0] * (u - t), y + velocity[1] * (u - t)
                    if 0 <= xx < W and 0 <= yy < H:
                        allowed[t * S + y * W + x, u * S + yy * W + xx] = True
    return allowed


def masked_full_attention(q, k, v, allowed):
    B, T, S, h, D = q.shape

    def flat(x):  # [B, T, S, h, D] -> [B, h, T*S, D]
        return x.permute(0, 3, 1, 2, 4).reshape(B, h, T * S, D)

    out = F.scaled_dot_product_attention(flat(q), flat(k), flat(v), attn_mask=allowed)
    return out.reshape(B, h, T, S, D).permute(0, 2, 3, 1, 4)


@pytest.mark.points(3)
def test_whole_pixel_motion_matches_masked_full_attention(impl):
    for i, (B, T, hw, heads, D) in enumerate(SHAPES):
        q, k, v = qkv((B, T, hw[0] * hw[1], heads, D), 740 + i)
        for velocity in ((1, 0), (0, -1), (1, -1), (-2, 1), (3, 2)):
            if (hw[0] == 1 and velocity[1]) or (hw[1] == 1 and velocity[0]):
                continue  # a one-pixel-high grid has no vertical motion to follow
            where = f"[B, T, S, heads, D] = {tuple(q.shape)}, hw = {hw}, v = {velocity}"
            expected = masked_full_attention(q, k, v, trajectory_mask(T, hw, velocity))
            got = impl.shifted_temporal_attention(q, k, v, hw, velocity)
            assert got.shape == q.shape, f"{where}: got shape {tuple(got.shape)}"
            torch.testing.assert_close(got, expected, rtol=RTOL, atol=ATOL,
                                       msg=lambda m, where=where: f"{where}: {m}")


def bilinear(x, t, px, py):
    """x [B, T, H, W, h, D] read at the point (px, py) of frame t, from its four pixels."""
    x0, y0 = math.floor(px), math.floor(py)
    fx, fy = px - x0, py - y0
    out = 0
    for yy, wy in ((y0, 1 - fy), (y0 + 1, fy)):
        for xx, wx in ((x0, 1 - fx), (x0 + 1, fx)):
            if wx * wy:
                out = out + wx * wy * x[:, t, yy, xx]
    return out  # [B, h, D]


def bilinear_oracle(q, k, v, hw, velocity):
    """Loops over queries (t, y, x) and frames t': the key and value at (x, y) + v (t' - t),
    read bilinearly, where that point lies in [0, W-1] x [0, H-1]; a softmax over those."""
    B, T, S, h, D = q.shape
    H, W = hw
    kk, vv = k.reshape(B, T, H, W, h, D), v.reshape(B, T, H, W, h, D)
    out = torch.zeros_like(q)
    for t in range(T):
        for y in range(H):
            for x in range(W):
                scores, values = [], []
                for u in range(T):
                    px, py = x + velocity[0] * (u - t), y + velocity[1] * (u - t)
                    if 0 <= px <= W - 1 and 0 <= py <= H - 1:
                        key = bilinear(kk, u, px, py)
                        scores.append((q[:, t, y * W + x] * key).sum(-1) / math.sqrt(D))
                        values.append(bilinear(vv, u, px, py))
                weights = torch.softmax(torch.stack(scores), dim=0)  # [frames seen, B, h]
                out[:, t, y * W + x] = (weights[..., None] * torch.stack(values)).sum(0)
    return out


@pytest.mark.points(2)
def test_fractional_motion_reads_bilinearly(impl):
    for i, (B, T, hw, heads, D) in enumerate(SHAPES[:3]):
        q, k, v = qkv((B, T, hw[0] * hw[1], heads, D), 750 + i)
        for velocity in ((0.5, -0.25), (-1.25, 0.75)):
            if (hw[0] == 1 and velocity[1]) or (hw[1] == 1 and velocity[0]):
                velocity = (velocity[0], 0.0) if hw[0] == 1 else (0.0, velocity[1])
            where = f"hw = {hw}, v = {velocity}"
            got = impl.shifted_temporal_attention(q, k, v, hw, velocity)
            torch.testing.assert_close(got, bilinear_oracle(q, k, v, hw, velocity), rtol=RTOL,
                                       atol=ATOL, msg=lambda m, where=where: f"{where}: {m}")


@pytest.mark.points(2)
def test_no_motion_is_temporal_attention_and_motion_is_followed(impl):
    q, k, v = qkv((2, 5, 21, 3, 6), 760)
    got = impl.shifted_temporal_attention(q, k, v, (3, 7), (0, 0))
    torch.testing.assert_close(got, temporal_attention(q, k, v), rtol=RTOL, atol=ATOL,
                               msg=lambda m: f"v = 0 must be vdlite's temporal_attention: {m}")
    # a clip that translates by v per frame: frame t at (x, y) shows texture (x - v_x t, y - v_y t)
    T, H, W, (vx, vy) = 6, 5, 9, (2, -1)
    g = torch.Generator().manual_seed(761)
    oy, ox = T * abs(vy), T * abs(vx)  # margins, so that every frame lies in the texture
    texture = torch.randn(1, H + 2 * oy, W + 2 * ox, 2, 4, generator=g, dtype=torch.float64)
    frames = [texture[:, oy - vy * t:oy - vy * t + H, ox - vx * t:ox - vx * t + W]
              for t in range(T)]
    clip = torch.stack(frames, dim=1).reshape(1, T, H * W, 2, 4)  # [B, T, S, heads, D]
    assert torch.equal(clip.reshape(1, T, H, W, 2, 4)[0, 1, 3, 2],
                       clip.reshape(1, T, H, W, 2, 4)[0, 0, 4, 0])  # the texture moved by v
    uniform = torch.zeros_like(clip)  # q = 0: equal weights on every frame the query sees
    got = impl.shifted_temporal_attention(uniform, clip, clip, (H, W), (vx, vy))
    torch.testing.assert_close(got, clip, rtol=RTOL, atol=ATOL, msg=lambda m: (
        f"uniform attention along the motion averages the same texture point in every frame, "
        f"so a clip translating by v = ({vx}, {vy}) must come back unchanged: {m}"))

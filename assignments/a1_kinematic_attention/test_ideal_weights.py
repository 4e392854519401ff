"""Task A1.1: the ideal space-time attention of a query on a constant-velocity object, against
an oracle written with explicit loops in float64 (to 1e-12), and its properties: one Gaussian
per frame centred on the sheared line (x + v_x (t'-t), y + v_y (t'-t)), a vertical line when
v = 0."""

import math

import pytest
import torch

CASES = [  # (x, y, t, (v_x, v_y), frames, (H, W), sigma): odd shapes, v_x != v_y, H != W
    (3.0, 2.0, 2, (1.5, -0.5), 5, (7, 9), 0.8),
    (1.0, 4.0, 0, (2.0, -1.0), 7, (6, 11), 1.3),
    (6.5, 1.25, 4, (-1.25, 0.75), 5, (5, 9), 0.6),
    (2.0, 0.0, 3, (0.0, 1.0), 7, (9, 3), 1.0),
]


def gaussian_oracle(x, y, t, velocity, frames, hw, sigma) -> torch.Tensor:
    """exp(-|p' - c(t')|² / 2σ²) at every (t', y', x'), c(t') = (x, y) + v (t' - t), divided by
    its sum over all of them; loops, in Python floats."""
    H, W = hw
    out = []
    for u in range(frames):
        cx, cy = x + velocity[0] * (u - t), y + velocity[1] * (u - t)
        for row in range(H):
            for col in range(W):
                out.append(math.exp(-((col - cx) ** 2 + (row - cy) ** 2) / (2 * sigma**2)))
    total = sum(out)
    return torch.tensor([w / total for w in out], dtype=torch.float64).reshape(frames, H, W)


@pytest.mark.points(2)
def test_ideal_weights_match_the_oracle(impl):
    for x, y, t, velocity, frames, hw, sigma in CASES:
        where = f"query ({x}, {y}) in frame {t}, v = {velocity}, T = {frames}, (H, W) = {hw}"
        got = impl.ideal_weights(x, y, t, velocity, frames, hw, sigma)
        expected = gaussian_oracle(x, y, t, velocity, frames, hw, sigma)
        assert got.shape == (frames, *hw), f"{where}: got shape {tuple(got.shape)}"
        torch.testing.assert_close(got.double(), expected, rtol=1e-12, atol=1e-14,
                                   msg=lambda m, where=where: f"{where}: {m}")


@pytest.mark.points(1)
def test_ideal_weights_follow_the_sheared_line(impl):
    # integer motion from an integer query: every frame's peak is its trajectory point
    x, y, t, (vx, vy), frames, (H, W) = 6, 4, 3, (2, -1), 7, (9, 13)
    w = impl.ideal_weights(float(x), float(y), t, (float(vx), float(vy)), frames, (H, W), 0.7)
    torch.testing.assert_close(w.sum().double(), torch.tensor(1.0, dtype=torch.float64),
                               rtol=0, atol=1e-12, msg="the weights must sum to 1 over [T, H, W]")
    for u in range(frames):
        peak = divmod(int(w[u].argmax()), W)  # (row, column)
        expected = (y + vy * (u - t), x + vx * (u - t))
        assert peak == expected, (
            f"frame {u}: the weight peaks at (row, column) {peak}, but the object, at (x, y) = "
            f"({x}, {y}) in frame {t} moving by v = ({vx}, {vy}) per frame, is at {expected}")
    # no motion: the same Gaussian in every frame, a vertical line in space-time
    w = impl.ideal_weights(2.5, 1.0, 1, (0.0, 0.0), 5, (5, 7), 1.1)
    for u in range(5):
        torch.testing.assert_close(w[u], w[1], rtol=1e-12, atol=1e-14,
                                   msg=lambda m, u=u: f"v = 0: frame {u} differs from frame 1: {m}")

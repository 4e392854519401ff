"""Task A1.4: the probe of where attention puts its weight. `trajectory_mass` against an
oracle that loops over the keys of one attention row (random weights, float64, to 1e-12);
`probe` against the same loops over the attention maps of the trained model in probe_model.pt
(to 1e-6, the maps being float32); and what the probe finds in that model: a query on the
sprite puts clearly more of its other-frame weight along the sprite's true trajectory than
along the mirrored one or a uniform spread, and more than along the static line."""

import math

import pytest
import torch

from assignments.a1_kinematic_attention.probe_model import load, probe_clips

RADIUS = 1.5


def mass_oracle(row: list[float], T: int, hw, t: int, centre, velocity, radius) -> float:
    """One query's weights `row` (T*S floats, key t'*S + y*W + x): the share of its weight
    in frames t' != t that lies within `radius` of centre + velocity (t' - t)."""
    H, W = hw
    near = total = 0.0
    for u in range(T):
        if u == t:
            continue
        cx, cy = centre[0] + velocity[0] * (u - t), centre[1] + velocity[1] * (u - t)
        for y in range(H):
            for x in range(W):
                w = row[u * H * W + y * W + x]
                total += w
                if (x - cx) ** 2 + (y - cy) ** 2 <= radius**2:
                    near += w
    return near / total


def query_row(weights: torch.Tensor, t: int, centre, W: int) -> list[float]:
    """The row of `weights` [T, S, T, S] of the token nearest `centre` (floor(c + 1/2)) in t."""
    s = math.floor(centre[1] + 0.5) * W + math.floor(centre[0] + 0.5)
    return weights[t, s].flatten().double().tolist()


@pytest.mark.points(2)
def test_trajectory_mass_matches_the_oracle(impl):
    g = torch.Generator().manual_seed(770)
    for T, (H, W) in ((5, (7, 9)), (7, (5, 11)), (3, (6, 6))):
        S = H * W
        weights = torch.softmax(3 * torch.randn(T, S, T * S, generator=g, dtype=torch.float64),
                                dim=-1).reshape(T, S, T, S)
        for t, centre, velocity, radius in ((T // 2, (3.3, 2.8), (1.2, -0.7), 1.5),
                                            (0, (1.6, 4.4), (0.8, -1.1), 2.0),
                                            (T - 1, (4.9, 0.2), (-0.5, 0.9), 1.0),
                                            (1, (2.0, 3.0), (0.0, 0.0), 1.5)):
            where = f"T = {T}, hw = {(H, W)}, query ({t}, {centre}), v = {velocity}, r = {radius}"
            got = impl.trajectory_mass(weights, (H, W), t, centre, velocity, radius)
            expected = mass_oracle(query_row(weights, t, centre, W), T, (H, W), t, centre,
                                   velocity, radius)
            assert abs(got - expected) < 1e-12, f"{where}: expected {expected:.6f}, got {got:.6f}"


@pytest.fixture(scope="module")
def probed():
    """The trained model and 8 straight-moving noisy clips (not the README's)."""
    torch.set_num_threads(1)
    return load(), probe_clips(8, seed=777)


@pytest.mark.points(2)
def test_probe_of_the_trained_model_matches_the_oracle(impl, probed):
    model, clips = probed
    video, centres, velocities = clips["video"], clips["centre"], clips["velocity"]
    B, _, T, H, W = video.shape
    with torch.no_grad():
        weights = model.attention(video)  # [B, heads, T, S, T, S]
    uniform = [1 / (T * H * W)] * (T * H * W)
    expected = dict.fromkeys(("trajectory", "mirrored", "static", "uniform"), 0.0)
    for b in range(B):
        c, v = centres[b].tolist(), velocities[b].tolist()
        heads = [query_row(w, T // 2, c, W) for w in weights[b]]
        row = [sum(ws) / len(ws) for ws in zip(*heads, strict=True)]  # the heads' average
        for name, r, vel in (("trajectory", row, v), ("mirrored", row, (-v[0], -v[1])),
                             ("static", row, (0.0, 0.0)), ("uniform", uniform, v)):
            expected[name] += mass_oracle(r, T, (H, W), T // 2, c, vel, RADIUS) / B
    got = impl.probe(model, video, centres, velocities, RADIUS)
    assert set(got) == set(expected), f"expected the keys {sorted(expected)}, got {sorted(got)}"
    for name in expected:
        assert abs(got[name] - expected[name]) < 1e-6, (
            f"{name}: expected {expected[name]:.6f}, got {got[name]:.6f}")


@pytest.mark.points(1)
def test_the_trained_model_attends_along_the_trajectory(impl, probed):
    model, clips = probed
    got = impl.probe(model, clips["video"], clips["centre"], clips["velocity"], RADIUS)
    assert got["trajectory"] > 2 * max(got["mirrored"], got["uniform"]), (
        f"the trained model's query on the sprite weighs the true trajectory at least twice as "
        f"much as the mirrored one and a uniform spread; your probe finds {got}")
    assert got["trajectory"] > got["static"], (
        f"the trained model follows the sprite rather than the query's own position; your probe "
        f"finds {got}")

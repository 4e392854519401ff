"""Task A3.1: the flicker measure. error_change against its definition, and flicker_ratio
against the same ratio computed through the error's lag-1 autocovariance (oracles.py), both in
float64 to 1e-12, on odd shapes; then the order of errors whose temporal structure is known."""

import pytest
import torch

from assignments.a3_causal_vae.oracles import ratio_by_autocovariance


def clip(shape, seed):
    """Values k/64 in [-1, 1]: sums and differences of a few of them are exact in float64."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-64, 65, shape, generator=g).double() / 64


@pytest.mark.points(1)
def test_error_change_against_its_definition(impl):
    video, recon = clip((3, 3, 7, 5, 6), 1), clip((3, 3, 7, 5, 6), 2)
    got = impl.error_change(video, recon)
    e = recon - video
    expected = torch.stack([(e[:, :, t + 1] - e[:, :, t]).pow(2).mean() for t in range(6)])
    assert got.shape == (6,), f"one value per transition t -> t+1: shape {tuple(got.shape)}"
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    moving = clip((2, 3, 5, 7, 3), 3)  # every frame different, reconstructed perfectly
    assert torch.all(impl.error_change(moving, moving.clone()) == 0), (
        "a perfect reconstruction of a moving clip has no error to change: measure the change "
        "of the error recon - video, not of the reconstruction")


@pytest.mark.points(2)
def test_flicker_ratio_against_the_autocovariance(impl):
    video = clip((2, 3, 9, 5, 7), 10)
    g = torch.Generator().manual_seed(11)
    noise = 0.1 * torch.randn(video.shape, generator=g, dtype=torch.float64)
    bias = clip((2, 3, 1, 5, 7), 12)  # exact, so video + bias - video is the same every frame
    smooth = noise.cumsum(dim=2)  # a random walk in time: strongly correlated
    cases = {"independent error": video + noise, "the same error plus a still bias":
             video + noise + bias, "a random walk": video + smooth,
             "scaled by 13": video + 13 * noise}
    for name, recon in cases.items():
        got = impl.flicker_ratio(video, recon)
        assert isinstance(got, float), f"{name}: return a Python float, got {type(got)}"
        expected = ratio_by_autocovariance(video, recon)
        assert abs(got - expected) < 1e-12, f"{name}: {got} != {expected}"
    assert impl.flicker_ratio(video, video.clone()) == 0.0, "no error: 0.0"
    assert impl.flicker_ratio(video, video + bias) == 0.0, (
        "an error that never changes in time does not flicker: 0.0")


@pytest.mark.points(1)
def test_the_order_of_known_errors(impl):
    """Per pixel, independent errors (white in time) give about 1; an AR(1) error with
    correlation ρ = 0.8 about 1 - ρ; one that alternates in sign more than 1; a still one 0."""
    shape = (4, 3, 49, 9, 7)
    g = torch.Generator().manual_seed(20)
    video = clip(shape, 21)
    white = torch.randn(shape, generator=g, dtype=torch.float64)
    ar = white.clone()
    for t in range(1, shape[2]):
        ar[:, :, t] = 0.8 * ar[:, :, t - 1] + 0.6 * white[:, :, t]
    sign = (-1.0) ** torch.arange(shape[2], dtype=torch.float64).reshape(1, 1, -1, 1, 1)
    alternating = sign * white[:, :, :1] + 0.3 * white
    r = {name: impl.flicker_ratio(video, video + 0.05 * e) for name, e in
         (("white", white), ("ar", ar), ("alternating", alternating))}
    r["still"] = impl.flicker_ratio(video, video + clip((4, 3, 1, 9, 7), 22) / 8)
    assert abs(r["white"] - 1) < 0.05, r
    assert 0.15 < r["ar"] < 0.3, r
    assert r["alternating"] > 1.5 and r["still"] == 0.0, r

"""Fréchet distances and the course's clip features, on cases whose answer is known.

`frechet_distance` is checked against closed forms in float64 (relative tolerance 1e-9). The
metrics use the bundled weights (vdlite/assets/clip_features.pt) on 64 clips per side with
fixed seeds. Measured at these seeds (course_fvd, temporal_fid): real vs another real draw
114 and 0.0037, vs the same clips shuffled 1103 and 0.22; mild flicker (0.05) 326 to 460 and
0.14 to 0.16, strong (0.2) 840 to 2243 and 2.4. The asserted ratios (5x for shuffling, 1.5x
per flicker step) leave room: the smallest measured step is 2.0x (course_fvd, brightness).
"""

import math

import pytest
import torch

import vdlite.features as vf
from vdlite.data import MovingSprites
from vdlite.features import (
    ClipFeatures,
    FeatureConfig,
    clip_features,
    corrupt,
    course_fvd,
    frechet_distance,
    temporal_fid,
)

N = 64  # clips per side


def with_moments(n, mean, root, seed):
    """n rows whose sample mean is exactly `mean` [D] and sample covariance root rootᵀ."""
    z = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    z = z - z.mean(dim=0)
    chol = torch.linalg.cholesky(z.T @ z / (n - 1))
    z = torch.linalg.solve_triangular(chol, z.T, upper=False).T  # sample covariance = I
    return z @ root.double().T + mean.double()


def random_features(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.randn(
        d, d, generator=g, dtype=torch.float64) + torch.randn(d, generator=g, dtype=torch.float64)


# --- frechet_distance ------------------------------------------------------------------------


@pytest.mark.parametrize("rotate", [False, True])
def test_frechet_distance_matches_closed_form_for_commuting_covariances(rotate):
    """Σa = Q diag(va) Qᵀ, Σb = Q diag(vb) Qᵀ: d² = ‖μa − μb‖² + Σ (√va − √vb)²."""
    g = torch.Generator().manual_seed(0)
    d = 6
    mu_a, mu_b = (torch.randn(d, generator=g, dtype=torch.float64) for _ in range(2))
    va, vb = (0.1 + 3 * torch.rand(d, generator=g, dtype=torch.float64) for _ in range(2))
    q = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))[0] if rotate \
        else torch.eye(d, dtype=torch.float64)
    a = with_moments(50, mu_a, q * va.sqrt(), seed=1)
    b = with_moments(70, mu_b, q * vb.sqrt(), seed=2)
    expected = (mu_a - mu_b).square().sum() + (va.sqrt() - vb.sqrt()).square().sum()
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-9)


def test_frechet_distance_matches_eigenvalues_of_the_product_in_general():
    """Tr (Σa^½ Σb Σa^½)^½ = Σ √λ over the eigenvalues λ of Σa Σb (real, >= 0)."""
    a, b = random_features(90, 5, seed=3), random_features(60, 5, seed=4)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    lam = torch.linalg.eigvals(ca @ cb).real.clamp(min=0)
    expected = ((a.mean(0) - b.mean(0)).square().sum() + ca.trace() + cb.trace()
                - 2 * lam.sqrt().sum())
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-9)


def test_frechet_distance_is_symmetric_zero_on_itself_and_ignores_row_order():
    a, b = random_features(90, 8, seed=5), random_features(60, 8, seed=6)
    ab = frechet_distance(a, b)
    assert ab > 1
    assert frechet_distance(b, a) == pytest.approx(ab, rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9 * float(a.var(0).sum()))
    perm = torch.randperm(90, generator=torch.Generator().manual_seed(7))
    assert frechet_distance(a[perm], b) == pytest.approx(ab, rel=1e-9)
    assert frechet_distance(a.float(), b.float()) == pytest.approx(ab, rel=1e-5)
    one_d = frechet_distance(with_moments(10, torch.tensor([1.0]), torch.tensor([[2.0]]), 8),
                             with_moments(12, torch.tensor([4.0]), torch.tensor([[0.5]]), 9))
    assert one_d == pytest.approx(3.0**2 + 1.5**2, rel=1e-9)


@pytest.mark.parametrize("a, b, error, words", [
    ([[1.0, 2.0]] * 3, torch.zeros(3, 2), TypeError, "a must be a torch.Tensor"),
    (torch.zeros(3, 2), torch.zeros(3), ValueError, "b must be features [N, D]"),
    (torch.zeros(1, 2), torch.zeros(3, 2), ValueError, "a needs at least 2 rows"),
    (torch.zeros(3, 2), torch.zeros(3, 4), ValueError, "the same feature size D"),
    (torch.zeros(3, 2), torch.tensor([[0.0, math.nan]] * 3), ValueError, "b must be finite"),
])
def test_frechet_distance_rejects_bad_features(a, b, error, words):
    with pytest.raises(error) as info:
        frechet_distance(a, b)
    assert words in str(info.value) and "\n" not in str(info.value)


# --- the network ------------------------------------------------------------------------------


def sprites(seed, n=N, frames=8, size=32):
    return MovingSprites(n, frames=frames, size=size, sprites=1, background="mixed",
                         seed=seed).batch(range(n))["video"]


@pytest.fixture(scope="module")
def clips():
    """Three independent sets of 64 real clips: a reference, a test set, and another."""
    return sprites(11), sprites(12), sprites(13)


def test_clip_features_any_length_and_size_without_grad():
    feats = clip_features(sprites(1, n=3, frames=16, size=64).requires_grad_())
    assert feats.shape == (3, 32) and not feats.requires_grad
    assert ClipFeatures()(torch.zeros(2, 3, 2, 8, 8)).shape == (2, 32)
    model = vf._bundled(vf.WEIGHTS, "cpu")
    assert model.motion_features(torch.zeros(2, 3, 5, 8, 8)).shape == (2, 4, 16)
    batched = clip_features(sprites(2, n=5), batch=2)
    assert torch.allclose(batched, clip_features(sprites(2, n=5)), atol=1e-5)


def test_corrupt_shuffles_freezes_and_flickers():
    video = sprites(3, n=8)
    kinds = torch.tensor([0, 1, 2, 3] * 2)
    out = corrupt(video, kinds, torch.Generator().manual_seed(0))
    assert torch.equal(out[kinds == 0], video[kinds == 0])
    for i in (1, 5):  # a permutation of the frames, never the identity
        assert not torch.equal(out[i], video[i])
        assert sorted(out[i].sum(dim=(0, 2, 3)).tolist()) == pytest.approx(
            sorted(video[i].sum(dim=(0, 2, 3)).tolist()))
    assert (out[[2, 6]].diff(dim=2) == 0).all()  # frozen
    assert not torch.equal(out[3], video[3]) and out.abs().max() <= 1


# --- the metrics on constructed cases -------------------------------------------------------


def test_real_against_itself_is_zero_and_against_another_draw_small(clips):
    ref, real, _ = clips
    assert course_fvd(real, real) == pytest.approx(0.0, abs=1e-6)
    assert temporal_fid(real, real) == pytest.approx(0.0, abs=1e-9)
    shuffled = corrupt(real, torch.ones(N, dtype=torch.long), torch.Generator().manual_seed(0))
    for metric in (course_fvd, temporal_fid):
        base = metric(ref, real)
        assert 0 < base < metric(ref, shuffled) / 5, metric.__name__


def noisy(video, amplitude, seed=0):
    """Per-frame flicker: independent Gaussian noise of std `amplitude` on every pixel."""
    noise = torch.randn(video.shape, generator=torch.Generator().manual_seed(seed))
    return (video + amplitude * noise).clamp(-1, 1)


def jittered(video, amplitude, seed=0):
    """Per-frame flicker: each whole frame's brightness moved by N(0, amplitude²)."""
    b, _, t = video.shape[:3]
    offset = torch.randn(b, 1, t, 1, 1, generator=torch.Generator().manual_seed(seed))
    return (video + amplitude * offset).clamp(-1, 1)


@pytest.mark.parametrize("flicker", [noisy, jittered])
@pytest.mark.parametrize("metric", [course_fvd, temporal_fid])
def test_more_flicker_is_farther_from_real(clips, metric, flicker):
    """No flicker < mild (0.05, ~6 of 255 levels) < strong (0.2), each against the reference,
    by at least 1.5x at each step (measured: 2.0x to 40x)."""
    ref, real, other = clips
    for test_set in (real, other):
        none, mild, strong = (metric(ref, flicker(test_set, a)) if a else metric(ref, test_set)
                              for a in (0, 0.05, 0.2))
        assert 1.5 * none < mild and 1.5 * mild < strong, (none, mild, strong)


# --- bad inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [course_fvd, temporal_fid])
@pytest.mark.parametrize("which", ["real", "fake"])
@pytest.mark.parametrize("bad, words", [
    (torch.zeros(4, 3, 8, 32), "must be clips [B, 3, T, H, W]"),
    (torch.zeros(4, 3, 8, 32, 32, dtype=torch.uint8), "must be floating point"),
    (torch.full((4, 3, 8, 32, 32), 2.0), "must be in [-1, 1]"),
    (torch.zeros(4, 3, 1, 32, 32), "at least 2 frames"),
])
def test_metrics_reject_bad_clips_naming_the_argument(metric, which, bad, words):
    good = torch.zeros(4, 3, 8, 32, 32)
    args = (bad, good) if which == "real" else (good, bad)
    with pytest.raises(ValueError) as info:
        metric(*args)
    message = str(info.value)
    assert message.startswith(which) and words in message and "\n" not in message


@pytest.mark.parametrize("metric", [course_fvd, temporal_fid])
def test_metrics_need_one_frame_size(metric):
    with pytest.raises(ValueError, match=r"^fake must have real's channels and frame size"):
        metric(torch.zeros(4, 3, 8, 32, 32), torch.zeros(4, 3, 8, 32, 16))
    assert metric(torch.zeros(4, 3, 8, 16, 16), torch.zeros(3, 3, 5, 16, 16)) >= 0  # N, T free
    with pytest.raises(ValueError, match=r"^video must be in \[-1, 1\]"):
        clip_features(torch.full((2, 3, 4, 8, 8), -3.0))


def test_missing_weights_name_the_command(monkeypatch, tmp_path):
    monkeypatch.setattr(vf, "WEIGHTS", tmp_path / "clip_features.pt")
    with pytest.raises(FileNotFoundError, match=r"python -m vdlite\.features --out"):
        clip_features(torch.zeros(2, 3, 4, 8, 8))


# --- training ----------------------------------------------------------------------------------


def test_training_loop_runs_and_the_command_saves_loadable_weights(tmp_path):
    model, scores = vf.train_clip_features(steps=2, batch=4, frames=4, size=16, num_eval=8,
                                           config=FeatureConfig(width=4, dim=8), progress=False)
    assert set(scores) == {"shape_accuracy", "colour_accuracy", "order_accuracy",
                           "velocity_error"}
    assert all(math.isfinite(v) for v in scores.values())
    assert model(torch.zeros(1, 3, 4, 16, 16)).shape == (1, 8)
    out = tmp_path / "w.pt"
    vf.main(["--out", str(out), "--steps", "1"])
    loaded = vf._bundled(out, "cpu")  # torch.load(weights_only=True) inside
    assert loaded(torch.zeros(1, 3, 4, 16, 16)).shape == (1, 32)
    assert not list(tmp_path.glob(".*.tmp"))

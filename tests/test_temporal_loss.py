"""The temporal losses of vdlite.temporal_loss and their place in training.

Clips are analytic textures translated by sub-pixel amounts, on odd frame sizes, so the true
flow is known: F = (vx, vy) everywhere. The flow solver is not exact (it errs most where pixels
leave the frame), so "0" below means "below a stated tolerance" measured against the same
solver's answer for a clip whose motion really changes.
"""

import math

import pytest
import torch

from vdlite.checkpoint import CheckpointError, check_fields
from vdlite.data import MovingSprites
from vdlite.temporal_loss import (
    bounce_set,
    flow_change_loss,
    flow_change_per_clip,
    reversal_fraction,
    soft_centroids,
    summarise,
    warp_loss,
)
from vdlite.train import TrainConfig, clip_batches, load_checkpoint, save_checkpoint, train

H, W, T = 37, 43, 5  # odd, non-square frames
V = (0.75, -0.5)  # pixels per frame, x then y


def texture(x: torch.Tensor, y: torch.Tensor, phase: float) -> torch.Tensor:
    """A smooth 3-channel texture [3, H, W] in [-0.8, 0.8] at points (x, y), periods 11-17 px."""
    return torch.stack([0.3 * torch.sin(2 * math.pi * x / 13 + c + phase)
                        + 0.3 * torch.sin(2 * math.pi * y / 11 - c)
                        + 0.2 * torch.sin(2 * math.pi * (x + y) / 17 + 2 * c + phase)
                        for c in range(3)]).float()


def moving(path: list[tuple[float, float]], phases=(0.0, 1.0)) -> torch.Tensor:
    """Clips [len(phases), 3, len(path), H, W]: the texture shifted to path[t] in frame t."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64),
                            torch.arange(W, dtype=torch.float64), indexing="ij")
    return torch.stack([torch.stack([texture(xs - px, ys - py, phase) for px, py in path], 1)
                        for phase in phases])


CONSTANT = [(V[0] * t, V[1] * t) for t in range(T)]
FASTER = [(V[0] * t if t <= 2 else 2 * V[0] + 2 * V[0] * (t - 2), V[1] * t) for t in range(T)]
BOUNCE = [(V[0] * t if t <= 2 else 2 * V[0] - V[0] * (t - 2), V[1] * t) for t in range(T)]


def test_flow_change_is_zero_for_constant_velocity_and_positive_when_motion_changes():
    # ideal values: 0 for constant velocity; a bounce flips vx (change 1.5 px at one of the 3
    # pair-to-pair transitions: 1.5^2 / 3 = 0.75 px^2), the speed-up changes it by 0.75 (0.19)
    constant = flow_change_per_clip(moving(CONSTANT))
    faster = flow_change_per_clip(moving(FASTER))
    bounce = flow_change_per_clip(moving(BOUNCE))
    assert (constant < 0.1).all(), constant  # tolerance: the solver's error, 0.01-0.09 here
    assert (faster > 0.3).all(), faster
    assert (bounce > 0.5).all(), bounce
    assert (bounce > 5 * constant).all()
    still = moving([(0.0, 0.0)] * T)
    assert flow_change_loss(still).item() == pytest.approx(0.0, abs=1e-6)


def test_warp_loss_is_zero_for_the_real_clip_and_grows_with_per_frame_noise():
    x0 = moving(CONSTANT)
    assert warp_loss(x0, x0).item() < 1e-3  # the flow's own error (1.5e-4 here)
    gen = torch.Generator().manual_seed(0)
    values = []
    for sigma in (0.05, 0.1, 0.2):
        noisy = x0 + sigma * torch.randn(x0.shape, generator=gen)
        values.append(warp_loss(noisy, x0).item())
        # independent noise in frame t+1 and bilinearly mixed noise in frame t: σ² to 2σ²
        assert sigma**2 < values[-1] < 2.2 * sigma**2
    assert values == sorted(values)


def test_gradients_reach_the_prediction_and_not_the_real_clip():
    x0 = moving(CONSTANT).requires_grad_(True)
    for loss in (lambda x: flow_change_loss(x), lambda x: warp_loss(x, x0)):
        x0_hat = (moving(BOUNCE) + 0.05 * torch.randn(x0.shape)).requires_grad_(True)
        loss(x0_hat).backward()
        assert torch.isfinite(x0_hat.grad).all() and x0_hat.grad.abs().sum() > 0
    assert x0.grad is None


def test_bad_inputs_name_the_argument():
    clips = torch.zeros(2, 3, 4, 9, 11)
    with pytest.raises(ValueError, match="x0_hat must have at least 3 frames"):
        flow_change_loss(clips[:, :, :2])
    with pytest.raises(ValueError, match=r"x0_hat must be clips \[B, C, T, H, W\]"):
        flow_change_loss(clips[0])
    with pytest.raises(TypeError, match="x0_hat must be a torch.Tensor"):
        warp_loss(clips.numpy(), clips)
    with pytest.raises(ValueError, match="x0 must be floating point"):
        warp_loss(clips, clips.long())
    with pytest.raises(ValueError, match="x0 must have x0_hat's shape"):
        warp_loss(clips, clips[:, :, :3])
    with pytest.raises(ValueError, match="x0_hat must have at least 2 frames"):
        warp_loss(clips[:, :, :1], clips[:, :, :1])


TINY = dict(frames=3, size=8, base_channels=8, channel_mults=(1,), patch_size=1, batch=2,
            steps=3, conv="pseudo")


def tiny_sprites() -> MovingSprites:
    return MovingSprites(num_clips=20, frames=3, size=8, sprites=1, sprite_size=0.4,
                         background="textured")


@pytest.mark.parametrize("kind, weight", [("flow_change", 0.1), ("warp", 3.0)])
@pytest.mark.parametrize("prediction", ["x0", "v", "eps"])
def test_training_adds_the_temporal_term(kind, weight, prediction):
    plain = TrainConfig(**TINY, prediction=prediction)
    cfg = TrainConfig(**TINY, prediction=prediction, temporal_loss=kind, temporal_weight=weight)
    _, base = train(plain, clip_batches(tiny_sprites(), 2), progress=False)
    _, losses = train(cfg, clip_batches(tiny_sprites(), 2), progress=False)
    assert all(math.isfinite(v) for v in losses)
    # same seed, so the same clips, timesteps and noise: the first step whose loss differs
    # differs by λ · L_temporal > 0 (for "x0" the zero-initialised output layer makes x̂_0 = 0
    # at the first step, where both temporal terms and their gradients vanish)
    differ = [v - b for v, b in zip(losses, base, strict=True) if v != b]
    assert differ and differ[0] > 0


def test_the_config_round_trips_a_checkpoint(tmp_path):
    cfg = TrainConfig(**TINY, temporal_loss="warp", temporal_weight=2.5)
    model, _ = train(cfg, clip_batches(tiny_sprites(), 2), progress=False)
    save_checkpoint(tmp_path / "m.pt", model, cfg)
    _, loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded == cfg and loaded.temporal_loss == "warp" and loaded.temporal_weight == 2.5
    with pytest.raises(CheckpointError, match="temporal_weight"):
        check_fields(TrainConfig, {"temporal_weight": "a lot"}, "m.pt")
    with pytest.raises(CheckpointError, match="temporal_loss must be one of"):
        check_fields(TrainConfig, {"temporal_loss": "flow", "temporal_weight": 1.0}, "m.pt")


@pytest.mark.parametrize("fields, message", [
    (dict(temporal_loss="flow"), "temporal_loss must be one of"),
    (dict(temporal_loss="warp"), "temporal_loss and temporal_weight go together"),
    (dict(temporal_weight=0.5), "temporal_loss and temporal_weight go together"),
    (dict(temporal_loss="warp", temporal_weight=-1.0), "temporal_weight must be a finite"),
    (dict(temporal_loss="warp", temporal_weight=math.nan), "temporal_weight must be a finite"),
    (dict(temporal_loss="warp", temporal_weight=1.0, mode="frame"), "pixel-space video model"),
    (dict(temporal_loss="flow_change", temporal_weight=1.0, frames=2), "needs frames >= 3"),
])
def test_bad_configs_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**fields)


def test_latent_models_are_refused():
    with pytest.raises(ValueError, match="pixel-space video model"):
        TrainConfig(frames=9, vae_kind="causal", temporal_loss="warp", temporal_weight=1.0)


def test_the_bounce_figures_see_turns_on_real_clips():
    clips = bounce_set(6)
    video = clips["video"]
    assert clips["turn"][:6].any(dim=1).all() and not clips["turn"][6:].any()
    assert reversal_fraction(video[6:]) == 0.0  # straight clips never turn back
    assert reversal_fraction(video[:6]) > 0.5  # most turns are seen (slow ones may not be)
    centres = soft_centroids(video)
    masks = video.amax(dim=1) > 0  # sprite pixels: a channel near 1, backgrounds <= -0.4
    area = masks.sum(dim=(2, 3))
    cx = (masks * torch.arange(video.shape[-1])).sum(dim=(2, 3)) / area
    assert torch.allclose(centres[..., 0].float(), cx, atol=1e-4)


def test_summarise_pairs_runs_by_seed():
    from vdlite.temporal_loss import FIGURES

    rows = [{"variant": v, "seed": s, **{f: s + (1.0 if v == "warp" else 0.0) for f in FIGURES}}
            for v in ("neither", "warp") for s in (0, 1, 2)]
    summary = summarise(rows)
    m, lo, hi = summary["diffs"]["warp"]["flicker"]
    assert (m, lo, hi) == (1.0, 1.0, 1.0)  # the same difference at every seed: no spread
    assert summary["means"]["neither"]["flicker"][0] == 1.0

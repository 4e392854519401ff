"""Latent video diffusion (vdlite/latent.py and train's vae_kind): the VAE stays frozen and
travels with the model, the latents are scaled to unit std, samples decode to clips, the run
resumes exactly, and mistakes get clear errors. Tiny sizes, a few steps each."""

import pytest
import torch
from test_checkpoints import InterruptAt

from vdlite.cli import main
from vdlite.data import MovingSprites
from vdlite.train import (
    MODEL_FILE,
    TrainConfig,
    TrainingInterrupted,
    VAEConfig,
    clip_batches,
    load_checkpoint,
    sample,
    train,
    train_vae,
)

VAE = dict(frames=5, size=16, spatial_factor=4, base_channels=4, batch=2)
LATENT = dict(frames=5, size=16, base_channels=8, channel_mults=(1, 2), batch=2, steps=4,
              vae_kind="causal", vae_base_channels=4, vae_spatial_factor=4)


def sprites() -> MovingSprites:
    return MovingSprites(num_clips=60, frames=5, size=16, sprites=1, sprite_size=0.4)


@pytest.fixture(scope="module")
def vae():
    model, _ = train_vae(VAEConfig(**VAE, steps=3), clip_batches(sprites(), 2), progress=False)
    return model


def test_a_latent_model_trains_its_denoiser_only_and_samples_clips(vae):
    cfg = TrainConfig(**LATENT)
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    model, losses = train(cfg, clip_batches(sprites(), 2), progress=False, vae=vae)
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    for k, v in model.vae.state_dict().items():  # frozen: the VAE it was given, unchanged
        assert torch.equal(v, before[k]), k
    clips = torch.stack([sprites()[i]["video"] for i in range(2)])
    z = model.to_latent(clips)
    assert z.shape == (2, 4, 2, 4, 4) and cfg.latent_shape() == (4, 2, 4, 4)
    out = sample(model, cfg, num=3, steps=3, progress=False)
    assert out.shape == (3, 3, 5, 16, 16) and out.abs().max() <= 1


def test_the_scale_makes_the_latents_unit_std(vae):
    from vdlite.latent import LatentDiffusion

    model = LatentDiffusion(vae, torch.nn.Identity())
    clips = torch.stack([sprites()[i]["video"] for i in range(6)])
    scale = model.set_scale(clips)
    assert abs(model.to_latent(clips).std().item() - 1) < 1e-5 and scale > 0
    torch.testing.assert_close(model.to_pixels(model.to_latent(clips)),
                               vae.decode(vae.encode(clips).mean).clamp(-1, 1))


def test_a_latent_checkpoint_is_self_contained_and_resumes_exactly(vae, tmp_path):
    cfg = TrainConfig(**LATENT)
    full, losses = train(cfg, clip_batches(sprites(), 2), out=tmp_path / "full", progress=False,
                         vae=vae)
    loaded, loaded_cfg = load_checkpoint(tmp_path / "full" / MODEL_FILE)
    assert loaded_cfg == cfg
    torch.testing.assert_close(sample(loaded, cfg, 2, 3, progress=False),
                               sample(full, cfg, 2, 3, progress=False), rtol=0, atol=0)
    with pytest.raises(TrainingInterrupted):
        train(cfg, InterruptAt(clip_batches(sprites(), 2), at=2), out=tmp_path / "cut",
              progress=False, vae=vae)
    resumed, resumed_losses = train(cfg, clip_batches(sprites(), 2), out=tmp_path / "cut",
                                    resume=True, progress=False)
    assert resumed_losses == losses
    for k, v in full.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=1e-6)


def test_latent_runs_refuse_mistakes(vae):
    with pytest.raises(ValueError, match="pass the trained VAE"):
        train(TrainConfig(**LATENT), clip_batches(sprites(), 2), progress=False)
    with pytest.raises(ValueError, match="a pixel-space model"):
        train(TrainConfig(frames=5, size=16, steps=1), clip_batches(sprites(), 2),
              progress=False, vae=vae)
    with pytest.raises(ValueError, match="does not fit the VAE cfg describes"):
        train(TrainConfig(**{**LATENT, "vae_base_channels": 8}), clip_batches(sprites(), 2),
              progress=False, vae=vae)
    with pytest.raises(ValueError, match="mode='video'"):
        TrainConfig(**{**LATENT, "mode": "frame"})
    with pytest.raises(ValueError, match="nearest valid counts are 5 or 9"):
        TrainConfig(**{**LATENT, "frames": 8})
    with pytest.raises(ValueError, match="nearest valid counts are 9 or 13"):  # sampling
        TrainConfig(**LATENT).latent_shape(12)
    assert TrainConfig(**LATENT).latent_shape(13) == (4, 4, 4, 4)


def test_the_command_line_trains_and_samples_a_latent_model(tmp_path, capsys):
    small = ["--size", "16", "--frames", "5", "--batch", "2", "--no-progress"]
    assert main(["train-vae", "--out", str(tmp_path / "vae"), "--steps", "2",
                 "--base-channels", "4", *small]) == 0
    vae_file = str(tmp_path / "vae" / MODEL_FILE)
    assert main(["train", "--vae", vae_file, "--out", str(tmp_path / "lat"), "--steps", "2",
                 *small]) == 0
    _, cfg = load_checkpoint(tmp_path / "lat" / MODEL_FILE)
    assert cfg.vae_kind == "causal" and cfg.vae_base_channels == 4
    assert main(["sample", "--checkpoint", str(tmp_path / "lat" / MODEL_FILE), "--num", "2",
                 "--steps", "2", "--out", str(tmp_path / "s"), "--no-progress"]) == 0
    assert "2 clips of 5 frames" in capsys.readouterr().out
    assert main(["sample", "--checkpoint", str(tmp_path / "lat" / MODEL_FILE), "--num", "1",
                 "--frames", "8", "--out", str(tmp_path / "s8"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "nearest valid counts are 5 or 9" in err and err.count("\n") == 1
    assert main(["train", "--vae", vae_file, "--out", str(tmp_path / "x"), "--steps", "1",
                 *[a if a != "5" else "8" for a in small]]) == 2
    err = capsys.readouterr().err
    assert "nearest valid counts are 5 or 9" in err and err.count("\n") == 1
    assert main(["train", "--resume", str(tmp_path / "lat"), "--vae", vae_file]) == 2
    assert "leave --vae out" in capsys.readouterr().err

"""Training and sampling with either denoiser, and with prompts: wiring, checkpoints, errors.

These are tiny runs (a few steps) that check plumbing by properties: shapes, that a saved
model reloads to the same function (float32, bitwise), that the prompt reaches the model
(different prompts give different samples from the same noise), that guidance scale 1 equals
plain conditional sampling, and that misuse raises a clear error. Whether training *works*
is measured elsewhere (tests/test_demo.py, tests/test_prompts.py).
"""

import math

import pytest
import torch

from vdlite.cli import main
from vdlite.data import MovingSprites
from vdlite.text import DIRECTIONS, MAX_TOKENS, Tokenizer
from vdlite.train import (
    TrainConfig,
    build_model,
    caption_batches,
    clip_batches,
    load_checkpoint,
    lr_factor,
    sample,
    save_checkpoint,
    train,
)
from vdlite.transformer import FactorizedBlock, VideoDiT

TINY = dict(arch="dit", frames=3, size=8, patch_size=2, dim=24, depth=2, heads=2, batch=2,
            steps=3, text_dim=16, text_layers=1)


def sprites(**kw):
    return MovingSprites(num_clips=50, frames=3, size=8, sprites=1, sprite_size=0.4, **kw)


def test_build_model_picks_the_architecture():
    video = build_model(TrainConfig(**TINY))
    frame = build_model(TrainConfig(**{**TINY, "mode": "frame"}))
    assert isinstance(video, VideoDiT) and isinstance(frame, VideoDiT)
    blocks = [m for m in video.modules() if isinstance(m, FactorizedBlock)]
    assert all(b.temporal is not None for b in blocks)
    assert all(b.temporal is None for b in frame.modules() if isinstance(b, FactorizedBlock))
    assert video.text_encoder is None
    assert build_model(TrainConfig(**TINY, text=True)).text_encoder.dim == 16


def test_config_errors():
    with pytest.raises(ValueError, match="arch must be one of"):
        TrainConfig(arch="rnn")
    with pytest.raises(ValueError, match="needs arch='dit'"):
        TrainConfig(text=True)
    with pytest.raises(ValueError, match="fine_patch applies only to arch='dit'"):
        TrainConfig(fine_patch=2)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainConfig(lr_schedule="step")


@pytest.mark.parametrize("steps", [7, 200])
def test_lr_factor_warms_up_then_holds_or_decays_to_zero(steps):
    warmup = max(1, steps // 20)
    const = TrainConfig(steps=steps)
    cos = TrainConfig(steps=steps, lr_schedule="cosine")
    for s in range(steps):
        ramp = min(1.0, (s + 1) / warmup)
        assert lr_factor(s, const) == pytest.approx(ramp, abs=1e-15)
        assert lr_factor(s, cos) == pytest.approx(ramp * (1 + math.cos(math.pi * s / steps)) / 2,
                                                  abs=1e-15)
    assert lr_factor(steps, cos) == pytest.approx(0.0, abs=1e-15)
    assert lr_factor(steps // 2, cos) == pytest.approx(0.5, abs=0.02 + 1 / steps)


def test_training_follows_the_cosine_schedule(monkeypatch):
    cfg = TrainConfig(**{**TINY, "steps": 4, "lr_schedule": "cosine"})
    seen = []
    step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    train(cfg, clip_batches(sprites(), cfg.batch), progress=False)
    assert seen == pytest.approx([cfg.lr * lr_factor(s, cfg) for s in range(4)], rel=1e-12)


def test_caption_batches_pair_clips_with_their_captions():
    data = sprites()
    clips, tokens = next(caption_batches(data, 4, seed=1))
    assert clips.shape == (4, 3, 3, 8, 8) and tokens.shape == (4, MAX_TOKENS)
    assert tokens.dtype == torch.long
    for prompt in Tokenizer().decode(tokens):
        article, colour, shape, moving, direction = prompt.split()
        assert article in ("a", "an") and moving == "moving" and direction in DIRECTIONS


@pytest.mark.parametrize("mode", ["video", "frame"])
def test_prompted_training_and_sampling(mode):
    cfg = TrainConfig(**TINY, mode=mode, text=True)
    model, losses = train(cfg, caption_batches(sprites(), cfg.batch), progress=False)
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    # randomise the (zero-initialised) output layers so the prompt can show in the output
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    red = sample(model, cfg, 2, steps=2, seed=3, prompts="a red circle moving left",
                 progress=False)
    blue = sample(model, cfg, 2, steps=2, seed=3, prompts="a blue square moving up",
                  progress=False)
    assert red.shape == (2, 3, 3, 8, 8)
    assert not torch.equal(red, blue)
    # guidance scale 1 is plain conditional sampling; a larger scale changes the samples
    again = sample(model, cfg, 2, steps=2, seed=3, prompts="a red circle moving left",
                   guidance_scale=1.0, progress=False)
    assert torch.equal(red, again)
    guided = sample(model, cfg, 2, steps=2, seed=3, prompts="a red circle moving left",
                    guidance_scale=4.0, progress=False)
    assert not torch.equal(red, guided)


def test_sampling_errors():
    cfg = TrainConfig(**TINY, text=True)
    model = build_model(cfg).eval()
    with pytest.raises(ValueError, match="never saw"):
        sample(model, cfg, 1, steps=1, prompts="a purple circle", progress=False)
    with pytest.raises(ValueError, match="one per clip"):
        sample(model, cfg, 3, steps=1, prompts=["a red circle", "a blue circle"],
               progress=False)
    plain = TrainConfig(**TINY)
    with pytest.raises(ValueError, match="trained without prompts"):
        sample(build_model(plain), plain, 1, steps=1, prompts="a red circle", progress=False)
    with pytest.raises(ValueError, match="needs batches of"):
        train(cfg, clip_batches(sprites(), 2), progress=False)


def test_dit_checkpoint_round_trip(tmp_path):
    cfg = TrainConfig(**TINY, text=True)
    model, _ = train(cfg, caption_batches(sprites(), cfg.batch), progress=False)
    save_checkpoint(tmp_path / "m.pt", model, cfg)
    loaded, cfg2 = load_checkpoint(tmp_path / "m.pt")
    assert cfg2 == cfg
    a = sample(model, cfg, 2, steps=2, seed=1, prompts="a red circle moving up",
               guidance_scale=2.0, progress=False)
    b = sample(loaded, cfg2, 2, steps=2, seed=1, prompts="a red circle moving up",
               guidance_scale=2.0, progress=False)
    assert torch.equal(a, b)


def test_cli_train_and_sample_with_a_prompt(tmp_path):
    ckpt, out = tmp_path / "train", tmp_path / "sample"
    assert main(["train", "--arch", "dit", "--prompts", "--steps", "2", "--batch", "2",
                 "--frames", "3", "--size", "16", "--out", str(ckpt), "--no-progress"]) == 0
    assert main(["sample", "--checkpoint", str(ckpt / "model.pt"), "--num", "2", "--steps",
                 "2", "--prompt", "a green diamond moving down", "--guidance", "2",
                 "--out", str(out), "--no-progress"]) == 0
    assert torch.load(out / "samples.pt").shape == (2, 3, 3, 16, 16)
    saved = torch.load(ckpt / "model.pt", weights_only=False)
    assert saved["config"]["temporal_radius"] == 1  # the CLI's default for the DiT


def test_cli_train_with_fine_patch_and_its_errors(tmp_path, capsys):
    assert main(["train", "--arch", "dit", "--patch", "4", "--fine-patch", "2", "--steps", "1",
                 "--batch", "2", "--frames", "3", "--size", "8", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    saved = torch.load(tmp_path / "model.pt", weights_only=False)
    assert saved["config"]["fine_patch"] == 2 and saved["config"]["patch_size"] == 4
    model, cfg = load_checkpoint(tmp_path / "model.pt")
    assert model.fine_patch == 2 and sample(model, cfg, 1, 2, progress=False).shape == (
        1, 3, 3, 8, 8)
    capsys.readouterr()
    assert main(["train", "--fine-patch", "2", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "--fine-patch needs --arch dit" in capsys.readouterr().err
    assert main(["train", "--arch", "dit", "--patch", "4", "--fine-patch", "3", "--steps", "1",
                 "--out", str(tmp_path)]) == 2
    assert "fine_patch must divide patch_size=4" in capsys.readouterr().err


def test_cli_prompt_errors(tmp_path, capsys):
    assert main(["train", "--prompts", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "--prompts needs --arch dit" in capsys.readouterr().err
    assert main(["train", "--arch", "dit", "--prompts", "--data", str(tmp_path),
                 "--steps", "1"]) == 2
    assert "needs --data sprites" in capsys.readouterr().err
    assert main(["train", "--temporal-radius", "1", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "--temporal-radius takes an int >= 0 and needs --arch dit" in capsys.readouterr().err
    ckpt = tmp_path / "plain"
    assert main(["train", "--steps", "1", "--batch", "1", "--frames", "2", "--size", "8",
                 "--out", str(ckpt), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(ckpt / "model.pt"), "--prompt", "a red circle",
                 "--steps", "1", "--num", "1", "--out", str(tmp_path / "s")]) == 2
    assert "trained without prompts" in capsys.readouterr().err


def test_flicker_scenario_switches_only_temporal_attention_and_restores_it():
    """'without' samples must not depend on the temporal weights at all (exact), 'with' must,
    and the model must come back with its temporal attention on."""
    from vdlite.demo import flicker_scenario
    from vdlite.transformer import set_temporal_attention

    cfg = TrainConfig(**TINY)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    first = flicker_scenario(model, cfg, num_samples=2, sample_steps=2)
    assert all(b.temporal_enabled for b in model.modules() if isinstance(b, FactorizedBlock))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".temporal." in name:
                p.mul_(-3.0)
    second = flicker_scenario(model, cfg, num_samples=2, sample_steps=2)
    assert torch.equal(first["clips"]["without"], second["clips"]["without"])
    assert not torch.equal(first["clips"]["with"], second["clips"]["with"])
    set_temporal_attention(model, False)
    off = sample(model, cfg, 2, steps=2, seed=1, progress=False)
    assert torch.equal(off, second["clips"]["without"])
    assert set(first["with"]) == set(first["without"]) >= {"background_change", "colour_drift"}

"""bf16 training (`TrainConfig.precision`, `vdlite train --precision`, `vdlite demo
--precision`): the option is checked, saved with the run, kept on resume, defaults to the
device's (fp32 on the CPU, bf16 on CUDA), and a bf16 run learns what an fp32 run learns.

CPU autocast runs bf16 here; the same code runs CUDA autocast on a GPU. The longer measurement
(the demo's preset, 300 steps, 3 seeds) is `python -m vdlite.precision`, in
lessons/measured/bf16_vs_fp32.
"""

import pytest
import torch

from vdlite import cli
from vdlite.checkpoint import CheckpointError
from vdlite.cli import main
from vdlite.data import MovingSprites
from vdlite.demo import demo_config
from vdlite.train import (
    MODEL_FILE,
    TrainConfig,
    clip_batches,
    default_precision,
    load_checkpoint,
    load_train_state,
    train,
)

# the curve test's model: a small pseudo-3D U-Net predicting x0, as the demo's CPU preset
SMALL = dict(frames=4, size=16, base_channels=8, channel_mults=(1, 2), conv="pseudo", batch=4,
             steps=40, prediction="x0")
TINY_CLI = ["--steps", "2", "--batch", "2", "--frames", "3", "--size", "8", "--no-progress"]


def sprites(seed: int = 0, frames: int = 4, size: int = 16) -> MovingSprites:
    return MovingSprites(num_clips=1000, frames=frames, size=size, sprites=1,
                         background="plain", seed=seed)


def test_precision_is_checked_and_defaults_to_the_device():
    assert TrainConfig().precision == "fp32"  # what every run before the option was
    assert TrainConfig(precision="bf16").precision == "bf16"
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16'\), "
                                         r"got 'fp16'"):
        TrainConfig(precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="BF16")
    assert default_precision("cpu") == default_precision(torch.device("cpu")) == "fp32"
    assert default_precision("cuda") == default_precision("cuda:1") == "bf16"


def test_a_file_from_before_the_option_loads_as_fp32(tmp_path):
    """A checkpoint whose config has no `precision` field trained in float32, and loads so."""
    from dataclasses import asdict

    from vdlite.train import build_model

    cfg = TrainConfig(frames=2, size=8, base_channels=8, channel_mults=(1,))
    config = {k: v for k, v in asdict(cfg).items() if k != "precision"}
    torch.save({"format": 1, "kind": "TrainConfig", "config": config,
                "state_dict": build_model(cfg).state_dict(), "info": {}}, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")[1].precision == "fp32"


def final_loss(precision: str, seed: int) -> tuple[list[float], torch.nn.Module]:
    cfg = TrainConfig(**SMALL, seed=seed, precision=precision)
    ema, losses = train(cfg, clip_batches(sprites(seed), cfg.batch, seed), progress=False)
    return losses, ema


def test_bf16_training_matches_fp32_within_the_seed_noise():
    """40 steps of a small U-Net, final loss = mean of the last 15 steps. Same seed (same
    initial weights, batches and noise), bf16 against fp32: the difference must be under a
    quarter of the difference between two fp32 runs of seeds 0 and 1, the noise that any
    comparison of two training runs stands in. Measured (torch 2.13 CPU, seeds 0-4): same-seed
    |bf16 - fp32| 0.4e-4 to 1.2e-4 (seed 0: 1.1e-4); fp32 across seeds sd 4.3e-3, seeds 0 and
    1 apart by 3.7e-3, so the ratio here is 0.03, an eighth of the bound. The same holds
    along the whole curve: the mean per-step |bf16 - fp32| (2.5e-4 measured) must be under a
    quarter of the mean per-step gap between the two seeds' fp32 curves (3.3e-2).
    The bf16 run must really be a different computation (the losses differ), with its
    weights and EMA left float32."""
    fp32, _ = final_loss("fp32", 0)
    bf16, ema = final_loss("bf16", 0)
    other, _ = final_loss("fp32", 1)
    last = 15

    def tail(losses):
        return sum(losses[-last:]) / last

    assert bf16 != fp32  # autocast ran
    noise = abs(tail(fp32) - tail(other))
    assert abs(tail(bf16) - tail(fp32)) < 0.25 * noise, (tail(bf16), tail(fp32), noise)
    step_gap = sum(abs(a - b) for a, b in zip(bf16, fp32, strict=True)) / len(fp32)
    seed_gap = sum(abs(a - b) for a, b in zip(other, fp32, strict=True)) / len(fp32)
    assert step_gap < 0.25 * seed_gap, (step_gap, seed_gap)
    assert all(p.dtype == torch.float32 for p in ema.parameters())


def test_bf16_runs_the_forward_under_autocast_and_keeps_the_state_float32(tmp_path,
                                                                           monkeypatch):
    """The denoiser sees autocast on (and only in bf16 runs); the loss reaches backward as
    float32; the saved weights, EMA and Adam moments are float32."""
    from vdlite.unet3d import UNet3D

    seen = []
    forward = UNet3D.forward

    def spy(self, *args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu"))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(UNet3D, "forward", spy)
    for precision in ("fp32", "bf16"):
        seen.clear()
        cfg = TrainConfig(**{**SMALL, "steps": 2}, precision=precision)
        train(cfg, clip_batches(sprites(), cfg.batch), out=tmp_path / precision,
              progress=False)
        assert seen == [precision == "bf16"] * 2
        state = load_train_state(tmp_path / precision / "train_state.pt")
        assert state["config"]["precision"] == precision
        tensors = [*state["model"].values(), *state["ema"].values(),
                   *(v for s in state["optimizer"]["state"].values() for k, v in s.items()
                     if k != "step")]
        assert all(t.dtype == torch.float32 for t in tensors if t.is_floating_point())


def test_resume_keeps_the_precision(tmp_path, capsys, monkeypatch):
    """The API refuses to resume a bf16 run as fp32; `vdlite train --resume` takes the saved
    precision, and an explicit different --precision is a one-line error that says so."""
    cfg = TrainConfig(**{**SMALL, "steps": 2}, precision="bf16")
    train(cfg, clip_batches(sprites(), cfg.batch), out=tmp_path / "api", progress=False)
    fp32 = TrainConfig(**{**SMALL, "steps": 2})
    with pytest.raises(CheckpointError, match=r"a run with precision='bf16' \(not 'fp32'\)"):
        train(fp32, clip_batches(sprites(), 2), out=tmp_path / "api", resume=True,
              progress=False)

    out = tmp_path / "cli"
    assert main(["train", *TINY_CLI, "--precision", "bf16", "--out", str(out)]) == 0
    assert load_checkpoint(out / MODEL_FILE)[1].precision == "bf16"
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--precision", "fp32"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"vdlite: error: --precision fp32 differs from the run saved in {out} "
                   f"(bf16); leave it out to resume that run")
    import vdlite.train

    seen = []
    real = vdlite.train.train
    monkeypatch.setattr(vdlite.train, "train",
                        lambda cfg, *a, **k: seen.append(cfg.precision) or real(cfg, *a, **k))
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0  # on the CPU: still bf16
    assert seen == ["bf16"]
    assert main(["train", "--resume", str(out), "--precision", "bf16", "--no-progress"]) == 0


def test_the_cli_flag_reaches_the_config_and_the_default_is_the_devices(tmp_path, capsys):
    assert main(["train", *TINY_CLI, "--out", str(tmp_path / "default")]) == 0
    assert "(video mode, fp32)" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "default" / MODEL_FILE)[1].precision == "fp32"
    assert main(["train", *TINY_CLI, "--precision", "bf16", "--mode", "frame",
                 "--out", str(tmp_path / "bf16")]) == 0
    assert load_checkpoint(tmp_path / "bf16" / MODEL_FILE)[1].precision == "bf16"
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--precision", "fp16"])
    assert "invalid choice: 'fp16' (choose from fp32, bf16)" in capsys.readouterr().err.replace(
        "'fp32', 'bf16'", "fp32, bf16")


class Stop(Exception):
    """Raised by a stand-in for run_demo once it has seen its arguments."""


def test_the_demo_takes_the_flag_and_its_cpu_default_is_fp32(tmp_path, monkeypatch):
    """`make demo` (the CPU preset, no flag) is the fp32 run it always was; --precision
    reaches `run_demo`, and demo_config resolves None to the device's precision."""
    assert demo_config("cpu").precision == "fp32"
    assert demo_config("cpu", arch="dit").precision == "fp32"
    assert demo_config("cuda").precision == "bf16"  # the CUDA preset's default
    assert demo_config("cuda", precision="fp32").precision == "fp32"
    assert demo_config("cpu", precision="bf16").precision == "bf16"
    import vdlite.demo

    got = []

    def fake_run_demo(*args, **kwargs):
        got.append(kwargs["precision"])
        raise Stop

    monkeypatch.setattr(vdlite.demo, "run_demo", fake_run_demo)
    for flag in ([], ["--precision", "bf16"], ["--precision", "fp32"]):
        with pytest.raises(Stop):
            main(["demo", *flag, "--out", str(tmp_path)])
    assert got == [None, "bf16", "fp32"]

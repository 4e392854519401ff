"""Files a learner trades: checkpoints that run no code, saves that are never torn, runs that
are never lost, and resumable training.

Each test builds the failing case first (a pickle that would create a file, a process killed
in the middle of a save, a run that diverges, an interrupted run) and checks the property:
nothing runs, the old file survives, nothing broken is saved, and a resumed run reaches the
uninterrupted run's weights (to 1e-6 absolute on the CPU; in practice they are equal).
"""

import os
import pickle
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from vdlite.checkpoint import CheckpointError, atomic_save, check_fields, load_weights
from vdlite.cli import main
from vdlite.data import MovingSprites
from vdlite.train import (
    MODEL_FILE,
    STATE_FILE,
    TrainConfig,
    TrainingDiverged,
    TrainingInterrupted,
    build_model,
    caption_batches,
    clip_batches,
    load_checkpoint,
    load_train_state,
    save_checkpoint,
    train,
)

UNET = dict(frames=3, size=8, base_channels=8, channel_mults=(1, 2), batch=2, steps=6)
DIT = dict(arch="dit", frames=3, size=8, patch_size=2, dim=24, depth=1, heads=2, batch=2,
           steps=6, text=True, text_dim=16, text_layers=1, temporal_radius=1)
TINY_CLI = ["--steps", "4", "--batch", "2", "--frames", "3", "--size", "8", "--no-progress"]


def sprites(frames: int = 3) -> MovingSprites:
    return MovingSprites(num_clips=40, frames=frames, size=8, sprites=1, sprite_size=0.4)


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VDLITE_DEBUG"}
    return subprocess.run([sys.executable, "-m", "vdlite", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def one_line_error(err: str, text: str) -> None:
    """stderr is exactly one line, `vdlite: error: ...`, holding `text`, with no traceback."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) >= 1, err
    assert lines[-1].startswith("vdlite") and "error: " in lines[-1] and text in lines[-1], err


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


# ---------------------------------------------------------------------------------------------
# Loading runs no code
# ---------------------------------------------------------------------------------------------


class _CreatesAFile:
    """A pickle payload: unpickling it calls open(path, "w"), which creates the file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_malicious_checkpoint_runs_no_code(tmp_path, capsys):
    marker = tmp_path / "created_by_the_checkpoint"
    cfg = TrainConfig(**UNET)
    evil = {"config": asdict(cfg), "state_dict": build_model(cfg).state_dict(),
            "info": {"note": _CreatesAFile(marker)}}
    torch.save(evil, tmp_path / "model.pt")
    # the payload is real: an unsafe load would create the file
    torch.load(tmp_path / "model.pt", weights_only=False)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(CheckpointError, match=r"would run _?io\.open when loaded.*refuses"):
        load_checkpoint(tmp_path / "model.pt")
    assert main(["sample", "--checkpoint", str(tmp_path / "model.pt"), "--out",
                 str(tmp_path / "s"), "--no-progress"]) == 2
    one_line_error(capsys.readouterr().err, "io.open when loaded")
    assert not marker.exists()
    # a file of clips for `vdlite compare` is read the same way
    torch.save(_CreatesAFile(marker), tmp_path / "clips.pt")
    assert main(["compare", str(tmp_path / "clips.pt"), str(tmp_path / "clips.pt")]) == 2
    assert not marker.exists()


def _write(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


def test_files_that_are_not_checkpoints_get_one_line(tmp_path, capsys):
    cfg = TrainConfig(**UNET)
    good = {"config": asdict(cfg), "state_dict": build_model(cfg).state_dict(), "info": {}}
    _write(tmp_path / "good.pt", good)
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    (tmp_path / "torn.pt").write_bytes(data[: len(data) // 2])
    wrong_shapes = {**good, "config": {**asdict(cfg), "base_channels": 16}}
    nan = {**good, "state_dict": {k: v.clone() for k, v in good["state_dict"].items()}}
    next(v for v in nan["state_dict"].values() if v.is_floating_point()).fill_(float("nan"))
    cases = {
        "garbage.pt": "not a file written by torch.save",
        "torn.pt": "truncated or corrupt",
        _write(tmp_path / "tensor.pt", torch.zeros(3)).name: "expected a dict with 'config'",
        _write(tmp_path / "typed.pt", {**good, "config": {**asdict(cfg), "frames": "8"}}).name:
            "config field 'frames' must be int, got '8'",
        _write(tmp_path / "unknown.pt", {**good, "config": {**asdict(cfg), "colour": 1}}).name:
            "unknown config field(s) colour",
        _write(tmp_path / "range.pt", {**good, "config": {**asdict(cfg), "lr": -1.0}}).name:
            "lr must be a finite number in (0, 1]",
        _write(tmp_path / "shapes.pt", wrong_shapes).name: "do not fit the model",
        _write(tmp_path / "nan.pt", nan).name: "not finite",
        "folder": "is a folder",
    }
    (tmp_path / "folder").mkdir()
    for name, text in cases.items():
        with pytest.raises(CheckpointError, match=re.escape(text)):
            load_checkpoint(tmp_path / name)
        assert main(["sample", "--checkpoint", str(tmp_path / name), "--out",
                     str(tmp_path / "s"), "--no-progress"]) == 2, name
        err = capsys.readouterr().err
        one_line_error(err, text)
        assert name in err


def test_a_checkpoint_of_an_earlier_version_still_loads(tmp_path):
    """Earlier versions wrote {config, state_dict, info} with torch.save and no format field,
    and their configs lack the fields added since (fine_patch, lr_schedule, temporal_radius)."""
    cfg = TrainConfig(**UNET)
    model = build_model(cfg).eval()
    old_config = {k: v for k, v in asdict(cfg).items()
                  if k not in ("fine_patch", "lr_schedule", "temporal_radius")}
    torch.save({"config": old_config, "state_dict": model.state_dict(),
                "info": {"data": "sprites", "final_loss": 0.5}}, tmp_path / "old.pt")
    loaded, cfg2 = load_checkpoint(tmp_path / "old.pt")
    assert cfg2 == cfg
    x, t = torch.randn(1, 3, 3, 8, 8), torch.tensor([10])
    assert torch.equal(loaded(x, t), model(x, t))


def test_check_fields_and_save_refuse_what_cannot_be_loaded_safely(tmp_path):
    with pytest.raises(CheckpointError, match="must be a dict of fields"):
        check_fields(TrainConfig, [1, 2], "f.pt")
    with pytest.raises(CheckpointError, match="'channel_mults' must be tuple"):
        check_fields(TrainConfig, {"channel_mults": (1, 2.5)}, "f.pt")
    cfg = TrainConfig(**UNET)
    with pytest.raises(TypeError, match=r"info\['when'\] must hold plain values"):
        save_checkpoint(tmp_path / "m.pt", build_model(cfg), cfg, when=Path("."))
    assert not (tmp_path / "m.pt").exists()
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="is not a training state"):
        load_train_state(_write(tmp_path / "x.pt", {"config": {}}))


# ---------------------------------------------------------------------------------------------
# Nothing is lost: atomic saves
# ---------------------------------------------------------------------------------------------

_STALLED_SAVE = """
import io, os, sys, time
import torch
import vdlite.checkpoint as checkpoint

real_save = torch.save

def half_then_stall(obj, f):
    # write half of the file, then hang: the parent kills this process here
    buf = io.BytesIO()
    real_save(obj, buf)
    data = buf.getvalue()
    if isinstance(f, (str, os.PathLike)):
        f = open(f, "wb")
    f.write(data[: len(data) // 2])
    f.flush()
    print("half written", flush=True)
    time.sleep(600)

torch.save = half_then_stall
new = {"config": {}, "state_dict": {"w": torch.ones(1000)}, "info": {}}
if sys.argv[2] == "atomic":
    checkpoint.atomic_save(new, sys.argv[1])
else:
    torch.save(new, sys.argv[1])
"""


@pytest.mark.parametrize("how", ["plain", "atomic"])
def test_a_process_killed_in_the_middle_of_a_save_leaves_the_old_file(tmp_path, how):
    """SIGKILL half-way through writing: with a plain torch.save onto the path the old
    checkpoint is gone (the control, which shows the kill lands mid-write); with
    `atomic_save` the old one is still there, whole."""
    cfg = TrainConfig(**UNET)
    model = build_model(cfg)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, cfg)
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _STALLED_SAVE, str(path), how],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "half written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    if how == "plain":
        with pytest.raises(CheckpointError, match="truncated or corrupt"):
            load_checkpoint(path)
    else:
        assert path.read_bytes() == before
        loaded, _ = load_checkpoint(path)
        for k, v in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[k], v)


def test_atomic_save_replaces_whole_files_and_cleans_up_on_error(tmp_path):
    path = tmp_path / "sub" / "x.pt"
    atomic_save({"a": torch.arange(3)}, path)
    atomic_save({"a": torch.arange(5)}, path)
    assert torch.equal(load_weights(path)["a"], torch.arange(5))
    with pytest.raises((pickle.PicklingError, AttributeError)):
        atomic_save({"f": lambda: 0}, path)  # cannot be pickled: the old file stays
    assert torch.equal(load_weights(path)["a"], torch.arange(5))
    assert [p.name for p in path.parent.iterdir()] == ["x.pt"]  # no temporary file left


# ---------------------------------------------------------------------------------------------
# Diverging runs save nothing broken
# ---------------------------------------------------------------------------------------------


class Wrapped:
    """Batches that pass through `inner`'s batches and position (its state_dict)."""

    def __init__(self, inner, at: int) -> None:
        self.inner, self.at, self.n = inner, at, 0

    def __iter__(self):
        return self

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state)


class NaNAfter(Wrapped):
    """clip_batches whose batch `at` holds a NaN: the loss of that step is not finite."""

    def __next__(self):
        batch = next(self.inner)
        self.n += 1
        if self.n == self.at + 1:
            batch = batch.clone()
            batch[0, 0, 0, 0, 0] = float("nan")
        return batch


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = TrainConfig(**UNET)
    with pytest.raises(TrainingDiverged, match="diverged at step 5: the loss is nan; nothing "
                                               "was saved after step 4"):
        train(cfg, NaNAfter(clip_batches(sprites(), 2), at=5), out=tmp_path, save_every=2,
              progress=False)
    state = load_train_state(tmp_path / STATE_FILE)
    assert state["step"] == 4
    model, _ = load_checkpoint(tmp_path / MODEL_FILE)  # finite, or it would not load
    for k, v in model.state_dict().items():
        assert torch.equal(v, state["ema"][k])
    # without any checkpoint yet, nothing is written at all
    with pytest.raises(TrainingDiverged, match="no checkpoint was written"):
        train(cfg, NaNAfter(clip_batches(sprites(), 2), at=1), out=tmp_path / "new",
              save_every=4, progress=False)
    assert not (tmp_path / "new" / MODEL_FILE).exists()


def test_cli_diverging_run_is_one_line_and_keeps_the_old_model(tmp_path, capsys, monkeypatch):
    import vdlite.cli as cli

    assert main(["train", *TINY_CLI, "--out", str(tmp_path)]) == 0
    before = (tmp_path / MODEL_FILE).read_bytes()
    real = cli.train_batches
    monkeypatch.setattr(cli, "train_batches", lambda cfg, opts: NaNAfter(real(cfg, opts), 2))
    capsys.readouterr()
    assert main(["train", *TINY_CLI, "--out", str(tmp_path), "--force"]) == 2
    one_line_error(capsys.readouterr().err, "training diverged at step 2: the loss is nan")
    assert (tmp_path / MODEL_FILE).read_bytes() == before


# ---------------------------------------------------------------------------------------------
# Resumable training
# ---------------------------------------------------------------------------------------------


class InterruptAt(Wrapped):
    """Batches that send this process a real SIGINT (Ctrl-C) while drawing batch `at`."""

    def __next__(self):
        if self.n == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        self.n += 1
        return next(self.inner)


@pytest.mark.parametrize("config,batches", [(UNET, clip_batches), (DIT, caption_batches)],
                         ids=["unet", "dit-prompts"])
def test_a_resumed_run_reaches_the_uninterrupted_weights(tmp_path, config, batches):
    """Ctrl-C at step 3 of 6 finishes that step, saves and raises; resuming from the save
    gives the weights, EMA and losses of the run that was never stopped (atol 1e-6)."""
    cfg = TrainConfig(**config)
    ema_full, losses_full = train(cfg, batches(sprites(), 2), out=tmp_path / "full",
                                  save_every=2, progress=False)
    with pytest.raises(TrainingInterrupted, match="interrupted at step 4 of 6"):
        train(cfg, InterruptAt(batches(sprites(), 2), at=3), out=tmp_path / "cut",
              save_every=100, progress=False)
    assert load_train_state(tmp_path / "cut" / STATE_FILE)["step"] == 4
    ema_resumed, losses_resumed = train(cfg, batches(sprites(), 2), out=tmp_path / "cut",
                                        resume=True, progress=False)
    assert losses_resumed == losses_full
    full = load_train_state(tmp_path / "full" / STATE_FILE)
    resumed = load_train_state(tmp_path / "cut" / STATE_FILE)
    for part in ("model", "ema"):
        for k, v in full[part].items():
            torch.testing.assert_close(resumed[part][k], v, rtol=0, atol=1e-6)
    for k, v in ema_full.state_dict().items():
        torch.testing.assert_close(ema_resumed.state_dict()[k], v, rtol=0, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_resumed_run_on_cuda_differs_no_more_than_a_rerun(tmp_path):
    """On the GPU the kernels need not be bitwise deterministic, so the resumed run is held
    to the difference between two uninterrupted runs (and 1e-6 when those agree exactly)."""
    cfg = TrainConfig(**DIT)
    runs = {}
    for name in ("full", "again"):
        train(cfg, caption_batches(sprites(), 2), "cuda", out=tmp_path / name, progress=False)
        runs[name] = load_train_state(tmp_path / name / STATE_FILE)["ema"]
    with pytest.raises(TrainingInterrupted):
        train(cfg, InterruptAt(caption_batches(sprites(), 2), at=3), "cuda",
              out=tmp_path / "cut", progress=False)
    train(cfg, caption_batches(sprites(), 2), "cuda", out=tmp_path / "cut", resume=True,
          progress=False)
    resumed = load_train_state(tmp_path / "cut" / STATE_FILE)["ema"]
    rerun = max((runs["again"][k] - v).abs().max().item() for k, v in runs["full"].items())
    drift = max((resumed[k] - v).abs().max().item() for k, v in runs["full"].items())
    assert drift <= max(2 * rerun, 1e-6), (drift, rerun)


def test_resume_checks_the_run(tmp_path):
    cfg = TrainConfig(**UNET)
    train(cfg, clip_batches(sprites(), 2), out=tmp_path, save_every=3, progress=False)
    other = TrainConfig(**{**UNET, "lr": 1e-3})
    with pytest.raises(CheckpointError, match=r"a run with lr=0.002 \(not 0.001\)"):
        train(other, clip_batches(sprites(), 2), out=tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="needs batches that can save their position"):
        train(cfg, iter(clip_batches(sprites(), 2).__next__, None), out=tmp_path,
              progress=False)
    with pytest.raises(ValueError, match="resume=True needs out"):
        train(cfg, clip_batches(sprites(), 2), resume=True, progress=False)


_SLOW_TRAIN = """
import sys, time
import vdlite.train as train
ema_update = train.ema_update
def slow(*args):
    time.sleep(0.05)
    ema_update(*args)
train.ema_update = slow
from vdlite.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cli_ctrl_c_saves_and_resume_finishes_the_same_run(tmp_path, capsys):
    """A real SIGINT to `vdlite train` (steps slowed to 50 ms so that it lands mid-run) saves
    a resumable run and exits 130 saying how to resume; `--resume` then ends where an
    uninterrupted run ends."""
    args = ["train", "--steps", "30", "--batch", "2", "--frames", "3", "--size", "8",
            "--save-every", "1000", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "full")]) == 0
    env = {k: v for k, v in os.environ.items() if k != "VDLITE_DEBUG"}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_TRAIN, *args, "--out",
                             str(tmp_path / "cut")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().startswith("training the unet")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"vdlite train --resume {tmp_path / 'cut'}" in err
    step = load_train_state(tmp_path / "cut" / STATE_FILE)["step"]
    assert 0 < step < 30 and f"interrupted at step {step} of 30" in err
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "cut"), "--no-progress"]) == 0
    assert f"resuming {tmp_path / 'cut'} at step {step} of 30" in capsys.readouterr().out
    full, _ = load_checkpoint(tmp_path / "full" / MODEL_FILE)
    resumed, _ = load_checkpoint(tmp_path / "cut" / MODEL_FILE)
    for k, v in full.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=1e-6)


def test_cli_refuses_to_replace_a_model_unless_asked(tmp_path, capsys):
    assert main(["train", *TINY_CLI, "--out", str(tmp_path)]) == 0
    before = (tmp_path / MODEL_FILE).read_bytes()
    capsys.readouterr()
    assert main(["train", *TINY_CLI, "--out", str(tmp_path)]) == 2
    one_line_error(capsys.readouterr().err, "already holds model.pt and train_state.pt: "
                                            "pass --resume")
    assert (tmp_path / MODEL_FILE).read_bytes() == before
    assert main(["train", *TINY_CLI, "--out", str(tmp_path), "--resume", "--force"]) == 2
    one_line_error(capsys.readouterr().err, "give one of them")
    assert main(["train", "--out", str(tmp_path), "--resume", "--frames", "5"]) == 2
    one_line_error(capsys.readouterr().err, "--frames 5 differs from the run saved in")
    assert main(["train", "--resume", str(tmp_path / "empty")]) == 2
    one_line_error(capsys.readouterr().err, "nothing to resume in")
    # a finished run resumed is already done; --force trains a new one in its place
    assert main(["train", "--out", str(tmp_path), "--resume", "--no-progress"]) == 0
    assert (tmp_path / MODEL_FILE).read_bytes() == before
    assert main(["train", *TINY_CLI, "--lr", "1e-3", "--out", str(tmp_path), "--force"]) == 0
    _, cfg = load_checkpoint(tmp_path / MODEL_FILE)
    assert cfg.lr == 1e-3


# ---------------------------------------------------------------------------------------------
# Inputs checked before work
# ---------------------------------------------------------------------------------------------


def test_cli_checks_every_number_before_work(tmp_path):
    for args, text in [
        (["train", "--lr", "inf"], "argument --lr: expected a learning rate in (0, 1], got inf"),
        (["train", "--lr", "nan"], "argument --lr: expected a learning rate"),
        (["train", "--lr", "0"], "argument --lr: expected a learning rate"),
        (["train", "--lr", "3"], "argument --lr: expected a learning rate"),
        (["train", "--seed", "-1"], "argument --seed: expected an integer seed"),
        (["demo", "--seed", str(2**64)], "argument --seed: expected an integer seed"),
        (["train", "--temporal-radius", "-1"], "argument --temporal-radius: expected an int"),
        (["train", "--frames", "0"], "argument --frames: expected a positive integer"),
        (["sample", "--checkpoint", "m.pt", "--guidance", "nan"], "argument --guidance"),
        (["sample", "--checkpoint", "m.pt", "--guidance", "-1"], "argument --guidance"),
        (["compare", "a", "b", "--level", "1.5"], "argument --level"),
    ]:
        proc = run_cli(*args, "--out" if args[0] != "compare" else "--boot",
                       str(tmp_path / "o") if args[0] != "compare" else "10")
        assert proc.returncode == 2, (args, proc.stderr)
        one_line_error(proc.stderr, text)
    assert not (tmp_path / "o").exists()


def test_cli_checks_the_output_folder_and_sizes_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out, text in [(tmp_path / "file", "is a file, not a folder"),
                      (tmp_path / "file" / "sub", "cannot be written")]:
        for cmd in (["train", *TINY_CLI], ["demo", "--steps", "1"],
                    ["sample", "--checkpoint", str(tmp_path / "m.pt")]):
            assert main([*cmd, "--out", str(out)]) == 2
            one_line_error(capsys.readouterr().err, text)
    # a size the U-Net cannot take is found by one forward pass, before any data is loaded
    assert main(["train", "--size", "10", "--steps", "1", "--out", str(tmp_path / "o")]) == 2
    one_line_error(capsys.readouterr().err, "divisible by")
    assert not (tmp_path / "o").exists()


def test_cli_prompts_without_a_known_word_are_an_error(tmp_path, capsys):
    assert main(["train", "--arch", "dit", "--prompts", *TINY_CLI, "--out", str(tmp_path)]) == 0
    for prompt, text in [("", "has no words"), ("42 !", "has no words"),
                         ("a purple blob", "words the model never saw: ['purple', 'blob']")]:
        assert main(["sample", "--checkpoint", str(tmp_path / MODEL_FILE), "--prompt", prompt,
                     "--num", "1", "--steps", "1", "--out", str(tmp_path / "s")]) == 2
        one_line_error(capsys.readouterr().err, text)
    assert not (tmp_path / "s" / "samples.pt").exists()

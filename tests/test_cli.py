"""The `vdlite` command: clear one-line errors, and train -> sample -> demo at tiny sizes."""

import json
import os
import subprocess
import sys

import pytest
import torch

from vdlite.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VDLITE_DEBUG"}
    return subprocess.run([sys.executable, "-m", "vdlite", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, text: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert text in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # argparse puts its usage line above
    assert last.startswith("vdlite") and ": error: " in last and text in last


def test_help_lists_the_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for name in ("demo", "train", "sample"):
        assert name in proc.stdout


def test_missing_data_folder_is_a_one_line_error(tmp_path):
    assert_one_line_error(run_cli("train", "--data", str(tmp_path / "nope")), "nope")


def test_missing_checkpoint_is_a_one_line_error(tmp_path):
    assert_one_line_error(run_cli("sample", "--checkpoint", str(tmp_path / "m.pt")),
                          "checkpoint not found")


def test_bad_numbers_and_devices_are_rejected():
    assert_one_line_error(run_cli("demo", "--steps", "0"), "positive integer")
    assert_one_line_error(run_cli("demo", "--steps", "many"), "positive integer")
    assert_one_line_error(run_cli("demo", "--device", "tpu"), "cpu or cuda")
    if not torch.cuda.is_available():
        assert_one_line_error(run_cli("demo", "--device", "cuda"), "CUDA is not available")


def test_train_then_sample_round_trip(tmp_path, capsys):
    ckpt_dir, sample_dir = tmp_path / "train", tmp_path / "sample"
    assert main(["train", "--steps", "2", "--batch", "2", "--frames", "3", "--size", "16",
                 "--out", str(ckpt_dir), "--no-progress"]) == 0
    assert main(["sample", "--checkpoint", str(ckpt_dir / "model.pt"), "--num", "2",
                 "--steps", "2", "--frames", "5", "--out", str(sample_dir), "--mp4",
                 "--no-progress"]) == 0
    clips = torch.load(sample_dir / "samples.pt")
    assert clips.shape == (2, 3, 5, 16, 16)
    assert clips.min() >= -1 and clips.max() <= 1
    assert (sample_dir / "sample.gif").stat().st_size > 0
    assert (sample_dir / "sample.mp4").stat().st_size > 0


def test_train_on_a_folder_of_videos(tmp_path):
    from vdlite.data import MovingSprites, write_gif

    folder = tmp_path / "videos"
    folder.mkdir()
    data = MovingSprites(num_clips=2, frames=8, size=16, seed=1)
    for i in range(2):
        write_gif(data[i]["video"], folder / f"clip{i}.gif")
    assert main(["train", "--data", str(folder), "--steps", "1", "--batch", "2", "--frames",
                 "4", "--size", "16", "--out", str(tmp_path / "m"), "--no-progress"]) == 0
    assert (tmp_path / "m" / "model.pt").is_file()


@pytest.mark.slow
def test_demo_runs_end_to_end_at_a_tiny_size(tmp_path):
    proc = run_cli("demo", "--steps", "2", "--samples", "2", "--sample-steps", "2",
                   "--out", str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    for name in ("sample.gif", "side_by_side.gif", "metrics.json", "metrics.png"):
        assert (tmp_path / name).stat().st_size > 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for who in ("real_clips", "video_model", "frame_by_frame"):
        assert set(metrics["metrics"][who]) >= {"background_change", "colour_drift",
                                                 "size_drift", "path_residual"}
    assert "background_change" in proc.stdout


def test_compare_two_sets_of_clips(tmp_path, capsys):
    """vdlite compare reads a demo folder's video_samples.pt or a .pt file, prints each figure
    with its interval and a verdict, and rejects what is not a tensor of clips."""
    from vdlite.data import MovingSprites

    data = MovingSprites(num_clips=16, frames=6, size=24, sprites=1, background="plain", seed=1)
    real = torch.stack([data[i]["video"] for i in range(8)])
    mixed = torch.stack([real[(torch.arange(8) + t) % 8, :, t] for t in range(6)], dim=2)
    (tmp_path / "demo").mkdir()
    torch.save(real, tmp_path / "demo" / "video_samples.pt")
    torch.save(mixed, tmp_path / "mixed.pt")
    assert main(["compare", str(tmp_path / "demo"), str(tmp_path / "mixed.pt"),
                 "--boot", "200"]) == 0
    out = capsys.readouterr().out
    assert "8 clip pairs" in out and "a better" in out and "colour_drift" in out
    assert "warping_error" not in out
    assert main(["compare", str(tmp_path / "demo"), str(tmp_path / "mixed.pt"),
                 "--boot", "200", "--motion"]) == 0
    assert "warping_error" in capsys.readouterr().out
    torch.save({"not": "clips"}, tmp_path / "bad.pt")
    assert main(["compare", str(tmp_path / "bad.pt"), str(tmp_path / "mixed.pt")]) == 2
    assert "must hold one tensor of clips" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "nowhere"), str(tmp_path / "mixed.pt")]) == 2
    assert "no clips at" in capsys.readouterr().err


def test_eval_measures_saved_clips_and_a_folder_of_videos(tmp_path, capsys):
    """vdlite eval reads a .pt of clips, a demo folder or a folder of videos; prints every
    figure; with --real adds the two distances; --json writes them; mismatched or missing
    inputs are one-line errors."""
    from vdlite.data import MovingSprites, write_gif

    data = MovingSprites(num_clips=40, frames=8, size=32, sprites=1, background="plain", seed=2)
    clips = torch.stack([data[i]["video"] for i in range(6)])
    real = torch.stack([data[20 + i]["video"] for i in range(6)])
    torch.save(clips, tmp_path / "clips.pt")
    torch.save(real, tmp_path / "real.pt")
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(3):
        write_gif(torch.cat([clips[i], clips[i + 3]], dim=1), videos / f"v{i}.gif")
    assert main(["eval", str(tmp_path / "clips.pt"), "--real", str(tmp_path / "real.pt"),
                 "--json", str(tmp_path / "out" / "figures.json")]) == 0
    out = capsys.readouterr().out
    assert "6 clips of 8 frames" in out and "warping_error" in out and "course_fvd" in out
    saved = json.loads((tmp_path / "out" / "figures.json").read_text())
    assert {"warping_error", "flicker", "temporal_fid", "course_fvd"} <= set(saved["figures"])
    assert main(["eval", str(videos)]) == 0  # 3 gifs of 16 frames: 6 clips of 8
    out = capsys.readouterr().out
    assert "6 clips of 8 frames, 32x32" in out and "temporal_fid" not in out
    torch.save(real[:, :, :5], tmp_path / "short.pt")
    assert main(["eval", str(tmp_path / "clips.pt"), "--real", str(tmp_path / "short.pt")]) == 2
    assert "must match" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nowhere.pt")]) == 2
    assert "no clips at" in capsys.readouterr().err


def test_train_with_a_temporal_loss(tmp_path, capsys):
    """--temporal-loss adds the term (with the study's weight unless --temporal-weight is
    given), is saved with the run, and a resumed run must keep it; a weight without a loss,
    or a loss on a frame model, is a one-line error."""
    from vdlite.train import load_checkpoint

    base = ["train", "--steps", "2", "--batch", "2", "--frames", "4", "--size", "16",
            "--no-progress"]
    assert main([*base, "--temporal-loss", "warp", "--out", str(tmp_path / "w")]) == 0
    _, cfg = load_checkpoint(tmp_path / "w" / "model.pt")
    assert (cfg.temporal_loss, cfg.temporal_weight) == ("warp", 1.0)
    assert main([*base, "--temporal-loss", "flow_change", "--temporal-weight", "0.01",
                 "--out", str(tmp_path / "f")]) == 0
    _, cfg = load_checkpoint(tmp_path / "f" / "model.pt")
    assert (cfg.temporal_loss, cfg.temporal_weight) == ("flow_change", 0.01)
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "f"), "--temporal-loss", "warp"]) == 2
    assert "--temporal-loss warp differs" in capsys.readouterr().err
    assert main([*base, "--temporal-weight", "0.5", "--out", str(tmp_path / "x")]) == 2
    assert "go together" in capsys.readouterr().err
    assert main([*base, "--mode", "frame", "--temporal-loss", "warp",
                 "--out", str(tmp_path / "y")]) == 2
    assert "pixel-space video model" in capsys.readouterr().err

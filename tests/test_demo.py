"""The course's opening claim, checked at the demo's own defaults (about 4 minutes on 2 cores).

Trained for the same steps on the same clips, the video model's samples must beat the
frame-by-frame model's on every consistency figure. The figures are measured on samples, so
this is a property of training, not a unit test; it is deterministic for a given machine
and PyTorch build because every random draw is seeded.
"""

import json

import pytest
import torch

from vdlite.demo import CONSISTENCY_FIGURES, PAIRED_FIGURES, run_demo


@pytest.mark.slow
def test_default_demo_video_model_is_ahead_on_every_figure(tmp_path):
    res = run_demo(tmp_path, progress=False)
    assert res["video_model_ahead_on"] == list(CONSISTENCY_FIGURES), res["metrics"]
    print({k: res["metrics"][k] for k in ("video_model", "frame_by_frame")}, res["timings_s"])


def test_dit_demo_runs_end_to_end_and_reports_the_flicker_scenario(tmp_path):
    """Plumbing only (2 steps): the DiT demo writes every file and both flicker reports."""
    res = run_demo(tmp_path, steps=2, num_samples=2, sample_steps=2, progress=False,
                   arch="dit")
    assert res["config"]["arch"] == "dit" and res["num_samples"] == 2
    for name in ("sample.gif", "side_by_side.gif", "metrics.json", "metrics.png",
                 "video_model.pt", "frame_model.pt", "video_samples.pt"):
        assert (tmp_path / name).is_file(), name
    assert torch.load(tmp_path / "video_samples.pt").shape == (2, 3, 8, 32, 32)
    assert set(res["flicker"]) == {"with", "without", "compare"}
    assert set(res["flicker"]["with"]) == set(res["metrics"]["video_model"])
    assert {"warping_error", "forward_backward", "acceleration", "flicker"} <= set(
        res["metrics"]["frame_by_frame"])
    assert set(res["flicker"]["compare"]) == set(res["video_vs_frame"]) == set(PAIRED_FIGURES)
    assert set(res["distances"]["video_model"]) == {"temporal_fid", "course_fvd",
                                                    "background_colour_fd"}
    assert res["distances"]["real_clips"]["course_fvd"] >= 0
    assert {"shape_error", "background_off_palette"} <= set(res["metrics"]["video_model"])
    assert set(res["shapes"]) == set(res["metrics"])
    assert all(sum(counts.values()) == 2 for counts in res["shapes"].values())


def test_the_demo_and_its_cli_sample_demo_samples_clips_by_default():
    import inspect

    from vdlite.cli import build_parser
    from vdlite.demo import DEMO_SAMPLES

    assert inspect.signature(run_demo).parameters["num_samples"].default == DEMO_SAMPLES
    assert build_parser().parse_args(["demo"]).samples == DEMO_SAMPLES == 64


def test_demo_config_rejects_a_preset_of_the_other_architecture():
    from vdlite.demo import demo_config

    assert demo_config("cpu", arch="dit").arch == "dit"
    assert demo_config("cpu", preset="cpu-dit", arch="dit").patch_size == 4
    with pytest.raises(ValueError, match="is for arch='unet', not arch='dit'"):
        demo_config("cpu", preset="cpu", arch="dit")


def test_latent_demo_runs_end_to_end_and_puts_the_latent_model_beside_the_others(tmp_path):
    """Plumbing only (2 steps each): --latent rounds the frames up to 1 + 4k, trains and saves
    the VAE, denoises its latents, and reports the latent model and the VAE's reconstructions
    beside the pixel-space models."""
    from vdlite.cli import main
    from vdlite.train import load_checkpoint, load_vae

    assert main(["demo", "--latent", "--steps", "2", "--vae-steps", "2", "--samples", "2",
                 "--sample-steps", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    res = json.loads((tmp_path / "metrics.json").read_text())
    assert res["config"]["frames"] == 9  # the CPU preset's 8, rounded up to 1 + 4k
    assert set(res["metrics"]) == {"real_clips", "video_model", "frame_by_frame",
                                   "latent_model", "vae_reconstructions"}
    assert 0 < res["vae"]["psnr"] < 100 and res["vae"]["config"]["steps"] == 2
    assert {"train_vae", "train_latent", "sample_latent"} <= set(res["timings_s"])
    assert torch.load(tmp_path / "latent_samples.pt").shape == (2, 3, 9, 32, 32)
    vae, vcfg = load_vae(tmp_path / "vae.pt")
    assert vcfg.kind == "causal" and vcfg.frames == 9
    model, cfg = load_checkpoint(tmp_path / "latent_model.pt")
    assert cfg.vae_kind == "causal" and cfg.latent_shape() == (4, 3, 8, 8)
    for key, value in vae.state_dict().items():  # the latent model carries the trained VAE
        assert torch.equal(model.vae.state_dict()[key], value), key


def test_vae_steps_without_latent_is_a_one_line_error(capsys):
    from vdlite.cli import main

    assert main(["demo", "--vae-steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "add --latent" in err and err.count("\n") == 1


def test_flicker_study_runs_end_to_end_and_summarises_over_seeds(tmp_path):
    """Plumbing only (3 steps, 3 clips, 2 seeds): `python -m vdlite.flicker` writes its table,
    its figure and every seed's paired comparison, and summarises each figure over seeds."""
    import json

    from vdlite.demo import PAIRED_FIGURES
    from vdlite.flicker import main

    args = ["--preset", "cpu-dit", "--samples", "3", "--sample-steps", "2", "--steps", "3",
            "--out", str(tmp_path)]
    main(args + ["--seeds", "0"])
    first = json.loads((tmp_path / "results.json").read_text())["runs"]
    main(args + ["--seeds", "0", "1", "--resume"])  # seed 0 is kept, not run again
    res = json.loads((tmp_path / "results.json").read_text())
    assert [r["seed"] for r in res["runs"]] == [0, 1]
    assert res["runs"][0] == first[0]
    with pytest.raises(SystemExit, match="samples=3"):
        main([*args[:2], "--samples", "4", *args[4:], "--seeds", "2", "--resume"])
    assert set(res["summary"]) == set(PAIRED_FIGURES)
    for name, s in res["summary"].items():
        diffs = [r["compare"][name]["diff"] for r in res["runs"]]
        assert s["diff"] == pytest.approx(sum(diffs) / 2, nan_ok=True)
    assert (tmp_path / "clips.png").is_file()
    assert "warping_error" in (tmp_path / "results.md").read_text()

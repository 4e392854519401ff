"""vdlite.recipe: verdicts, targets, overrides, resume, and one tiny end-to-end run."""

import json

import pytest

from vdlite.demo import PAIRED_FIGURES
from vdlite.recipe import (
    MAX_MISSING,
    MUST_WIN,
    main,
    meets_targets,
    parse_overrides,
    seed_config,
    stored,
    summary,
    verdict,
)


def interval(low, high):
    return {"a": 0.0, "b": 0.0, "diff": (low + high) / 2, "low": low, "high": high, "pairs": 64}


def metrics(verdicts: dict[str, str], missing: float = 0.0) -> dict:
    """A metrics.json with the given verdict per figure (others 'better')."""
    spans = {"better": (-2.0, -1.0), "tie": (-1.0, 1.0), "worse": (1.0, 2.0)}
    paired = {k: interval(*spans[verdicts.get(k, "better")]) for k in PAIRED_FIGURES}
    return {"video_vs_frame": paired, "num_samples": 64,
            "metrics": {"video_model": {"missing_frames": missing},
                        "frame_by_frame": {"missing_frames": 0.5}}}


def test_verdict_reads_which_side_of_zero_the_interval_lies():
    assert verdict(interval(-0.3, -0.01)) == "better"
    assert verdict(interval(0.01, 0.3)) == "worse"
    assert verdict(interval(-0.1, 0.1)) == "tie"
    assert verdict(interval(0.0, 0.1)) == "tie"  # touching 0 is not beyond it


def test_targets_need_the_three_wins_no_loss_and_few_missing_frames():
    assert meets_targets(metrics({})) == (True, [])
    ok, why = meets_targets(metrics({"flicker": "tie", "path_residual": "tie"}))
    assert ok and why == []  # a tie off the must-win list is allowed
    for name in MUST_WIN:
        ok, why = meets_targets(metrics({name: "tie"}))
        assert not ok and why == [f"{name} not better"]
        ok, why = meets_targets(metrics({name: "worse"}))
        assert not ok and why == [f"{name} worse"]
    ok, why = meets_targets(metrics({"acceleration": "worse"}))
    assert not ok and why == ["acceleration worse"]
    assert meets_targets(metrics({}, missing=MAX_MISSING))[0]
    ok, why = meets_targets(metrics({}, missing=MAX_MISSING + 0.01))
    assert not ok and "missing in 6.0% of frames" in why[0]


def test_summary_counts_verdicts_and_averages_over_seeds():
    runs = {0: metrics({"flicker": "worse"}), 1: metrics({"flicker": "tie"}), 2: metrics({})}
    s = summary(runs)
    assert set(s) == set(PAIRED_FIGURES)
    assert (s["flicker"]["better"], s["flicker"]["tie"], s["flicker"]["worse"]) == (1, 1, 1)
    assert s["flicker"]["diff"] == pytest.approx((1.5 + 0.0 - 1.5) / 3)
    assert s["flicker"]["low"] < s["flicker"]["diff"] < s["flicker"]["high"]
    assert s["colour_drift"]["low"] == s["colour_drift"]["high"] == -1.5  # no spread


def test_overrides_are_literals_of_known_fields_and_errors_name_the_key():
    assert parse_overrides(["lr=5e-4", "steps=12", "channel_mults=(1, 2)",
                            "lr_schedule=cosine"]) == {
        "lr": 5e-4, "steps": 12, "channel_mults": (1, 2), "lr_schedule": "cosine"}
    with pytest.raises(ValueError, match="learning_rate: not a TrainConfig field"):
        parse_overrides(["learning_rate=1"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["steps"])
    with pytest.raises(ValueError, match="seed: not a TrainConfig field"):
        parse_overrides(["seed=3"])  # the seed is --seeds'


def test_seed_config_applies_overrides_to_the_preset():
    cfg = seed_config("cpu", 3, "cpu", {"steps": 7, "lr": 1e-4})
    assert (cfg["steps"], cfg["lr"], cfg["seed"], cfg["arch"]) == (7, 1e-4, 3, "unet")
    assert seed_config("cpu-dit", 0, "cpu", {})["arch"] == "dit"


def test_stored_reads_back_only_the_same_configuration(tmp_path):
    cfg = seed_config("cpu", 0, "cpu", {"steps": 5})
    assert stored(tmp_path, cfg) is None
    (tmp_path / "metrics.json").write_text(json.dumps(
        {"config": cfg, "num_samples": 64, "sample_steps": 50, "x": 1}))
    assert stored(tmp_path, cfg)["x"] == 1
    with pytest.raises(SystemExit, match=r"differs in \['steps'\]"):
        stored(tmp_path, seed_config("cpu", 0, "cpu", {"steps": 6}))
    with pytest.raises(SystemExit, match="samples"):
        stored(tmp_path, cfg, samples=8)


def test_a_tiny_recipe_runs_resumes_and_refuses_to_overwrite(tmp_path, capsys):
    """Plumbing (2 training steps, 4 clips, 2 sampling steps): two seeds, then read back."""
    args = ["--preset", "cpu", "--seeds", "0", "1", "--out", str(tmp_path), "--set",
            "steps=2", "--samples", "4", "--sample-steps", "2"]
    assert main(args) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["runs"]) == {"0", "1"} and results["overrides"] == {"steps": 2}
    assert set(results["summary"]) == set(PAIRED_FIGURES)
    text = (tmp_path / "results.md").read_text()
    assert text.count("\n| 0 |") == text.count("\n| 1 |") == 1
    assert "--set steps=2" in text and "4 clip pairs" in text
    for seed in (0, 1):
        assert (tmp_path / f"seed-{seed}" / "side_by_side.gif").is_file()
    assert (tmp_path / "clips.png").stat().st_size > 1000
    before = (tmp_path / "seed-0" / "metrics.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0  # nothing run again
    assert "targets" not in capsys.readouterr().out.split("# Recipe")[0]
    assert (tmp_path / "seed-0" / "metrics.json").stat().st_mtime_ns == before
    with pytest.raises(SystemExit):  # without --resume an earlier run is not overwritten
        main(args)
    with pytest.raises(SystemExit):  # another configuration in the same folder
        main(args[:-4] + ["--samples", "4", "--sample-steps", "3", "--resume"])

"""vdlite.seams: the study's bookkeeping on known answers, and a tiny study end to end."""

import json
import math

import pytest

from vdlite.seams import compare_at_psnr, main, mean_interval, seam_study


def test_mean_interval_is_the_student_t_interval():
    m, lo, hi = mean_interval([1.0, 2.0, 3.0])  # s = 1, n = 3: half-width 2.920 / sqrt(3)
    assert m == 2.0 and abs((hi - lo) / 2 - 2.920 / math.sqrt(3)) < 1e-12
    m, lo, hi = mean_interval([5.0])
    assert m == 5.0 and math.isnan(lo) and math.isnan(hi)


def run(kind, seed, points):
    return [{"kind": kind, "seed": seed, "step": 10 * (i + 1), "psnr": p, "still_flicker": f}
            for i, (p, f) in enumerate(points)]


def test_compare_at_psnr_interpolates_where_each_run_first_reaches_the_level():
    rows = (run("causal", 0, [(10, 0.0), (20, 1.0)]) + run("causal", 1, [(10, 0.0), (30, 2.0)])
            + run("frame", 0, [(12, 5.0), (14, 7.0), (13, 9.0), (22, 9.0)]))
    [entry] = compare_at_psnr(rows, levels=[13.0])
    assert entry["causal"]["values"] == [0.3, 0.3]  # 0.3 of the way, 0.15 of the way x 2
    assert entry["frame"]["values"] == [6.0]  # first reached between 12 and 14, not at 13 later
    default = compare_at_psnr(rows)  # levels spread over what every run reaches: 12 .. 20
    assert [e["psnr"] for e in default] == [12.0, 14.0, 16.0, 18.0, 20.0]
    assert default[-1]["causal"]["values"] == [1.0, 1.0]  # the end of one run, half of the other
    assert compare_at_psnr(run("causal", 0, [(10, 0.0)]) + run("frame", 0, [(20, 1.0)])) == []


@pytest.mark.parametrize("bad", [{"steps": 0}, {"eval_every": 0}])
def test_seam_study_rejects_empty_schedules(bad):
    with pytest.raises(ValueError, match="must be >= 1"):
        seam_study(**{"steps": 2, "eval_every": 1, **bad})


def test_a_tiny_study_end_to_end(tmp_path):
    rows = seam_study(seeds=(0,), steps=3, eval_every=2, num_eval=4, size=16, base_channels=4,
                      batch=2)
    assert [(r["kind"], r["step"]) for r in rows] == [("causal", 2), ("causal", 3),
                                                      ("frame", 2), ("frame", 3)]
    assert all(r["psnr"] > 0 and r["still_flicker"] >= 0 for r in rows)
    assert len(rows[1]["still_flicker_per_transition"]) == 8 and "still_flicker_per_transition" \
        not in rows[0]
    main(["--steps", "2", "--eval-every", "1", "--seeds", "0", "1", "--num-eval", "4",
          "--batch", "2", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["rows"]) == 2 * 2 * 2
    assert (tmp_path / "seams.png").stat().st_size > 0
    text = (tmp_path / "results.md").read_text()
    assert "## Still flicker at equal PSNR" in text and "from what moves at equal PSNR" in text
    assert (tmp_path / "far_seams.png").stat().st_size > 0

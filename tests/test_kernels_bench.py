"""kernels.bench, the one GPU benchmark command: its table parsing and its refusal without a GPU
(the timings themselves need the GPU and live in kernels/BENCHMARKS.md)."""

import os

import pytest
import torch

from kernels.bench import run as bench

TEXT = """intro line
| T | mask | pass | path | ms | x fastest SDPA |
|---|---|---|---|---|---|
| 8 | none | fwd | ours | 0.097 | 10.87x |
| 8 | none | fwd | ours (qkv views) | 0.096 | 11.01x |
| 8 | none | fwd | sdpa efficient | 1.054 | 1.00x |

| shape | pass | path | ms | x SDPA+permutes | x any SDPA |
|---|---|---|---|---|---|
| [1, 16] | fwd+bwd | ours | 5.0 | 0.94x | 0.91x |
"""


def test_tables_and_speedups_read_our_rows_against_the_last_ratio_column():
    found = bench.tables(TEXT)
    assert [len(rows) for rows in found] == [3, 1]
    assert found[0][2] == {"T": "8", "mask": "none", "pass": "fwd", "path": "sdpa efficient",
                           "ms": "1.054", "x fastest SDPA": "1.00x"}
    assert bench.speedups("temporal", found[0]) == [("temporal 8 none fwd", 10.87)]
    assert bench.speedups("spatial", found[1]) == [("spatial [1, 16] fwd+bwd", 0.91)]
    assert bench.speedups("x", []) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_bench_without_a_gpu_says_so(capsys):
    assert bench.main(["--out", "unused"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_committed_tables_are_read_by_section_and_name_their_gpu(tmp_path):
    from kernels.bench import committed

    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# results\n\n- GPU: Some GPU (7 SMs), driver 1.2\n\n## Temporal attention\n\n"
                    "prose\n\n" + TEXT + "\n## Notes\n\nno table here\n")
    rows = committed.section("Temporal attention", page)
    assert rows[0]["path"] == "ours" and committed.number(rows[0]["x fastest SDPA"]) == 10.87
    assert committed.number("92.0%") == 92.0
    assert committed.gpu(page) == "Some GPU (7 SMs)"
    with pytest.raises(KeyError, match="no table under '## Notes'"):
        committed.section("Notes", page)
    spatial = committed.section("Spatial attention")  # the committed file itself
    assert {"path", "ms", "x any SDPA"} <= set(spatial[0])
    assert "H100" in committed.gpu()
    assert 2.5e12 < committed.copy_bandwidth() < 3.5e12  # an H100's copy, bytes per second
    assert 6e14 < committed.gemm_rate() < 9e14  # its bf16 GEMM, FLOP per second


def test_neighbourhood_floors_count_the_allowed_pairs():
    """The neighbourhood benchmark's floors: pairs are the temporal mask's frame pairs times the
    neighbourhood mask's position pairs; bytes 4 (12 with the backward) tensor-sizes."""
    from kernels.bench import neighbourhood

    # 3 x 3 grid, radius 1: corners see 4 positions, edges 6, the centre 9: 4*4 + 4*6 + 9 = 49
    assert neighbourhood.pairs(1, (3, 3), 1) == 49
    assert neighbourhood.pairs(4, (3, 3), 1, causal=True) == 10 * 49  # 1 + 2 + 3 + 4 frames
    assert neighbourhood.pairs(4, (3, 3), 0, window=1) == 10 * 9  # 2 + 3 + 3 + 2, per position
    assert neighbourhood.pairs(5, (3, 3), 5) == 25 * 81  # a radius past the grid sees it all
    counts = neighbourhood.floors(2, 4, (3, 3), 5, 32, 1, causal=True)
    size = 2 * 4 * 9 * 5 * 32 * 2  # bf16
    assert counts["bytes", "fwd"] == 4 * size and counts["bytes", "fwd+bwd"] == 12 * size
    assert counts["flops", "fwd"] == 4 * 32 * 2 * 5 * 10 * 49
    assert counts["flops", "fwd+bwd"] == counts["flops", "fwd"] * 7 // 2
    assert set(neighbourhood.TARGETS) == {"fwd", "fwd+bwd"}
    assert "neighbourhood" in bench.KERNELS


def test_step_bench_times_each_step_after_the_warmup_and_restores_the_backend(monkeypatch):
    """kernels.bench.step's harness on the CPU: one time per step after the warm-up, each
    positive; its backend switch sets VDLITE_BACKEND inside and restores it after."""
    from kernels.bench import step
    from vdlite.demo import demo_config

    cfg = demo_config("cpu", steps=5, frames=4, size=16, base_channels=8)
    clips = [torch.rand(2, 3, 4, 16, 16) * 2 - 1]
    times = step.step_times(cfg, clips, warmup=2, device="cpu")
    assert len(times) == 3 and all(t > 0 for t in times)
    monkeypatch.setenv("VDLITE_BACKEND", "triton-lesson")
    with step.backend("torch"):
        assert os.environ["VDLITE_BACKEND"] == "torch"
    with step.backend("default"):
        assert "VDLITE_BACKEND" not in os.environ
    assert os.environ["VDLITE_BACKEND"] == "triton-lesson"
    assert step.percentile([3.0, 1.0, 2.0, 5.0, 4.0], 0.5) == 3.0


def test_ab_table_gives_medians_over_rounds_and_the_ratio(tmp_path):
    """kernels.bench.ab: per call the median of each tree's rounds and B / A; a folder that is
    not a checkout is refused by name."""
    from kernels.bench import ab

    rounds = {"old": [{"t fwd": 1.0, "t launches": 2.0}, {"t fwd": 3.0, "t launches": 2.0},
                      {"t fwd": 2.0, "t launches": 2.0}],
              "new": [{"t fwd": 4.0, "t launches": 3.0}] * 3}
    text = ab.table(rounds, ["old", "new"])
    assert "| t fwd | 2 ms | 4 ms | 2.00 |" in text
    assert "| t launches | 2 | 3 | 1.50 |" in text
    with pytest.raises(SystemExit):
        ab.main([str(tmp_path), str(tmp_path)])

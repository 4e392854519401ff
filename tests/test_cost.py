"""Tests for vdlite.cost: attention's cost counted, then measured.

Oracles: the counts are checked against brute-force sums of the [N, N] token masks (built
from ``temporal_mask``, itself checked element by element in test_attention.py); measured
FLOPs against the counts, exactly (integers); the memory tracker against allocations of
known size. Shapes are odd and not powers of two.
"""

import itertools

import matplotlib
import pytest
import torch

from vdlite.attention import full_attention, temporal_mask
from vdlite.cost import (
    KINDS,
    PeakMemory,
    attention_flops,
    attention_pairs,
    computed_pairs,
    markdown_table,
    measure_attention,
    plot_costs,
    sweep,
)

matplotlib.use("Agg")

MASKED = [(None, False), (None, True), (0, False), (1, False), (1, True), (3, False),
          (3, True), (50, False), (50, True)]  # (window, causal); 50 is wider than any T


def token_masks(T, S, window, causal):
    """Bool [N, N] masks over the N = T*S tokens (token i is frame i // S, position i % S)."""
    frame, pos = torch.arange(T * S) // S, torch.arange(T * S) % S
    same_frame = frame[:, None] == frame[None, :]
    same_pos = pos[:, None] == pos[None, :]
    temporal = same_pos & temporal_mask(T, causal, window)[frame][:, frame]
    return {"full": torch.ones(T * S, T * S, dtype=torch.bool), "spatial": same_frame,
            "temporal": temporal}


def mask_kwargs(kind, window, causal):
    if kind in ("full", "spatial"):
        return {}
    if kind == "window":
        return {"window": 2 if window is None else window, "causal": causal}
    return {"window": window, "causal": causal}


# ---- counting ------------------------------------------------------------------------------


@pytest.mark.parametrize(("T", "S"), [(1, 1), (1, 7), (2, 3), (5, 7), (7, 11), (13, 3)])
@pytest.mark.parametrize(("window", "causal"), MASKED)
def test_pairs_are_the_true_entries_of_the_token_masks(T, S, window, causal):
    masks = {k: int(m.sum()) for k, m in token_masks(T, S, window, causal).items()}
    assert attention_pairs("full", T, S) == masks["full"] == (T * S) ** 2
    assert attention_pairs("spatial", T, S) == masks["spatial"] == T * S * S
    assert attention_pairs("temporal", T, S, window, causal) == masks["temporal"]
    assert attention_pairs("factorized", T, S, window, causal) == (
        masks["spatial"] + masks["temporal"])
    if window is not None:
        assert attention_pairs("window", T, S, window, causal) == masks["temporal"]
        w = min(window, T - 1)  # the band, less the slots that fall off the clip's ends
        edges = w * (w + 1) // 2 if causal else w * (w + 1)
        assert attention_pairs("window", T, S, window, causal) == (
            T * S * (w + 1 if causal else 2 * w + 1) - S * edges)
        assert computed_pairs("window", T, S, window, causal) - masks["temporal"] == S * edges


def test_factorized_is_tokens_times_s_plus_t_keys():
    for T, S in itertools.product((1, 3, 7, 16), (1, 5, 49, 64)):
        assert attention_pairs("factorized", T, S) == T * S * (S + T)
        assert attention_pairs("window", T, S, window=2) <= T * S * 5


def test_flops_are_four_d_per_pair():
    for kind in KINDS:
        kw = mask_kwargs(kind, 1, True)
        pairs = attention_pairs(kind, 7, 11, **kw)
        assert attention_flops(kind, 3, 7, 11, 5, 9, **kw) == 4 * 9 * pairs * 3 * 5


def test_count_errors():
    with pytest.raises(ValueError, match=r"kind must be one of"):
        attention_pairs("sparse", 4, 4)
    with pytest.raises(ValueError, match=r"kind='window' needs window=w"):
        attention_pairs("window", 4, 4)
    with pytest.raises(ValueError, match=r"full attention has no temporal mask"):
        attention_pairs("full", 4, 4, causal=True)
    with pytest.raises(ValueError, match=r"spatial attention has no temporal mask"):
        attention_flops("spatial", 1, 4, 4, 1, 8, window=1)
    with pytest.raises(ValueError, match=r"T must be an int >= 1"):
        attention_pairs("full", 0, 4)
    with pytest.raises(ValueError, match=r"window must be None or an int >= 0"):
        attention_pairs("temporal", 4, 4, window=-1)


# ---- measured FLOPs ------------------------------------------------------------------------

SHAPE = {"B": 2, "T": 5, "S": 7, "heads": 3, "D": 6}


CASES = [("full", None, False), ("spatial", None, False)] + [
    (kind, window, causal) for kind in ("temporal", "factorized", "window")
    for window, causal in [(None, False), (1, False), (3, True)]]


@pytest.mark.parametrize(("kind", "window", "causal"), CASES)
def test_measured_flops_are_the_computed_entries_exactly(kind, window, causal):
    kw = mask_kwargs(kind, window, causal)
    row = measure_attention(kind, **SHAPE, repeats=1, **kw)
    B, T, S, heads, D = SHAPE.values()
    assert row["flops"] == 4 * D * B * heads * computed_pairs(kind, T, S, **kw)
    if kind != "window" and window is None and not causal:  # no mask: nothing is wasted
        assert row["flops"] == attention_flops(kind, B, T, S, heads, D) == row["predicted_flops"]


def test_a_mask_saves_no_flops_but_the_band_does():
    B, T, S, heads, D = SHAPE.values()
    dense = measure_attention("temporal", **SHAPE, repeats=1)["flops"]
    masked = measure_attention("temporal", **SHAPE, window=1, causal=True, repeats=1)["flops"]
    band = measure_attention("window", **SHAPE, window=1, repeats=1)["flops"]
    assert masked == dense == 4 * D * B * heads * S * T * T
    assert band == 4 * D * B * heads * T * S * 3  # 2w + 1 = 3 frames, padded edges included
    exact = attention_flops("window", B, T, S, heads, D, window=1)
    assert band - exact == 4 * D * B * heads * S * 2  # the w(w + 1) = 2 padded slots


def test_flop_counter_skips_length_one_contractions():
    """With D = 1, einsum computes q k^T as a broadcast multiply, not a bmm: only the
    weights @ v half is counted. Likewise a single key per query (window 0, T = 1)."""
    shape = {**SHAPE, "D": 1}
    for kind in ("full", "spatial", "temporal"):
        row = measure_attention(kind, **shape, repeats=1)
        assert 2 * row["flops"] == row["predicted_flops"]
    assert 2 * measure_attention("window", **SHAPE, window=0, repeats=1)["flops"] == (
        attention_flops("window", *SHAPE.values(), window=0))


# ---- the memory tracker --------------------------------------------------------------------


def test_peak_memory_counts_an_allocation_of_known_size():
    with PeakMemory() as mem:
        x = torch.empty(1000, dtype=torch.float32)
    assert mem.peak == mem.live == 4000
    del x
    assert mem.live == 0


def test_peak_memory_of_a_matmul_is_its_output():
    a, b = torch.randn(13, 17, dtype=torch.float64), torch.randn(17, 19, dtype=torch.float64)
    with PeakMemory() as mem:
        c = a @ b
    assert mem.peak == 13 * 19 * 8 and c.shape == (13, 19)


def test_peak_memory_views_and_in_place_ops_add_nothing():
    x = torch.randn(20, 30)
    with PeakMemory() as mem:
        views = [x.t(), x[::2], x.view(600), x.unbind(0)[3], x.reshape(10, 60)]
        x.mul_(2).add_(1)
    assert mem.peak == 0 and len(views) == 5


def test_peak_memory_freed_intermediates_do_not_accumulate():
    x = torch.randn(100, dtype=torch.float64)
    with PeakMemory() as mem:
        y = x * 2
        for _ in range(10):
            y = y * 2  # the new y exists before the old one is freed: two at once, never more
        z = torch.empty(100, dtype=torch.float64)  # may reuse freed memory: counted once
    assert mem.peak == 2 * 800 and mem.live == 2 * 800
    del y, z
    assert mem.live == 0


def test_peak_memory_of_full_attention_is_a_few_score_matrices():
    """The scores and their softmax must coexist, so at least 2 [B, h, N, N] tensors are live;
    einsum's copy of the weights for the second product makes 3, plus token-sized tensors."""
    B, T, S, heads, D = 2, 3, 7, 3, 5
    q, k, v = torch.randn(B, T, S, 3, heads, D, dtype=torch.float64).unbind(3)
    scores = B * heads * (T * S) ** 2 * 8
    tokens = B * T * S * heads * D * 8
    with PeakMemory() as mem:
        out = full_attention(q, k, v)
    assert 2 * scores + tokens <= mem.peak <= 3 * scores + 3 * tokens
    assert mem.live == out.untyped_storage().nbytes() == tokens


# ---- scaling and ordering ------------------------------------------------------------------

SMALL = {"heads": 2, "D": 8, "repeats": 1}


def test_full_beats_factorized_beats_window_in_flops_and_memory():
    rows = {kind: measure_attention(kind, 8, 96, window=2 if kind == "window" else None,
                                    **SMALL) for kind in ("full", "factorized", "window")}
    for key in ("flops", "peak_bytes"):
        assert rows["full"][key] > rows["factorized"][key] > rows["window"][key]
    assert rows["full"]["peak_bytes"] > 10 * rows["factorized"]["peak_bytes"]


def test_doubling_the_clip_multiplies_each_cost_by_its_formula():
    def flops(kind, T, S, **kw):
        return measure_attention(kind, T, S, **SMALL, **kw)["flops"]

    T, S = 5, 9
    assert flops("full", 2 * T, S) == 4 * flops("full", T, S)  # (T S)^2
    assert flops("window", 2 * T, S, window=2) == 2 * flops("window", T, S, window=2)
    # factorized = spatial (linear in T) + temporal (quadratic in T)
    assert flops("factorized", T, S) == flops("spatial", T, S) + flops("temporal", T, S)
    assert flops("factorized", 2 * T, S) == (
        2 * flops("spatial", T, S) + 4 * flops("temporal", T, S))
    # N -> 4N (T and S doubled): factorized grows 8x, as N (S + T); "N log N" would be 5.5x
    assert flops("factorized", 2 * T, 2 * S) == 8 * flops("factorized", T, S)


def test_peak_memory_scales_like_the_scores():
    full = [measure_attention("full", T, 24, **SMALL)["peak_bytes"] for T in (4, 8)]
    window = [measure_attention("window", T, 24, window=2, **SMALL)["peak_bytes"]
              for T in (16, 32)]
    assert 3.8 < full[1] / full[0] <= 4  # (T S)^2, less the token-sized tensors
    assert 1.8 < window[1] / window[0] <= 2.1  # T S (2w + 1), and the padded k and v


# ---- sweep, table, plot --------------------------------------------------------------------


def test_sweep_pairs_sizes_and_skips_full_on_large_clips():
    rows = sweep(("full", "factorized", "window"), Ts=(3, 6), Ss=(5, 10), heads=1, D=4,
                 repeats=1, max_full_tokens=20)
    assert [(r["kind"], r["T"], r["S"]) for r in rows] == [
        ("full", 3, 5), ("factorized", 3, 5), ("window", 3, 5),
        ("factorized", 6, 10), ("window", 6, 10)]
    assert all(r["window"] == (2 if r["kind"] == "window" else None) for r in rows)
    assert all(r["ms"] > 0 and r["peak_bytes"] > 0 for r in rows)
    table = markdown_table(rows)
    assert table.count("\n") == 2 + len(rows) and "| factorized | 6 | 10 | 60 | 16 |" in table
    with pytest.raises(ValueError, match=r"Ts and Ss pair up"):
        sweep(("full",), Ts=(3, 6), Ss=(5,))


def test_plot_costs_draws_three_log_log_panels(tmp_path):
    rows = sweep(("full", "factorized", "window"), Ts=(2, 4, 6), Ss=(4, 8, 12), heads=1, D=4,
                 repeats=1)
    fig = plot_costs(rows, tmp_path / "cost.png")
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert ax.get_xscale() == ax.get_yscale() == "log"
        assert ax.get_xlabel() == "tokens N = T·S" and ax.get_ylabel() and ax.get_title()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert len(labels) == 7 and any("claimed" in label for label in labels)
    assert (tmp_path / "cost.png").stat().st_size > 10_000
    matplotlib.pyplot.close(fig)

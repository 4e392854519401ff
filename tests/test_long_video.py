"""vdlite.long_video: the chunk schedule, sampling with known frames, splicing, the sliding
temporal window of the DiT, and the continuity, drift and permanence measures on clips whose
answer is known."""

import json
import math
from dataclasses import asdict

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vdlite.attention import temporal_mask
from vdlite.data import MovingSprites
from vdlite.diffusion import NoiseSchedule, oracle_denoiser
from vdlite.long_video import (
    attention_pairs,
    bar_error,
    boundary_continuity,
    chunk_boundaries,
    chunk_drift,
    chunk_starts,
    error_by_distance,
    independent_chunks,
    occlusion_clips,
    permanence_scores,
    replace_known,
    sample_with_known_frames,
    splice,
)
from vdlite.train import TrainConfig, build_model, load_checkpoint, save_checkpoint
from vdlite.transformer import FactorizedBlock, VideoDiT
from vdlite.unet3d import UNet3D
from vdlite.vocabulary import PALETTE

SCHEDULE = NoiseSchedule("cosine", 1000)


# --- the chunk schedule -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 16).flatmap(lambda k: st.tuples(
    st.just(k), st.integers(0, k - 1), st.integers(k, 80))))
def test_chunks_cover_every_frame_and_overlap_by_at_least_o(kon):
    k, o, n = kon
    starts = chunk_starts(n, k, o)
    covered = torch.zeros(n, dtype=torch.bool)
    for s in starts:
        assert 0 <= s and s + k <= n
        covered[s:s + k] = True
    assert covered.all(), (n, k, o, starts)  # the tail too
    assert starts[0] == 0 and starts[-1] + k == n  # the last chunk ends at the last frame
    for a, b in zip(starts, starts[1:], strict=False):
        assert a < b and a + k - b >= o  # each chunk adds frames and shares >= o
    assert chunk_boundaries(n, k, o) == [s + k for s in starts[:-1]]


def test_chunk_starts_on_awkward_lengths():
    assert chunk_starts(20, 8, 2) == [0, 6, 12]
    assert chunk_starts(21, 8, 2) == [0, 6, 12, 13]  # stepping by 6 alone would miss frame 20
    assert chunk_starts(8, 8, 7) == [0]
    assert chunk_starts(9, 8, 7) == [0, 1]


@pytest.mark.parametrize("args,match", [((10, 4, 4), "overlap must be < chunk"),
                                        ((3, 4, 1), "frames must be >= chunk"),
                                        ((10, 0, 0), "chunk must be"),
                                        ((10, 4, -1), "overlap must be"),
                                        ((10.0, 4, 1), "frames must be")])
def test_chunk_starts_rejects_bad_schedules(args, match):
    with pytest.raises(ValueError, match=match):
        chunk_starts(*args)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 13), st.integers(1, 7), st.none() | st.integers(0, 15))
def test_attention_pairs_counts_the_mask(t, s, w):
    assert attention_pairs(t, s, w) == int(temporal_mask(t, False, w).sum()) * s
    if w is not None:
        assert attention_pairs(t, s, w) <= t * s * (2 * w + 1)


# --- sampling with known frames ---------------------------------------------------------------


def test_replace_known_noises_only_the_known_frames_to_level_t():
    g = torch.Generator().manual_seed(0)
    x, known, noise = (torch.randn(2, 3, 5, 4, 3, generator=g) for _ in range(3))
    mask = torch.tensor([[True, False, True, False, False], [False] * 4 + [True]])
    t = torch.tensor([10, 700])
    out = replace_known(x, known, mask, t, SCHEDULE, noise)
    want = SCHEDULE.q_sample(known, t, noise)
    for b in range(2):
        assert torch.equal(out[b][:, mask[b]], want[b][:, mask[b]])
        assert torch.equal(out[b][:, ~mask[b]], x[b][:, ~mask[b]])


def frame_mixer(x, t):
    """A stand-in denoiser (x0-prediction) that mixes every frame with its neighbours."""
    return 0.6 * x.roll(1, dims=2) + 0.3 * x.roll(-1, dims=2)


def test_known_frames_come_back_exactly_and_enter_at_the_current_noise_level():
    g = torch.Generator().manual_seed(1)
    known = torch.rand(2, 3, 7, 5, 6, generator=g) * 2 - 1
    mask = torch.tensor([True, True, False, False, True, False, False])
    seen = []

    def model(x, t):
        ab = SCHEDULE.alpha_bar(t)[0].item()
        eps = (x[:, :, mask] - math.sqrt(ab) * known[:, :, mask]) / math.sqrt(1 - ab)
        seen.append(eps.std().item())  # the known frames' noise, in units of the level's std
        return frame_mixer(x, t)

    out = sample_with_known_frames(model, known, mask, SCHEDULE, steps=6, prediction="x0",
                                   generator=g)
    assert torch.equal(out[:, :, mask], known[:, :, mask])
    assert not torch.allclose(out[:, :, ~mask], known[:, :, ~mask], atol=0.1)
    assert len(seen) == 6 and all(0.8 < s < 1.2 for s in seen), seen  # N(0, 1) at every level


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_the_oracle_denoiser_reproduces_its_clip(prediction):
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(2, 3, 6, 5, 7, generator=g) * 1.8 - 0.9
    mask = torch.tensor([[True, False, False, True, False, False], [False] * 6])
    out = sample_with_known_frames(oracle_denoiser(x0, SCHEDULE, prediction), x0, mask,
                                   SCHEDULE, steps=5, prediction=prediction, noise_aug=0.05,
                                   generator=g)
    assert torch.allclose(out, x0, atol=1e-4)  # float32 rounding through 5 steps


@pytest.mark.parametrize("mask,match", [(torch.ones(4, dtype=torch.bool), "shape"),
                                        (torch.ones(5), "bool")])
def test_sample_with_known_frames_rejects_bad_masks(mask, match):
    with pytest.raises((ValueError, TypeError), match=match):
        sample_with_known_frames(frame_mixer, torch.zeros(1, 3, 5, 4, 4), mask, SCHEDULE,
                                 steps=2, prediction="x0")


@pytest.mark.parametrize("net", [
    UNet3D(3, 4, (1, 2), 1, conv="pseudo"),
    VideoDiT(3, 2, dim=24, depth=1, heads=2, window=1),
], ids=["unet", "dit"])
def test_course_models_sample_with_known_frames(net):
    known = torch.rand(2, 3, 5, 8, 8) * 2 - 1
    mask = torch.tensor([True, True, False, False, False])
    with torch.no_grad():
        out = sample_with_known_frames(net.eval(), known, mask, SCHEDULE, steps=2)
    assert out.shape == known.shape and torch.equal(out[:, :, :2], known[:, :, :2])


def test_splice_makes_n_frames_whose_shared_frames_agree():
    n, k, o = 17, 6, 2
    video, chunks = splice(frame_mixer, (2, 3, 5, 4), n, k, o, SCHEDULE, steps=3,
                           prediction="x0", generator=torch.Generator().manual_seed(3),
                           return_chunks=True)
    starts = chunk_starts(n, k, o)
    assert video.shape == (2, 3, n, 5, 4) and len(chunks) == len(starts) == 4
    for s, c in zip(starts, chunks, strict=True):
        assert torch.equal(video[:, :, s:s + k], c)  # every chunk lands where it was sampled
    for (a, ca), (b, cb) in zip(zip(starts, chunks, strict=True),
                                       zip(starts[1:], chunks[1:], strict=True), strict=False):
        assert torch.equal(cb[:, :, :a + k - b], ca[:, :, b - a:])  # >= o shared frames agree
    ind = independent_chunks(frame_mixer, (2, 3, 5, 4), n, k, SCHEDULE, steps=3,
                             prediction="x0", generator=torch.Generator().manual_seed(3))
    assert ind.shape == video.shape and not torch.equal(ind[:, :, 6:8], video[:, :, 6:8])


# --- the sliding temporal window --------------------------------------------------------------


def test_temporal_window_reaches_the_model_and_the_checkpoint(tmp_path):
    cfg = TrainConfig(arch="dit", frames=5, size=8, patch_size=2, dim=24, depth=2, heads=2,
                      temporal_window=2)
    model = build_model(cfg)
    windows = [b.temporal.f.window for b in model.modules() if isinstance(b, FactorizedBlock)]
    assert windows == [2, 2]
    assert {b.temporal.f.window for b in build_model(TrainConfig(arch="dit", dim=24, heads=2))
            .modules() if isinstance(b, FactorizedBlock)} == {None}  # 0: the whole clip
    save_checkpoint(tmp_path / "m.pt", model, cfg)
    _, loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded.temporal_window == 2
    old = {k: v for k, v in asdict(cfg).items() if k != "temporal_window"}
    torch.save({"config": old, "state_dict": build_model(TrainConfig(**old)).state_dict()},
               tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")[1].temporal_window == 0


@pytest.mark.parametrize("bad,match", [(dict(arch="dit", temporal_window=-1), ">= 0"),
                                       (dict(arch="unet", temporal_window=1), "video DiT")])
def test_temporal_window_is_validated(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


@pytest.mark.parametrize("window,depth,radius", [(1, 1, 0), (1, 2, 0), (2, 1, 1)])
def test_a_windowed_dit_sees_no_frame_beyond_depth_times_the_window(window, depth, radius):
    """Stacked layers widen the reach: frame t's output depends on frames within depth · w and
    on no frame beyond (float64; unaffected frames agree to 1e-12)."""
    torch.manual_seed(4)
    net = VideoDiT(3, 2, dim=24, depth=depth, heads=2, window=window,
                   temporal_radius=radius).double().eval()
    with torch.no_grad():
        for p in net.parameters():  # adaLN-Zero starts every branch shut: open them all
            p.normal_(0, 0.3)
    t_frames, reach = 9, depth * window
    x, t = torch.randn(1, 3, t_frames, 6, 4, dtype=torch.float64), torch.tensor([300])
    with torch.no_grad():
        base = net(x, t)
        far = reach + 1  # perturb frame 0: frames > reach must not move
        x2 = x.clone()
        x2[:, :, 0] += 1
        moved = (net(x2, t) - base).abs().amax(dim=(0, 1, 3, 4))  # [T]
    assert (moved[far:] <= 1e-12).all(), moved
    assert moved[reach] > 1e-6, moved  # the bound is reached, so the test can fail


# --- the measures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_clips():
    return MovingSprites(num_clips=5, frames=17, size=24, sprites=1, seed=5).batch(
        range(5))["video"]


def test_continuity_is_even_across_the_boundaries_of_real_clips_and_not_across_a_cut(long_clips):
    bounds = chunk_boundaries(13, 5, 2)  # [5, 8, 11]
    real = boundary_continuity(long_clips[:, :, :13], bounds)
    assert real["step"]["excess"].abs().max() < 0.6  # pixels; the sprite moves at 0.5-2 a frame
    assert real["colour_change"]["excess"].abs().max() < 1e-6
    assert real["warping_error"]["excess"].abs().max() < 5e-3
    cut = torch.cat([long_clips[:, :, :8], long_clips[:, :, 12:]], dim=2)  # 4 frames skipped
    bad = boundary_continuity(cut, [8])["step"]  # a step of 5 frames' motion where 1 belongs
    assert (bad["excess"] > bad["within"]).all() and bad["excess"].mean() > 2 * bad["within"].mean()
    white = torch.tensor(PALETTE["white"])[:, None, None, None]  # no sprite here is white
    recoloured = torch.where(_sprites(long_clips) & (torch.arange(17) >= 8)[:, None, None],
                             white, long_clips)
    bad = boundary_continuity(recoloured[:, :, :13], [8])
    assert (bad["colour_change"]["excess"] > 0.5).all()
    # no flow explains a change of colour, though the occlusion check can hide it in a clip
    assert bad["warping_error"]["excess"].mean() > 10 * real["warping_error"]["excess"].abs().max()


def _sprites(clips):
    """Sprite masks [B, 1, T, H, W]: pixels far from each clip's median colour."""
    bg = clips.flatten(2).median(dim=2).values[..., None, None, None]  # [B, 3, 1, 1, 1]
    return (clips - bg).norm(dim=1, keepdim=True) > 0.4


def test_chunk_drift_is_zero_for_real_clips_and_sees_a_recoloured_tail(long_clips):
    drift = chunk_drift(long_clips, 6)  # windows of 6, 6 and 5 frames
    assert drift["colour"].shape == (5, 3) and (drift["presence"] == 1).all()
    assert drift["colour"].abs().max() < 1e-6 and drift["size"].abs().max() < 0.35
    white = torch.tensor(PALETTE["white"])[:, None, None, None]  # no sprite here is white
    recoloured = torch.where(_sprites(long_clips) & (torch.arange(17) >= 12)[:, None, None],
                             white, long_clips)
    assert (chunk_drift(recoloured, 6)["colour"][:, 2] > 0.5).all()
    assert (chunk_drift(recoloured, 6)["colour"][:, 1] < 1e-6).all()


@pytest.fixture(scope="module")
def occlusion():
    return occlusion_clips(6, frames=12, size=32, seed=7)


def _edit_after(clips, fn):
    """Apply fn(frame [3, H, W], sprite mask [H, W], background [3], clip b) to every frame
    after the known ones; returns the edited videos."""
    video = clips["video"].clone()
    for b in range(video.shape[0]):
        bg = video[b].flatten(1).median(dim=1).values  # [3]
        fg = ((video[b] - bg[:, None, None, None]).norm(dim=0) > 0.4) & ~clips["occluder"][b]
        for f in range(int(clips["known"][b].sum()), video.shape[2]):
            video[b, :, f] = fn(video[b, :, f], fg[f], bg, b)
    return video


def test_permanence_scores_real_clips_perfectly_and_broken_continuations_badly(occlusion):
    real = permanence_scores(occlusion["video"], occlusion)
    assert real["permanent"].all() and (real["path_error"] < 0.8).all()
    assert (occlusion["known"].sum(1) >= 3).all() and (occlusion["judged"].sum(1) >= 2).all()
    gone = _edit_after(occlusion, lambda x, m, bg, b: torch.where(m, bg[:, None, None], x))
    assert not permanence_scores(gone, occlusion)["reemerged"].any()
    palette = torch.tensor(list(PALETTE.values()))  # [8, 3]
    recolour = _edit_after(occlusion, lambda x, m, bg, b: torch.where(
        m, palette[(occlusion["colour_ids"][b] + 1) % 8][:, None, None], x))  # the next colour
    scores = permanence_scores(recolour, occlusion)
    assert scores["reemerged"].all() and not scores["same_colour"].any()
    assert not scores["permanent"].any()
    moved = _edit_after(occlusion, lambda x, m, bg, b: torch.where(
        m.roll(6, dims=0), x[:, m].mean(1)[:, None, None] if m.any() else x,
        torch.where(m, bg[:, None, None], x)))  # the sprite 6 rows lower
    scores = permanence_scores(moved, occlusion)
    assert scores["same_colour"].all() and not scores["on_path"].any()
    assert (scores["path_error"] > 4).all()


def test_both_experiments_run_end_to_end_on_a_tiny_budget(tmp_path):
    from vdlite.long_video import main

    main(["permanence", "--out", str(tmp_path / "p"), "--steps", "2", "--seeds", "0",
          "--samples", "3", "--sample-steps", "2", "--quiet"])
    saved = json.loads((tmp_path / "p" / "results.json").read_text())
    assert saved["real"]["permanent"][0] == 1 and len(saved["runs"]) == 1
    assert set(saved["summary"]) >= {"permanent", "same_colour", "on_path"}
    main(["splice", "--out", str(tmp_path / "s"), "--steps", "2", "--frames", "10", "--chunk",
          "4", "--size", "16", "--samples", "2", "--sample-steps", "2", "--quiet"])
    saved = json.loads((tmp_path / "s" / "results.json").read_text())
    assert saved["boundaries"] == {"splice": [4, 6, 8], "independent": [4, 8]}
    for sub in ("p", "s"):
        assert (tmp_path / sub / "clips.png").stat().st_size > 0
        assert (tmp_path / sub / "results.md").read_text().startswith("# ")


def test_bar_error_is_zero_for_real_clips_and_grows_where_the_bar_is_lost(occlusion):
    assert (permanence_scores(occlusion["video"], occlusion)["bar_error"] == 0).all()
    no_bar = _edit_after(occlusion, lambda x, m, bg, b: torch.where(
        occlusion["occluder"][b], bg[:, None, None], x))  # the bar painted over after the known
    errors = bar_error(no_bar, occlusion)  # [N, T]
    assert (errors[occlusion["known"]] == 0).all() and (errors[~occlusion["known"]] > 0.1).all()
    assert (permanence_scores(no_bar, occlusion)["bar_error"] > 0.1).all()  # grey bar, dark ground
    ramp = torch.arange(12.0).expand(6, 12)  # error = frame index
    last = occlusion["known"].sum(1) - 1
    assert error_by_distance(ramp, occlusion["known"], 2) == pytest.approx(
        [(last + 1).float().mean().item(), (last + 2).float().mean().item()])


def test_vdlite_train_takes_a_temporal_window():
    """`vdlite train --arch dit --temporal-window 2` trains a DiT of window 2; the flag needs a
    video DiT; left out, the whole clip (0)."""
    from vdlite import cli

    def config(*argv):
        args = cli.build_parser().parse_args(["train", *argv])
        opts = {k: v if (v := getattr(args, k)) is not None else d
                for k, d in cli.TRAIN_DEFAULTS.items()}
        return cli.train_config({**opts, "precision": "fp32"})

    assert config("--arch", "dit", "--temporal-window", "2").temporal_window == 2
    assert config("--arch", "dit").temporal_window == 0
    for argv in (("--temporal-window", "2"), ("--arch", "dit", "--mode", "frame",
                                               "--temporal-window", "1")):
        with pytest.raises(cli.UsageError, match="--temporal-window"):
            config(*argv)

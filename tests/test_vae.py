"""The causal VAE (vdlite/vae.py): the 1 + 4k -> 1 + k shapes, causality in time, chunked ==
whole-clip streaming, the per-frame baseline's independence, and clear errors.

Oracles and properties: float64 equality (or 1e-10, stated per test) between a chunked and a
whole-clip pass; exact equality of earlier outputs when later inputs change; torch.distributions
for the KL; all on odd, non-square sizes. Networks are small (base_channels 8) so the file runs
in seconds on a CPU."""

from unittest import mock

import pytest
import torch

from vdlite.conv3d import CausalConv3d
from vdlite.vae import CausalVAE, FrameVAE, Posterior, StreamingCausalConv3d, nearest_valid_frames


def randomised(vae: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """float64, with every weight moved off its initial value (so no path is exactly zero)."""
    gen = torch.Generator().manual_seed(seed)
    vae = vae.double()
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return vae


def clip(T: int, H: int = 24, W: int = 40, B: int = 2, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(B, 3, T, H, W, dtype=torch.float64, generator=gen)


@pytest.mark.parametrize("spatial,pad_mode", [(8, "replicate"), (4, "zeros")])
@pytest.mark.parametrize("k", [0, 1, 3])
def test_one_plus_4k_frames_give_one_plus_k_latents_and_back(spatial, pad_mode, k):
    vae = CausalVAE(base_channels=8, spatial_factor=spatial, pad_mode=pad_mode).double()
    x = clip(1 + 4 * k)
    posterior = vae.encode(x)
    assert posterior.mean.shape == (2, 4, 1 + k, 24 // spatial, 40 // spatial)
    assert posterior.logvar.shape == posterior.mean.shape
    assert vae.latent_frames(1 + 4 * k) == 1 + k
    assert vae.decode(posterior.mean).shape == x.shape


def test_latent_frames_refuses_a_count_off_the_rule_naming_the_nearest():
    vae = CausalVAE(base_channels=4)
    with pytest.raises(ValueError, match="nearest valid counts are 9 or 13"):
        vae.latent_frames(12)
    with pytest.raises(ValueError, match="nearest valid counts are 1$"):
        vae.latent_frames(0)
    assert FrameVAE(base_channels=4).latent_frames(12) == 12  # no temporal compression


def test_default_vae_takes_a_32x32_clip():
    vae = CausalVAE()
    x = torch.rand(1, 3, 9, 32, 32) * 2 - 1
    recon, posterior = vae(x, torch.Generator().manual_seed(0))
    assert posterior.mean.shape == (1, 4, 3, 4, 4) and recon.shape == x.shape
    assert torch.isfinite(recon).all()


@pytest.mark.parametrize("pad_mode", ["replicate", "zeros"])
def test_latent_frame_i_reads_only_frames_up_to_4i(pad_mode):
    vae = randomised(CausalVAE(base_channels=8, spatial_factor=4, pad_mode=pad_mode))
    x = clip(13, 16, 20)
    base = vae.encode(x).mean
    for i in range(4):  # change frames 4i+1 ... 12: latents 0..i must not move at all
        later = x.clone()
        later[:, :, 4 * i + 1:] += torch.randn_like(later[:, :, 4 * i + 1:])
        moved = vae.encode(later).mean
        assert torch.equal(moved[:, :, :i + 1], base[:, :, :i + 1]), i
        if i < 3:
            assert not torch.equal(moved[:, :, i + 1], base[:, :, i + 1]), i


def test_decoded_frames_read_only_earlier_latents():
    vae = randomised(CausalVAE(base_channels=8, spatial_factor=4))
    z = torch.randn(1, 4, 4, 5, 3, dtype=torch.float64)
    base = vae.decode(z)
    for j in range(1, 4):  # change latents j..: frames before 4j-3 (latent j's group) must not move
        later = z.clone()
        later[:, :, j:] += 1.0
        moved = vae.decode(later)
        assert torch.equal(moved[:, :, :4 * j - 3], base[:, :, :4 * j - 3]), j
        assert not torch.equal(moved[:, :, 4 * j - 3], base[:, :, 4 * j - 3]), j


@pytest.mark.parametrize("pad_mode", ["replicate", "zeros"])
@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_encode_and_decode_equal_the_whole_clip(pad_mode, chunk):
    """Tolerance 1e-10 in float64: only the order of float additions may differ."""
    vae = randomised(CausalVAE(base_channels=8, spatial_factor=4, pad_mode=pad_mode))
    x = clip(17, 12, 20)
    whole = vae.encode(x)
    chunked = vae.encode(x, chunk=chunk)
    torch.testing.assert_close(chunked.mean, whole.mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(chunked.logvar, whole.logvar, rtol=0, atol=1e-10)
    torch.testing.assert_close(vae.decode(whole.mean, chunk=chunk), vae.decode(whole.mean),
                               rtol=0, atol=1e-10)


@pytest.mark.parametrize("cuts", [[1, 4, 12], [9, 8], [5, 4, 4, 4]])
def test_encode_stream_equals_the_whole_clip_wherever_the_cuts_fall(cuts):
    """Pieces of uneven length (1 + 4c first, multiples of 4 after): float64, 1e-10."""
    vae = randomised(CausalVAE(base_channels=8, spatial_factor=4, pad_mode="zeros"))
    x = clip(17, 12, 20)
    streamed = vae.encode_stream(list(x.split(cuts, dim=2)))
    whole = vae.encode(x)
    torch.testing.assert_close(streamed.mean, whole.mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(streamed.logvar, whole.logvar, rtol=0, atol=1e-10)
    for bad, where in (([], "at least one"), (list(x.split([4, 13], dim=2)), r"pieces\[0\]"),
                       (list(x.split([5, 6, 6], dim=2)), r"pieces\[1\].*multiple of 4")):
        with pytest.raises(ValueError, match=where):
            vae.encode_stream(bad)


def test_chunked_float32_matches_within_float_rounding():
    vae = CausalVAE(base_channels=8, spatial_factor=8)
    x = clip(9, 16, 24).float()
    torch.testing.assert_close(vae.encode(x, chunk=1).mean, vae.encode(x).mean,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pad_mode", ["replicate", "zeros"])
@pytest.mark.parametrize("sizes", [[1, 4, 4], [3, 2, 5, 1], [2, 1, 1, 1, 1, 1, 2, 2]])
def test_streaming_conv_takes_chunks_of_any_length(pad_mode, sizes):
    """A stride-2, dilation-2 causal conv: the outputs of arbitrary chunks (some complete no
    output frame at all) concatenate to the whole clip's, to 1e-12 in float64."""
    torch.manual_seed(0)
    conv = StreamingCausalConv3d(3, 5, (3, 3, 1), stride=(2, 1, 1), dilation=(2, 1, 1),
                                 pad_mode=pad_mode).double()
    x = torch.randn(2, 3, sum(sizes), 5, 4, dtype=torch.float64)
    cache, pieces, t = {}, [], 0
    for n in sizes:
        pieces.append(conv(x[:, :, t:t + n], cache))
        t += n
    if len(sizes) > 4:  # single frames at odd positions complete no output of a stride-2 conv
        assert any(p.shape[2] == 0 for p in pieces)
    torch.testing.assert_close(torch.cat(pieces, dim=2), conv(x), rtol=0, atol=1e-12)


def test_frame_vae_treats_every_frame_alone():
    vae = randomised(FrameVAE(base_channels=8, spatial_factor=4))
    x = clip(6, 12, 8)  # any frame count: no temporal compression
    whole = vae.encode(x).mean
    per_frame = torch.cat([vae.encode(x[:, :, t:t + 1]).mean for t in range(6)], dim=2)
    assert whole.shape == (2, 4, 6, 3, 2)
    torch.testing.assert_close(whole, per_frame, rtol=0, atol=1e-12)
    assert vae.decode(whole).shape == x.shape


def test_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(3)
    mean = torch.randn(2, 4, 3, 5, 7, dtype=torch.float64, generator=gen)
    logvar = torch.randn(2, 4, 3, 5, 7, dtype=torch.float64, generator=gen)
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(q, p).flatten(1).sum(1)
    torch.testing.assert_close(Posterior(mean, logvar).kl(), expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(Posterior(torch.zeros(1, 2), torch.zeros(1, 2)).kl(), torch.zeros(1))


def test_loss_backpropagates_to_every_parameter():
    vae = CausalVAE(base_channels=8, spatial_factor=4)
    x = torch.rand(2, 3, 5, 8, 12) * 2 - 1
    loss, parts = vae.loss(x, kl_weight=1e-3, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert set(parts) == {"mse", "kl"} and torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in vae.parameters())


@pytest.mark.parametrize("frames,expected", [(8, "nearest valid counts are 5 or 9"),
                                             (2, "nearest valid counts are 1 or 5"),
                                             (0, "nearest valid counts are 1")])
def test_frame_counts_off_the_rule_name_the_nearest_valid_ones(frames, expected):
    vae = CausalVAE(base_channels=8, spatial_factor=4)
    with pytest.raises(ValueError, match=expected):
        vae.encode(torch.zeros(1, 3, frames, 8, 8))


def test_bad_inputs_get_one_clear_error():
    vae = CausalVAE(base_channels=8, spatial_factor=4)
    with pytest.raises(ValueError, match="multiples of spatial_factor=4"):
        vae.encode(torch.zeros(1, 3, 5, 8, 10))
    with pytest.raises(ValueError, match="must have 3 channels"):
        vae.encode(torch.zeros(1, 4, 5, 8, 8))
    with pytest.raises(ValueError, match="float clip"):
        vae.encode(torch.zeros(1, 3, 5, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="z must be a float latent"):
        vae.decode(torch.zeros(1, 3, 2, 2, 2))
    with pytest.raises(ValueError, match="chunk must be a positive"):
        vae.encode(torch.zeros(1, 3, 5, 8, 8), chunk=0)
    with pytest.raises(ValueError, match="spatial_factor must be a power of 2"):
        CausalVAE(spatial_factor=6)
    with pytest.raises(ValueError, match="temporal_factor"):
        CausalVAE(spatial_factor=2, temporal_factor=4)
    assert nearest_valid_frames(13, 4) == (13, 13) and nearest_valid_frames(14, 4) == (13, 17)


# ---- training: train_vae, its checkpoints and resumption ---------------------------------
from test_checkpoints import InterruptAt  # noqa: E402  (a real Ctrl-C while drawing a batch)

from vdlite.checkpoint import CheckpointError  # noqa: E402
from vdlite.data import MovingSprites  # noqa: E402
from vdlite.train import (  # noqa: E402
    MODEL_FILE,
    STATE_FILE,
    TrainConfig,
    TrainingInterrupted,
    VAEConfig,
    clip_batches,
    load_checkpoint,
    load_train_state,
    load_vae,
    train,
    train_vae,
)

TINY = dict(frames=5, size=8, spatial_factor=4, base_channels=4, batch=2, steps=6)


def sprites(frames: int = 5) -> MovingSprites:
    return MovingSprites(num_clips=40, frames=frames, size=8, sprites=1, sprite_size=0.4)


@pytest.mark.parametrize("kind", ["causal", "frame"])
def test_a_resumed_vae_run_reaches_the_uninterrupted_weights(tmp_path, kind):
    """Ctrl-C at step 3 of 6, then resume: the same losses and weights (atol 1e-6) as a run
    that was never stopped; model.pt loads back as the VAE its config describes."""
    cfg = VAEConfig(kind=kind, **TINY)
    ema_full, losses_full = train_vae(cfg, clip_batches(sprites(), 2), out=tmp_path / "full",
                                      save_every=2, progress=False)
    with pytest.raises(TrainingInterrupted, match="interrupted at step 4 of 6"):
        train_vae(cfg, InterruptAt(clip_batches(sprites(), 2), at=3), out=tmp_path / "cut",
                  progress=False)
    ema_resumed, losses_resumed = train_vae(cfg, clip_batches(sprites(), 2),
                                            out=tmp_path / "cut", resume=True, progress=False)
    assert losses_resumed == losses_full and len(losses_full) == 6
    for k, v in ema_full.state_dict().items():
        torch.testing.assert_close(ema_resumed.state_dict()[k], v, rtol=0, atol=1e-6)
    loaded, loaded_cfg = load_vae(tmp_path / "full" / MODEL_FILE)
    assert loaded_cfg == cfg and type(loaded) is type(ema_full)
    x = sprites()[0]["video"][None]
    torch.testing.assert_close(loaded.encode(x).mean, ema_full.encode(x).mean)
    assert load_train_state(tmp_path / "cut" / STATE_FILE)["step"] == 6


def test_vae_and_denoiser_checkpoints_are_not_confused(tmp_path):
    train_vae(VAEConfig(**{**TINY, "steps": 1}), clip_batches(sprites(), 2), out=tmp_path / "v",
              progress=False)
    with pytest.raises(CheckpointError, match=r"holds a VAE \(VAEConfig\), not a denoiser"):
        load_checkpoint(tmp_path / "v" / MODEL_FILE)
    cfg = TrainConfig(frames=3, size=8, base_channels=8, channel_mults=(1,), batch=2, steps=1)
    train(cfg, clip_batches(sprites(3), 2), out=tmp_path / "d", progress=False)
    with pytest.raises(CheckpointError, match=r"holds a denoiser \(TrainConfig\), not a VAE"):
        load_vae(tmp_path / "d" / MODEL_FILE)


def test_vae_training_lowers_the_reconstruction_error():
    """40 steps on one-sprite clips: the mean squared error of the last 5 steps is below half
    that of the first 5 (the measured ratio is far lower; this only catches a loop that does
    not learn)."""
    cfg = VAEConfig(**{**TINY, "steps": 40, "lr": 3e-3})
    _, losses = train_vae(cfg, clip_batches(sprites(), 4), progress=False)
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5]), losses


@pytest.mark.parametrize("field,value,message", [
    ("frames", 8, "nearest valid counts are 5 or 9"), ("kind", "2d", "kind must be one of"),
    ("spatial_factor", 2, "spatial_factor must be 4 or 8"), ("kl_weight", -1.0, "kl_weight"),
    ("pad_mode", "reflect", "pad_mode must be one of")])
def test_vae_config_names_the_bad_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        VAEConfig(**{**TINY, field: value})


# ---- the command: vdlite train-vae --------------------------------------------------------
from vdlite.cli import main  # noqa: E402

SMALL = ["--size", "8", "--frames", "5", "--base-channels", "4", "--batch", "2", "--no-progress"]


def test_train_vae_command_trains_saves_resumes_and_refuses_clearly(tmp_path, capsys):
    out = str(tmp_path / "vae")
    assert main(["train-vae", "--out", out, "--steps", "3", *SMALL]) == 0
    printed = capsys.readouterr().out
    assert "training the causal VAE (x4 in space, x4 in time) for 3 steps" in printed
    assert "reconstruction of 8 held-out clips: PSNR" in printed
    vae, cfg = load_vae(tmp_path / "vae" / MODEL_FILE)
    assert cfg.steps == 3 and cfg.frames == 5 and cfg.base_channels == 4

    assert main(["train-vae", "--out", out, "--steps", "3", *SMALL]) == 2  # would overwrite
    assert "already holds model.pt and train_state.pt: pass --resume" in capsys.readouterr().err
    assert main(["train-vae", "--resume", out, "--kl-weight", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--kl-weight 0.5 differs from the run saved in" in err and err.count("\n") == 1
    assert main(["train-vae", "--resume", out, "--no-progress"]) == 0  # already finished
    assert "resuming" in capsys.readouterr().out
    assert main(["train-vae", "--out", out, "--force", "--kind", "frame", "--steps", "2",
                 *SMALL]) == 0
    assert load_vae(tmp_path / "vae" / MODEL_FILE)[1].kind == "frame"


@pytest.mark.parametrize("args,message", [
    (["--frames", "8"], "nearest valid counts are 5 or 9"),
    (["--size", "10"], "spatial_factor must be 4 or 8 and divide size"),
    (["--resume", "NOWHERE"], "nothing to resume in"),
])
def test_train_vae_command_bad_options_are_one_line(tmp_path, capsys, args, message):
    args = [a.replace("NOWHERE", str(tmp_path / "none")) for a in args]
    assert main(["train-vae", "--out", str(tmp_path / "o"), "--steps", "1", *SMALL, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("vdlite: error:") and err.count("\n") == 1


@pytest.mark.parametrize("pad_mode", ["replicate", "zeros"])
def test_the_vaes_conv_and_the_benchmarks_ways_are_the_same_causal_conv(pad_mode):
    """The VAE's convs run F.conv3d where no kernel does (vdlite.vae.conv_fallback), whole and
    chunked; kernels.bench.vae also times them through the package's im2col reference. Both must
    compute what CausalConv3d computes on the reference (float64, 1e-12), strided in time and
    space, and the benchmark's ways must really differ in what they call."""
    from kernels.bench.vae import way

    torch.manual_seed(0)
    conv = StreamingCausalConv3d(3, 4, 3, stride=(2, 2, 1), pad_mode=pad_mode).double()
    x = torch.randn(2, 3, 9, 7, 6, dtype=torch.float64)
    reference = CausalConv3d.forward(conv, x)  # vdlite's im2col GEMM on the CPU

    def chunked():
        cache = {}
        return torch.cat([conv(c, cache) for c in x.split([1, 3, 5], dim=2)], dim=2)

    for name in ("cudnn", "torch"):
        with way(name):
            torch.testing.assert_close(conv(x), reference, rtol=0, atol=1e-12)
            torch.testing.assert_close(chunked(), reference, rtol=0, atol=1e-12)
    calls = []
    with way("torch"), mock.patch("kernels.bench.vae.im2col_conv3d",
                                  side_effect=lambda *a: calls.append(1) or reference):
        conv(x)
    assert calls, "bench_vae's 'torch' way must run the im2col reference"


@pytest.mark.parametrize("spatial", [4, 8])
def test_a_fresh_tied_causal_vae_keeps_a_still_clip_still(spatial):
    """tied_upsample=True starts each TimeUpsample's two halves equal, so a fresh causal VAE
    (replicate padding) reconstructs a clip in which nothing moves as equal frames (float64,
    1e-12); with the halves initialised independently (the default) the same weights otherwise
    make frames that differ. The tie draws no random numbers: every other weight is the same."""
    torch.manual_seed(0)
    tied = CausalVAE(base_channels=8, spatial_factor=spatial, tied_upsample=True).double()
    torch.manual_seed(0)
    free = CausalVAE(base_channels=8, spatial_factor=spatial).double()
    weights = free.state_dict()
    differing = [k for k, v in tied.state_dict().items() if not torch.equal(v, weights[k])]
    assert differing and all("decoder" in k for k in differing)
    still = clip(1).expand(-1, -1, 9, -1, -1)  # frame 0, nine times: [2, 3, 9, 24, 40]
    with torch.no_grad():
        z = tied.encode(still).mean
        assert (z - z[:, :, :1]).abs().max() < 1e-12  # the encoder keeps it still either way
        out_tied, out_free = tied.decode(z), free.decode(free.encode(still).mean)
    assert (out_tied - out_tied[:, :, :1]).abs().max() < 1e-12
    assert (out_free - out_free[:, :, :1]).abs().max() > 1e-3

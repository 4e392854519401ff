"""`vdlite demo`: the course's opening claim, measured.

Train a small video diffusion model and a frame-by-frame baseline (the same network trained
on single frames) on moving sprites, sample both, and compare how consistent their clips
are over time. Writes to the output folder:

- `sample.gif`: clips from the video model;
- `side_by_side.gif`: real clips (top), video model (middle), frame-by-frame model (bottom);
- `metrics.json`: for all three (means over `num_samples` clips each) the consistency
  figures of `vdlite.metrics` (shape error and background off palette among them) and its
  flow-based figures (warping error, forward-backward disagreement, acceleration:
  `demo_report`); their `distances` (temporal FID, the course's FVD-style distance and the
  Fréchet distance of background colours) to a second set of real clips; `shapes`, how many
  clips of each set draw each shape (`drawn_shapes`); `video_vs_frame`, the video model
  against the frame model clip by clip with 90% bootstrap intervals (`compare_clips`); the
  training losses' tail, the configuration and the timings;
- `metrics.png`: the same figures as bars, one panel per figure;
- `video_samples.pt`: the video model's clips [num_samples, 3, T, H, W], so that two demos
  (say `--arch dit` and the U-Net), whose clips start from the same noise, can be compared
  clip by clip: `vdlite compare DIR_A DIR_B` (`vdlite.metrics.compare_clips`).

With `latent=True` (`vdlite demo --latent`) clips have 1 + 4k frames (the preset's count
rounded up), a `CausalVAE` is trained first (`vae.pt`), and a third model denoises its latents
(`latent_model.pt`, the same denoiser preset on latents [4, 1 + k, H/4, W/4]); its decoded
clips join the figures and the side-by-side (fourth row), beside the VAE's reconstructions of
real clips (`vae_reconstructions`, the best a latent model could do) and their PSNR.

With `arch="dit"` the video model is the factorised transformer, and `metrics.json` also
holds the flicker scenario (`flicker_scenario`): its figures with and without its temporal
attention, from the same noise.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, replace
from pathlib import Path

import torch

from vdlite.checkpoint import atomic_save
from vdlite.data import MovingSprites
from vdlite.metrics import (
    background_colour_fd,
    consistency_report,
    motion_report,
    paired_intervals,
    per_clip_figures,
    psnr,
    shape_fidelity,
)
from vdlite.train import (
    Timer,
    TrainConfig,
    VAEConfig,
    clip_batches,
    default_precision,
    latent_fields,
    sample,
    save_checkpoint,
    train,
    train_vae,
)
from vdlite.video_io import tile_videos, write_gif
from vdlite.vocabulary import SHAPES

# The four figures the demo compares; `complete_path_residual`, `missing_frames`, `flicker`,
# `shape_error` and `background_off_palette` are reported beside them, and the flow-based
# figures of `motion_report` (warping error, forward-backward disagreement, acceleration) and
# the distances to real clips (`distances`).
CONSISTENCY_FIGURES = ("background_change", "colour_drift", "size_drift", "path_residual")

MOTION_FIGURES = ("warping_error", "forward_backward", "acceleration")

# The figures `video_vs_frame` compares clip by clip with intervals (`compare_clips`).
PAIRED_FIGURES = ("background_change", "colour_drift", "size_drift", "warping_error", "flicker",
                  "missing_frames", "path_residual", "acceleration", "shape_error",
                  "background_off_palette")


def demo_report(clips: torch.Tensor, per_clip: dict | None = None) -> dict[str, float]:
    """Every figure the demo reports for a set of clips: `consistency_report` and the means
    of `motion_figures` (lower is better). `per_clip`: the clips' `per_clip_figures(...,
    motion=True)` if already measured, so the flows are not estimated twice."""
    if per_clip is None:
        return {**consistency_report(clips), **motion_report(clips)}
    return {**consistency_report(clips),
            **{k: float(per_clip[k].nanmean()) for k in MOTION_FIGURES}}


def distances(reference: torch.Tensor, clips: torch.Tensor) -> dict[str, float]:
    """How far a set of clips lies from real clips as a distribution: `temporal_fid` (frame
    differences), `course_fvd` (whole clips) and `background_colour_fd` (the clips' background
    colours), against `reference`, a set of real clips."""
    from vdlite.features import course_fvd, temporal_fid

    return {"temporal_fid": temporal_fid(reference, clips),
            "course_fvd": course_fvd(reference, clips),
            "background_colour_fd": background_colour_fd(reference, clips)}


def drawn_shapes(clips: torch.Tensor) -> dict[str, int]:
    """How many clips draw each shape (the shape `shape_fidelity` names for them), and under
    "none" those without a sprite in any frame. Real clips draw the four about equally."""
    _, names = shape_fidelity(clips)
    return {shape: names.count(shape) for shape in SHAPES} | {"none": names.count(None)}

# Clips sampled per model. The figures are means over clips, and 16 were too few to rank two
# video models: the same trained U-Net (CPU preset, seed 0) scored a path residual of 1.58 on
# the demo's first 16 clips and 3.09 on 64 (90% bootstrap interval over clips 2.6-3.6).
DEMO_SAMPLES = 64

# Sizes for each device and denoiser: the CPU presets finish in a few minutes on two cores.
PRESETS = {
    "cpu": dict(frames=8, size=32, conv="pseudo", base_channels=16, channel_mults=(1, 2),
                patch_size=2, batch=8, steps=400, lr=2e-3, prediction="x0"),
    "cuda": dict(frames=16, size=64, conv="full", base_channels=32, channel_mults=(1, 2, 2),
                 patch_size=2, temporal_downsample=True, batch=16, steps=1500, lr=1e-3,
                 prediction="x0"),
    # temporal attention over the 3x3 patches around each token (radius 1), because
    # per-position attention ghosts moving sprites; pixels embedded and drawn at patch 2
    # around blocks at patch 4 (fine_patch), since patch-4 tokens alone drew ragged sprites;
    # 2000 steps with a cosine-decayed rate (chosen by GPU sweeps against the U-Net preset)
    "cpu-dit": dict(arch="dit", frames=8, size=32, patch_size=4, fine_patch=2, dim=64, depth=4,
                    heads=4, temporal_radius=1, batch=8, steps=2000, lr=1e-3,
                    lr_schedule="cosine", prediction="x0"),
    # not yet sized by a run on the GPU (the "cuda" U-Net preset was): a starting point
    "cuda-dit": dict(arch="dit", frames=16, size=64, patch_size=4, dim=192, depth=8, heads=6,
                     temporal_radius=1,
                     batch=16, steps=1500, lr=5e-4, prediction="x0"),
}

# The causal VAE of `--latent` (x4 in space and time). On the CPU, 400 steps drew no sprite at
# all (the latent model's clips had none either); after 1500 (about 3 minutes on one thread) its
# reconstructions of the demo's held-out clips show the sprite in 87% of frames (18.9 dB).
# The CUDA preset has not been sized by a run on the GPU.
VAE_PRESETS = {
    "cpu": dict(spatial_factor=4, base_channels=16, latent_channels=4, batch=4, steps=1500,
                lr=1e-3),
    "cuda": dict(spatial_factor=4, base_channels=32, latent_channels=4, batch=8, steps=3000,
                 lr=1e-3),
}


def demo_config(device: str, steps: int | None = None, seed: int = 0, preset: str | None = None,
                arch: str = "unet", precision: str | None = None, **overrides) -> TrainConfig:
    """The video model's config for a preset (by default the device's, for `arch`); the
    baseline differs only in `mode`. Keyword overrides replace preset entries. `precision`
    ("fp32" or "bf16", `TrainConfig.precision`): by default the device's, bf16 on CUDA and
    fp32 on the CPU (`default_precision`)."""
    if arch not in ("unet", "dit"):
        raise ValueError(f"arch must be 'unet' or 'dit', got {arch!r}")
    name = preset or ("cuda" if str(device).startswith("cuda") else "cpu")
    name = name + "-dit" if arch == "dit" and preset is None else name
    if PRESETS[name].get("arch", "unet") != arch:
        raise ValueError(f"preset {name!r} is for arch={PRESETS[name].get('arch', 'unet')!r}, "
                         f"not arch={arch!r}")
    values = {**PRESETS[name], **overrides}
    if steps is not None:
        values["steps"] = steps
    return TrainConfig(mode="video", seed=seed, precision=precision or default_precision(device),
                       **values)


def run_demo(
    out: str | Path = "out/demo",
    steps: int | None = None,
    device: str = "cpu",
    seed: int = 0,
    num_samples: int = DEMO_SAMPLES,
    sample_steps: int = 50,
    progress: bool = True,
    latent: bool = False,
    vae_steps: int | None = None,
    **overrides,
) -> dict:
    """Train the models, sample, measure and write the demo's files; returns the metrics.

    The video and frame-by-frame models always; with `latent`, also a causal VAE (`vae_steps`
    steps, by default its preset's) and a video model on its latents. The denoisers train in
    `overrides`' precision (by default the device's: `demo_config`), the VAE in float32, and
    every model samples in float32."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = demo_config(device, steps, seed, **overrides)
    if latent:  # 1 + 4k frames, the causal VAE's rule
        cfg = replace(cfg, frames=1 + 4 * -(-(cfg.frames - 1) // 4))
    data = MovingSprites(num_clips=100_000, frames=cfg.frames, size=cfg.size, sprites=1,
                         background="plain", seed=seed)
    real = torch.stack([data[len(data) - 1 - i]["video"] for i in range(num_samples)])
    results: dict = {"config": asdict(cfg), "device": str(device), "precision": cfg.precision,
                     "num_samples": num_samples,
                     "sample_steps": sample_steps,
                     "torch": torch.__version__, "platform": platform.platform(),
                     "timings_s": {}}
    models = {"video": cfg, "frame": replace(cfg, mode="frame")}
    vae = None
    if latent:
        vae, results["vae"], recon = train_demo_vae(cfg, data, real, device, progress, out,
                                                   vae_steps)
        models["latent"] = replace(cfg, **latent_fields(VAEConfig(**results["vae"]["config"])))
        results["timings_s"]["train_vae"] = results["vae"].pop("train_seconds")
    videos = {}
    for name, mcfg in models.items():
        with Timer() as t_train:
            model, losses = train(mcfg, clip_batches(data, cfg.batch, seed), device, progress,
                                  desc=f"train {name} model",
                                  vae=vae if name == "latent" else None)
        with Timer() as t_sample:
            videos[name] = sample(model, mcfg, num_samples, sample_steps, device, seed + 1,
                                  progress=progress).cpu()
        save_checkpoint(out / f"{name}_model.pt", model, mcfg)
        if name == "video" and cfg.arch == "dit":
            flicker = flicker_scenario(model, mcfg, num_samples, sample_steps, device, seed + 1)
            results["flicker"] = {k: flicker[k] for k in ("with", "without", "compare")}
        results["timings_s"][f"train_{name}"] = round(t_train.seconds, 2)
        results["timings_s"][f"sample_{name}"] = round(t_sample.seconds, 2)
        results[f"{name}_final_loss"] = sum(losses[-50:]) / len(losses[-50:])

    sets = {"real_clips": real, "video_model": videos["video"],
            "frame_by_frame": videos["frame"]}
    if latent:
        sets.update(latent_model=videos["latent"], vae_reconstructions=recon)
    with Timer() as t_measure:
        per_clip = {name: per_clip_figures(clips, motion=True) for name, clips in sets.items()}
        results["metrics"] = {name: demo_report(clips, per_clip[name])
                              for name, clips in sets.items()}
        # a second set of real clips, none of them in `real`, for the distances
        reference = torch.stack([data[len(data) - 1 - num_samples - i]["video"]
                                 for i in range(num_samples)])
        results["distances"] = {name: distances(reference, clips)
                                for name, clips in sets.items()}
        results["shapes"] = {name: drawn_shapes(clips) for name, clips in sets.items()}
        paired = paired_intervals(per_clip["video_model"], per_clip["frame_by_frame"])
        results["video_vs_frame"] = {k: paired[k] for k in PAIRED_FIGURES}
    results["timings_s"]["measure"] = round(t_measure.seconds, 2)
    video_m, frame_m = results["metrics"]["video_model"], results["metrics"]["frame_by_frame"]
    results["video_model_ahead_on"] = [k for k in CONSISTENCY_FIGURES if video_m[k] < frame_m[k]]

    atomic_save(videos["video"], out / "video_samples.pt")  # for `vdlite compare`
    if latent:
        atomic_save(videos["latent"], out / "latent_samples.pt")
    n = min(num_samples, 8)
    write_gif(tile_videos(list(videos["video"][:n]), ncols=n), out / "sample.gif", scale=3)
    rows = [real[:n]] + [videos[name][:n] for name in models]
    grid = tile_videos([clip for row in rows for clip in row], ncols=n)
    write_gif(grid, out / "side_by_side.gif", scale=3)
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    plot_metrics(results["metrics"], out / "metrics.png")
    return results


def train_demo_vae(cfg: TrainConfig, data: MovingSprites, real: torch.Tensor, device: str,
                   progress: bool, out: Path, steps: int | None = None
                   ) -> tuple[torch.nn.Module, dict, torch.Tensor]:
    """Train the demo's causal VAE on `data` (saved to out/vae.pt); measure it on the held-out
    clips `real`. Returns (vae, {"config", "psnr", "train_seconds"}, its reconstructions)."""
    preset = dict(VAE_PRESETS["cuda" if str(device).startswith("cuda") else "cpu"])
    if steps is not None:
        preset["steps"] = steps
    vcfg = VAEConfig(kind="causal", frames=cfg.frames, size=cfg.size, seed=cfg.seed, **preset)
    with Timer() as timer:
        vae, _ = train_vae(vcfg, clip_batches(data, vcfg.batch, cfg.seed), device, progress,
                           desc="train causal VAE")
    save_checkpoint(out / "vae.pt", vae, vcfg)
    vae.eval()
    with torch.no_grad():
        recon = torch.cat([vae.decode(vae.encode(x.to(device)).mean).clamp(-1, 1).cpu()
                           for x in real.split(16)])
    return vae, {"config": asdict(vcfg), "psnr": psnr(real, recon),
                 "train_seconds": round(timer.seconds, 2)}, recon


def flicker_scenario(model: torch.nn.Module, cfg: TrainConfig, num_samples: int = DEMO_SAMPLES,
                     sample_steps: int = 50, device: str = "cpu", seed: int = 1,
                     progress: bool = False) -> dict:
    """Scenario 1 of the syllabus: "the frames flicker as if they never talked to each other".

    Sample the same noise twice from one trained video DiT: as trained, and with every
    temporal attention branch switched off (`set_temporal_attention(model, False)`), which
    turns it into its own image model applied frame by frame. Returns the clips, the figures
    of both (`demo_report`) and their paired comparison with intervals (`compare_clips`, with
    minus without, for PAIRED_FIGURES): {"with", "without", "compare", "clips"}.

    Read the figures together: `flicker` (raw change between frames) charges real motion and
    rewards a model that blurs or loses its sprite; the warping error follows the motion and
    charges only what changes along it, but is blind to a lost sprite (`vdlite.flicker`
    measures the scenario over seeds).
    """
    from vdlite.transformer import set_temporal_attention

    clips, figures, per_clip = {}, {}, {}
    for name, enabled in (("with", True), ("without", False)):
        set_temporal_attention(model, enabled)
        try:
            clips[name] = sample(model, cfg, num_samples, sample_steps, device, seed,
                                 progress=progress).cpu()
        finally:
            set_temporal_attention(model, True)
        per_clip[name] = per_clip_figures(clips[name], motion=True)
        figures[name] = demo_report(clips[name], per_clip[name])
    paired = paired_intervals(per_clip["with"], per_clip["without"])
    return {**figures, "compare": {k: paired[k] for k in PAIRED_FIGURES}, "clips": clips}


def plot_metrics(metrics: dict[str, dict[str, float]], path: str | Path) -> None:
    """One bar chart per consistency figure: real clips, video model, frame-by-frame model (and
    with --latent the latent model and the VAE's reconstructions)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(metrics)
    fig, axes = plt.subplots(1, len(CONSISTENCY_FIGURES), figsize=(3 * len(CONSISTENCY_FIGURES), 3))
    for ax, figure in zip(axes, CONSISTENCY_FIGURES, strict=True):
        ax.bar(range(len(names)), [metrics[n][figure] for n in names],
               color=["0.6", "tab:blue", "tab:orange", "tab:green", "tab:olive"][:len(names)])
        ax.set_xticks(range(len(names)), [n.replace("_", "\n") for n in names], fontsize=8)
        ax.set_title(f"{figure} (lower is better)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

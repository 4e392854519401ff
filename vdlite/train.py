"""Training and sampling loops shared by the CLI, the demo and the lessons.

Two denoisers (`arch`): the 3D U-Net of `vdlite.unet3d` and the factorised space-time
transformer of `vdlite.transformer` (a video DiT), which can also take a text prompt.

Two ways to model a clip x0 [B, C, T, H, W]:

- `mode="video"`: the denoiser sees whole clips and removes noise from all T frames jointly;
- `mode="frame"`: the same kind of denoiser is trained on single frames [B*T, C, 1, H, W] and
  each frame of a clip is later sampled independently (image diffusion, frame by frame).

Both see the same clips and the same number of frames per step, so any difference in the
samples' temporal consistency comes from modelling the frames jointly.
"""

from __future__ import annotations

import copy
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from vdlite.checkpoint import CheckpointError, atomic_save, check_fields, load_weights, one_line
from vdlite.diffusion import PREDICTIONS, NoiseSchedule, ddim_sample, diffusion_loss
from vdlite.parallel import data_parallel, mean_over_ranks, rank_and_world
from vdlite.temporal_loss import TEMPORAL_LOSSES, temporal_loss
from vdlite.unet3d import UNet3D

MODES = ("video", "frame")
ARCHS = ("unet", "dit")
LR_SCHEDULES = ("constant", "cosine")
SCHEDULES = ("linear", "cosine")  # the noise schedules of NoiseSchedule
PRECISIONS = ("fp32", "bf16")  # TrainConfig.precision: float32, or bf16 autocast (`train`)
MAX_SEED = 2**63 - 2  # torch generators take seeds below 2**64; the demo also uses seed + 1


@dataclass
class TrainConfig:
    """Everything needed to rebuild a model and its noise schedule from a checkpoint."""

    mode: str = "video"
    arch: str = "unet"
    conv: str = "full"
    frames: int = 8
    size: int = 32
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    patch_size: int = 1
    temporal_downsample: bool = False
    dim: int = 64
    depth: int = 4
    heads: int = 4
    temporal_radius: int = 0  # DiT: temporal attention over the (2r+1)^2 nearby positions
    # DiT: temporal attention sees frames t' with |t - t'| <= temporal_window (a sliding
    # window, lesson 08b); 0 = the whole clip, which is how files from before the field trained
    temporal_window: int = 0
    fine_patch: int = 0  # DiT: embed f x f patches, merged into the blocks' p x p (0 = off)
    text: bool = False
    text_dim: int = 64
    text_layers: int = 2
    cond_drop_prob: float = 0.1
    schedule: str = "cosine"
    num_timesteps: int = 1000
    prediction: str = "v"
    batch: int = 8
    lr: float = 2e-3
    lr_schedule: str = "constant"  # after the warm-up: "constant", or "cosine" decay to 0
    steps: int = 600
    ema_decay: float = 0.995
    seed: int = 0
    # latent diffusion: "" denoises pixels; "causal" or "frame" denoises the latents of a frozen
    # VAE of that kind and these sizes, whose weights are saved with the denoiser's
    vae_kind: str = ""
    vae_base_channels: int = 16
    vae_spatial_factor: int = 4
    vae_latent_channels: int = 4
    vae_pad_mode: str = "replicate"
    # a temporal term on the model's x̂_0 (`vdlite.temporal_loss`): "" (none), "flow_change"
    # or "warp", added to the diffusion loss with weight temporal_weight (video pixel models)
    temporal_loss: str = ""
    temporal_weight: float = 0.0
    # "fp32", or "bf16": the denoiser's forward under bf16 autocast, weights in float32 (`train`);
    # files from before the field load as "fp32", which is how they trained
    precision: str = "fp32"
    # gradient checkpointing of the denoiser's blocks (lesson 09a): the same weights and
    # gradients for less activation memory and one more forward pass; older files load as off
    checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.vae_kind:
            if self.vae_kind not in VAE_KINDS:
                raise ValueError(f"vae_kind must be '' (pixels) or one of {VAE_KINDS}, got "
                                 f"{self.vae_kind!r}")
            if self.mode != "video":
                raise ValueError("latent diffusion (vae_kind) trains video models only: "
                                 "mode='video'")
            self.vae_config()  # the VAE's own checks: frames 1 + 4k, size, factor
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.text and self.arch != "dit":
            raise ValueError("prompt conditioning (text=True) needs arch='dit'")
        if self.fine_patch and self.arch != "dit":
            raise ValueError("fine_patch applies only to arch='dit'")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for name in ("steps", "batch", "frames", "size", "base_channels", "num_res_blocks",
                     "patch_size", "dim", "depth", "heads", "text_dim", "text_layers",
                     "num_timesteps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.temporal_radius < 0 or self.fine_patch < 0:
            raise ValueError(f"temporal_radius and fine_patch must be >= 0, got "
                             f"{self.temporal_radius} and {self.fine_patch}")
        if self.temporal_window < 0:
            raise ValueError(f"temporal_window must be >= 0 (0 = the whole clip), got "
                             f"{self.temporal_window}")
        if self.temporal_window and (self.arch != "dit" or self.mode != "video"):
            raise ValueError(f"temporal_window applies only to a video DiT (arch='dit', "
                             f"mode='video'), got arch={self.arch!r}, mode={self.mode!r}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 1):
            raise ValueError(f"lr must be a finite number in (0, 1], got {self.lr}")
        if not (0 <= self.ema_decay < 1 and 0 <= self.cond_drop_prob <= 1):
            raise ValueError(f"need 0 <= ema_decay < 1 and 0 <= cond_drop_prob <= 1, got "
                             f"{self.ema_decay} and {self.cond_drop_prob}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, 2**63 - 2], got {self.seed}")
        self.channel_mults = tuple(self.channel_mults)
        if not self.channel_mults or min(self.channel_mults) < 1:
            raise ValueError(f"channel_mults must be ints >= 1, got {self.channel_mults}")
        self._check_temporal_loss()

    def _check_temporal_loss(self) -> None:
        """temporal_loss is one of TEMPORAL_LOSSES, set exactly when temporal_weight > 0, and
        only for a pixel-space video model with enough frames (3 for flow_change, 2 for warp)."""
        if self.temporal_loss not in TEMPORAL_LOSSES:
            raise ValueError(f"temporal_loss must be one of {TEMPORAL_LOSSES}, got "
                             f"{self.temporal_loss!r}")
        if not (math.isfinite(self.temporal_weight) and self.temporal_weight >= 0):
            raise ValueError(f"temporal_weight must be a finite number >= 0, got "
                             f"{self.temporal_weight}")
        if bool(self.temporal_loss) != (self.temporal_weight > 0):
            raise ValueError(f"temporal_loss and temporal_weight go together: a loss needs a "
                             f"weight > 0 and a weight a loss, got temporal_loss="
                             f"{self.temporal_loss!r}, temporal_weight={self.temporal_weight}")
        if not self.temporal_loss:
            return
        if self.mode != "video" or self.vae_kind:
            raise ValueError(f"temporal_loss={self.temporal_loss!r} needs a pixel-space video "
                             f"model (mode='video', vae_kind=''), got mode={self.mode!r}, "
                             f"vae_kind={self.vae_kind!r}")
        least = 3 if self.temporal_loss == "flow_change" else 2
        if self.frames < least:
            raise ValueError(f"temporal_loss={self.temporal_loss!r} needs frames >= {least}, "
                             f"got {self.frames}")


    def vae_config(self) -> VAEConfig:
        """The config of the VAE whose latents a latent model denoises (vae_kind set)."""
        return VAEConfig(kind=self.vae_kind, frames=self.frames, size=self.size,
                         spatial_factor=self.vae_spatial_factor,
                         base_channels=self.vae_base_channels,
                         latent_channels=self.vae_latent_channels, pad_mode=self.vae_pad_mode)

    def latent_shape(self, frames: int | None = None) -> tuple[int, int, int, int]:
        """(C, T, H, W) of what the denoiser sees: the clip, or its latents. A frame count the
        VAE cannot take (not 1 + 4k for the causal VAE) is a ValueError naming the nearest."""
        t = frames or self.frames
        if not self.vae_kind:
            return 3, t, self.size, self.size
        from vdlite.vae import CausalVAE

        f = self.vae_spatial_factor
        lt = CausalVAE.latent_frames_of(t, 4) if self.vae_kind == "causal" else t
        return self.vae_latent_channels, lt, self.size // f, self.size // f


def default_precision(device: str | torch.device) -> str:
    """The precision a run takes unless told otherwise: "bf16" on CUDA (tensor cores run bf16
    matrix products several times faster than float32 ones), "fp32" on the CPU."""
    return "bf16" if torch.device(device).type == "cuda" else "fp32"


def latent_fields(vcfg: VAEConfig) -> dict:
    """The TrainConfig fields that make a model denoise the latents of a VAE so configured."""
    return {"vae_kind": vcfg.kind, "vae_base_channels": vcfg.base_channels,
            "vae_spatial_factor": vcfg.spatial_factor,
            "vae_latent_channels": vcfg.latent_channels, "vae_pad_mode": vcfg.pad_mode}


def build_model(cfg: TrainConfig) -> torch.nn.Module:
    """The denoiser for a config.

    The frame model is the same network without its temporal layers. For the U-Net that means
    2D (1,3,3) convolutions: on one-frame clips a 3x3x3 convolution with zero time padding
    only ever uses its centre taps, so the 2D network computes the same functions at a third
    of the cost. For the DiT it means no temporal attention (attention over one frame is the
    identity on its value, so it would only add an extra learned linear layer).
    """
    video = cfg.mode == "video"
    channels = cfg.latent_shape()[0]
    if cfg.arch == "dit":
        from vdlite.text import TextEncoder
        from vdlite.transformer import VideoDiT

        encoder = TextEncoder(cfg.text_dim, cfg.text_layers) if cfg.text else None
        denoiser = VideoDiT(channels, cfg.patch_size, cfg.dim, cfg.depth, cfg.heads,
                            temporal=video, text_encoder=encoder,
                            window=cfg.temporal_window or None,
                            temporal_radius=cfg.temporal_radius, fine_patch=cfg.fine_patch or None,
                            gradient_checkpointing=cfg.checkpointing)
    else:
        denoiser = UNet3D(channels, cfg.base_channels, cfg.channel_mults, cfg.num_res_blocks,
                          conv=cfg.conv if video else "spatial", patch_size=cfg.patch_size,
                          temporal_downsample=cfg.temporal_downsample and video,
                          gradient_checkpointing=cfg.checkpointing)
    if not cfg.vae_kind:
        return denoiser
    from vdlite.latent import LatentDiffusion

    return LatentDiffusion(build_vae(cfg.vae_config()), denoiser)


def as_frames(video: torch.Tensor) -> torch.Tensor:
    """[B, C, T, H, W] -> [B*T, C, 1, H, W]: every frame becomes its own one-frame clip."""
    b, c, t, h, w = video.shape
    return video.permute(0, 2, 1, 3, 4).reshape(b * t, c, 1, h, w)


def from_frames(frames: torch.Tensor, t: int) -> torch.Tensor:
    """Inverse of `as_frames`: [B*T, C, 1, H, W] -> [B, C, T, H, W]."""
    bt, c, _, h, w = frames.shape
    return frames.reshape(bt // t, t, c, h, w).permute(0, 2, 1, 3, 4)


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """Exponential moving average of weights: θ_ema <- decay * θ_ema + (1 - decay) * θ."""
    for pe, p in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(p, 1.0 - decay)


def train(
    cfg: TrainConfig,
    batches: Iterator[torch.Tensor],
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str | None = None,
    out: str | Path | None = None,
    save_every: int = 0,
    resume: bool = False,
    info: dict | None = None,
    vae: torch.nn.Module | None = None,
    on_step: Callable[[int, torch.nn.Module], None] | None = None,
) -> tuple[torch.nn.Module, list[float]]:
    """Train a denoiser on clips from `batches` (each [B, 3, T, H, W] in [-1, 1]).

    Latent diffusion (`cfg.vae_kind` set): the model is a `LatentDiffusion` whose denoiser
    learns on the latents of `vae` (a trained VAE of the kind and sizes `cfg` names; it stays
    frozen and is saved with the model). A new run sets the latents' scale from the first
    batch; a resumed run takes the VAE and scale from its saved state.

    With `cfg.text`, each batch is a pair (clips, prompt token ids [B, L]) (`caption_batches`
    makes them), and each prompt is replaced by the empty one with probability
    `cfg.cond_drop_prob`, so the one model learns p(x | prompt) and p(x) for classifier-free
    guidance. A frame model sees each clip's prompt with every one of its frames.

    Adam with a short linear warm-up (then a constant rate, or with `lr_schedule="cosine"`
    a cosine decay towards 0 over the run: `lr_factor`), gradient clipping at 1, and an EMA of
    the weights (returned, since it samples better than the raw weights after short training).
    The EMA decay at step n is min(ema_decay, (1 + n) / (10 + n)), so in runs of a few hundred
    steps the warm-up term, not ema_decay, sets it.

    With an output folder `out` the run can be resumed: every `save_every` steps (0: never),
    after the last step and on Ctrl-C it writes `out/train_state.pt` (everything the run
    changes: weights, EMA, optimizer, rate schedule, step, losses, random states and the
    position of `batches`, which must then be `clip_batches` or `caption_batches`) and
    `out/model.pt` (the EMA and its config, for `load_checkpoint`), each atomically. Ctrl-C
    finishes the current step, saves, and raises `TrainingInterrupted`. `resume=True`
    continues from `out/train_state.pt` and reaches the weights an uninterrupted run would.
    With `cfg.temporal_loss` ("flow_change" or "warp", `vdlite.temporal_loss`) the loss is
    L_noise + temporal_weight · L_temporal(x̂_0, x0), with x̂_0 [B, C, T, H, W] the model's
    prediction of the clean clip in the same call that gave L_noise: its output itself for
    prediction "x0", else derived from it and x_t by the schedule (`pred_to_x0_eps`; for "eps"
    that divides by √ᾱ_t, so the noisiest steps weigh most: "x0" or "v" suit it better).
    With `cfg.precision="bf16"` (mixed precision) each step's forward pass runs under
    `torch.autocast(device type, dtype=torch.bfloat16)`: the matrix products and convolutions
    take bf16 operands (8-bit mantissa, float32's exponent range, so no loss scaling is needed)
    and accumulate in float32. The parameters, their gradients, Adam's moments and the EMA stay
    float32; the model's output is cast back to float32 before the loss, so the loss (and its
    mean, and the temporal term) is computed and reduced in float32, and backward runs outside
    the autocast region. A latent run's frozen VAE encodes in float32. "fp32" runs no autocast:
    exactly the computation of runs from before the option. Sampling (`sample`) is float32
    for either: the weights are float32, a sample costs far fewer forward passes than
    training, and DDIM's steps compound the forward's rounding.
    A step whose loss or gradient is not finite raises `TrainingDiverged` and saves nothing,
    so the last checkpoint stays as it was. `info` (plain values) goes into model.pt.
    Data parallelism (`vdlite.parallel`; `torchrun --nproc-per-node P -m vdlite train`): when
    torch.distributed runs with P > 1 processes, cfg.batch is the global batch (P must divide
    it) and every process draws it, the noise and the timesteps with the same generators and
    keeps its 1/P part; the model runs in DistributedDataParallel (gradients averaged), the
    loss recorded is the mean over the processes, and only rank 0 shows progress and writes
    `out`. So P processes train the weights one process would on the same global batch, up to
    the order of float additions.
    Returns (ema_model, per-step losses).
    """
    folder = None if out is None else Path(out)
    schedule = NoiseSchedule(cfg.schedule, cfg.num_timesteps)
    build = build_model
    if cfg.vae_kind and not resume:
        if vae is None:
            raise ValueError(f"cfg.vae_kind={cfg.vae_kind!r}: pass the trained VAE (vae=...)")
        first = _unpack(next(batches), cfg.text)[0]

        def build(c: TrainConfig) -> torch.nn.Module:
            model = build_model(c)
            try:
                model.vae.load_state_dict(vae.state_dict())
            except RuntimeError as err:
                raise ValueError(f"vae does not fit the VAE cfg describes: {one_line(err)}") \
                    from None
            model.set_scale(first.float())  # built on the CPU; _start moves it to device
            return model
    elif vae is not None and not cfg.vae_kind:
        raise ValueError("vae was given, but cfg.vae_kind is '' (a pixel-space model)")

    rank, world = rank_and_world()
    if cfg.batch % world:
        raise ValueError(f"data parallel training over {world} processes needs a batch they "
                         f"divide: batch {cfg.batch} is the global batch")
    wrapped: dict[str, torch.nn.Module] = {}  # the model in DistributedDataParallel (world > 1)

    def step_loss(run: _Run) -> torch.Tensor:
        x0, cond = _unpack(next(run.batches), cfg.text)
        share = slice(rank * (len(x0) // world), (rank + 1) * (len(x0) // world))
        x0 = x0[share].to(device)  # every rank draws the global batch and keeps its part
        cond = None if cond is None else cond[share]
        if cfg.vae_kind:
            x0 = run.model.to_latent(x0)
        if cfg.mode == "frame":
            cond = None if cond is None else cond.repeat_interleave(x0.shape[2], dim=0)
            x0 = as_frames(x0)
        cond = None if cond is None else cond.to(device)
        null = run.model.text_encoder.null_tokens(1)[0] if cfg.text else None  # [L]
        model = run.model
        if world > 1:
            if "ddp" not in wrapped:  # built once, at the first step (on the model's device)
                wrapped["ddp"] = data_parallel(run.model, device)
            model = wrapped["ddp"]
        model = model if cfg.precision == "fp32" else _Autocast(model, device)
        model = _Recording(model) if cfg.temporal_loss else model
        loss = diffusion_loss(model, x0, schedule, prediction=cfg.prediction,
                              generator=run.gen, cond=cond, null_cond=null,
                              cond_drop_prob=cfg.cond_drop_prob if cfg.text else 0.0,
                              part=(rank, world))
        if not cfg.temporal_loss:
            return loss
        x0_hat = schedule.pred_to_x0_eps(model.x_t, model.t, model.out, cfg.prediction)[0]
        return loss + cfg.temporal_weight * temporal_loss(cfg.temporal_loss, x0_hat, x0)

    return optimise(cfg, build, step_loss, batches, device, progress,
                    desc or f"train {cfg.mode}", folder, save_every, resume, info, on_step)


class _Autocast:
    """A denoiser whose forward runs under bf16 autocast on `device`'s type, its output cast
    back to float32, so that what is computed from it (the loss, its reduction) is float32."""

    def __init__(self, model: torch.nn.Module, device: str | torch.device) -> None:
        self.model, self.device_type = model, torch.device(device).type

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, *cond) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            out = self.model(x_t, t, *cond)
        return out.float()


class _Recording:
    """A denoiser that remembers its last call: x_t, t and its output (for the temporal loss on
    the x̂_0 of the very call `diffusion_loss` made, without changing diffusion_loss)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, *cond) -> torch.Tensor:
        self.x_t, self.t, self.out = x_t, t, self.model(x_t, t, *cond)
        return self.out


def optimise(cfg, build, step_loss, batches: Iterator, device: str | torch.device,
             progress: bool, desc: str, folder: Path | None, save_every: int, resume: bool,
             info: dict | None, on_step: Callable[[int, torch.nn.Module], None] | None = None
             ) -> tuple[torch.nn.Module, list[float]]:
    """The loop every trainer shares: `cfg.steps` steps of Adam on `step_loss(run)` (a scalar
    loss built from `next(run.batches)` and the seeded `run.gen`), with the warm-up and rate
    schedule of `lr_factor`, gradient clipping at 1, an EMA of the weights, a progress bar,
    divergence checks, and the checkpoints, Ctrl-C handling and resumption that `train`
    describes. `build(cfg)` makes the model; cfg needs `steps`, `lr`, `lr_schedule`,
    `ema_decay` and `seed`. `on_step(steps_done, ema_model)`, if given, is called after every
    step (to measure the model as it trains; it must leave the model as it found it).
    Returns (ema_model, per-step losses)."""
    with _StopOnInterrupt(enabled=folder is not None) as interrupt:  # from the start
        run = _start(cfg, build, batches, device, folder, resume, info)
        model, opt = run.model, run.opt
        rank, _ = rank_and_world()
        bar = tqdm(range(run.step, cfg.steps), initial=run.step, total=cfg.steps,
                   desc=desc, disable=not progress or rank > 0)
        for step in bar:
            loss = step_loss(run)
            value = mean_over_ranks(loss)  # the global batch's loss under data parallelism
            if not math.isfinite(value):
                raise run.diverged(step, f"the loss is {value}", folder)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if not torch.isfinite(norm):
                raise run.diverged(step, f"the gradient norm is {norm.item()}", folder)
            opt.step()
            run.lr_schedule.step()
            ema_update(run.ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
            run.losses.append(value)
            run.step = step + 1
            if on_step is not None:
                on_step(run.step, run.ema)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{sum(run.losses[-10:]) / len(run.losses[-10:]):.4f}")
            if folder is not None and rank == 0 and (
                    interrupt.requested or run.step == cfg.steps
                    or (save_every and run.step % save_every == 0)):
                run.save(folder)  # under data parallelism every rank holds the same run
            if interrupt.requested:
                raise TrainingInterrupted(f"interrupted at step {run.step} of {cfg.steps}; "
                                          f"the run is saved in {folder}")
    return run.ema.eval(), run.losses


def _start(cfg, build, batches: Iterator, device: str | torch.device,
           folder: Path | None, resume: bool, info: dict | None) -> _Run:
    """A new run's model (`build(cfg)`), EMA, optimizer, rate schedule and loss generator,
    seeded, or with `resume` the run saved in `folder`."""
    torch.manual_seed(cfg.seed)
    model = build(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    run = _Run(cfg, model, copy.deepcopy(model).requires_grad_(False), opt,
               torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg)),
               torch.Generator(device="cpu").manual_seed(cfg.seed), batches, dict(info or {}))
    if folder is not None and not hasattr(batches, "state_dict"):
        raise ValueError("a resumable run (out=...) needs batches that can save their "
                         "position: clip_batches or caption_batches")
    _check_plain(run.info, "info")
    if resume:
        if folder is None:
            raise ValueError("resume=True needs out, the folder of the run to continue")
        run.load_state_dict(load_train_state(folder / STATE_FILE), folder / STATE_FILE)
    return run


MODEL_FILE = "model.pt"
STATE_FILE = "train_state.pt"


class TrainingDiverged(RuntimeError):
    """The loss or the gradient stopped being finite; nothing after the last good step was
    saved."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run with an output folder, after a resumable checkpoint was saved."""


@dataclass
class _Run:
    """Everything a training run changes as it goes: what `train_state.pt` holds."""

    cfg: TrainConfig  # or another trainer's config (VAEConfig)
    model: torch.nn.Module
    ema: torch.nn.Module
    opt: torch.optim.Optimizer
    lr_schedule: torch.optim.lr_scheduler.LRScheduler
    gen: torch.Generator  # the noise and timesteps of the loss
    batches: Iterator
    info: dict  # plain values that describe the run (the CLI's data options), kept with it
    step: int = 0  # optimizer steps taken
    losses: list[float] = field(default_factory=list)
    saved_step: int | None = None

    def state_dict(self) -> dict:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        return {"format": STATE_FORMAT, "config": asdict(self.cfg), "step": self.step,
                "losses": torch.tensor(self.losses, dtype=torch.float64),
                "model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.opt.state_dict(), "lr_schedule": self.lr_schedule.state_dict(),
                "rng": {"torch": torch.get_rng_state(), "loss": self.gen.get_state(),
                        "cuda": cuda},
                "batches": self.batches.state_dict(), "info": self.info}

    def load_state_dict(self, state: dict, path: Path) -> None:
        """Continue from `state`; a config other than this run's, or parts that do not fit
        the model, are a CheckpointError naming `path`."""
        saved = check_fields(type(self.cfg), state["config"], path)
        if saved != self.cfg:
            diff = [f"{k}={v!r} (not {getattr(self.cfg, k)!r})"
                    for k, v in asdict(saved).items() if v != getattr(self.cfg, k)]
            raise CheckpointError(f"{path} is a run with {', '.join(diff)}")
        try:
            self.model.load_state_dict(state["model"])
            self.ema.load_state_dict(state["ema"])
            self.opt.load_state_dict(state["optimizer"])
            self.lr_schedule.load_state_dict(state["lr_schedule"])
            self.gen.set_state(state["rng"]["loss"])
            torch.set_rng_state(state["rng"]["torch"])
            if len(state["rng"]["cuda"]) == torch.cuda.device_count() > 0:
                torch.cuda.set_rng_state_all(state["rng"]["cuda"])
            self.batches.load_state_dict(state["batches"])
            self.step, self.losses = int(state["step"]), state["losses"].tolist()
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise CheckpointError(f"{path} does not fit the model its config describes: "
                                  f"{one_line(err)}") from None
        self.saved_step = self.step
        if not 0 <= self.step <= self.cfg.steps or len(self.losses) != self.step:
            raise CheckpointError(f"{path}: step {self.step} with {len(self.losses)} losses "
                                  f"does not fit a run of {self.cfg.steps} steps")

    def save(self, folder: Path) -> None:
        """Write train_state.pt, then model.pt (the EMA), each atomically; weights that are no
        longer finite are never written."""
        for module in (self.model, self.ema):
            if not all(torch.isfinite(p).all() for p in module.parameters()):
                raise self.diverged(self.step, "the weights are no longer finite", folder)
        atomic_save(self.state_dict(), folder / STATE_FILE)
        save_checkpoint(folder / MODEL_FILE, self.ema, self.cfg, **self.info, step=self.step)
        self.saved_step = self.step

    def diverged(self, step: int, what: str, folder: Path | None) -> TrainingDiverged:
        kept = ("" if folder is None else
                f"; nothing was saved after step {self.saved_step}, whose checkpoint in "
                f"{folder} is kept" if self.saved_step is not None else
                f"; no checkpoint was written to {folder}")
        return TrainingDiverged(f"training diverged at step {step}: {what}{kept} "
                                "(a lower learning rate may help)")


class _StopOnInterrupt:
    """Within `with`: the first Ctrl-C (SIGINT) only sets `requested`, so that training can
    finish its step and save; a second one interrupts at once. Python delivers signals to the
    main thread only, so elsewhere (or with enabled=False) Ctrl-C behaves as usual."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False

    def __enter__(self) -> _StopOnInterrupt:
        if self.enabled:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self.previous)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """The learning rate at `step` as a fraction of `cfg.lr`.

    A linear warm-up over the first w = max(1, steps // 20) steps, min(1, (step + 1) / w),
    times 1 ("constant") or 0.5 (1 + cos(pi * step / steps)) ("cosine": 0 at step = steps,
    just past the last step).
    """
    factor = min(1.0, (step + 1) / max(1, cfg.steps // 20))
    if cfg.lr_schedule == "cosine":
        factor *= 0.5 * (1 + math.cos(math.pi * min(1.0, step / cfg.steps)))
    return factor


def _unpack(batch, text: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A batch is clips, or (clips, prompt tokens) for a prompt-conditioned model."""
    if text:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError("a prompt-conditioned model (text=True) needs batches of "
                             "(clips, tokens); use caption_batches")
        return batch[0], batch[1]
    return (batch[0] if isinstance(batch, (tuple, list)) else batch), None


def sample(
    model: torch.nn.Module,
    cfg: TrainConfig,
    num: int,
    steps: int = 50,
    device: str | torch.device = "cpu",
    seed: int = 0,
    frames: int | None = None,
    progress: bool = True,
    prompts: str | list[str] | None = None,
    guidance_scale: float = 1.0,
) -> torch.Tensor:
    """Draw `num` clips [num, 3, T, H, W] with deterministic DDIM in `steps` steps.

    A frame model samples num*T independent single frames and stacks them into clips.
    A prompt-conditioned model takes `prompts` (one for all clips, or one per clip; None
    means the empty prompt) and classifier-free guidance with `guidance_scale` (1 = none).
    Sampling runs in float32 whatever `cfg.precision` the model trained in (see `train`).
    """
    t = frames or cfg.frames
    schedule = NoiseSchedule(cfg.schedule, cfg.num_timesteps)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    cond = null = None
    if cfg.text:
        prompts = "" if prompts is None else prompts
        prompts = [prompts] * num if isinstance(prompts, str) else list(prompts)
        if len(prompts) != num:
            raise ValueError(f"give one prompt or one per clip ({num}), got {len(prompts)}")
        cond = model.text_encoder.tokenizer.encode(prompts, strict=True).to(device)  # [num, L]
        null = model.text_encoder.null_tokens(1)[0]  # [L]
        if cfg.mode == "frame":
            cond = cond.repeat_interleave(t, dim=0)  # [num*T, L]
    elif prompts is not None:
        raise ValueError("this model was trained without prompts (text=False); "
                         "train one with --prompts to sample with --prompt")
    if cfg.mode == "video":
        shape = (num, *cfg.latent_shape(t))  # [num, 3, T, H, W], or the latents' shape
    else:
        shape = (num * t, 3, 1, cfg.size, cfg.size)
    x = ddim_sample(model, shape, schedule, steps=steps, prediction=cfg.prediction,
                    generator=gen, device=device, progress=progress, cond=cond,
                    null_cond=null if guidance_scale != 1 else None,
                    guidance_scale=guidance_scale)
    if cfg.vae_kind:
        return model.to_pixels(x)
    return x if cfg.mode == "video" else from_frames(x, t)


CHECKPOINT_FORMAT = 1  # model.pt: {"format", "config", "state_dict", "info"}
STATE_FORMAT = 1  # train_state.pt: see _Run.state_dict


def save_checkpoint(path: str | Path, model: torch.nn.Module, cfg, **info) -> None:
    """Write the model weights and the config that rebuilds it (a `TrainConfig` or a
    `VAEConfig`, named in the file), atomically (`atomic_save`).

    The file holds only tensors and plain values, so `load_checkpoint` reads it without
    running code; `info` must be plain values too (str, int, float, bool, None, and lists,
    tuples and dicts of them)."""
    _check_plain(info, "info")
    atomic_save({"format": CHECKPOINT_FORMAT, "kind": type(cfg).__name__, "config": asdict(cfg),
                 "state_dict": model.state_dict(), "info": info}, path)


def load_checkpoint(path: str | Path, device: str = "cpu", config: type = None,
                    build=None) -> tuple[torch.nn.Module, TrainConfig]:
    """Rebuild a model saved by `save_checkpoint` (or by earlier versions of vdlite, which
    wrote the same fields), running no code from the file. `config` and `build` are the
    config class and model builder (default: `TrainConfig`, `build_model`, a denoiser;
    `load_vae` passes `VAEConfig`, `build_vae`).

    The config is checked field by field and the weights must fit the model it describes and
    be finite; FileNotFoundError names a missing path, and every other problem is a one-line
    `CheckpointError` (a ValueError) naming the file.
    """
    config, build = config or TrainConfig, build or build_model
    what = "a vdlite checkpoint (the model.pt that vdlite train writes)"
    if not Path(path).exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state = load_weights(path, what, device)
    if isinstance(state, dict) and "ema" in state and "state_dict" not in state:
        raise CheckpointError(f"{path} is a training state, for vdlite train --resume; "
                              f"give the {MODEL_FILE} beside it")
    if not (isinstance(state, dict) and {"config", "state_dict"} <= set(state)):
        raise CheckpointError(f"{path} is not {what}: expected a dict with 'config' and "
                              f"'state_dict', got {_describe(state)}")
    kind = state.get("kind", TrainConfig.__name__)  # files before VAEs held denoisers only
    if kind != config.__name__:
        names = {"TrainConfig": "a denoiser", "VAEConfig": "a VAE"}
        raise CheckpointError(f"{path} holds {names.get(str(kind), repr(kind))} "
                              f"({kind}), not {names.get(config.__name__, config.__name__)}")
    cfg = check_fields(config, state["config"], path)
    weights = state["state_dict"]
    if not (isinstance(weights, dict) and all(isinstance(w, torch.Tensor)
                                              for w in weights.values())):
        raise CheckpointError(f"{path}: 'state_dict' must map names to tensors")
    bad = [name for name, w in weights.items() if w.is_floating_point() and not w.isfinite().all()]
    if bad:
        raise CheckpointError(f"{path} holds weights that are not finite ({bad[0]} and "
                              f"{len(bad) - 1} more): it comes from a diverged run")
    model = build(cfg).to(device)
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        reason = " ".join(str(err).split("\n\t", 1)[-1].split())[:200]
        raise CheckpointError(f"{path}: its weights do not fit the model its config "
                              f"describes ({reason})") from None
    return model.eval(), cfg


def load_train_state(path: str | Path) -> dict:
    """A `train_state.pt` written by `train(out=...)`, loaded without running code, with its
    parts checked to be there (CheckpointError otherwise)."""
    state = load_weights(path, f"a training state ({STATE_FILE}, written by vdlite train)")
    need = {"config", "step", "losses", "model", "ema", "optimizer", "lr_schedule", "rng",
            "batches"}
    if not (isinstance(state, dict) and need <= set(state)):
        got = sorted(map(str, state)) if isinstance(state, dict) else _describe(state)
        raise CheckpointError(f"{path} is not a training state: expected the fields "
                              f"{', '.join(sorted(need))}, got {got}")
    return state


def _check_plain(value: object, name: str) -> None:
    """Raise TypeError unless `value` is what `torch.load(weights_only=True)` rebuilds without
    running code: tensors, str, int, float, bool, None, and lists, tuples and dicts of them."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(k, name)
            _check_plain(v, f"{name}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{name}[{i}]")
    elif not isinstance(value, (torch.Tensor, str, int, float, bool, type(None))):
        raise TypeError(f"{name} must hold plain values (str, int, float, bool, None, tensors, "
                        f"and lists, tuples and dicts of them), got {type(value).__name__}")


def _describe(value: object) -> str:
    """A short description of what a file held, for error messages."""
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))[:8]}"
    return type(value).__name__ if not isinstance(value, torch.Tensor) else (
        f"a tensor of shape {tuple(value.shape)}")


class Timer:
    """Wall-clock seconds of a `with` block, kept in `.seconds`."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start


class RandomBatches:
    """Endless random batches of a dataset, seeded: each batch is `collate` of the items at
    `batch` indices drawn uniformly with replacement from a generator of its own.

    Its position is that generator's state, so `state_dict()` and `load_state_dict()` let a
    resumed training run draw the batches an uninterrupted one would have.
    """

    def __init__(self, dataset, batch: int, seed: int, collate) -> None:
        if len(dataset) == 0:
            raise ValueError("the dataset holds no clips")
        self.dataset, self.batch, self.collate = dataset, batch, collate
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self) -> RandomBatches:
        return self

    def __next__(self):
        idx = torch.randint(len(self.dataset), (self.batch,), generator=self.gen).tolist()
        return self.collate([self.dataset[i] for i in idx])

    def state_dict(self) -> dict:
        return {"generator": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["generator"])


def clip_batches(dataset, batch: int, seed: int = 0) -> RandomBatches:
    """Endless random batches [batch, 3, T, H, W] of `dataset[i]["video"]`, seeded."""
    return RandomBatches(dataset, batch, seed, lambda items: torch.stack([it["video"]
                                                                           for it in items]))


def caption_batches(dataset, batch: int, seed: int = 0) -> RandomBatches:
    """Endless random (clips [batch, 3, T, H, W], prompt tokens [batch, L]) from a
    `MovingSprites` dataset, each clip captioned from its ground truth (`vdlite.text`)."""
    from vdlite.text import Tokenizer, caption

    tokenizer = Tokenizer()
    return RandomBatches(dataset, batch, seed, lambda items: (
        torch.stack([it["video"] for it in items]),
        tokenizer.encode([caption(it) for it in items], strict=True)))


VAE_KINDS = ("causal", "frame")
PAD_MODES = ("replicate", "zeros")


@dataclass
class VAEConfig:
    """Everything needed to rebuild a video VAE (`vdlite.vae`) and repeat its training.

    kind "causal": `CausalVAE` (×spatial_factor in space, ×4 in time, clips of 1 + 4k frames);
    "frame": `FrameVAE`, the per-frame 2D baseline with the same spatial factor and widths.
    The loss is mean squared error per pixel + kl_weight · KL per pixel (`CausalVAE.loss`).
    """

    kind: str = "causal"
    frames: int = 9
    size: int = 32
    spatial_factor: int = 4
    base_channels: int = 16
    latent_channels: int = 4
    pad_mode: str = "replicate"
    tied_upsample: bool = False  # the causal VAE's TimeUpsample halves start equal (vae.py)
    kl_weight: float = 1e-4
    batch: int = 4
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    steps: int = 300
    ema_decay: float = 0.99
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in VAE_KINDS:
            raise ValueError(f"kind must be one of {VAE_KINDS}, got {self.kind!r}")
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        for name in ("frames", "size", "base_channels", "latent_channels", "batch", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.spatial_factor not in (4, 8) or self.size % self.spatial_factor:
            raise ValueError(f"spatial_factor must be 4 or 8 and divide size, got "
                             f"spatial_factor={self.spatial_factor}, size={self.size}")
        if self.kind == "causal" and (self.frames - 1) % 4:
            from vdlite.vae import nearest_valid_frames

            below, above = nearest_valid_frames(self.frames, 4)
            raise ValueError(f"a causal VAE trains on clips of 1 + 4k frames; got frames="
                             f"{self.frames}: the nearest valid counts are {below} or {above}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 1):
            raise ValueError(f"lr must be a finite number in (0, 1], got {self.lr}")
        if not (math.isfinite(self.kl_weight) and self.kl_weight >= 0):
            raise ValueError(f"kl_weight must be a finite number >= 0, got {self.kl_weight}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, 2**63 - 2], got {self.seed}")


def build_vae(cfg: VAEConfig) -> torch.nn.Module:
    """The VAE a `VAEConfig` describes."""
    from vdlite.vae import CausalVAE, FrameVAE

    if cfg.kind == "frame":
        return FrameVAE(3, cfg.latent_channels, cfg.base_channels, cfg.spatial_factor)
    return CausalVAE(3, cfg.latent_channels, cfg.base_channels, cfg.spatial_factor,
                     temporal_factor=4, pad_mode=cfg.pad_mode, tied_upsample=cfg.tied_upsample)


def train_vae(cfg: VAEConfig, batches: Iterator[torch.Tensor], device: str | torch.device = "cpu",
              progress: bool = True, desc: str | None = None, out: str | Path | None = None,
              save_every: int = 0, resume: bool = False, info: dict | None = None,
              on_step: Callable[[int, torch.nn.Module], None] | None = None
              ) -> tuple[torch.nn.Module, list[float]]:
    """Train a VAE on clips from `batches` ([B, 3, cfg.frames, H, W] in [-1, 1]) on its
    β-VAE loss, with everything `train` has: Adam with warm-up and rate schedule, clipping, an
    EMA (returned), a progress bar, divergence checks, and with `out` resumable checkpoints
    (`train_state.pt`, and `model.pt` for `load_vae`); `on_step` as in `optimise`. It trains in
    float32: the bf16 option (`TrainConfig.precision`) is the denoiser's.
    Returns (ema_vae, per-step losses)."""

    def step_loss(run: _Run) -> torch.Tensor:
        clips = next(run.batches)
        clips = (clips[0] if isinstance(clips, (tuple, list)) else clips).to(device)
        loss, _ = run.model.loss(clips, cfg.kl_weight, generator=run.gen)
        return loss

    folder = None if out is None else Path(out)
    return optimise(cfg, build_vae, step_loss, batches, device, progress,
                    desc or f"train {cfg.kind} VAE", folder, save_every, resume, info, on_step)


def load_vae(path: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, VAEConfig]:
    """Rebuild a VAE saved by `train_vae(out=...)` (its model.pt), running no code from the
    file; errors as `load_checkpoint`."""
    return load_checkpoint(path, device, VAEConfig, build_vae)

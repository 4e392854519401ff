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
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from vdlite.diffusion import NoiseSchedule, ddim_sample, diffusion_loss
from vdlite.unet3d import UNet3D

MODES = ("video", "frame")
ARCHS = ("unet", "dit")
LR_SCHEDULES = ("constant", "cosine")


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

    def __post_init__(self) -> None:
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
        if self.steps < 1 or self.batch < 1 or self.frames < 1:
            raise ValueError("steps, batch and frames must be positive")
        self.channel_mults = tuple(self.channel_mults)


def build_model(cfg: TrainConfig) -> torch.nn.Module:
    """The denoiser for a config.

    The frame model is the same network without its temporal layers. For the U-Net that means
    2D (1,3,3) convolutions: on one-frame clips a 3x3x3 convolution with zero time padding
    only ever uses its centre taps, so the 2D network computes the same functions at a third
    of the cost. For the DiT it means no temporal attention (attention over one frame is the
    identity on its value, so it would only add an extra learned linear layer).
    """
    video = cfg.mode == "video"
    if cfg.arch == "dit":
        from vdlite.text import TextEncoder
        from vdlite.transformer import VideoDiT

        encoder = TextEncoder(cfg.text_dim, cfg.text_layers) if cfg.text else None
        return VideoDiT(3, cfg.patch_size, cfg.dim, cfg.depth, cfg.heads, temporal=video,
                        text_encoder=encoder, temporal_radius=cfg.temporal_radius,
                        fine_patch=cfg.fine_patch or None)
    return UNet3D(3, cfg.base_channels, cfg.channel_mults, cfg.num_res_blocks,
                  conv=cfg.conv if video else "spatial", patch_size=cfg.patch_size,
                  temporal_downsample=cfg.temporal_downsample and video)


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
) -> tuple[torch.nn.Module, list[float]]:
    """Train a denoiser on clips from `batches` (each [B, 3, T, H, W] in [-1, 1]).

    With `cfg.text`, each batch is a pair (clips, prompt token ids [B, L]) (`caption_batches`
    makes them), and each prompt is replaced by the empty one with probability
    `cfg.cond_drop_prob`, so the one model learns p(x | prompt) and p(x) for classifier-free
    guidance. A frame model sees each clip's prompt with every one of its frames.

    Adam with a short linear warm-up (then a constant rate, or with `lr_schedule="cosine"`
    a cosine decay towards 0 over the run: `lr_factor`), gradient clipping at 1, and an EMA of
    the weights (returned, since it samples better than the raw weights after short training).
    The EMA decay at step n is min(ema_decay, (1 + n) / (10 + n)), so in runs of a few hundred
    steps the warm-up term, not ema_decay, sets it.
    Returns (ema_model, per-step losses).
    """
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    schedule = NoiseSchedule(cfg.schedule, cfg.num_timesteps)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    losses: list[float] = []
    bar = tqdm(range(cfg.steps), desc=desc or f"train {cfg.mode}", disable=not progress)
    null = model.text_encoder.null_tokens(1)[0] if cfg.text else None  # [L]
    for step in bar:
        x0, cond = _unpack(next(batches), cfg.text)
        x0 = x0.to(device)
        if cfg.mode == "frame":
            cond = None if cond is None else cond.repeat_interleave(x0.shape[2], dim=0)
            x0 = as_frames(x0)
        cond = None if cond is None else cond.to(device)
        loss = diffusion_loss(model, x0, schedule, prediction=cfg.prediction, generator=gen,
                              cond=cond, cond_drop_prob=cfg.cond_drop_prob if cfg.text else 0.0,
                              null_cond=null)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{sum(losses[-10:]) / len(losses[-10:]):.4f}")
    return ema.eval(), losses


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
        shape = (num, 3, t, cfg.size, cfg.size)
    else:
        shape = (num * t, 3, 1, cfg.size, cfg.size)
    x = ddim_sample(model, shape, schedule, steps=steps, prediction=cfg.prediction,
                    generator=gen, device=device, progress=progress, cond=cond,
                    null_cond=null if guidance_scale != 1 else None,
                    guidance_scale=guidance_scale)
    return x if cfg.mode == "video" else from_frames(x, t)


def save_checkpoint(path: str | Path, model: torch.nn.Module, cfg: TrainConfig, **info) -> None:
    """Write the model weights and the config that rebuilds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": asdict(cfg), "state_dict": model.state_dict(), "info": info}, path)


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, TrainConfig]:
    """Rebuild a model saved by `save_checkpoint`; FileNotFoundError names a missing path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state = torch.load(path, map_location=device, weights_only=False)
    cfg = TrainConfig(**state["config"])
    model = build_model(cfg).to(device)
    model.load_state_dict(state["state_dict"])
    return model.eval(), cfg


class Timer:
    """Wall-clock seconds of a `with` block, kept in `.seconds`."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start


def clip_batches(dataset, batch: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """Endless random batches [batch, 3, T, H, W] of `dataset[i]["video"]`, seeded."""
    if len(dataset) == 0:
        raise ValueError("the dataset holds no clips")
    gen = torch.Generator().manual_seed(seed)
    while True:
        idx = torch.randint(len(dataset), (batch,), generator=gen).tolist()
        yield torch.stack([dataset[i]["video"] for i in idx])


def caption_batches(
    dataset, batch: int, seed: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless random (clips [batch, 3, T, H, W], prompt tokens [batch, L]) from a
    `MovingSprites` dataset, each clip captioned from its ground truth (`vdlite.text`)."""
    from vdlite.text import Tokenizer, caption

    if len(dataset) == 0:
        raise ValueError("the dataset holds no clips")
    tokenizer = Tokenizer()
    gen = torch.Generator().manual_seed(seed)
    while True:
        items = [dataset[i] for i in torch.randint(len(dataset), (batch,), generator=gen).tolist()]
        yield (torch.stack([it["video"] for it in items]),
               tokenizer.encode([caption(it) for it in items], strict=True))

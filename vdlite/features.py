"""Fréchet distances between sets of clips, measured with the course's own feature network.

A generative model is good when its clips are distributed like real ones. The Fréchet video
distance (FVD, Unterthiner et al. 2018) compares the two distributions through a feature
network: fit a Gaussian to the features of each set of clips and measure how far apart the
Gaussians are (`frechet_distance`). The standard FVD uses I3D, a video network trained on
Kinetics (human actions); nothing can be downloaded here, so the course trains its own small
network, `ClipFeatures`, on its own synthetic sprites. Its numbers are therefore **course
units**: they compare two models or two settings within the course, never with a published
FVD (or with features from another training of `ClipFeatures`).

Contents, in reading order:
- `frechet_distance(a, b)`: the distance between Gaussians fitted to two feature sets;
- `ClipFeatures`: a two-stream 3D conv net, frames and frame differences, pooled to D = 32;
- `train_clip_features`, `corrupt`: how it was trained (heads for shape, colour, velocity
  and frame order, so its features must see appearance *and* motion);
- `clip_features(video)`: features [B, D] from the bundled weights;
- `course_fvd(real, fake)`: FVD-style distance of whole clips;
- `temporal_fid(real, fake)`: Fréchet distance of the features of frame differences.

The bundled weights `vdlite/assets/clip_features.pt` were made by
    OMP_NUM_THREADS=1 python -m vdlite.features --out vdlite/assets/clip_features.pt
(3000 steps of 32 clips, seed 0: 158 s on one CPU thread; 61k parameters, a 250 kB file).
Held-out scores on 1024 clips of seed 1, each corrupted at random (chance in brackets):
shape 0.570 (0.25), colour 1.000 (0.125), frame order 0.982 (0.25: in order, shuffled,
frozen, flickering), velocity mean absolute error 0.289 px/frame (speeds are 0.5 to 2).
Small sprites (6 to 11 pixels) make circle, square and diamond hard to tell apart, hence
the shape score; the metrics lean on colour, motion and frame order, which it knows well.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from vdlite.checkpoint import atomic_save, check_fields, load_weights
from vdlite.vocabulary import COLOUR_NAMES, SHAPES

if TYPE_CHECKING:
    from vdlite.data import MovingSprites
from vdlite.metrics import _check_video

WEIGHTS = Path(__file__).parent / "assets" / "clip_features.pt"
COMMAND = "python -m vdlite.features --out vdlite/assets/clip_features.pt"
ORDERS = ("in order", "shuffled", "frozen", "flickering")
"""The classes of the frame-order head, indexed by `corrupt`'s `kinds`."""


# ---------------------------------------------------------------------------------------------
# The Fréchet distance
# ---------------------------------------------------------------------------------------------


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a [N, D] and b [M, D].

    With μ the mean and Σ the (unbiased, 1/(n-1)) covariance of each set's rows:
        d² = ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½),
    the squared 2-Wasserstein distance between N(μa, Σa) and N(μb, Σb) (FID and FVD report
    this d², not d). The square roots are of symmetric positive semi-definite matrices, taken
    by eigendecomposition S = V diag(λ) Vᵀ -> V diag(√max(λ, 0)) Vᵀ in float64; the trace of
    (Σa^½ Σb Σa^½)^½ is the sum of the square roots of its eigenvalues. 0 for identical sets
    (rounding below about 1e-12 of Tr Σ; the result is clamped at 0).

    A Gaussian fitted to n samples is noisy, so d² between two samples of one distribution is
    above 0, by about Tr Σ (1/N + 1/M) for the mean term alone; compare values measured with
    the same N, M and D. Needs N, M >= 2 (a covariance), finite values and the same D.
    """
    a, b = _features(a, "a"), _features(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same feature size D, got {a.shape[1]} "
                         f"and {b.shape[1]}")
    mu_a, mu_b = a.mean(dim=0), b.mean(dim=0)
    cov_a, cov_b = _covariance(a), _covariance(b)
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    d2 = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    return max(float(d2), 0.0)


def _features(x: object, name: str) -> Tensor:
    """`x` as float64 rows [N, D] on the CPU, or a one-line error naming `name`."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of features [N, D], got "
                        f"{type(x).__name__}")
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be features [N, D], got shape {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 rows (samples) for a covariance, got "
                         f"{x.shape[0]}")
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"{name} must be real numbers, got {x.dtype}")
    x = x.detach().to("cpu", torch.float64)
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite: it contains NaN or inf")
    return x


def _covariance(x: Tensor) -> Tensor:
    """Unbiased covariance [D, D] of rows x [N, D]: (x − μ)ᵀ (x − μ) / (N − 1)."""
    centred = x - x.mean(dim=0)
    return centred.T @ centred / (x.shape[0] - 1)


def _sqrt_psd(s: Tensor) -> Tensor:
    """The symmetric square root of a symmetric PSD matrix [D, D], by eigendecomposition."""
    lam, v = torch.linalg.eigh((s + s.T) / 2)
    return (v * lam.clamp(min=0).sqrt()) @ v.T


# ---------------------------------------------------------------------------------------------
# The feature network
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureConfig:
    """The feature network's shape: the channels of each per-frame stream, and D."""

    width: int = 16
    dim: int = 32

    def __post_init__(self) -> None:
        for name in ("width", "dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _per_frame(c_in: int, c_out: int) -> nn.Sequential:
    """Two 2D convs (3×3, stride 2 each) applied to every frame: [B, c_in, T, H, W] ->
    [B, c_out, T, ⌈H/4⌉, ⌈W/4⌉], as Conv3d with kernels 1×3×3 (no mixing across time)."""
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)), nn.ReLU(),
        nn.Conv3d(c_out, c_out, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)), nn.ReLU())


class ClipFeatures(nn.Module):
    """Two streams, like the two-stream I3D (frames and optical flow), with frame differences
    standing in for the flow:

        x [B, 3, T, H, W]               d = x[:, :, 1:] − x[:, :, :-1]   [B, 3, T−1, H, W]
        appearance(x) [B, c, T, h, w]   motion(d) [B, c, T−1, h, w]   (h, w = ⌈H/4⌉, ⌈W/4⌉)
        a' = mean of neighbouring frames of appearance(x)            [B, c, T−1, h, w]
        fuse(concat(a', motion(d))), two 3×3×3 convs -> [B, D, T−1, ⌈h/2⌉, ⌈w/2⌉]
        features = global mean over (time, rows, columns)            [B, D]

    with c = config.width (16) and D = config.dim (32), 61k parameters. Global pooling makes
    any T >= 2 and H, W >= 1 run (it was trained on T = 8, 32×32; T = 16, 64×64 runs too).
    `heads` map features to the training targets' logits and are not used for metrics;
    `motion_features(x)` gives one vector [B, T−1, c] per frame difference (`temporal_fid`).
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()) -> None:
        super().__init__()
        self.config = config
        c, d = config.width, config.dim
        self.appearance = _per_frame(3, c)
        self.motion = _per_frame(3, c)
        self.fuse = nn.Sequential(
            nn.Conv3d(2 * c, 2 * c, 3, stride=(1, 2, 2), padding=1), nn.ReLU(),
            nn.Conv3d(2 * c, d, 3, padding=1), nn.ReLU())
        self.heads = nn.ModuleDict({
            "shape": nn.Linear(d, len(SHAPES)),
            "colour": nn.Linear(d, len(COLOUR_NAMES)),
            "velocity": nn.Linear(d, 2),
            "order": nn.Linear(d, len(ORDERS)),
        })

    def forward(self, x: Tensor) -> Tensor:
        """Clips [B, 3, T, H, W] -> features [B, D]."""
        a = self.appearance(x)
        a = (a[:, :, 1:] + a[:, :, :-1]) / 2
        m = self.motion(x.diff(dim=2))
        return self.fuse(torch.cat([a, m], dim=1)).mean(dim=(2, 3, 4))

    def motion_features(self, x: Tensor) -> Tensor:
        """Clips [B, 3, T, H, W] -> one vector per frame difference [B, T−1, c]: the motion
        stream on x_{t+1} − x_t, averaged over rows and columns."""
        return self.motion(x.diff(dim=2)).mean(dim=(3, 4)).transpose(1, 2)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def corrupt(video: Tensor, kinds: Tensor, gen: torch.Generator) -> Tensor:
    """Clips [B, 3, T, H, W] changed according to `kinds` [B] (indices into ORDERS):
    0 in order (unchanged); 1 shuffled (a random permutation of the frames, never the
    identity); 2 frozen (one random frame repeated T times); 3 flickering, either Gaussian
    noise of std σ ~ U(0.01, 0.25) added to every pixel of every frame independently, or a
    brightness offset ~ N(0, s²), s ~ U(0.02, 0.3), added to each whole frame; clamped to
    [-1, 1]. Random draws come from `gen` (on the CPU)."""
    out = video.clone()
    t = video.shape[2]
    for i, kind in enumerate(kinds.tolist()):
        if kind == 1:
            perm = torch.randperm(t, generator=gen)
            if bool((perm == torch.arange(t)).all()):
                perm = perm.roll(1)
            out[i] = video[i][:, perm]
        elif kind == 2:
            k = int(torch.randint(t, (), generator=gen))
            out[i] = video[i][:, k : k + 1].expand_as(video[i])
        elif kind == 3:
            u = float(torch.rand((), generator=gen))
            if float(torch.rand((), generator=gen)) < 0.5:
                noise = (0.01 + 0.24 * u) * torch.randn(video[i].shape, generator=gen)
            else:
                noise = (0.02 + 0.28 * u) * torch.randn(1, t, 1, 1, generator=gen)
            out[i] = (video[i] + noise.to(video.device)).clamp(-1, 1)
    return out


def _sprite_batch(data: MovingSprites, indices: range, gen: torch.Generator):
    """A training batch: corrupted clips [B, 3, T, H, W], order classes [B], shape and colour
    ids [B], and the velocity to regress [B, 2] (of frame 0; 0 when frozen; NaN when
    shuffled, so not scored)."""
    items = data.batch(indices)
    kinds = torch.randint(len(ORDERS), (len(indices),), generator=gen)
    velocity = items["velocities"][:, 0, 0].clone()  # [B, 2], pixels per frame
    velocity[kinds == 1] = math.nan
    velocity[kinds == 2] = 0.0
    return (corrupt(items["video"], kinds, gen), kinds, items["shape_ids"][:, 0],
            items["colour_ids"][:, 0], velocity)


def _losses(model: ClipFeatures, batch) -> tuple[Tensor, dict[str, Tensor]]:
    """Summed training loss and each head's outputs for one batch from `_sprite_batch`."""
    video, kinds, shapes, colours, velocity = batch
    features = model(video)
    logits = {name: head(features) for name, head in model.heads.items()}
    scored = ~velocity.isnan().any(dim=1)
    loss = (F.cross_entropy(logits["shape"], shapes) + F.cross_entropy(logits["colour"], colours)
            + F.cross_entropy(logits["order"], kinds)
            + F.mse_loss(logits["velocity"][scored], velocity[scored]))
    return loss, logits


def train_clip_features(steps: int = 3000, seed: int = 0, batch: int = 32, lr: float = 2e-3,
                        config: FeatureConfig = FeatureConfig(), frames: int = 8, size: int = 32,
                        num_eval: int = 1024, progress: bool = True
                        ) -> tuple[ClipFeatures, dict[str, float]]:
    """Train `ClipFeatures` on fresh MovingSprites clips (1 sprite, mixed backgrounds), each
    corrupted at random (`corrupt`), with four heads on the pooled features: the sprite's
    shape and colour (cross-entropy), its frame-0 velocity (squared error, px/frame) and the
    frame order (cross-entropy). Adam with a cosine decay of `lr`, gradients clipped at 1.
    Returns the model and its held-out scores (`evaluate` on `num_eval` clips of seed + 1)."""
    from vdlite.data import MovingSprites  # the training data; the metric itself needs none

    if steps < 1 or batch < 1:
        raise ValueError(f"steps and batch must be >= 1, got {steps} and {batch}")
    with torch.random.fork_rng(devices=[]):  # seeded weights, the global generator untouched
        torch.manual_seed(seed)
        model = ClipFeatures(config)
    data = MovingSprites(steps * batch, frames=frames, size=size, sprites=1,
                         background="mixed", seed=seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    bar = tqdm(range(steps), desc="ClipFeatures", disable=not progress)
    for step in bar:
        loss, _ = _losses(model, _sprite_batch(data, range(step * batch, (step + 1) * batch),
                                               gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    held_out = MovingSprites(num_eval, frames=frames, size=size, sprites=1, background="mixed",
                             seed=seed + 1)
    return model.eval(), evaluate(model, held_out)


@torch.no_grad()
def evaluate(model: ClipFeatures, data: MovingSprites, batch: int = 256) -> dict[str, float]:
    """Held-out accuracy of the shape, colour and order heads, and the mean absolute error of
    the velocity head (px/frame, on the clips not shuffled), each clip corrupted at random."""
    gen = torch.Generator().manual_seed(12345)
    hits = {"shape": 0.0, "colour": 0.0, "order": 0.0}
    err, scored = 0.0, 0
    for start in range(0, len(data), batch):
        b = _sprite_batch(data, range(start, min(start + batch, len(data))), gen)
        _, logits = _losses(model, b)
        for name, target in zip(("order", "shape", "colour"), b[1:4], strict=True):
            hits[name] += float((logits[name].argmax(dim=1) == target).sum())
        keep = ~b[4].isnan().any(dim=1)
        err += float((logits["velocity"][keep] - b[4][keep]).abs().sum()) / 2
        scored += int(keep.sum())
    return {**{f"{k}_accuracy": v / len(data) for k, v in hits.items()},
            "velocity_error": err / max(scored, 1)}


# ---------------------------------------------------------------------------------------------
# The bundled network and the metrics
# ---------------------------------------------------------------------------------------------


@cache
def _bundled(path: Path, device: str) -> ClipFeatures:
    """The network saved at `path`, loaded once per (path, device), in eval mode."""
    if not path.is_file():
        raise FileNotFoundError(f"the ClipFeatures weights {path} are missing: regenerate them "
                                f"with `{COMMAND}` (a few minutes on one CPU thread)")
    what = "ClipFeatures weights ({'config', 'state', 'info'})"
    blob = load_weights(path, what)
    if not isinstance(blob, dict) or not {"config", "state"} <= set(blob):
        raise ValueError(f"{path} is not {what}")
    model = ClipFeatures(check_fields(FeatureConfig, blob["config"], path))
    model.load_state_dict(blob["state"])
    return model.to(device).eval().requires_grad_(False)


def feature_network(device: str = "cpu") -> ClipFeatures:
    """The bundled `ClipFeatures` (frozen, in eval mode) on `device`, loaded once."""
    return _bundled(WEIGHTS, str(device))


@torch.no_grad()
def clip_features(video: Tensor, batch: int = 64) -> Tensor:
    """Features [B, D] of clips [B, 3, T, H, W] in [-1, 1] (T >= 2): the bundled
    `ClipFeatures`' pooled vector, computed `batch` clips at a time on video's device."""
    _check_video(video, "video")
    model = feature_network(video.device)
    return torch.cat([model(chunk.float()) for chunk in video.split(batch)])


def _check_pair(real: Tensor, fake: Tensor) -> None:
    _check_video(real, "real")
    _check_video(fake, "fake")
    if real.shape[1:2] + real.shape[3:] != fake.shape[1:2] + fake.shape[3:]:
        raise ValueError(f"fake must have real's channels and frame size (C, H, W) = "
                         f"{(real.shape[1], *real.shape[3:])}, got "
                         f"{(fake.shape[1], *fake.shape[3:])}")


def course_fvd(real: Tensor, fake: Tensor) -> float:
    """The course's FVD: `frechet_distance` of `clip_features` of whole clips.

    real [N, 3, T, H, W] and fake [M, 3, T', H, W] in [-1, 1] (same channels and frame size;
    the numbers of clips and frames may differ). Lower is better; 0 for identical sets.

    How it differs from FVD (Unterthiner et al. 2018): FVD uses the logits of I3D, a large
    network trained on Kinetics videos of human actions, on clips resized to 224×224
    (typically 16 frames). Here the
    features are `ClipFeatures` (D = 32), trained on the course's sprites to tell shape,
    colour, velocity and frame order, so values are course units: compare them only with
    each other (same weights, same clip size, same numbers of clips), never with published
    FVDs. Use at least 64 clips per side (D = 32 parameters of the mean and 528 of the
    covariance are estimated from them). Measured on 10 pairs of real sets of sprites:
    two real draws score 100 ± 63 (range 27 to 207) with 64 clips per side, and the same
    clips frame-shuffled 1500 ± 230; the real-vs-real floor falls like 1/N (about 450 at 16
    clips, 240 at 32, 47 at 128, 23 at 256), so compare only values with equal N and M.
    """
    _check_pair(real, fake)
    return frechet_distance(clip_features(real), clip_features(fake))


@torch.no_grad()
def temporal_fid(real: Tensor, fake: Tensor, batch: int = 64) -> float:
    """The syllabus's temporal FID: `frechet_distance` of features of frame differences.

    Each clip [3, T, H, W] gives T − 1 samples, one per consecutive pair: the difference
    image x_{t+1} − x_t [3, H, W], mapped to a vector [c = 16] by the motion stream of the
    bundled `ClipFeatures` (two 3×3 convs with ReLU, averaged over rows and columns). The
    distance is between the Gaussians of the N(T − 1) real and M(T' − 1) fake vectors.

    Why that feature: the motion stream was trained on exactly such difference images
    (inputs it knows, unlike the appearance stream) to tell motion from shuffles, frozen
    frames and flicker, so its vector grows with how much and how far things change between
    frames: larger jumps (shuffled frames) and per-frame noise or brightness changes
    (flicker) move it away from the real clips', and a still pair maps to a fixed point.
    It sees one pair at a time, so it misses what needs longer context (a smooth path).
    Course units, like `course_fvd`; use at least 64 clips per side (then two real draws
    of 8 frames score 0.002 ± 0.0015, their frame-shuffled clips 0.39 ± 0.07).
    """
    _check_pair(real, fake)
    model = feature_network(real.device)
    feats = [torch.cat([model.motion_features(c.float()).flatten(0, 1) for c in v.split(batch)])
             for v in (real, fake.to(real.device))]
    return frechet_distance(*feats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vdlite.features",
                                     description="Train the course's clip feature network.")
    parser.add_argument("--out", required=True, help="where to save the weights (.pt)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model, scores = train_clip_features(steps=args.steps, seed=args.seed)
    seconds = time.perf_counter() - start
    for name, value in scores.items():
        print(f"held-out {name}: {value:.3f}")
    print(f"trained in {seconds:.0f} s on {torch.get_num_threads()} thread(s)")
    atomic_save({"config": asdict(model.config), "state": model.state_dict(),
                 "info": {"steps": args.steps, "seed": args.seed, "seconds": seconds,
                          **scores}}, args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()

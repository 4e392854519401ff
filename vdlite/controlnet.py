"""A video ControlNet: steer a frozen `UNet3D` with a per-frame depth stream.

ControlNet (Zhang, Rao & Agrawala 2023) keeps a pretrained denoiser F(x; Θ) frozen and trains
a copy of its encoder, F(·; Θ_c), that also sees the condition c. The copy talks to the frozen
network only through zero-initialised 1x1 convolutions Z:

    y = F(x; Θ)  with every skip s_i -> s_i + Z_i(f_i)  and the middle output m -> m + Z_m(f_m),
    f = F_enc(x + Z_c(E(c)); Θ_c)      (the copy's features; E encodes the condition)

At initialisation every Z is zero, so y = F(x; Θ) exactly and training starts from the base
model, not from noise. Zero weights do not block learning: ∂L/∂W_Z = Σ ∂L/∂out · f, which
is nonzero because the copy's features f are, so the first step moves Z; only then do
gradients reach the copy and the depth encoder behind it.

For video the condition is a depth clip [B, 1, T, H, W], one depth map per frame. The depth
encoder mixes neighbouring frames with temporal (3, 1, 1) convolutions centred on each frame,
so frame t's hint comes from depth frames t-1..t+1 of each layer: aligned in time with x.

Contents: `zero_conv`, `DepthEncoder`, `ControlNet3D` (the trainable copy), `ControlledUNet`
(base + control, base frozen), `depth_edges` and `edge_alignment` (how much of a clip's
image gradient lies on the depth map's discontinuities), `fit` and `sample_rooms` (a short
training loop and DDIM sampling for the lessons and the assignment).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from vdlite.conv3d import Conv3d
from vdlite.diffusion import (
    PREDICTIONS,
    NoiseSchedule,
    ddim_sample,
    diffusion_loss,
    timestep_embedding,
)
from vdlite.unet3d import ResBlock3d, UNet3D, zero_init


def zero_conv(channels: int) -> Conv3d:
    """A 1x1x1 convolution C -> C whose weight and bias are zero: it outputs exactly 0 until
    trained. x [B, C, T, H, W] -> [B, C, T, H, W]."""
    return zero_init(Conv3d(channels, channels, 1))


class DepthEncoder(nn.Module):
    """Depth clip [B, 1, T, H, W] -> hint [B, C, T, H, W] for the copy's stem output.

    Two (2+1)D stages, each a spatial (1, 3, 3) conv then a temporal (3, 1, 1) conv padded by
    one frame on each side (so output frame t reads depth frames t-2..t+2 in all, centred),
    SiLU after each, then a zero-initialised 1x1x1 conv to C channels (ControlNet's Z_c).
    """

    def __init__(self, channels: int, hidden: int = 16, in_channels: int = 1) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            Conv3d(in_channels, hidden, (1, 3, 3), padding=(0, 1, 1)), nn.SiLU(),
            Conv3d(hidden, hidden, (3, 1, 1), padding=(1, 0, 0)), nn.SiLU(),
            Conv3d(hidden, hidden, (1, 3, 3), padding=(0, 1, 1)), nn.SiLU(),
            Conv3d(hidden, hidden, (3, 1, 1), padding=(1, 0, 0)), nn.SiLU(),
        )
        self.out = zero_init(Conv3d(hidden, channels, 1))

    def forward(self, depth: Tensor) -> Tensor:
        return self.out(self.layers(depth))


class ControlNet3D(nn.Module):
    """The trainable copy of a `UNet3D`'s encoder (time embedding, stem, down path, middle),
    initialised from the base's weights (and trainable even when the base is already frozen),
    plus a `DepthEncoder` and one zero conv per skip connection and one for the middle block.

    forward(x [B, C, T, H, W], t [B], depth [B, 1, T, H, W]) -> (skip_residuals, mid_residual):
    a list with one tensor per skip of the base (its shape; the encoder's order) and a tensor
    of the middle block's output shape, all exactly zero at initialisation.
    """

    def __init__(self, base: UNet3D, hint_hidden: int = 16) -> None:
        super().__init__()
        if not isinstance(base, UNet3D):
            raise TypeError(f"ControlNet3D: base must be a vdlite UNet3D, got "
                            f"{type(base).__name__}")
        if base.patch_size != 1:
            raise ValueError("ControlNet3D: base.patch_size must be 1 (the depth hint joins "
                             f"the stem at full resolution), got {base.patch_size}")
        self.base_channels = base.base_channels
        for name in ("time_mlp", "stem", "down", "mid"):
            setattr(self, name, copy.deepcopy(getattr(base, name)).requires_grad_(True))
        self.hint = DepthEncoder(base.base_channels, hint_hidden)
        channels = [base.base_channels] + [_out_channels(layer) for layer in base.down]
        self.zero_convs = nn.ModuleList(zero_conv(c) for c in channels)
        self.mid_zero_conv = zero_conv(channels[-1])

    def forward(self, x: Tensor, t: Tensor, depth: Tensor) -> tuple[list[Tensor], Tensor]:
        emb = self.time_mlp(timestep_embedding(t, self.base_channels).to(x.dtype))  # [B, E]
        h = self.stem(x) + self.hint(depth)  # [B, base, T, H, W]
        features = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock3d) else layer(h)
            features.append(h)
        for layer in self.mid:
            h = layer(h, emb)
        skips = [z(f) for z, f in zip(self.zero_convs, features, strict=True)]
        return skips, self.mid_zero_conv(h)


def _out_channels(layer: nn.Module) -> int:
    """Channels out of a down-path layer: a ResBlock3d's last conv, a Downsample's conv."""
    convs = [m for m in layer.modules() if isinstance(m, Conv3d)]
    return convs[-1].out_channels if isinstance(layer, ResBlock3d) else layer.conv.out_channels


class ControlledUNet(nn.Module):
    """A frozen base `UNet3D` steered by a trainable `ControlNet3D`.

    forward(x, t, depth) = base(x, t, skip_residuals, mid_residual) with the residuals from
    control(x, t, depth); at initialisation it equals base(x, t) exactly. Every parameter of
    the base has requires_grad False, so an optimiser over the parameters that require grad
    trains the control branch alone. depth: [B, 1, T, H, W] with x's T, H, W.
    """

    def __init__(self, base: UNet3D, control: ControlNet3D) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.control = control

    def forward(self, x: Tensor, t: Tensor, depth: Tensor) -> Tensor:
        if depth.ndim != 5 or depth.shape[1] != 1 or depth.shape[2:] != x.shape[2:] or (
                depth.shape[0] != x.shape[0]):
            raise ValueError(f"depth must be [B, 1, T, H, W] = [{x.shape[0]}, 1, "
                             f"{', '.join(map(str, x.shape[2:]))}] to match x, got "
                             f"{list(depth.shape)}")
        skips, mid = self.control(x, t, depth)
        return self.base(x, t, skip_residuals=skips, mid_residual=mid)


# ---------------------------------------------------------------------------------------------
# Measuring structure: edges on depth discontinuities
# ---------------------------------------------------------------------------------------------


def depth_edges(depth: Tensor, threshold: float = 0.05) -> Tensor:
    """Pixels where the depth map is not locally planar: [B, 1, T, H, W] -> bool [B, T, H, W].

    Seen through a pinhole, a plane's disparity u = 1/d is an affine function of the pixel
    coordinates, so its second differences vanish. Pixel p = (row y, column x) is on an edge
    when, along the row or the column, the second difference of u is large relative to u:

        |u(y, x-1) - 2 u(y, x) + u(y, x+1)| > threshold · u(y, x)     (or the same in y).

    That marks the two pixels either side of every discontinuity of depth (a silhouette in
    front of a wall) and of its slope (a crease, where two walls or a wall and the floor
    meet), and no pixel inside a plane, however steeply it recedes. The first and last
    row and column have no second difference along that axis and are marked only by the other.
    """
    if depth.ndim != 5 or depth.shape[1] != 1:
        raise ValueError(f"depth must be [B, 1, T, H, W], got {list(depth.shape)}")
    if not bool((depth > 0).all()):
        raise ValueError("depth must be positive everywhere (a z-depth)")
    u = 1 / depth[:, 0]  # disparity [B, T, H, W]
    edges = torch.zeros_like(u, dtype=torch.bool)
    for dim in (-1, -2):  # along rows, then along columns
        n = u.shape[dim] - 2
        if n < 1:
            continue
        left, mid, right = (u.narrow(dim, k, n) for k in range(3))
        edges.narrow(dim, 1, n).logical_or_((left - 2 * mid + right).abs() > threshold * mid)
    return edges


def image_gradient(video: Tensor) -> Tensor:
    """Gradient magnitude per pixel, by forward differences: video [B, C, T, H, W] ->
    [B, T, H, W], g(p) = sqrt(Σ_c (I_c(p + x̂) - I_c(p))² + (I_c(p + ŷ) - I_c(p))²), a
    difference past the last column or row counting 0."""
    if video.ndim != 5:
        raise ValueError(f"video must be [B, C, T, H, W], got {list(video.shape)}")
    dx = F.pad(video.diff(dim=-1), (0, 1))  # [B, C, T, H, W]
    dy = F.pad(video.diff(dim=-2), (0, 0, 0, 1))
    return (dx.square() + dy.square()).sum(1).sqrt()


def edge_alignment(video: Tensor, depth: Tensor, threshold: float = 0.05,
                   radius: int = 0) -> Tensor:
    """The share of each clip's image-gradient magnitude that lies on the depth map's
    discontinuities, within `radius` pixels:

        A = Σ_{t,p} g(t, p) N(t, p) / Σ_{t,p} g(t, p),

    g the `image_gradient` of `video` [B, C, T, H, W] and N = `depth_edges(depth,
    threshold)` dilated by a (2·radius + 1)² square in each frame (`depth` [B, 1, T, H, W]).
    Returns [B] in [0, 1] (0 for a clip with no gradient at all). A video whose gradient is
    spread evenly scores the share of pixels in N, `edge_alignment_chance`; the ground truth
    of a room scores well above it, and so should a sample that keeps the room's structure.
    """
    if video.shape[0] != depth.shape[0] or video.shape[2:] != depth.shape[2:]:
        raise ValueError(f"video {list(video.shape)} and depth {list(depth.shape)} must "
                         "share B, T, H and W")
    near = near_edges(depth, threshold, radius).to(video.dtype)  # [B, T, H, W]
    g = image_gradient(video)
    total = g.sum(dim=(1, 2, 3))
    return torch.where(total > 0, (g * near).sum(dim=(1, 2, 3)) / total.clamp(min=1e-30), 0.0)


def near_edges(depth: Tensor, threshold: float = 0.05, radius: int = 0) -> Tensor:
    """`depth_edges` dilated by a (2·radius + 1)² square in each frame: bool [B, T, H, W]."""
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"radius must be an int >= 0, got {radius!r}")
    edges = depth_edges(depth, threshold).float()
    if radius:
        edges = F.max_pool3d(edges, (1, 2 * radius + 1, 2 * radius + 1), stride=1,
                             padding=(0, radius, radius))
    return edges > 0


def edge_alignment_chance(depth: Tensor, threshold: float = 0.05, radius: int = 0) -> Tensor:
    """The share of pixels near a depth discontinuity, [B]: what `edge_alignment` gives a
    video whose gradient is the same everywhere."""
    return near_edges(depth, threshold, radius).float().mean(dim=(1, 2, 3))


# ---------------------------------------------------------------------------------------------
# Training and sampling on rooms
# ---------------------------------------------------------------------------------------------


def fit(model: nn.Module, batches: Iterator[dict[str, Tensor]], steps: int,
        schedule: NoiseSchedule, lr: float = 2e-3, prediction: str = "v",
        conditioned: bool = True, seed: int = 0, min_t: int = 0,
        lrs: dict[str, float] | None = None) -> list[float]:
    """`steps` Adam steps on the diffusion loss of `model` over `batches` (dicts with "video"
    and "depth", e.g. `RoomClips.batch`), optimising only the parameters that require grad;
    the model is called model(x_t, t, depth_to_input(depth)) when `conditioned`, model(x_t, t)
    otherwise. The loss's timesteps and noise come from a generator seeded with `seed`.

    min_t > 0 draws the timesteps from U{min_t..N-1} only, the noisy half of the chain where a
    sample's layout is decided (what a control branch must learn first). lrs maps parameter-name
    prefixes (as in model.named_parameters(), e.g. "control.hint") to their own learning rate,
    the first prefix that matches winning; the others use lr. Returns the losses, one per step."""
    from vdlite.room import depth_to_input

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("fit: the model has no parameter that requires grad")
    if prediction not in PREDICTIONS:
        raise ValueError(f"fit: prediction must be one of {PREDICTIONS}, got {prediction!r}")
    if not 0 <= min_t < schedule.num_steps:
        raise ValueError(f"fit: min_t must be in [0, {schedule.num_steps - 1}], got {min_t!r}")
    groups: dict[float, list[Tensor]] = {}
    for name, p in named:
        rate = next((r for prefix, r in (lrs or {}).items() if name.startswith(prefix)), lr)
        groups.setdefault(rate, []).append(p)
    opt = torch.optim.Adam([{"params": ps, "lr": r} for r, ps in groups.items()], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(steps):
        batch = next(batches)
        cond = depth_to_input(batch["depth"]) if conditioned else None
        if min_t:
            loss = _loss_from(model, batch["video"], schedule, prediction, cond, min_t, gen)
        else:
            loss = diffusion_loss(model, batch["video"], schedule, prediction, cond=cond,
                                  generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def _loss_from(model: nn.Module, x0: Tensor, schedule: NoiseSchedule, prediction: str,
               cond: Tensor | None, min_t: int, gen: torch.Generator) -> Tensor:
    """`diffusion_loss` with t ~ U{min_t..N-1}: ‖model(x_t, t[, cond]) - target‖² averaged."""
    t = torch.randint(min_t, schedule.num_steps, x0.shape[:1], generator=gen)  # [B]
    noise = torch.randn(x0.shape, generator=gen, dtype=x0.dtype)
    x_t = schedule.q_sample(x0, t, noise)
    target = {"x0": x0, "eps": noise}.get(prediction)
    if target is None:
        target = schedule.v_target(x0, noise, t)
    pred = model(x_t, t) if cond is None else model(x_t, t, cond)
    return F.mse_loss(pred, target)


def sample_rooms(model: nn.Module, depth: Tensor | None, shape: tuple[int, ...],
                 schedule: NoiseSchedule, steps: int = 20, prediction: str = "v",
                 seed: int = 0) -> Tensor:
    """DDIM samples [*shape] from `model`, conditioned on `depth` [B, 1, T, H, W] (room units,
    passed through `depth_to_input`) or unconditioned when depth is None. The starting noise
    comes from `seed`, so base and controlled samples can start from the same noise."""
    from vdlite.room import depth_to_input

    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    cond = None if depth is None else depth_to_input(depth)
    return ddim_sample(model, shape, schedule, steps=steps, prediction=prediction, cond=cond,
                       x_T=x_T, progress=False)

"""Temporal-consistency figures for clips of one sprite on a plain background.

A video model should keep the background still, keep the sprite's colour and size, and move
it along a smooth path. Because the course's synthetic sprites are simple, each property can
be measured directly on a generated clip, without a learned feature network:

- `background_change`: mean |x_{t+1} - x_t| over pixels that are background in both frames;
- `colour_drift`: standard deviation over frames of the sprite's mean colour;
- `size_drift`: coefficient of variation (std / mean) over frames of the sprite's area;
- `path_residual`: RMS distance (pixels) between the sprite's centroids and the best
  constant-velocity path c(t) = c0 + v t fitted to them by least squares;
- `complete_path_residual`: the same, over the clips whose sprite is found in every frame;
- `missing_frames`: fraction of frames in which no sprite is found;
- `flicker`: mean |x_{t+1} - x_t| over all pixels and channels (VBench's "temporal
  flickering", there measured on static scenes). A real sprite clip is not static -- its
  sprite moves -- so its own value is the floor, not zero.
- `shape_error`: 1 - `shape_fidelity`, how far the sprite's silhouette is from the best of
  the four shapes drawn at its found place and size (0 for a crisp real sprite, up to a
  little pixelation);
- `background_off_palette`: mean distance of the background pixels' colours from the set of
  colours real backgrounds are drawn from (0 for every real clip, plain or textured).

Beside them, set against real clips: `background_colour_fd`, the Fréchet distance between
Gaussians fitted to the clips' background colours (one per clip), which sees a model that
paints every background the same grey, although each grey is a real background colour.

Beside them, the flow-based figures (`motion_figures`: `warping_error`, and the flow
consistency score `flow_consistency`: forward-backward disagreement and acceleration, from
`vdlite.flow`), and the distribution distances `temporal_fid` and `course_fvd` (defined in
`vdlite.features`, importable from here).

Lower is better for each. All take a batch of videos [B, 3, T, H, W] in [-1, 1] and return
the mean over clips. Segmentation: the background colour of a clip is the per-channel median
of all its pixels (the sprite covers a small part of the frame), and a pixel belongs to the
sprite when its colour is farther than `threshold` (Euclidean, in [-1, 1] units) from it.

Every public function checks its clips first, and rejects with a one-line
error naming the argument: a non-tensor (TypeError); an integer tensor such as uint8 frames
(convert to floats in [-1, 1] first); a shape other than [B, 3, T, H, W] with B >= 1, T >= 2
and H, W >= 1; NaN or inf anywhere; values outside [-1, 1] by more than TOLERANCE = 1e-3
(room for rounding, e.g. after a dtype conversion; samples of `vdlite.diffusion`'s samplers,
which clamp x̂_0 to [-1, 1], lie inside exactly). The others are ValueError.
"""

from __future__ import annotations

import itertools
import math

import torch

from vdlite.vocabulary import BACKGROUND_GREY, BACKGROUND_TINT, SHAPES, shape_mask

MIN_SPRITE_PIXELS = 3
TOLERANCE = 1e-3
"""How far clips may stray outside [-1, 1] and still be measured."""


def _check_video(video: object, name: str = "video") -> None:
    """Raise unless `video` is clips the figures can measure: a floating-point tensor
    [B, 3, T, H, W] with B >= 1, T >= 2, H, W >= 1, finite, in [-1, 1] to within TOLERANCE.
    TypeError for a non-tensor, ValueError otherwise; the one-line message names `name`."""
    if not isinstance(video, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of clips [B, 3, T, H, W], got "
                        f"{type(video).__name__}")
    if not video.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {video.dtype}: convert the clips "
                         "to floats in [-1, 1] first (8-bit levels v as v / 127.5 - 1)")
    if video.ndim != 5 or video.shape[1] != 3:
        raise ValueError(f"{name} must be clips [B, 3, T, H, W], got shape "
                         f"{tuple(video.shape)}")
    b, _, t, h, w = video.shape
    if b < 1:
        raise ValueError(f"{name} holds no clips (B=0)")
    if t < 2:
        raise ValueError(f"{name} must have at least 2 frames, got T={t}")
    if h < 1 or w < 1:
        raise ValueError(f"{name} has empty frames (H={h}, W={w})")
    finite = torch.isfinite(video).reshape(b, -1).all(dim=1)  # [B]
    if not finite.all():
        raise ValueError(f"{name} must be finite: {int((~finite).sum())} of {b} clips contain "
                         "NaN or inf")
    low, high = (float(v) for v in torch.aminmax(video))
    if low < -1 - TOLERANCE or high > 1 + TOLERANCE:
        raise ValueError(f"{name} must be in [-1, 1] (to within {TOLERANCE:g}), found values "
                         f"in [{low:.6g}, {high:.6g}]")


def sprite_masks(video: torch.Tensor, threshold: float = 0.4) -> torch.Tensor:
    """Foreground masks [B, T, H, W] (bool): pixels far from the clip's median colour."""
    _check_video(video)
    return _background_distance(video) > threshold


def _background_distance(video: torch.Tensor) -> torch.Tensor:
    """Distance [B, T, H, W] of each pixel's colour from its clip's per-channel median colour."""
    background = video.reshape(video.shape[0], 3, -1).median(dim=2).values  # [B, 3]
    return (video - background[:, :, None, None, None]).norm(dim=1)


def background_change(video: torch.Tensor, masks: torch.Tensor | None = None) -> float:
    """Mean absolute frame-to-frame change of background pixels (0 for a still background).

    mean over b, t, c and pixels p with p in background(t) and background(t+1) of
    |x[b, c, t+1, p] - x[b, c, t, p]|.
    """
    _check_video(video)
    masks = sprite_masks(video) if masks is None else masks
    still = ~masks[:, 1:] & ~masks[:, :-1]  # [B, T-1, H, W]
    diff = (video[:, :, 1:] - video[:, :, :-1]).abs().mean(dim=1)  # [B, T-1, H, W]
    return float((diff * still).sum() / still.sum().clamp(min=1))


def _sprite_stats(video: torch.Tensor, masks: torch.Tensor):
    """Per-frame sprite area [B, T], mean colour [B, T, 3], centroid [B, T, 2] and presence.

    Centroids are float64: sums of pixel indices, exact whatever the order of summation, so
    a clip's path figures do not depend on where in memory it lies."""
    _, _, _, h, w = video.shape
    m = masks.float()
    area = m.sum(dim=(2, 3))  # [B, T]
    present = area >= MIN_SPRITE_PIXELS
    denom = area.clamp(min=1)
    colour = torch.einsum("bcthw,bthw->btc", video, m) / denom[..., None]
    m64, denom64 = masks.double(), denom.double()
    ys = torch.arange(h, dtype=torch.float64, device=video.device)
    xs = torch.arange(w, dtype=torch.float64, device=video.device)
    cx = torch.einsum("bthw,w->bt", m64, xs) / denom64
    cy = torch.einsum("bthw,h->bt", m64, ys) / denom64
    return area, colour, torch.stack([cx, cy], dim=-1), present


def colour_drift(video: torch.Tensor, masks: torch.Tensor | None = None) -> float:
    """Std over frames of the sprite's mean colour, averaged over channels and clips."""
    _check_video(video)
    masks = sprite_masks(video) if masks is None else masks
    _, colour, _, present = _sprite_stats(video, masks)
    drifts = [colour[b, present[b]].std(dim=0).mean() for b in range(video.shape[0])
              if present[b].sum() >= 2]
    return float(torch.stack(drifts).mean()) if drifts else float("nan")


def size_drift(video: torch.Tensor, masks: torch.Tensor | None = None) -> float:
    """Coefficient of variation std(area_t) / mean(area_t) over frames, mean over clips."""
    _check_video(video)
    masks = sprite_masks(video) if masks is None else masks
    area, _, _, _ = _sprite_stats(video, masks)
    cv = area.std(dim=1) / area.mean(dim=1).clamp(min=1)
    return float(cv.mean())


def path_residual(video: torch.Tensor, masks: torch.Tensor | None = None) -> float:
    """RMS distance (pixels) from sprite centroids to their least-squares line c0 + v t.

    For each clip, with t over the frames where a sprite is found, solve
    min_{c0, v} sum_t |c_t - c0 - v t|^2 and report sqrt(mean residual^2).

    Frames without a sprite are left out (clips with fewer than 3 such frames entirely), so a
    model that loses its sprite in the frames where it would stray scores better than one
    that draws it there: read this figure beside `missing_frames` and
    `complete_path_residual`.
    """
    _check_video(video)
    masks = sprite_masks(video) if masks is None else masks
    _, _, centroid, present = _sprite_stats(video, masks)
    rms = []
    for b in range(video.shape[0]):
        t = torch.nonzero(present[b]).flatten().double()
        if t.numel() < 3:
            continue
        design = torch.stack([torch.ones_like(t), t], dim=1)  # [n, 2]
        c = centroid[b, present[b]]  # [n, 2]
        coef = torch.linalg.lstsq(design, c).solution  # [2, 2]
        rms.append((c - design @ coef).pow(2).sum(dim=1).mean().sqrt())
    return float(torch.stack(rms).mean()) if rms else float("nan")


def complete_path_residual(video: torch.Tensor, masks: torch.Tensor | None = None) -> float:
    """`path_residual` over the clips whose sprite is found in every frame (NaN if none).

    Leaving out whole clips rather than frames removes the reward for losing the sprite where
    it would stray, so models that miss different numbers of frames can be compared on it.
    """
    _check_video(video)
    masks = sprite_masks(video) if masks is None else masks
    complete = (masks.sum(dim=(2, 3)) >= MIN_SPRITE_PIXELS).all(dim=1)  # [B]
    if not complete.any():
        return float("nan")
    return path_residual(video[complete], masks[complete])


def missing_frames(video: torch.Tensor, masks: torch.Tensor | None = None) -> float:
    """Fraction of frames in which fewer than MIN_SPRITE_PIXELS sprite pixels are found."""
    _check_video(video)
    masks = sprite_masks(video) if masks is None else masks
    return float((masks.sum(dim=(2, 3)) < MIN_SPRITE_PIXELS).float().mean())


def flicker(video: torch.Tensor) -> float:
    """Mean absolute change between consecutive frames, over every pixel and channel.

    mean over b, c, t < T-1 and pixels p of |x[b, c, t+1, p] - x[b, c, t, p]|. Frames drawn
    without regard to each other change everywhere; a coherent clip changes only where
    something moves.
    """
    _check_video(video)
    return float((video[:, :, 1:] - video[:, :, :-1]).abs().mean())


UNIT_AREAS = {"circle": math.pi, "square": 2.0, "diamond": 2.0, "triangle": 3 * math.sqrt(3) / 4}
"""Area of each shape of `vdlite.vocabulary.shape_mask` with radius 1: a shape of radius r
covers UNIT_AREAS[shape] · r² (circle π r², square and diamond 2 r², triangle (3√3/4) r²)."""


def shape_fidelity(video: torch.Tensor, masks: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, list[str | None]]:
    """How well each clip's sprite matches one of the four shapes: (fidelity [B], names).

    The found sprite of frame t is soft: a pixel of the mask M_t weighs
    a(p) = dist(p) / max_{q in M_t} dist(q), its colour's distance from the clip's background
    colour relative to the sprite's farthest pixel (1 on every pixel of a crisp sprite of one
    colour; a ramp across a blurred edge), 0 off the mask. With its area A_t = Σ a and
    centroid c_t (a-weighted), draw each shape s at c_t with the radius whose ideal area is
    A_t, r = sqrt(A_t / UNIT_AREAS[s]), and take the soft IoU
    IoU_t(s) = Σ_p min(a, S_t) / Σ_p max(a, S_t), the IoU of M_t and S_t for a crisp sprite.
    The clip's shape is the s with the largest mean IoU over the frames where a sprite is
    found, and its fidelity is that mean: 1 for a silhouette drawn exactly as the data draws
    it (a real sprite loses a little to pixelation: its centroid and area are those of its
    pixels), lower for a sprite that changes shape from frame to frame, is soft-edged or is
    no shape. NaN and None for a clip with no sprite in any frame.

    Why soft: a binary silhouette of a blurred sprite is rounded into a disc, which matches
    a circle: on real clips of 32 pixels, Gaussian blurs of σ = 0.7 to 1.2 pixels all cost
    about 0.05 of binary IoU, while the soft IoU keeps falling with σ. Tiny sprites (under
    about 6 pixels across) are too few pixels for circle, square and diamond to differ, and
    a sprite cut by the frame's edge or another sprite scores lower: the figure assumes one
    whole sprite, as the demo's clips have.
    """
    _check_video(video)
    masks = sprite_masks(video) if masks is None else masks
    b, _, t, h, w = video.shape
    present = masks.sum(dim=(2, 3)) >= MIN_SPRITE_PIXELS  # [B, T]
    dist = _background_distance(video).double() * masks  # [B, T, H, W], 0 off the sprite
    soft = (dist / dist.amax(dim=(2, 3), keepdim=True).clamp(min=1e-12)).flatten(0, 1)
    area = soft.sum(dim=(1, 2)).clamp(min=1e-12)  # [B·T]
    ys = torch.arange(h, dtype=torch.float64, device=video.device)
    xs = torch.arange(w, dtype=torch.float64, device=video.device)
    centre = torch.stack([torch.einsum("nhw,w->n", soft, xs),
                          torch.einsum("nhw,h->n", soft, ys)], dim=1) / area[:, None]  # [B·T, 2]
    ious = []
    for shape in SHAPES:
        radius = (area / UNIT_AREAS[shape]).sqrt()  # [B·T]
        drawn = shape_mask(shape, centre, radius, max(h, w))[:, :h, :w].double()  # [B·T, H, W]
        overlap = torch.minimum(drawn, soft).sum(dim=(1, 2))
        ious.append(overlap / torch.maximum(drawn, soft).sum(dim=(1, 2)).clamp(min=1e-12))
    iou = torch.stack(ious, dim=1).reshape(b, t, len(SHAPES))  # [B, T, shapes]
    seen = present.double()[..., None]  # [B, T, 1]
    mean = (iou * seen).sum(dim=1) / seen.sum(dim=1)  # [B, shapes], NaN where none seen
    fidelity, best = mean.max(dim=1)
    names = [SHAPES[k] if present[i].any() else None for i, k in enumerate(best.tolist())]
    return fidelity.cpu(), names


def shape_error(video: torch.Tensor, masks: torch.Tensor | None = None) -> float:
    """1 - `shape_fidelity`, the mean over the clips with a sprite (NaN if none has one): 0 for
    silhouettes drawn as the data draws them, larger as they stray from every shape."""
    fidelity, _ = shape_fidelity(video, masks)
    return float(1 - fidelity.nanmean())


def distance_to_background_palette(colours: torch.Tensor) -> torch.Tensor:
    """Euclidean distance [...] of colours [..., 3] from the colours of real backgrounds,

        P = {x in R³ : some grey g in BACKGROUND_GREY with |x_c - g| <= τ for every channel c},

    τ = BACKGROUND_TINT: the union of the cubes of side 2τ centred on the greys (g, g, g), a
    convex set holding every plain and every textured background pixel (distance 0).

    The distance from x to the cube around g is d(g) = ‖(|x - g·1| - τ)₊‖, convex in g, so its
    minimum over the interval is d at the clamp of its unconstrained minimiser g*. Where the
    channels A lie above the cube and B below it, d(g)² = Σ_A (x_c - τ - g)² + Σ_B (x_c + τ - g)²,
    so g* is the mean of x_c - τ (c in A) and x_c + τ (c in B); where no channel lies outside,
    any g with max_c x_c - τ <= g <= min_c x_c + τ gives 0, e.g. the midrange. Trying all 27
    assignments of the channels (above, inside, below) and keeping the smallest d finds the
    minimum exactly. Float64.
    """
    x = colours.double()
    if x.shape[-1:] != (3,):
        raise ValueError(f"colours must be [..., 3], got shape {tuple(colours.shape)}")
    lo, hi = BACKGROUND_GREY
    tau = BACKGROUND_TINT
    midrange = (x.amax(dim=-1) + x.amin(dim=-1)) / 2
    best = torch.full(x.shape[:-1], math.inf, dtype=torch.float64, device=x.device)
    for side in itertools.product((-1.0, 0.0, 1.0), repeat=3):  # +1 above, -1 below the cube
        s = torch.tensor(side, dtype=torch.float64, device=x.device)
        n = int(s.abs().sum())
        grey = ((x - tau * s) * s.abs()).sum(dim=-1) / n if n else midrange
        grey = grey.clamp(lo, hi)
        d = ((x - grey[..., None]).abs() - tau).clamp(min=0).norm(dim=-1)
        best = torch.minimum(best, d)
    return best


def background_off_palette(video: torch.Tensor, masks: torch.Tensor | None = None) -> float:
    """How far a clip's background lies from the real backgrounds' colours: for each clip the
    mean over its background pixels (every frame) of `distance_to_background_palette`, then
    the mean over clips. 0 for real clips, plain or textured; a background painted lighter,
    more saturated or off-grey scores by how far. Blind to a model that paints every
    background the same real grey: see `background_colour_fd`."""
    _check_video(video)
    masks = sprite_masks(video) if masks is None else masks
    d = distance_to_background_palette(video.movedim(1, -1))  # [B, T, H, W]
    background = (~masks).double()
    per_clip = (d * background).sum(dim=(1, 2, 3)) / background.sum(dim=(1, 2, 3))
    return float(per_clip.mean())


def background_colours(video: torch.Tensor, threshold: float = 0.4) -> torch.Tensor:
    """Each clip's background colour [B, 3]: the per-channel median over its background pixels
    (`sprite_masks`' complement, every frame)."""
    _check_video(video)
    background = ~sprite_masks(video, threshold)  # [B, T, H, W]
    pixels = video.movedim(1, -1)  # [B, T, H, W, 3]
    return torch.stack([pixels[i][background[i]].median(dim=0).values
                        if background[i].any() else video[i].reshape(3, -1).median(dim=1).values
                        for i in range(video.shape[0])]).cpu()


def background_colour_fd(real: torch.Tensor, fake: torch.Tensor, threshold: float = 0.4) -> float:
    """Fréchet distance (`vdlite.features.frechet_distance`, d²) between Gaussians fitted to the
    background colours (`background_colours`, one [3] per clip) of real and generated clips.

    Sees what the per-clip `background_off_palette` cannot: a model whose backgrounds are all
    one grey scores at least the real colours' total variance Tr Σ (about 0.05: greys uniform
    over a range of 0.4, tints over 0.2 per channel), while two sets of real clips differ by
    about Tr Σ (1/N + 1/M) from sampling alone. Needs at least 2 clips in each set."""
    from vdlite.features import frechet_distance

    _check_video(real, "real")
    _check_video(fake, "fake")
    return frechet_distance(background_colours(real, threshold),
                            background_colours(fake, threshold))


def _pairs(video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Consecutive frames as two batches of frames [B·(T-1), C, H, W]: (x_{t+1}, x_t)."""
    later = video[:, :, 1:].transpose(1, 2).flatten(0, 1)
    earlier = video[:, :, :-1].transpose(1, 2).flatten(0, 1)
    return later, earlier


def _per_clip(values: torch.Tensor, kept: torch.Tensor, b: int) -> torch.Tensor:
    """Per-pixel values [B·P, H, W] and a mask of the pixels kept -> for each of the b clips
    the mean over its P pairs of the mean over kept pixels [B] (a pair with none is skipped)."""
    kept = kept.float()
    per_pair = (values * kept).sum(dim=(1, 2)) / kept.sum(dim=(1, 2))
    return per_pair.reshape(b, -1).nanmean(dim=1)


def motion_figures(video: torch.Tensor) -> dict[str, torch.Tensor]:
    """The flow-based figures of each clip, {name: [B]} (lower is better; NaN where a clip has
    none), from one forward and one backward flow per transition:

    - `warping_error`: flow-compensated flicker (Lai et al. 2018). With g the flow from
      x_{t+1} back to x_t (x_{t+1}(p) ≈ x_t(p + g(p))), the mean over channels and the pixels
      that pass the forward–backward check (`vdlite.flow.occlusion`: occluded, disoccluded and
      out-of-frame pixels left out) of (x_{t+1} - warp(x_t, g))², averaged over transitions.
      Unlike `flicker`, a sprite that moves smoothly costs nothing (the warp follows it) and a
      background that shimmers costs as much as before. Blind to a clip that loses its sprite
      or stands still (both score 0: pair it with `missing_frames`), and it forgives any
      change the flow can explain as motion.
    - `forward_backward`: |f(p) + g(p + f(p))| in pixels, f the flow x_t -> x_{t+1}: 0 when
      there and back returns to p; over pixels whose f stays in the frame.
    - `acceleration`: |f_{t+1}(p + f_t(p)) - f_t(p)| in pixels per frame², the change of
      velocity along each pixel's path, over pixels that pass the check in both transitions.
      Constant-velocity motion and a still clip score 0; a bounce scores in its frames. NaN
      for clips of 2 frames.
    Flows come from the course's Horn–Schunck solver (`vdlite.flow.estimate_flow`), so the
    values compare only within the course.
    """
    from vdlite.flow import estimate_flow, inside, occlusion, warp

    _check_video(video)
    video = video.detach().float()
    b, _, t, h, w = video.shape
    later, earlier = _pairs(video)
    with torch.no_grad():
        f = estimate_flow(earlier, later)  # x_t -> x_{t+1}, [B·(T-1), 2, H, W]
        g = estimate_flow(later, earlier)  # x_{t+1} -> x_t
        error = (later - warp(earlier, g)).square().mean(dim=1)  # [B·(T-1), H, W]
        out = {"warping_error": _per_clip(error, ~occlusion(g, f), b),
               "forward_backward": _per_clip((f + warp(g, f)).norm(dim=1), inside(f), b)}
        if t >= 3:
            visible = (~occlusion(f, g)).reshape(b, t - 1, 1, h, w).float()
            f5 = f.reshape(b, t - 1, 2, h, w)
            now, nxt = f5[:, :-1].flatten(0, 1), f5[:, 1:].flatten(0, 1)  # f_t, f_{t+1}
            seen_next = warp(visible[:, 1:].flatten(0, 1), now)[:, 0] >= 0.5
            seen = visible[:, :-1].flatten(0, 1)[:, 0].bool() & seen_next
            out["acceleration"] = _per_clip((warp(nxt, now) - now).norm(dim=1), seen, b)
        else:
            out["acceleration"] = torch.full((b,), float("nan"))
    return {k: v.cpu() for k, v in out.items()}


def warping_error(video: torch.Tensor) -> float:
    """The mean over clips of `motion_figures`' warping error (flow-compensated flicker)."""
    return float(motion_figures(video)["warping_error"].nanmean())


def flow_consistency(video: torch.Tensor) -> dict[str, float]:
    """The flow consistency score: `forward_backward` and `acceleration` of `motion_figures`,
    means over clips."""
    figures = motion_figures(video)
    return {k: float(figures[k].nanmean()) for k in ("forward_backward", "acceleration")}


def motion_report(video: torch.Tensor) -> dict[str, float]:
    """All of `motion_figures` for a batch of clips, means over clips; lower is better."""
    return {k: float(v.nanmean()) for k, v in motion_figures(video).items()}


def consistency_report(video: torch.Tensor, threshold: float = 0.4) -> dict[str, float]:
    """All the figures above for a batch of clips [B, 3, T, H, W]; lower is better."""
    _check_video(video)
    video = video.detach().float().cpu()
    masks = sprite_masks(video, threshold)
    return {
        "background_change": background_change(video, masks),
        "colour_drift": colour_drift(video, masks),
        "size_drift": size_drift(video, masks),
        "path_residual": path_residual(video, masks),
        "complete_path_residual": complete_path_residual(video, masks),
        "missing_frames": missing_frames(video, masks),
        "flicker": flicker(video),
        "shape_error": shape_error(video, masks),
        "background_off_palette": background_off_palette(video, masks),
    }


def per_clip_figures(video: torch.Tensor, threshold: float = 0.4,
                     motion: bool = False) -> dict[str, torch.Tensor]:
    """Every figure of `consistency_report` for each clip on its own: {name: [B]}, NaN where a
    clip has none (too few frames with a sprite). Their means over clips are the report's
    figures, except `background_change`, which the report pools over the pixels of all clips.
    `motion=True` adds the flow-based figures of `motion_figures`."""
    _check_video(video)
    reports = [consistency_report(video[i : i + 1], threshold)
               for i in range(video.shape[0])]
    figures = {name: torch.tensor([r[name] for r in reports]) for name in reports[0]}
    return {**figures, **motion_figures(video)} if motion else figures


def compare_clips(a: torch.Tensor, b: torch.Tensor, n_boot: int = 2000, level: float = 0.9,
                  seed: int = 0, threshold: float = 0.4,
                  motion: bool = False) -> dict[str, dict[str, float]]:
    """Is `a` more temporally consistent than `b`, beyond the luck of which clips were drawn?

    a, b: ``[N, 3, T, H, W]`` clips of two models sampled from the same noise (clip i of each
    from the same starting noise, as `vdlite demo` draws them), so compared in pairs. For each
    figure, over the pairs where both clips have it: the means of a and b, d = mean(a - b),
    and a ``level`` bootstrap interval of d (the pairs resampled with replacement ``n_boot``
    times). An interval wholly below 0 says a is better (lower) beyond clip-to-clip noise; one
    that holds 0 says these clips cannot tell. Only the draw of clips is resampled: how much
    the figures move between training runs (seeds) is not in the interval. Pairs that agree to
    1e-6 (relative, plus 1e-7 absolute) count as equal: two evaluations of the same clip can
    differ by about 1e-8 (float32 sums of colours). `motion=True` compares the flow-based
    figures of `motion_figures` too (the warping error above all).
    Returns {figure: {"a", "b", "diff", "low", "high", "pairs"}}.
    """
    _check_video(a, "a")
    _check_video(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must be clips [N, 3, T, H, W] of one shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if not 0 < level < 1 or n_boot < 1:
        raise ValueError(f"need 0 < level < 1 and n_boot >= 1, got level={level}, "
                         f"n_boot={n_boot}")
    fa, fb = (per_clip_figures(x, threshold, motion) for x in (a, b))
    return paired_intervals(fa, fb, n_boot, level, seed)


def paired_intervals(fa: dict[str, torch.Tensor], fb: dict[str, torch.Tensor], n_boot: int = 2000,
                     level: float = 0.9, seed: int = 0) -> dict[str, dict[str, float]]:
    """`compare_clips` on figures already measured: fa, fb are `per_clip_figures` of two sets
    of clips paired by index ({name: [N]} each); every name of fa is compared."""
    missing = [name for name in fa if name not in fb or fb[name].shape != fa[name].shape]
    if missing:
        raise ValueError(f"fb must hold every figure of fa, one value per clip of the same "
                         f"clips; it lacks or mismatches {missing}")
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name in fa:
        both = ~(fa[name].isnan() | fb[name].isnan())
        va, vb = fa[name][both].double(), fb[name][both].double()
        tie = (va - vb).abs() <= 1e-6 * (va.abs() + vb.abs()) + 1e-7
        d = torch.where(tie, 0.0, va - vb)
        n = int(both.sum())
        if n == 0:
            out[name] = dict(a=float("nan"), b=float("nan"), diff=float("nan"),
                             low=float("nan"), high=float("nan"), pairs=0)
            continue
        boots = d[torch.randint(0, n, (n_boot, n), generator=gen)].mean(dim=1)
        low, high = torch.quantile(boots, torch.tensor([(1 - level) / 2, (1 + level) / 2],
                                                       dtype=torch.float64)).tolist()
        out[name] = dict(a=float(va.mean()), b=float(vb.mean()), diff=float(d.mean()),
                         low=low, high=high, pairs=n)
    return out


def describe_sprites(video: torch.Tensor, threshold: float = 0.4) -> list[dict[str, str | None]]:
    """Read back what a clip of one sprite shows: its colour name and its direction of motion.

    For each clip [3, T, H, W] of the batch: colour = the palette colour nearest (Euclidean, in
    [-1, 1]) to the sprite's mean colour over the frames where it is found; direction =
    `vdlite.text.path_direction` of its centroids over those frames. None where the sprite is
    found in fewer than 2 frames. Used to score whether samples follow their prompts.
    """
    _check_video(video)
    from vdlite.vocabulary import COLOUR_NAMES, PALETTE, path_direction

    video = video.detach().float().cpu()
    masks = sprite_masks(video, threshold)
    area, colour, centroid, present = _sprite_stats(video, masks)
    palette = torch.tensor(list(PALETTE.values()))  # [colours, 3]
    out: list[dict[str, str | None]] = []
    for b in range(video.shape[0]):
        seen = present[b]
        if seen.sum() < 2:
            out.append({"colour": None, "direction": None})
            continue
        weights = area[b, seen] / area[b, seen].sum()
        mean = (colour[b, seen] * weights[:, None]).sum(dim=0)  # [3], area-weighted
        nearest = int((palette - mean).norm(dim=1).argmin())
        out.append({"colour": COLOUR_NAMES[nearest],
                    "direction": path_direction(centroid[b, seen])})
    return out


def prompt_agreement(video: torch.Tensor, colours: list[str], directions: list[str]) -> dict:
    """Fraction of clips whose read-back colour and direction match the asked-for ones.

    video [B, 3, T, H, W]; colours and directions: B names each. A clip whose sprite cannot be
    found counts as a miss. Chance is 1/8 for the colour and 1/4 for the direction.
    """
    _check_video(video)
    if not len(colours) == len(directions) == video.shape[0]:
        raise ValueError(f"need one colour and one direction per clip ({video.shape[0]}), got "
                         f"{len(colours)} and {len(directions)}")
    seen = describe_sprites(video)
    n = video.shape[0]
    return {
        "colour": sum(s["colour"] == c for s, c in zip(seen, colours, strict=True)) / n,
        "direction": sum(s["direction"] == d for s, d in zip(seen, directions, strict=True)) / n,
    }


def _check_reconstruction(video: torch.Tensor, recon: object) -> torch.Tensor:
    """`recon` as clips comparable with `video`: same shape, float, finite, clamped to [-1, 1]
    (a decoder's output is unbounded; pixels are saved clamped)."""
    _check_video(video, "video")
    if not isinstance(recon, torch.Tensor) or not recon.is_floating_point():
        raise TypeError(f"recon must be a float tensor of clips, got {type(recon).__name__}"
                        + (f" of {recon.dtype}" if isinstance(recon, torch.Tensor) else ""))
    if recon.shape != video.shape:
        raise ValueError(f"recon must have video's shape {tuple(video.shape)}, got "
                         f"{tuple(recon.shape)}")
    if not torch.isfinite(recon).all():
        raise ValueError("recon must be finite")
    return recon.clamp(-1, 1)


def psnr(video: torch.Tensor, recon: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of a reconstruction, pixels in [-1, 1] (peak-to-peak 2):
    10 · log10(2² / mean (recon - video)²), over every clip, channel, frame and pixel."""
    recon = _check_reconstruction(video, recon)
    mse = (recon.double() - video.double()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(4 / mse)


def error_flicker(video: torch.Tensor, recon: torch.Tensor,
                  per_transition: bool = False) -> float | torch.Tensor:
    """How much a reconstruction's error changes from frame to frame: the seams a VAE adds.

    With e = recon - video [B, 3, T, H, W], the mean over clips, channels and pixels of
    |e[t+1] - e[t]|: 0 when every frame carries the same error (a still error is invisible in
    motion), about 2σ/√π for independent Gaussian errors of std σ in every frame (what a
    per-frame VAE tends to). `per_transition=True` gives it per transition t -> t+1 ([T-1]),
    to show where seams sit (e.g. at the boundaries of a causal VAE's groups of frames).
    """
    recon = _check_reconstruction(video, recon)
    change = (recon.double() - video.double()).diff(dim=2).abs()  # [B, 3, T-1, H, W]
    if per_transition:
        return change.mean(dim=(0, 1, 3, 4)).float()
    return change.mean().item()


def still_flicker(video: torch.Tensor, recon: torch.Tensor, per_transition: bool = False,
                  margin: int = 0) -> float | torch.Tensor:
    """How much a reconstruction changes where the clip does not: flicker the VAE made.

    Over the transitions t -> t+1 and pixels p at which the real clip is unchanged (all three
    channels of video[t+1, p] equal video[t, p]), the mean over channels of
    |recon[t+1, p] - recon[t, p]|. There the true motion is zero, so this is the warping error
    with the exact flow, where the exact flow is known without estimating it; the real clip
    scores 0, and so does any reconstruction whose still parts stay still, however large its
    error. Independent Gaussian errors of std σ per frame give about 2σ/√π.
    `per_transition=True` gives it per transition ([T-1]; NaN where nothing is still).
    `margin=m` counts only the pixels with no changing pixel within m pixels (in rows and
    columns) in that transition: far from a moving object, where a blurred reconstruction's
    halo around the object cannot reach, so what is left is the background shimmering.
    """
    recon = _check_reconstruction(video, recon)
    still = (video.diff(dim=2) == 0).all(dim=1, keepdim=True)  # [B, 1, T-1, H, W]
    if not isinstance(margin, int) or isinstance(margin, bool) or margin < 0:
        raise ValueError(f"margin must be an int >= 0 (pixels), got {margin!r}")
    if margin:  # a pixel is still only if nothing within `margin` of it changes
        moving = (~still).flatten(0, 2).unsqueeze(1).float()  # [B·(T-1), 1, H, W]
        near = torch.nn.functional.max_pool2d(moving, 2 * margin + 1, stride=1, padding=margin)
        still = (near == 0).reshape(still.shape)
    if not still.any():
        raise ValueError(f"video has no pixel that stays the same between two frames (margin "
                         f"{margin}): still_flicker needs still parts (e.g. a static background)")
    change = recon.double().diff(dim=2).abs() * still  # [B, 3, T-1, H, W], 0 where moving
    if per_transition:
        counts = 3 * still.sum(dim=(0, 1, 3, 4)).double()
        return (change.sum(dim=(0, 1, 3, 4)) / counts).float()
    return (change.sum() / (3 * still.sum())).item()


def __getattr__(name: str):
    """`temporal_fid`, `course_fvd` and `frechet_distance` live in `vdlite.features`, beside
    the feature network they need; they are importable from here too, loaded on first use."""
    if name in ("temporal_fid", "course_fvd", "frechet_distance"):
        from vdlite import features

        return getattr(features, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Temporal losses on a video model's predicted clean clip, and the study that compares them.

A denoiser trained on L_noise alone learns each clip's frames jointly, but nothing in the loss
says that consecutive frames must show the same things moved. Two extra terms do, each on the
model's prediction x̂_0 [B, C, T, H, W] of the clean clip (in diffusion notation x_t is the
*noisy* sample, so the syllabus's "Flow(x̂_t)" is read as the flow of x̂_0's frame t):

- `flow_change_loss`, the syllabus's term as written, λ‖Flow(x̂_t) − Flow(x̂_{t−1})‖²: the
  flows F_t = Flow(x̂[t] → x̂[t+1]) of consecutive pairs should not change from one pair to the
  next at the same pixel. That is an acceleration prior: constant velocity costs nothing, and a
  real change of motion (a sprite bouncing off a wall) costs as much as a wrong one.
  The gradient runs through the Horn–Schunck solver (`vdlite.flow.estimate_flow`).
- `warp_loss`, the standard one (Ruder et al. 2016, Lai et al. 2018): flow and occlusions are
  measured on the *real* clean clip x_0, with no gradient, and the predicted frame t+1 must
  match the predicted frame t carried along the real motion, where that motion is visible.
  It asks for the data's own motion, bounces included, not for smooth motion.

The study (lessons/measured/temporal_loss):

    python -m vdlite.temporal_loss --out DIR --seeds 0 1 2 [--steps N] [--device cuda]

trains the CPU U-Net preset on one sprite over textured backgrounds with neither term, with
each, for every seed, and writes DIR/results.json, results.md, figures.png and samples.gif.
`--knobs` measures the flow solver's cost knobs (solver_knobs.json), `--pilot` runs the pilot
that chose each λ (pilot.json), `--gradients` the gradient norm of each term
(gradient_norms.json), and `--report` rewrites results.md and figures.png from results.json.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vdlite.flow import check_floats, estimate_flow, occlusion, warp

# The solver's cost knobs inside the losses, measured by `solver_knobs` on 32 held-out clips
# (lessons/measured/temporal_loss/solver_knobs.json; the rule is in its docstring), against the
# full solver (20 Jacobi iterations after each of 3 warps per level):
# - flow_change, differentiated through the solver: 10 iterations, 3 warps. Its per-clip values
#   correlate with the full solver's at 0.89-0.98 (noise std 0 to 0.1 on the clips) with means
#   within 12%, at about half the cost; fewer warps underestimate the flows (means 45-70%).
# - warp, the real clip's flows without gradient: 5 iterations, 1 warp. Its masked warping
#   residual on the real clips is 1.2x the full solver's (1e-4, a hundredth of the error of
#   noise of std 0.1) and it keeps more pixels (97% against 88%), at a tenth of the cost.
FLOW_CHANGE_ITERATIONS, FLOW_CHANGE_WARPS = 10, 3
REAL_FLOW_ITERATIONS, REAL_FLOW_WARPS = 5, 1


def _check_clips(x: object, name: str, min_frames: int) -> None:
    """Raise (one line naming `name`) unless x is a float tensor [B, C, T, H, W], T >= min."""
    check_floats(x, name, "clips [B, C, T, H, W]")
    if x.shape[2] < min_frames:
        raise ValueError(f"{name} must have at least {min_frames} frames, got T={x.shape[2]}")


def frame_pairs(x: Tensor) -> tuple[Tensor, Tensor]:
    """Consecutive frames of clips [B, C, T, H, W] as two batches of frames
    [B·(T−1), C, H, W]: (x[t], x[t+1]) for t = 0..T−2, clip-major."""
    earlier = x[:, :, :-1].transpose(1, 2).flatten(0, 1)
    later = x[:, :, 1:].transpose(1, 2).flatten(0, 1)
    return earlier, later


def pair_flows(x: Tensor, iterations: int = FLOW_CHANGE_ITERATIONS,
               warps: int = FLOW_CHANGE_WARPS, alpha: float = 0.1,
               levels: int | None = None) -> Tensor:
    """F_t = estimate_flow(x[t], x[t+1]) for every consecutive pair: [B, T−1, 2, H, W], with
    x[t](p) ≈ x[t+1](p + F_t(p)). Differentiable in x."""
    b, _, t, h, w = x.shape
    earlier, later = frame_pairs(x)
    flows = estimate_flow(earlier, later, alpha, levels, iterations, warps)
    return flows.reshape(b, t - 1, 2, h, w)


def flow_change_loss(x0_hat: Tensor, iterations: int = FLOW_CHANGE_ITERATIONS,
                     warps: int = FLOW_CHANGE_WARPS, alpha: float = 0.1,
                     levels: int | None = None) -> Tensor:
    """The syllabus's temporal term: mean over clips b, t = 1..T−2 and pixels p of

        ‖F_t(p) − F_{t−1}(p)‖²,   F_t = Flow(x̂_0[t] → x̂_0[t+1])   (pixels², a scalar),

    the squared change of the flow between consecutive frame pairs at the same pixel (as
    written: not along the motion). x0_hat [B, C, T, H, W] with T >= 3. The gradient runs
    through the flow solver (`pair_flows`; `iterations`, `warps`, `alpha`, `levels` as in
    `estimate_flow`, the first two cut down for training: FLOW_CHANGE_ITERATIONS).

    It is 0 for motion at constant velocity and for a still clip; a bounce, a change of speed
    or a flickering frame all cost."""
    _check_clips(x0_hat, "x0_hat", 3)
    return flow_change_per_clip(x0_hat, iterations, warps, alpha, levels).mean()


def flow_change_per_clip(x: Tensor, iterations: int = FLOW_CHANGE_ITERATIONS,
                         warps: int = FLOW_CHANGE_WARPS, alpha: float = 0.1,
                         levels: int | None = None) -> Tensor:
    """`flow_change_loss` of each clip of x [B, C, T, H, W] on its own: [B] (same inputs)."""
    flows = pair_flows(x, iterations, warps, alpha, levels)  # [B, T-1, 2, H, W]
    return (flows[:, 1:] - flows[:, :-1]).square().sum(dim=2).mean(dim=(1, 2, 3))


@torch.no_grad()
def real_motion(x0: Tensor, iterations: int = REAL_FLOW_ITERATIONS,
                warps: int = REAL_FLOW_WARPS, alpha: float = 0.1,
                levels: int | None = None) -> tuple[Tensor, Tensor]:
    """The real clip's backward flows and where to trust them, no gradient.

    x0 [B, C, T, H, W] -> (g [B·(T−1), 2, H, W], visible [B·(T−1), H, W] bool), clip-major,
    with g_t the flow from frame t+1 back to frame t (x0[t+1](p) ≈ x0[t](p + g_t(p))) and
    visible the pixels of frame t+1 that pass the forward–backward check (`occlusion`)."""
    earlier, later = frame_pairs(x0)
    g = estimate_flow(later, earlier, alpha, levels, iterations, warps)  # t+1 -> t
    f = estimate_flow(earlier, later, alpha, levels, iterations, warps)  # t -> t+1
    return g, ~occlusion(g, f)


def warp_loss(x0_hat: Tensor, x0: Tensor, iterations: int = REAL_FLOW_ITERATIONS,
              warps: int = REAL_FLOW_WARPS, alpha: float = 0.1,
              levels: int | None = None) -> Tensor:
    """The occlusion-masked warping loss on the predicted clean clip (Lai et al. 2018):

        Σ_{b,t,p} M_t(p) · mean_c (x̂_0[t+1](p) − warp(x̂_0[t], g_t)(p))²  /  Σ_{b,t,p} M_t(p),

    g_t the flow of the real clip x0 from frame t+1 back to t and M_t its visible pixels
    (`real_motion`, computed without gradient, so the gradient reaches x0_hat only). x0_hat and
    x0: [B, C, T, H, W], T >= 2, one shape. Returns a scalar; 0 when every visible pixel of
    x̂_0's frame t+1 is its frame t moved as the real clip moves (x0_hat = x0 up to the flow's
    error). The real flows come from a cheap solver by default (REAL_FLOW_ITERATIONS), which
    warps the real clips as well as the full one; no gradient goes through it."""
    _check_clips(x0_hat, "x0_hat", 2)
    _check_clips(x0, "x0", 2)
    if x0_hat.shape != x0.shape:
        raise ValueError(f"x0 must have x0_hat's shape {tuple(x0_hat.shape)}, got "
                         f"{tuple(x0.shape)}")
    g, visible = real_motion(x0.detach().to(x0_hat.dtype), iterations, warps, alpha, levels)
    earlier, later = frame_pairs(x0_hat)
    error = (later - warp(earlier, g)).square().mean(dim=1)  # [B·(T-1), H, W]
    kept = visible.to(error.dtype)
    return (error * kept).sum() / kept.sum().clamp(min=1)


TEMPORAL_LOSSES = ("", "flow_change", "warp")


def temporal_loss(kind: str, x0_hat: Tensor, x0: Tensor) -> Tensor:
    """The temporal term `kind` ("flow_change" or "warp") of predicted clips x0_hat against
    real clips x0 (both [B, C, T, H, W]) at its training settings."""
    if kind == "flow_change":
        return flow_change_loss(x0_hat)
    if kind == "warp":
        return warp_loss(x0_hat, x0)
    raise ValueError(f"kind must be 'flow_change' or 'warp', got {kind!r}")


# ---------------------------------------------------------------------------------------------
# The experiment: python -m vdlite.temporal_loss --out DIR --seeds 0 1 2
# ---------------------------------------------------------------------------------------------

VARIANTS = ("neither", "flow_change", "warp")
HELD_OUT_SEED = 10_000  # the dataset seed of the evaluation clips; training uses 0, 1, 2, ...
SPRITE_LEVEL = 0.0
"""Sprites have a channel at 1 and backgrounds stay at or below -0.4 in every channel
(`vdlite.data.PALETTE`), so on textured backgrounds, where `metrics.sprite_masks` (distance
from the median colour) also takes in half the texture, a pixel is sprite when its largest
channel exceeds this level (exact on the real clips)."""


def held_out(num: int, frames: int = 8, size: int = 32, seed: int = HELD_OUT_SEED,
             start: int = 0) -> list[dict]:
    """`num` items of one-sprite clips over textured backgrounds from a dataset no training
    run uses (`MovingSprites` items: video [3, T, H, W], positions [T, 1, 2], ...)."""
    from vdlite.data import MovingSprites

    data = MovingSprites(num_clips=start + num, frames=frames, size=size, sprites=1,
                         background="textured", seed=seed)
    return [data[i] for i in range(start, start + num)]


def sprite_colour_masks(video: Tensor) -> Tensor:
    """[B, T, H, W] bool: max over channels of video [B, 3, T, H, W] above SPRITE_LEVEL."""
    return video.amax(dim=1) > SPRITE_LEVEL


def centroids(weights: Tensor) -> Tensor:
    """Weighted mean pixel centre per frame [B, T, 2] (x, y) of weights [B, T, H, W] >= 0;
    NaN where a frame has no weight."""
    w = weights.double()
    h, wd = w.shape[-2:]
    total = w.sum(dim=(2, 3))
    cx = torch.einsum("bthw,w->bt", w, torch.arange(wd, dtype=w.dtype, device=w.device))
    cy = torch.einsum("bthw,h->bt", w, torch.arange(h, dtype=w.dtype, device=w.device))
    return torch.stack([cx / total, cy / total], dim=-1)


def soft_centroids(video: Tensor) -> Tensor:
    """Sprite centre per frame [B, T, 2] of clips [B, 3, T, H, W]: `centroids` weighted by
    w(p) = max(0, max_c video(p) - SPRITE_LEVEL), so that a blurred x̂_0 still has one."""
    return centroids((video.amax(dim=1) - SPRITE_LEVEL).clamp(min=0))


def turns_back(v: Tensor, min_speed: float) -> Tensor:
    """[B] bool: for velocities v [B, T-1, 2], on some axis a step of more than `min_speed`
    one way comes before a step of more than that the other way."""
    n = v.shape[1]
    steps = torch.arange(n, device=v.device)[None, :, None]  # [1, T-1, 1]
    ahead, back = v > min_speed, v < -min_speed

    def first(m: Tensor) -> Tensor:
        return torch.where(m, steps, n).amin(dim=1)

    def last(m: Tensor) -> Tensor:
        return torch.where(m, steps, -1).amax(dim=1)

    return ((first(ahead) < last(back)) | (first(back) < last(ahead))).any(dim=-1)


def reversal_fraction(video: Tensor, min_speed: float = 0.3) -> float:
    """Fraction of clips [B, 3, T, H, W] whose sprite turns back (`turns_back` of the steps of
    its centroid on `sprite_colour_masks`); a clip whose sprite is missing from a frame (fewer
    than 3 pixels) counts as not turning. On real 8-frame clips about 40% turn and this
    finds most of them (a slow sprite's turn can stay under `min_speed`)."""
    masks = sprite_colour_masks(video)
    found = (masks.sum(dim=(2, 3)) >= 3).all(dim=1)  # [B]
    steps = centroids(masks).nan_to_num().diff(dim=1)  # [B, T-1, 2]
    return float((turns_back(steps, min_speed) & found).double().mean())


def bounce_set(num: int, frames: int = 8, size: int = 32) -> dict[str, Tensor]:
    """Held-out clips for the bounce measurement: `num` whose sprite turns at a wall in an
    inner frame and `num` that move straight throughout.

    Returns {"video": [2·num, 3, T, H, W] (turning clips first), "turn": [2·num, T] bool, the
    inner frames k where the true path turns, |p[k+1] - 2 p[k] + p[k-1]| > 0.1 pixel, and
    "straight": [2·num, T] bool, the inner frames of the straight clips}."""
    turning, straight, index = [], [], 0
    while len(turning) < num or len(straight) < num:
        item = held_out(1, frames, size, start=index)[0]
        index += 1
        p = item["positions"][:, 0].double()  # [T, 2]
        bend = torch.zeros(frames, dtype=torch.bool)
        bend[1:-1] = (p[2:] - 2 * p[1:-1] + p[:-2]).norm(dim=-1) > 0.1
        if bend.any() and len(turning) < num:
            turning.append((item["video"], bend))
        elif not bend.any() and len(straight) < num:
            straight.append((item["video"], bend))
    inner = torch.zeros(frames, dtype=torch.bool)
    inner[1:-1] = True
    video = torch.stack([v for v, _ in turning + straight])
    turn = torch.stack([b for _, b in turning + straight])
    still = torch.stack([torch.zeros_like(inner)] * num + [inner] * num)
    return {"video": video, "turn": turn, "straight": still}


BOUNCE_TIMESTEPS = (500, 700, 850)
"""Noise levels of the bounce measurement: ᾱ_t ≈ 0.49, 0.20, 0.06 on the cosine schedule."""


@torch.no_grad()
def bounce_errors(model: torch.nn.Module, cfg, clips: dict[str, Tensor],
                  device: str | torch.device = "cpu", seed: int = 0) -> dict[str, float]:
    """Does the model keep a real bounce? For each t in BOUNCE_TIMESTEPS, noise the clips of
    `bounce_set` to x_t (the same noise for every model: `seed`), predict x̂_0 in one call, and
    measure the distance (pixels) between x̂_0's sprite centre and the real clip's
    (`soft_centroids`) in the frames where the real path turns ("turn") and in the inner frames
    of straight clips ("straight"). A model that smooths motion misses the turn more.
    Returns {"turn_t{t}", "straight_t{t}"} and their means over t ("turn", "straight")."""
    from vdlite.diffusion import NoiseSchedule

    schedule = NoiseSchedule(cfg.schedule, cfg.num_timesteps)
    x0 = clips["video"].to(device)
    truth = soft_centroids(clips["video"])  # [B, T, 2]
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, float] = {}
    for level in BOUNCE_TIMESTEPS:
        t = torch.full((x0.shape[0],), level, dtype=torch.long, device=device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        x_t = schedule.q_sample(x0, t, noise)
        x0_hat = schedule.pred_to_x0_eps(x_t, t, model(x_t, t), cfg.prediction)[0]
        error = (soft_centroids(x0_hat.clamp(-1, 1).cpu()) - truth).norm(dim=-1)  # [B, T]
        for name in ("turn", "straight"):
            out[f"{name}_t{level}"] = float(error[clips[name]].nanmean())
    for name in ("turn", "straight"):
        out[name] = sum(out[f"{name}_t{t}"] for t in BOUNCE_TIMESTEPS) / len(BOUNCE_TIMESTEPS)
    return out


def clip_figures(video: Tensor) -> dict[str, float]:
    """The figures of a batch of clips [B, 3, T, H, W] the study compares (lower is better,
    except `reversals`, which should match the real clips'): flicker, the flow figures of
    `metrics.motion_figures`, path residual and missing frames on `sprite_colour_masks`, and
    the fraction of clips that turn (`reversal_fraction`)."""
    from vdlite.metrics import flicker, missing_frames, motion_report, path_residual

    video = video.detach().float().cpu()
    masks = sprite_colour_masks(video)
    return {"flicker": flicker(video), **motion_report(video),
            "path_residual": path_residual(video, masks),
            "missing_frames": missing_frames(video, masks),
            "reversals": reversal_fraction(video)}


WEIGHTS = {"flow_change": 0.0003, "warp": 1.0}  # λ of each loss, chosen by `pilot` (results.md)
FIGURES = ("flicker", "warping_error", "acceleration", "forward_backward", "path_residual",
           "missing_frames", "reversals", "bounce_turn", "bounce_straight", "bounce_excess",
           "seconds_per_step")


def variant_config(variant: str, seed: int, steps: int | None = None,
                   weights: dict[str, float] | None = None):
    """The CPU U-Net preset (`demo_config("cpu")`) with the temporal term of `variant`
    ("neither", "flow_change" or "warp") at its weight (default WEIGHTS)."""
    from vdlite.demo import demo_config

    weights = weights or WEIGHTS
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    extra = {} if variant == "neither" else {"temporal_loss": variant,
                                             "temporal_weight": weights[variant]}
    return demo_config("cpu", steps=steps, seed=seed, **extra)


def run_variant(cfg, device: str | torch.device, num_samples: int, bounce: dict[str, Tensor],
                progress: bool = True, sample_steps: int = 50
                ) -> tuple[dict, Tensor, torch.nn.Module]:
    """Train `cfg` on one-sprite clips over textured backgrounds (dataset seed cfg.seed),
    sample `num_samples` clips from the noise of seed cfg.seed + 1 (the same for every variant
    of a seed), and measure them (`clip_figures`) and the model (`bounce_errors`).
    Returns (figures with seconds_per_step and the final loss, the samples on the CPU, the
    trained model's EMA)."""
    from vdlite.data import MovingSprites
    from vdlite.train import Timer, clip_batches, sample, train

    data = MovingSprites(num_clips=100_000, frames=cfg.frames, size=cfg.size, sprites=1,
                         background="textured", seed=cfg.seed)
    name = cfg.temporal_loss or "neither"
    with Timer() as timer:
        model, losses = train(cfg, clip_batches(data, cfg.batch, cfg.seed), device, progress,
                              desc=f"{name}, seed {cfg.seed}")
    clips = sample(model, cfg, num_samples, sample_steps, device, cfg.seed + 1,
                   progress=progress).cpu()
    bounces = bounce_errors(model, cfg, bounce, device, seed=cfg.seed)
    figures = {**clip_figures(clips), "bounce_turn": bounces["turn"],
               "bounce_straight": bounces["straight"],
               "bounce_excess": bounces["turn"] - bounces["straight"],
               "seconds_per_step": timer.seconds / cfg.steps}
    return {**figures, "bounce": bounces,
            "final_loss": sum(losses[-50:]) / len(losses[-50:])}, clips, model


def step_costs(device: str | torch.device = "cpu", rounds: int = 4, steps: int = 10,
               weights: dict[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Seconds per training step of each variant, measured side by side: `rounds` rounds, each
    timing a `steps`-step run (`train`) of every variant in turn, so that a machine shared
    with other work slows all of them alike; the first round (warm-up) is dropped. Returns
    {variant: {"median", "min", "ratio"}} with ratio = median / neither's median."""
    from dataclasses import replace

    from vdlite.data import MovingSprites
    from vdlite.train import Timer, clip_batches, train

    data = MovingSprites(num_clips=1000, frames=8, size=32, sprites=1, background="textured")
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            cfg = replace(variant_config(variant, 0, weights=weights), steps=steps)
            with Timer() as timer:
                train(cfg, clip_batches(data, cfg.batch), device, progress=False)
            times[variant].append(timer.seconds / steps)
    kept = {v: sorted(t[1:] or t) for v, t in times.items()}
    median = {v: t[len(t) // 2] for v, t in kept.items()}
    return {v: {"median": median[v], "min": kept[v][0], "ratio": median[v] / median["neither"]}
            for v in VARIANTS}


def gradient_norms(steps: int = 400, batches: int = 8, seed: int = 0,
                   weights: dict[str, float] | None = None) -> dict[str, float]:
    """How hard does each term pull? Train the preset with neither loss for `steps` steps, then
    on `batches` fresh batches (x_t, t drawn as in training) take the gradient norm over the
    weights of L_noise and of λ · L_temporal for each loss (λ from `weights`, default WEIGHTS),
    each alone. Training clips the sum's norm to 1, so a term whose norm is far above
    L_noise's decides the step's direction by itself. Returns the mean norm of each."""
    from vdlite.data import MovingSprites
    from vdlite.diffusion import NoiseSchedule
    from vdlite.train import _Recording, clip_batches, diffusion_loss, train

    weights = weights or WEIGHTS
    cfg = variant_config("neither", seed, steps)
    data = MovingSprites(num_clips=100_000, frames=cfg.frames, size=cfg.size, sprites=1,
                         background="textured", seed=seed)
    model, _ = train(cfg, clip_batches(data, cfg.batch, seed), progress=False)
    model.train().requires_grad_(True)
    schedule, gen = NoiseSchedule(cfg.schedule, cfg.num_timesteps), torch.Generator()
    norms: dict[str, list[float]] = {"noise": [], "flow_change": [], "warp": []}
    clips = clip_batches(data, cfg.batch, seed + 1)
    for i in range(batches):
        x0, recording = next(clips), _Recording(model)
        terms = {"noise": diffusion_loss(recording, x0, schedule, cfg.prediction,
                                         generator=gen.manual_seed(i))}
        x0_hat = schedule.pred_to_x0_eps(recording.x_t, recording.t, recording.out,
                                         cfg.prediction)[0]
        for kind in ("flow_change", "warp"):
            terms[kind] = weights[kind] * temporal_loss(kind, x0_hat, x0)
        for name, term in terms.items():
            grads = torch.autograd.grad(term, list(model.parameters()), retain_graph=True)
            norms[name].append(float(torch.cat([g.flatten() for g in grads]).norm()))
    return {name: sum(v) / len(v) for name, v in norms.items()}


def experiment(seeds: tuple[int, ...] = (0, 1, 2), steps: int | None = None,
               device: str = "cpu", num_samples: int = 64, num_bounce: int = 32,
               weights: dict[str, float] | None = None, progress: bool = True
               ) -> tuple[list[dict], dict[str, Tensor]]:
    """Every variant for every seed: one row each {variant, seed, config, figures...}, and the
    first 8 samples of each variant at the first seed (for a side-by-side)."""
    from dataclasses import asdict

    bounce = bounce_set(num_bounce)
    rows, shown = [], {}
    for seed in seeds:
        for variant in VARIANTS:
            cfg = variant_config(variant, seed, steps, weights)
            figures, clips, _ = run_variant(cfg, device, num_samples, bounce, progress)
            rows.append({"variant": variant, "seed": seed, "config": asdict(cfg), **figures})
            if seed == seeds[0]:
                shown[variant] = clips[:8]
    return rows, shown


def summarise(rows: list[dict]) -> dict:
    """Mean and 90% Student-t interval over seeds (`seams.mean_interval`) of every figure of
    every variant, and of its paired difference to "neither" at the same seed:
    {"means": {variant: {figure: (m, lo, hi)}}, "diffs": {variant: {figure: (m, lo, hi)}}}."""
    from vdlite.seams import mean_interval

    by = {(r["variant"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in rows)]
    means = {v: {f: mean_interval([by[v, s][f] for s in seeds if (v, s) in by])
                 for f in FIGURES} for v in variants}
    diffs = {v: {f: mean_interval([by[v, s][f] - by["neither", s][f] for s in seeds
                                   if (v, s) in by and ("neither", s) in by])
                 for f in FIGURES} for v in variants if v != "neither"}
    return {"means": means, "diffs": diffs}


LABELS = {"flicker": "flicker", "warping_error": "warping error",
          "acceleration": "acceleration (px/frame²)", "forward_backward": "forward-backward (px)",
          "path_residual": "path residual (px)", "missing_frames": "missing frames",
          "reversals": "clips that turn", "bounce_turn": "bounce: error at turns (px)",
          "bounce_straight": "bounce: error on straight paths (px)",
          "bounce_excess": "bounce: turns minus straight (px)",
          "seconds_per_step": "training s/step"}


def _cell(m: float, lo: float, hi: float) -> str:
    fmt = (lambda v: f"{v:.3g}") if abs(m) >= 1e-3 or m == 0 else (lambda v: f"{v:.2e}")
    return fmt(m) if lo != lo else f"{fmt(m)} [{fmt(lo)}, {fmt(hi)}]"


def report(rows: list[dict], real: dict[str, float], header: list[str]) -> str:
    """The study as markdown: the means table (with the real clips' values), the paired
    differences to "neither", a sentence per clear difference, and every run."""
    summary = summarise(rows)
    variants = list(summary["means"])
    lines = header + ["", "## Means over seeds (90% Student-t interval)", "",
                      "| figure | real clips | " + " | ".join(variants) + " |",
                      "|---|---|" + "---|" * len(variants)]
    for f in FIGURES:
        ref = f"{real[f]:.3g}" if f in real else "–"
        lines.append(f"| {LABELS[f]} | {ref} | "
                     + " | ".join(_cell(*summary["means"][v][f]) for v in variants) + " |")
    others = list(summary["diffs"])
    lines += ["", "## Paired differences to neither (same seed; 90% Student-t interval)", "",
              "| figure | " + " | ".join(f"{v} − neither" for v in others) + " |",
              "|---|" + "---|" * len(others)]
    for f in FIGURES:
        lines.append(f"| {LABELS[f]} | "
                     + " | ".join(_cell(*summary["diffs"][v][f]) for v in others) + " |")
    lines += ["", "Intervals that exclude 0:", ""]
    for v in others:
        for f in FIGURES:
            m, lo, hi = summary["diffs"][v][f]
            if lo == lo and (lo > 0 or hi < 0):
                base = summary["means"]["neither"][f][0]
                lines.append(f"- {v}: {LABELS[f]} {'higher' if m > 0 else 'lower'} than "
                             f"neither by {abs(m):.3g} ({100 * m / base:+.0f}%)" if base else
                             f"- {v}: {LABELS[f]} {'higher' if m > 0 else 'lower'} by {m:.3g}")
    lines += ["", "## Every run", "", "| variant | seed | " + " | ".join(LABELS[f] for f in FIGURES)
              + " | final loss |", "|---|---|" + "---|" * (len(FIGURES) + 1)]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['seed']} | "
                     + " | ".join(f"{r[f]:.3g}" for f in FIGURES) + f" | {r['final_loss']:.4f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], real: dict[str, float], path) -> None:
    """One panel per figure: a bar per variant (mean over seeds) with its 90% interval, and the
    real clips' value as a dashed line where it has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = summarise(rows)["means"]
    variants = list(means)
    colours = {"neither": "0.6", "flow_change": "tab:orange", "warp": "tab:blue"}
    fig, axes = plt.subplots(2, (len(FIGURES) + 1) // 2, figsize=(15, 6))
    for ax, f in zip(axes.flat, FIGURES, strict=False):
        m = [means[v][f][0] for v in variants]
        err = [[m_ - means[v][f][1] for v, m_ in zip(variants, m, strict=True)],
               [means[v][f][2] - m_ for v, m_ in zip(variants, m, strict=True)]]
        ax.bar(range(len(variants)), m, yerr=err, capsize=4,
               color=[colours[v] for v in variants])
        if f in real:
            ax.axhline(real[f], ls="--", color="k", lw=1, label="real clips")
        ax.set_xticks(range(len(variants)), [v.replace("_", "\n") for v in variants],
                      fontsize=8)
        ax.set_title(LABELS[f], fontsize=9)
    for ax in list(axes.flat)[len(FIGURES):]:
        ax.axis("off")
    fig.suptitle("Temporal losses on the CPU U-Net preset: mean over seeds, 90% t interval; "
                 "dashed: real clips", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


KNOB_GRID = ((20, 3), (10, 3), (5, 3), (20, 1), (10, 2), (10, 1), (5, 1))


def _seconds(fn, repeats: int = 3) -> float:
    """Median wall-clock seconds of fn() over `repeats` calls."""
    import time

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def solver_knobs(num: int = 32, noise: tuple[float, ...] = (0.0, 0.05, 0.1),
                 grid: tuple[tuple[int, int], ...] = KNOB_GRID, seed: int = 0) -> list[dict]:
    """How cheap may the flow solver be inside each loss? For each (iterations, warps):

    - flow_change: on `num` held-out clips with Gaussian noise of each std in `noise` added
      (standing in for a model's imperfect x̂_0), the correlation over clips of its per-clip
      value with the full solver's (20, 3) and the ratio of the means; and the seconds of one
      forward and backward pass on 8 clips;
    - warp: on the clean clips, the real flows' masked warping residual, the fraction of pixels
      the check keeps, and the seconds of `real_motion` on 8 clips.
    The study's rule: for each loss the cheapest setting that agrees with the full solver
    (flow_change: correlation >= 0.85 at every noise level and mean within 20%; warp: masked
    residual within 2x and at least as many pixels kept)."""
    clean = torch.stack([it["video"] for it in held_out(num)])
    gen = torch.Generator().manual_seed(seed)
    noisy = [(clean + s * torch.randn(clean.shape, generator=gen)).clamp(-1, 1) for s in noise]
    with torch.no_grad():
        full = [flow_change_per_clip(x, 20, 3) for x in noisy]
    rows = []
    for iterations, warps in grid:
        row: dict = {"iterations": iterations, "warps": warps}
        with torch.no_grad():
            per = [flow_change_per_clip(x, iterations, warps) for x in noisy]
        row["flow_change_corr"] = [float(torch.corrcoef(torch.stack([p, f]))[0, 1])
                                   for p, f in zip(per, full, strict=True)]
        row["flow_change_mean_ratio"] = [float(p.mean() / f.mean())
                                         for p, f in zip(per, full, strict=True)]
        batch = noisy[-1][:8]

        def forward_backward(batch=batch, iterations=iterations, warps=warps) -> None:
            flow_change_loss(batch.clone().requires_grad_(True), iterations, warps).backward()

        row["flow_change_seconds"] = _seconds(forward_backward)
        g, visible = real_motion(clean, iterations, warps)
        earlier, later = frame_pairs(clean)
        error = (later - warp(earlier, g)).square().mean(dim=1)
        row["warp_residual"] = float((error * visible).sum() / visible.sum())
        row["warp_kept"] = float(visible.float().mean())
        row["warp_seconds"] = _seconds(lambda i=iterations, w=warps: real_motion(clean[:8], i, w))
        rows.append(row)
    return rows


DENOISE_TIMESTEPS = (100, 300, 500, 700, 900)


@torch.no_grad()
def denoise_error(model: torch.nn.Module, cfg, clips: Tensor, device="cpu",
                  seed: int = 0) -> float:
    """Held-out fit: mean over t in DENOISE_TIMESTEPS of the mean squared error of x̂_0 on
    clips [B, 3, T, H, W] noised to x_t with fixed noise (`seed`); the x0-prediction L_noise."""
    from vdlite.diffusion import NoiseSchedule

    schedule = NoiseSchedule(cfg.schedule, cfg.num_timesteps)
    x0 = clips.to(device)
    gen = torch.Generator().manual_seed(seed)
    errors = []
    for level in DENOISE_TIMESTEPS:
        t = torch.full((x0.shape[0],), level, dtype=torch.long, device=device)
        x_t = schedule.q_sample(x0, t, torch.randn(x0.shape, generator=gen).to(device))
        x0_hat = schedule.pred_to_x0_eps(x_t, t, model(x_t, t), cfg.prediction)[0]
        errors.append(float((x0_hat - x0).square().mean()))
    return sum(errors) / len(errors)


PILOT_GRID = {"flow_change": (0.003, 0.01, 0.03, 0.1, 0.3), "warp": (0.3, 1.0, 3.0, 10.0, 30.0)}


def pilot(seed: int = 100, steps: int | None = None, device: str = "cpu",
          num_samples: int = 64, grid: dict = PILOT_GRID, progress: bool = True,
          on_row=None) -> list[dict]:
    """Choose λ: train the preset at a seed the study does not use with neither loss and with
    each loss at each weight in `grid` (the i-th weights of both losses in turn, so a cut-short
    pilot stays balanced), and measure the held-out fit (`denoise_error`, 64 clips), the
    samples' figures and the bounce errors. `on_row(rows)` is called after every run. The rule
    (`pick_weights`): for each loss the largest weight whose held-out denoising error is at
    most 5% above neither's."""
    clips = torch.stack([it["video"] for it in held_out(64, start=1000)])
    bounce = bounce_set(32)
    longest = max(len(w) for w in grid.values())
    runs = [("neither", 0.0)] + [(k, grid[k][i]) for i in range(longest)
                                 for k in grid if i < len(grid[k])]
    rows: list[dict] = []
    for variant, weight in runs:
        cfg = variant_config(variant, seed, steps, {**WEIGHTS, variant: weight})
        figures, _, model = run_variant(cfg, device, num_samples, bounce, progress)
        rows.append({"variant": variant, "weight": weight, **figures,
                     "denoise_error": denoise_error(model, cfg, clips, device)})
        if on_row is not None:
            on_row(rows)
    return rows


PILOT_COLUMNS = ("flicker", "warping_error", "acceleration", "missing_frames", "reversals",
                 "bounce_excess", "seconds_per_step")


def pilot_table(files: list) -> list[str]:
    """Markdown lines: every pilot run of the pilot.json `files` (each with its device), its
    held-out denoising error against its own file's "neither" run, and the sample figures."""
    import json

    lines = ["| device | variant | λ | held-out denoising error | vs neither | "
             + " | ".join(LABELS[c] for c in PILOT_COLUMNS) + " |",
             "|---|---|---|---|---|" + "---|" * len(PILOT_COLUMNS)]
    for path in files:
        pilot_run = json.loads(path.read_text())
        base = next(r["denoise_error"] for r in pilot_run["rows"] if r["variant"] == "neither")
        for r in pilot_run["rows"]:
            r.setdefault("bounce_excess", r["bounce_turn"] - r["bounce_straight"])
            lines.append(f"| {pilot_run['device']} | {r['variant']} | {r['weight']:g} | "
                         f"{r['denoise_error']:.4f} | {100 * (r['denoise_error'] / base - 1):+.0f}%"
                         " | " + " | ".join(f"{r[c]:.3g}" for c in PILOT_COLUMNS) + " |")
    return lines


def pick_weights(rows: list[dict], tolerance: float = 0.05) -> dict[str, float]:
    """The pilot's rule: for each loss, the largest weight whose held-out denoising error is
    at most `tolerance` above the "neither" run's (the smallest weight tried if none is)."""
    base = next(r["denoise_error"] for r in rows if r["variant"] == "neither")
    picked = {}
    for variant in ("flow_change", "warp"):
        tried = sorted((r["weight"], r["denoise_error"]) for r in rows if r["variant"] == variant)
        fit = [w for w, e in tried if e <= (1 + tolerance) * base]
        if tried:
            picked[variant] = max(fit) if fit else tried[0][0]
    return picked


def _environment(device: str) -> dict:
    """torch version, platform, device name and date, for the results."""
    import platform
    import time

    name = (torch.cuda.get_device_name() if str(device).startswith("cuda")
            else platform.processor() or platform.machine())
    return {"torch": torch.__version__, "platform": platform.platform(), "device": name,
            "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d")}


def _write_json(path, value) -> None:
    import json

    path.write_text(json.dumps(value, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    """`python -m vdlite.temporal_loss --out DIR [--seeds 0 1 2] [--steps N] [--device cuda]`:
    the study (DIR/results.json, results.md, figures.png, samples.gif); `--knobs` instead
    measures the solver's cost knobs (DIR/solver_knobs.json), `--pilot` instead runs the λ
    pilot (DIR/pilot.json, with the weights its rule picks)."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m vdlite.temporal_loss",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/temporal_loss")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--num-bounce", type=int, default=32)
    parser.add_argument("--flow-change-weight", type=float, default=WEIGHTS["flow_change"])
    parser.add_argument("--warp-weight", type=float, default=WEIGHTS["warp"])
    parser.add_argument("--cost-rounds", type=int, default=4,
                        help="rounds of the side-by-side step timing (the first is dropped)")
    parser.add_argument("--cost-steps", type=int, default=10, help="steps per timed run")
    parser.add_argument("--knobs", action="store_true", help="measure the solver's knobs")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite results.md and figures.png from DIR/results.json")
    parser.add_argument("--gradients", action="store_true",
                        help="measure each term's gradient norm (DIR/gradient_norms.json)")
    parser.add_argument("--pilot", action="store_true", help="run the pilot that picks λ")
    for name, weights in PILOT_GRID.items():
        parser.add_argument(f"--pilot-{name.replace('_', '-')}", type=float, nargs="*",
                            default=list(weights), help=f"the pilot's weights for {name}")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m vdlite.temporal_loss " + " ".join(argv or [])
    env = {"command": command.strip(), **_environment(args.device)}
    if args.knobs:
        _write_json(out / "solver_knobs.json", {**env, "rows": solver_knobs()})
        return
    if args.report:
        render(out)
        return
    if args.gradients:
        _write_json(out / "gradient_norms.json", {**env, "weights": WEIGHTS, "steps": 400,
                                                  "norms": gradient_norms()})
        return
    if args.pilot:
        def save(rows: list[dict]) -> None:
            _write_json(out / "pilot.json", {**env, "rows": rows, "picked": pick_weights(rows)})

        grid = {"flow_change": args.pilot_flow_change, "warp": args.pilot_warp}
        print(pick_weights(pilot(steps=args.steps, device=args.device,
                                 num_samples=args.num_samples, grid=grid, on_row=save)))
        return
    weights = {"flow_change": args.flow_change_weight, "warp": args.warp_weight}
    costs = step_costs(args.device, args.cost_rounds, args.cost_steps, weights)
    rows, shown = experiment(tuple(args.seeds), args.steps, args.device, args.num_samples,
                             args.num_bounce, weights)
    write_results(out, rows, shown, env, weights, costs, args)


def write_results(out, rows: list[dict], shown: dict[str, Tensor], env: dict,
                  weights: dict[str, float], costs: dict, args) -> None:
    """results.json (every run, the sizes, the environment) and samples.gif (real clips on top,
    then each variant's first 8 samples at the first seed) in `out`, then `render`."""
    from vdlite.video_io import tile_videos, write_gif

    real_clips = torch.stack([it["video"] for it in held_out(args.num_samples)])
    sizes = {"steps": rows[0]["config"]["steps"], "seeds": list(args.seeds),
             "num_samples": args.num_samples, "sample_steps": 50,
             "num_bounce": args.num_bounce, "bounce_timesteps": list(BOUNCE_TIMESTEPS),
             "cost_rounds": args.cost_rounds, "cost_steps": args.cost_steps}
    solver = {"flow_change": [FLOW_CHANGE_ITERATIONS, FLOW_CHANGE_WARPS],
              "real_flow": [REAL_FLOW_ITERATIONS, REAL_FLOW_WARPS]}
    _write_json(out / "results.json", {**env, "sizes": sizes, "weights": weights,
                                       "solver": solver, "step_costs": costs,
                                       "real_clips": clip_figures(real_clips), "runs": rows,
                                       "summary": summarise(rows)})
    grid = [real_clips[:8]] + [shown[v] for v in VARIANTS if v in shown]
    write_gif(tile_videos([c for row in grid for c in row], ncols=8), out / "samples.gif",
              scale=2)
    render(out)


def syllabus_term_on_real_clips(num: int = 32) -> dict[str, float]:
    """`flow_change_per_clip` of real held-out clips (`bounce_set`): the mean over those whose
    sprite turns at a wall and over those that move straight. The flows are compared at the
    same pixel, so a sprite moving at constant velocity over a still background costs too."""
    clips = bounce_set(num)
    values = flow_change_per_clip(clips["video"])
    return {"turning": float(values[:num].mean()), "straight": float(values[num:].mean())}


def render(out) -> None:
    """results.md and figures.png from out/results.json, with the tables of the side files
    found beside it (solver_knobs.json, gradient_norms.json, pilot*.json) and, under "What it
    says", the text of out/reading.md."""
    import json

    results = json.loads((out / "results.json").read_text())
    rows, real, sizes, w = (results[k] for k in ("runs", "real_clips", "sizes", "weights"))
    (fc_it, fc_wp), (rf_it, rf_wp) = results["solver"]["flow_change"], results["solver"][
        "real_flow"]
    header = ["# Temporal losses: the syllabus's flow-change term against the warping loss", "",
              f"- command: `{results['command']}`",
              f"- device: {results['device']} ({results['threads']} thread(s)); torch "
              f"{results['torch']}; {results['platform']}; date {results['date']}",
              f"- models: the CPU U-Net preset (`demo_config('cpu')`, prediction x0), "
              f"{sizes['steps']} steps, seeds {sizes['seeds']}, on one sprite over textured "
              f"backgrounds",
              f"- λ: flow_change {w['flow_change']:g}, warp {w['warp']:g}; flow solver "
              f"(iterations, warps per level): flow_change ({fc_it}, {fc_wp}), the warp loss's "
              f"real flows ({rf_it}, {rf_wp})",
              f"- figures on {sizes['num_samples']} sampled clips per run ({sizes['sample_steps']}"
              f" DDIM steps, the same noise for every variant of a seed); real clips: "
              f"{sizes['num_samples']} held-out; bounce: {sizes['num_bounce']} held-out clips "
              f"that turn at a wall and {sizes['num_bounce']} that do not, noised at t = "
              f"{sizes['bounce_timesteps']}"]
    reading = out / "reading.md"
    if reading.exists():
        header += ["", "## What it says", "", reading.read_text().strip()]
    text = report(rows, real, header) + "\n".join(side_tables(out, results)) + "\n"
    (out / "results.md").write_text(text)
    plot(rows, real, out / "figures.png")
    print(text)


def side_tables(out, results: dict) -> list[str]:
    """The markdown of the step costs, the syllabus term on real clips, the gradient norms,
    the solver knobs and the pilots, from results.json and the side files in `out`."""
    import json

    sizes = results["sizes"]
    lines = ["", f"## Cost of a training step (side by side: {sizes.get('cost_rounds', 4) - 1} "
             f"rounds of {sizes.get('cost_steps', 10)} steps each, after a warm-up round)", "",
             "| variant | s/step (median) | fastest | × neither |", "|---|---|---|---|"]
    lines += [f"| {v} | {c['median']:.3f} | {c['min']:.3f} | {c['ratio']:.2f} |"
              for v, c in results["step_costs"].items()]
    real = syllabus_term_on_real_clips()
    lines += ["", "## The syllabus term on real clips", "",
              f"flow_change_loss of 32 held-out real clips whose sprite turns at a wall: "
              f"{real['turning']:.3f} px²; of 32 that move straight: {real['straight']:.3f} px² "
              "(compared at the same pixel, so a sprite moving at constant velocity over a still "
              "background is not free)."]
    if (out / "gradient_norms.json").exists():
        g = json.loads((out / "gradient_norms.json").read_text())
        lines += ["", "## How hard each term pulls (gradient norms over the weights)", "",
                  f"After {g['steps']} steps with neither loss, mean over 8 batches: L_noise "
                  f"{g['norms']['noise']:.3g}; {g['weights']['flow_change']:g} · flow_change "
                  f"{g['norms']['flow_change']:.3g}; {g['weights']['warp']:g} · warp "
                  f"{g['norms']['warp']:.3g} (training clips the sum's norm to 1)."]
    if (out / "solver_knobs.json").exists():
        lines += ["", "## The flow solver's cost knobs (solver_knobs.json)", "",
                  "| iterations | warps | flow_change: corr. with full (noise 0, 0.05, 0.1) | "
                  "mean / full | s fwd+bwd (8 clips) | warp: masked residual | kept | "
                  "s (8 clips) |", "|---|---|---|---|---|---|---|---|"]
        for r in json.loads((out / "solver_knobs.json").read_text())["rows"]:
            corr = ", ".join(f"{c:.2f}" for c in r["flow_change_corr"])
            ratio = ", ".join(f"{c:.2f}" for c in r["flow_change_mean_ratio"])
            lines.append(f"| {r['iterations']} | {r['warps']} | {corr} | {ratio} | "
                         f"{r['flow_change_seconds']:.2f} | {r['warp_residual']:.2e} | "
                         f"{r['warp_kept']:.3f} | {r['warp_seconds']:.2f} |")
    pilots = sorted(out.glob("pilot*.json"))
    if pilots:
        lines += ["", "## The pilot that chose λ (seed 100, not a study seed)", "",
                  *pilot_table(pilots)]
    return lines


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])

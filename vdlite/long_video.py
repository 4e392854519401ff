"""Long videos from a model trained on short clips (lesson 08): latent splicing, and the
attention horizon that decides whether an occluded object comes back.

A model trained on clips of k frames makes N > k frames in chunks of k. Consecutive chunks
share o frames: chunk B is sampled with its first frames *known*, equal to the last frames of
chunk A ("the last 2 frames of chunk A are the initial condition of chunk B"). Known frames
enter the sampler by replacement: before every denoising step the known frames of x_t are
overwritten by a fresh draw of q(x_t | x_0 = known), so the model sees them at the noise level
of the rest of the clip and fills in the unknown frames to agree with them (`replace_known`,
`sample_with_known_frames`). The baseline samples each chunk on its own
(`independent_chunks`): every chunk boundary is then a cut.

`chunk_starts` places the chunks so that every frame is covered, the tail too (a schedule
that steps by k - o and stops when the next chunk would overrun misses up to k - o - 1 final
frames, as Gen-L-Video's window list can). The measures: per-transition continuity
(`transition_figures`, `boundary_continuity`: the flow-based warping error, the sprite's colour
change and step at chunk boundaries against those within chunks) and drift over a rollout
(`chunk_drift`: each chunk's sprite colour, size and presence against the first chunk's).

The attention horizon: a video DiT whose temporal attention sees only frames within
|t - t'| <= w (`TrainConfig.temporal_window`) cannot carry what it saw before an occlusion to
the frames after it once the gap exceeds its reach (depth · w frames in one forward pass;
across sampling steps only what is drawn in the frames carries over, and an occluded sprite
is not drawn). `occlusion_clips` selects clips in which the sprite passes wholly behind the
occluder bar and re-emerges; `permanence_scores` says whether a generated continuation brings
the same sprite back on its path, and `bar_error` whether the bar itself, a static object,
persists in frames beyond the horizon.

    python -m vdlite.long_video splice --out lessons/measured/latent_splicing
    python -m vdlite.long_video permanence --out lessons/measured/object_permanence
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from vdlite.diffusion import NoiseSchedule, ddim_step, ddim_timesteps
from vdlite.metrics import MIN_SPRITE_PIXELS, motion_figures, paired_intervals
from vdlite.vocabulary import PALETTE

__all__ = [
    "attention_pairs",
    "bar_error",
    "boundary_continuity",
    "chunk_boundaries",
    "chunk_drift",
    "chunk_starts",
    "error_by_distance",
    "independent_chunks",
    "occlusion_clips",
    "permanence_scores",
    "replace_known",
    "sample_with_known_frames",
    "splice",
    "transition_figures",
]


# ---------------------------------------------------------------------------------------------
# The chunk schedule
# ---------------------------------------------------------------------------------------------


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def chunk_starts(frames: int, chunk: int, overlap: int) -> list[int]:
    """The first frame of each chunk of `chunk` frames that together cover frames 0..frames-1,
    consecutive chunks sharing at least `overlap` frames.

    Chunks step by s = chunk - overlap: starts 0, s, 2s, ... while a chunk still fits, then one
    more chunk ending exactly at the last frame if the tail is not yet covered (it shares more
    than `overlap` frames with the chunk before it). frames = 20, chunk = 8, overlap = 2 gives
    [0, 6, 12]; frames = 21 gives [0, 6, 12, 13].
    """
    _check_int("chunk", chunk, 1)
    _check_int("overlap", overlap, 0)
    _check_int("frames", frames, 1)
    if overlap >= chunk:
        raise ValueError(f"overlap must be < chunk so that each chunk makes a new frame, got "
                         f"overlap={overlap}, chunk={chunk}")
    if frames < chunk:
        raise ValueError(f"frames must be >= chunk (the model makes clips of {chunk} frames), "
                         f"got frames={frames}")
    stride = chunk - overlap
    starts = list(range(0, frames - chunk + 1, stride))
    if starts[-1] + chunk < frames:  # the tail: one more chunk, ending at the last frame
        starts.append(frames - chunk)
    return starts


def chunk_boundaries(frames: int, chunk: int, overlap: int) -> list[int]:
    """The frames at which a chunk's own frames begin, for chunks 1, 2, ...: the end of the
    chunk before, starts[i-1] + chunk. The transition into a chunk is boundary - 1 -> boundary."""
    starts = chunk_starts(frames, chunk, overlap)
    return [s + chunk for s in starts[:-1]]


def attention_pairs(frames: int, tokens: int, window: int | None = None) -> int:
    """Query-key pairs of temporal attention over T = `frames` frames at S = `tokens` positions:
    sum over t of the frames t' with |t - t'| <= w, times S. None (the whole clip) gives T²·S;
    a window w gives S·(T(2w+1) - w(w+1)) for w < T (the band minus the corners cut off at the
    clip's ends), below T·S·(2w+1)."""
    _check_int("frames", frames, 1)
    _check_int("tokens", tokens, 1)
    if window is None:
        return frames * frames * tokens
    w = min(_check_int("window", window, 0), frames - 1)
    return tokens * (frames * (2 * w + 1) - w * (w + 1))


# ---------------------------------------------------------------------------------------------
# Sampling with known frames
# ---------------------------------------------------------------------------------------------


def _frame_mask(mask: Tensor, video: Tensor, name: str = "mask") -> Tensor:
    """A known-frame mask [T] or [B, T] (bool) as [B or 1, 1, T, 1, 1] over video [B, C, T, H, W]
    (TypeError for a non-bool mask, ValueError for a wrong shape)."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a bool tensor [T] or [B, T], got "
                        f"{getattr(mask, 'dtype', type(mask).__name__)}")
    b, _, t = video.shape[:3]
    if mask.shape not in ((t,), (b, t)):
        raise ValueError(f"{name} must have shape [T]=[{t}] or [B, T]=[{b}, {t}], got "
                         f"{list(mask.shape)}")
    return mask.reshape(-1, 1, t, 1, 1).to(video.device)


def replace_known(x_t: Tensor, known: Tensor, mask: Tensor, t: Tensor, schedule: NoiseSchedule,
                  noise: Tensor) -> Tensor:
    """Replacement conditioning: the known frames of x_t become a draw of q(x_t | x_0 = known),

        x_t[f] <- √ᾱ_t known[f] + √(1-ᾱ_t) ε[f]   for known frames f;  x_t[f] unchanged otherwise.

    x_t, known, noise: [B, C, T, H, W]; mask: bool [T] or [B, T] (True = known); t: [B]. Known
    frames enter at the noise level of the rest of x_t; clean ones (√ᾱ_t = 1 stands for t = -1
    only) would tell the model a different noise level than t for those frames.
    """
    if known.shape != x_t.shape or noise.shape != x_t.shape:
        raise ValueError(f"known {list(known.shape)} and noise {list(noise.shape)} must have "
                         f"x_t's shape {list(x_t.shape)}")
    noised = schedule.q_sample(known.to(x_t), t, noise)
    return torch.where(_frame_mask(mask, x_t), noised, x_t)


def _randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    where = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=where, dtype=x.dtype).to(x.device)


@torch.no_grad()
def sample_with_known_frames(
    model: Callable[..., Tensor],
    known: Tensor,
    mask: Tensor,
    schedule: NoiseSchedule,
    steps: int = 20,
    prediction: str = "eps",
    noise_aug: float = 0.0,
    cond: Any = None,
    generator: torch.Generator | None = None,
    x_T: Tensor | None = None,
    clip_x0: bool = True,
    progress: bool = False,
) -> Tensor:
    """Deterministic DDIM sampling of a clip some of whose frames are given.

    known: [B, C, T, H, W], the given frames where mask is True (other frames ignored); mask:
    bool [T] or [B, T]. Start from x_{τ_1} ~ N(0, I) (or x_T); at each DDIM timestep τ_i put
    the known frames in by `replace_known`, predict with model(x, t[, cond]) and take
    `ddim_step` τ_i -> τ_{i+1}. The returned clip [B, C, T, H, W] holds the known frames exactly.

    noise_aug = σ > 0 (SVD's noise_aug_strength): the known frames are first perturbed once,
    known + σ ε' (ε' ~ N(0, I), the same at every step), so the model treats them as a slightly
    uncertain guide and does not copy a chunk's artefacts verbatim into the next one.
    """
    if known.ndim != 5:
        raise ValueError(f"known must be clips [B, C, T, H, W], got shape {list(known.shape)}")
    if not (math.isfinite(noise_aug) and noise_aug >= 0):
        raise ValueError(f"noise_aug must be a finite number >= 0, got {noise_aug}")
    m = _frame_mask(mask, known)
    guide = known + noise_aug * _randn_like(known, generator) if noise_aug else known
    x = _randn_like(known, generator) if x_T is None else x_T.to(known)  # [B, C, T, H, W]
    if x.shape != known.shape:
        raise ValueError(f"x_T shape {list(x.shape)} != known's shape {list(known.shape)}")
    taus = ddim_timesteps(schedule.num_steps, steps)
    pairs = zip(taus, taus[1:] + [-1], strict=True)  # the last step goes to -1: clean
    for i, j in tqdm(pairs, total=len(taus), desc="DDIM, known frames", disable=not progress):
        t = torch.full(x.shape[:1], i, device=x.device, dtype=torch.long)  # [B]
        x = replace_known(x, guide, mask, t, schedule, _randn_like(x, generator))
        pred = model(x, t) if cond is None else model(x, t, cond)
        x = ddim_step(x, t, torch.full_like(t, j), pred, schedule, prediction, 0.0, None, clip_x0)
    return torch.where(m, known, x)


def _chunk_shape(shape: tuple[int, ...], chunk: int) -> tuple[int, int, int, int, int]:
    if len(shape) != 4:
        raise ValueError(f"shape must be (B, C, H, W) of the clips to make, got {tuple(shape)}")
    b, c, h, w = shape
    return b, c, chunk, h, w


def splice(
    model: Callable[..., Tensor],
    shape: tuple[int, int, int, int],
    frames: int,
    chunk: int,
    overlap: int,
    schedule: NoiseSchedule,
    steps: int = 20,
    prediction: str = "eps",
    noise_aug: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
    return_chunks: bool = False,
) -> Tensor | tuple[Tensor, list[Tensor]]:
    """Latent splicing: `frames` frames [B, C, frames, H, W] from a model of `chunk`-frame clips.

    shape = (B, C, H, W). Chunk 0 is sampled freely; chunk i (at `chunk_starts`) is sampled by
    `sample_with_known_frames` with its first frames known, equal to the frames already made
    (at least `overlap` of them, the last chunk possibly more). Each chunk writes its own frames
    after the ones before it; the shared frames agree exactly. With `return_chunks` also the
    list of chunks [B, C, chunk, H, W] as sampled.
    """
    starts = chunk_starts(frames, chunk, overlap)
    b, c, k, h, w = _chunk_shape(shape, chunk)
    video = torch.zeros(b, c, frames, h, w, device=device)
    chunks, end = [], 0
    for s in tqdm(starts, desc="splice", disable=not progress):
        known = torch.zeros(b, c, k, h, w, device=device)
        shared = max(end - s, 0)  # frames of this chunk already made
        known[:, :, :shared] = video[:, :, s:end]
        mask = torch.arange(k, device=device) < shared  # [k]
        clip = sample_with_known_frames(model, known, mask, schedule, steps, prediction,
                                        noise_aug, generator=generator)
        video[:, :, end:s + k] = clip[:, :, shared:]
        chunks.append(clip)
        end = s + k
    return (video, chunks) if return_chunks else video


def independent_chunks(
    model: Callable[..., Tensor],
    shape: tuple[int, int, int, int],
    frames: int,
    chunk: int,
    schedule: NoiseSchedule,
    steps: int = 20,
    prediction: str = "eps",
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> Tensor:
    """The baseline: chunks at `chunk_starts(frames, chunk, 0)` each sampled on its own and
    put end to end, [B, C, frames, H, W]; where the last chunk overlaps the one before (frames
    not a multiple of chunk), only its frames after that chunk's end are used."""
    starts = chunk_starts(frames, chunk, 0)
    b, c, k, h, w = _chunk_shape(shape, chunk)
    video = torch.zeros(b, c, frames, h, w, device=device)
    end = 0
    for s in tqdm(starts, desc="independent chunks", disable=not progress):
        none = torch.zeros(k, dtype=torch.bool)
        clip = sample_with_known_frames(model, torch.zeros(b, c, k, h, w, device=device), none,
                                        schedule, steps, prediction, generator=generator)
        video[:, :, end:s + k] = clip[:, :, end - s:]
        end = s + k
    return video


# ---------------------------------------------------------------------------------------------
# Continuity at chunk boundaries, and drift
# ---------------------------------------------------------------------------------------------


def _sprite_stats(video: Tensor, threshold: float = 0.4,
                  exclude: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Per frame: sprite area [B, T], mean colour [B, T, 3] and centroid (x, y) [B, T, 2] of the
    pixels farther than `threshold` from the clip's median colour, leaving out `exclude`
    ([B, H, W] bool, e.g. the occluder bar). Colour and centroid are NaN where the area is
    below MIN_SPRITE_PIXELS."""
    video = video.detach().float()
    b, _, _, h, w = video.shape
    background = video.reshape(b, 3, -1).median(dim=2).values  # [B, 3]
    fg = (video - background[:, :, None, None, None]).norm(dim=1) > threshold  # [B, T, H, W]
    if exclude is not None:
        fg = fg & ~exclude[:, None].to(fg.device)
    m = fg.float()
    area = m.sum(dim=(2, 3))  # [B, T]
    denom = area.clamp(min=1)[..., None]
    colour = torch.einsum("bcthw,bthw->btc", video, m) / denom
    ys = torch.arange(h, dtype=torch.float32, device=video.device)
    xs = torch.arange(w, dtype=torch.float32, device=video.device)
    centroid = torch.stack([torch.einsum("bthw,w->bt", m, xs), torch.einsum("bthw,h->bt", m, ys)],
                           dim=-1) / denom  # [B, T, 2]
    absent = (area < MIN_SPRITE_PIXELS)[..., None]
    return area, colour.masked_fill(absent, math.nan), centroid.masked_fill(absent, math.nan)


def transition_figures(video: Tensor) -> dict[str, Tensor]:
    """Continuity of each transition t -> t+1 of clips [B, 3, T, H, W]: {name: [B, T-1]}.

    - `warping_error`: `vdlite.metrics.motion_figures`' warping error of the pair alone
      (x_{t+1} against x_t warped along the estimated flow, over non-occluded pixels);
    - `colour_change`: |colour_{t+1} - colour_t| (Euclidean, [-1, 1] units) of the sprite's
      mean colour;
    - `step`: |c_{t+1} - c_t|, how far the sprite's centroid moves, in pixels (a cut shows as a
      step far longer than the sprite's speed).
    NaN where a figure is undefined (no sprite in one of the two frames).
    """
    if video.ndim != 5 or video.shape[2] < 2:
        raise ValueError(f"video must be clips [B, 3, T, H, W] with T >= 2, got "
                         f"{list(video.shape)}")
    b, c, t, h, w = video.shape
    pairs = video.unfold(2, 2, 1)  # [B, C, T-1, H, W, 2]
    pairs = pairs.permute(0, 2, 1, 5, 3, 4).reshape(b * (t - 1), c, 2, h, w)
    warp = motion_figures(pairs)["warping_error"].reshape(b, t - 1)
    _, colour, centroid = _sprite_stats(video)
    return {"warping_error": warp,
            "colour_change": (colour[:, 1:] - colour[:, :-1]).norm(dim=-1),
            "step": (centroid[:, 1:] - centroid[:, :-1]).norm(dim=-1)}


def boundary_continuity(video: Tensor, boundaries: list[int]) -> dict[str, dict[str, Tensor]]:
    """Each `transition_figures` figure at the chunk boundaries against within the chunks, per
    clip: {name: {"boundary": [B], "within": [B], "excess": [B]}}, boundary = the mean over the
    transitions b - 1 -> b for b in `boundaries` (`chunk_boundaries`), within = the mean over
    all the others, excess = boundary - within (about 0 for a seamless clip)."""
    t = video.shape[2]
    if not boundaries or any(not 1 <= b < t for b in boundaries):
        raise ValueError(f"boundaries must be frames in 1..{t - 1}, got {boundaries}")
    at = torch.zeros(t - 1, dtype=torch.bool)
    at[[b - 1 for b in boundaries]] = True
    out = {}
    for name, v in transition_figures(video).items():
        boundary, within = v[:, at].nanmean(dim=1), v[:, ~at].nanmean(dim=1)
        out[name] = {"boundary": boundary, "within": within, "excess": boundary - within}
    return out


def chunk_drift(video: Tensor, frames_per_chunk: int) -> dict[str, Tensor]:
    """Drift of the sprite over a long clip [B, 3, T, H, W] cut into consecutive windows of
    `frames_per_chunk` frames (the last may be shorter): {name: [B, n_windows]}, window 0 the
    reference.

    - `colour`: |mean colour of window i - mean colour of window 0| over the frames with a sprite;
    - `size`: |log(mean area of window i / mean area of window 0)|;
    - `presence`: fraction of window i's frames with a sprite (1 for every window of a real
      clip; a rollout that loses its sprite falls towards 0).
    NaN where window i or window 0 has no sprite.
    """
    _check_int("frames_per_chunk", frames_per_chunk, 1)
    area, colour, _ = _sprite_stats(video)
    present = area >= MIN_SPRITE_PIXELS  # [B, T]
    cols, sizes, pres = [], [], []
    for s in range(0, video.shape[2], frames_per_chunk):
        seen = present[:, s:s + frames_per_chunk]
        cols.append(colour[:, s:s + frames_per_chunk].nanmean(dim=1))  # [B, 3]
        a = (area[:, s:s + frames_per_chunk] * seen).sum(1) / seen.sum(1)  # [B], NaN if none
        sizes.append(a)
        pres.append(seen.float().mean(dim=1))
    cols, sizes = torch.stack(cols, dim=1), torch.stack(sizes, dim=1)  # [B, n, 3], [B, n]
    return {"colour": (cols - cols[:, :1]).norm(dim=-1),
            "size": (sizes / sizes[:, :1]).log().abs(),
            "presence": torch.stack(pres, dim=1)}


# ---------------------------------------------------------------------------------------------
# Object permanence
# ---------------------------------------------------------------------------------------------

PERMANENCE_DATA = dict(sprites=1, occluder=1.0, background="plain", speed=(0.6, 1.2),
                       sprite_size=(0.1, 0.14))
"""`MovingSprites` options of the permanence clips: one small slow sprite, every clip with an
occluder bar (at size 32 the bar is 3-6 pixels wide, the sprite 3-4.5), so that a sprite
crossing the bar is wholly hidden for a few frames."""


def occlusion_clips(num: int, frames: int = 12, size: int = 32, seed: int = 0,
                    min_hidden: int = 2, min_known: int = 3, min_judged: int = 2,
                    max_tries: int = 200_000,
                    **data: Any) -> dict[str, Tensor]:
    """`num` clips of `MovingSprites(**PERMANENCE_DATA, **data)` (dataset seed `seed`, clips
    taken in index order) in which the sprite passes wholly behind the occluder and re-emerges:
    visible in frame 0 and in at least `min_known` frames before it is first hidden (enough
    to tell its velocity), then hidden (no visible pixel) for at least `min_hidden` consecutive
    frames, then visible again, in full (its visible area at least 90% of its largest) in at
    least `min_judged` frames after that; at constant velocity throughout (no bounce), so its
    true path after the occlusion is the constant-velocity extrapolation of its path before.

    Returns {"video": [N, 3, T, H, W], "known": [N, T] bool (the frames before the sprite is
    first wholly hidden: the condition), "judged": [N, T] bool (the frames after it re-emerges
    in which it is fully visible), "positions": [N, T, 2] (x, y), "colour_ids": [N],
    "occluder": [N, H, W] bool, "indices": [N]}.
    """
    from vdlite.data import MovingSprites

    _check_int("num", num, 1)
    ds = MovingSprites(num_clips=max_tries, frames=frames, size=size, seed=seed,
                       **{**PERMANENCE_DATA, **data})
    keep: list[dict[str, Tensor]] = []
    for i in range(max_tries):
        item = ds[i]
        chosen = _occlusion_frames(item, min_hidden, min_known, min_judged)
        if chosen is None:
            continue
        known, judged = chosen
        keep.append({"video": item["video"], "known": known, "judged": judged,
                     "positions": item["positions"][:, 0], "colour_ids": item["colour_ids"][0],
                     "occluder": item["occluder"], "indices": torch.tensor(i)})
        if len(keep) == num:
            return {k: torch.stack([c[k] for c in keep]) for k in keep[0]}
    raise ValueError(f"only {len(keep)} of {num} occlusion clips found in {max_tries} tries: "
                     "loosen min_hidden or use more frames")


def _occlusion_frames(item: dict[str, Tensor], min_hidden: int, min_known: int,
                      min_judged: int) -> tuple[Tensor, Tensor] | None:
    """(known [T], judged [T]) for a clip that qualifies for `occlusion_clips`, else None."""
    v = item["velocities"][:, 0]  # [T, 2]
    if not torch.equal(v, v[:1].expand_as(v)):  # a bounce
        return None
    visible = item["masks"][:, 0].sum(dim=(1, 2))  # [T]
    t = visible.shape[0]
    if visible[0] < MIN_SPRITE_PIXELS:
        return None
    hidden = (visible == 0).nonzero().flatten()
    if hidden.numel() < min_hidden:
        return None
    first = int(hidden[0])
    if int((visible[:first] >= MIN_SPRITE_PIXELS).sum()) < min_known:
        return None
    last = first + min_hidden - 1
    if not bool((visible[first:last + 1] == 0).all()):
        return None
    while last + 1 < t and visible[last + 1] == 0:
        last += 1
    after = torch.arange(t) > last
    judged = after & (visible >= 0.9 * visible.max()) & (visible >= MIN_SPRITE_PIXELS)
    if int(judged.sum()) < min_judged:
        return None
    return torch.arange(t) < first, judged


def permanence_scores(video: Tensor, clips: dict[str, Tensor], tolerance: float = 2.0,
                      threshold: float = 0.4) -> dict[str, Tensor]:
    """Does the sprite come back, as itself, on its path? For each clip [3, T, H, W] of `video`
    ([N, 3, T, H, W], continuations of `occlusion_clips`' `clips`), over the frames
    `clips["judged"]` (after the occlusion, where the real sprite is fully visible), with the
    sprite found as the pixels farther than `threshold` from the clip's median colour outside
    the occluder bar:

    - `reemerged`: a sprite is found in at least half of those frames;
    - `same_colour`: the palette colour nearest to its mean colour there is the clip's own;
    - `path_error`: mean distance (pixels) of its centroid from the true position, which is the
      constant-velocity extrapolation of the path before the occlusion;
    - `on_path`: path_error <= `tolerance`;
    - `permanent`: all three;
    - `bar_error`: `bar_error` (how far the occluder bar is from the real one) over those frames.
    Every value is [N] (bool, or float; NaN where not re-emerged).
    """
    judged = clips["judged"].to(video.device)
    if video.ndim != 5 or video.shape[0] != judged.shape[0] or video.shape[2] != judged.shape[1]:
        raise ValueError(f"video must be clips [N, 3, T, H, W] matching clips' judged frames "
                         f"{list(judged.shape)}, got {list(video.shape)}")
    area, colour, centroid = _sprite_stats(video, threshold, clips["occluder"])
    found = (area >= MIN_SPRITE_PIXELS) & judged  # [N, T]
    reemerged = found.sum(dim=1) * 2 >= judged.sum(dim=1)
    w = found.float()[..., None]  # [N, T, 1]
    mean_colour = (colour.nan_to_num() * w * area[..., None]).sum(1) / (w * area[..., None]).sum(
        1).clamp(min=1)  # [N, 3], area-weighted over the frames where found
    palette = torch.tensor(list(PALETTE.values()), device=video.device)  # [8, 3]
    nearest = torch.cdist(mean_colour.float(), palette).argmin(dim=1)  # [N]
    same_colour = reemerged & (nearest == clips["colour_ids"].to(video.device))
    dist = (centroid - clips["positions"].to(video.device)).norm(dim=-1)  # [N, T]
    path_error = (dist.nan_to_num() * found).sum(1) / found.sum(1)  # NaN where none found
    on_path = reemerged & (path_error <= tolerance)
    bar = bar_error(video, clips)  # [N, T]
    bar_judged = (bar * judged).sum(1) / judged.sum(1)
    return {"reemerged": reemerged, "same_colour": same_colour, "path_error": path_error,
            "on_path": on_path, "permanent": reemerged & same_colour & on_path,
            "bar_error": bar_judged}


def bar_error(video: Tensor, clips: dict[str, Tensor]) -> Tensor:
    """How well the occluder itself persists: per clip and frame, the mean over channels and
    the bar's pixels of |video - real clip| ([N, T]; 0 for the real clips). The bar is a static
    object: a model that has lost the frames in which it was drawn must guess it again."""
    real, bar = clips["video"].to(video), clips["occluder"].to(video.device)  # [N, H, W]
    diff = (video - real).abs().mean(dim=1)  # [N, T, H, W]
    return (diff * bar[:, None]).sum(dim=(2, 3)) / bar[:, None].sum(dim=(2, 3)).clamp(min=1)


def error_by_distance(errors: Tensor, known: Tensor, max_distance: int) -> list[float]:
    """Mean over clips of errors [N, T] at the frames d = 1..max_distance after each clip's last
    known frame (known [N, T] bool, a prefix); NaN where no clip has such a frame."""
    last = known.sum(dim=1) - 1  # [N]
    out = []
    for d in range(1, max_distance + 1):
        frame = last + d
        ok = frame < errors.shape[1]
        out.append(float(errors[ok, frame[ok]].mean()) if ok.any() else math.nan)
    return out


def _bootstrap(values: Tensor, n_boot: int = 2000, level: float = 0.9,
               seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` [N] and its `level` bootstrap interval over them."""
    values = values.double()[~values.double().isnan()]
    if not len(values):
        return math.nan, math.nan, math.nan
    gen = torch.Generator().manual_seed(seed)
    boots = values[torch.randint(0, len(values), (n_boot, len(values)), generator=gen)].mean(1)
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    low, high = torch.quantile(boots, q).tolist()
    return float(values.mean()), low, high


# ---------------------------------------------------------------------------------------------
# The experiments
# ---------------------------------------------------------------------------------------------


def _train(cfg, data, progress: bool, desc: str, device: str = "cpu"):
    from vdlite.train import clip_batches, train

    model, losses = train(cfg, clip_batches(data, cfg.batch, cfg.seed), device, progress,
                          desc=desc)
    return model.eval(), losses


def _write(out: Path, results: dict, md: str) -> None:
    from vdlite.checkpoint import atomic_write_text

    results.update(torch=torch.__version__, platform=platform.platform(),
                   date=time.strftime("%Y-%m-%d"))
    atomic_write_text(json.dumps(results, indent=2), out / "results.json")
    atomic_write_text(md, out / "results.md")


def _frames_figure(rows: list[tuple[str, Tensor, list[int]]], path: Path) -> None:
    """A PNG: one row of frames per (title, clip [3, T, H, W], marks), a red line before each
    frame in marks (chunk boundaries, or the first generated frame)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, h, w = rows[0][1].shape[1:]  # every clip [3, T, H, W]
    fig, axes = plt.subplots(len(rows), 1, figsize=(min(0.45 * t + 1, 16), 1.1 * len(rows) + 0.4))
    for ax, (title, clip, marks) in zip(list(axes) if len(rows) > 1 else [axes], rows,
                                        strict=True):
        strip = clip.permute(0, 2, 1, 3).reshape(3, h, t * w)  # [3, H, T·W], frames side by side
        ax.imshow(((strip.permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
        for m in marks:
            ax.axvline(m * w - 0.5, color="red", lw=1)
        ax.set_title(title, fontsize=8, loc="left")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_splice(args: argparse.Namespace) -> dict:
    """The splicing experiment: one U-Net per seed on `chunk`-frame clips; per seed, the same
    clips made by splicing and by independent chunks; figures with bootstrap intervals."""
    from vdlite.data import MovingSprites
    from vdlite.demo import demo_config

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames, k, o = args.frames, args.chunk, args.overlap
    boundaries = {"splice": chunk_boundaries(frames, k, o),
                  "independent": chunk_boundaries(frames, k, 0)}
    runs, example = [], None
    for seed in args.seeds:
        cfg = demo_config(args.device, args.steps, seed, preset="cpu", frames=k, size=args.size)
        data = MovingSprites(num_clips=100_000, frames=k, size=args.size, sprites=1, seed=seed)
        model, losses = _train(cfg, data, not args.quiet, f"train U-Net, seed {seed}",
                               args.device)
        schedule = NoiseSchedule(cfg.schedule, cfg.num_timesteps)
        shape = (args.samples, 3, args.size, args.size)
        kw = dict(steps=args.sample_steps, prediction=cfg.prediction, device=args.device)
        videos = {"splice": splice(model, shape, frames, k, o, schedule, noise_aug=args.noise_aug,
                                   generator=torch.Generator().manual_seed(seed + 1), **kw),
                  "independent": independent_chunks(
                      model, shape, frames, k, schedule,
                      generator=torch.Generator().manual_seed(seed + 1), **kw)}
        videos = {name: v.cpu() for name, v in videos.items()}
        real = MovingSprites(num_clips=args.samples, frames=frames, size=args.size, sprites=1,
                             seed=10_000 + seed).batch(range(args.samples))["video"]
        run: dict[str, Any] = {"seed": seed, "final_loss": sum(losses[-50:]) / 50}
        per_clip = {}
        for name, video in {**videos, "real": real}.items():
            bounds = boundaries.get(name, boundaries["splice"])
            cont = boundary_continuity(video, bounds)
            drift = chunk_drift(video, k)
            per_clip[name] = {**{f"{f}_excess": cont[f]["excess"] for f in cont},
                              **{f"{f}_boundary": cont[f]["boundary"] for f in cont},
                              **{f"{f}_within": cont[f]["within"] for f in cont},
                              **{f"drift_{f}_last": drift[f][:, -1] for f in drift}}
            run[name] = {f: float(v.nanmean()) for f, v in per_clip[name].items()}
            run[name]["drift_per_chunk"] = {f: drift[f].nanmean(dim=0).tolist() for f in drift}
        run["splice_minus_independent"] = paired_intervals(per_clip["splice"],
                                                           per_clip["independent"])
        runs.append(run)
        if example is None:
            example = videos
    results = {"command": "python -m vdlite.long_video splice " + " ".join(args.argv),
               "frames": frames, "chunk": k, "overlap": o, "noise_aug": args.noise_aug,
               "samples": args.samples, "sample_steps": args.sample_steps, "steps": args.steps,
               "size": args.size, "boundaries": boundaries, "config": asdict(cfg), "runs": runs}
    _write(out, results, splice_report(results))
    rows = [(f"{name} (clip {i}); red: chunk boundaries", example[name][i], boundaries[name])
            for i in range(2) for name in ("splice", "independent")]
    _frames_figure(rows, out / "clips.png")
    return results


def splice_report(r: dict) -> str:
    lines = [f"# Latent splicing: {r['frames']} frames from a model of {r['chunk']}-frame clips",
             "", f"- command: `{r['command']}`",
             f"- model: the CPU U-Net preset (`demo_config('cpu')`) at size {r['size']}, "
             f"{r['steps']} steps, seeds {[x['seed'] for x in r['runs']]}",
             f"- {r['samples']} clips per method and seed, {r['sample_steps']} DDIM steps, the "
             f"same random generator for both; splice overlap {r['overlap']} (noise_aug "
             f"{r['noise_aug']}), boundaries {r['boundaries']}",
             "- excess = mean over boundary transitions - mean over the other transitions, per "
             "clip (0 for a seamless clip); drift = last chunk against the first",
             "", "| seed | figure | real | splice | independent | splice - independent "
             "[90% bootstrap over clips] |", "|---|---|---|---|---|---|"]
    for run in r["runs"]:
        for f, c in run["splice_minus_independent"].items():
            lines.append(f"| {run['seed']} | {f} | {run['real'][f]:.4g} | {c['a']:.4g} | "
                         f"{c['b']:.4g} | {c['diff']:+.4g} [{c['low']:+.4g}, {c['high']:+.4g}]"
                         f" ({c['pairs']} pairs) |")
    return "\n".join(lines) + "\n"


def run_permanence(args: argparse.Namespace) -> dict:
    """The permanence experiment: per seed, a DiT with a short temporal window and one with the
    whole clip, same steps and seed, on occluder clips; both continue the same held-out
    occlusion clips from their frames before the occlusion, with the same noise."""
    from vdlite.data import MovingSprites
    from vdlite.train import TrainConfig

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clips = occlusion_clips(args.samples, args.frames, args.size, seed=999,
                            min_hidden=args.min_hidden)
    known = clips["video"]
    real = permanence_scores(known, clips)
    base = TrainConfig(arch="dit", frames=args.frames, size=args.size, patch_size=4, dim=64,
                       depth=args.depth, heads=4, temporal_radius=args.radius, batch=8,
                       steps=args.steps, lr=1e-3, lr_schedule="cosine", prediction="x0")
    runs, example = [], {}
    for seed in args.seeds:  # the files are rewritten after every seed, so a cut run keeps some
        data = MovingSprites(num_clips=100_000, frames=args.frames, size=args.size, seed=seed,
                             **PERMANENCE_DATA)
        run: dict[str, Any] = {"seed": seed}
        scores = {}
        for name, window in (("window", args.window), ("full", 0)):
            cfg = replace(base, seed=seed, temporal_window=window)
            model, losses = _train(cfg, data, not args.quiet, f"train DiT {name}, seed {seed}",
                                   args.device)
            schedule = NoiseSchedule(cfg.schedule, cfg.num_timesteps)
            video = sample_with_known_frames(
                model, known.to(args.device), clips["known"].to(args.device), schedule,
                args.sample_steps, cfg.prediction,
                generator=torch.Generator().manual_seed(seed + 1)).cpu()
            scores[name] = permanence_scores(video, clips)
            run[name] = {f: _bootstrap(v.float()) for f, v in scores[name].items()}
            run[name]["bar_error_by_distance"] = error_by_distance(
                bar_error(video, clips), clips["known"], args.frames - 3)
            run[name]["final_loss"] = sum(losses[-50:]) / 50
            example.setdefault(name, video)
        run["full_minus_window"] = paired_intervals(
            {f: v.float() for f, v in scores["full"].items()},
            {f: v.float() for f, v in scores["window"].items()})
        runs.append(run)
        results = {"command": "python -m vdlite.long_video permanence " + " ".join(args.argv),
                   "frames": args.frames, "size": args.size, "window": args.window,
                   "depth": args.depth, "radius": args.radius, "steps": args.steps,
                   "samples": args.samples,
                   "sample_steps": args.sample_steps, "min_hidden": args.min_hidden,
                   "known_frames": clips["known"].sum(1).tolist(),
                   "judged_frames": clips["judged"].sum(1).tolist(),
                   "real": {f: _bootstrap(v.float()) for f, v in real.items()},
                   "config": asdict(base), "runs": runs, "summary": permanence_summary(runs)}
        _write(out, results, permanence_report(results))
    rows = []
    for i in range(3):
        first = int(clips["known"][i].sum())
        given = f"frames 0-{first - 1} given"
        rows += [(f"clip {i}: real", known[i], [first]),
                 (f"clip {i}: window {args.window}, {given}", example["window"][i], [first]),
                 (f"clip {i}: whole clip, {given}", example["full"][i], [first])]
    _frames_figure(rows, out / "clips.png")
    return results


PERMANENCE_FIGURES = ("permanent", "reemerged", "same_colour", "on_path", "path_error",
                      "bar_error")


def permanence_summary(runs: list[dict]) -> dict[str, dict]:
    """Per figure, over seeds: the mean of each model's rate and of the paired difference
    full - window, with the difference's 90% Student-t interval over seeds (NaN for 1 seed)."""
    from vdlite.seams import mean_interval

    out = {}
    for f in PERMANENCE_FIGURES:
        diffs = [r["full_minus_window"][f]["diff"] for r in runs]
        mean, low, high = mean_interval(diffs)
        out[f] = {"full": sum(r["full"][f][0] for r in runs) / len(runs),
                  "window": sum(r["window"][f][0] for r in runs) / len(runs),
                  "diff": mean, "low": low, "high": high, "diff_per_seed": diffs}
    return out


def permanence_report(r: dict) -> str:
    lines = ["# Object permanence: a sliding temporal window against the whole clip", "",
             f"- command: `{r['command']}`",
             f"- models: video DiT (patch 4, dim 64, depth {r['depth']}, temporal radius "
             f"{r.get('radius', 0)}), {r['steps']} steps, temporal_window {r['window']} "
             f"against 0 (the whole clip), seeds {[x['seed'] for x in r['runs']]}; trained on "
             "occluder clips",
             f"- {r['samples']} held-out clips of {r['frames']} frames in which the sprite is "
             f"wholly hidden for >= {r['min_hidden']} frames; the frames before the occlusion "
             f"are known (replacement sampling, {r['sample_steps']} DDIM steps, the same noise "
             "for both models); judged on the frames after it re-emerges",
             "- rates with 90% bootstrap intervals over clips; full - window paired by clip",
             "", "| seed | figure | real clips | window | full | full - window |",
             "|---|---|---|---|---|---|"]
    for run in r["runs"]:
        for f in PERMANENCE_FIGURES:
            a, b, c = run["window"][f], run["full"][f], run["full_minus_window"][f]
            lines.append(f"| {run['seed']} | {f} | {r['real'][f][0]:.3g} | {a[0]:.3g} "
                         f"[{a[1]:.3g}, {a[2]:.3g}] | {b[0]:.3g} [{b[1]:.3g}, {b[2]:.3g}] | "
                         f"{c['diff']:+.3g} [{c['low']:+.3g}, {c['high']:+.3g}] |")
    lines += ["", f"Over the {len(r['runs'])} seeds: mean rates, and full - window with its 90% "
              "Student-t interval over seeds", "", "| figure | window | full | full - window |",
              "|---|---|---|---|"]
    for f, c in r["summary"].items():
        lines.append(f"| {f} | {c['window']:.3g} | {c['full']:.3g} | {c['diff']:+.3g} "
                     f"[{c['low']:+.3g}, {c['high']:+.3g}] |")
    depth = len(r["runs"][0]["full"]["bar_error_by_distance"])
    lines += ["", "The occluder bar's error d frames after the last known frame (mean over clips):",
              "", "| seed | model | " + " | ".join(f"d={d}" for d in range(1, depth + 1)) + " |",
              "|---|---|" + "---|" * depth]
    for run in r["runs"]:
        for name in ("window", "full"):
            lines.append(f"| {run['seed']} | {name} | " + " | ".join(
                f"{v:.3f}" for v in run[name]["bar_error_by_distance"]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="experiment", required=True)
    sp = sub.add_parser("splice", help="latent splicing against independent chunks")
    sp.add_argument("--frames", type=int, default=30)
    sp.add_argument("--chunk", type=int, default=8)
    sp.add_argument("--overlap", type=int, default=2)
    sp.add_argument("--noise-aug", type=float, default=0.0)
    sp.add_argument("--size", type=int, default=32)
    sp.add_argument("--steps", type=int, default=400)
    sp.add_argument("--seeds", type=int, nargs="+", default=[0])
    sp.add_argument("--samples", type=int, default=32)
    sp.add_argument("--sample-steps", type=int, default=20)
    pp = sub.add_parser("permanence", help="a short temporal window against the whole clip")
    pp.add_argument("--frames", type=int, default=12)
    pp.add_argument("--size", type=int, default=32)
    pp.add_argument("--window", type=int, default=1)
    pp.add_argument("--depth", type=int, default=2)
    pp.add_argument("--radius", type=int, default=0,
                    help="temporal_radius: 0 per-position temporal attention, r > 0 the "
                         "(2r+1)^2 positions around")
    pp.add_argument("--min-hidden", type=int, default=2)
    pp.add_argument("--steps", type=int, default=500)
    pp.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    pp.add_argument("--samples", type=int, default=48)
    pp.add_argument("--sample-steps", type=int, default=20)
    for p in (sp, pp):
        p.add_argument("--out", required=True)
        p.add_argument("--device", default="cpu")
        p.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    args.argv = argv[1:]
    torch.manual_seed(0)
    results = (run_splice if args.experiment == "splice" else run_permanence)(args)
    print((Path(args.out) / "results.md").read_text())
    del results


if __name__ == "__main__":
    main()

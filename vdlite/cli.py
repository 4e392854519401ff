"""The `vdlite` command: demo, train, train-vae, sample, compare and eval (`python -m vdlite`
too).

Errors a user can fix (a missing file, CUDA asked for but absent, a bad size) are printed as
one line, `vdlite: error: ...`, with exit status 2, never as a traceback
(set VDLITE_DEBUG=1 to see the traceback instead).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from vdlite.demo import DEMO_SAMPLES
from vdlite.train import (
    MAX_SEED,
    PRECISIONS,
    VAE_KINDS,
    TrainConfig,
    TrainingDiverged,
    VAEConfig,
    default_precision,
)

USAGE_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError)


class UsageError(Exception):
    """A problem with the command line that the user can fix."""


def bounded(kind: type, low: float, high: float | None, what: str, low_open: bool = False):
    """An argparse type: a finite `kind` (int or float) with low <= value <= high (value > low
    where `low_open`; no upper bound where `high` is None); `what` names the expected range."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        inside = (value > low if low_open else value >= low) and (high is None or value <= high)
        if not (math.isfinite(value) and inside):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


positive_int = bounded(int, 1, None, "a positive integer")
seed_int = bounded(int, 0, MAX_SEED, "an integer seed in [0, 2**63 - 2]")


def check_device(device: str) -> str:
    """Accept 'cpu', 'cuda' or 'cuda:N' only where that device exists."""
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device} was asked for, but CUDA is not available here")
        return device
    raise UsageError(f"--device must be cpu or cuda, got {device!r}")


def writable_folder(path: str | Path, option: str = "--out") -> Path:
    """Create the folder `path` if needed and prove that a file can be written in it, before
    any work is spent; a UsageError names `option` otherwise."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UsageError(f"{option} {folder} cannot be written: "
                         f"{err.strerror or err}") from None
    return folder


# `vdlite train-vae` options that are VAEConfig fields: (field, argparse type, help)
VAE_OPTIONS = (
    ("frames", positive_int, "frames per clip; 1 + 4k for the causal VAE"),
    ("size", positive_int, "height = width in pixels, a multiple of --spatial-factor"),
    ("spatial_factor", bounded(int, 4, 8, "4 or 8"), "compression in height and width"),
    ("base_channels", positive_int, "channels of the first stage"),
    ("latent_channels", positive_int, "channels of the latent"),
    ("pad_mode", str, "causal padding: replicate or zeros"),
    ("kl_weight", bounded(float, 0, None, "a weight >= 0"), "weight of the KL term"),
    ("steps", positive_int, "training steps"),
    ("batch", positive_int, "clips per step"),
    ("lr", bounded(float, 0, 1, "a learning rate in (0, 1]", low_open=True), "learning rate"),
    ("seed", seed_int, "seed"),
)


def add_run_options(parser: argparse.ArgumentParser, out: str) -> None:
    """--out, --resume, --force and --save-every: the run folder options of train and
    train-vae (`run_folder` checks them)."""
    parser.add_argument("--out", default=out,
                        help=f"output folder for model.pt and train_state.pt (default: {out})")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="DIR",
                        help="continue the run saved in DIR (default: --out)")
    parser.add_argument("--force", action="store_true",
                        help="replace the model already in --out with a new run")
    parser.add_argument("--save-every", type=positive_int, default=100,
                        help="steps between resumable checkpoints (default: 100)")


PRECISION_HELP = ("bf16: forward and loss under bf16 autocast, the weights, optimizer and EMA "
                  "in float32; fp32: float32 throughout (default: bf16 on CUDA, fp32 on the "
                  "CPU)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vdlite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train a video model and a frame-by-frame baseline on "
                                       "moving sprites, sample both and compare them")
    demo.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    demo.add_argument("--steps", type=positive_int, default=None,
                      help="training steps per model (default: the device's preset)")
    demo.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    demo.add_argument("--seed", type=seed_int, default=0)
    demo.add_argument("--samples", type=positive_int, default=DEMO_SAMPLES,
                      help=f"clips sampled per model; the figures are means over them "
                           f"(default: {DEMO_SAMPLES})")
    demo.add_argument("--sample-steps", type=positive_int, default=50, help="DDIM steps")
    demo.add_argument("--arch", choices=("unet", "dit"), default="unet",
                      help="denoiser: the 3D U-Net or the factorised space-time transformer")
    demo.add_argument("--latent", action="store_true",
                      help="also train a causal VAE and a video model on its latents (clips of "
                           "1 + 4k frames), and compare it with the pixel-space models")
    demo.add_argument("--vae-steps", type=positive_int, default=None,
                      help="with --latent: the VAE's training steps (default: its preset's)")
    demo.add_argument("--precision", choices=PRECISIONS, default=None,
                      help=f"the denoisers' training: {PRECISION_HELP}")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")

    tr = sub.add_parser("train", help="train a denoiser on moving sprites or your own videos",
                        description="Train a denoiser. The run is saved to --out every "
                        "--save-every steps and on Ctrl-C, and `--resume` continues it to the "
                        "weights an uninterrupted run would reach. Options left out take the "
                        "defaults shown (or, with --resume, the saved run's values).")
    tr.add_argument("--data", help="'sprites' (built-in synthetic data, the default) or a "
                                   "folder of videos/frames")
    add_run_options(tr, "out/train")
    tr.add_argument("--mode", choices=("video", "frame"),
                    help="video (default): joint clips; frame: the frame-by-frame baseline")
    tr.add_argument("--arch", choices=("unet", "dit"),
                    help="denoiser: the 3D U-Net (default) or the factorised space-time "
                         "transformer")
    tr.add_argument("--conv", choices=("full", "pseudo", "spatial"),
                    help="the U-Net's 3D convolution (default: full)")
    tr.add_argument("--patch", type=positive_int,
                    help="patch size p: p x p pixels per token (default: 4 for dit, 1 for unet)")
    tr.add_argument("--temporal-radius", type=bounded(int, 0, None, "an int >= 0"),
                    help="dit: temporal attention over the (2r+1)^2 positions around each token "
                         "in every frame (default 1; 0 = the same position only)")
    tr.add_argument("--temporal-window", type=bounded(int, 0, None, "an int >= 0"),
                    help="dit: temporal attention sees only the frames within w of each frame "
                         "(a sliding window, lesson 08b; default 0 = the whole clip)")
    tr.add_argument("--fine-patch", type=positive_int,
                    help="DiT: embed and draw pixels as f x f patches around the blocks' "
                         "patches (must divide --patch; default: off)")
    tr.add_argument("--prompts", action="store_const", const=True,
                    help="condition on captions written from the sprites' ground truth "
                         "(needs --arch dit and --data sprites)")
    tr.add_argument("--sprites", type=positive_int,
                    help="sprites per clip (default: 1 to 3; 1 with --prompts)")
    tr.add_argument("--vae", metavar="MODEL_PT",
                    help="latent diffusion: denoise the latents of this trained VAE (the "
                         "model.pt of vdlite train-vae; saved with the model)")
    tr.add_argument("--temporal-loss", choices=("flow_change", "warp"),
                    help="add a temporal term on the predicted clean clip (lesson 07b): the "
                         "syllabus's flow change, or the masked warping loss (default: none)")
    tr.add_argument("--temporal-weight", type=bounded(float, 0, 1e6, "a weight > 0",
                                                     low_open=True),
                    help="its weight λ (default: the one lesson 07b's study used, 0.0003 for "
                         "flow_change, 1 for warp)")
    tr.add_argument("--steps", type=positive_int, help="training steps (default: 600)")
    tr.add_argument("--batch", type=positive_int, help="clips per step (default: 8)")
    tr.add_argument("--frames", type=positive_int, help="frames per clip (default: 8)")
    tr.add_argument("--size", type=positive_int, help="height = width in pixels (default: 32)")
    tr.add_argument("--stride", type=positive_int, help="temporal stride of clips (default: 1)")
    tr.add_argument("--lr", type=bounded(float, 0, 1, "a learning rate in (0, 1]", low_open=True),
                    help="learning rate (default: 2e-3)")
    tr.add_argument("--device", default="cpu")
    tr.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)
    tr.add_argument("--checkpointing", action="store_const", const=True,
                    help="gradient checkpointing: recompute each block's activations in the "
                         "backward pass instead of keeping them (less memory, one more forward "
                         "pass; the same weights; lesson 09a)")
    tr.add_argument("--seed", type=seed_int, help="(default: 0)")
    tr.add_argument("--no-progress", action="store_true")

    tv = sub.add_parser("train-vae", help="train a causal video VAE, or the per-frame 2D "
                                          "baseline, on moving sprites or your own videos",
                        description="Train a video VAE (lesson 06). Saved to --out every "
                        "--save-every steps and on Ctrl-C; --resume continues the run. Options "
                        "left out take the defaults shown (or, with --resume, the saved run's).")
    tv.add_argument("--kind", choices=VAE_KINDS,
                    help="causal (default): x4 in time, clips of 1 + 4k frames; frame: each "
                         "frame alone, as an image VAE")
    tv.add_argument("--data", help="'sprites' (default) or a folder of videos/frames")
    add_run_options(tv, "out/vae")
    for name, kind, text in VAE_OPTIONS:
        tv.add_argument(f"--{name.replace('_', '-')}", type=kind,
                        help=f"{text} (default: {getattr(VAEConfig(), name)})")
    tv.add_argument("--device", default="cpu")
    tv.add_argument("--no-progress", action="store_true")

    co = sub.add_parser("compare", help="compare two sets of clips figure by figure, with "
                                        "bootstrap intervals (e.g. two demo folders)")
    co.add_argument("a", help="a demo folder (its video_samples.pt) or a .pt file of clips "
                              "[N, 3, T, H, W]")
    co.add_argument("b", help="the same for the clips to compare against")
    co.add_argument("--boot", type=positive_int, default=2000, help="bootstrap resamples")
    co.add_argument("--level", type=bounded(float, 0, 0.999, "a level in (0, 0.999]",
                                            low_open=True),
                    default=0.9, help="interval level (default 0.9)")
    co.add_argument("--motion", action="store_true",
                    help="also compare the flow-based figures (warping error, forward-backward "
                         "disagreement, acceleration)")
    ev = sub.add_parser("eval", help="measure a set of clips: consistency and flow-based "
                                     "figures, and with --real their distances to real clips")
    ev.add_argument("clips", help="a .pt file of clips [N, 3, T, H, W], a demo folder (its "
                                  "video_samples.pt), or a video file or folder of videos")
    ev.add_argument("--real", default=None,
                    help="real clips in any of the same forms: adds temporal_fid and "
                         "course_fvd (use at least 64 clips on each side)")
    ev.add_argument("--frames", type=positive_int, default=8,
                    help="frames per clip cut from videos (default 8)")
    ev.add_argument("--size", type=positive_int, default=32,
                    help="height = width of clips cut from videos (default 32)")
    ev.add_argument("--json", default=None, help="also write the figures to this file")
    sa = sub.add_parser("sample", help="sample clips from a trained model")
    sa.add_argument("--checkpoint", required=True, help="model.pt written by `vdlite train`")
    sa.add_argument("--out", default="out/sample", help="output folder")
    sa.add_argument("--num", type=positive_int, default=8, help="number of clips")
    sa.add_argument("--steps", type=positive_int, default=50, help="DDIM steps")
    sa.add_argument("--frames", type=positive_int, default=None,
                    help="frames per clip (default: as trained)")
    sa.add_argument("--device", default="cpu")
    sa.add_argument("--seed", type=seed_int, default=0)
    sa.add_argument("--prompt", default=None,
                    help='what to draw, e.g. "a red circle moving left" (a model trained '
                         "with --prompts)")
    sa.add_argument("--guidance", type=bounded(float, 0, 100, "a guidance scale in [0, 100]"),
                    default=3.0,
                    help="classifier-free guidance scale with --prompt (1 = none)")
    sa.add_argument("--mp4", action="store_true", help="also write sample.mp4")
    sa.add_argument("--no-progress", action="store_true")
    return parser


def cmd_demo(args: argparse.Namespace) -> None:
    from vdlite.demo import CONSISTENCY_FIGURES, run_demo

    writable_folder(args.out)
    if args.vae_steps is not None and not args.latent:
        raise UsageError("--vae-steps sizes the VAE of --latent: add --latent")
    res = run_demo(args.out, args.steps, check_device(args.device), args.seed, args.samples,
                   args.sample_steps, progress=not args.no_progress, arch=args.arch,
                   latent=args.latent, vae_steps=args.vae_steps, precision=args.precision)
    print(f"wrote {args.out}/sample.gif, side_by_side.gif, metrics.json, metrics.png")
    m = res["metrics"]
    columns = {"real_clips": "real clips", "video_model": "video", "frame_by_frame": "frame",
               "latent_model": "latent", "vae_reconstructions": "VAE recon"}
    columns = {k: v for k, v in columns.items() if k in m}
    print(f"{'figure (lower is better)':26s}" + "".join(f"{v:>12s}" for v in columns.values()))
    for key in (*CONSISTENCY_FIGURES, "complete_path_residual", "missing_frames", "flicker",
                "shape_error", "background_off_palette",
                "warping_error", "forward_backward", "acceleration"):
        print(f"{key:26s}" + "".join(f"{m[k][key]:12.4f}" for k in columns))
    for key in ("temporal_fid", "course_fvd", "background_colour_fd"):
        print(f"{key:26s}" + "".join(f"{res['distances'][k][key]:12.4f}" for k in columns))
    for shape in res["shapes"]["real_clips"]:
        print(f"{'clips drawing ' + shape:26s}"
              + "".join(f"{res['shapes'][k][shape]:12d}" for k in columns))
    if "vae" in res:
        print(f"the causal VAE reconstructs held-out clips at {res['vae']['psnr']:.2f} dB PSNR")
    print_paired("video model - frame model, clip by clip", res["video_vs_frame"])
    if "flicker" in res:
        print_paired("the video model's temporal attention on - off (same noise)",
                     res["flicker"]["compare"])
    print("timings (s):", json.dumps(res["timings_s"]))


def print_paired(title: str, paired: dict[str, dict[str, float]]) -> None:
    """`compare_clips` figures as lines: means, difference, interval and verdict."""
    print(f"{title} (90% intervals):")
    for name, r in paired.items():
        print(f"  {name:22s}{r['a']:10.4f}{r['b']:10.4f}  diff {r['diff']:+.4f} "
              f"[{r['low']:+.4f}, {r['high']:+.4f}]  {verdict(r, 'first', 'second')} "
              f"({r['pairs']} pairs)")


def verdict(r: dict[str, float], a: str = "a", b: str = "b") -> str:
    """Which of a pair of clip sets an interval of a - b favours (lower is better)."""
    return (f"{a} better" if r["high"] < 0 else f"{b} better" if r["low"] > 0
            else "cannot tell")


def load_clips(path: str, videos: dict | None = None) -> torch.Tensor:
    """Clips [N, 3, T, H, W] from a .pt file, or from DIR/video_samples.pt of a demo folder.
    With `videos` (VideoFolder's frames and size), a video file or a folder without
    video_samples.pt is read as videos and cut into clips instead."""
    from vdlite.checkpoint import load_weights
    from vdlite.video_io import VideoFolder

    p = Path(path)
    if videos is not None and p.exists() and p.suffix != ".pt" and not (
            p / "video_samples.pt").is_file():
        data = VideoFolder(p, **videos)
        return torch.stack([data[i]["video"] for i in range(len(data))])
    if p.is_dir():
        p = p / "video_samples.pt"
    if not p.is_file():
        raise FileNotFoundError(f"no clips at {p}: give a demo folder (with video_samples.pt, "
                                "written by vdlite demo) or a .pt file of clips")
    clips = load_weights(p, "a file of clips [N, 3, T, H, W] (video_samples.pt)")
    if not isinstance(clips, torch.Tensor) or clips.ndim != 5 or clips.shape[1] != 3:
        raise ValueError(f"{p} must hold one tensor of clips [N, 3, T, H, W], got "
                         f"{getattr(clips, 'shape', type(clips).__name__)}")
    return clips


def cmd_compare(args: argparse.Namespace) -> None:
    from vdlite.metrics import compare_clips

    a, b = load_clips(args.a), load_clips(args.b)
    res = compare_clips(a, b, n_boot=args.boot, level=args.level, motion=args.motion)
    pct = round(100 * args.level)
    print(f"{a.shape[0]} clip pairs; a = {args.a}, b = {args.b}; lower is better")
    print(f"{'figure':24s}{'a':>9s}{'b':>9s}{'a - b':>9s}   {pct}% interval of a - b  verdict")
    for name, r in res.items():
        print(f"{name:24s}{r['a']:9.4f}{r['b']:9.4f}{r['diff']:9.4f}   "
              f"[{r['low']:8.4f}, {r['high']:8.4f}]   {verdict(r)} ({r['pairs']} pairs)")


def cmd_eval(args: argparse.Namespace) -> None:
    from vdlite.checkpoint import atomic_write_text
    from vdlite.demo import demo_report, distances, drawn_shapes

    videos = {"frames": args.frames, "size": args.size}
    clips = load_clips(args.clips, videos)
    report = demo_report(clips)
    if args.real is not None:
        real = load_clips(args.real, videos)
        if real.shape[1:] != clips.shape[1:]:
            raise UsageError(f"--real clips are {list(real.shape[1:])} [C, T, H, W], the clips "
                             f"{list(clips.shape[1:])}: they must match")
        report.update(distances(real, clips))
    print(f"{clips.shape[0]} clips of {clips.shape[2]} frames, {clips.shape[3]}x{clips.shape[4]}"
          f" ({args.clips}); lower is better")
    for name, value in report.items():
        print(f"  {name:26s}{value:12.5f}")
    shapes = drawn_shapes(clips)
    print("  clips drawing each shape: " + ", ".join(f"{k} {v}" for k, v in shapes.items()))
    if args.json is not None:
        atomic_write_text(json.dumps({"clips": args.clips, "real": args.real,
                                      "num_clips": clips.shape[0], "figures": report,
                                      "shapes": shapes}, indent=2), args.json)
        print(f"wrote {args.json}")


# `vdlite train` options that define a run: their defaults (`--resume` takes the saved run's),
# TrainConfig's where the option is one of its fields.
# precision's default (None) is the device's, `default_precision`.
TRAIN_DEFAULTS = dict(data="sprites", patch=None, temporal_radius=None, temporal_window=None,
                      fine_patch=None,
                      prompts=False, sprites=None, stride=1, precision=None,
                      **{k: getattr(TrainConfig(), k) for k in ("mode", "arch", "conv", "steps",
                                                               "temporal_loss", "temporal_weight",
                                                               "batch", "frames", "size", "lr",
                                                               "seed", "checkpointing")})


def cmd_train(args: argparse.Namespace) -> None:
    from vdlite.parallel import init_from_env
    from vdlite.train import MODEL_FILE, STATE_FILE, TrainingInterrupted, train

    # under torchrun: data parallel over WORLD_SIZE processes (vdlite.parallel), rank 0 reports
    rank, world, device = init_from_env(check_device(args.device))
    say = print if rank == 0 else (lambda *a, **k: None)
    if args.data not in (None, "sprites"):
        args.data = str(Path(args.data).resolve())  # so that --resume works from anywhere
    vae = None
    if args.resume is not None and args.vae is not None:
        raise UsageError("--vae starts a latent run; a resumed run keeps the VAE it was "
                         "saved with: leave --vae out")
    if args.resume is None:  # a bad option is reported before the folder is touched
        opts = {k: v if (v := getattr(args, k)) is not None else d
                for k, d in TRAIN_DEFAULTS.items()}
        opts["precision"] = opts["precision"] or default_precision(device)
        cfg = train_config(opts)
        if args.vae is not None:
            vae, cfg = latent_config(args.vae, cfg)
        check_model_takes(cfg)
    out, resuming = run_folder(args, "train")
    if resuming:
        cfg, opts, step = resumed_run(out / STATE_FILE, args)
        say(f"resuming {out} at step {step} of {cfg.steps}")
    if cfg.batch % world:
        raise UsageError(f"--batch {cfg.batch} is the global batch, split over {world} "
                         f"processes: give a multiple of {world}")
    batches = train_batches(cfg, opts)
    split = f", {world} processes of {cfg.batch // world} clips" if world > 1 else ""
    say(f"training the {cfg.arch} ({cfg.mode} mode, {cfg.precision}{split}) for {cfg.steps} "
        f"steps on {opts['data']}, saved to {out} every {args.save_every} steps and on Ctrl-C",
        flush=True)
    try:
        _, losses = train(cfg, batches, device, progress=not args.no_progress, out=out,
                          save_every=args.save_every, resume=args.resume is not None,
                          info={k: opts[k] for k in ("data", "sprites", "stride")}, vae=vae)
    except TrainingInterrupted as stop:
        raise KeyboardInterrupt(f"{stop}; continue it with: vdlite train --resume {out}") from None
    say(f"wrote {out / MODEL_FILE} (final loss {sum(losses[-20:]) / len(losses[-20:]):.4f}) "
        f"and {out / STATE_FILE}")
    if world > 1:
        torch.distributed.destroy_process_group()


def latent_config(path: str, cfg: TrainConfig) -> tuple[torch.nn.Module, TrainConfig]:
    """The VAE saved at `path` (by vdlite train-vae) and `cfg` made a latent run on it."""
    from dataclasses import replace

    from vdlite.train import latent_fields, load_vae

    if cfg.mode != "video":
        raise UsageError("--vae trains a latent video model: leave out --mode frame")
    vae, vcfg = load_vae(path)
    return vae, replace(cfg, **latent_fields(vcfg))


def train_config(opts: dict) -> TrainConfig:
    """The TrainConfig for `vdlite train`'s options (`TRAIN_DEFAULTS` filled in, and the
    precision resolved: `default_precision` of the device where --precision is left out)."""
    if opts["prompts"] and opts["arch"] != "dit":
        raise UsageError("--prompts needs --arch dit (the U-Net takes no prompt)")
    if opts["prompts"] and opts["data"] != "sprites":
        raise UsageError("--prompts writes captions from the sprites' ground truth, so it "
                         "needs --data sprites")
    if opts["temporal_radius"] is not None and opts["arch"] != "dit":
        raise UsageError("--temporal-radius takes an int >= 0 and needs --arch dit")
    if opts["temporal_window"] and (opts["arch"] != "dit" or opts["mode"] != "video"):
        raise UsageError("--temporal-window needs --arch dit and a video model (--mode video)")
    if opts["fine_patch"] is not None and opts["arch"] != "dit":
        raise UsageError("--fine-patch needs --arch dit")
    from vdlite.temporal_loss import WEIGHTS

    dit = opts["arch"] == "dit"
    radius = opts["temporal_radius"] if opts["temporal_radius"] is not None else int(dit)
    weight = opts["temporal_weight"]
    if opts["temporal_loss"] and not weight:  # the weight of lesson 07b's study
        weight = WEIGHTS[opts["temporal_loss"]]
    return TrainConfig(mode=opts["mode"], arch=opts["arch"], conv=opts["conv"],
                       frames=opts["frames"], size=opts["size"], batch=opts["batch"],
                       lr=opts["lr"], steps=opts["steps"], seed=opts["seed"],
                       text=opts["prompts"], patch_size=opts["patch"] or (4 if dit else 1),
                       temporal_radius=radius, temporal_window=opts["temporal_window"] or 0,
                       fine_patch=opts["fine_patch"] or 0,
                       temporal_loss=opts["temporal_loss"], temporal_weight=weight,
                       precision=opts["precision"], checkpointing=opts["checkpointing"])


def resumed_run(path: Path, args: argparse.Namespace) -> tuple[TrainConfig, dict, int]:
    """The saved run's config, options and step; an option given on the command line that differs
    from the saved run's is a UsageError (a resumed run must be the same run)."""
    from dataclasses import asdict

    from vdlite.checkpoint import check_fields
    from vdlite.train import load_train_state

    if not path.is_file():
        raise UsageError(f"nothing to resume in {path.parent}: it holds no {path.name} "
                         "(written by vdlite train)")
    state = load_train_state(path)
    cfg = check_fields(TrainConfig, state["config"], path)
    info = state.get("info") if isinstance(state.get("info"), dict) else {}
    saved = {**TRAIN_DEFAULTS, **{k: info[k] for k in ("data", "sprites", "stride") if k in info},
             **{k: v for k, v in asdict(cfg).items() if k in TRAIN_DEFAULTS},
             "prompts": cfg.text, "patch": cfg.patch_size, "temporal_radius": cfg.temporal_radius,
             "temporal_window": cfg.temporal_window or None, "fine_patch": cfg.fine_patch or None}
    for key in TRAIN_DEFAULTS:
        given = getattr(args, key)
        if given is not None and given != saved[key]:
            raise UsageError(f"--{key.replace('_', '-')} {given} differs from the run saved in "
                             f"{path.parent} ({saved[key]}); leave it out to resume that run")
    return cfg, saved, state["step"]


def check_model_takes(cfg: TrainConfig) -> None:
    """Run the model once on one zero clip of the run's size, so that a frame count or size
    it cannot take is an error now, not after the data is loaded."""
    from vdlite.train import build_model

    model = build_model(cfg).eval()
    shape = cfg.latent_shape() if cfg.mode == "video" else (3, 1, cfg.size, cfg.size)
    x = torch.zeros(1, *shape)
    cond = model.text_encoder.null_tokens(1) if cfg.text else None
    with torch.no_grad():
        model(x, torch.zeros(1, dtype=torch.long), *(() if cond is None else (cond,)))


def train_batches(cfg: TrainConfig, opts: dict):
    """The batches `vdlite train` draws: moving sprites, or clips of the videos in a folder."""
    from vdlite.data import MovingSprites
    from vdlite.train import caption_batches, clip_batches
    from vdlite.video_io import VideoFolder

    if opts["data"] == "sprites":
        sprites = opts["sprites"] or (1 if cfg.text else (1, 3))
        data = MovingSprites(num_clips=100_000, frames=cfg.frames, size=cfg.size,
                             stride=opts["stride"], sprites=sprites, seed=cfg.seed)
    else:
        data = VideoFolder(opts["data"], frames=cfg.frames, size=cfg.size, stride=opts["stride"])
    return (caption_batches if cfg.text else clip_batches)(data, cfg.batch, cfg.seed)


def run_folder(args: argparse.Namespace, what: str) -> tuple[Path, bool]:
    """The run's folder and whether it is resumed: --resume [DIR] continues the run saved
    there; otherwise --out must not already hold a run, unless --force replaces it."""
    from vdlite.train import MODEL_FILE, STATE_FILE

    if args.resume is not None and args.force:
        raise UsageError("--resume continues the run in the folder and --force replaces it: "
                         "give one of them")
    if args.resume is not None:
        folder = args.out if args.resume is True else args.resume
        out = writable_folder(folder, "--out" if args.resume is True else "--resume")
        if not (out / STATE_FILE).is_file():
            raise UsageError(f"nothing to resume in {out}: it holds no {STATE_FILE} "
                             f"(written by vdlite {what})")
        return out, True
    out = writable_folder(args.out)
    found = [name for name in (MODEL_FILE, STATE_FILE) if (out / name).exists()]
    if found and not args.force:
        raise UsageError(f"{out} already holds {' and '.join(found)}: pass --resume to "
                         "continue that run, --force to replace it, or another --out")
    return out, False


def cmd_train_vae(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from vdlite.checkpoint import check_fields
    from vdlite.data import MovingSprites
    from vdlite.train import (
        MODEL_FILE,
        STATE_FILE,
        TrainingInterrupted,
        clip_batches,
        load_train_state,
        train_vae,
    )
    from vdlite.video_io import VideoFolder

    device = check_device(args.device)
    if args.data not in (None, "sprites"):
        args.data = str(Path(args.data).resolve())
    out, resuming = run_folder(args, "train-vae")
    given = {name: getattr(args, name) for name, _, _ in VAE_OPTIONS}
    given["kind"] = args.kind
    if resuming:
        state = load_train_state(out / STATE_FILE)
        cfg = check_fields(VAEConfig, state["config"], out / STATE_FILE)
        info = state.get("info") if isinstance(state.get("info"), dict) else {}
        data = info.get("data", "sprites")
        saved = {**asdict(cfg), "data": data}
        for key, value in {**given, "data": args.data}.items():
            if value is not None and value != saved[key]:
                raise UsageError(f"--{key.replace('_', '-')} {value} differs from the run "
                                 f"saved in {out} ({saved[key]}); leave it out to resume it")
        print(f"resuming {out} at step {state['step']} of {cfg.steps}")
    else:
        cfg = VAEConfig(**{k: v for k, v in given.items() if v is not None})
        data = args.data or "sprites"
    if data == "sprites":
        clips = MovingSprites(num_clips=100_000, frames=cfg.frames, size=cfg.size,
                              sprites=(1, 3), seed=cfg.seed)
    else:
        clips = VideoFolder(data, frames=cfg.frames, size=cfg.size)
    print(f"training the {cfg.kind} VAE (x{cfg.spatial_factor} in space"
          f"{', x4 in time' if cfg.kind == 'causal' else ''}) for {cfg.steps} steps on {data}, "
          f"saved to {out} every {args.save_every} steps and on Ctrl-C", flush=True)
    try:
        vae, losses = train_vae(cfg, clip_batches(clips, cfg.batch, cfg.seed), device,
                                progress=not args.no_progress, out=out,
                                save_every=args.save_every, resume=resuming, info={"data": data})
    except TrainingInterrupted as stop:
        raise KeyboardInterrupt(f"{stop}; continue it with: vdlite train-vae --resume {out}") \
            from None
    held_out = torch.stack([clips[len(clips) - 1 - i]["video"] for i in range(8)]).to(device)
    with torch.no_grad():
        mse = (vae.decode(vae.encode(held_out).mean) - held_out).pow(2).mean().item()
    print(f"wrote {out / MODEL_FILE} and {out / STATE_FILE}; reconstruction of 8 held-out "
          f"clips: PSNR {10 * math.log10(4 / max(mse, 1e-12)):.2f} dB (pixels in [-1, 1])")


def cmd_sample(args: argparse.Namespace) -> None:
    from vdlite.checkpoint import atomic_save
    from vdlite.text import WORDS, Tokenizer
    from vdlite.train import load_checkpoint, sample
    from vdlite.video_io import tile_videos, write_gif, write_mp4

    device = check_device(args.device)
    if args.prompt is not None and not Tokenizer().words(args.prompt):
        raise UsageError(f"--prompt {args.prompt!r} has no words; known words: "
                         f"{', '.join(WORDS)} (leave --prompt out to sample without one)")
    out = writable_folder(args.out)
    model, cfg = load_checkpoint(args.checkpoint, device)
    if args.prompt is not None and not cfg.text:
        raise UsageError(f"{args.checkpoint} was trained without prompts; train with "
                         "--arch dit --prompts to use --prompt")
    clips = sample(model, cfg, args.num, args.steps, device, args.seed, args.frames,
                   progress=not args.no_progress, prompts=args.prompt,
                   guidance_scale=args.guidance if cfg.text else 1.0).cpu()
    grid = tile_videos(list(clips), ncols=min(args.num, 8))
    write_gif(grid, out / "sample.gif", scale=3)
    atomic_save(clips, out / "samples.pt")
    if args.mp4:
        write_mp4(grid, out / "sample.mp4")
    print(f"wrote {out}/sample.gif and samples.pt ({args.num} clips of {clips.shape[2]} frames)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"demo": cmd_demo, "train": cmd_train, "sample": cmd_sample,
                "compare": cmd_compare, "train-vae": cmd_train_vae, "eval": cmd_eval}
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            commands[args.command](args)
    except (UsageError, TrainingDiverged, *USAGE_ERRORS) as err:
        if os.environ.get("VDLITE_DEBUG"):
            raise
        print(f"vdlite: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(f"vdlite: {str(stop) or 'interrupted'}", file=sys.stderr)
        return 130
    return 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show the course's own warnings (a skipped video) as one line, others as Python does."""
    from vdlite.video_io import SkippedVideoWarning

    if issubclass(category, SkippedVideoWarning):
        print(f"vdlite: warning: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line),
              file=sys.stderr, end="")


if __name__ == "__main__":
    sys.exit(main())

"""The `vdlite` command: `demo`, `train` and `sample` (also `python -m vdlite`).

Errors a user can fix (a missing file, CUDA asked for but absent, a bad size) are printed as
one line, `vdlite: error: ...`, with exit status 2, never as a traceback
(set VDLITE_DEBUG=1 to see the traceback instead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from vdlite.demo import DEMO_SAMPLES

USAGE_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError)


class UsageError(Exception):
    """A problem with the command line that the user can fix."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def check_device(device: str) -> str:
    """Accept 'cpu', 'cuda' or 'cuda:N' only where that device exists."""
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device} was asked for, but CUDA is not available here")
        return device
    raise UsageError(f"--device must be cpu or cuda, got {device!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vdlite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train a video model and a frame-by-frame baseline on "
                                       "moving sprites, sample both and compare them")
    demo.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    demo.add_argument("--steps", type=positive_int, default=None,
                      help="training steps per model (default: the device's preset)")
    demo.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--samples", type=positive_int, default=DEMO_SAMPLES,
                      help=f"clips sampled per model; the figures are means over them "
                           f"(default: {DEMO_SAMPLES})")
    demo.add_argument("--sample-steps", type=positive_int, default=50, help="DDIM steps")
    demo.add_argument("--arch", choices=("unet", "dit"), default="unet",
                      help="denoiser: the 3D U-Net or the factorised space-time transformer")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")

    tr = sub.add_parser("train", help="train a denoiser on moving sprites or your own videos")
    tr.add_argument("--data", default="sprites",
                    help="'sprites' (built-in synthetic data) or a folder of videos/frames")
    tr.add_argument("--out", default="out/train", help="output folder for model.pt")
    tr.add_argument("--mode", choices=("video", "frame"), default="video",
                    help="video: joint clips; frame: the frame-by-frame baseline")
    tr.add_argument("--arch", choices=("unet", "dit"), default="unet",
                    help="denoiser: the 3D U-Net or the factorised space-time transformer")
    tr.add_argument("--conv", choices=("full", "pseudo", "spatial"), default="full",
                    help="the U-Net's 3D convolution")
    tr.add_argument("--patch", type=positive_int, default=None,
                    help="patch size p: p x p pixels per token (default: 4 for dit, 1 for unet)")
    tr.add_argument("--temporal-radius", type=int, default=None,
                    help="dit: temporal attention over the (2r+1)^2 positions around each token "
                         "in every frame (default 1; 0 = the same position only)")
    tr.add_argument("--fine-patch", type=positive_int, default=None,
                    help="DiT: embed and draw pixels as f x f patches around the blocks' "
                         "patches (must divide --patch; default: off)")
    tr.add_argument("--prompts", action="store_true",
                    help="condition on captions written from the sprites' ground truth "
                         "(needs --arch dit and --data sprites)")
    tr.add_argument("--sprites", type=positive_int, default=None,
                    help="sprites per clip (default: 1 to 3; 1 with --prompts)")
    tr.add_argument("--steps", type=positive_int, default=600)
    tr.add_argument("--batch", type=positive_int, default=8)
    tr.add_argument("--frames", type=positive_int, default=8)
    tr.add_argument("--size", type=positive_int, default=32)
    tr.add_argument("--stride", type=positive_int, default=1, help="temporal stride of clips")
    tr.add_argument("--lr", type=float, default=2e-3)
    tr.add_argument("--device", default="cpu")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--no-progress", action="store_true")

    co = sub.add_parser("compare", help="compare two sets of clips figure by figure, with "
                                        "bootstrap intervals (e.g. two demo folders)")
    co.add_argument("a", help="a demo folder (its video_samples.pt) or a .pt file of clips "
                              "[N, 3, T, H, W]")
    co.add_argument("b", help="the same for the clips to compare against")
    co.add_argument("--boot", type=positive_int, default=2000, help="bootstrap resamples")
    co.add_argument("--level", type=float, default=0.9, help="interval level (default 0.9)")
    sa = sub.add_parser("sample", help="sample clips from a trained model")
    sa.add_argument("--checkpoint", required=True, help="model.pt written by `vdlite train`")
    sa.add_argument("--out", default="out/sample", help="output folder")
    sa.add_argument("--num", type=positive_int, default=8, help="number of clips")
    sa.add_argument("--steps", type=positive_int, default=50, help="DDIM steps")
    sa.add_argument("--frames", type=positive_int, default=None,
                    help="frames per clip (default: as trained)")
    sa.add_argument("--device", default="cpu")
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--prompt", default=None,
                    help='what to draw, e.g. "a red circle moving left" (a model trained '
                         "with --prompts)")
    sa.add_argument("--guidance", type=float, default=3.0,
                    help="classifier-free guidance scale with --prompt (1 = none)")
    sa.add_argument("--mp4", action="store_true", help="also write sample.mp4")
    sa.add_argument("--no-progress", action="store_true")
    return parser


def cmd_demo(args: argparse.Namespace) -> None:
    from vdlite.demo import CONSISTENCY_FIGURES, run_demo

    res = run_demo(args.out, args.steps, check_device(args.device), args.seed, args.samples,
                   args.sample_steps, progress=not args.no_progress, arch=args.arch)
    print(f"wrote {args.out}/sample.gif, side_by_side.gif, metrics.json, metrics.png")
    header = f"{'figure (lower is better)':26s}{'real clips':>12s}{'video':>10s}{'frame':>10s}"
    print(header)
    m = res["metrics"]
    for key in (*CONSISTENCY_FIGURES, "complete_path_residual", "missing_frames", "flicker"):
        print(f"{key:26s}{m['real_clips'][key]:12.4f}{m['video_model'][key]:10.4f}"
              f"{m['frame_by_frame'][key]:10.4f}")
    if "flicker" in res:
        print("the video model's temporal attention switched off (same noise):")
        for key in (*CONSISTENCY_FIGURES, "flicker"):
            print(f"{key:26s}{'':12s}{res['flicker']['with'][key]:10.4f}"
                  f"{res['flicker']['without'][key]:10.4f}  (with, without)")
    print("timings (s):", json.dumps(res["timings_s"]))


def load_clips(path: str) -> torch.Tensor:
    """Clips [N, 3, T, H, W] from a .pt file, or from DIR/video_samples.pt of a demo folder."""
    p = Path(path)
    if p.is_dir():
        p = p / "video_samples.pt"
    if not p.is_file():
        raise FileNotFoundError(f"no clips at {p}: give a demo folder (with video_samples.pt, "
                                "written by vdlite demo) or a .pt file of clips")
    clips = torch.load(p, map_location="cpu", weights_only=True)
    if not isinstance(clips, torch.Tensor) or clips.ndim != 5 or clips.shape[1] != 3:
        raise ValueError(f"{p} must hold one tensor of clips [N, 3, T, H, W], got "
                         f"{getattr(clips, 'shape', type(clips).__name__)}")
    return clips


def cmd_compare(args: argparse.Namespace) -> None:
    from vdlite.metrics import compare_clips

    a, b = load_clips(args.a), load_clips(args.b)
    res = compare_clips(a, b, n_boot=args.boot, level=args.level)
    pct = round(100 * args.level)
    print(f"{a.shape[0]} clip pairs; a = {args.a}, b = {args.b}; lower is better")
    print(f"{'figure':24s}{'a':>9s}{'b':>9s}{'a - b':>9s}   {pct}% interval of a - b  verdict")
    for name, r in res.items():
        verdict = ("a better" if r["high"] < 0 else "b better" if r["low"] > 0
                   else "cannot tell")
        print(f"{name:24s}{r['a']:9.4f}{r['b']:9.4f}{r['diff']:9.4f}   "
              f"[{r['low']:8.4f}, {r['high']:8.4f}]   {verdict} ({r['pairs']} pairs)")


def cmd_train(args: argparse.Namespace) -> None:
    from vdlite.data import MovingSprites, VideoFolder
    from vdlite.train import TrainConfig, caption_batches, clip_batches, save_checkpoint, train

    device = check_device(args.device)
    if args.prompts and args.arch != "dit":
        raise UsageError("--prompts needs --arch dit (the U-Net takes no prompt)")
    if args.data == "sprites":
        sprites = args.sprites or (1 if args.prompts else (1, 3))
        data = MovingSprites(num_clips=100_000, frames=args.frames, size=args.size,
                             stride=args.stride, sprites=sprites, seed=args.seed)
    else:
        if args.prompts:
            raise UsageError("--prompts writes captions from the sprites' ground truth, so it "
                             "needs --data sprites")
        data = VideoFolder(args.data, frames=args.frames, size=args.size, stride=args.stride)
    if args.temporal_radius is not None and (args.arch != "dit" or args.temporal_radius < 0):
        raise UsageError("--temporal-radius takes an int >= 0 and needs --arch dit")
    radius = args.temporal_radius if args.temporal_radius is not None else int(args.arch == "dit")
    if args.fine_patch is not None and args.arch != "dit":
        raise UsageError("--fine-patch needs --arch dit")
    cfg = TrainConfig(mode=args.mode, arch=args.arch, conv=args.conv, frames=args.frames,
                      size=args.size, batch=args.batch, lr=args.lr, steps=args.steps,
                      seed=args.seed, text=args.prompts,
                      patch_size=args.patch or (4 if args.arch == "dit" else 1),
                      temporal_radius=radius, fine_patch=args.fine_patch or 0)
    batches = (caption_batches if args.prompts else clip_batches)(data, args.batch, args.seed)
    model, losses = train(cfg, batches, device, progress=not args.no_progress)
    path = Path(args.out) / "model.pt"
    save_checkpoint(path, model, cfg, data=args.data, final_loss=losses[-1])
    print(f"wrote {path} (final loss {sum(losses[-20:]) / len(losses[-20:]):.4f})")


def cmd_sample(args: argparse.Namespace) -> None:
    from vdlite.data import tile_videos, write_gif, write_mp4
    from vdlite.train import load_checkpoint, sample

    device = check_device(args.device)
    model, cfg = load_checkpoint(args.checkpoint, device)
    if args.prompt is not None and not cfg.text:
        raise UsageError(f"{args.checkpoint} was trained without prompts; train with "
                         "--arch dit --prompts to use --prompt")
    clips = sample(model, cfg, args.num, args.steps, device, args.seed, args.frames,
                   progress=not args.no_progress, prompts=args.prompt,
                   guidance_scale=args.guidance if cfg.text else 1.0).cpu()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    grid = tile_videos(list(clips), ncols=min(args.num, 8))
    write_gif(grid, out / "sample.gif", scale=3)
    torch.save(clips, out / "samples.pt")
    if args.mp4:
        write_mp4(grid, out / "sample.mp4")
    print(f"wrote {out}/sample.gif and samples.pt ({args.num} clips of {clips.shape[2]} frames)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"demo": cmd_demo, "train": cmd_train, "sample": cmd_sample,
                "compare": cmd_compare}
    try:
        commands[args.command](args)
    except (UsageError, *USAGE_ERRORS) as err:
        if os.environ.get("VDLITE_DEBUG"):
            raise
        print(f"vdlite: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vdlite: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

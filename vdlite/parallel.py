"""Context parallelism for one long clip, and data parallelism for training (lesson 09b).

A factorized block's activations grow with T*S (frames times tokens a frame), so a long clip
stops fitting one device. Context parallelism splits the clip's tokens over P processes:

    time shard  [B, T_r, S, C]  rank r holds frames T_r, all S tokens: spatial attention,
                                and everything per token (modulation, cross-attention, MLP)
        | time_to_space: an all-to-all
    space shard [B, T, S_r, C]  rank r holds all T frames, the tokens S_r of a band of rows:
                                temporal attention
        | space_to_time: the same all-to-all backwards
    time shard  [B, T_r, S, C]

(the all-to-all pattern of DeepSpeed-Ulysses, which swaps a sequence shard for a head shard,
here swapping a frame shard for a token shard). Every rank sends each other rank the part of
its shard that rank needs, so each re-shard moves (P-1)/P of a rank's activations.
Shards are contiguous ranges, and a count that P does not divide gives the first ``n % P``
ranks one more (``shard_ranges``): frame counts that do not divide the world size are a common
bug in public code. Every rank needs at least one frame and one row of tokens; fewer is a
ValueError (not empty shards).

Space shards are bands of whole rows, so each is itself a token grid and RoPE and
neighbourhood temporal attention (radius r > 0) work on it as on the whole grid: a band is
widened by a halo of r rows each side (``token_shards(..., halo=r)``), temporal attention runs
on the widened band, and only the band's own rows go back. Halo rows are sent to two ranks,
so the backward of ``time_to_space`` adds their gradients up.

Data parallelism (``vdlite train`` under ``torchrun``): each of P ranks holds the whole model
and computes 1/P of the global batch; ``DistributedDataParallel`` averages the gradients.
Every rank draws the whole batch (clips, noise, timesteps) with the same generators and keeps
its part (``diffusion_loss(part=...)``), so P ranks compute what one process computes on the
combined batch, up to the order of float additions.

    torchrun --nproc-per-node 2 -m vdlite.parallel bench [--frames 16 32 --size 64 --dim 192]

prints the time, memory and all-to-all share of one block under context parallelism against
the same block on one process (``bench``).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import time
from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from vdlite.transformer import FactorizedBlock

__all__ = [
    "bench",
    "context_parallel_block",
    "data_parallel",
    "frame_shards",
    "init_from_env",
    "mean_over_ranks",
    "rank_and_world",
    "shard_ranges",
    "space_to_time",
    "sum_gradients",
    "time_to_space",
    "token_shards",
]

Ranges = list[tuple[int, int]]


def shard_ranges(n: int, world: int, what: str = "items") -> Ranges:
    """Split n items over `world` ranks into contiguous (start, stop) ranges covering 0..n.

    Rank r gets ``n // world + (r < n % world)`` items: the first ``n % world`` ranks take one
    more, so every item is covered even when world does not divide n. n < world would leave a
    rank with nothing to do: a ValueError naming `what`.
    """
    if world < 1:
        raise ValueError(f"world size must be >= 1, got {world}")
    if n < world:
        raise ValueError(f"cannot shard {n} {what} over {world} ranks: every rank needs at "
                         f"least one (use at most {n} ranks, or more {what})")
    base, extra = divmod(n, world)
    starts = [r * base + min(r, extra) for r in range(world + 1)]
    return list(zip(starts[:-1], starts[1:], strict=True))


def frame_shards(frames: int, world: int) -> Ranges:
    """The (start, stop) frames of each rank's time shard (``shard_ranges`` of the frames)."""
    return shard_ranges(frames, world, "frames")


def token_shards(hw: tuple[int, int], world: int, halo: int = 0) -> Ranges:
    """The (start, stop) tokens of each rank's space shard: a band of whole rows of the
    H x W token grid (``shard_ranges`` of the H rows, token s = h*W + w), widened by `halo`
    rows on each side where the grid has them. Bands with halo > 0 overlap."""
    H, W = hw
    rows = shard_ranges(H, world, "rows of tokens")
    return [(max(0, a - halo) * W, min(H, b + halo) * W) for a, b in rows]


def rank_and_world(group: dist.ProcessGroup | None = None) -> tuple[int, int]:
    """This process's rank and the world size; (0, 1) when torch.distributed is not running."""
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def _sync(x: Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def _all_to_all(pieces: list[Tensor], shapes: list[tuple[int, ...]], group,
                clock: list[float] | None) -> list[Tensor]:
    """Rank i sends pieces[j] to rank j and receives a tensor of shapes[j] from each rank j.

    gloo's ``dist.all_to_all`` (a list of tensors) takes only tensors of one size (torch
    2.13), and uneven shards make pieces of different sizes; so the pieces travel flattened
    end to end in one ``dist.all_to_all_single`` with a split size per rank, which gloo and
    NCCL both run with uneven splits. With `clock`, the seconds it takes (devices
    synchronised before and after, so waiting for a slower rank counts) are appended to it.
    """
    send = torch.cat([p.reshape(-1) for p in pieces])
    sizes = [int(torch.Size(s).numel()) for s in shapes]
    recv = send.new_empty(sum(sizes))
    if clock is not None:
        _sync(send)
        start = time.perf_counter()
    dist.all_to_all_single(recv, send, output_split_sizes=sizes,
                           input_split_sizes=[p.numel() for p in pieces], group=group)
    if clock is not None:
        _sync(send)
        clock.append(time.perf_counter() - start)
    return [part.view(s) for part, s in zip(recv.split(sizes), shapes, strict=True)]


def _check_ranges(frame_ranges: Ranges, token_ranges: Ranges, world: int) -> None:
    if len(frame_ranges) != world or len(token_ranges) != world:
        raise ValueError(f"need one frame range and one token range per rank ({world}), got "
                         f"{len(frame_ranges)} and {len(token_ranges)}")


def _gather_tokens(x: Tensor, frame_ranges: Ranges, token_ranges: Ranges, group,
                   clock) -> Tensor:
    """[B, T_r, S, C] time shard -> [B, T, S_r, C] space shard (token ranges may overlap)."""
    rank, _ = rank_and_world(group)
    B, _, _, C = x.shape
    a, b = token_ranges[rank]
    pieces = [x[:, :, lo:hi] for lo, hi in token_ranges]  # to rank j: my frames, j's tokens
    shapes = [(B, stop - start, b - a, C) for start, stop in frame_ranges]
    return torch.cat(_all_to_all(pieces, shapes, group, clock), dim=1)  # [B, T, S_r, C]


def _scatter_tokens(y: Tensor, frame_ranges: Ranges, token_ranges: Ranges, tokens: int, group,
                    clock) -> Tensor:
    """[B, T, S_r, C] space shard -> [B, T_r, S, C] time shard; where token ranges overlap
    the values are added, which makes it the adjoint of ``_gather_tokens``."""
    rank, _ = rank_and_world(group)
    B, _, _, C = y.shape
    start, stop = frame_ranges[rank]
    pieces = list(y.split([hi - lo for lo, hi in frame_ranges], dim=1))  # to j: j's frames
    shapes = [(B, stop - start, hi - lo, C) for lo, hi in token_ranges]
    received = _all_to_all(pieces, shapes, group, clock)
    x = y.new_zeros(B, stop - start, tokens, C)
    for (lo, hi), part in zip(token_ranges, received, strict=True):
        x[:, :, lo:hi] += part
    return x  # [B, T_r, S, C]


class _TimeToSpace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, frame_ranges, token_ranges, group, clock):
        ctx.args, ctx.tokens = (frame_ranges, token_ranges, group, clock), x.shape[2]
        return _gather_tokens(x, frame_ranges, token_ranges, group, clock)

    @staticmethod
    def backward(ctx, grad):
        return _scatter_tokens(grad, *ctx.args[:2], ctx.tokens, *ctx.args[2:]), None, None, \
            None, None


class _SpaceToTime(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, frame_ranges, token_ranges, tokens, group, clock):
        ctx.args = (frame_ranges, token_ranges, group, clock)
        return _scatter_tokens(y, frame_ranges, token_ranges, tokens, group, clock)

    @staticmethod
    def backward(ctx, grad):
        return _gather_tokens(grad, *ctx.args), None, None, None, None, None


def time_to_space(x: Tensor, frame_ranges: Ranges, token_ranges: Ranges,
                  group: dist.ProcessGroup | None = None,
                  clock: list[float] | None = None) -> Tensor:
    """The re-shard from time to space: ``[B, T_r, S, C] -> [B, T, S_r, C]``, one all-to-all.

    Rank r holds frames ``frame_ranges[r]`` of all S tokens; it gets back all T frames of
    tokens ``token_ranges[r]`` (``frame_shards``, ``token_shards``; the token ranges may
    overlap, as halo bands do). Rank i sends rank j ``x[:, :, token_ranges[j]]``, and rank j
    stacks what it receives in frame order. Differentiable: the backward is the opposite
    re-shard, with the gradients of tokens sent to several ranks added up. `clock` collects
    the seconds of each all-to-all (forward and backward).
    """
    rank, world = rank_and_world(group)
    _check_ranges(frame_ranges, token_ranges, world)
    start, stop = frame_ranges[rank]
    if x.dim() != 4 or x.shape[1] != stop - start:
        raise ValueError(f"x must be rank {rank}'s time shard [B, T_r={stop - start}, S, C], "
                         f"got shape {tuple(x.shape)}")
    if max(hi for _, hi in token_ranges) > x.shape[2]:
        raise ValueError(f"token_ranges reach token {max(hi for _, hi in token_ranges)}, but x "
                         f"has S={x.shape[2]} tokens a frame")
    return _TimeToSpace.apply(x, frame_ranges, token_ranges, group, clock)


def space_to_time(y: Tensor, frame_ranges: Ranges, token_ranges: Ranges, tokens: int,
                  group: dist.ProcessGroup | None = None,
                  clock: list[float] | None = None) -> Tensor:
    """The re-shard from space back to time: ``[B, T, S_r, C] -> [B, T_r, S, C]``.

    Rank r holds all T frames of tokens ``token_ranges[r]`` (which should not overlap here:
    overlapping tokens would be added up) and gets back its frames ``frame_ranges[r]`` of all
    `tokens` = S tokens. Its backward is ``time_to_space``.
    """
    rank, world = rank_and_world(group)
    _check_ranges(frame_ranges, token_ranges, world)
    a, b = token_ranges[rank]
    frames = frame_ranges[-1][1]
    if y.dim() != 4 or y.shape[1:3] != (frames, b - a):
        raise ValueError(f"y must be rank {rank}'s space shard [B, T={frames}, S_r={b - a}, C], "
                         f"got shape {tuple(y.shape)}")
    return _SpaceToTime.apply(y, frame_ranges, token_ranges, tokens, group, clock)


def context_parallel_block(block: FactorizedBlock, x: Tensor, c: Tensor, hw: tuple[int, int],
                           frames: int, context: Tensor | None = None,
                           context_mask: Tensor | None = None,
                           group: dist.ProcessGroup | None = None,
                           clock: list[float] | None = None) -> Tensor:
    """``block(x, c, hw, context, context_mask)`` for a clip whose frames are sharded over the
    ranks: rank r passes its time shard ``x [B, T_r, S, dim]`` (frames ``frame_shards(frames,
    P)[r]``) and gets the block's output on those frames, ``[B, T_r, S, dim]``.

        x += spatial(x, c)                      on the time shard (RoPE offset by its first frame)
        x_s = time_to_space(x)                  [B, T, S_r + halo, dim], a band of rows
        x_s += temporal(x_s, c)                 on the band (RoPE offset by its first row)
        x = space_to_time(x_s without halo)     [B, T_r, S, dim]
        x += cross(LN(x), ctx);  x += mlp(x, c) on the time shard

    Temporal attention with radius r > 0 sees r rows around each token, so the band carries r
    halo rows each side. The result equals the block on the whole clip on one process. Each
    rank's parameter gradients (and c's) are its share of the whole clip's: sum them over
    ranks (``sum_gradients``) to get the single-process gradient.
    """
    rank, world = rank_and_world(group)
    start, stop = frame_shards(frames, world)[rank]
    H, W = hw
    if x.dim() != 4 or x.shape[1:3] != (stop - start, H * W):
        raise ValueError(f"x must be rank {rank}'s time shard [B, T_r={stop - start}, S={H * W}, "
                         f"dim] of a clip of {frames} frames, got shape {tuple(x.shape)}")
    x = x + block.spatial(x, c, hw, (start, 0, 0))
    if block.temporal is not None and block.temporal_enabled:
        radius = block.temporal.f.radius
        frame_ranges, core = frame_shards(frames, world), token_shards(hw, world)
        wide = token_shards(hw, world, halo=radius)
        xs = time_to_space(x, frame_ranges, wide, group, clock)  # [B, T, S_r + halo, dim]
        lo, hi = wide[rank]
        xs = xs + block.temporal(xs, c, ((hi - lo) // W, W), (0, lo // W, 0))
        a, b = core[rank]
        x = space_to_time(xs[:, :, a - lo:b - lo], frame_ranges, core, H * W, group, clock)
    if block.cross is not None:
        if context is None:
            raise ValueError("this block has cross-attention: pass context [B, L, context_dim]")
        x = x + block.cross(block.cross_norm(x), context, context_mask)
    return x + block.mlp(x, c)


def sum_gradients(module: nn.Module, group: dist.ProcessGroup | None = None) -> None:
    """Add up every parameter's gradient over the ranks (all-reduce, sum), in place: after a
    context-parallel backward each rank holds its tokens' share of the gradient."""
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, group=group)


def init_from_env(device: str) -> tuple[int, int, str]:
    """Join the processes that torchrun started: (rank, world size, this rank's device).

    With WORLD_SIZE > 1 in the environment, initialise the default process group (NCCL for a
    CUDA device, gloo for the CPU); on CUDA, LOCAL_RANK picks the GPU. Without it (a plain
    run), (0, 1, device) and nothing is initialised.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    cuda = torch.device(device).type == "cuda"
    if cuda:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def data_parallel(model: nn.Module, device: str | torch.device) -> nn.Module:
    """``model`` in ``DistributedDataParallel``: a forward like the model's, whose backward
    averages every gradient over the ranks."""
    device = torch.device(device)
    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def mean_over_ranks(value: Tensor) -> float:
    """The mean of a scalar over the ranks (the global batch's loss when every rank holds an
    equal part); the value itself when torch.distributed is not running."""
    _, world = rank_and_world()
    if world == 1:
        return value.item()
    total = value.detach().clone().reshape(1)
    dist.all_reduce(total)
    return total.item() / world


# -- the benchmark -------------------------------------------------------------------------


def _saved_bytes(fn: Callable[[], Tensor], params: set[int]) -> tuple[Tensor, int]:
    """fn() and the bytes of the tensors autograd saved for its backward (parameters and
    tensors seen twice counted once)."""
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


def _time(step: Callable[[], object], steps: int, device: torch.device,
          clock: list[float]) -> tuple[float, float]:
    """Median seconds of a call of step(), and of the all-to-alls within it (what it appends
    to `clock`), over `steps` calls after one warm-up call."""
    step()
    times, comms = [], []
    for _ in range(steps):
        clock.clear()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
        comms.append(sum(clock))
    return statistics.median(times), statistics.median(comms)


def bench(frames_list: list[int], size: int = 32, patch: int = 4, dim: int = 48, heads: int = 4,
          batch: int = 1, radius: int = 0, steps: int = 3, device: str = "cpu",
          dtype: torch.dtype = torch.float32) -> list[dict]:
    """Time one `FactorizedBlock` on a clip of each frame count in `frames_list`, on one
    process (the whole clip, every rank alone) and under context parallelism over all ranks.

    Rows (every rank returns the same list): frames, tokens a frame, mode ("1 process" /
    "CP x P"), pass ("fwd" / "fwd+bwd"), ms a step (median; the slowest rank), all-to-all ms
    a step (slowest rank), peak device memory a rank (CUDA only, else None), bytes of saved
    activations a rank, and the largest |difference| of the CP output from the single one.
    """
    rank, world = rank_and_world()
    dev = torch.device(device)
    hw = (size // patch, size // patch)
    S = hw[0] * hw[1]
    torch.manual_seed(0)
    block = FactorizedBlock(dim, heads, radius=radius).to(dev, dtype)
    for p in block.parameters():  # a trained block: modulation and gates not zero
        nn.init.normal_(p, std=0.02) if p.dim() > 1 else nn.init.normal_(p, std=0.1)
    params = {p.untyped_storage().data_ptr() for p in block.parameters()}
    rows, clock = [], []  # clock: the seconds of each all-to-all
    for T in frames_list:
        gen = torch.Generator().manual_seed(T)
        x = torch.randn(batch, T, S, dim, generator=gen).to(dev, dtype)
        c = torch.randn(batch, dim, generator=gen).to(dev, dtype)
        start, stop = frame_shards(T, world)[rank]
        shard = x[:, start:stop].contiguous()
        runs = {"1 process": lambda x=x, c=c, T=T: block(x, c, hw),
                f"CP x {world}": lambda s=shard, c=c, T=T, k=clock: context_parallel_block(
                    block, s, c, hw, T, clock=k)}
        full = block(x, c, hw).detach()
        err = (context_parallel_block(block, shard, c, hw, T) - full[:, start:stop]).abs().max()
        for mode, fn in runs.items():
            for name in ("fwd", "fwd+bwd"):
                def step(fn=fn, name=name) -> None:
                    if name == "fwd":
                        with torch.no_grad():
                            fn()
                    else:
                        fn().square().mean().backward()

                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                seconds, comm = _time(step, steps, dev, clock)
                peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None
                saved = _saved_bytes(fn, params)[1] if name == "fwd+bwd" else 0
                rows.append({"frames": T, "tokens": S, "mode": mode, "pass": name,
                             "ms": _slowest(seconds) * 1e3, "comm_ms": _slowest(comm) * 1e3,
                             "peak_bytes": peak if peak is None else _slowest(peak),
                             "saved_bytes": _slowest(saved),
                             "max_err": _slowest(err.item()) if mode != "1 process" else 0.0})
        block.zero_grad(set_to_none=True)
    return rows


def _slowest(value: float) -> float:
    """The largest value over the ranks (a step takes as long as its slowest rank)."""
    _, world = rank_and_world()
    if world == 1:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.item()


def table(rows: list[dict]) -> str:
    """The markdown table of `bench`'s rows."""
    mib = 2**20
    lines = ["| frames | tokens/frame | mode | pass | ms/step (slowest rank) | all-to-all ms "
             "(share) | peak memory/rank | saved activations/rank | max abs diff |",
             "|---:|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        share = f"{r['comm_ms']:.2f} ({100 * r['comm_ms'] / r['ms']:.0f}%)" \
            if r["mode"] != "1 process" else "-"
        peak = "n/a (CPU)" if r["peak_bytes"] is None else f"{r['peak_bytes'] / mib:.1f} MiB"
        saved = f"{r['saved_bytes'] / mib:.2f} MiB" if r["pass"] == "fwd+bwd" else "-"
        lines.append(f"| {r['frames']} | {r['tokens']} | {r['mode']} | {r['pass']} | "
                     f"{r['ms']:.2f} | {share} | {peak} | {saved} | {r['max_err']:.1e} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vdlite.parallel",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="one block under context parallelism against one process "
                                     "(launch with torchrun --nproc-per-node P)")
    b.add_argument("--frames", type=int, nargs="+", default=[7],
                   help="frame counts T, one table row group each (GPU preset: 16 32 64)")
    b.add_argument("--size", type=int, default=32, help="frame size in pixels (GPU: 64)")
    b.add_argument("--patch", type=int, default=4, help="patch size p: (size/p)^2 tokens")
    b.add_argument("--dim", type=int, default=48, help="token width (GPU preset: 192)")
    b.add_argument("--heads", type=int, default=4, help="attention heads (GPU preset: 6)")
    b.add_argument("--batch", type=int, default=1)
    b.add_argument("--radius", type=int, default=0, help="temporal neighbourhood radius")
    b.add_argument("--steps", type=int, default=3, help="timed steps (median) after a warm-up")
    b.add_argument("--device", default="cpu", help="cpu or cuda (each rank its LOCAL_RANK GPU)")
    b.add_argument("--dtype", choices=("float32", "bfloat16", "float64"), default="float32")
    args = parser.parse_args(argv)
    rank, world, device = init_from_env(args.device)
    if world == 1 and not dist.is_initialized():  # one process: a group of one, so it runs
        kind = "nccl" if device.startswith("cuda") else "gloo"
        if "MASTER_ADDR" in os.environ:  # torchrun with one process: join its store (a store
            dist.init_process_group(kind, rank=0, world_size=1)  # of our own would wait forever)
        else:
            with socket.socket() as free:
                free.bind(("127.0.0.1", 0))
                port = free.getsockname()[1]
            dist.init_process_group(kind, rank=0, world_size=1,
                                    init_method=f"tcp://127.0.0.1:{port}")
    rows = bench(args.frames, args.size, args.patch, args.dim, args.heads, args.batch,
                 args.radius, args.steps, device, getattr(torch, args.dtype))
    if rank == 0:
        where = torch.cuda.get_device_name(device) if device.startswith("cuda") else \
            f"CPU ({platform.processor() or platform.machine()}, " \
            f"{torch.get_num_threads()} threads a rank)"
        print(f"one FactorizedBlock (dim {args.dim}, heads {args.heads}, radius {args.radius}, "
              f"batch {args.batch}, {args.size}x{args.size} px at patch {args.patch}, "
              f"{args.dtype}) on {where}, {world} rank(s), torch {torch.__version__}\n")
        print(table(rows))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

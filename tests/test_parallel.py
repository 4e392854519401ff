"""Context and data parallelism (vdlite.parallel) on 2 gloo processes of the CPU.

Each multi-process check runs in processes spawned by torch.multiprocessing (each process
asserts against a single-process float64 oracle it computes itself) or in a torchrun
subprocess, on a free port.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vdlite.parallel import (
    context_parallel_block,
    frame_shards,
    shard_ranges,
    space_to_time,
    sum_gradients,
    time_to_space,
    token_shards,
)
from vdlite.transformer import FactorizedBlock

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(fn, world: int = 2, *args) -> None:
    """Run fn(rank, world, port, *args) in `world` gloo processes; a failure in any fails."""
    mp.spawn(_worker, args=(world, free_port(), fn, args), nprocs=world, join=True)


def _worker(rank: int, world: int, port: int, fn, args) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        fn(rank, world, *args)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 16, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 4, 6])
def test_shards_cover_every_item_once(n, world):
    if n < world:
        with pytest.raises(ValueError, match=f"cannot shard {n} frames over {world} ranks"):
            frame_shards(n, world)
        return
    ranges = frame_shards(n, world)
    assert len(ranges) == world
    covered = [i for start, stop in ranges for i in range(start, stop)]
    assert covered == list(range(n))  # contiguous, in order, each once: tail frames included
    sizes = [stop - start for start, stop in ranges]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_token_shards_are_row_bands_with_halo():
    hw = (5, 3)
    assert token_shards(hw, 2) == [(0, 9), (9, 15)]  # rows 0-2 and 3-4
    assert token_shards(hw, 2, halo=1) == [(0, 12), (6, 15)]  # one row more, inside the grid
    assert shard_ranges(5, 3) == [(0, 2), (2, 4), (4, 5)]
    with pytest.raises(ValueError, match="rows of tokens"):
        token_shards((1, 8), 2)


def _check_reshard(rank: int, world: int) -> None:
    """Round trip is the identity; each direction's gradient equals the oracle's (autograd
    through slicing the whole clip), with a halo of one row (overlapping bands)."""
    gen = torch.Generator().manual_seed(0)
    B, T, hw, C = 2, 7, (5, 3), 4
    S = hw[0] * hw[1]
    full = torch.randn(B, T, S, C, generator=gen, dtype=torch.float64, requires_grad=True)
    frames = frame_shards(T, world)
    for halo in (0, 1):
        tokens = token_shards(hw, world, halo)
        w = [torch.randn(B, T, hi - lo, C, generator=gen, dtype=torch.float64)
             for lo, hi in tokens]  # a random weight on each rank's space shard
        start, stop = frames[rank]
        x = full.detach()[:, start:stop].clone().requires_grad_(True)
        y = time_to_space(x, frames, tokens)
        lo, hi = tokens[rank]
        assert torch.equal(y, full.detach()[:, :, lo:hi])
        (y * w[rank]).sum().backward()
        oracle = sum((full[:, :, a:b] * wr).sum() for (a, b), wr in zip(tokens, w, strict=True))
        (grad,) = torch.autograd.grad(oracle, full)
        torch.testing.assert_close(x.grad, grad[:, start:stop], rtol=1e-12, atol=1e-12)
    core = token_shards(hw, world)
    a, b = core[rank]
    y = full.detach()[:, :, a:b].clone().requires_grad_(True)
    back = space_to_time(y, frames, core, S)
    assert torch.equal(back, full.detach()[:, start:stop])
    assert torch.equal(time_to_space(back, frames, core), y)  # round trip: identity
    g = torch.randn(back.shape, generator=torch.Generator().manual_seed(rank), dtype=back.dtype)
    (back * g).sum().backward()
    assert torch.equal(y.grad, time_to_space(g, frames, core))  # adjoint of a permutation


def _randomise(block: torch.nn.Module) -> None:
    """Non-zero modulation and gates, so every branch contributes and every weight has a
    gradient (a fresh block is the identity)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.3)


def _check_block(rank: int, world: int) -> None:
    """context_parallel_block == the block on the whole clip, forward and every gradient
    (parameters, x, c, context), float64, 7 frames on 2 ranks, odd token grids."""
    for hw, radius, causal in (((5, 3), 0, False), ((3, 5), 1, True), ((4, 3), 2, False)):
        gen = torch.Generator().manual_seed(hw[0] + 10 * radius)
        torch.manual_seed(0)
        block = FactorizedBlock(24, 2, mlp_ratio=2, cross=True, context_dim=10, causal=causal,
                                radius=radius).double()
        _randomise(block)
        B, T, S = 2, 7, hw[0] * hw[1]
        x = torch.randn(B, T, S, 24, generator=gen, dtype=torch.float64, requires_grad=True)
        c = torch.randn(B, 24, generator=gen, dtype=torch.float64, requires_grad=True)
        ctx = torch.randn(B, 4, 10, generator=gen, dtype=torch.float64, requires_grad=True)
        mask = torch.tensor([[True, True, False, True], [True, False, False, False]])
        w = torch.randn(B, T, S, 24, generator=gen, dtype=torch.float64)
        want = block(x, c, hw, ctx, mask)
        (want * w).sum().backward()
        grads = {n: p.grad.clone() for n, p in block.named_parameters()}
        want_x, want_c, want_ctx = x.grad, c.grad.clone(), ctx.grad.clone()
        block.zero_grad()
        c.grad = ctx.grad = None

        start, stop = frame_shards(T, world)[rank]
        shard = x.detach()[:, start:stop].clone().requires_grad_(True)
        got = context_parallel_block(block, shard, c, hw, T, ctx, mask)
        torch.testing.assert_close(got, want[:, start:stop].detach(), rtol=1e-10, atol=1e-12)
        (got * w[:, start:stop]).sum().backward()
        torch.testing.assert_close(shard.grad, want_x[:, start:stop], rtol=1e-10, atol=1e-12)
        sum_gradients(block)
        for n, p in block.named_parameters():
            torch.testing.assert_close(p.grad, grads[n], rtol=1e-10, atol=1e-12, msg=n)
        for got_g, want_g in ((c.grad, want_c), (ctx.grad, want_ctx)):
            dist.all_reduce(got_g)
            torch.testing.assert_close(got_g, want_g, rtol=1e-10, atol=1e-12)


def _check_all(rank: int, world: int) -> None:
    _check_reshard(rank, world)
    _check_block(rank, world)
    from vdlite.train import TrainConfig, train

    with pytest.raises(ValueError, match="over 2 processes needs a batch they divide"):
        train(TrainConfig(batch=3, steps=1), iter([]), progress=False)


def test_reshard_and_context_parallel_block_equal_one_process():
    """`_check_reshard` and `_check_block` in one pair of processes (a pair takes seconds to
    start); and data parallel training refuses a global batch the processes do not divide."""
    spawn(_check_all)


def test_block_input_errors():
    block = FactorizedBlock(24, 2)
    with pytest.raises(ValueError, match=r"time shard \[B, T_r=7, S=15, dim\]"):
        context_parallel_block(block, torch.zeros(1, 6, 15, 24), torch.zeros(1, 24), (5, 3), 7)
    with pytest.raises(ValueError, match="cannot shard 1 frames over 3 ranks"):
        frame_shards(1, 3)


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def torchrun(*args: str, tmp: Path, processes: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
           "--master-port", str(free_port()), *args]
    done = subprocess.run(cmd, cwd=tmp, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


TRAIN = ["train", "--arch", "dit", "--frames", "3", "--size", "16", "--steps", "4",
         "--batch", "4", "--no-progress", "--seed", "3"]


def test_data_parallel_training_matches_one_process(tmp_path):
    """2 processes of 2 clips == 1 process of 4 clips: per-step losses within 1e-5 relative,
    final weights and EMA within 1e-5 (float32; the sums of the loss and of the gradients
    are split in two and added in another order, nothing else differs)."""
    from vdlite.cli import main
    from vdlite.train import load_train_state

    done = torchrun("-m", "vdlite", *TRAIN, "--out", str(tmp_path / "ddp"), tmp=tmp_path)
    assert done.stdout.count("training the dit") == 1  # rank 0 alone reports
    assert "2 processes of 2 clips" in done.stdout
    assert main([*TRAIN, "--out", str(tmp_path / "one")]) == 0
    ddp = load_train_state(tmp_path / "ddp" / "train_state.pt")
    one = load_train_state(tmp_path / "one" / "train_state.pt")
    assert ddp["step"] == one["step"] == 4
    torch.testing.assert_close(ddp["losses"], one["losses"], rtol=1e-5, atol=0)
    assert not torch.equal(one["losses"][0], one["losses"][1])  # the losses do change
    for part in ("model", "ema"):
        for name, weight in one[part].items():
            torch.testing.assert_close(ddp[part][name], weight, rtol=1e-5, atol=1e-5, msg=name)


def test_bench_prints_its_table(tmp_path):
    done = torchrun("-m", "vdlite.parallel", "bench", "--frames", "5", "--size", "24",
                    "--dim", "24", "--heads", "2", "--steps", "1", "--radius", "1",
                    tmp=tmp_path)
    lines = [line for line in done.stdout.splitlines() if line.startswith("| 5 |")]
    assert len(lines) == 4, done.stdout
    assert [line.split("|")[3].strip() for line in lines] == ["1 process"] * 2 + ["CP x 2"] * 2
    for line in lines[2:]:  # the context-parallel output equals the single-process one
        assert float(line.split("|")[-2]) < 1e-5, line


def test_bench_runs_under_torchrun_with_one_process(tmp_path):
    """The one-GPU baseline (torchrun --nproc-per-node 1) joins torchrun's store: a group of
    its own on another port once waited forever for a server that never came."""
    done = torchrun("-m", "vdlite.parallel", "bench", "--frames", "3", "--size", "16",
                    "--dim", "16", "--heads", "2", "--steps", "1", tmp=tmp_path, processes=1)
    modes = [line.split("|")[3].strip() for line in done.stdout.splitlines()
             if line.startswith("| 3 |")]
    assert modes == ["1 process"] * 2 + ["CP x 1"] * 2, done.stdout

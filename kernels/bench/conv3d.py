"""GPU check and benchmark of kernels.conv3d, the implicit-GEMM causal 3D convolution.

python -m kernels.bench.conv3d check fp32|fp16|bf16     # outputs and gradients vs float64
python -m kernels.bench.conv3d sweep [--json PATH]      # tile configs of each kernel, alone
python -m kernels.bench.conv3d bench [--configs PATH]   # timings vs cuDNN ways, markdown

The benchmark times, in one process on one GPU, our causal conv (zeros and replicate padding)
against every PyTorch way to compute the same thing: F.pad + F.conv3d; F.conv3d padding
(kT-1, 1, 1) on both sides, then slicing off the extra tail frames; torch.cat of copies of the
first frame + F.conv3d (replicate); F.pad(mode="replicate") + F.conv3d; each with
channels-last and with contiguous (NCDHW) tensors. The floor beside them is F.conv3d with
padding 1 (non-causal, same output size, nothing padded by hand): cuDNN's own speed on these
FLOPs. FLOPs = 2*N*Cout*Cin*kT*kH*kW*T*H*W forward, 3x that forward+backward; "% matmul" is
the rate as a fraction of a large bf16 matmul's, measured in the same process.
``--configs`` adds rows "ours (swept)" with the best tiles a ``sweep --json`` found.
"""
# Benchmarks time lambdas at once inside their loop (B023 cannot see that) and `del` each size's
# tensors before the next (F821 then flags the lambdas).


import argparse
import importlib
import json
import sys
import time

import torch
import torch.nn.functional as F
import triton

from kernels import conv3d
from kernels.bench import timeit

mod = importlib.import_module("kernels.conv.tuned")
DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
TOL = {torch.float32: 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}
CL = torch.channels_last_3d
SHAPES = [(1, 128, 16, 64, 64), (1, 256, 8, 32, 32), (2, 128, 16, 64, 64)]  # [N, C, T, H, W]


def err(x, r):
    return ((x.double() - r).norm() / r.norm()).item()


def reference(x, w, b, stride, padding, causal, pad_mode):
    """float64 oracle: F.conv3d after padding time by hand when causal (padding = (pH, pW))."""
    if causal:
        kT = w.shape[2]
        if pad_mode == "replicate":
            x = torch.cat([x[:, :, :1]] * (kT - 1) + [x], dim=2)
        else:
            x = F.pad(x, (0, 0, 0, 0, kT - 1, 0))
        padding = (0, *padding)
    return F.conv3d(x, w, b, stride, padding)


def check_one(shape, c_out, kernel, stride, padding, causal, pad_mode, dtype, channels_last,
              label):
    t = time.time()
    x = torch.randn(shape, device="cuda").to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=CL)
    w = (torch.randn(c_out, shape[1], *kernel, device="cuda") / (shape[1] * 27) ** 0.5).to(dtype)
    b = torch.randn(c_out, device="cuda").to(dtype)
    leaves = [v.detach().requires_grad_() for v in (x, w, b)]
    y = conv3d(*leaves, stride=stride, padding=padding, causal=causal, pad_mode=pad_mode)
    g = torch.randn(y.shape, device="cuda").to(dtype)
    grads = torch.autograd.grad(y, leaves, g)
    leaves64 = [v.detach().double().requires_grad_() for v in (x, w, b)]
    r = reference(*leaves64, stride, padding, causal, pad_mode)
    rgrads = torch.autograd.grad(r, leaves64, g.double())
    errs = [err(y, r)] + [err(a, c) for a, c in zip(grads, rgrads, strict=True)]
    ok = all(e <= TOL[dtype] for e in errs) and y.shape == r.shape
    print(f"{label:58s} out {errs[0]:.1e} dx {errs[1]:.1e} dw {errs[2]:.1e} db {errs[3]:.1e} "
          f"{'PASS' if ok else 'FAIL'} ({time.time() - t:.1f} s)", flush=True)
    return ok


def check(name):
    dtype = DT[name]
    torch.manual_seed(0)
    cases = [  # shape, Cout, kernel, stride, padding, causal, pad_mode, channels_last
        ((1, 128, 16, 64, 64), 128, (3, 3, 3), 1, (1, 1), True, "replicate", True),
        ((1, 128, 16, 64, 64), 128, (3, 3, 3), 1, (1, 1), True, "zeros", True),
        ((1, 256, 8, 32, 32), 256, (3, 3, 3), 1, (1, 1), True, "zeros", True),
        ((1, 256, 8, 32, 32), 256, (3, 3, 3), 1, (1, 1), True, "replicate", False),
        ((2, 64, 9, 17, 33), 96, (3, 3, 3), 1, 1, False, "zeros", True),
        ((2, 64, 9, 17, 33), 96, (3, 3, 3), 2, (1, 1), True, "replicate", True),
        ((2, 64, 9, 17, 33), 96, (3, 3, 3), (1, 2, 2), (1, 1), True, "zeros", False),
        ((1, 20, 7, 13, 17), 33, (3, 3, 3), 1, (1, 1), True, "replicate", True),
        ((2, 48, 13, 16, 16), 80, (3, 1, 1), 1, (0, 0), True, "replicate", True),
        ((2, 48, 1, 16, 16), 80, (3, 3, 3), 1, (1, 1), True, "replicate", True),
        ((2, 48, 5, 16, 16), 80, (1, 3, 3), 2, (0, 1, 1), False, "zeros", True),
        ((1, 3, 9, 32, 32), 64, (3, 3, 3), 1, (1, 1), True, "zeros", True),
        ((1, 64, 9, 32, 32), 3, (1, 1, 1), 1, 0, False, "zeros", True),
    ]
    ok = True
    for shape, c_out, kernel, stride, padding, causal, pad_mode, cl in cases:
        label = (f"{name} {shape}->{c_out} k{kernel} s{stride} "
                 f"{pad_mode if causal else 'noncausal'}{'' if cl else ' NCDHW'}")
        ok &= check_one(shape, c_out, kernel, stride, padding, causal, pad_mode, dtype, cl, label)
    print(f"CHECK {name}: {'ALL PASS' if ok else 'SOME FAIL'}", flush=True)
    return ok


def matmul_rate():
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    return 2 * 8192**3 / timeit(lambda: a @ b) / 1e9  # TFLOP/s


def operands(shape, dtype=torch.bfloat16, channels_last=True):
    N, C, T, H, W = shape
    fmt = CL if channels_last else torch.contiguous_format
    x = torch.randn(shape, device="cuda", dtype=dtype).contiguous(memory_format=fmt)
    w = (torch.randn(C, C, 3, 3, 3, device="cuda", dtype=dtype) / (27 * C) ** 0.5)
    w = w.contiguous(memory_format=fmt)
    b = torch.randn(C, device="cuda", dtype=dtype)
    return [v.requires_grad_() for v in (x, w, b)]


def torch_paths(T):
    """name -> (mode, f(x, w, b)): the PyTorch ways to compute the causal conv (k = 3)."""
    return {
        "F.pad + conv": ("zeros", lambda x, w, b: F.conv3d(
            F.pad(x, (0, 0, 0, 0, 2, 0)), w, b, padding=(0, 1, 1))),
        "conv pad (2,1,1) + slice": ("zeros", lambda x, w, b: F.conv3d(
            x, w, b, padding=(2, 1, 1))[:, :, :T]),
        "cat frame 0 + conv": ("replicate", lambda x, w, b: F.conv3d(
            torch.cat([x[:, :, :1], x[:, :, :1], x], dim=2), w, b, padding=(0, 1, 1))),
        "F.pad replicate + conv": ("replicate", lambda x, w, b: F.conv3d(
            F.pad(x, (0, 0, 0, 0, 2, 0), mode="replicate"), w, b, padding=(0, 1, 1))),
        "conv pad 1 (non-causal floor)": ("floor", lambda x, w, b: F.conv3d(
            x, w, b, padding=1)),
    }


def ours(mode):
    return lambda x, w, b: conv3d(x, w, b, padding=1, causal=True, pad_mode=mode)


def time_path(fn, x, w, b):
    """(forward ms, forward+backward ms)."""
    with torch.no_grad():
        t_fwd = timeit(lambda: fn(x, w, b))
    y = fn(x, w, b)
    dy = torch.randn_like(y)
    t_fb = timeit(lambda: torch.autograd.grad(fn(x, w, b), (x, w, b), dy))
    return t_fwd, t_fb


def load_configs(path):
    """``sweep --json`` output -> a _config that returns the best tiles it found."""
    with open(path) as f:
        best = {tuple(json.loads(key)): tuple(v) for key, v in json.load(f).items()}
    default = mod._config

    def config(kind, dtype, c_in, c_out, m, device):
        tiles = best.get((kind, c_in, c_out))
        return mod._Tiles(*tiles) if tiles and dtype != torch.float32 else default(
            kind, dtype, c_in, c_out, m, device)
    return config


# Every path is timed in ROUNDS rounds, each in a rotated order, and its fastest round kept:
# right after a heavy load (the matmul reference, another benchmark) the GPU runs slower for
# a while, and in a single pass whichever path came first paid for it (kernels/BENCHMARKS.md).
ROUNDS = 3


def bench(configs=None):
    p = torch.cuda.get_device_properties(0)
    print(f"device {p.name}, {p.multi_processor_count} SMs; torch {torch.__version__}, "
          f"triton {triton.__version__}, cuDNN {torch.backends.cudnn.version()}")
    peak = matmul_rate()
    print(f"bf16 matmul 8192^3: {peak:.0f} TFLOP/s (the '% matmul' reference)", flush=True)
    default = mod._config
    swept = load_configs(configs) if configs else None
    rows, summary = [], []
    for shape in SHAPES:
        N, C, T, H, W = shape
        flops = 2 * N * C * C * 27 * T * H * W
        res = {}  # (name, layout) -> (mode, fwd ms, fwd+bwd ms)
        for layout in ("CL", "NCDHW"):
            x, w, b = operands(shape, channels_last=layout == "CL")
            paths = [(f"ours {mode}", mode, ours(mode)) for mode in ("zeros", "replicate")]
            paths += [(name, mode, fn) for name, (mode, fn) in torch_paths(T).items()]
            times = {name: [] for name, _, _ in paths}
            for r in range(ROUNDS):  # each round in another order; the best round counts
                for name, _, fn in paths[r:] + paths[:r]:
                    times[name].append(time_path(fn, x, w, b))
            for name, mode, _ in paths:
                res[name, layout] = (mode, *(min(t) for t in zip(*times[name], strict=True)))
            if swept and layout == "CL":
                mod._config = swept
                mod._PLANS.clear()  # plans hold their tiles: remake them under the sweep's
                for mode in ("zeros", "replicate"):
                    res[f"ours {mode} (swept)", layout] = (mode, *time_path(ours(mode), x, w, b))
                mod._config = default
                mod._PLANS.clear()
            del x, w, b
            torch.cuda.empty_cache()
        for k, kind in ((1, "fwd"), (2, "fwd+bwd")):
            best = {m: min(v[k] for (n, _), v in res.items() if v[0] == m and
                           not n.startswith("ours")) for m in ("zeros", "replicate")}
            best["floor"] = best["zeros"]
            pad_rep = min(v[k] for (n, _), v in res.items() if n == "F.pad replicate + conv")
            for (name, layout), v in res.items():
                ms = v[k]
                tflops = flops * (1 if k == 1 else 3) / ms / 1e9
                rows.append((shape, kind, name, layout, ms, tflops, tflops / peak,
                             best[v[0]] / ms))
            for mode in ("zeros", "replicate"):
                o = min(v[k] for (n, lay), v in res.items() if n.startswith(f"ours {mode}")
                        and lay == "CL")
                line = (f"{shape} {kind} ours {mode} (CL, best config) {o:.3f} ms: "
                        f"{best[mode] / o:.2f}x the best PyTorch {mode} way ({best[mode]:.3f} ms)")
                if mode == "replicate":
                    line += f", {pad_rep / o:.2f}x F.pad(replicate) + cuDNN ({pad_rep:.3f} ms)"
                summary.append(line)
        print(f"{shape} done", flush=True)

    print("\n| shape [N,C,T,H,W] | pass | path | layout | ms | TFLOP/s | % matmul | "
          "x best PyTorch (same padding) |")
    print("|---|---|---|---|---|---|---|---|")
    for shape, kind, name, layout, ms, tf, frac, speed in rows:
        print(f"| {list(shape)} | {kind} | {name} | {layout} | {ms:.3f} | {tf:.0f} | "
              f"{100 * frac:.0f}% | {speed:.2f}x |")
    print("\nSummary (best PyTorch = fastest of its ways and layouts; floor vs best zeros way):")
    for line in summary:
        print("- " + line)
    overhead()


def overhead():
    """Where the time of one call goes: GPU kernel time (profiler) against the wall time
    per call (events) and the CPU time to issue a call (no sync between calls)."""
    from torch.profiler import ProfilerActivity, profile

    print("\n| shape | path | wall ms/call | CPU issue ms/call | GPU kernels ms/call | "
          "top kernels (ms/call) |")
    print("|---|---|---|---|---|---|")
    for shape in SHAPES[:2]:
        x, w, b = operands(shape)
        dy = torch.randn_like(conv3d(x, w, b, padding=1, causal=True))
        calls = {}
        for mode in ("zeros", "replicate"):
            calls[f"ours {mode} fwd"] = lambda mode=mode: conv3d(
                x.detach(), w.detach(), b.detach(), padding=1, causal=True, pad_mode=mode)
            calls[f"ours {mode} fwd+bwd"] = lambda mode=mode: torch.autograd.grad(
                ours(mode)(x, w, b), (x, w, b), dy)
        calls["F.pad + conv fwd+bwd"] = lambda: torch.autograd.grad(
            torch_paths(shape[2])["F.pad + conv"][1](x, w, b), (x, w, b), dy)
        for name, fn in calls.items():
            wall = timeit(fn)
            torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(20):
                fn()
            cpu = (time.perf_counter() - t) / 20 * 1e3
            torch.cuda.synchronize()
            try:
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    for _ in range(10):
                        fn()
                    torch.cuda.synchronize()
                ev = [e for e in prof.key_averages() if e.self_device_time_total > 0]
                gpu = sum(e.self_device_time_total for e in ev) / 10 / 1e3
                top = sorted(ev, key=lambda e: -e.self_device_time_total)[:4]
                tops = ", ".join(f"{e.key[:40]} {e.self_device_time_total / 10 / 1e3:.3f}"
                                 for e in top)
            except Exception as e:  # noqa: BLE001
                gpu, tops = float("nan"), f"profiler failed: {str(e)[:60]}"
            print(f"| {list(shape)} | {name} | {wall:.3f} | {cpu:.3f} | {gpu:.3f} | {tops} |",
                  flush=True)


SWEEP_TILES = {  # (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages)
    "forward": [(128, 128, 32, 4, 4), (128, 128, 64, 8, 4), (128, 128, 32, 4, 5),
                (128, 128, 32, 4, 6), (128, 128, 32, 8, 5), (256, 128, 32, 8, 4),
                (128, 128, 64, 4, 4), (64, 128, 32, 4, 5)],
    "input_grad": [(256, 128, 32, 8, 4), (128, 128, 64, 4, 4), (256, 128, 64, 8, 3),
                   (128, 128, 32, 4, 5), (128, 128, 64, 8, 4)],
    "weight_grad": [(128, 128, 128, 8, 3), (128, 128, 32, 4, 5), (128, 128, 64, 4, 4),
                    (128, 128, 64, 8, 3)],
}


def sweep(json_path=None):
    """Each kernel alone (bf16, causal zeros, channels-last) under each tile config."""
    default = mod._config
    best = {}
    print("\n| shape | kernel | BLOCK_M, BLOCK_N, BLOCK_K, warps, stages | ms | TFLOP/s |")
    print("|---|---|---|---|---|---|")
    for shape in SHAPES[:2]:
        N, C, T, H, W = shape
        flops = 2 * N * C * C * 27 * T * H * W
        x, w, b = [v.detach() for v in operands(shape)]
        wf = mod._arrange(w)
        geo = mod.geometry(x, w, 1, 1, True, "zeros")
        plan = [mod._make_plan(x, w, b, geo)]  # remade under each forward tile config
        dy = torch.randn(mod._forward(x, w, b, plan[0]).shape, device="cuda",
                         dtype=x.dtype).contiguous(memory_format=CL)
        run = {"forward": lambda: mod._forward(x, w, b, plan[0]),
               "input_grad": lambda: mod._input_grad(dy, wf, x.shape, geo),
               "weight_grad": lambda: mod._weight_grad(x, dy, w.shape, geo, True)}
        for kind, tiles in SWEEP_TILES.items():
            times = {}
            d = default(kind, x.dtype, C, C, N * T * H * W, x.device)
            for t in tiles:
                mod._config = lambda kind_, *args, t=t, kind=kind: (
                    mod._Tiles(*t) if kind_ == kind else default(kind_, *args))
                plan[0] = mod._make_plan(x, w, b, geo)
                try:
                    times[t] = timeit(run[kind], warmup=3, reps=20)
                    mark = " (default)" if tuple(d) == t else ""
                    print(f"| {list(shape)} | {kind} | {t}{mark} | {times[t]:.3f} | "
                          f"{flops / times[t] / 1e9:.0f} |", flush=True)
                except Exception as e:  # noqa: BLE001
                    print(f"| {list(shape)} | {kind} | {t} | failed: {str(e)[:80]} | |")
                mod._config = default
            if times:
                best[json.dumps([kind, C, C])] = list(min(times, key=times.get))
        del x, w, b, dy
        torch.cuda.empty_cache()
    print("\nbest:", best)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(best, f)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "sweep", "bench"])
    parser.add_argument("dtype", nargs="?", default="bf16", choices=list(DT))
    parser.add_argument("--json", help="sweep: write the best tiles here")
    parser.add_argument("--configs", help="bench: also time the tiles of a sweep --json")
    args = parser.parse_args()
    if args.command == "check":
        sys.exit(0 if check(args.dtype) else 1)
    elif args.command == "sweep":
        sweep(args.json)
    else:
        bench(args.configs)

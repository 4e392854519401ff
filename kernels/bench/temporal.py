"""GPU check and benchmark of kernels.temporal_attention (the first of the kernel benchmarks).

python -m kernels.bench.temporal check fp32|fp16|bf16   # output and gradients vs float64 reference
python -m kernels.bench.temporal bench [out.md]         # timings vs SDPA paths and the copy floor
python -m kernels.bench.temporal sweep [T,T..] [fwd|bwd]  # kernel configs, each pass apart
python -m kernels.bench.temporal host                   # host (Python + launch) time per call

The benchmark times, in one process on one GPU, our kernel on the [B, T, S, heads, D] layout
against permute + contiguous + F.scaled_dot_product_attention (each backend that runs) +
permute back, and a plain copy of the same bytes (q, k, v read, o written) as the floor.
Results: kernels/BENCHMARKS.md.
"""
# Benchmarks time lambdas at once inside their loop (B023 cannot see that) and `del` each size's
# tensors before the next (F821 then flags the lambdas).


import importlib
import math
import sys

import torch
import torch.nn.functional as F
import triton

import kernels
from kernels.bench import timeit
from vdlite.attention import temporal_attention as reference

mod = importlib.import_module("kernels.temporal.tuned")
runtime = importlib.import_module("kernels.runtime")
DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
TOL = {torch.float32: 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}
MASKS = [(c, w) for c in (False, True) for w in (None, 0, 1, 3, 100)]


def err(x, r):
    d = x.double() - r
    return d.abs().max().item() if r.norm() == 0 else (d.norm() / r.norm()).item()


def check_one(q, k, v, causal, window, label):
    g = torch.randn(q.shape, device=q.device, dtype=q.dtype)
    leaves = [x.detach().requires_grad_() for x in (q, k, v)]
    o = kernels.temporal_attention(*leaves, causal=causal, window=window)
    grads = torch.autograd.grad(o, leaves, g)
    # again: this time through the cached plan and the direct launch; must give the same bits
    o2 = kernels.temporal_attention(*leaves, causal=causal, window=window)
    grads2 = torch.autograd.grad(o2, leaves, g)
    with torch.no_grad():
        o3 = kernels.temporal_attention(*leaves, causal=causal, window=window)
    # (not bit for bit: with several key blocks dq adds up in float32 atomics, in any order)
    same = all(err(b, a.double()) <= TOL[q.dtype] / 10
               for a, b in zip((o, o, *grads), (o2, o3, *grads2), strict=True))
    leaves64 = [x.detach().double().requires_grad_() for x in (q, k, v)]
    r = reference(*leaves64, causal=causal, window=window)
    rgrads = torch.autograd.grad(r, leaves64, g.double())
    errs = [err(o, r)] + [err(a, b) for a, b in zip(grads, rgrads, strict=True)]
    ok = all(e <= TOL[q.dtype] for e in errs) and same
    print(f"{label:44s} out {errs[0]:.1e} dq {errs[1]:.1e} dk {errs[2]:.1e} dv {errs[3]:.1e} "
          f"{'' if same else 'REPEAT DIFFERS '}{'PASS' if ok else 'FAIL'}", flush=True)
    return ok


def check(name):
    dtype = DT[name]
    torch.manual_seed(0)
    ok = True
    for T in (8, 16, 32, 64):
        shape = (2, T, 1024, 8, 64)
        q, k, v = [torch.randn(shape, device="cuda").to(dtype) for _ in range(3)]
        for causal, window in MASKS:
            ok &= check_one(q, k, v, causal, window, f"{name} {shape} c={causal} w={window}")
    qkv = torch.randn(2, 16, 1024, 3, 8, 64, device="cuda").to(dtype)
    ok &= check_one(*qkv.unbind(3), True, 3, f"{name} fused qkv views T=16 c=1 w=3")
    for shape in [(1, 70, 256, 4, 64), (1, 13, 333, 3, 128), (2, 7, 100, 3, 16)]:
        q, k, v = [torch.randn(shape, device="cuda").to(dtype) for _ in range(3)]
        for causal, window in [(False, None), (True, 5)]:
            ok &= check_one(q, k, v, causal, window, f"{name} {shape} c={causal} w={window}")
    print(f"CHECK {name}: {'ALL PASS' if ok else 'SOME FAIL'}")
    return ok


def to_sdpa(x):  # [B, T, S, H, D] -> [B*S, H, T, D] (a copy)
    B, T, S, H, D = x.shape
    return x.permute(0, 2, 3, 1, 4).reshape(B * S, H, T, D)


def from_sdpa(y, shape):  # [B*S, H, T, D] -> [B, T, S, H, D] contiguous (a copy)
    B, T, S, H, D = shape
    return y.view(B, S, H, T, D).permute(0, 3, 1, 2, 4).contiguous()


def sdpa_path(q, k, v, causal):
    o = F.scaled_dot_product_attention(to_sdpa(q), to_sdpa(k), to_sdpa(v), is_causal=causal)
    return from_sdpa(o, q.shape)


def operands(shape, dtype):
    """q, k, v (requiring grad) and dO of ``shape``, and the ms a device copy takes to move
    4 tensor-sizes (q, k, v read and o written: the forward's bytes floor)."""
    q, k, v = [torch.randn(shape, device="cuda", dtype=dtype, requires_grad=True)
               for _ in range(3)]
    do = torch.randn(shape, device="cuda", dtype=dtype)
    src = torch.empty(2 * math.prod(shape), device="cuda", dtype=dtype)
    dst = torch.empty_like(src)
    return q, k, v, do, timeit(lambda: dst.copy_(src))


def time_sdpa(q, k, v, do, causal) -> dict:
    """{("sdpa BACKEND", "fwd" | "fwd+bwd"): ms} for each SDPA backend that takes the shape,
    through ``sdpa_path`` (with the permutes our layout needs); the others are reported."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    res = {}
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                    SDPBackend.CUDNN_ATTENTION):
        name = "sdpa " + backend.name.lower().replace("_attention", "")
        try:
            with sdpa_kernel([backend]):
                with torch.no_grad():
                    sdpa_path(q, k, v, causal)
                    res[name, "fwd"] = timeit(lambda: sdpa_path(q, k, v, causal))
                res[name, "fwd+bwd"] = timeit(lambda: torch.autograd.grad(
                    sdpa_path(q, k, v, causal), (q, k, v), do))
        except RuntimeError as e:
            print(f"  {name}: did not run: {str(e).splitlines()[0][:120]}")
        torch.cuda.empty_cache()
    return res


def bench(out_path=None):
    p = torch.cuda.get_device_properties(0)
    print(f"device {p.name}, {p.multi_processor_count} SMs; torch {torch.__version__}, "
          f"triton {triton.__version__}")
    B, S, H, D = 2, 4096, 8, 64
    dtype = torch.bfloat16
    rows = []
    for T in (8, 16, 32, 64):
        shape = (B, T, S, H, D)
        N = math.prod(shape)
        q, k, v, do, t_copy = operands(shape, dtype)
        copy_bw = 4 * N * 2 / t_copy / 1e6  # GB/s
        fwd_bytes, fb_bytes = 4 * N * 2, 12 * N * 2
        print(f"\nT={T}: copy of {4 * N * 2 / 1e9:.2f} GB moved in {t_copy:.3f} ms = "
              f"{copy_bw:.0f} GB/s; floors fwd {fwd_bytes / copy_bw / 1e6:.3f} ms, "
              f"fwd+bwd {fb_bytes / copy_bw / 1e6:.3f} ms", flush=True)
        for causal in (False, True):
            if causal and T not in (16, 64):
                continue
            res = {}
            with torch.no_grad():
                res["ours", "fwd"] = timeit(lambda: kernels.temporal_attention(q, k, v, causal))
                qkv = torch.randn(B, T, S, 3, H, D, device="cuda", dtype=dtype)
                views = qkv.unbind(3)
                res["ours (qkv views)", "fwd"] = timeit(
                    lambda: kernels.temporal_attention(*views, causal))
                del qkv, views
            res["ours", "fwd+bwd"] = timeit(lambda: torch.autograd.grad(
                kernels.temporal_attention(q, k, v, causal), (q, k, v), do))
            res.update(time_sdpa(q, k, v, do, causal))
            for kind, nbytes in (("fwd", fwd_bytes), ("fwd+bwd", fb_bytes)):
                sd = [t for (n, kd), t in res.items() if kd == kind and n.startswith("sdpa")]
                best = min(sd) if sd else float("nan")
                for (n, kd), t in res.items():
                    if kd != kind:
                        continue
                    gbs = nbytes / t / 1e6
                    row = (T, "causal" if causal else "none", kind, n, t, gbs, gbs / copy_bw,
                           best / t)
                    rows.append(row)
                    T_, mask, kd_, name, ms, gb = row[:6]
                    print(f"  T={T_:2d} {mask:6s} {kd_:7s} {name:18s} {ms:8.3f} ms {gb:7.0f} GB/s "
                          f"{100 * row[6]:5.1f}% of copy {row[7]:6.2f}x vs best SDPA", flush=True)
        del q, k, v, do
        torch.cuda.empty_cache()

    table = ["| T | mask | pass | path | ms | GB/s | % copy BW | x fastest SDPA |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.3f} | {r[5]:.0f} | "
                     f"{100 * r[6]:.1f}% | {r[7]:.2f}x |")
    print("\n" + "\n".join(table))
    title = "Other shapes (no mask): batch 1 and 4, 32x32 latents (S = 1024), head dim 128."
    print(f"\n{title}\n")  # a separate table: the summary plot reads only the one above
    table += ["", title, "", *other_shapes()]
    if out_path:
        with open(out_path, "w") as f:
            f.write(f"device {p.name}; torch {torch.__version__}, triton {triton.__version__}; "
                    f"[B=2, T, S=4096, heads=8, D=64] bf16\n\n" + "\n".join(table) + "\n")


OTHER_SHAPES = [(1, 4096, 64), (4, 4096, 64), (2, 1024, 64), (2, 4096, 128)]  # (B, S, D)


def other_shapes(shapes=OTHER_SHAPES, Ts=(8, 16, 32, 64), heads=8) -> list[str]:
    """Ours against the fastest SDPA backend (with its permutes) at more shapes: a markdown
    table, its column named "kernel" (not "path") so that the summary plot keeps to the main
    shape."""
    dtype = torch.bfloat16
    lines = ["| shape [B, T, S, heads, D] | pass | kernel | ms | GB/s | % copy BW | "
             "x fastest SDPA |", "|---|---|---|---|---|---|---|"]
    print(lines[0] + "\n" + lines[1], flush=True)
    for (B, S, D), T in ((bsd, T) for bsd in shapes for T in Ts):
        shape = (B, T, S, heads, D)
        N = math.prod(shape)
        q, k, v, do, t_copy = operands(shape, dtype)
        copy_bw = 4 * N * 2 / t_copy / 1e6  # GB/s
        res = {}
        with torch.no_grad():
            res["ours", "fwd"] = timeit(lambda: kernels.temporal_attention(q, k, v))
        res["ours", "fwd+bwd"] = timeit(lambda: torch.autograd.grad(
            kernels.temporal_attention(q, k, v), (q, k, v), do))
        res.update(time_sdpa(q, k, v, do, False))
        for kind, nbytes in (("fwd", 4 * N * 2), ("fwd+bwd", 12 * N * 2)):
            sd = {n: t for (n, kd), t in res.items() if kd == kind and n.startswith("sdpa")}
            best = min(sd.values()) if sd else float("nan")
            for n in ("ours", min(sd, key=sd.get) if sd else None):
                if n is None:
                    continue
                t = res[n, kind]
                gbs = nbytes / t / 1e6
                lines.append(f"| {list(shape)} | {kind} | {n} | {t:.3f} | {gbs:.0f} | "
                             f"{100 * gbs / copy_bw:.1f}% | {best / t:.2f}x |")
                print(lines[-1], flush=True)
        del q, k, v, do
        torch.cuda.empty_cache()
    return lines


# Candidate (BLOCK_T, BLOCK_S, num_warps, num_stages[, BLOCK_Q]) per T and pass. BLOCK_S > 1:
# the 3-D kernels (BLOCK_S >= num_warps); BLOCK_S = 1: the 2-D kernels (BLOCK_T >= 16 *
# num_warps), packing BLOCK_T // T positions per block when T <= BLOCK_T / 2.
SWEEP = {
    8: {"fwd": [(16, 4, 4, 1), (16, 8, 8, 1), (64, 1, 4, 1), (32, 1, 2, 1)],
        "bwd": [(16, 4, 4, 1), (16, 8, 8, 1), (64, 1, 4, 1, 16), (64, 1, 4, 1, 32)]},
    16: {"fwd": [(16, 4, 4, 1), (16, 8, 8, 1), (64, 1, 4, 1), (64, 1, 4, 2)],
         "bwd": [(16, 4, 4, 1), (16, 8, 8, 1), (64, 1, 4, 1, 16), (64, 1, 4, 1, 32),
                 (64, 1, 4, 1, 64)]},
    32: {"fwd": [(64, 1, 4, 1), (64, 1, 4, 2), (64, 1, 4, 3), (32, 4, 4, 1)],
         "bwd": [(64, 1, 4, 1, 16), (64, 1, 4, 1, 32), (64, 1, 4, 1, 64), (64, 1, 4, 2, 16),
                 (32, 1, 2, 1, 16)]},
    64: {"fwd": [(64, 1, 4, 1), (64, 1, 4, 2), (64, 1, 8, 1)],
         "bwd": [(64, 1, 4, 1, 16), (64, 1, 4, 1, 32), (64, 1, 4, 1, 64), (64, 1, 4, 2, 16),
                 (64, 1, 4, 2, 32)]},
}


def graph_time(fn, calls=10):
    """Kernel time with no host in the way: `calls` calls captured in a CUDA graph, replayed."""
    try:
        fn()
        torch.cuda.synchronize()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            fn()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(calls):
                fn()
        return timeit(g.replay, warmup=3, reps=20) / calls
    except Exception as e:  # noqa: BLE001
        print(f"    (no graph: {str(e)[:80]})")
        return float("nan")


def regs(launch):
    ck = launch.compiled
    if ck is None:
        return "regs ?"
    return f"regs {getattr(ck, 'n_regs', '?')} spills {getattr(ck, 'n_spills', '?')}"


def sweep_correct(T, kind, config):
    """Output and gradients of one config against the float64 reference, masked and not."""
    mod.CONFIG_OVERRIDE.clear()
    mod.CONFIG_OVERRIDE[kind] = config
    worst = 0.0
    try:
        for causal, window in ((False, None), (True, 3)):
            g = torch.Generator(device="cuda").manual_seed(T)
            q, k, v, do = [torch.randn((1, T, 300, 2, 64), device="cuda", generator=g)
                           .to(torch.bfloat16) for _ in range(4)]
            leaves = [x.detach().requires_grad_() for x in (q, k, v)]
            o = kernels.temporal_attention(*leaves, causal=causal, window=window)
            grads = torch.autograd.grad(o, leaves, do)
            l64 = [x.detach().double().requires_grad_() for x in (q, k, v)]
            r = reference(*l64, causal=causal, window=window)
            rg = torch.autograd.grad(r, l64, do.double())
            worst = max([worst, err(o, r)] + [err(a, b) for a, b in zip(grads, rg, strict=True)])
    finally:
        mod.CONFIG_OVERRIDE.clear()
    return worst


def sweep(Ts=(8, 16, 32, 64), kinds=("fwd", "bwd")):
    """Each candidate config of each pass: kernel alone (CUDA graph), the direct call
    (_forward/_backward with its host work), registers and spills, correctness."""
    B, S, H, D = 2, 4096, 8, 64
    print("\nconfig sweep: bf16 [2, T, 4096, 8, 64], no mask; kernel alone (CUDA graph) and "
          "direct call; % of copy BW on the pass's bytes (fwd 4N, bwd 8N); err vs float64 "
          "(masked and not, S=300)", flush=True)
    for T in Ts:
        shape = (B, T, S, H, D)
        N = math.prod(shape)
        q, k, v, do = [torch.randn(shape, device="cuda", dtype=torch.bfloat16) for _ in range(4)]
        src = torch.empty(2 * N, device="cuda", dtype=torch.bfloat16)
        dst = torch.empty_like(src)
        copy_bw = 4 * N * 2 / timeit(lambda: dst.copy_(src)) / 1e6
        del src, dst
        base = mod._Plan(q, False, None)
        o, lse = mod._forward(q, k, v, base)
        defaults = {"fwd": mod._config(T, D), "bwd": mod._config(T, D, backward=True)}
        print(f"T={T}: copy {copy_bw:.0f} GB/s; defaults fwd {defaults['fwd']} "
              f"bwd {defaults['bwd']}", flush=True)
        for kind in kinds:
            nbytes = (4 if kind == "fwd" else 8) * N * 2
            for config in SWEEP[T][kind]:
                mod.CONFIG_OVERRIDE.clear()
                mod.CONFIG_OVERRIDE[kind] = config
                try:
                    plan = mod._Plan(q, False, None)
                    if kind == "fwd":
                        fn = lambda plan=plan: mod._forward(q, k, v, plan)  # noqa: E731
                    else:
                        fn = lambda plan=plan: mod._backward(q, k, v, o, lse, do, plan)  # noqa: E731
                    fn()
                    t_direct = timeit(fn)
                    t_kernel = graph_time(fn)
                    launch = plan.fwd[True] if kind == "fwd" else next(iter(plan.bwd.values()))
                    info = regs(launch)
                    mod.CONFIG_OVERRIDE.clear()
                    e = sweep_correct(T, kind, config)
                    mark = "*" if config + (config[0],) * (5 - len(config)) == defaults[kind] \
                        else " "  # * marks the default in _config
                    print(f" {mark}T={T:2d} {kind} {str(config):20s} kernel {t_kernel:7.3f} ms "
                          f"({nbytes / t_kernel / 1e6 / copy_bw:4.0%} of copy)  direct "
                          f"{t_direct:7.3f} ms  {info}  err {e:.1e} "
                          f"{'ok' if e <= 3e-2 else 'FAIL'}", flush=True)
                except Exception as ex:  # noqa: BLE001
                    print(f"  T={T:2d} {kind} {str(config):20s} failed: "
                          f"{type(ex).__name__}: {str(ex)[:150]}", flush=True)
                finally:
                    mod.CONFIG_OVERRIDE.clear()
        del q, k, v, do, o, lse
        torch.cuda.empty_cache()


def host():
    """Host time per call (Python, checks, allocation, launch) on a tiny problem, where the GPU
    is never what the host waits for."""
    import time

    def per_call(fn, n=300):
        for _ in range(20):
            fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        return (t1 - t0) / n * 1e6

    shape = (2, 8, 64, 8, 64)
    q, k, v, do = [torch.randn(shape, device="cuda", dtype=torch.bfloat16) for _ in range(4)]
    ql, kl, vl = [x.clone().requires_grad_() for x in (q, k, v)]
    plan = mod._Plan(q, False, None)
    o, lse = mod._forward(q, k, v, plan)
    print("\nhost time per call, us (tiny problem, GPU idle)")
    for fast in (True, False):
        runtime.FAST_LAUNCH = fast
        mod._PLANS.clear()
        plan = mod._Plan(q, False, None)
        with torch.no_grad():
            rows = {
                "wrapper fwd (no grad)": lambda: kernels.temporal_attention(q, k, v),
                "_forward": lambda plan=plan: mod._forward(q, k, v, plan),
            }
            res = {name: per_call(fn) for name, fn in rows.items()}
        res["_backward"] = per_call(lambda plan=plan: mod._backward(q, k, v, o, lse, do, plan))
        res["wrapper fwd+bwd (autograd.grad)"] = per_call(lambda: torch.autograd.grad(
            kernels.temporal_attention(ql, kl, vl), (ql, kl, vl), do))
        for name, t in res.items():
            print(f"  FAST_LAUNCH={fast!s:5s} {name:32s} {t:7.1f} us", flush=True)
    runtime.FAST_LAUNCH = True
    with torch.no_grad():
        t = per_call(lambda: (torch.empty_like(q), torch.empty_like(q)))
        print(f"  torch.empty x2 {t:7.1f} us")


if __name__ == "__main__":
    if sys.argv[1] == "check":
        sys.exit(0 if check(sys.argv[2]) else 1)
    elif sys.argv[1] == "sweep":
        Ts = tuple(int(t) for t in sys.argv[2].split(",")) if len(sys.argv) > 2 else (8, 16, 32, 64)
        kinds = (sys.argv[3],) if len(sys.argv) > 3 else ("fwd", "bwd")
        sweep(Ts, kinds)
    elif sys.argv[1] == "host":
        host()
    else:
        bench(sys.argv[2] if len(sys.argv) > 2 else None)

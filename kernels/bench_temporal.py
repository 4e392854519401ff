"""GPU check and benchmark of kernels.temporal_attention (the first of the kernel benchmarks).

python -m kernels.bench_temporal check fp32|fp16|bf16   # output and gradients vs float64 reference
python -m kernels.bench_temporal bench                  # timings vs SDPA paths and the copy floor

The benchmark times, in one process on one GPU, our kernel on the [B, T, S, heads, D] layout
against permute + contiguous + F.scaled_dot_product_attention (each backend that runs) +
permute back, and a plain copy of the same bytes (q, k, v read, o written) as the floor.
Results: kernels/BENCHMARKS.md.
"""

import importlib
import math
import statistics
import sys

import torch
import torch.nn.functional as F
import triton

import kernels
from vdlite.attention import temporal_attention as reference

mod = importlib.import_module("kernels.temporal_attention")
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
    leaves64 = [x.detach().double().requires_grad_() for x in (q, k, v)]
    r = reference(*leaves64, causal=causal, window=window)
    rgrads = torch.autograd.grad(r, leaves64, g.double())
    errs = [err(o, r)] + [err(a, b) for a, b in zip(grads, rgrads, strict=True)]
    ok = all(e <= TOL[q.dtype] for e in errs)
    print(f"{label:44s} out {errs[0]:.1e} dq {errs[1]:.1e} dk {errs[2]:.1e} dv {errs[3]:.1e} "
          f"{'PASS' if ok else 'FAIL'}", flush=True)
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


def timeit(fn, warmup=5, reps=30):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    events = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        events.append((s, e))
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in events)


def to_sdpa(x):  # [B, T, S, H, D] -> [B*S, H, T, D] (a copy)
    B, T, S, H, D = x.shape
    return x.permute(0, 2, 3, 1, 4).reshape(B * S, H, T, D)


def from_sdpa(y, shape):  # [B*S, H, T, D] -> [B, T, S, H, D] contiguous (a copy)
    B, T, S, H, D = shape
    return y.view(B, S, H, T, D).permute(0, 3, 1, 2, 4).contiguous()


def sdpa_path(q, k, v, causal):
    o = F.scaled_dot_product_attention(to_sdpa(q), to_sdpa(k), to_sdpa(v), is_causal=causal)
    return from_sdpa(o, q.shape)


def bench():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    p = torch.cuda.get_device_properties(0)
    print(f"device {p.name}, {p.multi_processor_count} SMs; torch {torch.__version__}, "
          f"triton {triton.__version__}")
    B, S, H, D = 2, 4096, 8, 64
    dtype = torch.bfloat16
    rows = []
    for T in (8, 16, 32, 64):
        shape = (B, T, S, H, D)
        N = math.prod(shape)
        q, k, v = [torch.randn(shape, device="cuda", dtype=dtype, requires_grad=True)
                   for _ in range(3)]
        do = torch.randn(shape, device="cuda", dtype=dtype)
        src = torch.empty(2 * N, device="cuda", dtype=dtype)
        dst = torch.empty_like(src)
        t_copy = timeit(lambda: dst.copy_(src))  # moves 4N elements: q, k, v read + o written
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
        del q, k, v, do, src, dst
        torch.cuda.empty_cache()

    print("\n| T | mask | pass | path | ms | GB/s | % copy BW | x fastest SDPA |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.3f} | {r[5]:.0f} | "
              f"{100 * r[6]:.1f}% | {r[7]:.2f}x |")
    sweep()


def sweep():
    """Time the two kernels alone under other (BLOCK_N, num_warps) choices."""
    B, S, H, D = 2, 4096, 8, 64
    default = mod._config
    print("\nconfig sweep (kernels alone, bf16, no mask); defaults marked f (fwd), b (bwd)")
    for T, configs in ((8, [(2, 4), (4, 4), (4, 8), (8, 8)]),
                       (16, [(1, 2), (1, 4), (2, 4), (2, 8), (4, 4), (4, 8)]),
                       (32, [(1, 4), (1, 8), (2, 8)]),
                       (64, [(1, 4), (1, 8), (2, 8)])):
        shape = (B, T, S, H, D)
        N = math.prod(shape)
        q, k, v, do = [torch.randn(shape, device="cuda", dtype=torch.bfloat16) for _ in range(4)]
        src = torch.empty(2 * N, device="cuda", dtype=torch.bfloat16)
        dst = torch.empty_like(src)
        copy_bw = 4 * N * 2 / timeit(lambda: dst.copy_(src)) / 1e6
        d = default(T, D), default(T, D, backward=True)
        for bn, warps in configs:
            mod._config = lambda T_, D_, backward=False, bn=bn, warps=warps: (
                min(max(16, T_), 64), bn, warps)
            try:
                o, lse = mod._forward(q, k, v, False, None)
                tf = timeit(lambda: mod._forward(q, k, v, False, None))
                tb = timeit(lambda: mod._backward(q, k, v, o, lse, do, False, None))
                mark = "f" if (bn, warps) == d[0][1:] else " "
                mark += "b" if (bn, warps) == d[1][1:] else " "
                print(f" {mark}T={T} BLOCK_N={bn} warps={warps}: fwd {tf:.3f} ms "
                      f"({4 * N * 2 / tf / 1e6 / copy_bw:.0%} of copy BW), bwd {tb:.3f} ms "
                      f"({8 * N * 2 / tb / 1e6 / copy_bw:.0%})", flush=True)
            except Exception as e:  # noqa: BLE001
                print(f"  T={T} BLOCK_N={bn} warps={warps}: failed {str(e)[:100]}")
        mod._config = default
        del q, k, v, do, src, dst
        torch.cuda.empty_cache()


if __name__ == "__main__":
    if sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        bench()

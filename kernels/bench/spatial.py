"""GPU check and benchmark of kernels.spatial_attention (flash attention over a frame's S tokens).

python -m kernels.bench.spatial check fp32|fp16|bf16   # output and gradients vs float64 reference
python -m kernels.bench.spatial bench                  # timings vs SDPA backends and the GEMM peak
python -m kernels.bench.spatial sweep                  # the kernels alone under other tilings

The benchmark times, in one process on one GPU, in bf16:
- from our layout: our kernel on q, k, v ``[B, T, S, heads, D]`` (and on the views
  ``qkv.unbind(3)`` of a fused projection) against SDPA reached from this layout: permute +
  contiguous to ``[B*T, heads, S, D]``, ``F.scaled_dot_product_attention`` with each backend
  that runs (flash, efficient, cudnn), permute back + contiguous ("+ permutes"); and SDPA fed
  the strided views ``x.flatten(0, 1).transpose(1, 2)`` with no copy in ("strided views"),
  which the backends accept as long as D is contiguous;
- kernel against kernel: SDPA alone on contiguous ``[B*T, heads, S, D]`` tensors, and ours on
  the very same memory, viewed as our layout by a permute (no copy).
FLOPs: forward 4*B*T*heads*S^2*D (two matrix products), forward+backward 3.5x that (the
backward's five products, the usual count; ours does seven, see kernels/spatial/tuned.py). The
ceiling is a bf16 matmul (8192^3) timed in the same process. Results: kernels/BENCHMARKS.md.
"""
# Benchmarks time lambdas at once inside their loop (B023 cannot see that) and `del` each size's
# tensors before the next (F821 then flags the lambdas).


import importlib
import sys

import torch
import torch.nn.functional as F
import triton
from torch.nn.attention import SDPBackend, sdpa_kernel

from kernels import spatial_attention
from kernels.bench import timeit
from vdlite.attention import spatial_attention as reference

mod = importlib.import_module("kernels.spatial.tuned")
DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
TOL = {torch.float32: 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}
BENCH_SHAPES = [(1, 16, 4096, 8, 64), (1, 16, 4096, 8, 128), (2, 8, 1024, 8, 64)]


def err(x, r):
    d = x.double() - r
    return d.abs().max().item() if r.norm() == 0 else (d.norm() / r.norm()).item()


def check_one(q, k, v, label):
    g = torch.randn(q.shape, device=q.device, dtype=q.dtype)
    leaves = [x.detach().requires_grad_() for x in (q, k, v)]
    o = spatial_attention(*leaves)
    grads = torch.autograd.grad(o, leaves, g)
    leaves64 = [x.detach().double().requires_grad_() for x in (q, k, v)]
    r = reference(*leaves64)
    rgrads = torch.autograd.grad(r, leaves64, g.double())
    errs = [err(o, r)] + [err(a, b) for a, b in zip(grads, rgrads, strict=True)]
    ok = all(e <= TOL[q.dtype] for e in errs)
    print(f"{label:40s} out {errs[0]:.1e} dq {errs[1]:.1e} dk {errs[2]:.1e} dv {errs[3]:.1e} "
          f"{'PASS' if ok else 'FAIL'}", flush=True)
    return ok


def check(name):
    dtype = DT[name]
    torch.manual_seed(0)
    ok = True
    for shape in [(1, 2, 4096, 2, 64), (1, 2, 4096, 2, 128), (1, 1, 4096, 2, 32),
                  (2, 3, 1000, 3, 128), (1, 2, 4095, 2, 64), (2, 4, 333, 2, 64),
                  (1, 2, 77, 4, 32), (1, 3, 1, 2, 64), (1, 2, 200, 2, 16)]:
        q, k, v = [torch.randn(shape, device="cuda").to(dtype) for _ in range(3)]
        ok &= check_one(q, k, v, f"{name} {shape}")
    for D in (64, 128):
        qkv = torch.randn(1, 2, 1024, 3, 4, D, device="cuda").to(dtype)
        ok &= check_one(*qkv.unbind(3), f"{name} fused qkv views S=1024 D={D}")
    print(f"CHECK {name}: {'ALL PASS' if ok else 'SOME FAIL'}", flush=True)
    return ok


def gemm_peak():
    """bf16 TFLOP/s of an 8192^3 matmul: the tensor-core ceiling we compare with."""
    a, b = [torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2)]
    return 2 * 8192**3 / timeit(lambda: a @ b) / 1e9


def to_sdpa(x):  # [B, T, S, H, D] -> [B*T, H, S, D] contiguous (a copy)
    B, T, S, H, D = x.shape
    return x.permute(0, 1, 3, 2, 4).contiguous().view(B * T, H, S, D)


def from_sdpa(y, shape):  # [B*T, H, S, D] -> [B, T, S, H, D] contiguous (a copy)
    B, T, S, H, D = shape
    return y.reshape(B, T, H, S, D).permute(0, 1, 3, 2, 4).contiguous()


def strided(x):  # [B, T, S, H, D] -> [B*T, H, S, D], a view (SDPA reads the strides)
    return x.flatten(0, 1).transpose(1, 2)


def fwd_bwd(fn, inputs, do):
    return lambda: torch.autograd.grad(fn(*inputs), inputs, do)


def bench_shape(shape, peak, backends):
    B, T, S, H, D = shape
    dtype = torch.bfloat16
    flops = 4 * B * T * H * S * S * D
    q, k, v = [torch.randn(shape, device="cuda", dtype=dtype, requires_grad=True)
               for _ in range(3)]
    do = torch.randn(shape, device="cuda", dtype=dtype)
    qkv = torch.randn(B, T, S, 3, H, D, device="cuda", dtype=dtype, requires_grad=True)
    # kernel vs kernel: SDPA's own contiguous layout, and ours viewing the same memory
    qh, kh, vh = [torch.randn(B * T, H, S, D, device="cuda", dtype=dtype, requires_grad=True)
                  for _ in range(3)]
    doh = torch.randn(B * T, H, S, D, device="cuda", dtype=dtype)

    def view(x):  # [B*T, H, S, D] -> [B, T, S, H, D], a view
        return x.view(B, T, H, S, D).permute(0, 1, 3, 2, 4)

    def ours_views(x):
        return spatial_attention(*x.unbind(3))

    def ours_on_sdpa_memory(a, b, c):
        return spatial_attention(view(a), view(b), view(c))

    res = {}  # (group, path, pass) -> ms
    with torch.no_grad():
        res["layout", "ours", "fwd"] = timeit(lambda: spatial_attention(q, k, v))
        res["layout", "ours (qkv views)", "fwd"] = timeit(lambda: ours_views(qkv))
        res["kernel", "ours (view of SDPA layout)", "fwd"] = timeit(
            lambda: ours_on_sdpa_memory(qh, kh, vh))
    res["layout", "ours", "fwd+bwd"] = timeit(fwd_bwd(spatial_attention, (q, k, v), do))
    res["layout", "ours (qkv views)", "fwd+bwd"] = timeit(fwd_bwd(ours_views, (qkv,), do))
    res["kernel", "ours (view of SDPA layout)", "fwd+bwd"] = timeit(
        fwd_bwd(ours_on_sdpa_memory, (qh, kh, vh), view(doh)))
    for backend, name in backends:
        def path(a, b, c):
            o = F.scaled_dot_product_attention(to_sdpa(a), to_sdpa(b), to_sdpa(c))
            return from_sdpa(o, shape)

        def path_views(a, b, c):  # no copies in; out [B, T, S, H, D] (a copy if need be)
            o = F.scaled_dot_product_attention(strided(a), strided(b), strided(c))
            return o.transpose(1, 2).reshape(shape)

        try:
            with sdpa_kernel([backend]):
                with torch.no_grad():
                    res["layout", f"sdpa {name} + permutes", "fwd"] = timeit(
                        lambda: path(q, k, v))
                    res["layout", f"sdpa {name} strided views", "fwd"] = timeit(
                        lambda: path_views(q, k, v))
                    res["kernel", f"sdpa {name}", "fwd"] = timeit(
                        lambda: F.scaled_dot_product_attention(qh, kh, vh))
                res["layout", f"sdpa {name} + permutes", "fwd+bwd"] = timeit(
                    fwd_bwd(path, (q, k, v), do))
                res["layout", f"sdpa {name} strided views", "fwd+bwd"] = timeit(
                    fwd_bwd(path_views, (q, k, v), do))
                res["kernel", f"sdpa {name}", "fwd+bwd"] = timeit(
                    fwd_bwd(F.scaled_dot_product_attention, (qh, kh, vh), doh))
        except RuntimeError as e:
            print(f"  sdpa {name}: did not run: {str(e).splitlines()[0][:120]}", flush=True)
        torch.cuda.empty_cache()

    rows = []
    for group in ("layout", "kernel"):
        for kind, mult in (("fwd", 1.0), ("fwd+bwd", 3.5)):
            sd = {n: t for (g, n, kd), t in res.items()
                  if g == group and kd == kind and n.startswith("sdpa")}
            best = min(sd.values(), default=float("nan"))  # any SDPA path of the group
            copies = [t for n, t in sd.items() if "strided" not in n]
            best_copies = min(copies, default=float("nan"))  # permutes included (layout)
            for (g, n, kd), t in res.items():
                if g == group and kd == kind:
                    tflops = mult * flops / t / 1e9
                    rows.append((shape, group, kind, n, t, tflops, tflops / peak,
                                 best_copies / t, best / t))
                    print(f"  {str(shape):22s} {group:6s} {kind:7s} {n:28s} {t:7.3f} ms "
                          f"{tflops:5.0f} TFLOP/s {tflops / peak:5.1%} of GEMM "
                          f"{best_copies / t:5.2f}x best SDPA+permutes {best / t:5.2f}x best SDPA",
                          flush=True)
    return rows


def bench():
    p = torch.cuda.get_device_properties(0)
    print(f"device {p.name}, {p.multi_processor_count} SMs; torch {torch.__version__}, "
          f"triton {triton.__version__}, cudnn {torch.backends.cudnn.version()}")
    peak = gemm_peak()
    print(f"bf16 GEMM 8192^3: {peak:.0f} TFLOP/s", flush=True)
    backends = [(SDPBackend.FLASH_ATTENTION, "flash"),
                (SDPBackend.EFFICIENT_ATTENTION, "efficient"),
                (SDPBackend.CUDNN_ATTENTION, "cudnn")]
    rows = []
    for shape in BENCH_SHAPES:
        rows += bench_shape(shape, peak, backends)
        torch.cuda.empty_cache()

    print(f"\nbf16; GEMM peak {peak:.0f} TFLOP/s. Speedups (their time / ours) against the fastest "
          "SDPA path of the same group: layout = from [B, T, S, heads, D], 'x SDPA+permutes' "
          "against the copying paths, 'x any SDPA' also against the strided views; kernel = on "
          "contiguous [B*T, heads, S, D], the two columns agree.\n")
    print("| [B, T, S, heads, D] | group | pass | path | ms | TFLOP/s | % GEMM peak | "
          "x SDPA+permutes | x any SDPA |")
    print("|---|---|---|---|---|---|---|---|---|")
    for shape, group, kind, n, t, tflops, frac, speed_copies, speed in rows:
        print(f"| {list(shape)} | {group} | {kind} | {n} | {t:.3f} | {tflops:.0f} | "
              f"{100 * frac:.1f}% | {speed_copies:.2f}x | {speed:.2f}x |")


SWEEP = {  # D -> kernel -> (BLOCK_M, BLOCK_N, num_warps, num_stages) to try; defaults first
    64: {"fwd": [(128, 64, 8, 3), (128, 64, 8, 4), (128, 64, 8, 2), (64, 64, 4, 3),
                 (64, 64, 4, 4), (64, 128, 4, 3), (128, 128, 8, 3)],
         "dq": [(128, 64, 4, 3), (128, 64, 4, 4), (128, 64, 4, 2), (64, 64, 4, 4),
                (128, 128, 8, 3), (128, 32, 4, 4)],
         "dkdv": [(64, 64, 4, 3), (64, 64, 4, 4), (64, 64, 4, 2), (32, 64, 4, 4),
                  (64, 128, 4, 3), (32, 128, 4, 4)]},
    128: {"fwd": [(64, 64, 4, 3), (64, 64, 4, 2), (64, 64, 4, 4), (64, 128, 4, 2),
                  (128, 64, 8, 2), (128, 64, 8, 4), (128, 128, 8, 3)],
          "dq": [(128, 64, 8, 3), (128, 64, 8, 4), (128, 64, 8, 2), (64, 64, 4, 4),
                 (64, 64, 4, 2), (128, 32, 8, 3)],
          "dkdv": [(32, 64, 4, 3), (32, 64, 4, 4), (32, 64, 4, 2), (64, 64, 8, 4),
                   (32, 64, 8, 3), (32, 128, 8, 3)]},
}


def sweep():
    """Time each kernel alone under the tilings in SWEEP (bf16, [1, 16, 4096, 8, D]); the
    other backward kernel keeps its default. Marks the default with *, prints the best."""
    default = mod._config
    print("\nconfig sweep, bf16 [1, 16, 4096, 8, D]; * = current default")
    for D, tilings in SWEEP.items():
        shape = (1, 16, 4096, 8, D)
        flops = 4 * 16 * 8 * 4096**2 * D
        q, k, v, do = [torch.randn(shape, device="cuda", dtype=torch.bfloat16) for _ in range(4)]
        o, lse = mod._forward(q, k, v)
        for kernel, configs in tilings.items():
            times = {}
            for cfg in configs:
                mod._config = lambda D_, dt, kn, cfg=cfg, kernel=kernel: (
                    cfg if kn == kernel else default(D_, dt, kn))
                try:
                    if kernel == "fwd":
                        t = timeit(lambda: mod._forward(q, k, v))
                    else:
                        t = timeit(lambda: mod._backward(q, k, v, o, lse, do))
                    times[cfg] = t
                    mark = "*" if cfg == default(D, torch.bfloat16, kernel) else " "
                    mult = 1.0 if kernel == "fwd" else 2.5
                    print(f" {mark}D={D} {kernel:4s} BM={cfg[0]:3d} BN={cfg[1]:3d} w={cfg[2]} "
                          f"s={cfg[3]}: {t:.3f} ms ({mult * flops / t / 1e9:.0f} TFLOP/s "
                          f"{'fwd' if kernel == 'fwd' else 'bwd, 2.5x count, both kernels'})",
                          flush=True)
                except Exception as e:  # noqa: BLE001
                    print(f"  D={D} {kernel} {cfg}: failed {str(e).splitlines()[0][:100]}")
                finally:
                    mod._config = default
            if times:
                best = min(times, key=times.get)
                print(f"  best D={D} {kernel}: {best} {times[best]:.3f} ms", flush=True)
        del q, k, v, do, o, lse
        torch.cuda.empty_cache()


if __name__ == "__main__":
    if sys.argv[1] == "check":
        sys.exit(0 if check(sys.argv[2]) else 1)
    elif sys.argv[1] == "sweep":
        sweep()
    else:
        bench()

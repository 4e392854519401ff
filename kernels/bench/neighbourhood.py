"""GPU check and benchmark of kernels.neighbourhood_attention (neighbourhood temporal attention).

python -m kernels.bench.neighbourhood check fp32|fp16|bf16   # output and gradients vs float64
python -m kernels.bench.neighbourhood bench                  # timings vs FlexAttention, the floors

The benchmark times, in one process on one GPU, at the DiT GPU preset's shape (B=16, T=16,
16 x 16 tokens, 6 heads, D=32) and at T = 16 and 32 on 64 x 64 tokens (B=1, 8 heads, D=64),
bf16, radius 1:

- ours: the tuned kernel (``kernels.neighbourhood_attention``) and the lesson kernel;
- FlexAttention (``torch.nn.attention.flex_attention``, compiled) with a block mask equal to the
  neighbourhood x temporal mask over the flattened T*S sequence, with the permutes our
  ``[B, T, S, heads, D]`` layout needs (to ``[B, heads, T*S, D]`` and back);
- the reference, ``vdlite.attention.neighbourhood_temporal_attention``;

beside two floors: bytes (q, k, v read once and o written once; the backward reads q, k, v,
o, dO and writes dq, dk, dv: 12 tensor-sizes in all) at the bandwidth of a device copy, and
FLOPs (4 D per allowed query-key pair forward, 2.5 times that backward) at the rate of a bf16
GEMM, both measured here. The issue's targets: forward >= 10x and forward+backward >= 5x the
faster of FlexAttention and the reference.
"""
# Benchmarks time lambdas at once inside their loop (B023 cannot see that).

from __future__ import annotations

import sys

import torch

import kernels
import kernels.lesson
from kernels.bench import timeit
from vdlite.attention import neighbourhood_mask, neighbourhood_temporal_attention, temporal_mask

DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
TOL = {torch.float32: 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}
SHAPES = [  # (B, T, (H, W), heads, D): the DiT GPU preset, then 64 x 64 tokens
    (16, 16, (16, 16), 6, 32),
    (1, 16, (64, 64), 8, 64),
    (1, 32, (64, 64), 8, 64),
]
TARGETS = {"fwd": 10.0, "fwd+bwd": 5.0}  # x the faster of FlexAttention and the reference


def pairs(T: int, hw: tuple[int, int], radius: int, causal: bool = False,
          window: int | None = None) -> int:
    """Allowed (query, key) pairs per (batch, head): the temporal mask's allowed frame pairs
    times the neighbourhood mask's position pairs (the two masks multiply)."""
    return (int(temporal_mask(T, causal, window).sum())
            * int(neighbourhood_mask(hw, radius).sum()))


def floors(B: int, T: int, hw: tuple[int, int], heads: int, D: int, radius: int,
           causal: bool = False, window: int | None = None, element_bytes: int = 2) -> dict:
    """{("bytes" | "flops", "fwd" | "fwd+bwd"): count}. Bytes: q, k, v read and o written once
    (4 tensor-sizes), and with the backward 8 more (q, k, v, o, dO read; dq, dk, dv written).
    FLOPs: 2 dots of 2 D FLOPs per allowed pair forward (q.k and p v), 5 backward (the scores
    again, dP, dv, dq, dk), so 4 D and 4 D + 10 D."""
    size = B * T * hw[0] * hw[1] * heads * D * element_bytes
    fwd_flops = 4 * D * B * heads * pairs(T, hw, radius, causal, window)
    return {("bytes", "fwd"): 4 * size, ("bytes", "fwd+bwd"): 12 * size,
            ("flops", "fwd"): fwd_flops, ("flops", "fwd+bwd"): fwd_flops * 7 // 2}


def err(x, r):
    d = x.double() - r
    return d.abs().max().item() if r.norm() == 0 else (d.norm() / r.norm()).item()


def check_one(q, k, v, hw, radius, causal, window, label):
    g = torch.randn(q.shape, device=q.device, dtype=q.dtype)
    leaves64 = [x.detach().double().requires_grad_() for x in (q, k, v)]
    r = neighbourhood_temporal_attention(*leaves64, hw, radius, causal, window)
    rgrads = torch.autograd.grad(r, leaves64, g.double())
    ok = True
    for name, path in (("tuned", kernels), ("lesson", kernels.lesson)):
        leaves = [x.detach().requires_grad_() for x in (q, k, v)]
        o = path.neighbourhood_attention(*leaves, hw, radius, causal, window)
        grads = torch.autograd.grad(o, leaves, g)
        errs = [err(o, r)] + [err(a, b) for a, b in zip(grads, rgrads, strict=True)]
        good = all(e <= TOL[q.dtype] for e in errs)
        ok &= good
        print(f"{label:50s} {name:6s} out {errs[0]:.1e} dq {errs[1]:.1e} dk {errs[2]:.1e} "
              f"dv {errs[3]:.1e} {'PASS' if good else 'FAIL'}", flush=True)
    return ok


def check(name):
    """Both paths against the float64 reference on odd grids, every mask, fused views."""
    dtype = DT[name]
    torch.manual_seed(0)
    ok = True
    for B, T, hw, heads, D in [(2, 16, (16, 16), 6, 32), (1, 13, (9, 7), 3, 64),
                               (2, 5, (1, 11), 2, 16), (1, 7, (5, 5), 2, 128)]:
        q, k, v = [torch.randn(B, T, hw[0] * hw[1], heads, D, device="cuda").to(dtype)
                   for _ in range(3)]
        for radius, causal, window in [(1, False, None), (1, True, None), (2, False, 3),
                                       (0, True, 2), (3, True, 1)]:
            ok &= check_one(q, k, v, hw, radius, causal, window,
                            f"{name} {(B, T, hw, heads, D)} r={radius} c={causal} w={window}")
    qkv = torch.randn(2, 16, 64, 3, 4, 32, device="cuda").to(dtype)
    ok &= check_one(*qkv.unbind(3), (8, 8), 1, True, 3, f"{name} fused qkv views 8x8 r=1")
    print(f"CHECK {name}: {'ALL PASS' if ok else 'SOME FAIL'}")
    return ok


def flex_path(T: int, hw: tuple[int, int], radius: int, causal: bool, window: int | None,
              B: int, heads: int):
    """FlexAttention over the flattened T*S sequence (token i = frame i // S, position
    i % S) with the neighbourhood x temporal mask as a block mask; compiled. Returns
    fn(q, k, v) on our layout (permutes to [B, heads, T*S, D] and back)."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    H, W = hw
    S = H * W

    def mask_mod(b, h, q_idx, kv_idx):
        tq, sq = q_idx // S, q_idx % S
        tk, sk = kv_idx // S, kv_idx % S
        near = ((sq // W - sk // W).abs() <= radius) & ((sq % W - sk % W).abs() <= radius)
        if causal:
            near = near & (tk <= tq)
        if window is not None:
            near = near & ((tq - tk).abs() <= window)
        return near

    block_mask = create_block_mask(mask_mod, None, None, T * S, T * S, device="cuda")
    attend = torch.compile(flex_attention)

    def fn(q, k, v):
        def seq(x):  # [B, T, S, heads, D] -> [B, heads, T*S, D]
            return x.permute(0, 3, 1, 2, 4).reshape(B, heads, T * S, x.shape[-1])
        o = attend(seq(q), seq(k), seq(v), block_mask=block_mask)
        return o.view(B, heads, T, S, -1).permute(0, 2, 3, 1, 4).contiguous()

    return fn


def rates(dtype) -> tuple[float, float]:
    """(bytes/s of a device copy, FLOP/s of a square GEMM), measured in this process."""
    src = torch.empty(1 << 28, device="cuda", dtype=torch.uint8)
    dst = torch.empty_like(src)
    copy = 2 * src.numel() / (timeit(lambda: dst.copy_(src)) / 1e3)  # read + write
    a = torch.randn(8192, 8192, device="cuda", dtype=dtype)
    gemm = 2 * 8192 ** 3 / (timeit(lambda: a @ a) / 1e3)
    del src, dst, a
    torch.cuda.empty_cache()
    return copy, gemm


def time_paths(q, k, v, do, hw, radius, causal, window) -> dict:
    """{(path, pass): ms}; a path that does not run is reported and left out."""
    B, T, S, heads, D = q.shape
    paths = {
        "ours (tuned)": lambda q, k, v: kernels.neighbourhood_attention(
            q, k, v, hw, radius, causal, window),
        "ours (lesson)": lambda q, k, v: kernels.lesson.neighbourhood_attention(
            q, k, v, hw, radius, causal, window),
        "reference": lambda q, k, v: neighbourhood_temporal_attention(
            q, k, v, hw, radius, causal, window),
    }
    try:
        paths["flex (compiled)"] = flex_path(T, hw, radius, causal, window, B, heads)
    except Exception as e:  # noqa: BLE001
        print(f"  flex: not built: {str(e).splitlines()[0][:120]}")
    res = {}
    for name, fn in paths.items():
        try:
            with torch.no_grad():
                res[name, "fwd"] = timeit(lambda: fn(q, k, v))
            res[name, "fwd+bwd"] = timeit(lambda: torch.autograd.grad(fn(q, k, v), (q, k, v), do))
        except Exception as e:  # noqa: BLE001 (e.g. the reference out of memory)
            print(f"  {name}: did not run: {str(e).splitlines()[0][:120]}")
        torch.cuda.empty_cache()
    return res


def bench(radius: int = 1):
    p = torch.cuda.get_device_properties(0)
    dtype = torch.bfloat16
    copy, gemm = rates(dtype)
    print(f"device {p.name}, {p.multi_processor_count} SMs; torch {torch.__version__}; copy "
          f"{copy / 1e9:.0f} GB/s, bf16 GEMM {gemm / 1e12:.0f} TFLOP/s; radius {radius}, bf16\n")
    table = ["| shape [B, T, H x W, heads, D] | mask | pass | path | ms | % bytes floor | "
             "% FLOPs floor | x faster of flex, reference |", "|---|---|---|---|---|---|---|---|"]
    verdicts = []
    for B, T, hw, heads, D in SHAPES:
        masks = [(False, None), (True, None)] if hw == (16, 16) else [(False, None)]
        for causal, window in masks:
            q, k, v, do = [torch.randn(B, T, hw[0] * hw[1], heads, D, device="cuda",
                                       dtype=dtype, requires_grad=i < 3) for i in range(4)]
            res = time_paths(q, k, v, do, hw, radius, causal, window)
            count = floors(B, T, hw, heads, D, radius, causal, window)
            shape = f"[{B}, {T}, {hw[0]}x{hw[1]}, {heads}, {D}]"
            mask = "causal" if causal else "none"
            for kind in ("fwd", "fwd+bwd"):
                rivals = [res[n, kind] for n in ("flex (compiled)", "reference")
                          if (n, kind) in res]
                best = min(rivals) if rivals else float("nan")
                bytes_ms = count["bytes", kind] / copy * 1e3
                flops_ms = count["flops", kind] / gemm * 1e3
                for (name, kd), ms in res.items():
                    if kd != kind:
                        continue
                    table.append(f"| {shape} | {mask} | {kind} | {name} | {ms:.3f} | "
                                 f"{100 * bytes_ms / ms:.1f}% | {100 * flops_ms / ms:.1f}% | "
                                 f"{best / ms:.2f}x |")
                    print(table[-1], flush=True)
                if ("ours (tuned)", kind) in res:
                    ratio = best / res["ours (tuned)", kind]
                    verdicts.append(f"{shape} {mask} {kind}: {ratio:.1f}x, target "
                                    f">= {TARGETS[kind]:.0f}x: "
                                    f"{'met' if ratio >= TARGETS[kind] else 'NOT MET'}")
            del q, k, v, do
            torch.cuda.empty_cache()
    print("\n" + "\n".join(table))
    print("\nTargets (the tuned kernel against the faster of FlexAttention and the reference):")
    print("\n".join(f"- {line}" for line in verdicts))


if __name__ == "__main__":
    if sys.argv[1:2] == ["check"]:
        sys.exit(0 if check(sys.argv[2] if len(sys.argv) > 2 else "bf16") else 1)
    bench()

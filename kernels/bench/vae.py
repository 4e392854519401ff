"""The causal VAE on the GPU: encode and decode with the Triton conv3d against PyTorch, and the
peak memory of chunked decoding: ``python -m kernels.bench.vae [--out DIR]``.

Three ways to run every causal convolution of `vdlite.vae.CausalVAE`, in one process:

- ``triton``: the course's kernel (``kernels.conv3d``, causal padding fused), the default on CUDA;
- ``torch``: the package's reference ``vdlite.conv3d`` (an explicit im2col GEMM);
- ``cudnn``: ``VDLITE_BACKEND=torch``, the best PyTorch way: ``F.pad`` (zeros or replicate)
  then ``F.conv3d`` (cuDNN), which is what the VAE runs wherever no kernel does.

First the outputs of the three are compared (relative error against a float64 run of the
reference), then encode and decode are timed (median of CUDA-event timings after warm-up) in
bf16 and float32. Then decoding a long latent clip whole and in chunks of one latent frame:
peak CUDA memory against the number of frames. Writes ``DIR/results.md`` and
``DIR/vae_memory.png``.
"""
# Benchmarks time lambdas at once inside their loop (B023 cannot see that) and `del` each size's
# tensors before the next (F821 then flags the lambdas).


from __future__ import annotations

import argparse
import os
from contextlib import contextmanager
from pathlib import Path

import torch

import vdlite.vae as vae_module
from kernels.bench import timeit
from vdlite.conv3d import conv3d as im2col_conv3d
from vdlite.vae import CausalVAE


def im2col_conv(x, weight, bias, stride, padding, dilation):
    """`vdlite.vae.conv_fallback` through the package's im2col reference instead of cuDNN."""
    return im2col_conv3d(x, weight, bias, stride, padding, dilation)


@contextmanager
def way(name: str):
    """Run every causal conv of the VAE the named way (see the module docstring)."""
    saved_env, saved_conv = os.environ.get("VDLITE_BACKEND"), vae_module.conv_fallback
    os.environ["VDLITE_BACKEND"] = "triton" if name == "triton" else "torch"
    if name == "torch":
        vae_module.conv_fallback = im2col_conv
    try:
        yield
    finally:
        vae_module.conv_fallback = saved_conv
        if saved_env is None:
            os.environ.pop("VDLITE_BACKEND", None)
        else:
            os.environ["VDLITE_BACKEND"] = saved_env


def peak_mib(fn) -> float:
    """Peak CUDA memory allocated while fn() runs, above what was allocated before, in MiB."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def main() -> None:
    from kernels.bench.run import environment

    parser = argparse.ArgumentParser(prog="python -m kernels.bench.vae")
    parser.add_argument("--out", default="out/bench_vae")
    parser.add_argument("--base-channels", type=int, default=64)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    lines = ["# The causal VAE on the GPU", "", environment(),
             f"`CausalVAE(base_channels={args.base_channels}, spatial_factor=8)`, replicate "
             "padding; clips [B, 3, T, H, W].", ""]

    vae64 = CausalVAE(base_channels=args.base_channels).cuda().double().eval()
    x64 = torch.rand(1, 3, 9, 32, 40, device="cuda", dtype=torch.float64) * 2 - 1
    with torch.no_grad(), way("torch"):
        ref = vae64.decode(vae64.encode(x64).mean)
    lines += ["## Correctness: reconstruction against the float64 reference",
              "", "| way | dtype | max abs error / max abs reference |", "|---|---|---|"]
    for dtype in (torch.float32, torch.bfloat16):
        vae = CausalVAE(base_channels=args.base_channels).cuda().to(dtype).eval()
        vae.load_state_dict(vae64.state_dict())
        for name in ("triton", "torch", "cudnn"):
            with torch.no_grad(), way(name):
                got = vae.decode(vae.encode(x64.to(dtype)).mean).double()
            rel = ((got - ref).abs().max() / ref.abs().max()).item()
            lines.append(f"| {name} | {str(dtype).removeprefix('torch.')} | {rel:.2e} |")
            # float32: cuDNN convolutions use TF32 by default (torch.backends.cudnn.allow_tf32),
            # rounding inputs to 10 mantissa bits, so 1e-2 rather than float32's 1e-6
            assert rel < (5e-2 if dtype == torch.bfloat16 else 1e-2), (name, dtype, rel)
    del vae64

    lines += ["", "## Encode and decode, milliseconds (median of 20)", "",
              "| clip | dtype | pass | triton | torch (im2col) | cudnn | torch / triton | "
              "cudnn / triton |", "|---|---|---|---|---|---|---|---|"]
    for shape in ((1, 3, 17, 64, 64), (1, 3, 17, 128, 128), (2, 3, 33, 128, 128)):
        for dtype in (torch.bfloat16, torch.float32):
            vae = CausalVAE(base_channels=args.base_channels).cuda().to(dtype).eval()
            x = (torch.rand(shape, device="cuda") * 2 - 1).to(dtype)
            with torch.no_grad():
                z = vae.encode(x).mean
                for pass_name, fn in (("encode", lambda: vae.encode(x)),
                                      ("decode", lambda: vae.decode(z))):
                    ms = {}
                    for name in ("triton", "torch", "cudnn"):
                        with way(name):
                            ms[name] = timeit(fn, warmup=3, reps=20)
                    lines.append(
                        f"| {list(shape)} | {str(dtype).removeprefix('torch.')} | {pass_name} | "
                        f"{ms['triton']:.2f} | {ms['torch']:.2f} | {ms['cudnn']:.2f} | "
                        f"{ms['torch'] / ms['triton']:.2f}x | {ms['cudnn'] / ms['triton']:.2f}x |")
            print("\n".join(lines[-4:]), flush=True)
            del vae

    lines += ["", "## Peak memory of decoding, whole clip against chunks of one latent frame",
              "", "bf16, 64x64 output frames; MiB above the latents already on the GPU.", "",
              "| frames | latent frames | whole clip | chunked | whole / chunked | "
              "max abs(chunked - whole) |",
              "|---|---|---|---|---|---|"]
    vae = CausalVAE(base_channels=args.base_channels).cuda().to(torch.bfloat16).eval()
    series = []
    for k in (4, 8, 16, 32, 64):
        z = torch.randn(1, 4, 1 + k, 8, 8, device="cuda", dtype=torch.bfloat16)
        with torch.no_grad():
            whole = peak_mib(lambda: vae.decode(z))
            chunked = peak_mib(lambda: vae.decode(z, chunk=1))
            same = (vae.decode(z, chunk=1).float() - vae.decode(z).float()).abs().max().item()
        series.append((1 + 4 * k, whole, chunked))
        lines.append(f"| {1 + 4 * k} | {1 + k} | {whole:.0f} | {chunked:.0f} | "
                     f"{whole / chunked:.1f}x | {same:.1e} |")
        print(lines[-1], flush=True)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2))
        frames = [s[0] for s in series]
        ax.plot(frames, [s[1] for s in series], "o-", label="whole clip")
        ax.plot(frames, [s[2] for s in series], "s-", label="chunks of 1 latent frame")
        ax.set(xlabel="decoded frames (1 + 4k)", ylabel="peak CUDA memory (MiB)",
               title=torch.cuda.get_device_name(0), ylim=(0, None))
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "vae_memory.png", dpi=120)
    except ImportError:
        pass
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

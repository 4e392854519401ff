"""The calls behind kernels/BENCHMARKS.md's Nsight Compute profiles, one workload per name.

Run under ncu on a GPU, e.g.::

    ncu --clock-control none --kernel-name regex:"_forward_kernel|cudnn|sm90" \\
        --launch-skip 2 --launch-count 2 --section SpeedOfLight --section Occupancy \\
        --section LaunchStats --section MemoryWorkloadAnalysis \\
        --section ComputeWorkloadAnalysis --section WarpStateStats \\
        python -m kernels.bench.profile_misses spatial

Each workload calls the kernel (and, where the profile compares with it, the PyTorch way)
twice, so ``--launch-skip`` can step over the first, compiling call. Names: ``conv3d`` (causal
conv3d forward, [1, 128, 16, 64, 64], ours then cuDNN), ``conv3d256`` (the same at
[1, 256, 8, 32, 32]), ``spatial`` (spatial attention forward
at [1, 16, 4096, 8, 128], ours then cuDNN SDPA), ``temporal32`` (temporal attention
forward+backward at T = 32), ``temporal64`` (forward at T = 64); bf16 throughout.
"""

import argparse

import torch
import torch.nn.functional as F

import kernels

BF16 = torch.bfloat16


def conv3d(shape=(1, 128, 16, 64, 64)) -> None:
    cl = torch.channels_last_3d
    c = shape[1]
    x = torch.randn(shape, device="cuda", dtype=BF16).contiguous(memory_format=cl)
    w = (torch.randn(c, c, 3, 3, 3, device="cuda", dtype=BF16) / (27 * c) ** 0.5).contiguous(
        memory_format=cl)
    b = torch.randn(c, device="cuda", dtype=BF16)
    with torch.no_grad():
        for _ in range(2):
            kernels.conv3d(x, w, b, padding=1, causal=True)
            F.conv3d(x, w, b, padding=(2, 1, 1))


def spatial() -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q, k, v = (torch.randn(1, 16, 4096, 8, 128, device="cuda", dtype=BF16) for _ in range(3))
    flat = [t.flatten(0, 1).transpose(1, 2).contiguous() for t in (q, k, v)]  # [B*T, h, S, D]
    with torch.no_grad():
        for _ in range(2):
            kernels.spatial_attention(q, k, v)
            with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
                F.scaled_dot_product_attention(*flat)


def temporal(T: int, backward: bool) -> None:
    q, k, v = (torch.randn(2, T, 4096, 8, 64, device="cuda", dtype=BF16,
                           requires_grad=backward) for _ in range(3))
    for _ in range(2):
        if backward:
            torch.autograd.grad(kernels.temporal_attention(q, k, v), (q, k, v),
                                torch.randn_like(q))
        else:
            with torch.no_grad():
                kernels.temporal_attention(q, k, v)


WORKLOADS = {"conv3d": conv3d, "conv3d256": lambda: conv3d((1, 256, 8, 32, 32)),
             "spatial": spatial,
             "temporal32": lambda: temporal(32, True), "temporal64": lambda: temporal(64, False)}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=list(WORKLOADS))
    WORKLOADS[parser.parse_args().workload]()
    torch.cuda.synchronize()

"""The kernels' GPU benchmarks, each timed against the best PyTorch way in the same process.

    python -m kernels.bench [--out DIR] [--only temporal,...]   # check, then time all
    python -m kernels.bench.temporal check|bench|sweep|host
    python -m kernels.bench.spatial check|bench|sweep
    python -m kernels.bench.conv3d check|bench|sweep
    python -m kernels.bench.neighbourhood check|bench  # against FlexAttention and the reference
    python -m kernels.bench.vae [--out DIR]            # the causal VAE on the conv3d kernel
    python -m kernels.bench.profile_misses NAME        # the workloads of the Nsight profiles

Results and the evidence behind every tuning choice: kernels/BENCHMARKS.md and
kernels/BENCHMARKS_VAE.md; ``kernels.bench.committed`` reads the tables of the first back (the
lessons show them where there is no GPU). Each script times the tuned path (the public
``kernels.*``).
"""

import statistics

import torch


def timeit(fn, warmup: int = 5, reps: int = 30) -> float:
    """Median CUDA-event time of fn() in ms over reps calls, after warmup calls."""
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

"""What attention costs on a video: count the score entries, then measure them.

Attention costs ``tokens x keys per query``. A clip of T frames of S = H*W tokens has
N = T*S tokens, and per batch element and head it takes

- full 3D attention, every token sees all N keys:          (T*S)^2        score entries;
- factorised, S keys in its frame then T at its position:  T*S*(S + T);
- a sliding temporal window, 2w + 1 frames at its position: T*S*(2w + 1).

None of these is the popular "N log N". Factorisation cuts the keys per query from T*S to
S + T (and still links every pair of tokens in two hops); a window cuts them to 2w + 1.
This module counts the entries exactly (``attention_pairs``, ``attention_flops``), measures
the reference functions of ``vdlite.attention`` (FLOPs with PyTorch's ``FlopCounterMode``,
peak memory with ``PeakMemory``, wall time), sweeps clip sizes and plots measurement
against formula:

    python -m vdlite.cost [--device cuda] [--out DIR]   # writes DIR/cost.md and DIR/cost.png
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from vdlite.attention import (
    full_attention,
    spatial_attention,
    temporal_attention,
    windowed_temporal_attention,
)
from vdlite.cli import UsageError, check_device

__all__ = [
    "KINDS",
    "PeakMemory",
    "attention_flops",
    "attention_pairs",
    "computed_pairs",
    "markdown_table",
    "measure_attention",
    "plot_costs",
    "sweep",
]

KINDS = ("full", "spatial", "temporal", "factorized", "window")


def _check(kind: str, T: int, S: int, window: int | None, causal: bool) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    for name, n in (("T", T), ("S", S)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be an int >= 1, got {name}={n!r}")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                               or window < 0):
        raise ValueError(f"window must be None or an int >= 0, got window={window!r}")
    if kind == "window" and window is None:
        raise ValueError("kind='window' needs window=w, the frames seen on each side")
    if kind in ("full", "spatial") and (causal or window is not None):
        raise ValueError(f"{kind} attention has no temporal mask: causal and window apply "
                         "to 'temporal', 'factorized' and 'window'")


# ---- counting ------------------------------------------------------------------------------


def _frames_seen(T: int, window: int | None, causal: bool) -> int:
    """Allowed (t, u) pairs of ``temporal_mask(T, causal, window)``: the mask's True count.

    With w = min(window, T - 1) (no window: w = T - 1), a band of 2w + 1 diagonals, or w + 1
    when causal, less the corners that run off the clip: w(w + 1) entries, or w(w + 1) / 2.
    """
    w = T - 1 if window is None else min(window, T - 1)
    if causal:
        return T * (w + 1) - w * (w + 1) // 2
    return T * (2 * w + 1) - w * (w + 1)


def attention_pairs(
    kind: str, T: int, S: int, window: int | None = None, causal: bool = False
) -> int:
    """The exact number of (query, key) score entries per batch element and head.

    - ``"full"``: (T*S)^2, every token with every token;
    - ``"spatial"``: T * S^2, the S tokens of each frame;
    - ``"temporal"``: S * (allowed frame pairs), S * T^2 without a mask;
    - ``"factorized"``: spatial + temporal, T*S*(S + T) without a mask;
    - ``"window"``: temporal with ``window`` required, about T*S*(2w + 1): only frames
      inside the clip count, so each edge loses w(w + 1)/2 entries per position.

    ``causal`` and ``window`` are ``temporal_mask``'s, for the temporal kinds only.
    """
    _check(kind, T, S, window, causal)
    temporal = S * _frames_seen(T, window, causal)
    return {"full": (T * S) ** 2, "spatial": T * S * S, "temporal": temporal,
            "factorized": T * S * S + temporal, "window": temporal}[kind]


def computed_pairs(
    kind: str, T: int, S: int, window: int | None = None, causal: bool = False
) -> int:
    """The score entries the reference in ``vdlite.attention`` computes, used or not.

    A mask hides entries, it does not skip them: ``temporal_attention`` computes all S*T^2
    and sets the masked ones to -inf, so its cost is the same with or without a window.
    ``windowed_temporal_attention`` computes the whole band, T*S*(2w + 1) (T*S*(w + 1) causal,
    w clipped to T - 1), padded slots at the clip's edges included. Without a mask this
    equals ``attention_pairs``.
    """
    _check(kind, T, S, window, causal)
    if kind == "window":
        w = min(window, T - 1)
        return T * S * (w + 1 + (0 if causal else w))
    if kind == "temporal":
        return S * T * T
    if kind == "factorized":
        return T * S * (S + T)
    return attention_pairs(kind, T, S)


def attention_flops(
    kind: str, B: int, T: int, S: int, heads: int, D: int,
    window: int | None = None, causal: bool = False,
) -> int:
    """FLOPs of attention's two matrix products: ``4 * D * pairs * B * heads``.

    Each score entry costs a length-D dot product in ``q k^T`` and a length-D update in
    ``weights @ v``: 2 * D multiply-adds, counted as 2 FLOPs each. Not counted, as in
    ``FlopCounterMode``: the 1/sqrt(D) scale, the mask, the softmax (a few FLOPs per entry,
    not per entry and channel), and the q, k, v and output projections around attention
    (which cost the same 8 * N * C^2 whatever the attention pattern).
    """
    return 4 * D * attention_pairs(kind, T, S, window, causal) * B * heads


# ---- measuring -----------------------------------------------------------------------------


class PeakMemory(TorchDispatchMode):
    """Peak bytes of the tensors that ops allocate while this mode is on, on any device.

    Every op's output whose storage is new adds ``storage.nbytes()`` to ``live``, and a
    finalizer on that storage takes them off again when the last tensor using it is freed;
    ``peak`` is the most ``live`` ever reached. Views share their input's storage and add
    nothing; nor do tensors made before the mode (the inputs). Not seen: scratch memory a
    kernel allocates internally (e.g. BLAS buffers) and the allocator's rounding.

        with PeakMemory() as mem:
            out = fn(x)
        mem.peak  # bytes
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._tracked: set[int] = set()  # data_ptr of every live storage counted in `live`

    def _freed(self, ptr: int, nbytes: int) -> None:
        self.live -= nbytes
        self._tracked.discard(ptr)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {x.untyped_storage().data_ptr()
                  for x in tree_flatten((args, kwargs))[0] if isinstance(x, Tensor)}
        for x in tree_flatten(out)[0]:
            if not isinstance(x, Tensor):
                continue
            storage = x.untyped_storage()
            ptr, nbytes = storage.data_ptr(), storage.nbytes()
            if nbytes == 0 or ptr in inputs or ptr in self._tracked:
                continue  # empty, a view or in-place result, or already counted
            self._tracked.add(ptr)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._freed, ptr, nbytes)
        return out


def _reference(kind: str, window: int | None, causal: bool) -> Callable[..., object]:
    """The vdlite.attention call that computes ``kind`` on q, k, v."""
    return {
        "full": full_attention,
        "spatial": spatial_attention,
        "temporal": lambda q, k, v: temporal_attention(q, k, v, causal, window),
        "factorized": lambda q, k, v: (spatial_attention(q, k, v),
                                       temporal_attention(q, k, v, causal, window)),
        "window": lambda q, k, v: windowed_temporal_attention(q, k, v, window, causal),
    }[kind]


def _peak_bytes(fn: Callable[..., object], args: Sequence[Tensor]) -> int:
    """Peak bytes allocated by ``fn(*args)`` beyond what was allocated before it."""
    device = args[0].device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        out = fn(*args)
        torch.cuda.synchronize(device)
        del out
        return torch.cuda.max_memory_allocated(device) - before
    with PeakMemory() as mem:
        fn(*args)
    return mem.peak


def measure_attention(
    kind: str, T: int, S: int, heads: int = 4, D: int = 32, B: int = 1,
    window: int | None = None, causal: bool = False, device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32, repeats: int = 3,
) -> dict:
    """Run ``kind``'s reference forward once per measurement on random q, k, v.

    The inputs are the views ``qkv.unbind(3)`` of one ``[B, T, S, 3, heads, D]`` tensor, as
    a fused projection makes them; "factorized" is ``spatial_attention`` then
    ``temporal_attention`` on the same q, k, v, "window" is ``windowed_temporal_attention``.
    Returns the shape, the counts, and

    - ``flops``: what ``FlopCounterMode`` counts, which is the ``aten.bmm`` calls einsum lowers
      to: ``4 * D * B * heads * computed_pairs(...)``. A contraction of length 1 (D = 1, or a
      single key per query) becomes an elementwise multiply, which it does not count;
    - ``peak_bytes``: the most bytes live at once, output included, inputs excluded
      (``PeakMemory`` on CPU; ``torch.cuda.max_memory_allocated`` on CUDA);
    - ``ms``: the median wall time of ``repeats`` runs after one warm-up.

    Forward only, under ``torch.no_grad()``: training also keeps the weights for backward.
    """
    _check(kind, T, S, window, causal)
    g = torch.Generator(device).manual_seed(0)
    qkv = torch.randn(B, T, S, 3, heads, D, generator=g, device=device, dtype=dtype)
    q, k, v = qkv.unbind(3)  # [B, T, S, heads, D] each, strided views
    fn = _reference(kind, window, causal)
    sync = torch.cuda.synchronize if q.device.type == "cuda" else lambda: None
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            fn(q, k, v)
        peak = _peak_bytes(fn, (q, k, v))
        times = []
        for _ in range(repeats + 1):
            sync()
            start = time.perf_counter()
            fn(q, k, v)
            sync()
            times.append(1e3 * (time.perf_counter() - start))
    return {
        "kind": kind, "T": T, "S": S, "N": T * S, "B": B, "heads": heads, "D": D,
        "window": window, "causal": causal, "device": str(q.device),
        "dtype": str(dtype).removeprefix("torch."),
        "pairs": attention_pairs(kind, T, S, window, causal),
        "computed_pairs": computed_pairs(kind, T, S, window, causal),
        "predicted_flops": attention_flops(kind, B, T, S, heads, D, window, causal),
        "flops": counter.get_total_flops(),
        "peak_bytes": peak,
        "ms": statistics.median(times[1:]),
    }


def sweep(
    kinds: Sequence[str], Ts: Sequence[int], Ss: Sequence[int], heads: int = 2, D: int = 16,
    B: int = 1, window: int = 2, causal: bool = False, device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32, repeats: int = 3, max_full_tokens: int = 2048,
) -> list[dict]:
    """``measure_attention`` for every kind on the clips ``(Ts[i], Ss[i])``, a path of sizes.

    Pair the sizes to walk the path you want: T and S growing together (a longer, sharper
    clip), or T alone at one S. ``window`` is the "window" kind's (the temporal kinds here
    are unwindowed); "full" is skipped on clips over ``max_full_tokens`` tokens, as its
    (T*S)^2 scores outgrow memory first.
    """
    if len(Ts) != len(Ss):
        raise ValueError(f"Ts and Ss pair up into clips: got {len(Ts)} Ts and {len(Ss)} Ss")
    rows = []
    for T, S in zip(Ts, Ss, strict=True):
        for kind in kinds:
            if kind == "full" and T * S > max_full_tokens:
                continue
            mask = {"window": window if kind == "window" else None,
                    "causal": causal and kind in ("temporal", "factorized", "window")}
            rows.append(measure_attention(kind, T, S, heads, D, B, device=device, dtype=dtype,
                                          repeats=repeats, **mask))
    return rows


# ---- showing -------------------------------------------------------------------------------

COLORS = {"full": "tab:red", "spatial": "tab:purple", "temporal": "tab:olive",
          "factorized": "tab:blue", "window": "tab:green"}


def _keys(row: dict) -> tuple[str, int]:
    """A row's textbook keys per query, label and value: score entries are T*S times it."""
    T, S, w = row["T"], row["S"], row["window"]
    if row["kind"] == "window":
        return ("w+1", w + 1) if row["causal"] else ("2w+1", 2 * w + 1)
    return {"full": ("T·S", T * S), "spatial": ("S", S), "temporal": ("T", T),
            "factorized": ("S+T", S + T)}[row["kind"]]


def _entries(keys: str) -> str:
    """The label of T*S tokens times ``keys`` keys each."""
    return "(T·S)²" if keys == "T·S" else f"T·S·({keys})"


def plot_costs(rows: Sequence[dict], path: str | Path | None = None) -> plt.Figure:
    """Three log-log panels against tokens N = T*S: measured FLOPs, peak memory and keys per
    query (FLOPs / (4 D B heads N)), each kind beside its formula N * keys, and the claimed
    N log2 N for contrast.

    Markers are measurements, lines formulas: for FLOPs and keys the formula times its exact
    factor; for memory the formula scaled through the kind's largest clip (memory holds a few
    score-sized tensors at once, a constant the formula does not know), and N log2 N through
    factorised attention's smallest clip. Saves a PNG to ``path`` if given.
    """
    fig, (ax_flops, ax_mem, ax_keys) = plt.subplots(1, 3, figsize=(16, 6))
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["N"])
        N = [r["N"] for r in mine]
        label, keys = _keys(mine[0])[0], [_keys(r)[1] for r in mine]
        per_entry = [4 * r["D"] * r["B"] * r["heads"] for r in mine]  # FLOPs per score entry
        mib = [r["peak_bytes"] / 2**20 for r in mine]
        style = {"color": COLORS[kind]}
        ax_flops.plot(N, [r["flops"] for r in mine], "o", label=f"{kind}, measured", **style)
        ax_flops.plot(N, [f * n * k for f, n, k in zip(per_entry, N, keys, strict=True)],
                      label=f"4·D·B·heads·{_entries(label)}", **style)
        ax_mem.plot(N, mib, "o", label=f"{kind}, measured", **style)
        ax_mem.plot(N, [mib[-1] * n * k / (N[-1] * keys[-1]) for n, k in zip(N, keys, strict=True)],
                    label=f"∝ {_entries(label)}", **style)
        ax_keys.plot(N, [r["flops"] / (f * n) for r, f, n in zip(mine, per_entry, N, strict=True)],
                     "o", label=f"{kind}, measured", **style)
        ax_keys.plot(N, keys, label=label, **style)

    N = sorted({r["N"] for r in rows})
    ref = min((r for r in rows if r["kind"] == "factorized"), key=lambda r: r["N"],
              default=rows[0])
    per_entry = 4 * ref["D"] * ref["B"] * ref["heads"]
    ref_mib = ref["peak_bytes"] / 2**20 / (ref["N"] * math.log2(max(ref["N"], 2)))
    claim = {"color": "gray", "linestyle": ":", "linewidth": 2}
    ax_flops.plot(N, [per_entry * n * math.log2(n) for n in N],
                  label="4·D·B·heads·T·S·log₂(T·S) (claimed)", **claim)
    ax_mem.plot(N, [ref_mib * n * math.log2(n) for n in N], label="∝ T·S·log₂(T·S) (claimed)",
                **claim)
    ax_keys.plot(N, [math.log2(n) for n in N], label="log₂(T·S) (claimed)", **claim)

    titles = ("FLOPs of q·kᵀ and weights·v", "peak memory of one forward",
              "keys per query = FLOPs / (4·D·B·heads·N)")
    ylabels = ("FLOPs (forward)", "peak allocated beyond the inputs (MiB)", "keys per query")
    for ax, title, ylabel in zip((ax_flops, ax_mem, ax_keys), titles, ylabels, strict=True):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set(title=title, xlabel="tokens N = T·S", ylabel=ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    first = rows[0]
    windows = "".join(f", w={w}" for w in sorted({r["window"] for r in rows} - {None}))
    fig.suptitle(f"Attention cost on {first['device']}, {first['dtype']}, B={first['B']}, "
                 f"heads={first['heads']}, D={first['D']}{windows}: "
                 "markers measured, lines formulas")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 1000 else f"{x:.4g}"


def markdown_table(rows: Sequence[dict]) -> str:
    """One line per measurement: the shape, keys per query, FLOPs, peak memory and time."""
    lines = ["| kind | T | S | N = T·S | keys/query | log₂ N | MFLOP measured "
             "| MFLOP exact pairs | peak MiB | ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        keys = r["flops"] / (4 * r["D"] * r["B"] * r["heads"] * r["N"])
        lines.append(f"| {r['kind']} | {r['T']} | {r['S']} | {r['N']} | {_num(keys)} "
                     f"| {math.log2(r['N']):.1f} | {_num(r['flops'] / 1e6)} "
                     f"| {_num(r['predicted_flops'] / 1e6)} | {_num(r['peak_bytes'] / 2**20)} "
                     f"| {_num(r['ms'])} |")
    return "\n".join(lines) + "\n"


# Paths of clip sizes (T frames, S tokens per frame) that grow together, S = 8 T.
CPU_SIZES = {"Ts": (4, 6, 8, 12, 16, 24, 32), "Ss": (32, 48, 64, 96, 128, 192, 256),
             "heads": 2, "D": 16, "max_full_tokens": 2048}
GPU_SIZES = {"Ts": (4, 8, 16, 32, 64), "Ss": (64, 128, 256, 512, 1024),
             "heads": 8, "D": 64, "max_full_tokens": 16384}


def _window(text: str) -> int:
    """``--window`` as an int >= 0, else a UsageError."""
    try:
        window = int(text)
    except ValueError:
        window = -1
    if window < 0:
        raise UsageError(f"--window must be an int >= 0, got {text!r}")
    return window


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Sweep, write DIR/cost.md and DIR/cost.png, print the table; return the rows.

    A bad ``--device`` (or cuda where there is none) or ``--window`` is reported as the
    ``vdlite`` command reports it: one line, ``vdlite: error: ...``, and exit status 2
    (VDLITE_DEBUG=1 raises instead, with the traceback).
    """
    parser = argparse.ArgumentParser(prog="python -m vdlite.cost",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--out", default="out/cost", help="output folder (default: out/cost)")
    parser.add_argument("--window", default="2", help="frames seen on each side (default: 2)")
    args = parser.parse_args(argv)
    try:
        device, window = check_device(args.device), _window(args.window)
    except UsageError as err:
        if os.environ.get("VDLITE_DEBUG"):
            raise
        print(f"vdlite: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    sizes = GPU_SIZES if device.startswith("cuda") else CPU_SIZES
    rows = sweep(("full", "factorized", "window"), window=window, device=device, **sizes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cost.md").write_text(markdown_table(rows))
    plot_costs(rows, out / "cost.png")
    print(markdown_table(rows), end="")
    print(f"wrote {out / 'cost.md'} and {out / 'cost.png'}")
    return rows


if __name__ == "__main__":
    main()

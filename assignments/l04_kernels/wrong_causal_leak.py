"""Wrong: the causal mask compares the key with the query the wrong way round (u >= t), so
frame t sees itself and every later frame and none before it: the future leaks into the
past, and the past is lost."""

import triton
import triton.language as tl
from torch import Tensor

from assignments.l04_kernels.solution import *  # noqa: F401,F403
from assignments.l04_kernels.solution import launch


@triton.jit
def leaky_kernel(Q, K, V, O, sqb, sqt, sqs, sqh, sqd, skb, skt, sks, skh, skd,
                 svb, svt, svs, svh, svd, sob, sot, sos, soh, sod, T, S, heads, window, scale,
                 CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr,
                 BLOCK_T: tl.constexpr, PRECISION: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    b, s, h = pid // (S * heads), pid // heads % S, pid % heads
    t = tl.arange(0, BLOCK_T)
    d = tl.arange(0, D)
    rows = t[:, None] < T
    q = tl.load(Q + b * sqb + s * sqs + h * sqh + t[:, None] * sqt + d[None, :] * sqd,
                mask=rows, other=0.0)
    k = tl.load(K + b * skb + s * sks + h * skh + t[:, None] * skt + d[None, :] * skd,
                mask=rows, other=0.0)
    v = tl.load(V + b * svb + s * svs + h * svh + t[:, None] * svt + d[None, :] * svd,
                mask=rows, other=0.0)
    x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale
    ok = t[None, :] < T
    if CAUSAL:
        ok = ok & (t[None, :] >= t[:, None])  # wrong: u >= t is the future
    if HAS_WINDOW:
        ok = ok & (tl.abs(t[:, None] - t[None, :]) <= window)
    x = tl.where(ok, x, float("-inf"))
    p = tl.exp(x - tl.maximum(tl.max(x, 1), -1e30)[:, None])
    l = tl.sum(p, 1)
    o = tl.dot((p / tl.where(l > 0, l, 1.0)[:, None]).to(v.dtype), v, input_precision=PRECISION)
    tl.store(O + b * sob + s * sos + h * soh + t[:, None] * sot + d[None, :] * sod,
             o.to(O.dtype.element_ty), mask=rows)


def naive_temporal(q: Tensor, k: Tensor, v: Tensor, causal: bool = False,
                   window: int | None = None) -> Tensor:
    return launch(leaky_kernel, q, k, v, causal, window)

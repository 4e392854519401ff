"""Lesson 04's exercises, the reference: the naive temporal kernel, the online softmax step,
the causal conv's address arithmetic and the conv3d it gives."""

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.runtime import precision


@triton.jit
def naive_temporal_kernel(Q, K, V, O,
                          sqb, sqt, sqs, sqh, sqd, skb, skt, sks, skh, skd,
                          svb, svt, svs, svh, svd, sob, sot, sos, soh, sod,
                          T, S, heads, window, scale,
                          CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, D: tl.constexpr,
                          BLOCK_T: tl.constexpr, PRECISION: tl.constexpr):
    """One program per sequence (b, s, h): o[t] = sum_u softmax_u(q[t].k[u] * scale + M) v[u]."""
    pid = tl.program_id(0).to(tl.int64)
    b, s, h = pid // (S * heads), pid // heads % S, pid % heads
    t = tl.arange(0, BLOCK_T)  # frames: the rows (queries) and the columns (keys)
    d = tl.arange(0, D)
    rows = t[:, None] < T  # [BLOCK_T, 1]
    q = tl.load(Q + b * sqb + s * sqs + h * sqh + t[:, None] * sqt + d[None, :] * sqd,
                mask=rows, other=0.0)  # [BLOCK_T, D]
    k = tl.load(K + b * skb + s * sks + h * skh + t[:, None] * skt + d[None, :] * skd,
                mask=rows, other=0.0)
    v = tl.load(V + b * svb + s * svs + h * svh + t[:, None] * svt + d[None, :] * svd,
                mask=rows, other=0.0)
    x = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale  # [BLOCK_T, BLOCK_T]
    ok = t[None, :] < T  # real keys
    if CAUSAL:
        ok = ok & (t[None, :] <= t[:, None])
    if HAS_WINDOW:
        ok = ok & (tl.abs(t[:, None] - t[None, :]) <= window)
    x = tl.where(ok, x, float("-inf"))
    m = tl.maximum(tl.max(x, 1), -1e30)  # finite on padded rows, which allow no key
    p = tl.exp(x - m[:, None])
    l = tl.sum(p, 1)
    p = p / tl.where(l > 0, l, 1.0)[:, None]
    o = tl.dot(p.to(v.dtype), v, input_precision=PRECISION)  # [BLOCK_T, D]
    tl.store(O + b * sob + s * sos + h * soh + t[:, None] * sot + d[None, :] * sod,
             o.to(O.dtype.element_ty), mask=rows)


def launch(kernel, q: Tensor, k: Tensor, v: Tensor, causal: bool,
           window: int | None) -> Tensor:
    """Run a temporal attention kernel of naive_temporal_kernel's signature, one program per
    sequence (b, s, h) on one grid axis."""
    B, T, S, heads, D = q.shape
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    kernel[(B * S * heads,)](
        q, k, v, o, *q.stride(), *k.stride(), *v.stride(), *o.stride(),
        T, S, heads, 0 if window is None else window, 1 / math.sqrt(D),
        CAUSAL=causal, HAS_WINDOW=window is not None, D=D,
        BLOCK_T=max(16, triton.next_power_of_2(T)), PRECISION=precision(q.dtype))
    return o


def naive_temporal(q: Tensor, k: Tensor, v: Tensor, causal: bool = False,
                   window: int | None = None) -> Tensor:
    return launch(naive_temporal_kernel, q, k, v, causal, window)


def online_softmax_update(m: Tensor, l: Tensor, acc: Tensor, x: Tensor,
                          v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    m_new = torch.maximum(m, x.max(-1).values)
    p = torch.exp(x - m_new[..., None])
    alpha = torch.exp(m - m_new)  # 0 where m = -inf: nothing was summed yet
    return m_new, alpha * l + p.sum(-1), alpha[..., None] * acc + p @ v


def tap_source(out: Tensor, tap: int, stride: int, pad_before: int, size: int) -> Tensor:
    src = out * stride + tap - pad_before
    return torch.where((src >= 0) & (src < size), src, torch.full_like(src, -1))


def causal_conv3d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                  stride: tuple[int, int, int] = (1, 1, 1),
                  padding: tuple[int, int] = (0, 0)) -> Tensor:
    N, Cin, T, H, W = x.shape
    Cout, _, kT, kH, kW = weight.shape
    sT, sH, sW = stride
    pads = (kT - 1, padding[0], padding[1])  # before each axis
    To = (T - 1) // sT + 1  # kT - 1 frames before, none after
    Ho = (H + 2 * pads[1] - kH) // sH + 1
    Wo = (W + 2 * pads[2] - kW) // sW + 1
    x_rows = x.permute(0, 2, 3, 4, 1)  # [N, T, H, W, Cin]: a position's channels, one row
    y = torch.zeros(N, To, Ho, Wo, Cout, dtype=x.dtype, device=x.device)
    for i in range(kT):
        ti = tap_source(torch.arange(To, device=x.device), i, sT, pads[0], T)
        for j in range(kH):
            hj = tap_source(torch.arange(Ho, device=x.device), j, sH, pads[1], H)
            for l in range(kW):
                wl = tap_source(torch.arange(Wo, device=x.device), l, sW, pads[2], W)
                ok = (ti[:, None, None] >= 0) & (hj[None, :, None] >= 0) & (wl[None, None, :] >= 0)
                a = x_rows[:, ti.clamp(min=0)][:, :, hj.clamp(min=0)][:, :, :, wl.clamp(min=0)]
                a = a * ok[None, :, :, :, None]  # [N, To, Ho, Wo, Cin]: padding reads 0
                y += a @ weight[:, :, i, j, l].T  # one GEMM per tap: [M, Cin] @ [Cin, Cout]
    if bias is not None:
        y += bias
    return y.permute(0, 4, 1, 2, 3)

"""Task 07.2: one Horn–Schunck level against vdlite.flow.horn_schunck_level in float64 (1e-10)
on odd shapes, with several warps and the MAX_STEP limit in play; its fixed point against
autograd (the gradient of the linearised energy vanishes); and inside the package's pyramid on
an analytic translation and on flat frames."""

import math

import pytest
import torch

import vdlite.flow
from vdlite.flow import endpoint_error, gradients, neighbour_average, pixel_grid, warp


def texture(points: torch.Tensor, seed: int) -> torch.Tensor:
    """A smooth colour texture [1, 3, H, W] at points [1, 2, H, W]: 8 random sinusoids per
    channel of up to 0.05 cycles per pixel along each axis, evaluated exactly."""
    g = torch.Generator().manual_seed(seed)
    freq = (torch.rand(8, 2, generator=g, dtype=torch.float64) - 0.5) * 0.1
    phase = torch.rand(8, 3, generator=g, dtype=torch.float64) * 2 * math.pi
    amp = torch.rand(8, 3, generator=g, dtype=torch.float64) / 8
    arg = 2 * math.pi * torch.einsum("kd,bdhw->bkhw", freq, points)[:, :, None]  # [1, 8, 1, H, W]
    return (amp[None, :, :, None, None] * torch.sin(arg + phase[None, :, :, None, None])).sum(1)


def frames(h: int, w: int, shift: tuple[float, float], seed: int):
    """a(p) = f(p), b(p) = f(p - shift): a(p) = b(p + shift), the true flow is `shift`."""
    p = pixel_grid(h, w, torch.zeros((), dtype=torch.float64))
    d = torch.tensor(shift, dtype=torch.float64).view(1, 2, 1, 1)
    return texture(p, seed), texture(p - d, seed), d.expand(1, 2, h, w)


@pytest.mark.points(3)
def test_level_matches_the_package(impl):
    g = torch.Generator().manual_seed(710)
    a1, b1, _ = frames(13, 17, (0.6, -0.4), 711)
    a2, b2, _ = frames(13, 17, (-2.2, 1.3), 712)
    a, b = torch.cat([a1, a2]), torch.cat([b1, b2])  # [2, 3, 13, 17]
    noisy_a = a + 0.05 * torch.randn(a.shape, generator=g, dtype=torch.float64)
    starts = {"zero": torch.zeros(2, 2, 13, 17, dtype=torch.float64),
              "random": 0.7 * torch.randn(2, 2, 13, 17, generator=g, dtype=torch.float64)}
    for (alpha, iterations, warps) in ((0.1, 1, 1), (0.1, 7, 2), (0.3, 4, 3), (0.05, 12, 1)):
        for start_name, start in starts.items():
            for name, first in (("texture", a), ("texture + noise", noisy_a)):
                where = (f"alpha={alpha}, iterations={iterations}, warps={warps}, "
                         f"start {start_name}, {name}")
                got = impl.horn_schunck_level(first, b, start, alpha, iterations, warps)
                ref = vdlite.flow.horn_schunck_level(first, b, start, alpha, iterations, warps)
                assert got.shape == ref.shape, f"{where}: got shape {tuple(got.shape)}"
                torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10,
                                           msg=lambda m, where=where: f"{where}: {m}")
    # random frames: large residuals, so MAX_STEP shortens many steps
    a3 = torch.randn(1, 2, 9, 11, generator=g, dtype=torch.float64)
    b3 = torch.randn(1, 2, 9, 11, generator=g, dtype=torch.float64)
    start = torch.zeros(1, 2, 9, 11, dtype=torch.float64)
    got = impl.horn_schunck_level(a3, b3, start, 0.1, 3, 2)
    ref = vdlite.flow.horn_schunck_level(a3, b3, start, 0.1, 3, 2)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10,
                               msg=lambda m: f"random frames (steps limited to MAX_STEP): {m}")


def energy(flow, a, b, f0, alpha):
    """The linearised Horn–Schunck energy around f0 (the start of one warp):
    Σ_p Σ_c (g_c·(f - f0) + b_w^c - a^c)² + (α²/2) Σ_p Σ_q w_pq |f(p) - f(q)|²,
    w_pq the neighbour-average weights (edges replicated)."""
    bw = warp(b, f0)
    gx, gy = gradients(bw)
    d = flow - f0
    data = (gx * d[:, :1] + gy * d[:, 1:] + bw - a).square().sum()
    # Σ_q w_pq |f(p) - f(q)|² = avg(|f|²)(p) - 2 f(p)·f̄(p) + |f(p)|²
    smooth = (neighbour_average(flow * flow) - 2 * flow * neighbour_average(flow)
              + flow * flow).sum() / 2
    return data + alpha**2 * smooth


@pytest.mark.points(1)
def test_jacobi_converges_to_the_minimum_of_the_energy(impl):
    a, b, _ = frames(11, 15, (0.3, 0.2), 713)
    start = torch.zeros(1, 2, 11, 15, dtype=torch.float64)
    for alpha in (0.03, 0.05):  # smoothness weak against this texture: Jacobi converges fast
        flow = impl.horn_schunck_level(a, b, start, alpha, 400, 1).detach().requires_grad_()
        (grad,) = torch.autograd.grad(energy(flow, a, b, start, alpha), flow)
        first = start.clone().requires_grad_()
        (grad0,) = torch.autograd.grad(energy(first, a, b, start, alpha), first)
        assert grad.abs().max() < 1e-8 * grad0.abs().max(), (
            f"alpha={alpha}: after 400 Jacobi steps the energy's gradient is "
            f"{float(grad.abs().max()):.3g} (it was {float(grad0.abs().max()):.3g} at the start); "
            f"the fixed point of your iteration is not the energy's minimum")


@pytest.mark.points(1)
def test_level_inside_the_pyramid(impl, monkeypatch):
    monkeypatch.setattr(vdlite.flow, "horn_schunck_level", impl.horn_schunck_level)
    for shift, seed in (((0.45, -0.3), 714), ((2.6, 1.7), 715)):
        a, b, truth = frames(33, 41, shift, seed)
        flow = vdlite.flow.estimate_flow(a, b)
        mask = torch.zeros(1, 33, 41, dtype=torch.bool)
        mask[:, 4:-4, 4:-4] = True  # away from where the motion leaves the frame
        epe = endpoint_error(flow, truth, mask)
        assert epe < 0.25, f"shift {shift}: endpoint error {epe:.3f} px with your level"
    flat = torch.full((1, 3, 12, 14), 0.2, dtype=torch.float64)
    flow = vdlite.flow.estimate_flow(flat, flat)
    assert torch.isfinite(flow).all() and flow.abs().max() == 0, (
        "on flat frames the data term vanishes: α² on the diagonal keeps the 2×2 system "
        "solvable, and the flow stays 0")

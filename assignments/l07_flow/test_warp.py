"""Task 07.1: bilinear warping by hand, against F.grid_sample (align_corners=True, border
padding) and vdlite.flow.warp in float64 to 1e-12, on odd shapes with flows that leave the
frame; whole-pixel shifts exactly; gradients in b and flow against autograd through the
package; and without grid_sample."""

import pytest
import torch
import torch.nn.functional as F

from vdlite.flow import warp as package_warp

SHAPES = ((2, 3, 7, 11), (1, 2, 5, 13), (3, 1, 9, 4), (1, 3, 1, 6), (1, 3, 6, 1))


def grid_sample_oracle(b: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """b read at p + flow(p) by F.grid_sample: pixel centres 0 .. W-1 map to -1 .. +1
    (align_corners=True); points outside read the edge (padding_mode="border")."""
    _, _, h, w = b.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=b.dtype), torch.arange(w, dtype=b.dtype),
                            indexing="ij")
    sx, sy = xs + flow[:, 0], ys + flow[:, 1]  # [B, H, W]
    grid = torch.stack([2 * sx / max(w - 1, 1) - 1, 2 * sy / max(h - 1, 1) - 1], dim=-1)
    return F.grid_sample(b, grid, mode="bilinear", padding_mode="border", align_corners=True)


def cases(seed: int):
    g = torch.Generator().manual_seed(seed)
    for shape in SHAPES:
        b = torch.randn(shape, generator=g, dtype=torch.float64)
        flow = 2.5 * torch.randn(shape[0], 2, *shape[2:], generator=g, dtype=torch.float64)
        yield b, flow  # |flow| up to several pixels: many points leave the frame


@pytest.mark.points(2)
def test_warp_matches_grid_sample_and_the_package(impl):
    for b, flow in cases(700):
        out = impl.warp(b, flow)
        where = f"b {tuple(b.shape)}"
        assert out.shape == b.shape, f"{where}: got shape {tuple(out.shape)}"
        for oracle, name in ((grid_sample_oracle, "F.grid_sample"),
                             (package_warp, "vdlite.flow.warp")):
            error = float((out - oracle(b, flow)).abs().max())
            assert error <= 1e-12, f"{where}: differs from {name} by up to {error:.3g}"


@pytest.mark.points(1)
def test_whole_pixel_shifts_and_gradients(impl):
    g = torch.Generator().manual_seed(701)
    b = torch.randn(2, 3, 6, 9, generator=g, dtype=torch.float64)
    flow = torch.zeros(2, 2, 6, 9, dtype=torch.float64)
    torch.testing.assert_close(impl.warp(b, flow), b, rtol=0, atol=1e-12, msg="zero flow")
    flow[:, 0] = 1.0  # a(p) = b(p + (1, 0)): each pixel reads the pixel to its right
    torch.testing.assert_close(impl.warp(b, flow)[..., :-1], b[..., 1:], rtol=0, atol=1e-12,
                               msg="flow (1, 0) must read the next column (x is channel 0)")
    flow[:, 0], flow[:, 1] = 0.0, -2.0  # each pixel reads two rows up
    torch.testing.assert_close(impl.warp(b, flow)[..., 2:, :], b[..., :-2, :], rtol=0,
                               atol=1e-12, msg="flow (0, -2) must read two rows up")
    # gradients: sample points off the pixel grid and inside the frame, where the bilinear
    # weights are smooth, so autograd's derivatives are defined and must agree
    b = torch.randn(1, 2, 5, 7, generator=g, dtype=torch.float64)
    flow = torch.rand(1, 2, 5, 7, generator=g, dtype=torch.float64) * 0.8 + 0.1
    flow[:, :, -1, :] -= 1.0  # the last row and column read up and to the left
    flow[:, :, :, -1] -= 1.0
    weights = torch.randn(1, 2, 5, 7, generator=g, dtype=torch.float64)
    grads = []
    for fn in (impl.warp, package_warp):
        bb, ff = b.clone().requires_grad_(), flow.clone().requires_grad_()
        grads.append(torch.autograd.grad((fn(bb, ff) * weights).sum(), (bb, ff)))
    for name, got, expected in zip(("b", "flow"), grads[0], grads[1], strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12,
                                   msg=lambda m, name=name: f"gradient in {name}: {m}")


@pytest.mark.points(1)
def test_warp_is_written_by_hand(impl, monkeypatch):
    expected = [package_warp(b, flow) for b, flow in cases(702)]

    def refuse(*args, **kwargs):
        raise AssertionError("write warp by hand: no grid_sample (nor vdlite.flow.warp, "
                             "which calls it)")

    for name in ("grid_sampler", "grid_sampler_2d"):
        monkeypatch.setattr(torch, name, refuse)
    monkeypatch.setattr(F, "grid_sample", refuse)
    for (b, flow), ref in zip(cases(702), expected, strict=True):
        torch.testing.assert_close(impl.warp(b, flow), ref, rtol=0, atol=1e-12)

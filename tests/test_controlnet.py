"""The video ControlNet: exact identity at initialisation, a frozen base, the zero convolutions'
gradients (nonzero at once, reaching the copy and the depth encoder only after steps), residuals
joining the right skip, a depth encoder centred in time, and the edge-alignment measure."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from vdlite.controlnet import (
    ControlledUNet,
    ControlNet3D,
    DepthEncoder,
    depth_edges,
    edge_alignment,
    edge_alignment_chance,
    fit,
    image_gradient,
)
from vdlite.diffusion import NoiseSchedule
from vdlite.room import RoomClips
from vdlite.unet3d import ResBlock3d, UNet3D, timestep_embedding


def random_base(seed: int = 0, conv: str = "pseudo", mults=(1, 2)) -> UNet3D:
    """A float64 UNet3D with every parameter random (its zero-initialised output conv too, so
    that it predicts something nonzero)."""
    net = UNet3D(3, 8, mults, 1, conv).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net


def inputs(b=2, t=5, h=10, w=14, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, t, h, w, generator=g, dtype=torch.float64)
    depth = torch.rand(b, 1, t, h, w, generator=g, dtype=torch.float64) * 2 - 1
    return x, torch.tensor([3, 700][:b]), depth


@pytest.mark.parametrize("conv,mults", [("pseudo", (1, 2)), ("full", (1, 2, 2))])
def test_controlled_model_equals_the_base_exactly_at_initialisation(conv, mults):
    base = random_base(0, conv, mults)
    model = ControlledUNet(base, ControlNet3D(base).double())
    x, t, depth = inputs(t=3 if conv == "full" else 5, h=12, w=8)
    out = model(x, t, depth)
    assert torch.equal(out, base(x, t)) and out.abs().max() > 0
    skips, mid = model.control(x, t, depth)
    assert all(torch.count_nonzero(s) == 0 for s in skips) and torch.count_nonzero(mid) == 0
    # the copy starts as the base's encoder: equal values, separate storage
    for name in ("time_mlp", "stem", "down", "mid"):
        for p, q in zip(getattr(model.control, name).parameters(),
                        getattr(base, name).parameters(), strict=True):
            assert torch.equal(p, q) and p.data_ptr() != q.data_ptr()


def test_the_base_is_frozen_and_gradients_reach_the_control_branch_step_by_step():
    base = random_base(2)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    control = ControlNet3D(base).double()
    model = ControlledUNet(base, control)
    assert not any(p.requires_grad for p in base.parameters())
    x, t, depth = inputs()
    target = torch.randn_like(x)
    zero = list(control.zero_convs.parameters()) + list(control.mid_zero_conv.parameters())
    copy = [p for n in ("stem", "down", "mid") for p in getattr(control, n).parameters()]
    hint_out = list(control.hint.out.parameters())
    hint_inner = list(control.hint.layers.parameters())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)

    def step() -> dict[str, bool]:
        opt.zero_grad(set_to_none=False)
        F.mse_loss(model(x, t, depth), target).backward()
        moved = {name: any(p.grad is not None and p.grad.abs().max() > 0 for p in ps)
                 for name, ps in (("zero", zero), ("copy", copy), ("hint_out", hint_out),
                                  ("hint_inner", hint_inner))}
        opt.step()
        return moved

    # ∂L/∂W_Z = ∂L/∂out · f is nonzero at once; behind a zero conv, gradients are exactly 0
    assert step() == {"zero": True, "copy": False, "hint_out": False, "hint_inner": False}
    assert step() == {"zero": True, "copy": True, "hint_out": True, "hint_inner": False}
    assert step() == {"zero": True, "copy": True, "hint_out": True, "hint_inner": True}
    assert all(p.grad is None for p in base.parameters())
    assert all(torch.equal(v, before[k]) for k, v in base.state_dict().items())
    assert not torch.equal(model(x, t, depth), base(x, t))


def test_the_copy_trains_even_when_the_base_was_frozen_first():
    """A trained base is usually loaded and frozen before the control branch is built from it:
    the deep copy must not inherit requires_grad False, or only the joins would ever train."""
    base = random_base(3).requires_grad_(False)
    control = ControlNet3D(base)
    assert all(p.requires_grad for p in control.parameters())
    assert not any(p.requires_grad for p in base.parameters())


def reference_forward(net: UNet3D, x, t, residuals, mid_residual):
    """UNet3D's forward written out, adding residuals[i] to skip i (encoder order) and
    mid_residual to the middle block's output: the oracle for the base's hook."""
    emb = net.time_mlp(timestep_embedding(t, net.base_channels).to(x.dtype))
    h = net.stem(x)
    skips = [h + residuals[0]]
    for i, layer in enumerate(net.down):
        h = layer(h, emb) if isinstance(layer, ResBlock3d) else layer(h)
        skips.append(h + residuals[i + 1])
    for layer in net.mid:
        h = layer(h, emb)
    h = h + mid_residual
    for layer in net.up:
        h = layer(torch.cat([h, skips.pop()], 1), emb) if isinstance(layer, ResBlock3d) else (
            layer(h))
    return net.out_conv(F.silu(net.out_norm(h)))


def test_each_zero_conv_joins_its_own_skip_and_the_middle():
    base = random_base(3)
    control = ControlNet3D(base).double()
    model = ControlledUNet(base, control)
    x, t, depth = inputs(b=1, t=3, h=6, w=10)
    skips, mid = control(x, t, depth)
    shapes = [s.shape for s in skips]
    joins = list(control.zero_convs) + [control.mid_zero_conv]
    for k, conv in enumerate(joins):
        with torch.no_grad():
            conv.bias.fill_(0.5)
        residuals = [torch.full(s, 0.5 if i == k else 0.0, dtype=torch.float64)
                     for i, s in enumerate(shapes)]
        mid_res = torch.full(mid.shape, 0.5 if k == len(shapes) else 0.0, dtype=torch.float64)
        with torch.no_grad():
            expected = reference_forward(base, x, t, residuals, mid_res)
            torch.testing.assert_close(model(x, t, depth), expected, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(base(x, t, residuals, mid_res), expected, rtol=1e-12,
                                       atol=1e-12)
            conv.bias.zero_()
    with pytest.raises(ValueError, match="skip_residuals must hold"):
        base(x, t, skip_residuals=skips[:-1])


def test_depth_encoder_reads_a_centred_window_of_frames():
    enc = DepthEncoder(4, hidden=5).double()
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for p in enc.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    t_len = 9
    depth = torch.randn(1, 1, t_len, 5, 7, generator=g, dtype=torch.float64)
    for t in range(t_len):
        d = depth.clone().requires_grad_()
        enc(d)[:, :, t].sum().backward()
        reads = {k for k in range(t_len) if d.grad[:, :, k].abs().max() > 0}
        assert reads == set(range(max(0, t - 2), min(t_len, t + 3))), (t, reads)


def test_depth_edges_mark_jumps_and_creases_but_no_plane():
    y, x = torch.meshgrid(torch.arange(9, dtype=torch.float64),
                          torch.arange(11, dtype=torch.float64), indexing="ij")
    plane = 1 / (0.2 + 0.03 * x + 0.05 * y)  # disparity affine in (x, y): a receding plane
    assert not depth_edges(plane[None, None, None]).any()
    step = torch.where(x < 6, 1.0, 3.0)  # a box in front of a wall, edge between cols 5 and 6
    edges = depth_edges(step.expand(1, 1, 2, 9, 11))
    assert torch.equal(edges, ((x == 5) | (x == 6)).expand(1, 2, 9, 11))
    crease = 1 / (0.5 + 0.1 * (x - 4).abs())  # two planes meeting along column 4
    edges = depth_edges(crease[None, None, None])[0, 0]
    assert torch.equal(edges, x == 4)


def test_edge_alignment_against_hand_computed_shares():
    y, x = torch.meshgrid(torch.arange(8.0), torch.arange(12.0), indexing="ij")
    depth = torch.where(x < 6, 1.0, 3.0).expand(2, 1, 3, 8, 12)  # edge pixels: columns 5, 6
    on = torch.where(x < 6, -0.5, 0.5).expand(1, 3, 3, 8, 12)  # colour edge at the same place
    off = torch.where(x < 2, -0.5, 0.5).expand(1, 3, 3, 8, 12)  # elsewhere: columns 1 | 2
    video = torch.cat([on, off])
    torch.testing.assert_close(edge_alignment(video, depth), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(edge_alignment(off, depth[:1], radius=3), torch.tensor([0.0]))
    torch.testing.assert_close(edge_alignment(off, depth[:1], radius=4), torch.tensor([1.0]))
    ramp = (0.05 * x + 0.02 * y).expand(1, 3, 3, 8, 12)  # the same gradient everywhere but
    g = image_gradient(ramp)  # the last row and column, where forward differences stop
    near = depth_edges(depth[:1]).double()
    expected = (g * near).sum() / g.sum()
    torch.testing.assert_close(edge_alignment(ramp, depth[:1]), expected[None].float())
    assert edge_alignment(torch.zeros(1, 3, 3, 8, 12), depth[:1]).item() == 0
    torch.testing.assert_close(edge_alignment_chance(depth), torch.full((2,), 2 / 12))


def test_ground_truth_rooms_align_with_their_own_depth_not_another_rooms():
    batch = RoomClips(16, frames=3, size=24, seed=5).batch(range(16))
    own = edge_alignment(batch["video"], batch["depth"])
    other = edge_alignment(batch["video"], batch["depth"].roll(1, 0))
    assert (own > other).float().mean() >= 0.8 and own.mean() > other.mean() + 0.1


def test_fit_trains_the_control_branch_only():
    base = UNet3D(3, 4, (1, 2), 1, "pseudo")
    with torch.no_grad():  # as if trained: its zero-initialised output conv too
        for p in base.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(6)))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model = ControlledUNet(base, ControlNet3D(base, hint_hidden=4))
    ds = RoomClips(8, frames=3, size=8, seed=0)
    batches = (ds.batch([i, i + 1]) for i in itertools.count(0, 2))
    losses = fit(model, batches, 2, NoiseSchedule("cosine", 50))
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    assert all(torch.equal(v, before[k]) for k, v in base.state_dict().items())
    assert any(p.abs().max() > 0 for p in model.control.mid_zero_conv.parameters())


def test_fit_draws_noisy_timesteps_only_and_gives_named_parts_their_own_rate():
    base = UNet3D(3, 4, (1, 2), 1, "pseudo")
    with torch.no_grad():  # as if trained: its zero-initialised output conv too
        for p in base.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(7)))
    model = ControlledUNet(base, ControlNet3D(base, hint_hidden=4))
    seen = []
    forward = model.forward
    model.forward = lambda x, t, depth: seen.append(t.clone()) or forward(x, t, depth)
    ds = RoomClips(8, frames=3, size=8, seed=0, patterns=False)
    batches = (ds.batch([i % 8, (i + 1) % 8]) for i in itertools.count(0, 2))
    before = {n: p.detach().clone() for n, p in model.control.named_parameters()}
    fit(model, batches, 1, NoiseSchedule("cosine", 50), lr=1e-3, prediction="x0", min_t=40,
        lrs={"control.mid_zero_conv": 1e-1})
    assert seen and all(bool(((t >= 40) & (t < 50)).all()) for t in seen)
    # Adam's first step moves every parameter with a gradient by about its lr
    moved = {n: float((p.detach() - before[n]).abs().max())
             for n, p in model.control.named_parameters()}
    assert 0.05 < moved["mid_zero_conv.bias"] <= 0.1 + 1e-6
    assert 0 < moved["zero_convs.0.bias"] <= 1e-3 + 1e-6
    with pytest.raises(ValueError, match="min_t must be in"):
        fit(model, batches, 1, NoiseSchedule("cosine", 50), min_t=50)
    with pytest.raises(ValueError, match="prediction must be one of"):
        fit(model, batches, 1, NoiseSchedule("cosine", 50), prediction="noise")


def test_errors_name_what_was_expected():
    base = random_base(5)
    model = ControlledUNet(base, ControlNet3D(base).double())
    x, t, depth = inputs()
    with pytest.raises(ValueError, match=r"depth must be \[B, 1, T, H, W\] = \[2, 1, 5, 10, 14\]"):
        model(x, t, depth[:, :, :4])
    with pytest.raises(TypeError, match="base must be a vdlite UNet3D"):
        ControlNet3D(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="patch_size must be 1"):
        ControlNet3D(UNet3D(3, 8, (1, 2), 1, "pseudo", patch_size=2))
    with pytest.raises(ValueError, match="depth must be positive"):
        depth_edges(torch.zeros(1, 1, 2, 4, 4))
    with pytest.raises(ValueError, match="radius must be an int >= 0"):
        edge_alignment(x, depth.abs() + 1, radius=-1)
    with pytest.raises(ValueError, match="must share B, T, H and W"):
        edge_alignment(x, depth[:1].abs() + 1)

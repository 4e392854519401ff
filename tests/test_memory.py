"""Memory (lesson 09a): gradient checkpointing changes no output and no gradient but cuts what
autograd saves; `saved_bytes` counts what a chain of Linear layers saves by hand; the
frames-in-budget arithmetic; frame interleaving takes every k-th frame and triples the sprite's
step at stride 3.

The measurements themselves (`python -m vdlite.memory`, `python -m vdlite.interleave`) are in
lessons/measured/checkpointing and lessons/measured/frame_interleaving.
"""

from dataclasses import asdict

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from vdlite import cli
from vdlite.data import MovingSprites
from vdlite.interleave import interleave, native_frames, sprite_motion
from vdlite.memory import fit_line, frames_in_budget, saved_bytes, state_bytes, step_memory
from vdlite.train import TrainConfig, build_model, load_checkpoint, save_checkpoint
from vdlite.transformer import VideoDiT
from vdlite.unet3d import UNet3D

# odd, non-power-of-two clips: B=2, T=5, H=6, W=10
SHAPE = (2, 3, 5, 6, 10)


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter random, so that no gradient is zero because of a zero-initialised layer
    (a fresh block is the identity, and a test on it could not tell a lost gradient)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def output_and_gradients(model: nn.Module, x: torch.Tensor, t: torch.Tensor):
    model.train()
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out = model(x, t)
    (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)).sum().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    return out.detach(), x.grad.clone(), grads


MODELS = {
    "unet-full": lambda ck: UNet3D(3, 6, (1, 2), 1, conv="full", gradient_checkpointing=ck),
    "unet-pseudo": lambda ck: UNet3D(3, 6, (1, 2), 2, conv="pseudo", gradient_checkpointing=ck),
    "dit": lambda ck: VideoDiT(3, 2, dim=24, depth=2, heads=2, temporal_radius=1,
                               gradient_checkpointing=ck),
}


@pytest.mark.parametrize("name", MODELS)
def test_checkpointing_changes_no_output_and_no_gradient(name):
    """float64, random weights: the output, the input's gradient and every parameter's gradient
    with checkpointing equal those without to 1e-12 (relative to the largest; recomputation
    repeats the same float64 operations, so in practice they are bitwise equal)."""
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = torch.tensor([3, 700])
    plain = randomise(MODELS[name](False).double())
    ckpt = MODELS[name](True).double()
    ckpt.load_state_dict(plain.state_dict())
    assert ckpt.gradient_checkpointing and not plain.gradient_checkpointing
    out_a, dx_a, grads_a = output_and_gradients(plain, x, t)
    out_b, dx_b, grads_b = output_and_gradients(ckpt, x, t)

    def close(a, b):
        return (a - b).abs().max() <= 1e-12 * a.abs().max().clamp(min=1e-300)

    assert close(out_a, out_b) and close(dx_a, dx_b)
    assert grads_a.keys() == grads_b.keys()
    for key in grads_a:
        assert close(grads_a[key], grads_b[key]), key
    nonzero = sum(bool(g.abs().max() > 0) for g in grads_a.values())
    assert nonzero == len(grads_a)  # every parameter gets a gradient: the comparison can fail


@pytest.mark.parametrize("name", MODELS)
def test_checkpointing_cuts_the_saved_activations(name):
    """What autograd saves falls at least 3-fold with checkpointing (each block keeps only its
    input); in eval mode or without gradients the switch does nothing."""
    x = torch.randn(SHAPE)
    t = torch.tensor([3, 700])
    plain, ckpt = MODELS[name](False), MODELS[name](True)
    ckpt.load_state_dict(plain.state_dict())
    a = step_memory(plain, x, t)["saved"]
    b = step_memory(ckpt, x, t)["saved"]
    assert a > 3 * b > 0
    ckpt.eval()
    with torch.no_grad():
        assert torch.equal(ckpt(x, t), plain.eval()(x, t))


def test_saved_bytes_of_a_linear_chain_by_hand():
    """k layers y = tanh(W x + c) on x [B, D]: each Linear saves its input (for W's gradient)
    and each tanh its output (tanh' = 1 - y^2), and a tanh's output is the next Linear's
    input, so the storages are x and the k outputs: (k + 1) B D element bytes (parameters
    left out). Checkpointing each layer keeps only the k layers' inputs: k B D."""
    B, D, k = 7, 5, 3
    layers = [nn.Linear(D, D).double() for _ in range(k)]
    params = [p for layer in layers for p in layer.parameters()]
    x = torch.randn(B, D, dtype=torch.float64)

    def chain(ck: bool):
        def run():
            h = x
            for layer in layers:
                f = lambda a, layer=layer: torch.tanh(layer(a))  # noqa: E731
                h = checkpoint(f, h, use_reentrant=False) if ck else f(h)
            return h.sum()
        return run

    assert saved_bytes(chain(False), params) == (k + 1) * B * D * 8
    assert saved_bytes(chain(True), params) == k * B * D * 8
    assert saved_bytes(chain(False)) > (k + 1) * B * D * 8  # with the weights counted too
    assert state_bytes(layers[0]) == 4 * (D * D + D) * 8


def test_frames_in_budget_and_the_fit():
    """The largest T with fixed + b T <= budget, on values where rounding matters."""
    for budget, fixed, b in ((1000, 100, 7), (1000, 100, 9), (2**30, 3e8, 1.3e6), (50, 60, 1)):
        T = frames_in_budget(budget, fixed, b)
        assert T >= 0
        assert fixed + b * (T + 1) > budget
        if T > 0:
            assert fixed + b * T <= budget
    assert frames_in_budget(1000, 100, 9) == 100  # 100 + 900 = 1000 fits exactly
    with pytest.raises(ValueError, match="per_frame must be > 0"):
        frames_in_budget(1000, 0, 0)
    for budget, fixed, b, c in ((1000, 100, 7, 0.5), (2**30, 3e8, 1.3e6, 4e4), (10, 20, 1, 1)):
        T = frames_in_budget(budget, fixed, b, c)
        assert fixed + b * (T + 1) + c * (T + 1) ** 2 > budget
        assert T == 0 or fixed + b * T + c * T * T <= budget
    assert frames_in_budget(1000, 0, 10, 1.0) == 27  # 270 + 729 = 999; 28: 280 + 784 > 1000
    a, b = fit_line([2, 5, 11], [3 + 2.5 * 2, 3 + 2.5 * 5, 3 + 2.5 * 11])
    assert abs(a - 3) < 1e-12 and abs(b - 2.5) < 1e-12


def test_the_switch_reaches_the_model_and_is_saved(tmp_path):
    """TrainConfig.checkpointing builds a model with the switch on (U-Net and DiT), is saved
    with the checkpoint, and a file from before the field loads with it off; `vdlite train
    --checkpointing` sets it."""
    for arch in ("unet", "dit"):
        cfg = TrainConfig(arch=arch, frames=2, size=8, base_channels=8, channel_mults=(1,),
                          dim=16, depth=1, heads=1, patch_size=2, checkpointing=True)
        model = build_model(cfg)
        assert model.gradient_checkpointing is True
        assert build_model(TrainConfig(arch=arch)).gradient_checkpointing is False
        save_checkpoint(tmp_path / "new.pt", model, cfg)
        loaded, got = load_checkpoint(tmp_path / "new.pt")
        assert got.checkpointing and loaded.gradient_checkpointing
        config = {k: v for k, v in asdict(cfg).items() if k != "checkpointing"}
        torch.save({"format": 1, "kind": "TrainConfig", "config": config,
                    "state_dict": model.state_dict(), "info": {}}, tmp_path / "old.pt")
        loaded, got = load_checkpoint(tmp_path / "old.pt")
        assert not got.checkpointing and not loaded.gradient_checkpointing
    args = cli.build_parser().parse_args(["train", "--checkpointing"])
    opts = {k: v if (v := getattr(args, k)) is not None else d
            for k, d in cli.TRAIN_DEFAULTS.items()}
    assert cli.train_config({**opts, "precision": "fp32"}).checkpointing is True
    args = cli.build_parser().parse_args(["train"])
    assert args.checkpointing is None and cli.TRAIN_DEFAULTS["checkpointing"] is False


def test_interleave_is_the_datasets_stride():
    """Every k-th frame of a native clip is the dataset's stride-k clip, exactly; asking for
    more frames than the clip holds names the T they need."""
    native = MovingSprites(num_clips=4, frames=native_frames(7, 3), size=12, seed=5)
    strided = MovingSprites(num_clips=4, frames=7, size=12, stride=3, seed=5)
    clips = torch.stack([native[i]["video"] for i in range(4)])  # [4, 3, 19, 12, 12]
    expected = torch.stack([strided[i]["video"] for i in range(4)])
    assert torch.equal(interleave(clips, 3), expected)
    assert torch.equal(interleave(clips, 3, frames=5), expected[:, :, :5])
    assert interleave(clips[:, :, :18], 3).shape[2] == 6  # ceil(18 / 3)
    with pytest.raises(ValueError, match=r"8 frames at stride 3 need a clip of at least 22 "
                                         r"frames .* got T=19"):
        interleave(clips, 3, frames=8)
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        interleave(clips, 0)
    with pytest.raises(ValueError, match=r"video must be clips \[B, C, T, H, W\]"):
        interleave(clips[0], 2)


def test_sprite_motion_on_a_square_moved_by_hand():
    """A 3x3 square moved 2 pixels right a frame over 5 frames: step 2, path 8, extent 8."""
    video = -torch.ones(1, 3, 5, 9, 16)
    for t in range(5):
        video[0, :, t, 3:6, 1 + 2 * t: 4 + 2 * t] = 1
    m = sprite_motion(video)
    assert torch.allclose(m["step"], torch.tensor([2.0]))
    assert torch.allclose(m["path"], torch.tensor([8.0]))
    assert torch.allclose(m["extent"], torch.tensor([8.0]))
    assert torch.equal(m["found"], torch.tensor([1.0]))


def test_stride_three_triples_the_step_of_real_clips():
    """On 48 real clips, the mean step at stride 3 is 3 times that at stride 1, a little
    less where sprites bounce off a wall between two frames: within [2.5, 3.1]."""
    def clips(stride):
        data = MovingSprites(num_clips=48, frames=8, size=32, sprites=1, stride=stride, seed=3)
        return torch.stack([data[i]["video"] for i in range(48)])

    one, three = sprite_motion(clips(1))["step"], sprite_motion(clips(3))["step"]
    ratio = float(three.nanmean() / one.nanmean())
    assert 2.5 <= ratio <= 3.1, ratio

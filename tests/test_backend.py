"""vdlite.backend: which implementation runs an op, and that training on the Triton kernels
equals training on the PyTorch references.

The oracle for a kernel-backed step is the same step with ``VDLITE_BACKEND=torch``: same
weights, same inputs, same noise; loss and every parameter gradient compared by relative
Frobenius error. Tolerances: float32 under the interpreter 1e-5 (both sides float32 with
float32 dots; measured ~1e-7), bfloat16 on CUDA 3e-2 (bf16 rounding of P and dS inside the
kernels against the reference's bf16 einsums). Both kernel paths are checked:
``VDLITE_BACKEND=triton`` (the tuned kernels, module ``kernels``) and ``triton-lesson`` (the
lesson kernels, module ``kernels.lesson``). Without a GPU the kernels run in Triton's
interpreter (tests/conftest.py sets it up), so shapes are tiny.
"""

import pytest
import torch

import kernels
import kernels.lesson
from vdlite import backend
from vdlite.conv3d import CausalConv3d, Conv3d
from vdlite.transformer import VideoDiT

CUDA = torch.cuda.is_available()


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def test_backend_reads_the_environment(monkeypatch):
    monkeypatch.delenv("VDLITE_BACKEND", raising=False)
    assert backend.backend() is None
    monkeypatch.setenv("VDLITE_BACKEND", " Triton ")
    assert backend.backend() == "triton"
    monkeypatch.setenv("VDLITE_BACKEND", "torch")
    assert backend.backend() == "torch"
    monkeypatch.setenv("VDLITE_BACKEND", "Triton-Lesson")
    assert backend.backend() == "triton-lesson"
    monkeypatch.setenv("VDLITE_BACKEND", "cudnn")
    with pytest.raises(ValueError, match="VDLITE_BACKEND must be one of"):
        backend.backend()


def test_cpu_tensors_use_the_references_unless_triton_is_forced(monkeypatch):
    x = torch.zeros(2)
    monkeypatch.delenv("VDLITE_BACKEND", raising=False)
    assert backend.kernels_for(x) == (None, False)
    monkeypatch.setenv("VDLITE_BACKEND", "torch")
    assert backend.kernels_for(x) == (None, False)
    monkeypatch.setenv("VDLITE_BACKEND", "triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert backend.kernels_for(x) == (kernels, True)
    monkeypatch.setenv("VDLITE_BACKEND", "triton-lesson")
    assert backend.kernels_for(x) == (kernels.lesson, True)
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(RuntimeError, match="CUDA tensors, or on the CPU with TRITON_INTERPRET=1"):
        backend.kernels_for(x)


def count_calls(monkeypatch, module=kernels):
    """Wrap the three attention kernels of ``module`` to count how often vdlite calls them."""
    calls = {"spatial_attention": 0, "temporal_attention": 0, "neighbourhood_attention": 0}
    for name in calls:
        kernel = getattr(module, name)

        def counted(*args, _kernel=kernel, _name=name, **kwargs):
            calls[_name] += 1
            return _kernel(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return calls


def dit_step(device, dtype, radius=0):
    """Loss and parameter gradients of one denoising step of a small DiT (head dim 32)."""
    torch.manual_seed(0)
    net = VideoDiT(3, 2, dim=64, depth=2, heads=2, causal=True, window=2,
                   temporal_radius=radius).to(device, dtype)
    for p in net.parameters():  # leave the zero-initialised gates: every branch contributes
        p.data.add_(0.05 * torch.randn_like(p))
    x = torch.randn(2, 3, 5, 6, 6, device=device, dtype=dtype)  # T = 5, 3 x 3 tokens
    target = torch.randn_like(x)
    loss = (net(x, torch.tensor([10, 600], device=device)) - target).float().pow(2).mean()
    loss.backward()
    return loss.detach(), {n: p.grad.detach() for n, p in net.named_parameters()}


@pytest.mark.parametrize("name, module", [("triton", kernels), ("triton-lesson", kernels.lesson)])
@pytest.mark.parametrize("device,dtype,tol", [
    ("cpu", torch.float32, 1e-5),
    pytest.param("cuda", torch.bfloat16, 3e-2,
                 marks=pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")),
])
def test_a_dit_training_step_on_the_kernels_matches_the_references(monkeypatch, device, dtype,
                                                                    tol, name, module):
    if device == "cpu" and CUDA:
        pytest.skip("the interpreter is only set up for this file when there is no GPU")
    monkeypatch.setenv("VDLITE_BACKEND", "torch")
    loss_ref, grads_ref = dit_step(device, dtype)
    monkeypatch.setenv("VDLITE_BACKEND", name)
    calls = count_calls(monkeypatch, module)
    loss, grads = dit_step(device, dtype)
    assert calls == {"spatial_attention": 2, "temporal_attention": 2,  # depth 2, one each
                     "neighbourhood_attention": 0}
    assert rel(loss, loss_ref) <= tol
    for name, g in grads.items():
        assert rel(g, grads_ref[name]) <= tol, name


@pytest.mark.skipif(CUDA, reason="the interpreter is only set up for this file without a GPU")
def test_neighbourhood_and_unsupported_shapes(monkeypatch):
    """A DiT with neighbourhood temporal attention (radius 1) runs the neighbourhood kernel and
    trains as on the references (float32, 1e-5); a head dim the kernel does not take falls
    back by default but raises when triton is forced."""
    monkeypatch.setenv("VDLITE_BACKEND", "torch")
    loss_ref, grads_ref = dit_step("cpu", torch.float32, radius=1)
    monkeypatch.setenv("VDLITE_BACKEND", "triton")
    calls = count_calls(monkeypatch)
    loss, grads = dit_step("cpu", torch.float32, radius=1)
    assert calls == {"spatial_attention": 2, "temporal_attention": 0,
                     "neighbourhood_attention": 2}
    assert rel(loss, loss_ref) <= 1e-5
    for name, g in grads.items():
        assert rel(g, grads_ref[name]) <= 1e-5, name
    net = VideoDiT(3, 2, dim=24, depth=1, heads=2)  # head dim 12: no kernel takes it
    x, t = torch.randn(1, 3, 2, 4, 4), torch.tensor([5])
    with pytest.raises(ValueError, match="head"):
        net(x, t)
    assert calls == {"spatial_attention": 3, "temporal_attention": 0,  # the kernel refused
                     "neighbourhood_attention": 2}
    monkeypatch.delenv("VDLITE_BACKEND")
    monkeypatch.setattr(backend, "kernels_for", lambda x: (kernels, False))  # as on CUDA
    assert net(x, t).shape == x.shape  # fell back to the references: no kernel call
    net = VideoDiT(3, 2, dim=24, depth=1, heads=2, temporal_radius=1)
    assert net(x, t).shape == x.shape  # the neighbourhood too
    assert calls == {"spatial_attention": 3, "temporal_attention": 0,
                     "neighbourhood_attention": 2}
    dit_step("cpu", torch.float32, radius=1)  # head dim 32, which the kernel takes: by default
    assert calls["neighbourhood_attention"] == 2  # float32 still runs the reference


def test_default_dispatch_sends_only_bf16_to_the_kernels(monkeypatch):
    """The default backend, as on CUDA: a kernel runs a call only for the dtypes where the
    kernels are measured to make the training step faster (bf16) and shapes it takes; float32
    and float16 run the reference; a forced backend runs the kernel whatever the dtype."""
    monkeypatch.delenv("VDLITE_BACKEND", raising=False)
    monkeypatch.setattr(backend, "kernels_for", lambda x: (kernels, False))  # as on CUDA
    q = torch.zeros(1, 3, 4, 2, 32)
    assert backend.MEASURED_FASTER == (torch.bfloat16,)
    for dtype, expected in ((torch.bfloat16, kernels), (torch.float32, None),
                            (torch.float16, None)):
        x = q.to(dtype)
        assert backend._chosen(x, lambda m: m.takes_neighbourhood(x, 1)) is expected, dtype
        assert backend._chosen(x, lambda m: m.takes_attention("spatial", x)) is expected
    bad = torch.zeros(1, 3, 4, 2, 12, dtype=torch.bfloat16)  # head dim 12: not taken
    assert backend._chosen(bad, lambda m: m.takes_attention("temporal", bad)) is None
    monkeypatch.setattr(backend, "kernels_for", lambda x: (kernels, True))  # forced
    assert backend._chosen(q, lambda m: False) is kernels


@pytest.mark.skipif(CUDA, reason="the interpreter is only set up for this file without a GPU")
@pytest.mark.parametrize("make", [
    lambda: Conv3d(3, 17, 3, stride=(1, 2, 1), padding=1),
    lambda: CausalConv3d(5, 16, (3, 3, 3), pad_mode="replicate"),
    lambda: CausalConv3d(5, 16, (3, 1, 1), stride=(2, 1, 1)),
])
@pytest.mark.parametrize("name, module", [("triton", kernels), ("triton-lesson", kernels.lesson)])
def test_conv3d_modules_on_the_kernel_match_the_references(monkeypatch, make, name, module):
    """vdlite's Conv3d and CausalConv3d (both pad modes, strides) through the conv3d kernel of
    each path: output and every gradient equal the reference modules' in float32 (1e-5)."""
    torch.manual_seed(0)
    conv = make()
    x = torch.randn(2, conv.in_channels, 7, 5, 6, requires_grad=True)
    results, calls, real = [], [], module.conv3d
    monkeypatch.setattr(module, "conv3d", lambda *a, **k: calls.append(1) or real(*a, **k))
    for backend_name in ("torch", name):
        monkeypatch.setenv("VDLITE_BACKEND", backend_name)
        y = conv(x)
        grads = torch.autograd.grad(y, [x, conv.weight, conv.bias], torch.ones_like(y))
        results.append((y, *grads))
        assert len(calls) == (backend_name == name)  # the kernel ran only under its backend
    for ours, ref in zip(results[1], results[0], strict=True):
        assert ours.shape == ref.shape and rel(ours, ref) <= 1e-5

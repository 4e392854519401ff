"""Task A3.3: seams at chunk boundaries. The chunk plan by its properties; chunked encoding of
untrained float64 CausalVAEs against the whole clip (with the cache, 1e-10) and, without it,
against which latent frames read across a boundary (one-frame perturbations,
oracles.frames_read); the seam score against its definition."""

import math

import pytest
import torch

from assignments.a3_causal_vae.oracles import frames_read, tiny_vae


@pytest.mark.points(2)
def test_chunk_plan(impl):
    for factor in (4, 2):
        for k in (0, 1, 3, 8, 20):
            for c in (1, 2, 3, 8):
                frames = 1 + factor * k
                plan = impl.chunk_plan(frames, c, factor)
                where = f"frames {frames}, {c} latents a chunk, factor {factor}: {plan}"
                assert plan[0][0] == 0 and plan[-1][1] == frames, where
                assert all(a[1] == b[0] for a, b in zip(plan[:-1], plan[1:], strict=True)), where
                assert plan[0][1] == min(frames, 1 + factor * c), where
                sizes = [b - a for a, b in plan[1:]]
                assert all(0 < n <= factor * c and n % factor == 0 for n in sizes), where
                assert all(n == factor * c for n in sizes[:-1]), where
                assert len(plan) == 1 + max(0, math.ceil((k - c) / c)), where
    for bad in ((12, 2, 4), (0, 1, 4), (9, 0, 4), (10, 1, 2)):
        with pytest.raises(ValueError):
            impl.chunk_plan(*bad)


CASES = ((dict(time_kernel=2), 81, 8), (dict(time_kernel=2, pad_mode="zeros"), 61, 5),
         (dict(time_kernel=3), 29, 2))


def clip(frames, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, frames, 12, 8, generator=g, dtype=torch.float64) * 2 - 1


@pytest.mark.points(1)
def test_carrying_the_cache_gives_the_whole_clip(impl):
    for i, (options, frames, c) in enumerate(CASES):
        vae, x = tiny_vae("causal", 60 + i, **options), clip(frames, 70 + i)
        with torch.no_grad():
            whole = vae.encode(x).mean
        got = impl.encode_in_chunks(vae, x, c, carry_cache=True)
        torch.testing.assert_close(got, whole, rtol=1e-10, atol=1e-10)


def expected_damage(vae, frames, c):
    """[1 + k] bool: latent frame t (t > c, in chunk j >= 1, whose lead frame is 4·c·j) reads,
    by perturbation, a frame before that lead frame."""
    reads = frames_read(lambda x: vae.encode(x).mean, (1, 3, frames, 4, 4))  # [1 + k, frames]
    earliest = reads.float().argmax(dim=1)
    t = torch.arange(reads.shape[0])
    lead = torch.where(t > c, (t - 1) // c * 4 * c, 0)
    return earliest < lead


@pytest.mark.points(2)
def test_restarting_damages_the_latents_that_read_across_a_boundary(impl):
    for i, (options, frames, c) in enumerate(CASES[:2]):
        vae, x = tiny_vae("causal", 60 + i, **options), clip(frames, 80 + i)
        damaged = expected_damage(vae, frames, c)
        assert damaged.any() and not damaged.all()
        with torch.no_grad():
            whole = vae.encode(x).mean
        got = impl.encode_in_chunks(vae, x, c, carry_cache=False)
        assert got.shape == whole.shape, f"{tuple(got.shape)} != {tuple(whole.shape)}"
        differs = (got - whole).abs().amax(dim=(0, 1, 3, 4))
        assert torch.all(differs[~damaged] < 1e-10), (
            f"latent frames that read nothing before their chunk must equal the whole clip's: "
            f"{differs[~damaged].tolist()}")
        assert torch.all(differs[damaged] > 1e-8), (
            f"latent frames that read across a boundary cannot equal the whole clip's: "
            f"{differs[damaged].tolist()}")


@pytest.mark.points(1)
def test_damaged_latents(impl):
    for i, (options, frames, c) in enumerate(CASES):
        vae = tiny_vae("causal", 60 + i, **options)
        got = impl.damaged_latents(vae, frames, c)
        expected = expected_damage(vae, frames, c)
        assert torch.equal(got, expected), f"got {got.int().tolist()}, " \
                                           f"expected {expected.int().tolist()}"


def seam_by_definition(video, recon, plan):
    e = recon - video
    change = [(e[:, :, t + 1] - e[:, :, t]).pow(2).mean().item() for t in range(e.shape[2] - 1)]
    starts = {a for a, _ in plan[1:]}
    at = [v for t, v in enumerate(change) if t + 1 in starts]
    rest = [v for t, v in enumerate(change) if t + 1 not in starts]
    return (sum(at) / len(at)) / (sum(rest) / len(rest))


@pytest.mark.points(2)
def test_seam_score(impl):
    g = torch.Generator().manual_seed(90)
    video = clip(21, 91)[:, :, :, :5, :7]
    plan = [(0, 9), (9, 17), (17, 21)]
    white = 0.05 * torch.randn(video.shape, generator=g, dtype=torch.float64)
    offsets = torch.zeros(1, 1, 21, 1, 1, dtype=torch.float64)
    offsets[:, :, 9:], offsets[:, :, 17:] = 0.2, -0.1  # a jump into each later chunk
    for recon in (video + white, video + white + offsets, video + white.cumsum(dim=2)):
        got = impl.seam_score(video, recon, plan)
        expected = seam_by_definition(video, recon, plan)
        assert abs(got - expected) < 1e-9 * expected, f"{got} != {expected}"
    assert impl.seam_score(video, video + white + offsets, plan) > 5
    # the latent a denoiser would see: chunks restarted without the cache jump at each boundary
    vae, x = tiny_vae("causal", 60, time_kernel=2), clip(81, 92)
    with torch.no_grad():
        whole = vae.encode(x).mean
    restarted = impl.encode_in_chunks(vae, x, 8, carry_cache=False)
    latent_plan = [(0, 9), (9, 17), (17, 21)]
    assert impl.seam_score(whole, restarted, latent_plan) > 5

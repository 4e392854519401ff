"""Tasks 2.1 and 2.2: the forward process and the v-parameterisation, checked against vdlite's
NoiseSchedule (the course's reference) and against the rotation identities of (x_0, ε) ↔ (x_t, v).

The learner's functions get a schedule whose finished formulas are hidden (`hidden_formulas`):
they may read ᾱ_t, β_t and α_t from it, not call `schedule.q_sample` and the like.
"""

import pytest
import torch

from assignments.l02_diffusion._shared import SHAPE, TOL, draw, hidden_formulas
from vdlite.diffusion import NoiseSchedule


@pytest.mark.points(2)
def test_q_sample_matches_vdlite(impl):
    """Task 02.1: x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε, one t per clip: first, middle and last steps of
    both schedules."""
    x0, noise = draw(0, SHAPE, SHAPE)
    t = torch.tensor([0, 417, 999])
    for kind in ("linear", "cosine"):
        got = impl.q_sample(x0, t, noise, hidden_formulas(kind, 1000))
        want = NoiseSchedule(kind, 1000).q_sample(x0, t, noise)
        torch.testing.assert_close(got, want, **TOL)


@pytest.mark.points(1)
def test_q_sample_each_clip_its_own_level(impl):
    """Task 02.1: a batch of clips at different steps == each clip noised alone (B = 1 and
    B = 3 with a short schedule of 23 steps), and the result keeps x0's shape."""
    reference = NoiseSchedule("cosine", 23)
    schedule = hidden_formulas("cosine", 23)
    x0, noise = draw(1, SHAPE, SHAPE)
    t = torch.tensor([22, 5, 11])
    batch = impl.q_sample(x0, t, noise, schedule)
    assert batch.shape == x0.shape
    for b in range(SHAPE[0]):
        one = impl.q_sample(x0[b:b + 1], t[b:b + 1], noise[b:b + 1], schedule)
        want = reference.q_sample(x0[b:b + 1], t[b:b + 1], noise[b:b + 1])
        torch.testing.assert_close(one, want, **TOL)
        torch.testing.assert_close(batch[b:b + 1], want, **TOL)


@pytest.mark.points(2)
def test_v_target_matches_vdlite(impl):
    """Task 02.2a: v = √ᾱ_t ε − √(1−ᾱ_t) x_0, for both schedules."""
    x0, eps = draw(2, SHAPE, SHAPE)
    t = torch.tensor([999, 3, 500])
    for kind in ("linear", "cosine"):
        got = impl.v_target(x0, eps, t, hidden_formulas(kind, 1000))
        want = NoiseSchedule(kind, 1000).v_target(x0, eps, t)
        torch.testing.assert_close(got, want, **TOL)


@pytest.mark.points(1)
def test_v_to_x0_eps_matches_vdlite(impl):
    """Task 02.2b: x_0 = √ᾱ_t x_t − √(1−ᾱ_t) v and ε = √(1−ᾱ_t) x_t + √ᾱ_t v, for any
    (x_t, v), not only consistent ones."""
    reference = NoiseSchedule("cosine", 1000)
    x_t, v = draw(3, SHAPE, SHAPE)
    t = torch.tensor([250, 0, 999])
    x0, eps = impl.v_to_x0_eps(x_t, t, v, hidden_formulas("cosine", 1000))
    torch.testing.assert_close(x0, reference.v_to_x0(x_t, t, v), **TOL)
    torch.testing.assert_close(eps, reference.v_to_eps(x_t, t, v), **TOL)


@pytest.mark.points(1)
def test_v_to_x0_eps_recovers_x0_and_eps(impl):
    """Task 02.2b: from x_t = q_sample(x_0, t, ε) and v = v_target(x_0, ε, t) (vdlite's), the
    learner's inversion gives back exactly x_0 and ε (both schedules, 37 steps)."""
    x0, eps = draw(4, SHAPE, SHAPE)
    t = torch.tensor([36, 0, 18])
    for kind in ("linear", "cosine"):
        reference = NoiseSchedule(kind, 37)
        x_t, v = reference.q_sample(x0, t, eps), reference.v_target(x0, eps, t)
        got_x0, got_eps = impl.v_to_x0_eps(x_t, t, v, hidden_formulas(kind, 37))
        torch.testing.assert_close(got_x0, x0, **TOL)
        torch.testing.assert_close(got_eps, eps, **TOL)

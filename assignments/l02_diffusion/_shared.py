"""What both test files of this assignment share: the tensors' shape and tolerance, seeded
draws, and vdlite's schedule with its finished formulas hidden, so that a learner's function
must write each formula rather than call the package's."""

import torch

from vdlite.diffusion import NoiseSchedule

FINISHED = ("q_sample", "x0_to_eps", "eps_to_x0", "v_target", "v_to_x0", "v_to_eps",
            "pred_to_x0_eps", "posterior", "_coefs")
SHAPE = (3, 2, 5, 3, 7)  # [B, C, T, H, W]
TOL = dict(rtol=1e-10, atol=1e-10)  # float64 throughout


def hidden_formulas(kind: str, num_steps: int) -> NoiseSchedule:
    """vdlite's schedule with its betas, alphas, alpha_bars and alpha_bar(t), but with every
    finished formula (q_sample, v_target, posterior, ...) raising when called."""

    def hidden(name):
        def method(self, *args, **kwargs):
            raise AssertionError(f"schedule.{name} is hidden here: write the formula yourself")
        return method

    cls = type("HiddenFormulas", (NoiseSchedule,), {name: hidden(name) for name in FINISHED})
    return cls(kind, num_steps)


def draw(seed: int, *shapes):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen, dtype=torch.float64) for shape in shapes]

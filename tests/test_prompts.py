"""Prompt conditioning, measured: a briefly trained prompt-conditioned video DiT draws the
colour its prompt asks for far above chance.

The model (the demo's CPU DiT preset with the built-in text encoder, but per-position temporal
attention, radius 0, no fine patch and a constant learning rate, as when this test was first
measured) trains on one-sprite
clips captioned from their ground truth, with 10% condition dropout. It then samples clips
for prompts with random colours and directions, and `prompt_agreement` reads the colour
and direction back from each clip. Chance is 1/8 for the colour and 1/4 for the direction.

Claim checked: with classifier-free guidance at scale 3 the colour matches in at least half
of the clips (4x chance). The direction is printed, not asserted: at this budget the model
does not yet follow it (measured on this course's 2-core CPU: colour 1.00, direction 0.21;
on the H100: 1.00 and 0.25; chance is 0.25), the same weakness in motion that
`tests/test_flicker.py` and lesson 03 show.

Why radius 0: on the H100 (48 prompts, 25 DDIM steps) the preset's neighbourhood attention,
radius 1, learns the colour more slowly: colour 0.63 at scale 3 after 700 steps (0.98 after
1400) against 1.00 for radius 0 after 700; direction 0.15-0.31 either way. The 700-step
budget keeps this test near a minute on the CPU.
"""

import pytest
import torch

from vdlite.data import COLOUR_NAMES, MovingSprites
from vdlite.demo import demo_config
from vdlite.metrics import prompt_agreement
from vdlite.text import DIRECTIONS
from vdlite.train import caption_batches, sample, train

STEPS = 700


@pytest.mark.slow
def test_prompted_samples_follow_the_colour():
    cfg = demo_config("cpu", arch="dit", text=True, steps=STEPS, temporal_radius=0,
                      fine_patch=0, lr_schedule="constant")
    data = MovingSprites(num_clips=100_000, frames=cfg.frames, size=cfg.size, sprites=1,
                         seed=0)
    model, _ = train(cfg, caption_batches(data, cfg.batch, seed=0), progress=False)
    g = torch.Generator().manual_seed(1)
    n = 24
    colours = [COLOUR_NAMES[i] for i in torch.randint(len(COLOUR_NAMES), (n,), generator=g)]
    directions = [DIRECTIONS[i] for i in torch.randint(len(DIRECTIONS), (n,), generator=g)]
    prompts = [f"{'an' if c[0] in 'aeiou' else 'a'} {c} circle moving {d}"
               for c, d in zip(colours, directions, strict=True)]
    clips = sample(model, cfg, n, steps=20, seed=2, prompts=prompts, guidance_scale=3.0,
                   progress=False)
    score = prompt_agreement(clips, colours, directions)
    print(score)
    assert score["colour"] >= 0.5

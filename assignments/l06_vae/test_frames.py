"""Task 06.1: the 1 + f·k frame rule, against vdlite's CausalVAE.latent_frames and
vdlite.vae.nearest_valid_frames (exact integers)."""

import re

import pytest
import torch

from vdlite.vae import CausalVAE, nearest_valid_frames


def names(message: str, count: int) -> bool:
    """The message names `count` as a number of its own (45 is not found inside 145)."""
    return re.search(rf"(?<![\d.]){count}(?![\d.])", message) is not None


@pytest.mark.points(1)
def test_valid_counts_give_one_plus_k(impl):
    for factor in (1, 2, 4):
        vae = CausalVAE(base_channels=4, spatial_factor=4, temporal_factor=factor)
        for k in range(7):
            frames = 1 + factor * k
            got, expected = impl.latent_frames(frames, factor), vae.latent_frames(frames)
            assert got == expected, (
                f"{frames} frames, factor {factor}: got {got}, expected {expected}")
    for k in range(5):  # a factor no VAE of the course uses: the rule is the same
        assert impl.latent_frames(1 + 8 * k, 8) == 1 + k, (1 + 8 * k, 8)
    assert impl.latent_frames(49) == 13, "factor defaults to 4"


@pytest.mark.points(2)
def test_bad_counts_raise_naming_the_nearest_valid_ones(impl):
    vae = CausalVAE(base_channels=4, spatial_factor=4)
    for factor, counts in ((4, (0, -3, 2, 4, 8, 48, 50, 111)), (2, (0, 4, 30)), (8, (2, 16, 60))):
        for frames in counts:
            below, above = nearest_valid_frames(frames, factor)
            with pytest.raises(ValueError) as err:
                impl.latent_frames(frames, factor)
            message = str(err.value)
            for count in {below, above}:
                assert names(message, count), (
                    f"{frames} frames, factor {factor}: the message should name {count} "
                    f"(nearest valid counts {below} and {above}); it says {message!r}")
            if factor == 4 and frames >= 1:  # the package names the same two counts
                with pytest.raises(ValueError, match=f"{below} or {above}"):
                    vae.check_clip(torch.zeros(1, 3, frames, 4, 4))

"""The README's pictures exist and are what it says they are."""

import re
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_every_image_the_readme_shows_is_committed_and_the_demo_gif_animates():
    text = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert "docs/demo_cpu.gif" in images
    for path in images:
        assert (ROOT / path).is_file(), path
    with Image.open(ROOT / "docs" / "demo_cpu.gif") as gif:
        assert gif.n_frames == 8  # the CPU preset's clips have 8 frames
        width, height = gif.size
    assert width > 2 * height  # eight clips a row, three rows (real, video, frame)
    assert "make gifs" in text and "gifs:" in (ROOT / "Makefile").read_text()

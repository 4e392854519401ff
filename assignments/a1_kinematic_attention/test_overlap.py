"""Task A1.2: which frames a fixed square patch overlaps a square object moving at constant
velocity, against brute-force rasterisation: both squares drawn as sets of sub-pixel cells, an
overlap being a cell inside both. Positions and velocities lie on a quarter-pixel grid and the
cells' centres on odd multiples of 1/64, so a cell centre never falls on an edge and touching
squares (no common area) never count: the frames are compared exactly. The interval of real
times is compared with rasterisation sampled every 1/32 frame (to 0.15 frames), and its length
with (P + L) / max(|v_x|, |v_y|) for objects that pass through the patch's centre (to 1e-12)."""

import math

import pytest
import torch

FRAMES = 11
STEP = 1 / 32  # the cells' size, in pixels (centres at odd multiples of 1/64)


def raster_overlaps(centre, patch, start, size, velocity, times) -> torch.Tensor:
    """Whether the object overlaps the patch at each time of `times` [N] (float64): draw the
    patch as the cells whose centres lie in it, and keep a time if the object, drawn at that
    time, holds one of those cells. Returns bool [N]."""
    lo = [c - patch / 2 for c in centre]
    n = round(patch / STEP)
    axis = (torch.arange(n, dtype=torch.float64) + 0.5) * STEP  # [n]
    cells_x, cells_y = lo[0] + axis[None, :], lo[1] + axis[:, None]  # the patch's cells
    ox = start[0] + velocity[0] * times  # [N], the object's centre at each time
    oy = start[1] + velocity[1] * times
    in_x = (cells_x[None] - ox[:, None, None]).abs() < size / 2  # [N, 1, n]
    in_y = (cells_y[None] - oy[:, None, None]).abs() < size / 2  # [N, n, 1]
    return (in_x & in_y).flatten(1).any(dim=1)


def quarter(g: torch.Generator, lo: float, hi: float) -> float:
    """A random multiple of 1/4 in [lo, hi]."""
    return float(torch.randint(round(4 * lo), round(4 * hi) + 1, (), generator=g)) / 4


def random_cases(seed: int, count: int):
    g = torch.Generator().manual_seed(seed)
    for _ in range(count):
        centre = (quarter(g, 3, 9), quarter(g, 3, 9))
        start = (quarter(g, -4, 14), quarter(g, -4, 14))
        velocity = (quarter(g, -2, 2), quarter(g, -2, 2))
        yield centre, quarter(g, 1, 4), start, quarter(g, 1, 4), velocity


TOUCHING = [  # (centre, P, start, L, v): the object only touches the patch at some frames
    ((5.0, 5.0), 3.0, (0.0, 5.0), 1.0, (1.0, 0.0)),  # |t' - 5| < 2: frames 3 and 7 touch
    ((4.0, 6.0), 2.0, (4.0, 0.0), 2.0, (0.0, 1.0)),  # |t' - 6| < 2: frames 4 and 8 touch
    ((6.0, 6.0), 3.0, (0.5, 0.5), 2.0, (1.25, 1.25)),
    ((5.0, 3.0), 1.0, (10.5, 3.0), 2.0, (-0.75, 0.0)),  # |10.5 - 0.75 t' - 5| < 1.5
    ((5.0, 5.0), 2.0, (3.0, 8.0), 2.0, (0.0, 0.0)),  # still: touching at every frame
    ((2.0, 2.0), 3.0, (2.5, 9.0), 1.0, (0.5, -1.0)),  # passes beside: x overlaps, y sweeps
]


@pytest.mark.points(2)
def test_overlap_frames_match_rasterisation(impl):
    times = torch.arange(FRAMES, dtype=torch.float64)
    for case in TOUCHING + list(random_cases(730, 40)):
        centre, patch, start, size, velocity = case
        got = impl.overlap_frames(centre, patch, start, size, velocity, FRAMES)
        expected = raster_overlaps(centre, patch, start, size, velocity, times)
        assert got.dtype == torch.bool and got.shape == (FRAMES,), (
            f"expected a bool tensor [{FRAMES}], got {got.dtype} {tuple(got.shape)}")
        assert torch.equal(got, expected), (
            f"patch of side {patch} centred at {centre}, object of side {size} at {start} in "
            f"frame 0 moving by {velocity}: overlapping frames "
            f"{expected.nonzero().flatten().tolist()}, yours {got.nonzero().flatten().tolist()}")


@pytest.mark.points(2)
def test_overlap_interval_matches_sampled_rasterisation(impl):
    times = torch.arange(-40, 40, STEP, dtype=torch.float64)
    cases = [c for c in random_cases(731, 60) if max(map(abs, c[4])) >= 0.5][:10]
    cases += [((4.0, 4.0), 2.0, (9.0, 4.5), 3.0, (-1.5, 0.0)),  # along x, y always overlaps
              ((4.0, 4.0), 2.0, (9.0, 8.0), 1.5, (-1.5, 0.0)),  # along x, never overlaps in y
              ((4.0, 4.0), 3.0, (0.0, 1.0), 2.0, (1.0, 0.5))]
    for centre, patch, start, size, velocity in cases:
        where = f"patch {patch} at {centre}, object {size} at {start} moving by {velocity}"
        lo, hi = impl.overlap_interval(centre, patch, start, size, velocity)
        inside = times[raster_overlaps(centre, patch, start, size, velocity, times)]
        if len(inside) == 0:
            assert hi <= lo, f"{where}: they never overlap, but you give ({lo}, {hi})"
            continue
        first, last = float(inside[0]), float(inside[-1])
        assert abs(lo - first) < 0.15 and abs(hi - last) < 0.15, (
            f"{where}: rasterised, they overlap from t = {first:.3f} to {last:.3f}; yours "
            f"({lo:.3f}, {hi:.3f})")


@pytest.mark.points(1)
def test_overlap_lasts_patch_plus_object_over_speed(impl):
    for patch, size, velocity, t0 in ((3.0, 2.0, (1.5, 0.0), 4.0), (1.0, 3.0, (0.5, -2.0), 6.5),
                                      (2.0, 2.0, (-1.0, 1.0), 5.25), (4.0, 1.5, (0.75, 0.25), 5.0)):
        centre = (7.0, 7.0)
        start = (centre[0] - velocity[0] * t0, centre[1] - velocity[1] * t0)  # at the centre at t0
        lo, hi = impl.overlap_interval(centre, patch, start, size, velocity)
        length = (patch + size) / max(abs(velocity[0]), abs(velocity[1]))
        assert abs((hi - lo) - length) < 1e-12 and abs((lo + hi) / 2 - t0) < 1e-12, (
            f"patch {patch}, object {size}, v = {velocity}, through the patch's centre at t = "
            f"{t0}: the overlap lasts (P + L) / max(|v_x|, |v_y|) = {length} around {t0}; yours "
            f"({lo}, {hi})")
        count = int(impl.overlap_frames(centre, patch, start, size, velocity, 2 * FRAMES).sum())
        assert math.ceil(length) - 1 <= count <= math.ceil(length), (
            f"an open interval of {length} frames holds {math.ceil(length) - 1} or "
            f"{math.ceil(length)} whole frames; yours counts {count}")

"""Task 09.3: frames in a budget. Property: T frames fit and T + 1 do not, on budgets where the
division is not exact (and one where it is)."""

import pytest


@pytest.mark.points(2)
def test_the_most_frames_that_fit(impl):
    cases = ((1000, 100, 7), (1000, 100, 9), (2**30, 3.1e8, 1.3e6), (5e9, 2e8, 9.7e6),
             (50, 60, 1), (100, 0, 101))
    for budget, fixed, per_frame in cases:
        T = impl.frames_in_budget(budget, fixed, per_frame)
        where = f"budget={budget}, fixed={fixed}, per_frame={per_frame}"
        assert isinstance(T, int) and T >= 0, f"{where}: got {T!r}"
        assert fixed + per_frame * (T + 1) > budget, f"{where}: {T + 1} frames fit too"
        assert T == 0 or fixed + per_frame * T <= budget, f"{where}: {T} frames do not fit"

"""Task 04.2: the online softmax step against a float64 softmax over the whole row: keys fed
in blocks of odd sizes (1, 3, 7, ...), scores large enough to overflow exp, and the running
(m, l) after every block against the max and the sum of exp(x - max) of the keys seen."""

import pytest
import torch

f64 = torch.float64
BLOCKS = [(1, 3, 7, 2, 11, 5), (16, 16, 16, 2), (29,), (4, 1, 1, 9, 6, 8)]


def fold(impl, x, v, sizes):
    """Run the update over the blocks of `sizes`; yields (keys seen, m, l, acc) after each."""
    R, D = x.shape[0], v.shape[1]
    m = torch.full((R,), float("-inf"), dtype=f64)
    l, acc = torch.zeros(R, dtype=f64), torch.zeros(R, D, dtype=f64)
    start = 0
    for n in sizes:
        m, l, acc = impl.online_softmax_update(m, l, acc, x[:, start:start + n],
                                               v[start:start + n])
        start += n
        yield start, m, l, acc


@pytest.mark.points(2)
def test_blocks_give_the_whole_softmax(impl):
    g = torch.Generator().manual_seed(430)
    for scale in (1.0, 300.0):  # 300: exp of the raw scores overflows float64
        for sizes in BLOCKS:
            n = sum(sizes)
            x = scale * torch.randn(5, n, generator=g, dtype=f64)
            v = torch.randn(n, 6, generator=g, dtype=f64)
            *_, (_, _, l, acc) = fold(impl, x, v, sizes)
            expected = torch.softmax(x, -1) @ v
            where = f"blocks {sizes}, scores x {scale}"
            torch.testing.assert_close(acc / l[:, None], expected, rtol=1e-10, atol=1e-12,
                                       msg=lambda m, w=where: f"{w}: {m}")


@pytest.mark.points(1)
def test_the_running_max_and_sum_after_every_block(impl):
    g = torch.Generator().manual_seed(431)
    x = 4 * torch.randn(3, 21, generator=g, dtype=f64)
    x[:, 10:] += 8  # a later block raises the max: what came before must be rescaled
    v = torch.randn(21, 4, generator=g, dtype=f64)
    for seen, m, l, acc in fold(impl, x, v, (3, 7, 1, 10)):
        top = x[:, :seen].max(-1).values
        torch.testing.assert_close(m, top, rtol=0, atol=0, msg=f"m after {seen} keys")
        weights = torch.exp(x[:, :seen] - top[:, None])
        torch.testing.assert_close(l, weights.sum(-1), rtol=1e-12, atol=1e-12,
                                   msg=f"l after {seen} keys")
        torch.testing.assert_close(acc, weights @ v[:seen], rtol=1e-12, atol=1e-12,
                                   msg=f"acc after {seen} keys")

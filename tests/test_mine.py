"""`assignments.mine.check`: the one-line comparison a lesson runs on the learner's code.

Each verdict is checked against the stub (None), the reference solution (True), a plausible
wrong answer (False) and a raising or missing function (False), on an odd shape."""

import types

import torch

from assignments.l01_conv3d import solution, wrong_weight_order
from assignments.mine import check

X = torch.randn(1, 3, 5, 6, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
W = torch.randn(2, 3, 3, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
REF = torch.nn.functional.conv3d(X, W)


def run(capsys, **kwargs):
    result = check("l01_conv3d", "conv3d", lambda f: f(X, W), REF, atol=1e-12, **kwargs)
    return result, capsys.readouterr().out.strip()


def test_stub_is_not_written_yet(capsys):
    result, out = run(capsys)
    assert result is None and out.startswith("your conv3d: not written yet (Task 01.")


def test_solution_matches(capsys):
    result, out = run(capsys, module=solution)
    assert result is True and out.startswith("your conv3d: matches") and "allowed 1e-12" in out


def test_wrong_answer_differs(capsys):
    result, out = run(capsys, module=wrong_weight_order)
    assert result is False and "differs from" in out


def test_wrong_shape_raise_and_missing(capsys):
    shape = types.SimpleNamespace(conv3d=lambda x, w: REF[:, :, 1:])
    assert run(capsys, module=shape)[0] is False
    raising = types.SimpleNamespace(conv3d=lambda x, w: 1 / 0)
    result, out = run(capsys, module=raising)
    assert result is False and "raised ZeroDivisionError" in out
    result, out = run(capsys, module=types.SimpleNamespace())
    assert result is False and "has no conv3d" in out


def test_numbers_and_tuples(capsys):
    fake = types.SimpleNamespace(pairs=lambda: (3, torch.tensor([1.0, 2.0])))
    assert check("l03_attention", "pairs", lambda f: f(), (3, torch.tensor([1.0, 2.0])),
                 module=fake) is True
    assert check("l03_attention", "pairs", lambda f: f(), (4, torch.tensor([1.0, 2.0])),
                 module=fake) is False
    assert check("l03_attention", "pairs", lambda f: f(), [3], module=fake) is False
    capsys.readouterr()

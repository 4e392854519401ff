"""Run a lesson's check on the learner's own code, one line of output per check.

A lesson writes each function in its cells and checks it against an oracle; the cell after
calls `check` to run the same inputs through the learner's version in
`assignments/<assignment>/student.py` and compare:

    check("l01_conv3d", "conv3d", lambda f: f(x, w, b, stride=(1, 2, 1)), ref, atol=1e-12)

prints one of
    your conv3d: not written yet (Task 01.3: ...)
    your conv3d: matches the lesson's answer (max |difference| 3.6e-15, allowed 1e-12)
    your conv3d: differs from the lesson's answer (max |difference| 0.51, allowed 1e-12)
    your conv3d raised ValueError: ...
"""

import importlib
import math
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch


def student(assignment: str) -> ModuleType:
    """`assignments/<assignment>/student.py`, imported afresh so that edits are seen."""
    name = f"assignments.{assignment}.student"
    if name in sys.modules:
        return importlib.reload(sys.modules[name])
    return importlib.import_module(name)


def check(assignment: str, name: str, call: Callable[[Callable], Any], expected: Any, *,
          atol: float = 0.0, rtol: float = 0.0, module: ModuleType | None = None) -> bool | None:
    """Run `call(fn)` with `fn` the learner's `name` and compare the result with `expected`.

    Tensors must match in shape and satisfy |got - expected| <= atol + rtol·|expected|
    elementwise; numbers likewise; tuples and lists element by element. `module` replaces the
    learner's student.py (the tests use it). Returns True (matches), False (differs, raised,
    or student.py does not import) or None (the stub still raises NotImplementedError).
    """
    if module is None:
        try:
            module = student(assignment)
        except Exception as err:  # a syntax error or a failing import in student.py
            print(f"your assignments/{assignment}/student.py does not import: "
                  f"{type(err).__name__}: {err}")
            return False
    fn = getattr(module, name, None)
    if fn is None:
        print(f"your assignments/{assignment}/student.py has no {name}")
        return False
    try:
        got = call(fn)
    except NotImplementedError as err:
        print(f"your {name}: not written yet ({err})")
        return None
    except Exception as err:
        print(f"your {name} raised {type(err).__name__}: {err}")
        return False
    worst, diff, problem = _difference(got, expected, atol, rtol)
    if problem:
        print(f"your {name}: differs from the lesson's answer ({problem})")
        return False
    verdict = "matches" if worst <= 1.0 else "differs from"
    allowed = f"{atol:g}" + (f" + {rtol:g}·|expected|" if rtol else "")
    print(f"your {name}: {verdict} the lesson's answer "
          f"(max |difference| {diff:.2g}, allowed {allowed})")
    return worst <= 1.0


def _difference(got: Any, expected: Any, atol: float, rtol: float) -> tuple[float, float, str]:
    """(the largest |got - expected| / (atol + rtol·|expected|) over all elements, with 0/0 = 0;
    the largest |got - expected|; why the two cannot be compared, or "")."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return math.inf, math.inf, f"expected {len(expected)} results, got {_kind(got)}"
        parts = [_difference(g, e, atol, rtol) for g, e in zip(got, expected, strict=True)]
        problems = "; ".join(p for _, _, p in parts if p)
        worst = max((w for w, _, _ in parts), default=0.0)
        return worst, max((d for _, d, _ in parts), default=0.0), problems
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return math.inf, math.inf, f"expected a tensor, got {_kind(got)}"
        if got.shape != expected.shape:
            return math.inf, math.inf, f"shape {list(got.shape)}, expected {list(expected.shape)}"
        if not got.numel():
            return 0.0, 0.0, ""
        diff = (got.double() - expected.double()).abs()
        allowed = atol + rtol * expected.double().abs()
        ratio = torch.where(diff == 0, torch.zeros_like(diff), diff / allowed)
        return ratio.max().item(), diff.max().item(), ""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, (int, float)):
        return math.inf, math.inf, f"expected a number, got {_kind(got)}"
    diff, allowed = abs(got - expected), atol + rtol * abs(expected)
    return (0.0 if diff == 0 else math.inf if allowed == 0 else diff / allowed), diff, ""


def _kind(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__

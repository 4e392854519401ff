"""Files a learner trades: saves that never leave a half-written file, loads that run no code.

- `atomic_save(obj, path)`: `torch.save` into a temporary file in the same folder, flushed to
  disk (fsync), then renamed over `path` (`os.replace`, atomic on POSIX and Windows). A
  process killed at any moment leaves either the old file or the new one, never a torn one.
- `load_weights(path, what)`: `torch.load(weights_only=True)`, which unpickles only tensors
  and plain containers (dict, list, tuple, str, int, float, bool, None), so a checkpoint from
  someone else cannot run code on this machine. Every way a file can be wrong (missing, a
  folder, not a PyTorch file, truncated, holding other objects) becomes one `CheckpointError`
  line that names the file and says what was expected.
- `check_fields(cls, values, path)`: a dataclass (a training config) rebuilt from such a
  file field by field, each value checked against its annotated type.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A file that is not what it should be: one line naming the file and what was expected."""


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save(obj, path)`, all or nothing: write `.NAME.*.tmp` beside `path`, fsync it,
    rename it over `path`, then fsync the folder so the rename itself survives a power cut."""
    _atomic_write(path, lambda f: torch.save(obj, f), "wb")


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    """Write `text` to `path` all or nothing, as `atomic_save` does for tensors."""
    _atomic_write(path, lambda f: f.write(text), "w")


def _atomic_write(path: str | os.PathLike, write, mode: str) -> None:
    """`write(f)` into a temporary file beside `path` opened with `mode`, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # POSIX: make the rename durable
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load_weights(path: str | os.PathLike, what: str = "a vdlite checkpoint",
                 device: str | torch.device = "cpu") -> Any:
    """Load `path` with `torch.load(weights_only=True)`; any failure is a `CheckpointError`
    (FileNotFoundError for a missing file) naming the file and `what` it should have been."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"not found: {path} (expected {what} there)")
    if not path.is_file():
        raise CheckpointError(f"{path} is a folder, not {what}")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch.load's errors for a file it cannot parse are many
        code = re.search(r"GLOBAL ([\w.]+)", str(err))
        if isinstance(err, pickle.UnpicklingError) and code:
            raise CheckpointError(
                f"{path} would run {code.group(1)} when loaded: vdlite loads only tensors and "
                f"plain values (torch.load with weights_only=True), so it refuses this file "
                f"(expected {what})") from None
        with open(path, "rb") as f:
            zipped = f.read(4) == b"PK\x03\x04"
        reason = "truncated or corrupt" if zipped else "not a file written by torch.save"
        raise CheckpointError(f"{path} is not {what}: {reason} "
                              f"({one_line(err, 120)})") from None


def one_line(err: BaseException, limit: int = 200) -> str:
    """`err` as one line for an error message: its type, its message's first line and, when
    longer, its last (where ffmpeg, say, puts the cause), cut to `limit` characters."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = " ... ".join(dict.fromkeys(lines[:1] + lines[-1:]))
    text = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_fields(cls: type, values: object, path: str | os.PathLike) -> Any:
    """Rebuild dataclass `cls` from `values` (a dict from `dataclasses.asdict`), checking each
    field: an unknown name, or a value not of the field's annotated type (str, int, float,
    bool, or a tuple of ints) is a `CheckpointError`; a missing field takes its default (a
    file from before the field existed); `cls`'s own checks then run on the values."""
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: its config must be a dict of fields, got "
                              f"{type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields), key=str)
    if unknown:
        raise CheckpointError(f"{path}: unknown config field(s) {', '.join(map(str, unknown))} "
                              "(written by a newer vdlite?)")
    for name, value in values.items():
        if not _is_type(value, fields[name].type):
            raise CheckpointError(f"{path}: config field {name!r} must be "
                                  f"{fields[name].type}, got {value!r}")
    try:
        return cls(**values)
    except ValueError as err:
        raise CheckpointError(f"{path}: bad config: {err}") from None


def _is_type(value: object, annotation: str) -> bool:
    """Whether `value` fits a field annotated `annotation` (annotations are strings here)."""
    if annotation == "bool":
        return isinstance(value, bool)
    if annotation == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation == "float":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if annotation == "str":
        return isinstance(value, str)
    if annotation == "tuple[int, ...]":
        return isinstance(value, (tuple, list)) and all(_is_type(v, "int") for v in value)
    raise TypeError(f"no check for fields annotated {annotation!r}")

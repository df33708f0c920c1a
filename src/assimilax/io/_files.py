"""Small file helpers: atomic text writes, JSON with non-finite numbers as null."""

import json
import math
import os
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    A reader never sees a half-written file; an interrupted write leaves the old one.
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temporary_path(path: Path) -> Path:
    """A hidden sibling of ``path`` to write to before renaming (created with the umask)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically; NaN and infinities become ``null``."""
    text = json.dumps(_finite_or_none(data), indent=2, allow_nan=False) + "\n"
    write_text_atomic(path, text)


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON object from ``path``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class RunFileError(RuntimeError):
    """A file of a run or sweep in progress cannot be read or written."""


class CorruptRunFileError(RunFileError):
    """A file of an unfinished run or sweep (``checkpoint.npz``, ``partial.zarr``, a sweep
    store, a hybrid run's checkpoint) is corrupt or truncated; nothing was changed."""

    def __init__(self, path: str | os.PathLike, reason: object):
        self.path = Path(path)
        super().__init__(
            f"{self.path} is corrupt or truncated ({reason}); nothing was changed. Run the "
            "same command with --restart (Python: restart=True) to discard the earlier "
            "progress in that directory and compute from the start.")


class ProgressWriteError(RunFileError):
    """Writing the progress of a run or sweep failed (a full disk, ...); what was written
    before is intact and the same command resumes from it."""

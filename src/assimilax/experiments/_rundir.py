"""The run directory: reuse a finished run of the same config, refuse anything else."""

from __future__ import annotations

import os
import tomllib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import io as rio
from ._summary import Summary

if TYPE_CHECKING:
    from .config import Config

_names = rio.names


class RunDirError(RuntimeError):
    """The output directory holds something else than a run of this config."""


def previous_run(config: Config, out_dir: Path) -> Summary | None:
    """A finished run of ``config`` in ``out_dir``; ``None`` if there is nothing to reuse.

    Raises:
        RunDirError: ``out_dir`` holds a run of another config, or is not a run directory.
    """
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        raise RunDirError(f"{out_dir} exists and is not a directory.")
    summary_path = out_dir / _names.SUMMARY_FILE
    config_path = out_dir / _names.CONFIG_FILE
    if summary_path.is_file():
        data = rio.read_json(summary_path)
        same_config(config, data.get("config"), out_dir)
        return Summary.from_dict(data, out_dir=out_dir, reused=True)
    if config_path.is_file():  # an unfinished run: resumed from scratch if it is ours
        same_config(config, tomllib.loads(config_path.read_text(encoding="utf-8")), out_dir)
        return None
    if any(out_dir.iterdir()):
        raise RunDirError(
            f"{out_dir} is not empty and holds no assimilax run; choose another --out."
        )
    return None


def check_writable(out_dir: Path, what: str = "run", *, keep: bool = True) -> None:
    """Create ``out_dir`` (with its parents) and prove a file can be written there, before
    anything is computed; with ``keep=False`` the directories created for the proof are
    removed again (nothing is left when a later check fails).

    Raises:
        RunDirError: the directory cannot be created or written (read-only, no space, a
            file in the way); the message names it and the reason.
    """
    probe = out_dir / f".assimilax-write-test-{uuid.uuid4().hex[:8]}"
    created = [d for d in (out_dir, *out_dir.parents) if not d.exists()]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        raise RunDirError(f"cannot write the {what} into {out_dir}: {err.strerror or err}; "
                          "nothing was computed. Choose another --out (or free space)."
                          ) from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
        if not keep:
            for directory in created:  # innermost first
                try:
                    directory.rmdir()
                except OSError:
                    break


def same_config(config: Config, stored: Any, out_dir: Path) -> None:
    """Return if ``stored`` (a config as a dict) is ``config``'s.

    Raises:
        RunDirError: it is not; the message lists the keys that differ.
    """
    ours = config.to_dict()
    if stored == ours:
        return
    stored = stored if isinstance(stored, dict) else {}
    diffs = []
    for section in dict.fromkeys([*stored, *ours]):
        there, here = stored.get(section) or {}, ours.get(section) or {}
        for key in dict.fromkeys([*there, *here]):
            if there.get(key) != here.get(key):
                diffs.append(f"  [{section}] {key}: {format_value(there.get(key))} there, "
                             f"{format_value(here.get(key))} here")
    raise RunDirError(
        f"{out_dir} holds a run of a different configuration; nothing was changed. "
        "Choose another --out, or delete that directory to replace it.\n" + "\n".join(diffs)
    )


def format_value(value: Any) -> str:
    """A config value as TOML writes it, ``(absent)`` for ``None``."""
    if value is None:
        return "(absent)"
    try:
        return rio.toml_value(value)
    except (TypeError, ValueError):
        return repr(value)

"""Checkpoints on disk: the states the core hands to its callbacks, written and read back.

The core (:func:`assimilax.ml.fit`, :meth:`assimilax.hybrid.IterativeEmulation.run`) never
opens a file: it calls ``on_checkpoint`` / ``on_iteration`` with a state and continues from
one given as ``resume``. These helpers are the ring's side:

- :func:`write_fit_state` / :func:`read_fit_state`: a :class:`~assimilax.ml.FitState` in
  ``DIR/state.npz`` (its arrays, and its other fields as JSON inside the same file, so the
  two can never disagree) and ``DIR/state.json`` (the same fields, for people);
- :func:`write_step` / :func:`read_step`: the checkpoint of one step of a long loop in
  ``DIR/step_<k>/`` — a pytree by ``eqx.tree_serialise_leaves`` (read back into the
  structure of a template), named arrays (``.npz``) and JSON metadata — then
  ``DIR/latest.json`` pointing at it, replaced atomically; the previous step's folder is
  removed, so an interruption at any moment leaves the last complete step readable.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import PyTree

from ..ml.training import FitState, History
from ._files import CorruptRunFileError, temporary_path, write_text_atomic

FIT_STATE_FILE = "state.npz"
FIT_META_FILE = "state.json"
LATEST_FILE = "latest.json"
_TREE_FILE = "tree.eqx"
_ARRAYS_FILE = "arrays.npz"
_META_FILE = "meta.json"
_FIT_PARTS = ("params", "opt_state", "best_params")


def _fit_meta(state: FitState) -> dict[str, Any]:
    return {
        "epochs_done": state.epochs_done,
        "history": dataclasses.asdict(state.history),
        "best_val": state.best_val,
        "since_best": state.since_best,
        "finished_early": state.finished_early,
        "fingerprint": state.fingerprint,
    }


def write_fit_state(directory: str | os.PathLike, state: FitState) -> None:
    """Write ``state`` (from ``fit(..., on_checkpoint=...)``) into ``directory``.

    ``state.npz`` holds everything (replaced atomically); ``state.json`` repeats the
    non-array fields for people.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = json.dumps(_fit_meta(state), indent=1)
    arrays = {f"{part}_{i}": np.asarray(a)
              for part in _FIT_PARTS for i, a in enumerate(getattr(state, part))}
    path = directory / FIT_STATE_FILE
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.array(meta), **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    write_text_atomic(directory / FIT_META_FILE, meta)


def read_fit_state(directory: str | os.PathLike) -> FitState | None:
    """The :class:`~assimilax.ml.FitState` written into ``directory``, or None if none is."""
    path = Path(directory) / FIT_STATE_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            parts = {}
            for part in _FIT_PARTS:
                count = sum(1 for k in data.files if k.rsplit("_", 1)[0] == part)
                parts[part] = tuple(data[f"{part}_{i}"] for i in range(count))
    except Exception as err:  # noqa: BLE001 - BadZipFile, EOFError, KeyError, ValueError...
        raise CorruptRunFileError(path, f"{type(err).__name__}: {err}") from None
    return FitState(**parts, epochs_done=meta["epochs_done"],
                    history=History.from_dict(meta["history"]), best_val=meta["best_val"],
                    since_best=meta["since_best"], finished_early=meta["finished_early"],
                    fingerprint=meta["fingerprint"])


@dataclasses.dataclass(frozen=True)
class StepCheckpoint:
    """One step read back by :func:`read_step`.

    Attributes:
        step: the step (iteration) it was written after.
        tree: the pytree, in the structure of the template given to :func:`read_step`.
        arrays: the named arrays.
        meta: the JSON metadata.
    """

    step: int
    tree: Any
    arrays: dict[str, np.ndarray]
    meta: Any


def _step_folder(step: int) -> str:
    return f"step_{step:03d}"


def write_step(
    directory: str | os.PathLike,
    step: int,
    *,
    tree: PyTree = None,
    arrays: Mapping[str, np.ndarray] | None = None,
    meta: Any = None,
) -> None:
    """Write the checkpoint of step ``step`` into ``directory`` (see the module docstring).

    Args:
        directory: the checkpoint directory (created).
        step: the step (iteration) just finished.
        tree: a pytree written with ``eqx.tree_serialise_leaves`` (arrays and Python
            scalars; read back into a template of the same structure).
        arrays: named NumPy arrays (any shapes).
        meta: JSON-able metadata (NaN allowed).
    """
    directory = Path(directory)
    folder = directory / _step_folder(step)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    eqx.tree_serialise_leaves(folder / _TREE_FILE, tree)
    with open(folder / _ARRAYS_FILE, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in (arrays or {}).items()})
    (folder / _META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    write_text_atomic(directory / LATEST_FILE,
                      json.dumps({"step": step, "folder": folder.name}))
    for other in directory.glob("step_*"):  # keep the latest only: they can be large
        if other.is_dir() and other.name != folder.name:
            shutil.rmtree(other)


def read_step(directory: str | os.PathLike, *, like: PyTree = None) -> StepCheckpoint | None:
    """The latest step written into ``directory`` by :func:`write_step`, or None.

    Args:
        directory: the checkpoint directory.
        like: a pytree of the structure of the written ``tree`` (its values are replaced).

    Raises:
        CorruptRunFileError: the latest step's files are missing, truncated or unreadable.
    """
    directory = Path(directory)
    latest = directory / LATEST_FILE
    if not latest.is_file():
        return None
    where = latest
    try:
        pointer = json.loads(latest.read_text(encoding="utf-8"))
        if not isinstance(pointer, dict) or "folder" not in pointer or "step" not in pointer:
            raise ValueError(f"{LATEST_FILE} names no step folder")
        folder = where = directory / str(pointer["folder"])
        tree = eqx.tree_deserialise_leaves(folder / _TREE_FILE, like)
        with np.load(folder / _ARRAYS_FILE) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads((folder / _META_FILE).read_text(encoding="utf-8"))
    except Exception as err:  # noqa: BLE001 - truncated, missing, not JSON, other shapes
        raise CorruptRunFileError(where, f"{type(err).__name__}: {err}") from None
    return StepCheckpoint(pointer["step"], tree, arrays, meta)


NETWORKS_DIR = "networks"
"""The folder of a run directory that holds its trained networks, ``<name>.eqx`` each."""


def write_network(path: str | os.PathLike, network: Any) -> None:
    """Write a trained network (any equinox module) by ``eqx.tree_serialise_leaves``,
    atomically (written aside, then renamed). Its structure is not stored: it is rebuilt
    from the run's config (:func:`assimilax.experiments.load_network`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        eqx.tree_serialise_leaves(tmp, network)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_network(path: str | os.PathLike, like: Any) -> Any:
    """A network written by :func:`write_network`, in the structure of ``like``."""
    return eqx.tree_deserialise_leaves(Path(path), like)

"""The files of a run in progress: per-cycle records in Zarr, the carried state in a checkpoint.

A long run writes what it has computed as it goes, so that an interruption (even
``kill -9``) loses at most the cycles since the last flush:

- ``partial.zarr`` holds every per-cycle record (``(time,)`` series, ``(time, x)``
  states, ``(time, bin)`` rank counts), allocated for the whole run and written by
  regions; ``xarray.open_zarr`` reads it while the run goes on.
- ``checkpoint.npz`` holds the number of cycles safely written and the state the
  assimilation carries into the next cycle (ensemble, smoother buffer), replaced
  atomically *after* the records it vouches for. Records beyond its count are ignored
  and rewritten on resume.

Both are removed once ``results.nc`` and ``summary.json`` are written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import zarr

from ._files import CorruptRunFileError, temporary_path

PARTIAL_STORE = "partial.zarr"
CHECKPOINT_FILE = "checkpoint.npz"
_DONE = "__done__"
_LEAF = "leaf_"


def create_partial_store(
    out_dir: str | os.PathLike,
    arrays: Mapping[str, tuple[tuple[int, ...], Sequence[str], np.dtype]],
    *,
    chunk_cycles: int,
    attrs: Mapping[str, object],
) -> None:
    """Allocate ``partial.zarr`` for a whole run (any previous one is replaced).

    Args:
        out_dir: the run directory.
        arrays: name -> (shape, dimension names, dtype); the first dimension is time.
        chunk_cycles: Zarr chunk length along time (the runner's compiled chunk length,
            so that every flush writes whole chunks).
        attrs: store attributes (config, seed, version, git commit).
    """
    path = Path(out_dir) / PARTIAL_STORE
    group = zarr.open_group(str(path), mode="w")
    for name, (shape, dims, dtype) in arrays.items():
        dtype = np.dtype(dtype)
        fill = np.nan if dtype.kind == "f" else 0
        group.create_array(
            name, shape=shape, chunks=(chunk_cycles, *shape[1:]), dtype=dtype,
            fill_value=fill, dimension_names=list(dims),
        )
    group.attrs.update(dict(attrs))


def write_partial(
    out_dir: str | os.PathLike, start: int, records: Mapping[str, np.ndarray]
) -> None:
    """Write per-cycle ``records`` (each with ``stop - start`` rows) at cycles ``start:``."""
    group = zarr.open_group(str(Path(out_dir) / PARTIAL_STORE), mode="r+")
    for name, values in records.items():
        group[name][start : start + values.shape[0]] = values


def read_partial(out_dir: str | os.PathLike, done: int) -> dict[str, np.ndarray]:
    """The first ``done`` rows of every record in ``partial.zarr``."""
    path = Path(out_dir) / PARTIAL_STORE
    try:
        group = zarr.open_group(str(path), mode="r")
        records = {name: np.asarray(array[:done]) for name, array in group.arrays()}
    except Exception as err:  # noqa: BLE001 - any unreadable store is reported alike
        raise CorruptRunFileError(path, f"{type(err).__name__}: {err}") from None
    if not records or any(v.shape[:1] != (done,) for v in records.values()):
        raise CorruptRunFileError(path, f"it does not hold the {done} cycles of its checkpoint")
    return records


def save_checkpoint(out_dir: str | os.PathLike, done: int, leaves: Sequence[np.ndarray]) -> None:
    """Atomically record ``done`` cycles and the carried state's array ``leaves``."""
    path = Path(out_dir) / CHECKPOINT_FILE
    tmp = temporary_path(path)
    payload = {_DONE: np.asarray(done, np.int64)}
    payload.update({f"{_LEAF}{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)})
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(out_dir: str | os.PathLike) -> tuple[int, list[np.ndarray]] | None:
    """``(done, leaves)`` of the checkpoint in ``out_dir``; ``None`` if there is none (or
    no partial store to go with it).

    Raises:
        CorruptRunFileError: the checkpoint cannot be read (truncated, not an ``.npz``).
    """
    out_dir = Path(out_dir)
    path = out_dir / CHECKPOINT_FILE
    if not path.is_file() or not (out_dir / PARTIAL_STORE).is_dir():
        return None
    try:
        with np.load(path) as data:
            done = int(data[_DONE])
            n = sum(1 for key in data.files if key.startswith(_LEAF))
            leaves = [np.asarray(data[f"{_LEAF}{i}"]) for i in range(n)]
    except Exception as err:  # noqa: BLE001 - BadZipFile, EOFError, KeyError, ValueError...
        raise CorruptRunFileError(path, f"{type(err).__name__}: {err}") from None
    return done, leaves


def remove_partial(out_dir: str | os.PathLike) -> None:
    """Remove ``partial.zarr`` and ``checkpoint.npz`` (after the final files are written)."""
    out_dir = Path(out_dir)
    (out_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    shutil.rmtree(out_dir / PARTIAL_STORE, ignore_errors=True)

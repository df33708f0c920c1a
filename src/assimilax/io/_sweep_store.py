"""``sweep.zarr``: the time means of every point of a sweep, on the sweep's axes.

One Zarr store (format 2, consolidated metadata) whose dimensions are the sweep axes and
whose coordinates are the swept values, so that
``xr.open_zarr(path)["rmse_analysis"].sel(inflation=1.02)`` works. The store is created
in full at the start of a sweep (every variable at its fill value, ``done`` false) and
filled batch by batch as the points finish; a batch writes its values first and its
``done`` flags last, every chunk file through a temporary file and a rename, so that a
sweep killed at any moment leaves points that are either done or to be recomputed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ._files import CorruptRunFileError

STORE = "sweep.zarr"
"""The store's name inside a sweep directory."""

SEED = "seed"
"""The dimension of the ``seeds`` axis."""

#: Per-point variables: ``name: (dtype, fill value, long name, units)``.
VARIABLES: dict[str, tuple[Any, Any, str, str | None]] = {
    "rmse_analysis": (np.float64, np.nan, "time-mean RMSE of the analysis mean after burn-in "
                      "(NaN when diverged)", "state units"),
    "rmse_analysis_ci95": (np.float64, np.nan, "half-width of the 95 % interval of "
                           "rmse_analysis (autocorrelation-corrected)", "state units"),
    "rmse_forecast": (np.float64, np.nan, "time-mean RMSE of the forecast mean after burn-in",
                      "state units"),
    "spread_analysis": (np.float64, np.nan, "time-mean analysis ensemble spread after burn-in",
                        "state units"),
    "spread_forecast": (np.float64, np.nan, "time-mean forecast ensemble spread after burn-in",
                        "state units"),
    "diverged": (np.bool_, False, "the filter lost the truth (non-finite analysis, or RMSE "
                 "over 100 cycles above the climatological RMS); its errors are NaN", None),
    "diverged_at_cycle": (np.int64, -1, "cycle at which divergence was detected (-1: none)",
                          None),
    "climatological_rms": (np.float64, np.nan, "the truth's climatological RMS", "state units"),
    "n_cycles": (np.int64, 0, "analysis cycles run", None),
    "wall_time_s": (np.float64, np.nan, "share of its batch's wall time (twin, compilation "
                    "and assimilation of all the batch's points, divided by their number)", "s"),
    "batch": (np.int64, -1, "the vmapped batch that computed the point", None),
    "done": (np.bool_, False, "the point's results are written", None),
}

ERRORS = ("rmse_analysis", "rmse_analysis_ci95", "rmse_forecast", "spread_analysis",
          "spread_forecast")
"""Variables set to NaN for a point whose filter diverged (and a method's own series)."""


def _zarr():
    import zarr  # on first use: reading a config needs no Zarr

    return zarr


def create_sweep_store(
    path: str | os.PathLike,
    *,
    coords: Mapping[str, Sequence[Any]],
    variables: Sequence[str],
    chunks: Sequence[int],
    attrs: Mapping[str, Any],
    extra: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """Create an empty sweep store at ``path`` (atomically: written aside, then renamed).

    Args:
        path: the store (``DIR/sweep.zarr``); must not exist.
        coords: ``{dimension: values}`` in the order of the dimensions.
        variables: names from :data:`VARIABLES` (``done`` is always added).
        extra: further float variables (NaN until written), ``name -> (long name,
            units)``: the time means of a method's own scalar series, a hybrid method's
            statistics.
        chunks: chunk length along each dimension.
        attrs: global attributes (JSON-serialisable).
    """
    path = Path(path)
    dims = tuple(coords)
    shape = tuple(len(v) for v in coords.values())
    data_vars = {}
    definitions = dict(VARIABLES)
    for name, (long_name, units) in (extra or {}).items():
        definitions[name] = (np.float64, np.nan, long_name, units)
    for name in dict.fromkeys([*variables, *(extra or {}), "done"]):
        dtype, fill, long_name, units = definitions[name]
        var_attrs = {"long_name": long_name}
        if units:
            var_attrs["units"] = units
        data_vars[name] = (dims, np.full(shape, fill, dtype), var_attrs)
    ds = xr.Dataset(
        data_vars, {d: (d, np.asarray(list(v))) for d, v in coords.items()}, attrs=dict(attrs)
    )
    encoding = {name: {"chunks": tuple(chunks)} for name in data_vars}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        version = {"zarr_format": 2} if int(_zarr().__version__.split(".")[0]) >= 3 else {}
        ds.to_zarr(tmp, mode="w-", encoding=encoding, consolidated=True, **version)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_sweep_points(
    path: str | os.PathLike, index: tuple[np.ndarray, ...], values: Mapping[str, np.ndarray]
) -> None:
    """Write the results of some points, then mark them done.

    Args:
        path: the store.
        index: one integer array per dimension (the points' positions).
        values: ``{variable: (point,) array}``; variables the store lacks are left out.
    """
    group = _zarr().open_group(str(path), mode="r+")
    names = set(group.array_keys())
    for name, value in values.items():
        if name in names and name != "done":
            group[name].vindex[index] = np.asarray(value)
    group["done"].vindex[index] = np.ones(len(index[0]), bool)


def read_sweep_done(path: str | os.PathLike) -> np.ndarray:
    """The ``done`` mask of a store, on its dimensions, once every variable of the store is
    proven readable (a resumed sweep writes into their chunks).

    Raises:
        CorruptRunFileError: a variable or the metadata cannot be read.
    """
    try:
        group = _zarr().open_group(str(path), mode="r")
        for name, array in group.arrays():
            values = np.asarray(array[...])
            if name == "done":
                done = values.astype(bool)
        return done
    except Exception as err:  # noqa: BLE001 - any unreadable store is reported alike
        raise CorruptRunFileError(path, f"{type(err).__name__}: {err}") from None


def read_sweep_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """The global attributes of a store."""
    return dict(_zarr().open_group(str(path), mode="r").attrs)


def open_sweep(path: str | os.PathLike) -> xr.Dataset:
    """A sweep store loaded into memory (the store is closed on return).

    ``path`` is the store or the sweep directory holding it.
    """
    path = Path(path)
    if path.name != STORE and (path / STORE).exists():
        path = path / STORE
    with xr.open_zarr(path) as ds:
        return ds.load()

"""``results.nc``: per-cycle scores and states of a run as an xarray dataset (netCDF4/HDF5)."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import _names as names
from ._files import temporary_path

_ENGINE = "h5netcdf"


def _attr(value: Any) -> Any:
    """netCDF attributes hold numbers and strings only."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if value is None:
        return ""
    return value


def results_dataset(
    *,
    time: np.ndarray,
    cycle: np.ndarray,
    position: np.ndarray,
    series: Mapping[str, np.ndarray] | None = None,
    fields: Mapping[str, np.ndarray] | None = None,
    attrs: Mapping[str, Any],
    histograms: Mapping[str, np.ndarray] | None = None,
    variables: Mapping[str, tuple[tuple[str, ...], np.ndarray, str, str]] | None = None,
) -> xr.Dataset:
    """Assemble the results dataset.

    Args:
        time: model time of each analysis, ``(time,)`` (model time units).
        cycle: analysis cycle index of each analysis, ``(time,)``.
        position: grid coordinate of each state variable, ``(x,)`` (grid units), or
            ``(x, ndim)`` on an n-D grid.
        series: per-cycle scalars ``(time,)``, named as in :data:`names.SERIES`.
        fields: per-cycle states ``(time, x)``, named as in :data:`names.FIELDS`.
        attrs: global attributes (config, seed, version, git commit, ...).
        histograms: counts ``(rank,)``, named as in :data:`names.HISTOGRAMS`.
        variables: any other variables, name -> ``(dims, values, long_name, units)`` with
            the file's dimension names (:func:`series_variables` makes them from a
            method's series).

    Returns:
        An ``xarray.Dataset`` on dimensions ``time`` and ``x``.
    """
    n_state = len(position)
    position = np.asarray(position, float)
    position_dims = (names.STATE,) if position.ndim == 1 else (names.STATE, names.GRID_AXIS)
    coords = {
        names.TIME: (names.TIME, np.asarray(time, float), {"units": names.TIME_UNITS,
                                                            "long_name": "model time"}),
        names.CYCLE: (names.TIME, np.asarray(cycle, np.int64), {"long_name": "analysis cycle"}),
        names.STATE: (names.STATE, np.arange(n_state), {"long_name": "state variable index"}),
        names.POSITION: (position_dims, position,
                         {"units": "grid units", "long_name": "grid coordinate"}),
    }
    data_vars = {}
    for key, values in (series or {}).items():
        if key not in names.SERIES:
            raise KeyError(f"results_dataset: unknown series {key!r}; known: {list(names.SERIES)}")
        data_vars[key] = (names.TIME, np.asarray(values, float),
                          {"long_name": names.SERIES[key], "units": names.STATE_UNITS})
    for key, values in (fields or {}).items():
        if key not in names.FIELDS:
            raise KeyError(f"results_dataset: unknown field {key!r}; known: {list(names.FIELDS)}")
        data_vars[key] = ((names.TIME, names.STATE), np.asarray(values, float),
                          {"long_name": names.FIELDS[key], "units": names.STATE_UNITS})
    for key, counts in (histograms or {}).items():
        if key not in names.HISTOGRAMS:
            raise KeyError(
                f"results_dataset: unknown histogram {key!r}; known: {list(names.HISTOGRAMS)}"
            )
        data_vars[key] = (names.RANK, np.asarray(counts, np.int64),
                          {"long_name": names.HISTOGRAMS[key], "units": "count"})
    for key, (dims, values, long_name, units) in (variables or {}).items():
        if key in data_vars:
            raise KeyError(f"results_dataset: {key!r} given twice.")
        data_vars[key] = (dims, np.asarray(values), {"long_name": long_name, "units": units})
    return xr.Dataset(data_vars, coords, attrs={k: _attr(v) for k, v in attrs.items()})


def series_variables(
    series: Mapping[str, np.ndarray], specs: Mapping[str, Any]
) -> dict[str, tuple[tuple[str, ...], np.ndarray, str, str]]:
    """File variables of recorded series: ``name -> (dims, values, long_name, units)``.

    ``specs`` maps each series name to its :class:`~assimilax.da.SeriesSpec`; the file name
    of a variable is :func:`names.variable_name`, its dimensions are ``time`` followed by
    the spec's dimensions in the file's names (:data:`names.CORE_DIMS`).
    """
    out = {}
    for name, values in series.items():
        spec = specs[name]
        dims = (names.TIME,) + tuple(names.CORE_DIMS.get(d, d) for d in spec.dims)
        out[names.variable_name(name)] = (dims, values, spec.description, spec.units)
    return out


def add_variables(
    dataset: xr.Dataset | None,
    variables: Mapping[str, np.ndarray],
    *,
    coords: Mapping[str, np.ndarray] | None = None,
    attrs: Mapping[str, Mapping[str, Any]] | None = None,
    global_attrs: Mapping[str, Any] | None = None,
    lead_time_units: str = "Lyapunov times",
) -> xr.Dataset:
    """A copy of ``dataset`` with variables of hybrid runs added.

    Dimensions, long names and units come from :data:`names.HYBRID_VARIABLES`; a
    dimension without a coordinate in ``coords`` gets ``1, 2, ...`` (``iteration``,
    ``lead``) or ``0, 1, ...`` (others).

    Args:
        dataset: the dataset to extend; ``None``: a new one (with ``global_attrs``).
        variables: name -> values, shaped as the variable's dimensions.
        coords: coordinates: a dimension name -> values, or ``lead_time`` (on ``lead``).
        attrs: extra attributes per variable (e.g. the reference values of a figure).
        global_attrs: attributes of the dataset (added to, or replacing, those there).
        lead_time_units: units of the ``lead_time`` coordinate.

    Returns:
        The extended dataset.

    Raises:
        KeyError: a variable that is not in :data:`names.HYBRID_VARIABLES`.
        ValueError: values of the wrong number of dimensions.
    """
    coords = dict(coords or {})
    attrs = attrs or {}
    ds = xr.Dataset() if dataset is None else dataset.copy()
    for key, values in variables.items():
        if key not in names.HYBRID_VARIABLES:
            raise KeyError(f"add_variables: unknown variable {key!r}; known: "
                           f"{list(names.HYBRID_VARIABLES)}")
        dims, long_name, units = names.HYBRID_VARIABLES[key]
        values = np.asarray(values, float)
        if values.ndim != len(dims):
            raise ValueError(f"add_variables: {key} must have dimensions {dims}, got shape "
                             f"{values.shape}.")
        for dim, size in zip(dims, values.shape, strict=True):
            if dim not in ds.coords:
                first = 1 if dim in (names.ITERATION, names.LEAD) else 0
                ds = ds.assign_coords({dim: (dim, np.asarray(
                    coords.pop(dim, np.arange(first, first + size))))})
        ds[key] = (dims, values, {"long_name": long_name, "units": units,
                                  **{k: _attr(v) for k, v in attrs.get(key, {}).items()}})
    if names.LEAD_TIME in coords:
        if names.LEAD not in ds.dims:
            raise ValueError(f"add_variables: {names.LEAD_TIME} needs a variable on "
                             f"{names.LEAD!r}.")
        ds = ds.assign_coords({names.LEAD_TIME: (names.LEAD, np.asarray(
            coords.pop(names.LEAD_TIME), float), {"units": lead_time_units,
                                                  "long_name": "forecast lead time"})})
    if coords:
        raise ValueError(f"add_variables: coordinates {sorted(coords)} name no dimension of "
                         "the variables added.")
    ds.attrs.update({k: _attr(v) for k, v in (global_attrs or {}).items()})
    return ds


def write_results(path: str | os.PathLike, dataset: xr.Dataset) -> None:
    """Write a results dataset to netCDF (HDF5 via h5netcdf), atomically."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        dataset.to_netcdf(tmp, engine=_ENGINE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_results(path: str | os.PathLike) -> xr.Dataset:
    """Load a ``results.nc`` fully into memory (the file is closed on return)."""
    with xr.open_dataset(path, engine=_ENGINE) as ds:
        return ds.load()

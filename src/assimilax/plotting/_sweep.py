"""Figures of a sweep: the tuning heat map over two axes, and RMSE against ensemble size.

The functions take the sweep's ``xarray.Dataset`` (``assimilax.io.open_sweep(dir)`` or
``xr.open_zarr(dir + "/sweep.zarr")``), so they work as they are in a notebook. Seeds are
averaged (a cell with a diverged seed counts as diverged); any other axis not drawn is
tuned away: its best value is taken for each cell.
"""

from __future__ import annotations

import itertools
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._style import new_figure, save

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes

SEED = "seed"
ENSEMBLE_SIZE = "ensemble_size"
MAX_ANNOTATED = 24
"""Cells are labelled with their value when both axes have at most this many values."""
MAX_HEATMAPS = 6


def _reduce(ds, keep: list[str], variable: str):
    """``variable`` on the ``keep`` dimensions: mean over seeds, best over the rest.

    Returns ``(reduced, seeds)``: ``reduced`` holds ``value`` (NaN where a seed diverged,
    or a point is not done, at every choice of the tuned-away axes), the ``diverged``
    share of the seeds and ``sem`` (the standard error of the seed mean), all taken at
    the best choice of the other axes.
    """
    value = ds[variable].where(ds["done"]) if "done" in ds else ds[variable]
    diverged = (ds["diverged"] if "diverged" in ds else value.isnull()).astype(float)
    seeds = ds.sizes.get(SEED, 1) if SEED in value.dims else 1
    sem = value * np.nan
    if SEED in value.dims:
        if seeds > 1:
            sem = value.std(SEED, ddof=1, skipna=False) / np.sqrt(seeds)
        else:
            sem = sem.isel({SEED: 0}, drop=True)
        value = value.mean(SEED, skipna=False)
        diverged = diverged.mean(SEED)
    out = value.to_dataset(name="value").assign(diverged=diverged, sem=sem)
    others = [d for d in value.dims if d not in keep]
    if others:
        stacked = out.stack(_other=others)
        best = stacked["value"].fillna(np.inf).argmin("_other")
        out = stacked.isel(_other=best).drop_vars(["_other", *others], errors="ignore")
    return out.transpose(*keep), seeds


def _label(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return str(value)


_SHORT = {
    "rmse_analysis": "analysis RMSE",
    "rmse_forecast": "forecast RMSE",
    "spread_analysis": "analysis spread",
    "spread_forecast": "forecast spread",
    "rmse_smoothed": "smoothed RMSE",
}


def _name(variable: str) -> str:
    return _SHORT.get(variable, variable)


def plot_sweep_heatmap(
    ds: xr.Dataset, x: str, y: str, *, variable: str = "rmse_analysis", ax: Axes | None = None
) -> Axes:
    """Heat map of the time-mean ``variable`` over the axes ``x`` and ``y``.

    The classic tuning chart of data assimilation (e.g. inflation against ensemble
    size): the valley of good settings between divergence (hatched) and over-damping.
    Each cell is the mean over seeds (hatched when a seed diverged) of the best setting
    of the sweep's other axes; the best cell is outlined and named in the title.

    Args:
        ds: a sweep dataset.
        x: the dimension along the horizontal axis.
        y: another dimension, along the vertical axis.
        variable: a time-mean variable of the store.
        ax: matplotlib axes to draw into (e.g. from ``plt.subplots()``); default: a new
            figure (``ax.figure``).

    Returns:
        The axes.
    """
    for dim in (x, y):
        if dim not in ds.dims:
            raise ValueError(f"plot_sweep_heatmap: no dimension {dim!r}; the sweep's "
                             f"dimensions are {list(ds.dims)}.")
    if x == y:
        raise ValueError("plot_sweep_heatmap: x and y must differ.")
    from matplotlib import colors
    from matplotlib.patches import Rectangle

    values, seeds = _reduce(ds, [y, x], variable)
    z = np.asarray(values["value"].values, float)
    share = np.asarray(values["diverged"].values, float)
    if ax is None:
        width, height = 3.0 + 0.9 * max(z.shape[1], 4), 1.8 + 0.55 * max(z.shape[0], 4)
        ax = new_figure(width, height).add_subplot()
    finite = z[np.isfinite(z)]
    cmap = _colormap()
    norm = None
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        if lo > 0 and hi / lo > 4:
            norm = colors.LogNorm(lo, hi)
        elif hi - lo > 1e-6 * abs(hi):
            norm = colors.Normalize(lo, hi)
        else:  # one value: a scale around it
            norm = colors.Normalize(0.9 * lo, 1.1 * hi if hi > 0 else 1.0)
    mesh = ax.pcolormesh(np.ma.masked_invalid(z), cmap=cmap, norm=norm, edgecolors="w",
                         linewidth=0.5)
    annotate = max(z.shape) <= MAX_ANNOTATED
    for (i, j), v in np.ndenumerate(z):
        if not np.isfinite(v):
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor="0.85", edgecolor="0.55",
                                   hatch="///", lw=0.5))
            if annotate:
                count = round(share[i, j] * seeds)
                text = "-" if count == 0 else (
                    f"{count}/{seeds}\ndiverged" if 0 < count < seeds else "diverged")
                ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize="x-small",
                        color="0.25")
        elif annotate:
            rgb = cmap(norm(v))[:3] if norm is not None else (0, 0, 0)
            dark = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 0.5
            ax.text(j + 0.5, i + 0.5, f"{v:.3g}", ha="center", va="center",
                    fontsize="small", color="w" if dark else "k")
    title = f"time-mean {_name(variable)}"
    notes = []
    if seeds > 1:
        notes.append(f"mean over {seeds} seeds")
    others = [d for d in ds[variable].dims if d not in (x, y, SEED)]
    if others:
        notes.append(f"best over {', '.join(others)}")
    if notes:
        title += f" ({'; '.join(notes)})"
    if finite.size:
        i, j = np.unravel_index(np.nanargmin(np.where(np.isfinite(z), z, np.nan)), z.shape)
        ax.add_patch(Rectangle((j, i), 1, 1, fill=False, edgecolor="k", lw=2.2))
        title += (f"\nbest {z[i, j]:.3g} at {x} = {_label(values[x].values[j])}, "
                  f"{y} = {_label(values[y].values[i])}")
    ax.set_title(title, fontsize="medium")
    ax.set_xticks(np.arange(z.shape[1]) + 0.5, [_label(v) for v in values[x].values])
    ax.set_yticks(np.arange(z.shape[0]) + 0.5, [_label(v) for v in values[y].values])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_xlim(0, z.shape[1])
    ax.set_ylim(0, z.shape[0])
    ax.figure.colorbar(mesh, ax=ax, label=_axis_label(ds, variable))
    return ax


def _axis_label(ds, variable: str) -> str:
    """``name [units]`` from the variable's ``units`` attribute."""
    units = ds[variable].attrs.get("units")
    return f"{variable} [{units}]" if units else variable


def _colormap():
    from matplotlib import colormaps

    return colormaps["viridis"].with_extremes(bad="0.85")


def _method_dim(ds) -> str | None:
    axes = ds.attrs.get("axes") or {}
    return next((d for d, key in axes.items() if key == "method.name" and d in ds.dims), None)


def _method_title(ds) -> str:
    try:
        return tomllib.loads(ds.attrs["base_config"])["method"]["name"]
    except (KeyError, tomllib.TOMLDecodeError):
        return "method"


def _plot_against(ds, dim: str, variable: str, ax):
    """``variable`` against ``dim``, one line per method, best of the other axes."""
    method = _method_dim(ds)
    keep = [dim] if method is None or method == dim else [method, dim]
    values, seeds = _reduce(ds, keep, variable)
    coords = values[dim].values
    numeric = np.issubdtype(np.asarray(coords).dtype, np.number)
    xs = np.asarray(coords, float) if numeric else np.arange(len(coords))
    lines = [(None, values)] if method is None or method == dim else [
        (name, values.sel({method: name})) for name in values[method].values]
    lost = False
    for name, line in lines:
        label = str(name) if name is not None else _method_title(ds)
        y = np.asarray(line["value"].values, float)
        err = np.asarray(line["sem"].values, float) if seeds > 1 else None
        ax.errorbar(xs, y, yerr=err, marker="o", capsize=3, label=label)
        gone = ~np.isfinite(y)
        lost |= bool(gone.any())
        if gone.any():
            ax.plot(xs[gone], np.zeros(gone.sum()), "x", color="C3", ms=8,
                    transform=ax.get_xaxis_transform(), clip_on=False)
    ax.set_xticks(xs, [_label(c) for c in coords])
    ax.set_xlabel(dim)
    ax.set_ylabel(_axis_label(ds, variable))
    others = [d for d in ds[variable].dims if d not in (*keep, SEED)]
    notes = []
    if seeds > 1:
        notes.append(f"mean over {seeds} seeds, bars: standard error")
    if others:
        notes.append(f"best over {', '.join(others)}")
    if lost:
        notes.append("x: diverged")
    title = f"time-mean {_name(variable)} against {dim}"
    ax.set_title(title + (f"\n({'; '.join(notes)})" if notes else ""), fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(title="method" if method is not None else None)
    return ax


def plot_rmse_vs_ensemble_size(
    ds: xr.Dataset, *, variable: str = "rmse_analysis", ax: Axes | None = None
) -> Axes:
    """Time-mean RMSE against ensemble size, one line per method (``method.name`` axis).

    Each point is the mean over seeds (error bars: standard error) at the best setting
    of the sweep's other axes (inflation, radius, ...); sizes where every setting
    diverged are marked with a cross on the axis.

    Args:
        ds: a sweep dataset with an ``ensemble_size`` dimension.
        variable: a time-mean variable of the store.
        ax: matplotlib axes to draw into; default: a new figure (``ax.figure``).

    Returns:
        The axes.
    """
    if ENSEMBLE_SIZE not in ds.dims:
        raise ValueError("plot_rmse_vs_ensemble_size: the sweep has no ensemble_size "
                         f"dimension (its dimensions: {list(ds.dims)}).")
    if ax is None:
        ax = new_figure(7, 4.5).add_subplot()
    return _plot_against(ds, ENSEMBLE_SIZE, variable, ax)


def plot_sweep(sweep_dir: str | os.PathLike) -> list[Path]:
    """Write the figures of a sweep into its directory; returns their paths.

    * ``heatmap_<x>_<y>.png`` for every pair of the sweep's axes (seeds aside) with more
      than one value (at most six);
    * ``rmse_vs_ensemble_size.png`` when ensemble size is an axis;
    * ``rmse_vs_<axis>.png`` when a single axis (seeds aside) has more than one value.

    They chart the store's ``score`` attribute: ``rmse_analysis``, or for a sweep over a
    hybrid method its headline statistic.
    """
    from ..io import open_sweep

    sweep_dir = Path(sweep_dir)
    ds = open_sweep(sweep_dir)
    score = ds.attrs.get("score", "rmse_analysis")  # a hybrid method's headline statistic
    dims = [d for d in ds[score].dims if d != SEED and ds.sizes[d] > 1]
    method = _method_dim(ds)
    paths = []
    pairs = [p for p in itertools.combinations(dims, 2) if method not in p]
    for x, y in pairs[:MAX_HEATMAPS]:
        if x == ENSEMBLE_SIZE:  # the classic chart: ensemble size up, the tuning across
            x, y = y, x
        path = sweep_dir / f"heatmap_{x}_{y}.png"
        ax = plot_sweep_heatmap(ds, x, y, variable=score)
        save(ax.figure, path)
        paths.append(path)
    if ENSEMBLE_SIZE in dims:
        path = sweep_dir / "rmse_vs_ensemble_size.png"
        save(plot_rmse_vs_ensemble_size(ds, variable=score).figure, path)
        paths.append(path)
    elif len([d for d in dims if d != method]) == 1:
        dim = next(d for d in dims if d != method)
        path = sweep_dir / f"rmse_vs_{dim}.png"
        save(_plot_against(ds, dim, score, new_figure(7, 4.5).add_subplot()).figure, path)
        paths.append(path)
    return paths

"""Figures of a run from its ``results.nc`` dataset: for notebooks and ``assimilax plot``.

Every function takes the dataset as :func:`assimilax.io.read_results` (or
``xarray.open_dataset``) returns it, also a slice of it (``ds.isel(time=slice(1000, None))``):
the burn-in is located by the ``cycle`` coordinate, not by position.
"""

import os
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import io as rio
from ._error_spread import draw_error_spread
from ._hovmoller import hovmoller_figure
from ._hybrid import hybrid_figures
from ._rank_histogram import draw_rank_histogram
from ._style import new_figure, save

names = rio.names


def _title(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("title") or "assimilax run")


def _burn_in_index(ds: xr.Dataset) -> int:
    """Entries of the record that lie in the burn-in (cycles ``< burn_in``)."""
    burn_in = int(ds.attrs.get("burn_in", 0) or 0)
    if names.CYCLE in ds.coords:
        return int(np.sum(ds[names.CYCLE].values < burn_in))
    return min(burn_in, ds.sizes.get(names.TIME, 0))


def _diverged_time(ds: xr.Dataset) -> float | None:
    """Model time of the cycle where the run was found diverged, if it is in the record."""
    cycle = int(ds.attrs.get("diverged_at_cycle", -1))
    if not int(ds.attrs.get("diverged", 0)) or cycle < 0 or names.CYCLE not in ds.coords:
        return None
    hit = np.flatnonzero(ds[names.CYCLE].values == cycle)
    return float(ds[names.TIME].values[hit[0]]) if hit.size else None


def _figure_and_axes(ax: Axes | None, width: float, height: float) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(width, height)
    return fig, fig.add_subplot()


def plot_run_error_spread(ds: xr.Dataset, ax: Axes | None = None) -> Figure:
    """RMSE and spread of the analysis and forecast (and smoother) over time.

    The curves of ``error_spread.png``: per-cycle ``rmse_*`` and ``spread_*`` of the
    dataset against model time, burn-in shaded, time means after burn-in in the legend,
    the truth's climatological RMS and the cycle of divergence (if any) marked.

    Args:
        ds: a run's results (``results.nc``), dimension ``time``.
        ax: axes to draw on; ``None`` makes a new figure (legend outside the axes).

    Returns:
        The figure holding the axes (in a notebook it displays itself).

    Raises:
        ValueError: the dataset has no per-cycle RMSE or spread series.
    """
    series = {k: ds[k].values for k in names.SERIES if k in ds.data_vars}
    if not series:
        raise ValueError(
            f"the dataset has no per-cycle scores to plot (expected some of {list(names.SERIES)})."
        )
    title = _title(ds)
    if ds.attrs.get("observations"):
        title = f"{title}\nobserved: {ds.attrs['observations']}"
    fig, axes = _figure_and_axes(ax, 12, 4.8)
    clim = ds.attrs.get("climatological_rms")
    draw_error_spread(
        axes,
        time=ds[names.TIME].values,
        series=series,
        burn_in=_burn_in_index(ds),
        title=title,
        climatology=None if clim is None else float(clim),
        diverged_at=_diverged_time(ds),
    )
    if ax is None:
        fig.legend(loc="outside right upper", fontsize="small")
    else:
        axes.legend(fontsize="small")
    return fig


def plot_run_hovmoller(ds: xr.Dataset, *, max_times: int = 300) -> Figure:
    """Hovmoller diagrams of the truth, the analysis mean and the analysis error.

    The figure of ``hovmoller.png`` (time series per variable for states of at most 8
    variables); the last ``max_times`` analyses of the record, the end of the burn-in
    marked when they reach back to it.

    Args:
        ds: a run's results (``results.nc``) with ``truth`` and ``analysis_mean`` on
            ``(time, x)``.
        max_times: most analyses shown (the last ones).

    Returns:
        The figure (three panels sharing time and state axes).

    Raises:
        ValueError: the dataset lacks ``truth`` or ``analysis_mean``.
    """
    missing = [k for k in ("truth", "analysis_mean") if k not in ds.data_vars]
    if missing:
        raise ValueError(f"the dataset has no {' or '.join(missing)} to draw a Hovmoller diagram.")
    order = (names.TIME, names.STATE)
    return hovmoller_figure(
        time=ds[names.TIME].values,
        truth=ds["truth"].transpose(*order).values,
        analysis=ds["analysis_mean"].transpose(*order).values,
        title=_title(ds),
        max_times=max_times,
        burn_in=_burn_in_index(ds),
    )


def plot_rank_histogram(ds: xr.Dataset, ax: Axes | None = None) -> Figure:
    """Rank histogram of the truth among the ensemble members.

    Bars of the relative frequency of each rank ``0..N`` (``rank_histogram`` counts,
    cycles after burn-in, all variables pooled), the flat reference ``1/(N+1)``, and a
    note with the chi-square statistic against flatness and the share of the truth
    outside the ensemble. A flat histogram is a reliable ensemble; U-shaped, an
    under-dispersive one; dome-shaped, over-dispersive; sloped, a biased mean.

    Args:
        ds: a run's results (``results.nc``) holding ``rank_histogram`` on ``rank``.
        ax: axes to draw on; ``None`` makes a new figure.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: the dataset has no ``rank_histogram`` (a method without an ensemble,
            or a run written before the rank histogram was recorded), or it is empty.
    """
    if names.RANK_HISTOGRAM not in ds.data_vars:
        raise ValueError(
            f"the dataset has no {names.RANK_HISTOGRAM!r} variable: the run recorded no rank "
            "histogram (a method without an ensemble, or a results.nc written by an older "
            "assimilax); nothing to plot."
        )
    counts = ds[names.RANK_HISTOGRAM]
    if counts.dims != (names.RANK,):
        raise ValueError(
            f"{names.RANK_HISTOGRAM!r} must have the one dimension {names.RANK!r}, "
            f"got {counts.dims}."
        )
    what = counts.attrs.get("long_name") or "rank of the truth among the ensemble members"
    burn_in = ds.attrs.get("burn_in")
    pooled = "all variables pooled"
    what += f"\n(cycles ≥ {int(burn_in)}, {pooled})" if burn_in is not None else f" ({pooled})"
    fig, axes = _figure_and_axes(ax, 8, 5)
    draw_rank_histogram(axes, counts.values, title=_title(ds), what=what)
    return fig


def plot_run(run_dir: str | os.PathLike) -> list[Path]:
    """Regenerate a run's figures from its ``results.nc``.

    Writes ``error_spread.png``, ``hovmoller.png`` and, when the run recorded one,
    ``rank_histogram.png`` into ``run_dir``, replacing those there. A hybrid run's
    figures too, those it has data for: ``iterations.png`` and ``surrogate_skill.png``
    (``iterative_emulation``), ``window_rmse.png`` (``emulator_4dvar``, which has no time
    series and so no ``error_spread.png`` or ``hovmoller.png``).

    Args:
        run_dir: a run directory (holds ``results.nc``).

    Returns:
        The PNG files written.

    Raises:
        FileNotFoundError: ``run_dir`` holds no ``results.nc``.
    """
    run_dir = Path(run_dir)
    path = run_dir / names.RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} holds no run: there is no {names.RESULTS_FILE}.")
    ds = rio.read_results(path)
    hybrid = hybrid_figures(ds)
    figures = []
    if not hybrid or "rmse_analysis" in ds.data_vars:  # a run's own analysis series
        figures.append((names.ERROR_SPREAD_FIGURE, plot_run_error_spread))
    if not hybrid or {"truth", "analysis_mean"} <= set(ds.data_vars):
        figures.append((names.HOVMOLLER_FIGURE, plot_run_hovmoller))
    if names.RANK_HISTOGRAM in ds.data_vars:
        figures.append((names.RANK_HISTOGRAM_FIGURE, plot_rank_histogram))
    figures += hybrid
    written = []
    for filename, plot in figures:
        target = run_dir / filename
        save(plot(ds), target)
        written.append(target)
    return written

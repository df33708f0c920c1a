"""Figures of hybrid (DA+ML) runs from their ``results.nc`` dataset.

``iterative_emulation``: the analysis RMSE and spread per iteration against the
interpolation it started from (:func:`plot_iterations`), and the learned surrogate's
forecast RMSE against lead time with its validity threshold
(:func:`plot_surrogate_skill`). ``emulator_4dvar``: the analysis RMSE of each scored
window for the three 4D-Var variants (:func:`plot_window_rmse`). Experiments that compare
variants on one twin (a physical model and its learned corrections, DA set-ups): each
variant's forecast error against lead time and its analysis RMSE inside DA
(:func:`plot_variant_forecasts`).
"""

import textwrap

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import io as rio
from ._style import new_figure

names = rio.names

_VARIANTS = {  # emulator_4dvar: variable -> (label, colour, marker)
    "rmse_true_adjoint_per_window": ("exact adjoint", "C0", "o"),
    "rmse_emulator_gradient_per_window": ("emulator gradients", "C1", "s"),
    "rmse_emulator_per_window": ("emulator throughout", "C2", "^"),
}


def _title(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("title") or "assimilax run")


def _figure_and_axes(ax: Axes | None, width: float, height: float) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(width, height)
    return fig, fig.add_subplot()


def _need(ds: xr.Dataset, *keys: str) -> None:
    missing = [k for k in keys if k not in ds.data_vars]
    if missing:
        raise ValueError(f"the dataset has no {', '.join(missing)}: not a run of the hybrid "
                         "method this figure is about; nothing to plot.")


def _number(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def plot_iterations(ds: xr.Dataset, ax: Axes | None = None) -> Figure:
    """Analysis RMSE and spread per iteration of ``iterative_emulation``.

    The figure of ``iterations.png``: the time-mean analysis RMSE (solid) and ensemble
    spread (dashed) of each iteration's DA pass with the surrogate, the RMSE of the
    space-time interpolation of the observations the loop started from as a reference
    line, and, where measured, the surrogate's valid time on a second axis.

    Args:
        ds: a hybrid run's results with ``iteration_rmse_analysis`` on ``iteration`` (its
            attribute ``rmse_interpolation`` gives the reference line).
        ax: axes to draw on; ``None`` makes a new figure.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: the dataset has no ``iteration_rmse_analysis``.
    """
    _need(ds, "iteration_rmse_analysis")
    fig, axes = _figure_and_axes(ax, 9, 5.4)
    rmse = ds["iteration_rmse_analysis"]
    iteration = ds[names.ITERATION].values
    axes.plot(iteration, rmse.values, "o-", color="C0", label="analysis RMSE")
    if "iteration_spread_analysis" in ds.data_vars:
        axes.plot(iteration, ds["iteration_spread_analysis"].values, "o--", color="C0",
                  mfc="none", alpha=0.8, label="analysis spread")
    interp = _number(rmse.attrs.get("rmse_interpolation"))
    if interp is not None:
        axes.axhline(interp, color="k", ls=":", lw=1.0,
                     label=f"interpolation of the observations ({interp:.3g})")
    last = _number(rmse.values[-1]) if rmse.size else None
    if last is not None:
        axes.annotate(f"{last:.3g}", (iteration[-1], last), textcoords="offset points",
                      xytext=(0, 6), ha="center", fontsize="small", color="C0")
    handles, labels = axes.get_legend_handles_labels()
    if "iteration_valid_time" in ds.data_vars:
        valid = ds["iteration_valid_time"].values
        measured = np.isfinite(valid)
        if measured.any():
            right = axes.twinx()
            right.plot(iteration[measured], valid[measured], "D-", color="C3", ms=4, lw=0.9,
                       alpha=0.8, label="surrogate valid time")
            right.set_ylabel("valid time [Lyapunov times]", color="C3")
            right.tick_params(axis="y", colors="C3")
            right.set_ylim(bottom=0)
            more, more_labels = right.get_legend_handles_labels()
            handles, labels = handles + more, labels + more_labels
    axes.set_xlabel("iteration (train, then assimilate with the surrogate)")
    axes.set_ylabel("time-mean RMSE and spread [state units]")
    if iteration.size <= 20:
        axes.set_xticks(iteration)
    axes.set_ylim(bottom=0)
    axes.set_title(f"{_title(ds)}\nanalysis error per iteration")
    axes.grid(True, alpha=0.3)
    if ax is None:
        fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="small")
    else:
        axes.legend(handles, labels, fontsize="small")
    return fig


def plot_surrogate_skill(ds: xr.Dataset, ax: Axes | None = None) -> Figure:
    """Forecast RMSE of the learned surrogate against lead time, in Lyapunov times.

    The figure of ``surrogate_skill.png``: the RMSE of the last surrogate's forecasts of
    the true model (mean over the test cases), the validity threshold (a share of the
    true model's climatological standard deviation) and the valid time where the RMSE
    first crosses it.

    Args:
        ds: a hybrid run's results with ``surrogate_forecast_rmse`` on ``lead`` and the
            coordinate ``lead_time`` (attributes ``valid_threshold_rmse``, ``valid_time``).
        ax: axes to draw on; ``None`` makes a new figure.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: the dataset has no (or an empty) ``surrogate_forecast_rmse``.
    """
    _need(ds, "surrogate_forecast_rmse")
    rmse = ds["surrogate_forecast_rmse"]
    if rmse.size == 0:
        raise ValueError("surrogate_forecast_rmse is empty: the surrogate's skill was not "
                         "measured; nothing to plot.")
    fig, axes = _figure_and_axes(ax, 8, 4.8)
    if names.LEAD_TIME in ds.coords:
        lead, xlabel = ds[names.LEAD_TIME].values, "lead time [Lyapunov times]"
    else:
        lead, xlabel = ds[names.LEAD].values, "lead [model steps]"
    axes.plot(lead, rmse.values, color="C0", label="surrogate forecast RMSE")
    threshold = _number(rmse.attrs.get("valid_threshold_rmse"))
    if threshold is not None:
        share = _number(rmse.attrs.get("valid_threshold"))
        what = f"{share:g} × σ_clim = {threshold:.3g}" if share is not None else f"{threshold:.3g}"
        axes.axhline(threshold, color="k", ls=":", lw=1.0, label=f"validity threshold ({what})")
    valid = _number(rmse.attrs.get("valid_time"))
    if valid is not None:
        axes.axvline(valid, color="C3", ls="-.", lw=1.2,
                     label=f"valid time ({valid:.3g} Lyapunov times)")
    axes.set_xlim(0, float(np.max(lead)))
    axes.set_ylim(bottom=0)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("forecast RMSE [state units]")
    axes.set_title(f"{_title(ds)}\nforecast skill of the learned surrogate")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small", loc="lower right")
    return fig


def plot_window_rmse(ds: xr.Dataset, ax: Axes | None = None) -> Figure:
    """Analysis RMSE of each scored window for the 4D-Var variants of ``emulator_4dvar``.

    The figure of ``window_rmse.png``: for every trial and scored window, the RMSE of
    the analysis at the window start with the exact adjoint, with the emulator's
    gradients, and with the emulator throughout; the means in the legend. Coinciding
    markers are an emulator whose gradients serve as well as the true adjoint.

    Args:
        ds: a hybrid run's results with ``rmse_*_per_window`` on ``(trial, window)``.
        ax: axes to draw on; ``None`` makes a new figure.

    Returns:
        The figure holding the axes.

    Raises:
        ValueError: the dataset has none of the per-window variables.
    """
    present = [k for k in _VARIANTS if k in ds.data_vars]
    if not present:
        _need(ds, *_VARIANTS)
    fig, axes = _figure_and_axes(ax, 10, 4.8)
    first = ds[present[0]].transpose(names.TRIAL, names.WINDOW)
    trials, windows = first.shape
    x = np.arange(trials * windows)
    for k, key in enumerate(present):
        label, color, marker = _VARIANTS[key]
        values = ds[key].transpose(names.TRIAL, names.WINDOW).values.ravel()
        finite = values[np.isfinite(values)]
        mean = f" (mean {finite.mean():.3g})" if finite.size else ""
        offset = (k - (len(present) - 1) / 2) * 0.12  # side by side where they coincide
        axes.plot(x + offset, values, marker, color=color, ls="none", ms=6, alpha=0.85,
                  mfc="none" if k else color, label=label + mean)
    for t in range(1, trials):
        axes.axvline(t * windows - 0.5, color="0.6", lw=0.8, ls="--")
    window_index = ds[names.WINDOW].values if names.WINDOW in ds.coords else np.arange(windows)
    if x.size <= 30:
        axes.set_xticks(x, [f"{w}" for _ in range(trials) for w in window_index])
    axes.set_xlabel("window of each trial (trials separated by dashed lines)"
                    if trials > 1 else "window")
    axes.set_ylabel("analysis RMSE at the window start [state units]")
    axes.set_ylim(bottom=0)
    axes.set_title(f"{_title(ds)}\nanalysis RMSE per window")
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(fontsize="small")
    return fig


def plot_variant_forecasts(ds: xr.Dataset) -> Figure:
    """Forecast error against lead time of each variant, and its analysis RMSE inside DA.

    The figure of ``variant_forecasts.png``: left, ``variant_forecast_error`` (mean over
    the initial states, shaded 95 % interval from ``variant_forecast_error_ci95`` where
    present) of every variant against lead time, with the reference values a figure of
    the paper gives (attribute ``reference``: ``"variant@lead=value; ..."``) as crosses;
    right, where the dataset has ``variant_rmse_analysis``, each variant's analysis RMSE
    over the cycles of its DA run.

    Args:
        ds: a hybrid run's results with ``variant_forecast_error`` on ``(variant, lead)``
            and the coordinate ``lead_time``.

    Returns:
        The figure.

    Raises:
        ValueError: the dataset has no ``variant_forecast_error``.
    """
    _need(ds, "variant_forecast_error")
    err = ds["variant_forecast_error"]
    analysis = ds.get("variant_rmse_analysis")
    fig = new_figure(13 if analysis is not None else 8, 4.8)
    axes = fig.add_subplot(1, 2, 1) if analysis is not None else fig.add_subplot()
    if names.LEAD_TIME in ds.coords:
        lead = ds[names.LEAD_TIME].values
        xlabel = f"lead time [{ds[names.LEAD_TIME].attrs.get('units', 'time units')}]"
    else:
        lead, xlabel = ds[names.LEAD].values, "lead [model steps]"
    ci = ds.get("variant_forecast_error_ci95")
    variants = [str(v) for v in ds[names.VARIANT].values]
    for k, variant in enumerate(variants):
        values = err.sel({names.VARIANT: ds[names.VARIANT].values[k]}).values
        axes.plot(lead, values, color=f"C{k}", label=variant)
        if ci is not None:
            half = ci.sel({names.VARIANT: ds[names.VARIANT].values[k]}).values
            axes.fill_between(lead, values - half, values + half, color=f"C{k}", alpha=0.2,
                              lw=0)
    for item in str(err.attrs.get("reference", "")).split(";"):
        if "@" not in item or "=" not in item:
            continue
        name, rest = item.split("@", 1)
        at, value = rest.split("=", 1)
        name = name.strip()
        colour = f"C{variants.index(name)}" if name in variants else "k"
        axes.plot(float(at.split("lead=")[-1]), float(value), "x", color=colour, ms=9, mew=2)
    if err.attrs.get("reference"):
        axes.plot([], [], "x", color="k", ms=9, mew=2,
                  label=str(err.attrs.get("reference_source", "published")))
    axes.set_xlim(0, float(np.max(lead)))
    axes.set_ylim(bottom=0)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(f"{err.attrs.get('long_name_short', 'forecast error')} "
                    f"[{err.attrs.get('units', '')}]")
    if analysis is not None:  # the run's title over both panels, wrapped to the figure
        fig.suptitle(textwrap.fill(_title(ds), 150), fontsize="medium")
        axes.set_title("forecast error against lead time")
    else:
        axes.set_title(f"{textwrap.fill(_title(ds), 90)}\nforecast error against lead time")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small", loc="lower right")
    if analysis is not None:
        right = fig.add_subplot(1, 2, 2)
        time = ds[names.TIME].values
        for k, variant in enumerate(variants):
            if variant not in [str(v) for v in analysis[names.VARIANT].values]:
                continue
            values = analysis.sel({names.VARIANT: variant}).values
            if not np.isfinite(values).any():
                continue
            mean = np.nanmean(values)
            right.plot(time, values, color=f"C{k}", lw=0.8, label=f"{variant} (mean {mean:.3g})")
        right.set_xlabel("time [model time units]")
        right.set_ylabel(f"analysis RMSE [{analysis.attrs.get('units', '')}]")
        right.set_ylim(bottom=0)
        right.set_title("analysis RMSE inside DA")
        right.grid(True, alpha=0.3)
        right.legend(fontsize="small")
    return fig


HYBRID_FIGURES = (
    (names.VARIANT_FORECASTS_FIGURE, plot_variant_forecasts, ("variant_forecast_error",)),
    (names.ITERATIONS_FIGURE, plot_iterations, ("iteration_rmse_analysis",)),
    (names.SURROGATE_SKILL_FIGURE, plot_surrogate_skill, ("surrogate_forecast_rmse",)),
    (names.WINDOW_RMSE_FIGURE, plot_window_rmse, tuple(_VARIANTS)),
)
"""(file, plot function, variables of which one must be in the dataset)."""


def hybrid_figures(ds: xr.Dataset) -> list[tuple[str, object]]:
    """The ``(file name, plot function)`` of the hybrid figures ``ds`` has data for."""
    found = []
    for filename, plot, keys in HYBRID_FIGURES:
        if any(k in ds.data_vars and ds[k].size for k in keys):
            found.append((filename, plot))
    return found

"""Hovmoller diagrams of truth, analysis and error (time against state variable)."""

import os

import numpy as np
from matplotlib.figure import Figure

from ._style import new_figure, save

SMALL_STATE = 8
"""States up to this size are drawn as time series per variable instead."""

SERIES_TIMES = 100
"""Most analyses in the time-series variant (oscillations stay distinguishable)."""


def plot_hovmoller(
    path: str | os.PathLike,
    *,
    time: np.ndarray,
    truth: np.ndarray,
    analysis: np.ndarray,
    title: str,
    max_times: int = 300,
    burn_in: int = 0,
) -> None:
    """Truth, analysis mean and analysis error over time and state variable, as PNG.

    The figure of :func:`hovmoller_figure`, written to ``path``.

    Args:
        path: PNG file to write.
        time: model time of each analysis, ``(time,)`` (model time units).
        truth: true states, ``(time, x)``.
        analysis: analysis means, ``(time, x)``.
        title: figure title (method and model).
        max_times: most analyses shown (the last ones).
        burn_in: cycles of burn-in, marked where the shown window reaches them.
    """
    save(hovmoller_figure(time=time, truth=truth, analysis=analysis, title=title,
                          max_times=max_times, burn_in=burn_in), path)


def hovmoller_figure(
    *,
    time: np.ndarray,
    truth: np.ndarray,
    analysis: np.ndarray,
    title: str,
    max_times: int = 300,
    burn_in: int = 0,
) -> Figure:
    """Truth, analysis mean and analysis error over time and state variable.

    Three panels share the axes: truth and analysis on one colour scale, the error
    (analysis minus truth) on a diverging scale centred on zero. Only the last
    ``max_times`` analyses are drawn, so that the structures stay visible. States of at
    most :data:`SMALL_STATE` variables (Lorenz-63) are drawn as time series instead (the
    last :data:`SERIES_TIMES` analyses at most). The end of the burn-in is marked by a
    dashed line when the window reaches back to it.

    Args:
        time: model time of each analysis, ``(time,)`` (model time units).
        truth: true states, ``(time, x)``.
        analysis: analysis means, ``(time, x)``.
        title: figure title (method and model).
        max_times: most analyses shown (the last ones).
        burn_in: cycles of burn-in.

    Returns:
        The figure (Agg canvas, not registered with pyplot).
    """
    time = np.asarray(time, float)
    truth = np.asarray(truth, float)
    analysis = np.asarray(analysis, float)
    n_total = time.size
    burn_end = time[burn_in] if 0 < burn_in < n_total else None
    if truth.shape[1] <= SMALL_STATE:
        max_times = min(max_times, SERIES_TIMES)
    window = slice(max(0, n_total - max_times), n_total)
    time, truth, analysis = time[window], truth[window], analysis[window]
    shown = f"last {time.size} of {n_total} analyses" if time.size < n_total else (
        f"{n_total} analyses")
    if burn_end is not None and not (time.size and time[0] < burn_end):
        burn_end = None  # the window starts after the burn-in
    error = analysis - truth
    if truth.shape[1] <= SMALL_STATE:
        return _series(time, truth, analysis, error, f"{title}\n{shown}", burn_end)
    n = truth.shape[1]
    fig = new_figure(13, 5.2)
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    finite = np.concatenate([truth[np.isfinite(truth)], analysis[np.isfinite(analysis)]])
    lo, hi = (np.percentile(finite, [0.5, 99.5]) if finite.size else (-1.0, 1.0))
    abs_err = np.abs(error[np.isfinite(error)])
    emax = float(np.percentile(abs_err, 99.5)) if abs_err.size else 1.0
    emax = emax if emax > 0 else 1.0
    extent = (-0.5, n - 0.5, time[0] if time.size else 0, time[-1] if time.size else 1)
    panels = [
        (truth, "truth", "viridis", lo, hi, "state [state units]"),
        (analysis, "analysis mean", "viridis", lo, hi, "state [state units]"),
        (error, "analysis error (analysis - truth)", "RdBu_r", -emax, emax,
         "error [state units]"),
    ]
    for ax, (data, name, cmap, vmin, vmax, label) in zip(axes, panels, strict=True):
        im = ax.imshow(data, aspect="auto", origin="lower", interpolation="nearest",
                       extent=extent, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(name)
        ax.set_xlabel("state variable index")
        fig.colorbar(im, ax=ax, label=label, shrink=0.9)
        if burn_end is not None:
            ink = "k" if cmap == "RdBu_r" else "w"  # visible on either colour map
            ax.axhline(burn_end, color=ink, ls="--", lw=1.0)
            ax.annotate("end of burn-in", (0.02, burn_end), xycoords=("axes fraction", "data"),
                        xytext=(0, 2), textcoords="offset points", color=ink,
                        fontsize="x-small", va="bottom")
    axes[0].set_ylabel("model time [model time units]")
    fig.suptitle(f"{title}\n{shown}")
    return fig


def _series(time, truth, analysis, error, title, burn_end) -> Figure:
    n = truth.shape[1]
    fig = new_figure(11, 1.7 * (n + 1) + 0.8)
    axes = fig.subplots(n + 1, 1, sharex=True)
    for i in range(n):
        ax = axes[i]
        ax.plot(time, truth[:, i], color="k", lw=1.0, label="truth")
        ax.plot(time, analysis[:, i], color="C0", lw=0.9, ls="--", label="analysis mean")
        ax.set_ylabel(f"$x_{{{i}}}$ [state units]")
        ax.grid(True, alpha=0.3)
    for i in range(n):
        axes[n].plot(time, error[:, i], lw=0.8, label=f"$x_{{{i}}}$")
    axes[n].axhline(0.0, color="k", lw=0.6)
    axes[n].set_ylabel("analysis error\n[state units]")
    axes[n].grid(True, alpha=0.3)
    axes[n].set_xlabel("model time [model time units]")
    if burn_end is not None:
        for ax in axes:
            ax.axvspan(time[0], burn_end, color="0.6", alpha=0.18, lw=0)
        axes[n].plot([], [], color="0.6", alpha=0.4, lw=6, label="burn-in")
    axes[0].legend(loc="upper right", fontsize="small", ncols=2)
    axes[n].legend(loc="upper right", fontsize="small", ncols=n + (burn_end is not None))
    fig.suptitle(title)
    return fig

"""Error and spread against time: the first figure to look at after a run."""

import os
from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes

from ._style import new_figure, save

_STYLE = {  # drawing order: forecast below analysis below smoother
    "rmse_forecast": ("forecast RMSE", "C1", "-"),
    "spread_forecast": ("forecast spread", "C1", "--"),
    "rmse_analysis": ("analysis RMSE", "C0", "-"),
    "spread_analysis": ("analysis spread", "C0", "--"),
    "rmse_smoothed": ("smoothed RMSE", "C2", "-"),
}


def plot_error_spread(
    path: str | os.PathLike,
    *,
    time: np.ndarray,
    series: Mapping[str, np.ndarray],
    burn_in: int,
    title: str,
    climatology: float | None = None,
    max_points: int = 2500,
    diverged_at: float | None = None,
) -> None:
    """RMSE and spread of the analysis and forecast (and smoother) over time, as PNG.

    A spread close to the RMSE is a well-calibrated ensemble; a spread far below it, an
    over-confident one heading for divergence. The legend gives each series' time mean
    after burn-in; the burn-in is shaded. The y-axis is logarithmic when the values span
    more than a factor 30.

    Args:
        path: PNG file to write.
        time: model time of each analysis, ``(time,)`` (model time units).
        series: per-cycle series ``(time,)`` keyed ``rmse_analysis``, ``spread_analysis``,
            ``rmse_forecast``, ``spread_forecast``, ``rmse_smoothed`` (any subset).
        burn_in: cycles left out of the time means.
        title: figure title (method and model).
        climatology: the truth's climatological RMS, drawn as a reference line.
        max_points: longer series are drawn as means over blocks of consecutive cycles
            (the legend's time means use every cycle); a line of more points than the
            figure has pixels only draws a band, and costs time in long runs.
        diverged_at: model time at which the filter was found diverged, marked by a
            vertical line (``None``: not marked).
    """
    fig = new_figure(12, 4.8)
    ax = fig.add_subplot()
    draw_error_spread(ax, time=time, series=series, burn_in=burn_in, title=title,
                      climatology=climatology, max_points=max_points, diverged_at=diverged_at)
    fig.legend(loc="outside right upper", fontsize="small")
    save(fig, path)


def draw_error_spread(
    ax: Axes,
    *,
    time: np.ndarray,
    series: Mapping[str, np.ndarray],
    burn_in: int,
    title: str,
    climatology: float | None = None,
    max_points: int = 2500,
    diverged_at: float | None = None,
) -> None:
    """Draw the curves of :func:`plot_error_spread` on ``ax`` (the caller places the legend)."""
    time = np.asarray(time, float)
    block = max(1, -(-time.size // max_points))
    if block > 1:
        title = f"{title}\n(drawn as means over blocks of {block} cycles)"
    values = []
    for key, (label, color, style) in _STYLE.items():
        if key not in series or series[key] is None:
            continue
        y = np.asarray(series[key], float)
        after = y[burn_in:]
        after = after[np.isfinite(after)]
        mean = f" (mean {after.mean():.3g})" if after.size else ""
        lw = 1.0 if key.startswith("rmse") else 0.9
        ax.plot(_blocks(time, block), _blocks(y, block), color=color, ls=style, lw=lw,
                alpha=0.85, label=label + mean)
        values.append(y[np.isfinite(y)])
    if burn_in > 0 and time.size:
        end = time[min(burn_in, time.size - 1)]
        ax.axvspan(time[0], end, color="0.6", alpha=0.18, lw=0, label="burn-in")
    finite = np.concatenate(values) if values else np.array([])
    positive = finite[finite > 0]
    log = bool(positive.size) and positive.max() / positive.min() > 30
    if log:
        ax.set_yscale("log")
    top = float(np.percentile(finite, 99.9)) * 1.1 if finite.size else 1.0
    if climatology is not None and np.isfinite(climatology):
        if climatology <= 2 * top or log:
            ax.axhline(climatology, color="k", ls=":", lw=1.0,
                       label=f"climatological RMS ({climatology:.3g})")
            top = max(top, climatology * 1.1)
        else:  # far above a filter that keeps track: name it, do not squash the plot
            ax.plot([], [], color="k", ls=":", lw=1.0,
                    label=f"climatological RMS ({climatology:.3g}, off scale)")
    if diverged_at is not None and np.isfinite(diverged_at):
        ax.axvline(diverged_at, color="C3", ls="-.", lw=1.2,
                   label=f"diverged (t = {diverged_at:.4g})")
    if finite.size and not log:
        ax.set_ylim(0, top)
    if time.size:
        ax.set_xlim(time[0], time[-1])
    ax.set_xlabel("model time [model time units]")
    ax.set_ylabel("RMSE and spread [state units]")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)


def _blocks(values: np.ndarray, block: int) -> np.ndarray:
    """Means over consecutive blocks of ``block`` values (non-finite values skipped; a
    block with none finite is NaN); the last block may be shorter."""
    if block == 1:
        return values
    n = values.size
    padded = np.full(-(-n // block) * block, np.nan)
    padded[:n] = np.where(np.isfinite(values), values, np.nan)
    rows = padded.reshape(-1, block)
    count = np.sum(np.isfinite(rows), axis=1)
    total = np.nansum(rows, axis=1)
    return np.divide(total, count, out=np.full(rows.shape[0], np.nan), where=count > 0)

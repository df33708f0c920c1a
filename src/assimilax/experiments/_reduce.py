"""From per-cycle series to the numbers a summary reports (time means after burn-in).

:func:`reduce` is shared by run, sweep and reproduce.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ..metrics import time_mean_ci
from ._divergence import find_divergence


def time_mean(series: np.ndarray | None, burn_in: int) -> float | None:
    """Mean after burn-in; ``None`` when there is nothing after it or a value is not finite."""
    if series is None or series.size <= burn_in:
        return None
    mean = float(np.mean(series[burn_in:]))
    return mean if np.isfinite(mean) else None


def time_mean_ci95(series: np.ndarray, burn_in: int) -> tuple[float | None, float | None]:
    """Mean after burn-in and the half-width of its 95 % interval
    (:func:`assimilax.metrics.time_mean_ci`); ``(None, None)`` when a value there is not
    finite, a ``None`` half-width when it cannot be estimated (fewer than 5 points)."""
    if not np.all(np.isfinite(series[burn_in:])):
        return None, None
    mean, half = time_mean_ci(series, burn_in=burn_in)
    return mean, (half if np.isfinite(half) else None)


@dataclasses.dataclass(frozen=True)
class Reduction:
    """The statistics of one run's record: what ``summary.json`` and a sweep point hold.

    Attributes:
        means: time mean after burn-in of every scalar series ``(time,)`` of the record
            (``None`` where nothing is after burn-in or a value there is not finite).
        rmse_analysis_ci95: half-width of the 95 % interval of the mean analysis RMSE
            (autocorrelation-corrected), or ``None``.
        divergence: ``(cycle, reason)`` where the run lost the truth, else ``None``.
        rank_histogram: rank counts summed after burn-in ``(member + 1,)``, or ``None``.
    """

    means: dict[str, float | None]
    rmse_analysis_ci95: float | None
    divergence: tuple[int, str] | None
    rank_histogram: np.ndarray | None


def reduce(
    series: Mapping[str, np.ndarray],
    burn_in: int,
    *,
    threshold: float,
    window: int,
    divergence: tuple[int, str] | None = None,
) -> Reduction:
    """Time means, their confidence interval and the divergence verdict of a record.

    The one reduction of run, sweep and reproduce.

    Args:
        series: the record on the host, name -> ``(time, ...)``
            (:attr:`assimilax.da.Result.series`).
        burn_in: cycles left out of the time means.
        threshold: the divergence threshold (the truth's climatological RMS).
        window: cycles averaged by the divergence check (:func:`find_divergence`).
        divergence: a verdict already reached (a run stopped early); else it is found here
            from ``rmse_analysis``.
    """
    if divergence is None and "rmse_analysis" in series:
        divergence = find_divergence(series["rmse_analysis"], burn_in, threshold, window)
    means = {name: time_mean(np.asarray(values), burn_in)
             for name, values in series.items() if np.ndim(values) == 1}
    ci95 = None
    if means.get("rmse_analysis") is not None:
        means["rmse_analysis"], ci95 = time_mean_ci95(series["rmse_analysis"], burn_in)
    histogram = None
    counts = series.get("rank_counts")
    if counts is not None and len(counts) > burn_in:
        histogram = np.asarray(counts)[burn_in:].sum(0)
    return Reduction(means, ci95, divergence, histogram)

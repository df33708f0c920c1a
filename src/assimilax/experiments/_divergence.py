"""The divergence check: has the filter lost the truth?"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .config import Config

DIVERGENCE_WINDOW = 100
"""Cycles over which the analysis RMSE is averaged by the divergence check."""


class DivergenceError(RuntimeError):
    """The filter lost the truth: the run stopped at ``cycle``.

    Attributes:
        cycle: the analysis cycle (from 0) at which divergence was detected.
    """

    def __init__(self, cycle: int, reason: str, advice: str):
        self.cycle = cycle
        super().__init__(f"diverged at cycle {cycle}: {reason}.\n{advice}")


def divergence_window(config: Config) -> int:
    """The averaging window of the check for this run: :data:`DIVERGENCE_WINDOW` cycles, or
    all cycles after burn-in when there are fewer."""
    exp = config.experiment
    return min(DIVERGENCE_WINDOW, exp.cycles - exp.burn_in)


def divergence_threshold(config: Config, climatological_rms: float) -> float:
    """The averaged analysis RMSE above which a run has lost the truth: the truth's
    climatological RMS, or infinity for a method whose error is that RMS by construction
    (its section's ``can_diverge`` is false: the climatology baseline). A non-finite
    analysis counts as divergence either way."""
    method = config.method
    if method is not None and not method.can_diverge:
        return float("inf")
    return float(climatological_rms)


def find_divergence(
    rmse: np.ndarray, burn_in: int, threshold: float, window: int
) -> tuple[int, str] | None:
    """First cycle where the analysis is non-finite, or where the RMSE averaged over the
    ``window`` cycles ending there (all after burn-in) exceeds ``threshold``.

    Returns:
        ``(cycle, reason)``, or ``None`` when the filter kept track.
    """
    rmse = np.asarray(rmse, float)
    bad = ~np.isfinite(rmse)
    if bad.any():
        return int(np.argmax(bad)), "the analysis is not finite (NaN or infinity)"
    after = rmse[burn_in:]
    if window < 1 or after.size < window:
        return None
    sums = np.cumsum(np.concatenate([[0.0], after]))
    means = (sums[window:] - sums[:-window]) / window
    over = np.flatnonzero(means > threshold)
    if over.size == 0:
        return None
    j = int(over[0])
    first, last = burn_in + j, burn_in + j + window - 1
    return last, (
        f"the analysis RMSE averaged over cycles {first}-{last} is {means[j]:.3g}, above the "
        f"truth's climatological RMS {threshold:.3g}: the filter has lost the truth"
    )

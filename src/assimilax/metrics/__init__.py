"""Verification scores: RMSE, spread, CRPS, rank histograms, time means with intervals."""

from ._scores import crps as crps
from ._scores import rank_histogram as rank_histogram
from ._scores import rmse as rmse
from ._scores import spread as spread
from ._scores import time_mean_ci as time_mean_ci

__all__ = [
    "crps",
    "rank_histogram",
    "rmse",
    "spread",
    "time_mean_ci",
]

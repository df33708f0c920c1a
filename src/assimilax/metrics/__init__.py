"""Verification scores and model diagnostics.

- scores of estimates and ensembles: RMSE, spread, CRPS, rank histograms, time means with
  intervals;
- diagnostics of (learned) models: forecast RMSE against lead time, valid prediction time,
  climatology (mean, std, spatial spectrum) and its comparison, Lyapunov exponents,
  one-step Jacobian error.
"""

from ._emulator import Climatology as Climatology
from ._emulator import ClimatologyError as ClimatologyError
from ._emulator import climatology as climatology
from ._emulator import compare_climatology as compare_climatology
from ._emulator import forecast_rmse as forecast_rmse
from ._emulator import jacobian_error as jacobian_error
from ._emulator import lyapunov_exponents as lyapunov_exponents
from ._emulator import valid_prediction_time as valid_prediction_time
from ._scores import crps as crps
from ._scores import rank_histogram as rank_histogram
from ._scores import rmse as rmse
from ._scores import spread as spread
from ._scores import time_mean_ci as time_mean_ci

__all__ = [
    "climatology",
    "Climatology",
    "ClimatologyError",
    "compare_climatology",
    "crps",
    "forecast_rmse",
    "jacobian_error",
    "lyapunov_exponents",
    "rank_histogram",
    "rmse",
    "spread",
    "time_mean_ci",
    "valid_prediction_time",
]

"""Names of the dimensions, coordinates and variables of ``results.nc``, fixed once."""

TIME = "time"
"""Analysis times; the coordinate is model time (model time units) since the truth's start."""

STATE = "x"
"""State variables; the coordinate is the variable index."""

CYCLE = "cycle"
"""Non-dimension coordinate on ``time``: the analysis cycle index, from 0."""

POSITION = "position"
"""Non-dimension coordinate on ``x``: the variable's grid coordinate (grid units)."""

SERIES = {
    "rmse_analysis": "RMSE of the analysis mean",
    "rmse_forecast": "RMSE of the forecast mean",
    "spread_analysis": "analysis ensemble spread",
    "spread_forecast": "forecast ensemble spread",
    "rmse_smoothed": "RMSE of the smoothed mean",
}
"""Per-cycle scalar series on ``(time,)`` and their long names."""

FIELDS = {
    "analysis_mean": "analysis ensemble mean",
    "truth": "true state",
    "smoothed_mean": "smoothed ensemble mean",
}
"""Per-cycle states on ``(time, x)`` and their long names."""

RANK = "rank"
"""Bins of the rank histogram: the truth's rank among ``N`` members, 0 to ``N``."""

HISTOGRAMS = {
    "rank_histogram": "rank of the truth among the analysis members (after burn-in)",
}
"""Counts on ``(rank,)`` and their long names."""

STATE_UNITS = "state units"
TIME_UNITS = "model time units"

RESULTS_FILE = "results.nc"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.toml"
ERROR_SPREAD_FIGURE = "error_spread.png"
HOVMOLLER_FIGURE = "hovmoller.png"

RANK_HISTOGRAM = "rank_histogram"
"""Counts ``(rank,)`` of the truth's rank among the members over the cycles after burn-in,
all state variables pooled (ensemble methods only)."""

RANK_HISTOGRAM_FIGURE = "rank_histogram.png"

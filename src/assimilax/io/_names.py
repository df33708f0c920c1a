"""Names of the dimensions, coordinates and variables of ``results.nc``, fixed once."""

TIME = "time"
"""Analysis times; the coordinate is model time (model time units) since the truth's start."""

STATE = "x"
"""State variables; the coordinate is the variable index."""

CYCLE = "cycle"
"""Non-dimension coordinate on ``time``: the analysis cycle index, from 0."""

POSITION = "position"
"""Non-dimension coordinate on ``x``: the variable's grid coordinate (grid units); on an
n-D grid (a QG or shallow-water model) on ``(x, grid_axis)``."""

GRID_AXIS = "grid_axis"
"""The axes of an n-D grid: the second dimension of ``position`` there."""

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

MEMBER = "member"
"""Ensemble members."""

CORE_DIMS = {"state": STATE, "rank": RANK, "member": MEMBER}
"""The file's name of each dimension of the DA core's series (:class:`assimilax.da.SeriesSpec`)."""

VARIABLE_NAMES = {"mean_analysis": "analysis_mean", "mean_forecast": "forecast_mean"}
"""Series of the DA core whose variable in ``results.nc`` has another name."""


def variable_name(series: str) -> str:
    """The ``results.nc`` variable of a series of the DA core."""
    return VARIABLE_NAMES.get(series, series)

HISTOGRAMS = {
    "rank_histogram": "rank of the truth among the analysis members (after burn-in)",
}
"""Counts on ``(rank,)`` and their long names."""

STATE_UNITS = "state units"
TIME_UNITS = "model time units"

RESULTS_FILE = "results.nc"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.toml"
PRESET_FILE = "preset.json"
"""What marks a reproduction directory: the preset's name and version (quick or full)."""
ERROR_SPREAD_FIGURE = "error_spread.png"
HOVMOLLER_FIGURE = "hovmoller.png"

RANK_HISTOGRAM = "rank_histogram"
"""Counts ``(rank,)`` of the truth's rank among the members over the cycles after burn-in,
all state variables pooled (ensemble methods only)."""

RANK_HISTOGRAM_FIGURE = "rank_histogram.png"

# ----------------------------------------------------------------------------- hybrid runs

ITERATION = "iteration"
"""Iterations of an iterative hybrid method; the coordinate is the iteration, from 1."""

LEAD = "lead"
"""Forecast lead times; the coordinate is the lead in model steps, from 1."""

LEAD_TIME = "lead_time"
"""Non-dimension coordinate on ``lead``: the lead in Lyapunov times."""

TRIAL = "trial"
"""Independent truth trajectories of a windowed hybrid method; the coordinate from 0."""

WINDOW = "window"
"""Scored assimilation windows of a trial; the coordinate is the window's index in the
trial (windows of the burn-in are not scored)."""

VARIANT = "variant"
"""Variants of a hybrid experiment compared on one twin (models, corrections, DA set-ups);
the coordinate holds their names."""

HYBRID_VARIABLES = {
    "iteration_rmse_analysis": ((ITERATION,), "time-mean analysis RMSE of the iteration",
                                STATE_UNITS),
    "iteration_spread_analysis": ((ITERATION,), "time-mean analysis spread of the iteration",
                                  STATE_UNITS),
    "iteration_train_loss": ((ITERATION,), "last training loss of the iteration", "1"),
    "iteration_valid_time": ((ITERATION,), "valid time of the iteration's surrogate "
                             "(NaN: not measured)", "Lyapunov times"),
    "surrogate_forecast_rmse": ((LEAD,), "RMSE of the surrogate's forecasts of the true "
                                "model", STATE_UNITS),
    "rmse_true_adjoint_per_window": ((TRIAL, WINDOW), "analysis RMSE at the window start, "
                                     "4D-Var with the exact adjoint", STATE_UNITS),
    "rmse_emulator_gradient_per_window": ((TRIAL, WINDOW), "analysis RMSE at the window "
                                          "start, 4D-Var with the emulator's gradients",
                                          STATE_UNITS),
    "rmse_emulator_per_window": ((TRIAL, WINDOW), "analysis RMSE at the window start, "
                                 "4D-Var with the emulator throughout", STATE_UNITS),
    "variant_forecast_error": ((VARIANT, LEAD), "forecast error of each variant against "
                               "the truth, mean over the initial states", STATE_UNITS),
    "variant_forecast_error_ci95": ((VARIANT, LEAD), "95 % half-width of "
                                    "variant_forecast_error over the initial states",
                                    STATE_UNITS),
    "variant_rmse_analysis": ((VARIANT, TIME), "analysis RMSE inside DA of each variant",
                              STATE_UNITS),
}
"""Variables of hybrid runs: name -> (dimensions, long name, units). A recipe may give
other units in its attributes (``variant_forecast_error``: ``"1"`` for a relative RMSE)."""

ITERATIONS_FIGURE = "iterations.png"
"""Analysis RMSE and spread per iteration of an iterative hybrid method."""

SURROGATE_SKILL_FIGURE = "surrogate_skill.png"
"""Forecast RMSE of a learned surrogate against lead time."""

VARIANT_FORECASTS_FIGURE = "variant_forecasts.png"
"""Forecast error against lead time of each variant of a hybrid experiment (and their
analysis RMSE inside DA where it has one)."""

WINDOW_RMSE_FIGURE = "window_rmse.png"
"""Per-window analysis RMSE of the 4D-Var variants of ``emulator_4dvar``."""

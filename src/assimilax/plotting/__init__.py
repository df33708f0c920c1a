"""Figures of runs (matplotlib, Agg canvas, no pyplot state).

From a run's ``results.nc`` dataset (in a notebook, or :func:`plot_run` for the PNGs):
:func:`plot_run_error_spread`, :func:`plot_run_hovmoller`, :func:`plot_rank_histogram`.
From arrays (what the runner writes): :func:`plot_error_spread`, :func:`plot_hovmoller`.
From a hybrid run's dataset: :func:`plot_iterations`, :func:`plot_surrogate_skill`
(``iterative_emulation``), :func:`plot_window_rmse` (``emulator_4dvar``),
:func:`plot_variant_forecasts` (experiments comparing variants on one twin).
From a sweep's ``sweep.zarr`` dataset: :func:`plot_sweep_heatmap`,
:func:`plot_rmse_vs_ensemble_size`, and :func:`plot_sweep` for the PNGs.
"""

from ._error_spread import plot_error_spread as plot_error_spread
from ._hovmoller import hovmoller_figure as hovmoller_figure
from ._hovmoller import plot_hovmoller as plot_hovmoller
from ._hybrid import plot_iterations as plot_iterations
from ._hybrid import plot_surrogate_skill as plot_surrogate_skill
from ._hybrid import plot_variant_forecasts as plot_variant_forecasts
from ._hybrid import plot_window_rmse as plot_window_rmse
from ._rank_histogram import rank_statistics as rank_statistics
from ._results import plot_rank_histogram as plot_rank_histogram
from ._results import plot_run as plot_run
from ._results import plot_run_error_spread as plot_run_error_spread
from ._results import plot_run_hovmoller as plot_run_hovmoller
from ._sweep import plot_rmse_vs_ensemble_size as plot_rmse_vs_ensemble_size
from ._sweep import plot_sweep as plot_sweep
from ._sweep import plot_sweep_heatmap as plot_sweep_heatmap

__all__ = [
    "hovmoller_figure",
    "plot_error_spread",
    "plot_hovmoller",
    "plot_iterations",
    "plot_rank_histogram",
    "plot_run",
    "plot_run_error_spread",
    "plot_run_hovmoller",
    "plot_surrogate_skill",
    "plot_variant_forecasts",
    "plot_rmse_vs_ensemble_size",
    "plot_sweep",
    "plot_sweep_heatmap",
    "plot_window_rmse",
    "rank_statistics",
]

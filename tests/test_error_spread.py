"""The error/spread figure: long series are drawn as block means."""

import numpy as np

from assimilax.plotting import plot_error_spread
from assimilax.plotting._error_spread import _blocks


def test_blocks_are_means_of_finite_values():
    x = np.array([1.0, 3.0, np.nan, 5.0, np.inf, np.nan, 7.0])
    np.testing.assert_allclose(_blocks(x, 2), [2.0, 5.0, np.nan, 7.0])
    np.testing.assert_array_equal(_blocks(x, 1), x)


def test_long_series_plot(tmp_path):
    n = 9000
    time = np.arange(n) * 0.05
    rng = np.random.default_rng(0)
    series = {"rmse_analysis": 0.2 + 0.01 * rng.random(n), "spread_analysis": np.full(n, 0.2)}
    path = tmp_path / "e.png"
    plot_error_spread(path, time=time, series=series, burn_in=100, title="t", max_points=1000)
    assert path.stat().st_size > 10_000

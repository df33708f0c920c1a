"""Files of a run (results.nc, summary.json, TOML) and the figures."""

import json
import math
import tomllib

import numpy as np
import pytest
import xarray as xr

from assimilax import io as rio
from assimilax import plotting
from assimilax.io import names

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_dumps_toml_round_trips():
    data = {
        "model": {"name": "lorenz63", "beta": 8.0 / 3.0, "dt": 1e-5, "n": 3},
        "observations": {"indices": [0, 2], "label": 'quote " and \\ back'},
        "method": {"rotate": True, "skipped": None},
    }
    parsed = tomllib.loads(rio.dumps_toml(data))
    del data["method"]["skipped"]
    assert parsed == data
    assert parsed["model"]["beta"] == 8.0 / 3.0  # floats written exactly


@pytest.mark.parametrize("bad", [math.nan, math.inf, {"nested": 1}, object()])
def test_dumps_toml_refuses_what_a_config_cannot_hold(bad):
    with pytest.raises((TypeError, ValueError)):
        rio.dumps_toml({"s": {"k": bad}})


def test_json_writes_non_finite_as_null(tmp_path):
    path = tmp_path / "s.json"
    rio.write_json(path, {"a": math.nan, "b": [1.0, math.inf], "c": {"d": 2.5}})
    assert json.loads(path.read_text()) == {"a": None, "b": [1.0, None], "c": {"d": 2.5}}
    assert rio.read_json(path)["c"]["d"] == 2.5


def test_atomic_write_leaves_no_temporary(tmp_path):
    path = tmp_path / "x.txt"
    rio.write_text_atomic(path, "one")
    rio.write_text_atomic(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def _dataset(n_time=6, n_state=4):
    rng = np.random.default_rng(0)
    return rio.results_dataset(
        time=0.05 * (np.arange(n_time) + 1),
        cycle=np.arange(n_time),
        position=np.arange(n_state, dtype=float),
        series={"rmse_analysis": rng.random(n_time), "spread_forecast": rng.random(n_time)},
        fields={"truth": rng.random((n_time, n_state)),
                "analysis_mean": rng.random((n_time, n_state))},
        attrs={"config": "[model]\nname = \"lorenz96\"\n", "seed": 3, "diverged": False,
               "note": None},
    )


def test_results_round_trip(tmp_path):
    ds = _dataset()
    path = tmp_path / names.RESULTS_FILE
    rio.write_results(path, ds)
    back = rio.read_results(path)
    assert dict(back.sizes) == {names.TIME: 6, names.STATE: 4}
    assert back["truth"].dims == (names.TIME, names.STATE)
    assert back["rmse_analysis"].dims == (names.TIME,)
    np.testing.assert_array_equal(back["truth"].values, ds["truth"].values)
    np.testing.assert_allclose(back[names.TIME].values, 0.05 * np.arange(1, 7))
    assert back[names.TIME].attrs["units"] == names.TIME_UNITS
    assert back[names.CYCLE].dims == (names.TIME,)
    assert back.attrs["seed"] == 3 and back.attrs["diverged"] == 0 and back.attrs["note"] == ""
    assert tomllib.loads(back.attrs["config"]) == {"model": {"name": "lorenz96"}}
    # read_results loaded and closed the file: it can be replaced at once
    rio.write_results(path, ds)
    with xr.open_dataset(path, engine="h5netcdf") as again:
        assert set(again.data_vars) == {"rmse_analysis", "spread_forecast", "truth",
                                        "analysis_mean"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [names.RESULTS_FILE]


def test_results_refuse_unknown_variables():
    with pytest.raises(KeyError, match="unknown series"):
        rio.results_dataset(time=[1.0], cycle=[0], position=[0.0], series={"bias": [0.0]},
                            fields={}, attrs={})
    with pytest.raises(KeyError, match="unknown field"):
        rio.results_dataset(time=[1.0], cycle=[0], position=[0.0], series={},
                            fields={"forecast": [[0.0]]}, attrs={})


def _series(n, rng):
    return {
        "rmse_analysis": 0.2 + 0.05 * rng.random(n),
        "spread_analysis": 0.2 + 0.05 * rng.random(n),
        "rmse_forecast": 0.3 + 0.05 * rng.random(n),
        "spread_forecast": 0.3 + 0.05 * rng.random(n),
    }


@pytest.mark.parametrize("climatology", [3.6, 0.3, None])
def test_error_spread_figure(tmp_path, climatology):
    rng = np.random.default_rng(1)
    series = _series(300, rng)
    series["rmse_smoothed"] = 0.1 + 0.02 * rng.random(300)
    path = tmp_path / "e.png"
    plotting.plot_error_spread(path, time=0.05 * np.arange(1, 301), series=series, burn_in=30,
                               title="test", climatology=climatology)
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_error_spread_figure_survives_divergence(tmp_path):
    rng = np.random.default_rng(2)
    series = _series(100, rng)
    series["rmse_analysis"][60:] = np.geomspace(1, 1e6, 40)
    series["rmse_analysis"][-1] = np.nan
    path = tmp_path / "e.png"
    plotting.plot_error_spread(path, time=np.arange(1, 101.0), series=series, burn_in=10,
                               title="diverged", climatology=3.6)
    assert path.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("n_state", [3, 40])
def test_hovmoller_figure(tmp_path, n_state):
    rng = np.random.default_rng(3)
    truth = rng.standard_normal((400, n_state))
    analysis = truth + 0.1 * rng.standard_normal((400, n_state))
    analysis[5, 0] = np.nan
    path = tmp_path / "h.png"
    plotting.plot_hovmoller(path, time=0.05 * np.arange(1, 401), truth=truth,
                            analysis=analysis, title="test")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_figures_leave_pyplot_alone(tmp_path):
    import sys

    plotting.plot_hovmoller(tmp_path / "h.png", time=np.arange(1.0, 11), title="t",
                            truth=np.zeros((10, 12)), analysis=np.zeros((10, 12)))
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []

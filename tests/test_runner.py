"""The runner: files of a run, chunk independence, smoother assembly, resume, divergence."""

import io
import json
import tomllib

import equinox as eqx
import jax
import numpy as np
import pytest
from rich.console import Console

import assimilax
from assimilax import da
from assimilax.experiments import (
    Config,
    RunDirError,
    Summary,
    build,
    load_summary,
    run,
    simulate_twin,
    twin_keys,
)
from assimilax.experiments._divergence import find_divergence
from assimilax.experiments._reduce import time_mean
from assimilax.experiments._rundir import previous_run
from assimilax.io import names, read_results

# The contract's keys for every method; a method's own statistics come on top, and only
# for the methods that have them (``rmse_smoothed``: smoothers).
SUMMARY_KEYS = {
    "rmse_analysis", "rmse_analysis_ci95", "rmse_forecast", "spread_analysis",
    "spread_forecast", "diverged", "diverged_at_cycle", "cycles",
    "wall_time_s", "cycles_per_second", "config", "seed", "version", "git_commit",
    "resumed_at_cycle", "versions", "startup_s", "compile_s", "programs_from_cache",
}


def small(**experiment) -> Config:
    """L96 (n=40), all variables observed every step, ETKF N=20: tracks the truth at once."""
    return Config.from_dict({
        "model": {"name": "lorenz96", "n": 40},
        "observations": {"operator": "full", "noise_std": 1.0},
        "method": {"name": "etkf", "ensemble_size": 20, "inflation": 1.02},
        "experiment": {"cycles": 200, "burn_in": 50, "seed": 1, **experiment},
    })


def small_enks(**experiment) -> Config:
    return Config.from_dict({
        "model": {"name": "lorenz96", "n": 40},
        "observations": {"operator": "every", "stride": 2, "noise_std": 1.0},
        "method": {"name": "enks", "ensemble_size": 20, "inflation": 1.04, "lag": 5},
        "experiment": {"cycles": 120, "burn_in": 20, "seed": 2, **experiment},
    })


@pytest.fixture(scope="module")
def etkf_run(tmp_path_factory):
    cfg = small()
    out = tmp_path_factory.mktemp("etkf")
    return cfg, out, run(cfg, out, progress=False)


@pytest.fixture(scope="module")
def etkf_chunked(tmp_path_factory):
    cfg = small(chunk_cycles=50)
    out = tmp_path_factory.mktemp("etkf_chunked")
    log = io.StringIO()
    summary = run(cfg, out, progress=True, console=Console(file=log, width=120))
    return cfg, out, summary, log.getvalue()


@pytest.fixture(scope="module")
def enks_run(tmp_path_factory):
    cfg = small_enks(chunk_cycles=50)  # chunks of 50, 50, 20
    out = tmp_path_factory.mktemp("enks")
    return cfg, out, run(cfg, out, progress=False)


def test_run_writes_every_file(etkf_run):
    _, out, _ = etkf_run
    for name in (names.RESULTS_FILE, names.SUMMARY_FILE, names.CONFIG_FILE,
                 names.ERROR_SPREAD_FIGURE, names.HOVMOLLER_FIGURE, names.RANK_HISTOGRAM_FIGURE):
        assert (out / name).is_file(), name
    for figure in (names.ERROR_SPREAD_FIGURE, names.HOVMOLLER_FIGURE,
                   names.RANK_HISTOGRAM_FIGURE):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_summary_json(etkf_run):
    cfg, out, summary = etkf_run
    data = json.loads((out / names.SUMMARY_FILE).read_text())
    assert set(data) == SUMMARY_KEYS
    assert data["config"] == cfg.to_dict()
    assert data["cycles"] == 200 and data["seed"] == 1
    assert data["version"] == assimilax.__version__
    assert isinstance(data["git_commit"], str) and data["git_commit"]
    assert data["versions"]["assimilax"] == assimilax.__version__
    assert data["versions"]["jax"] == jax.__version__
    assert data["diverged"] is False and data["diverged_at_cycle"] is None
    assert "rmse_smoothed" not in data  # a filter has no smoothed estimate
    assert 0.05 < data["rmse_analysis"] < 0.5
    assert data["rmse_analysis"] < data["rmse_forecast"]
    assert data["spread_analysis"] < data["spread_forecast"]
    assert 0 < data["rmse_analysis_ci95"] < data["rmse_analysis"]
    assert data["wall_time_s"] > 0
    assert data["cycles_per_second"] == pytest.approx(200 / data["wall_time_s"])
    # The set-up and compilation come before the first cycle, within the wall time.
    assert 0 < data["compile_s"] and 0 < data["startup_s"] < data["wall_time_s"]
    assert data["programs_from_cache"] >= 0
    assert load_summary(out) == summary
    assert Summary.from_dict(summary.to_dict()) == summary


def test_results_nc(etkf_run):
    cfg, out, summary = etkf_run
    ds = read_results(out / names.RESULTS_FILE)
    # ETKF, N = 20: the rank histogram has 21 bins.
    assert dict(ds.sizes) == {names.TIME: 200, names.STATE: 40, names.RANK: 21}
    series = ("rmse_analysis", "rmse_forecast", "spread_analysis", "spread_forecast")
    for name in series:
        assert ds[name].dims == (names.TIME,) and ds[name].dtype == np.float64
    for name in ("analysis_mean", "truth"):
        assert ds[name].dims == (names.TIME, names.STATE) and ds[name].dtype == np.float64
    assert "smoothed_mean" not in ds
    np.testing.assert_allclose(ds[names.TIME].values, 0.05 * np.arange(1, 201))
    np.testing.assert_array_equal(ds[names.CYCLE].values, np.arange(200))
    rmse = np.sqrt(np.mean((ds["analysis_mean"] - ds["truth"]).values ** 2, axis=1))
    np.testing.assert_allclose(ds["rmse_analysis"].values, rmse, rtol=1e-12)
    assert summary.rmse_analysis == pytest.approx(float(ds["rmse_analysis"][50:].mean()))
    assert summary.spread_forecast == pytest.approx(float(ds["spread_forecast"][50:].mean()))
    assert tomllib.loads(ds.attrs["config"]) == cfg.to_dict()
    assert ds.attrs["seed"] == 1
    assert ds.attrs["version"] == assimilax.__version__
    assert ds.attrs["git_commit"] == summary.git_commit
    assert json.loads(ds.attrs["versions"]) == summary.versions
    assert 0 < ds.attrs["wall_time_s"] <= summary.wall_time_s
    assert ds.attrs["climatological_rms"] > 3


def test_chunking_gives_bit_identical_numbers(etkf_run, etkf_chunked):
    one = read_results(etkf_run[1] / names.RESULTS_FILE)
    four = read_results(etkf_chunked[1] / names.RESULTS_FILE)
    for name in one.data_vars:
        np.testing.assert_array_equal(one[name].values, four[name].values, err_msg=name)


def test_progress_bar_reports_cycles(etkf_chunked):
    log = etkf_chunked[3]
    assert "assimilating" in log and "200/200" in log


def test_enks_smoothed_mean_matches_one_uncut_assimilation(enks_run):
    cfg, out, summary = enks_run
    ds = read_results(out / names.RESULTS_FILE)
    assert ds["smoothed_mean"].dims == (names.TIME, names.STATE)
    # The oracle: the core driver over the whole record in one call, buffer flushed. The
    # twin is jit-compiled as in the runner: eager and compiled kernels differ in the last
    # bit, which the chaotic spin-up amplifies to O(1).
    xp = build(cfg)
    setup = xp.setup
    key = jax.random.key(cfg.experiment.seed)
    twin = eqx.filter_jit(simulate_twin)(setup.truth_model, setup.operator, setup.noise, cycles=120,
                         every_steps=1, ensemble_size=20, key=key,
                         spinup_steps=cfg.experiment.spinup_steps)
    ref = da.assimilate(setup.model, twin.observations, xp.method, twin.ensemble0,
                        key=twin_keys(key)["assimilation"], truth=twin.truth)
    np.testing.assert_allclose(ds["truth"].values, np.asarray(twin.truth), rtol=0, atol=0)
    np.testing.assert_allclose(ds["smoothed_mean"].values, np.asarray(ref.get("smoothed_mean")),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ds["rmse_analysis"].values, np.asarray(ref.rmse_analysis),
                               rtol=1e-10)
    assert summary.rmse_smoothed is not None
    assert "rmse_smoothed" in json.loads((out / names.SUMMARY_FILE).read_text())
    assert summary.rmse_smoothed < summary.rmse_analysis
    assert summary.rmse_smoothed == pytest.approx(float(ds["rmse_smoothed"][20:].mean()))


def test_same_config_is_not_recomputed(etkf_run):
    cfg, out, summary = etkf_run
    stamp = (out / names.RESULTS_FILE).stat().st_mtime_ns
    again = run(small(), out, progress=False)
    assert again.reused and again == summary
    assert (out / names.RESULTS_FILE).stat().st_mtime_ns == stamp


def test_different_config_is_refused(etkf_run):
    _, out, _ = etkf_run
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RunDirError, match=r"different configuration") as info:
        run(small(seed=2), out, progress=False)
    assert "[experiment] seed: 1 there, 2 here" in str(info.value)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_directory_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="holds no assimilax run"):
        run(small(), tmp_path, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_an_unfinished_run_is_resumed_only_for_its_config(tmp_path):
    (tmp_path / names.CONFIG_FILE).write_text(small().to_toml())
    assert previous_run(small(), tmp_path) is None  # recompute
    with pytest.raises(RunDirError, match="different configuration"):
        previous_run(small(cycles=300), tmp_path)


def test_divergence_criterion():
    ok = np.full(500, 0.2)
    assert find_divergence(ok, burn_in=50, threshold=3.6, window=100) is None
    lost = ok.copy()
    lost[300:] = 5.0
    cycle, reason = find_divergence(lost, burn_in=50, threshold=3.6, window=100)
    # the first 100-cycle window with a mean above 3.6 holds 71 cycles at 5.0 (0.2 + 0.048 c)
    assert cycle == 300 + 70 and "above the truth's climatological RMS" in reason
    early = ok.copy()
    early[:40] = 9.0  # inside the burn-in: not counted
    assert find_divergence(early, burn_in=50, threshold=3.6, window=100) is None
    nan = ok.copy()
    nan[17] = np.nan  # non-finite counts anywhere
    assert find_divergence(nan, burn_in=50, threshold=3.6, window=100)[0] == 17
    assert find_divergence(ok[:120], burn_in=50, threshold=3.6, window=100) is None


def test_time_means_after_burn_in():
    assert time_mean(np.array([9.0, 1.0, 2.0]), burn_in=1) == 1.5
    assert time_mean(np.array([1.0, np.nan]), burn_in=0) is None  # reported as null
    assert time_mean(np.array([1.0]), burn_in=1) is None
    assert time_mean(None, burn_in=0) is None

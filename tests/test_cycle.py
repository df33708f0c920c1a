"""The cycle driver: input validation, what the result holds, short-run filter sanity on L96."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.da import (
    ETKF,
    LETKF,
    STANDARD_SERIES,
    EnKF,
    EnKF_N,
    EnKS,
    GaspariCohn,
    Multiplicative,
    Save,
    assimilate,
)
from assimilax.da import variational as var
from assimilax.experiments import simulate_twin
from assimilax.metrics import rmse, spread, time_mean_ci
from assimilax.models import Lorenz96, forecast_ensemble
from assimilax.observations import DiagonalNoise, Every, Full, RandomSubset

# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_twin():
    model = Lorenz96(n=12)
    tw = simulate_twin(model, Every(12, 2), DiagonalNoise(1.0), cycles=15, every_steps=3,
                       ensemble_size=8, key=jax.random.PRNGKey(0), spinup_steps=200)
    return model, tw


def test_assimilate_rejects_bad_inputs(small_twin):
    model, tw = small_twin
    obs, E0, key = tw.observations, tw.ensemble0, jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="initial must be an ensemble"):
        assimilate(model, obs, ETKF(), E0[:, :10], key=key)  # wrong state size
    with pytest.raises(ValueError, match="initial must be an ensemble"):
        assimilate(model, obs, ETKF(), E0[0], key=key)  # not (member, state)
    with pytest.raises(ValueError, match="2 members"):
        assimilate(model, obs, ETKF(), E0[:1], key=key)  # one member
    with pytest.raises(ValueError, match="truth"):
        assimilate(model, obs, ETKF(), E0, key=key, truth=tw.truth[:-1])  # wrong time count
    with pytest.raises(ValueError, match="truth"):
        assimilate(model, obs, ETKF(), E0, key=key, truth=tw.truth[:, :5])  # wrong state size


# ---------------------------------------------------------------------------------------------
# What the result holds
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_run(small_twin):
    model, tw = small_twin
    res = assimilate(model, tw.observations, ETKF(inflation=Multiplicative(1.05)), tw.ensemble0,
                     key=jax.random.PRNGKey(1), truth=tw.truth, save=Save(ensembles=True))
    return model, tw, res


def test_result_fields_are_consistent(small_run):
    model, tw, res = small_run
    T, N, n = tw.observations.n_times, tw.ensemble0.shape[0], 12
    assert res.ensembles.shape == (T, N, n)
    assert res.mean_analysis.shape == res.mean_forecast.shape == (T, n)
    assert res.rmse_analysis.shape == res.spread_forecast.shape == (T,)
    np.testing.assert_allclose(res.mean_analysis, res.ensembles.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(res.spread_analysis, spread(res.ensembles), atol=1e-12)
    np.testing.assert_allclose(res.rmse_analysis, rmse(res.mean_analysis, tw.truth), atol=1e-12)
    np.testing.assert_allclose(res.rmse_forecast, rmse(res.mean_forecast, tw.truth), atol=1e-12)
    np.testing.assert_array_equal(res.carry, res.ensembles[-1])
    # A filter: no smoother series.
    assert res.get("smoothed_mean") is None and res.get("rmse_smoothed") is None
    # The truth's rank among the members, counted over the state variables.
    assert res.rank_counts.shape == (T, N + 1)
    np.testing.assert_array_equal(res.rank_counts.sum(axis=1), np.full(T, n))
    ranks = np.sum(np.asarray(res.ensembles) < np.asarray(tw.truth)[:, None, :], axis=1)
    expected = np.stack([np.bincount(r, minlength=N + 1) for r in ranks])
    np.testing.assert_array_equal(res.rank_counts, expected)


def test_forecast_runs_every_steps_model_steps(small_run):
    """Cycle k forecasts the previous analysis ``every_steps`` model steps (no model noise)."""
    model, tw, res = small_run
    k = tw.observations.every_steps
    assert k == 3
    prev = jnp.concatenate([tw.ensemble0[None], res.ensembles[:-1]])
    fc = jax.vmap(lambda E: forecast_ensemble(model, E, k))(prev)
    np.testing.assert_allclose(res.mean_forecast, fc.mean(axis=1), atol=1e-11)
    np.testing.assert_allclose(res.spread_forecast, spread(fc), atol=1e-11)


def test_optional_outputs_are_absent_when_not_asked(small_twin):
    model, tw = small_twin
    res = assimilate(model, tw.observations, ETKF(), tw.ensemble0, key=jax.random.PRNGKey(1))
    assert res.rmse_analysis is None and res.rmse_forecast is None and res.ensembles is None
    assert res.rank_counts is None  # needs the truth
    assert set(res.series) == {"mean_forecast", "mean_analysis", "spread_forecast",
                               "spread_analysis"}
    assert np.all(np.isfinite(res.mean_analysis))


@pytest.mark.parametrize(
    ("save", "absent"),
    [
        (Save(spread=False), {"spread_forecast", "spread_analysis"}),
        (Save(means=False), {"mean_forecast", "mean_analysis"}),
        (Save(errors=False), {"rmse_forecast", "rmse_analysis"}),
        (Save(rank_counts=False), {"rank_counts"}),
    ],
    ids=["no_spread", "no_means", "no_errors", "no_rank_counts"],
)
def test_save_switches_series_off(small_run, save, absent):
    """Each switch of ``Save`` drops its series and leaves the others as they were."""
    model, tw, full = small_run
    res = assimilate(model, tw.observations, ETKF(inflation=Multiplicative(1.05)), tw.ensemble0,
                     key=jax.random.PRNGKey(1), truth=tw.truth, save=save)
    everything = {"mean_forecast", "mean_analysis", "spread_forecast", "spread_analysis",
                  "rmse_forecast", "rmse_analysis", "rank_counts"}
    assert set(res.series) == everything - absent
    for name in absent:
        assert res.get(name) is None
    for name in res.series:
        np.testing.assert_array_equal(res.series[name], full.series[name], err_msg=name)
    np.testing.assert_array_equal(res.carry, full.carry)


def test_save_ensembles_records_every_analysis_ensemble(small_run):
    model, tw, full = small_run
    res = assimilate(model, tw.observations, ETKF(inflation=Multiplicative(1.05)), tw.ensemble0,
                     key=jax.random.PRNGKey(1))
    assert res.ensembles is None and "ensembles" not in res.series  # off by default
    T, N = tw.observations.n_times, tw.ensemble0.shape[0]
    assert full.ensembles.shape == (T, N, 12)  # (time, member, state)
    assert full.spec("ensembles").dims == ("member", "state")
    np.testing.assert_array_equal(full.mean_analysis, res.mean_analysis)


def test_save_method_switches_the_methods_own_series(small_twin):
    model, tw = small_twin
    method = EnKS(ETKF(inflation=Multiplicative(1.05)), lag=2)
    kw = dict(key=jax.random.PRNGKey(1), truth=tw.truth)
    on = assimilate(model, tw.observations, method, tw.ensemble0, **kw)
    off = assimilate(model, tw.observations, method, tw.ensemble0, save=Save(method=False), **kw)
    assert on.get("smoothed_mean").shape == (tw.observations.n_times, 12)
    assert on.get("rmse_smoothed").shape == (tw.observations.n_times,)
    assert off.get("smoothed_mean") is None and off.get("rmse_smoothed") is None
    np.testing.assert_array_equal(off.mean_analysis, on.mean_analysis)
    # Without errors, no smoother error either.
    quiet = assimilate(model, tw.observations, method, tw.ensemble0, save=Save(errors=False),
                       **kw)
    assert quiet.get("rmse_smoothed") is None and quiet.rmse_analysis is None
    np.testing.assert_array_equal(quiet.get("smoothed_mean"), on.get("smoothed_mean"))


def _var3d():
    return var.Var3D(var.DiagonalCovariance(1.0, 12))


def test_deterministic_method_records_no_spread_or_rank_counts(small_twin):
    model, tw = small_twin
    x0 = tw.ensemble0.mean(axis=0)
    res = assimilate(model, tw.observations, _var3d(), x0[None], key=jax.random.PRNGKey(1),
                     truth=tw.truth, save=Save(ensembles=True))
    T = tw.observations.n_times
    assert res.spread_forecast is None and res.spread_analysis is None
    assert res.rank_counts is None
    assert "spread_analysis" not in res.series and "rank_counts" not in res.series
    assert res.mean_analysis.shape == (T, 12) and res.rmse_analysis.shape == (T,)
    np.testing.assert_allclose(res.rmse_analysis, rmse(res.mean_analysis, tw.truth), atol=1e-12)
    assert res.ensembles.shape == (T, 1, 12)  # one member: the analysis itself
    np.testing.assert_array_equal(res.ensembles[:, 0], res.mean_analysis)
    np.testing.assert_array_equal(res.carry, res.mean_analysis[-1])
    # It starts from the mean of the initial ensemble: the whole ensemble gives the same.
    same = assimilate(model, tw.observations, _var3d(), tw.ensemble0, key=jax.random.PRNGKey(1),
                      truth=tw.truth)
    np.testing.assert_allclose(same.mean_analysis, res.mean_analysis, rtol=0, atol=1e-12)


def _check_specs(res, sizes):
    """Every series has a spec, in the same order, whose dims and units describe it."""
    assert tuple(spec.name for spec in res.specs) == tuple(res.series)
    for spec in res.specs:
        value = res.series[spec.name]
        assert isinstance(spec.dims, tuple) and isinstance(spec.units, str) and spec.units
        assert spec.description
        assert value.shape[1:] == tuple(sizes[d] for d in spec.dims), (spec, value.shape)
        assert res.spec(spec.name) is spec
    with pytest.raises(KeyError):
        res.spec("no_such_series")


def test_result_specs_name_every_series_with_dims_and_units(small_run, small_twin):
    model, tw = small_twin
    _, _, res = small_run
    N, n = tw.ensemble0.shape
    sizes = {"state": n, "member": N, "rank": N + 1}
    assert set(res.series) == set(STANDARD_SERIES)  # every standard series recorded
    _check_specs(res, sizes)
    for name in res.series:
        assert res.spec(name) == STANDARD_SERIES[name]
    assert res.spec("mean_analysis").dims == ("state",)
    assert res.spec("rmse_analysis").dims == () and res.spec("rank_counts").dims == ("rank",)
    # A smoother's own series and its error.
    enks = assimilate(model, tw.observations, EnKS(ETKF(), lag=2), tw.ensemble0,
                      key=jax.random.PRNGKey(1), truth=tw.truth)
    _check_specs(enks, sizes)
    smoothed = enks.spec("smoothed_mean")
    assert smoothed.dims == ("state",) and smoothed.units == "state units" and smoothed.lag == 2
    assert enks.spec("rmse_smoothed").dims == ()
    assert enks.spec("rmse_smoothed").units == "state units"
    # Weak-constraint 4D-Var's forcing, in tendency units; no spread for a deterministic method.
    weak = var.WeakVar4D(var.DiagonalCovariance(1.0, n), var.DiagonalCovariance(0.1, n),
                         window=3, solver=var.GaussNewton(1))
    w = assimilate(model, tw.observations, weak, tw.ensemble0[:1], key=jax.random.PRNGKey(1),
                   truth=tw.truth)
    _check_specs(w, sizes)
    assert w.spec("forcing").dims == ("state",)
    assert w.spec("forcing").units == "state units per time unit"
    assert w.get("forcing").shape == (tw.observations.n_times, n)


def test_filter_with_random_masks_beats_no_assimilation():
    """Half of the variables observed at random each time: the analysis tracks the truth
    better than the free-running ensemble mean (whose error saturates near sqrt(2) x 3.6)."""
    model = Lorenz96(n=40)
    tw = simulate_twin(model, RandomSubset(40, 0.5), DiagonalNoise(1.0), cycles=150,
                       every_steps=1, ensemble_size=20, key=jax.random.PRNGKey(3),
                       spinup_steps=500)
    method = LETKF(inflation=Multiplicative(1.05), localization=GaspariCohn(3.0))
    res = assimilate(model, tw.observations, method, tw.ensemble0, key=jax.random.PRNGKey(4),
                     truth=tw.truth)
    assert np.all(np.isfinite(res.mean_analysis))
    assert float(res.rmse_analysis[50:].mean()) < 1.0


# ---------------------------------------------------------------------------------------------
# Short-run sanity on DAPPER's sakov2008 set-up (the long parity runs are in test_parity)
# ---------------------------------------------------------------------------------------------

SANITY = {
    "etkf_N28": (ETKF(inflation=Multiplicative(1.02)), 28, (0.15, 0.23)),
    "letkf_N7": (LETKF(inflation=Multiplicative(1.04), localization=GaspariCohn(4.0)), 7,
                 (0.18, 0.28)),
    "enkf_n_N24": (EnKF_N(), 24, (0.17, 0.27)),
    "enkf_N40": (EnKF(inflation=Multiplicative(1.06)), 40, (0.18, 0.28)),
}


@pytest.mark.parametrize("name", list(SANITY))
def test_short_run_l96_sakov2008(name):
    """L96 n=40, F=8, dt=0.05, full observations every step, R=I: 600 cycles, 200 burn-in."""
    method, N, (lo, hi) = SANITY[name]
    model = Lorenz96(n=40, forcing=8.0, dt=0.05)
    tw = simulate_twin(model, Full(40), DiagonalNoise(1.0), cycles=600, every_steps=1,
                       ensemble_size=N, key=jax.random.PRNGKey(0), spinup_steps=2000)
    res = assimilate(model, tw.observations, method, tw.ensemble0, key=jax.random.PRNGKey(1),
                     truth=tw.truth)
    r = float(res.rmse_analysis[200:].mean())
    assert lo <= r <= hi, (name, r)
    # The ensemble is calibrated-ish: spread within a factor 2 of the error.
    s = float(res.spread_analysis[200:].mean())
    assert 0.5 * r <= s <= 2 * r, (name, r, s)


def test_enks_smoothed_rmse_beats_filter_on_l96():
    """EnKS lag 5 on L96: the smoothed error is below the filter error, by more than three
    autocorrelation-corrected half-widths of the per-cycle difference."""
    model = Lorenz96(n=40)
    cycles = 600
    tw = simulate_twin(model, Full(40), DiagonalNoise(1.0), cycles=cycles, every_steps=1,
                       ensemble_size=20, key=jax.random.PRNGKey(5), spinup_steps=2000)
    method = EnKS(ETKF(inflation=Multiplicative(1.02)), lag=5)
    res = assimilate(model, tw.observations, method, tw.ensemble0, key=jax.random.PRNGKey(6),
                     truth=tw.truth)
    assert res.get("smoothed_mean").shape == (cycles, 40)
    smoothed = np.asarray(rmse(res.get("smoothed_mean"), tw.truth))
    np.testing.assert_allclose(res.get("rmse_smoothed"), smoothed, rtol=1e-12)
    filt = np.asarray(res.rmse_analysis)
    diff, hw = time_mean_ci(filt - smoothed, burn_in=100, level=0.95)
    assert diff > 3 * hw, (diff, hw, smoothed[100:].mean(), filt[100:].mean())

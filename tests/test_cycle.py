"""The cycle driver: input validation, what the result holds, short-run filter sanity on L96."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.da import ETKF, LETKF, EnKF, EnKF_N, EnKS, GaspariCohn, Multiplicative, assimilate
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
    with pytest.raises(ValueError, match="ensemble0"):
        assimilate(model, obs, ETKF(), E0[:, :10], key=key)  # wrong state size
    with pytest.raises(ValueError, match="ensemble0"):
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
                     key=jax.random.PRNGKey(1), truth=tw.truth, save_ensembles=True)
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
    np.testing.assert_array_equal(res.final_ensemble, res.ensembles[-1])
    assert res.lagged_mean is None and res.smoothed_mean is None  # a filter


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
    assert np.all(np.isfinite(res.mean_analysis))


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
    assert res.smoothed_mean.shape == (cycles, 40)
    smoothed = np.asarray(rmse(res.smoothed_mean, tw.truth))
    filt = np.asarray(res.rmse_analysis)
    diff, hw = time_mean_ci(filt - smoothed, burn_in=100, level=0.95)
    assert diff > 3 * hw, (diff, hw, smoothed[100:].mean(), filt[100:].mean())

"""Properties over the whole table of ensemble methods (DESIGN.md, convention 10).

Every method, with its inflation variants, is jit-able, vmap-able over ensembles and keys,
shape-preserving and finite; with every observation missing it leaves the ensemble mean
alone; whole experiments over a batch of seeds run as one ``vmap`` and equal the per-seed
runs; the same key gives bit-identical results; a record split into chunks gives the same
numbers as one call.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.da import (
    ETKF,
    LETKF,
    RTPP,
    RTPS,
    EnKF,
    EnKF_N,
    EnKS,
    GaspariCohn,
    Multiplicative,
    assimilate,
)
from assimilax.experiments import simulate_twin
from assimilax.models import Lorenz96, forecast_ensemble
from assimilax.observations import DiagonalNoise, Every

N_STATE, N_MEMBERS, EVERY, CYCLES = 16, 8, 2, 12
MODEL = Lorenz96(n=N_STATE)
OPERATOR = Every(N_STATE, 2)
NOISE = DiagonalNoise(1.0)

METHODS = {
    "etkf": ETKF(),
    "etkf_infl": ETKF(inflation=Multiplicative(1.05)),
    "etkf_rtpp": ETKF(inflation=RTPP(0.5)),
    "etkf_norot_rtps": ETKF(rotate=False, inflation=RTPS(0.5)),
    "enkf_infl": EnKF(inflation=Multiplicative(1.05)),
    "enkf_rtpp": EnKF(inflation=RTPP(0.5)),
    "enkf_n": EnKF_N(),
    "enkf_n_norot": EnKF_N(rotate=False),
    "letkf_infl": LETKF(inflation=Multiplicative(1.02), localization=GaspariCohn(3.0)),
    "letkf_norot_rtps": LETKF(inflation=RTPS(0.7), localization=GaspariCohn(2.0), rotate=False),
    "enks_etkf": EnKS(ETKF(inflation=Multiplicative(1.02)), lag=3),
    "enks_enkf": EnKS(EnKF(), lag=2),
    "enks_enkf_n_norot": EnKS(EnKF_N(rotate=False), lag=2),
}
# One per family for the (costlier) whole-experiment properties.
CYCLE_METHODS = ["etkf_infl", "enkf_infl", "enkf_n", "letkf_infl", "enks_etkf"]


def _inner(method):
    return method.filter if isinstance(method, EnKS) else method


@pytest.fixture(scope="module")
def twin():
    return simulate_twin(MODEL, OPERATOR, NOISE, cycles=CYCLES, every_steps=EVERY,
                         ensemble_size=N_MEMBERS, key=jax.random.PRNGKey(0), spinup_steps=300)


@pytest.fixture(scope="module")
def forecast(twin):
    """A batch of 3 forecast ensembles, observations and keys for one analysis time."""
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    E0 = jnp.stack([twin.ensemble0 + 0.3 * jax.random.normal(k, twin.ensemble0.shape)
                    for k in keys])
    Ef = jax.vmap(lambda E: forecast_ensemble(MODEL, E, EVERY))(E0)
    y = jnp.stack([twin.observations.y[i] for i in range(3)])
    mask = jnp.stack([twin.observations.mask[i] for i in range(3)])
    return Ef, y, mask, jax.random.split(jax.random.PRNGKey(2), 3)


def _step(method, E, y, mask, key):
    state = method.init(E)
    Ea, state, emitted = method.step(E, state, y, mask, OPERATOR, NOISE, key=key)
    return Ea, state, emitted


_jit_step = eqx.filter_jit(_step)
_vmap_step = eqx.filter_jit(eqx.filter_vmap(_step, in_axes=(None, 0, 0, 0, 0)))


@pytest.mark.parametrize("name", list(METHODS))
def test_step_is_jittable_shape_preserving_and_finite(forecast, name):
    method = METHODS[name]
    Ef, y, mask, keys = forecast
    Ea, state, emitted = _jit_step(method, Ef[0], y[0], mask[0], keys[0])
    assert Ea.shape == Ef[0].shape and Ea.dtype == Ef[0].dtype
    assert np.all(np.isfinite(np.asarray(Ea)))
    if isinstance(method, EnKS):
        assert state.shape == (method.lag, N_MEMBERS, N_STATE) and emitted.shape == (N_STATE,)
    # jit and eager agree.
    Ea_eager, _, _ = _step(method, Ef[0], y[0], mask[0], keys[0])
    np.testing.assert_allclose(Ea, Ea_eager, rtol=0, atol=1e-10)
    # The analysis moved the mean towards the observations.
    idx = np.asarray(OPERATOR.indices)
    err_f = np.abs(np.asarray(Ef[0].mean(0))[idx] - np.asarray(y[0]))
    err_a = np.abs(np.asarray(Ea.mean(0))[idx] - np.asarray(y[0]))
    assert err_a.mean() < err_f.mean()


@pytest.mark.parametrize("name", list(METHODS))
def test_step_vmaps_over_ensembles_and_keys(forecast, name):
    method = METHODS[name]
    Ef, y, mask, keys = forecast
    Ea_b, state_b, _ = _vmap_step(method, Ef, y, mask, keys)
    assert Ea_b.shape == Ef.shape
    for i in range(Ef.shape[0]):
        Ea_i, state_i, _ = _jit_step(method, Ef[i], y[i], mask[i], keys[i])
        np.testing.assert_allclose(Ea_b[i], Ea_i, rtol=0, atol=1e-10)
        if state_i is not None:
            np.testing.assert_allclose(state_b[i], state_i, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", list(METHODS))
def test_all_observations_missing_leaves_the_mean(forecast, name):
    method = METHODS[name]
    Ef, y, _, keys = forecast
    none = jnp.zeros(OPERATOR.size, bool)
    junk = jnp.full_like(y[0], 1e3)  # masked values are never used
    Ea, _, _ = _jit_step(method, Ef[0], junk, none, keys[0])
    np.testing.assert_allclose(Ea.mean(0), Ef[0].mean(0), rtol=0, atol=1e-12)
    inner = _inner(method)
    Cf, Ca = np.cov(np.asarray(Ef[0]).T), np.cov(np.asarray(Ea).T)
    if isinstance(inner.inflation, Multiplicative):
        np.testing.assert_allclose(Ca, inner.inflation.factor**2 * Cf, rtol=1e-10, atol=1e-12)
    else:
        # No update: RTPS/RTPP relax to the forecast itself; rotations keep the covariance.
        np.testing.assert_allclose(Ca, Cf, rtol=1e-10, atol=1e-12)
        if not inner.rotate:
            # Not even the EnKF's perturbations touch an unobserved slot.
            np.testing.assert_allclose(Ea, Ef[0], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Whole experiments
# ---------------------------------------------------------------------------------------------


def _experiment(method, key):
    tw = simulate_twin(MODEL, OPERATOR, NOISE, cycles=CYCLES, every_steps=EVERY,
                       ensemble_size=N_MEMBERS, key=key, spinup_steps=100)
    res = assimilate(MODEL, tw.observations, method, tw.ensemble0, key=key, truth=tw.truth)
    return res.mean_analysis, res.rmse_analysis, res.smoothed_mean


_one = eqx.filter_jit(_experiment)
_batch = eqx.filter_jit(eqx.filter_vmap(_experiment, in_axes=(None, 0)))


@pytest.mark.parametrize("name", CYCLE_METHODS)
def test_batch_of_seeds_is_one_vmap_equal_to_single_runs(name):
    method = METHODS[name]
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    means, rmses, smoothed = _batch(method, keys)
    assert means.shape == (3, CYCLES, N_STATE) and rmses.shape == (3, CYCLES)
    assert np.all(np.isfinite(np.asarray(rmses)))
    for i in range(3):
        m_i, r_i, s_i = _one(method, keys[i])
        np.testing.assert_allclose(means[i], m_i, rtol=0, atol=1e-9)
        np.testing.assert_allclose(rmses[i], r_i, rtol=0, atol=1e-9)
        if s_i is not None:
            np.testing.assert_allclose(smoothed[i], s_i, rtol=0, atol=1e-9)
    # Different seeds, different experiments.
    assert not np.allclose(rmses[0], rmses[1])


@pytest.mark.parametrize("name", CYCLE_METHODS)
def test_same_key_is_bit_identical(name):
    method = METHODS[name]
    k = jax.random.PRNGKey(11)
    a = _one(method, k)
    b = _one(method, k)
    for x, y in zip(a, b, strict=True):
        if x is not None:
            np.testing.assert_array_equal(x, y)
    c = _one(method, jax.random.PRNGKey(12))
    assert not np.allclose(a[1], c[1])


@pytest.mark.parametrize("name", ["etkf_infl", "enkf_infl", "enks_etkf"])
def test_chunked_cycle_equals_one_call(twin, name):
    """Chunks carry the ensemble and the method's state; randomness follows the global cycle
    (a rotating filter, a stochastic one, and a smoother with a carried buffer)."""
    method = METHODS[name]
    obs, truth, E0 = twin.observations, twin.truth, twin.ensemble0
    key = jax.random.PRNGKey(3)
    full = assimilate(MODEL, obs, method, E0, key=key, truth=truth)
    cut = 5
    a = assimilate(MODEL, obs[:cut], method, E0, key=key, truth=truth[:cut], finish=False)
    b = assimilate(MODEL, obs[cut:], method, a.final_ensemble, key=key, truth=truth[cut:],
                   state=a.final_state, start_cycle=cut)
    for field in ("mean_analysis", "mean_forecast", "rmse_analysis", "spread_analysis"):
        joined = jnp.concatenate([getattr(a, field), getattr(b, field)])
        np.testing.assert_allclose(joined, getattr(full, field), rtol=0, atol=1e-10,
                                   err_msg=field)
    np.testing.assert_allclose(b.final_ensemble, full.final_ensemble, rtol=0, atol=1e-10)
    if isinstance(method, EnKS):
        lagged = jnp.concatenate([a.lagged_mean, b.lagged_mean])
        np.testing.assert_allclose(lagged, full.lagged_mean, rtol=0, atol=1e-10)
        smoothed = jnp.concatenate([lagged[method.lag:], method.finish(b.final_state)])
        np.testing.assert_allclose(smoothed, full.smoothed_mean, rtol=0, atol=1e-10)
        assert a.smoothed_mean is None  # finish=False: nothing flushed


def test_start_cycle_changes_the_random_stream(twin):
    """Randomness at cycle k comes from the global cycle index, not the position in a chunk."""
    obs, E0 = twin.observations, twin.ensemble0
    key = jax.random.PRNGKey(3)
    a = assimilate(MODEL, obs[:4], EnKF(), E0, key=key)
    b = assimilate(MODEL, obs[:4], EnKF(), E0, key=key, start_cycle=4)
    assert not np.allclose(a.mean_analysis, b.mean_analysis)

"""Properties over the whole table of methods (DESIGN.md, convention 10).

Every method (the ensemble filters and smoothers with their inflation variants, and the
variational Var3D / Var4D) is jit-able, vmap-able over initial ensembles, windows and keys,
shape-preserving and finite through one protocol cycle; with every observation missing it
leaves the mean alone; whole experiments over a batch of seeds run as one ``vmap`` and equal
the per-seed runs; the same key gives bit-identical results; a record split into chunks
gives the same numbers as one call.
"""

import math

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
    NoRotation,
    Window,
    assimilate,
    complete_series,
)
from assimilax.da import variational as var
from assimilax.experiments import simulate_twin
from assimilax.models import Lorenz96, forecast_ensemble
from assimilax.observations import DiagonalNoise, Every

N_STATE, N_MEMBERS, EVERY, CYCLES = 16, 8, 2, 12
MODEL = Lorenz96(n=N_STATE)
OPERATOR = Every(N_STATE, 2)
NOISE = DiagonalNoise(1.0)
B = var.DiagonalCovariance(1.0, N_STATE)

METHODS = {
    "etkf": ETKF(),
    "etkf_infl": ETKF(inflation=Multiplicative(1.05)),
    "etkf_rtpp": ETKF(inflation=RTPP(0.5)),
    "etkf_norot_rtps": ETKF(rotation=NoRotation(), inflation=RTPS(0.5)),
    "enkf_infl": EnKF(inflation=Multiplicative(1.05)),
    "enkf_rtpp": EnKF(inflation=RTPP(0.5)),
    "enkf_n": EnKF_N(),
    "enkf_n_norot": EnKF_N(rotation=NoRotation()),
    "letkf_infl": LETKF(inflation=Multiplicative(1.02), localization=GaspariCohn(3.0)),
    "letkf_norot_rtps": LETKF(inflation=RTPS(0.7), localization=GaspariCohn(2.0),
                              rotation=NoRotation()),
    "enks_etkf": EnKS(ETKF(inflation=Multiplicative(1.02)), lag=3),
    "enks_enkf": EnKS(EnKF(), lag=2),
    "enks_enkf_n_norot": EnKS(EnKF_N(rotation=NoRotation()), lag=2),
    "var3d": var.Var3D(B),
    "var4d": var.Var4D(B, window=2, solver=var.GaussNewton(2)),
}
# One per family for the (costlier) whole-experiment properties.
CYCLE_METHODS = ["etkf_infl", "enkf_infl", "enkf_n", "letkf_infl", "enks_etkf", "var3d", "var4d"]


def _inner(method):
    return method.filter if isinstance(method, EnKS) else method


def _members(method):
    return N_MEMBERS if method.ensemble else 1


def _assert_trees_close(a, b, atol, what=""):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb), what
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=what)


@pytest.fixture(scope="module")
def twin():
    return simulate_twin(MODEL, OPERATOR, NOISE, cycles=CYCLES, every_steps=EVERY,
                         ensemble_size=N_MEMBERS, key=jax.random.PRNGKey(0), spinup_steps=300)


@pytest.fixture(scope="module")
def batch(twin):
    """A batch of 3 initial ensembles, the observation record and keys for one cycle."""
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    E0 = jnp.stack([twin.ensemble0 + 0.3 * jax.random.normal(k, twin.ensemble0.shape)
                    for k in keys])
    return E0, twin.observations, jax.random.split(jax.random.PRNGKey(2), 3)


def _windows(method, observations):
    """Batch element ``i``: the ``times_per_cycle`` observation times from time ``i``."""
    P = method.times_per_cycle
    y = jnp.stack([observations.y[i:i + P] for i in range(3)])
    mask = jnp.stack([observations.mask[i:i + P] for i in range(3)])
    return y, mask


def _step(method, E, y, mask, key):
    carry = method.init(E)
    carry, estimate = method.cycle(MODEL, carry, Window(y, mask, OPERATOR, NOISE, EVERY),
                                   key=key)
    return carry, estimate


_jit_step = eqx.filter_jit(_step)
_vmap_step = eqx.filter_jit(eqx.filter_vmap(_step, in_axes=(None, 0, 0, 0, 0)))


@pytest.mark.parametrize("name", list(METHODS))
def test_cycle_is_jittable_shape_preserving_and_finite(batch, name):
    method = METHODS[name]
    E0, observations, keys = batch
    y, mask = _windows(method, observations)
    carry, est = _jit_step(method, E0[0], y[0], mask[0], keys[0])
    P, members = method.times_per_cycle, _members(method)
    assert est.forecast.shape == est.analysis.shape == (P, members, N_STATE)
    assert est.analysis.dtype == est.forecast.dtype == E0.dtype
    for leaf in jax.tree.leaves((carry, est)):
        assert np.all(np.isfinite(np.asarray(leaf)))
    # The forecast is the model's, from the initial ensemble (or its mean).
    if method.ensemble:
        fc = forecast_ensemble(MODEL, E0[0], EVERY)
        np.testing.assert_allclose(est.forecast[0], fc, rtol=0, atol=1e-12)
    else:
        fc = var.propagate(MODEL, E0[0].mean(0), EVERY, P)
        np.testing.assert_allclose(est.forecast[:, 0], fc, rtol=0, atol=1e-12)
    # The carry is shaped as the method says.
    if isinstance(method, EnKS):
        ensemble, buffer = carry
        assert buffer.shape == (method.lag, N_MEMBERS, N_STATE)
        assert est.series["smoothed_mean"].shape == (1, N_STATE)
        np.testing.assert_array_equal(ensemble, est.analysis[-1])
    elif method.ensemble:
        assert carry.shape == (N_MEMBERS, N_STATE)
        np.testing.assert_array_equal(carry, est.analysis[-1])
    else:
        assert carry.shape == (N_STATE,)
        assert set(est.series) == set()
    # jit and eager agree.
    _assert_trees_close(_step(method, E0[0], y[0], mask[0], keys[0]), (carry, est), 1e-10)
    # The analysis moved the mean towards the observations.
    idx = np.asarray(OPERATOR.indices)
    obs = np.asarray(y[0])
    err_f = np.abs(np.asarray(est.forecast.mean(1))[:, idx] - obs)
    err_a = np.abs(np.asarray(est.analysis.mean(1))[:, idx] - obs)
    assert err_a.mean() < err_f.mean()


@pytest.mark.parametrize("name", list(METHODS))
def test_cycle_vmaps_over_ensembles_windows_and_keys(batch, name):
    method = METHODS[name]
    E0, observations, keys = batch
    y, mask = _windows(method, observations)
    carry_b, est_b = _vmap_step(method, E0, y, mask, keys)
    P = method.times_per_cycle
    assert est_b.analysis.shape == (3, P, _members(method), N_STATE)
    for i in range(E0.shape[0]):
        carry_i, est_i = _jit_step(method, E0[i], y[i], mask[i], keys[i])
        _assert_trees_close(jax.tree.map(lambda x, i=i: x[i], (carry_b, est_b)),
                            (carry_i, est_i), 1e-10, f"member {i} of the batch")


@pytest.mark.parametrize("name", list(METHODS))
def test_all_observations_missing_leaves_the_mean(batch, name):
    method = METHODS[name]
    E0, observations, keys = batch
    y, _ = _windows(method, observations)
    none = jnp.zeros(y[0].shape, bool)
    junk = jnp.full_like(y[0], 1e3)  # masked values are never used
    _, est = _jit_step(method, E0[0], junk, none, keys[0])
    Ef, Ea = est.forecast, est.analysis
    np.testing.assert_allclose(Ea.mean(1), Ef.mean(1), rtol=0, atol=1e-12)
    if not method.ensemble:
        # No data: the analysis is the background trajectory itself.
        np.testing.assert_allclose(Ea, Ef, rtol=0, atol=1e-12)
        return
    inner = _inner(method)
    Cf, Ca = np.cov(np.asarray(Ef[-1]).T), np.cov(np.asarray(Ea[-1]).T)
    if isinstance(inner.inflation, Multiplicative):
        np.testing.assert_allclose(Ca, inner.inflation.factor**2 * Cf, rtol=1e-10, atol=1e-12)
    else:
        # No update: RTPS/RTPP relax to the forecast itself; rotations keep the covariance.
        np.testing.assert_allclose(Ca, Cf, rtol=1e-10, atol=1e-12)
        if isinstance(inner.rotation, NoRotation):
            # Not even the EnKF's perturbations touch an unobserved slot.
            np.testing.assert_allclose(Ea, Ef, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Whole experiments
# ---------------------------------------------------------------------------------------------


def _experiment(method, key):
    tw = simulate_twin(MODEL, OPERATOR, NOISE, cycles=CYCLES, every_steps=EVERY,
                       ensemble_size=N_MEMBERS, key=key, spinup_steps=100)
    res = assimilate(MODEL, tw.observations, method, tw.ensemble0, key=key, truth=tw.truth)
    return res.mean_analysis, res.rmse_analysis, res.get("smoothed_mean")


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


@pytest.mark.parametrize("name", ["etkf_infl", "enkf_infl", "enks_etkf", "var3d", "var4d"])
def test_chunked_cycle_equals_one_call(twin, name):
    """Chunks carry the method's carry; randomness follows the global cycle (a rotating
    filter, a stochastic one, a smoother with a carried buffer, and 3D-/4D-Var, whose
    chunks end on whole windows)."""
    method = METHODS[name]
    obs, truth, E0 = twin.observations, twin.truth, twin.ensemble0
    key = jax.random.PRNGKey(3)
    full = assimilate(MODEL, obs, method, E0, key=key, truth=truth)
    P = method.times_per_cycle
    cut = P * math.ceil(5 / P)  # observation times in the first chunk
    a = assimilate(MODEL, obs[:cut], method, E0, key=key, truth=truth[:cut], finish=False)
    b = assimilate(MODEL, obs[cut:], method, E0, key=key, truth=truth[cut:], carry=a.carry,
                   start_cycle=cut // P)
    assert set(a.series) == set(b.series)
    joined = {name: jnp.concatenate([a.series[name], b.series[name]]) for name in a.series}
    for field in ("mean_analysis", "mean_forecast", "rmse_analysis", "spread_analysis"):
        if not method.ensemble and field.startswith("spread"):
            assert field not in joined and full.get(field) is None
            continue
        np.testing.assert_allclose(joined[field], full.series[field], rtol=0, atol=1e-10,
                                   err_msg=field)
    _assert_trees_close(b.carry, full.carry, 1e-10, "carry")
    # The record of the chunks, completed with the last carry, is the one call's record.
    completed = complete_series(method, joined, b.carry, truth)
    assert set(completed) == set(full.series)
    for field, value in full.series.items():
        np.testing.assert_allclose(completed[field], value, rtol=0, atol=1e-10, err_msg=field)
    if isinstance(method, EnKS):
        # finish=False: the rows as emitted (row k: the estimate of cycle k - lag); the
        # raw rows of the chunks are those of one call without finishing.
        raw = assimilate(MODEL, obs, method, E0, key=key, truth=truth, finish=False)
        np.testing.assert_allclose(joined["smoothed_mean"], raw.get("smoothed_mean"), rtol=0,
                                   atol=1e-10)
        tail = method.finish(b.carry)["smoothed_mean"]
        smoothed = jnp.concatenate([joined["smoothed_mean"][method.lag:], tail])
        np.testing.assert_allclose(smoothed, full.get("smoothed_mean"), rtol=0, atol=1e-10)
        assert "rmse_smoothed" not in a.series  # finish=False: not assembled, no error
        assert "rmse_smoothed" not in raw.series


def test_start_cycle_changes_the_random_stream(twin):
    """Randomness at cycle k comes from the global cycle index, not the position in a chunk."""
    obs, E0 = twin.observations, twin.ensemble0
    key = jax.random.PRNGKey(3)
    a = assimilate(MODEL, obs[:4], EnKF(), E0, key=key)
    b = assimilate(MODEL, obs[:4], EnKF(), E0, key=key, start_cycle=4)
    assert not np.allclose(a.mean_analysis, b.mean_analysis)

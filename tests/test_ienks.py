"""The iEnKS (Sqrt, Lag = 1) against independent oracles, and DAPPER's numbers.

Exact oracles (linear model, no model noise, an initial ensemble whose sample mean and
covariance are the Kalman prior, N - 1 >= n): the analysis is the Kalman filter's at every
cycle for any number of Gauss-Newton iterations (the cost is quadratic, the first step
lands on its minimum, later steps are zero), the smoothed mean is the one-lag
(Rauch-Tung-Striebel) smoother, and inflation of the smoothed anomalies is the Kalman filter
with the analysis covariance inflated before each forecast. On a nonlinear model one
iteration is the symmetric square-root ETKF (written out in numpy here), and more iterations
converge to a fixed point.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _chunk_helpers import whole_and_chunked
from assimilax.da import RTPS, Multiplicative, assimilate
from assimilax.da._linalg import EighInvSqrt, HaarRotation, NoRotation
from assimilax.da._method import Window
from assimilax.da.cycle import Save
from assimilax.da.ensemble._ienks import IEnKS
from assimilax.da.kalman import kalman_filter
from assimilax.experiments import simulate_twin
from assimilax.models import LinearModel, Lorenz63, Lorenz96, forecast_ensemble, rollout
from assimilax.observations import (
    CorrelatedNoise,
    DiagonalNoise,
    Every,
    Full,
    Linear,
    Observations,
    Subset,
    observe,
)

n = 5
T_CYCLES = 10


def _system():
    rng = np.random.default_rng(11)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    M = 0.97 * Q + 0.05 * rng.standard_normal((n, n))
    A = rng.standard_normal((n, n))
    P0 = A @ A.T / n + 0.4 * np.eye(n)
    return M, rng.standard_normal(n), P0


M_LIN, M0, P0 = _system()


def exact_ensemble(m, P, N, seed):
    """Members whose sample mean is ``m`` and sample covariance (ddof 1) is ``P`` exactly."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((N, len(m)))
    Z -= Z.mean(axis=0)
    Qz, _ = np.linalg.qr(Z)
    return m + np.sqrt(N - 1) * Qz @ np.linalg.cholesky(P).T


def sample_cov(E):
    return np.cov(np.asarray(E).T, ddof=1)


@pytest.fixture(scope="module")
def truth_lin():
    x0 = M0 + np.linalg.cholesky(P0) @ np.random.default_rng(3).standard_normal(n)
    return rollout(LinearModel(jnp.asarray(M_LIN)), jnp.asarray(x0), T_CYCLES)


def _observations(name, truth):
    """An observation series and the (H, R) of the Kalman oracle."""
    rng = np.random.default_rng(5)
    key = jax.random.PRNGKey(8)
    if name == "subset":
        idx = [0, 2, 3]
        std = np.array([0.6, 0.9, 0.5])
        op, noise, H, R = Subset(n, idx), DiagonalNoise(std), np.eye(n)[idx], np.diag(std**2)
    elif name == "correlated":
        H = rng.standard_normal((4, n))
        C = 0.3 * rng.standard_normal((4, 4))
        R = C @ C.T + 0.5 * np.eye(4)
        op, noise = Linear(H), CorrelatedNoise(R)
    elif name == "masked":
        std = np.linspace(0.4, 1.0, n)
        op, noise, H, R = Full(n), DiagonalNoise(std), np.eye(n), np.diag(std**2)
        obs = observe(truth, op, noise, key=key)
        mask = rng.random(obs.mask.shape) < 0.6
        mask[2] = False  # nothing observed at cycle 2
        mask[5] = [False, True, False, False, False]
        return Observations(op, noise, jnp.where(mask, obs.y, 0.0), jnp.asarray(mask)), H, R
    else:
        raise KeyError(name)
    return observe(truth, op, noise, key=key), H, R


def _kalman_inflated(y, mask, H, R, infl=1.0):
    """Kalman filter whose analysis covariance is multiplied by ``infl**2`` before each
    forecast (what the reported analysis does not include): numpy, masks by row removal."""
    m, P = M0.copy(), P0.copy()
    out = {"mf": [], "ma": [], "Pa": [], "Pa_next": []}
    for k in range(y.shape[0]):
        mf, Pf = M_LIN @ m, M_LIN @ P @ M_LIN.T
        o = np.asarray(mask[k])
        if o.any():
            Ho, Ro = H[o], R[np.ix_(o, o)]
            K = Pf @ Ho.T @ np.linalg.inv(Ho @ Pf @ Ho.T + Ro)
            ma = mf + K @ (np.asarray(y[k])[o] - Ho @ mf)
            Pa = (np.eye(n) - K @ Ho) @ Pf
        else:
            ma, Pa = mf, Pf
        out["mf"].append(mf)
        out["ma"].append(ma)
        out["Pa"].append(Pa)
        m, P = ma, infl**2 * Pa
        out["Pa_next"].append(P)
    return {k: np.array(v) for k, v in out.items()}


def _one_lag_smoother(ma, Pa, mf, Pf):
    """x_{k-1|k} = x_{k-1|k-1} + P_{k-1|k-1} M^T P_{k|k-1}^{-1} (x_{k|k} - x_{k|k-1})."""
    rows = [ma[k - 1] + Pa[k - 1] @ M_LIN.T @ np.linalg.solve(Pf[k], ma[k] - mf[k])
            for k in range(1, len(ma))]
    return np.array(rows + [ma[-1]])


def _assert_close(got, ref, tol, what):
    got, ref = np.asarray(got), np.asarray(ref)
    err = np.max(np.abs(got - ref))
    assert err <= tol * max(1.0, np.abs(ref).max()), (what, err)


# ---------------------------------------------------------------------------------------------
# Exact: the Kalman filter and the one-lag smoother
# ---------------------------------------------------------------------------------------------

CASES = [
    (1, NoRotation(), "subset", 0.0),
    (10, HaarRotation(), "subset", 0.0),
    (10, NoRotation(), "correlated", 0.0),
    (1, HaarRotation(), "masked", 0.0),
    (10, HaarRotation(), "masked", 0.0),
    (50, NoRotation(), "masked", 1e-20),
]


@pytest.mark.parametrize(("iterations", "rotation", "obs_name", "wtol"), CASES)
def test_ienks_is_the_kalman_filter_and_one_lag_smoother(truth_lin, iterations, rotation,
                                                         obs_name, wtol):
    obs, H, R = _observations(obs_name, truth_lin)
    E0 = jnp.asarray(exact_ensemble(M0, P0, n + 3, seed=1))
    model = LinearModel(jnp.asarray(M_LIN))
    method = IEnKS(iterations=iterations, rotation=rotation, wtol=wtol)
    res = assimilate(model, obs, method, E0, key=jax.random.PRNGKey(0), truth=truth_lin,
                     save=Save(ensembles=True))
    kf = kalman_filter(*(jnp.asarray(a) for a in (M_LIN, np.zeros((n, n)), H, R, M0, P0)),
                       obs.y, obs.mask)
    _assert_close(res.mean_forecast, kf.mean_forecast, 1e-9, "forecast mean")
    _assert_close(res.mean_analysis, kf.mean_analysis, 1e-9, "analysis mean")
    covs = np.stack([sample_cov(E) for E in np.asarray(res.ensembles)])
    _assert_close(covs, kf.cov_analysis, 1e-9, "analysis covariance")
    smoothed = _one_lag_smoother(*(np.asarray(a) for a in (
        kf.mean_analysis, kf.cov_analysis, kf.mean_forecast, kf.cov_forecast)))
    _assert_close(res.series["smoothed_mean"], smoothed, 1e-9, "smoothed mean")
    err = np.sqrt(np.mean((smoothed - np.asarray(truth_lin)) ** 2, axis=1))
    np.testing.assert_allclose(res.series["rmse_smoothed"], err, rtol=1e-8)
    # The carry: the next window's start, i.e. the filter analysis at the last time.
    _assert_close(np.mean(np.asarray(res.carry), 0), kf.mean_analysis[-1], 1e-9, "carry mean")
    _assert_close(sample_cov(res.carry), kf.cov_analysis[-1], 1e-9, "carry covariance")


@pytest.mark.parametrize("rotation", [NoRotation(), HaarRotation()])
def test_inflation_acts_on_the_propagated_ensemble_not_the_reported_analysis(truth_lin,
                                                                            rotation):
    """DAPPER inflates the smoothed window-start ensemble after the analysis was recorded:
    the Kalman filter with P_a -> infl^2 P_a before each forecast."""
    infl = 1.1
    obs, H, R = _observations("masked", truth_lin)
    E0 = jnp.asarray(exact_ensemble(M0, P0, n + 2, seed=4))
    model = LinearModel(jnp.asarray(M_LIN))
    res = assimilate(model, obs, IEnKS(inflation=Multiplicative(infl), rotation=rotation),
                     E0, key=jax.random.PRNGKey(1), save=Save(ensembles=True))
    ref = _kalman_inflated(np.asarray(obs.y), np.asarray(obs.mask), H, R, infl)
    _assert_close(res.mean_forecast, ref["mf"], 1e-9, "forecast mean")
    _assert_close(res.mean_analysis, ref["ma"], 1e-9, "analysis mean")
    covs = np.stack([sample_cov(E) for E in np.asarray(res.ensembles)])
    _assert_close(covs, ref["Pa"], 1e-9, "analysis covariance (not inflated)")
    _assert_close(sample_cov(res.carry), ref["Pa_next"][-1], 1e-9, "carry (inflated)")


def test_eigh_and_newton_schulz_square_roots_agree(truth_lin):
    obs, _, _ = _observations("subset", truth_lin)
    E0 = jnp.asarray(exact_ensemble(M0, P0, n + 3, seed=2))
    model = LinearModel(jnp.asarray(M_LIN))
    key = jax.random.PRNGKey(2)
    a = assimilate(model, obs, IEnKS(), E0, key=key, save=Save(ensembles=True))
    b = assimilate(model, obs, IEnKS(inv_sqrt=EighInvSqrt()), E0, key=key,
                   save=Save(ensembles=True))
    _assert_close(a.ensembles, b.ensembles, 1e-9, "ensembles")


# ---------------------------------------------------------------------------------------------
# Nonlinear: one iteration is the ETKF; iterations converge
# ---------------------------------------------------------------------------------------------

L63 = Lorenz63(dt=0.01)
L63_EVERY = 25


@pytest.fixture(scope="module")
def l63_cycle():
    """A window-start ensemble on the attractor and one observation 25 steps later."""
    x = rollout(L63, jnp.array([1.0, 2.0, 20.0]), 1, every=1500)[0]
    E0 = x + 1.5 * jax.random.normal(jax.random.PRNGKey(4), (10, 3))
    truth = rollout(L63, x, 1, every=L63_EVERY)
    noise = DiagonalNoise(math.sqrt(2.0))
    obs = observe(truth, Full(3), noise, key=jax.random.PRNGKey(5))
    window = Window(obs.y, obs.mask, Full(3), noise, L63_EVERY)
    return E0, window


def _numpy_etkf(Ef, y, std):
    Ef = np.asarray(Ef)
    N = Ef.shape[0]
    xf = Ef.mean(0)
    X = Ef - xf
    Y = X / std
    d = (np.asarray(y) - xf) / std
    G = Y @ Y.T + (N - 1) * np.eye(N)
    s, V = np.linalg.eigh(G)
    T = np.sqrt(N - 1) * (V / np.sqrt(s)) @ V.T
    return xf + np.linalg.solve(G, Y @ d) @ X + T @ X


def test_one_iteration_is_the_etkf_on_a_nonlinear_model(l63_cycle):
    E0, window = l63_cycle
    _, est = IEnKS(iterations=1, rotation=NoRotation()).cycle(L63, E0, window,
                                                             key=jax.random.PRNGKey(0))
    Ef = forecast_ensemble(L63, E0, L63_EVERY)
    np.testing.assert_allclose(est.forecast[0], Ef, atol=1e-12)
    ref = _numpy_etkf(Ef, window.y[0], math.sqrt(2.0))
    _assert_close(est.analysis[0], ref, 1e-9, "ETKF analysis")


def test_gauss_newton_iterations_converge_on_a_nonlinear_model(l63_cycle):
    E0, window = l63_cycle
    key = jax.random.PRNGKey(0)

    def run(**kw):
        carry, est = IEnKS(rotation=NoRotation(), **kw).cycle(L63, E0, window, key=key)
        return np.asarray(est.analysis[0]), np.asarray(est.series["smoothed_mean"][0]), carry

    a1, s1, _ = run(iterations=1)
    a20, s20, c20 = run(iterations=20)
    a40, s40, _ = run(iterations=40)
    a_tol, s_tol, c_tol = run(iterations=100, wtol=1e-24)
    assert np.max(np.abs(a1 - a20)) > 1e-3  # iterating matters here (nonlinear)
    _assert_close(a40, a20, 1e-8, "converged analysis")
    _assert_close(s40, s20, 1e-8, "converged smoothed mean")
    _assert_close(a_tol, a40, 1e-8, "stopped by wtol")
    _assert_close(c_tol, c20, 1e-8, "carry")
    # At the fixed point the smoothed mean, propagated, fits the observation better than
    # the single-iteration (ETKF) one: the Gauss-Newton step lowers the observation misfit.
    y = np.asarray(window.y[0])
    fit = [np.sum((np.asarray(forecast_ensemble(L63, jnp.asarray(s)[None], L63_EVERY))[0]
                   - y) ** 2) for s in (s1, s40)]
    assert fit[1] <= fit[0] + 1e-9


def test_fully_masked_time_leaves_the_forecast(l63_cycle):
    """No data: w = 0 and T = I at every iteration; analysis = forecast, even with
    inflation and rotation (they act on the propagated ensemble only)."""
    E0, window = l63_cycle
    empty = Window(window.y, jnp.zeros_like(window.mask), window.operator, window.noise,
                   window.every_steps)
    method = IEnKS(inflation=Multiplicative(1.3), rotation=HaarRotation())
    carry, est = method.cycle(L63, E0, empty, key=jax.random.PRNGKey(3))
    np.testing.assert_allclose(est.analysis, est.forecast, atol=1e-12)
    np.testing.assert_allclose(est.series["smoothed_mean"][0], np.mean(np.asarray(E0), 0),
                               atol=1e-12)
    # The next window starts from the inflated window-start ensemble, propagated.
    unrot = IEnKS(inflation=Multiplicative(1.3), rotation=NoRotation())
    carry_nr, _ = unrot.cycle(L63, E0, empty, key=jax.random.PRNGKey(3))
    m0 = jnp.mean(E0, axis=0)
    ref = forecast_ensemble(L63, m0 + 1.3 * (E0 - m0), L63_EVERY)
    np.testing.assert_allclose(carry_nr, ref, atol=1e-9)
    assert carry.shape == carry_nr.shape


# ---------------------------------------------------------------------------------------------
# Properties: jit, vmap over keys, shapes, finite, chunks
# ---------------------------------------------------------------------------------------------

N_STATE, N_MEMBERS, EVERY, CYCLES = 12, 8, 2, 10
L96 = Lorenz96(n=N_STATE)


@pytest.fixture(scope="module")
def twin():
    return simulate_twin(L96, Every(N_STATE, 2), DiagonalNoise(1.0), cycles=CYCLES,
                         every_steps=EVERY, ensemble_size=N_MEMBERS,
                         key=jax.random.PRNGKey(0), spinup_steps=100)


@pytest.mark.parametrize("method", [IEnKS(inflation=Multiplicative(1.02), iterations=3),
                                    IEnKS(inflation=RTPS(0.5), iterations=2, wtol=1e-6)])
def test_jit_vmap_over_keys_shapes_finite(twin, method):
    def run(key):
        res = assimilate(L96, twin.observations, method, twin.ensemble0, key=key,
                         truth=twin.truth)
        return res.series, res.carry

    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    batch, carry = jax.jit(jax.vmap(run))(keys)
    assert batch["mean_analysis"].shape == (3, CYCLES, N_STATE)
    assert batch["smoothed_mean"].shape == (3, CYCLES, N_STATE)
    assert batch["rmse_smoothed"].shape == (3, CYCLES)
    assert carry.shape == (3, N_MEMBERS, N_STATE)
    for v in batch.values():
        assert np.all(np.isfinite(np.asarray(v)))
    one, _ = jax.jit(run)(keys[1])
    for name in ("mean_analysis", "smoothed_mean", "spread_analysis"):
        np.testing.assert_allclose(batch[name][1], one[name], rtol=1e-10, atol=1e-12)
    assert not np.allclose(batch["mean_analysis"][0], batch["mean_analysis"][1])


def test_chunks_give_the_numbers_of_one_call(twin):
    method = IEnKS(inflation=Multiplicative(1.02), iterations=3)
    whole, chunked = whole_and_chunked(L96, twin, method, jax.random.PRNGKey(9))
    for name in ("mean_analysis", "smoothed_mean", "rmse_smoothed"):
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-12, atol=1e-12)


def test_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="iterations"):
        IEnKS(iterations=0)
    with pytest.raises(ValueError, match="wtol"):
        IEnKS(wtol=-1.0)

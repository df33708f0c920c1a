"""The bootstrap particle filter: its parts, the Kalman filter as a Monte-Carlo oracle, DAPPER.

Large-N oracle (linear-Gaussian, with model noise so that the bootstrap filter is
consistent): the weighted mean of N = 20,000 particles against the Kalman mean. Tolerance:
the error e_k of the weighted mean obeys e_k = (I - K_k H) M e_{k-1} + f_k (a shift of the
prior mean moves the Gaussian posterior mean by (I - KH) times it), where the fresh error
f_k of cycle k has variance at most lambda_max(P^f_k)/N_eff,k (importance weighting,
Kong's approximation) + lambda_max(P^a_k)/N (resampling; systematic resampling adds less)
+ lambda_max(Q)/N (the model-noise draws); the initial draw adds lambda_max(P_0)/N. With
||(I - KH) M||_2 <= 1 (checked) the variances add up: v_k <= v_{k-1} + var f_k, and every
component must lie within 5 sqrt(v_k). The weighted variances are compared likewise, relative
error within 5 sqrt(2 (k + 2) / min N_eff) (the sampling variance of a variance is
2 sigma^4 / N_eff per source of error).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from _chunk_helpers import whole_and_chunked
from assimilax.da import assimilate
from assimilax.da._method import Window
from assimilax.da.cycle import Save
from assimilax.da.kalman import kalman_filter
from assimilax.da.particle import PartFilt, ParticleState
from assimilax.da.particle._partfilt import (
    auto_bandwidth,
    duplicates_of_sorted,
    effective_size,
    gaussian_jitter,
    resample,
    reweight,
    systematic_resample,
    weighted_cov_sqrt,
    weighted_spread,
)
from assimilax.experiments import simulate_twin
from assimilax.models import LinearModel, Lorenz63, Lorenz96, forecast_ensemble, rollout
from assimilax.observations import DiagonalNoise, Every, Full, observe

# ---------------------------------------------------------------------------------------------
# The parts
# ---------------------------------------------------------------------------------------------


def test_reweight_is_bayes_rule_in_log_space():
    rng = np.random.default_rng(0)
    w = rng.random(7)
    w /= w.sum()
    logL = -0.5 * rng.random(7) * 2000.0  # exp underflows without the shift
    got = np.asarray(reweight(jnp.asarray(w), jnp.asarray(logL)))
    ref = w * np.exp(logL - logL.max())
    np.testing.assert_allclose(got, ref / ref.sum(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(float(effective_size(jnp.asarray(w))), 1 / np.sum(w**2))


@pytest.mark.parametrize("seed", range(4))
def test_systematic_resampling_keeps_floor_and_ceil_of_the_expected_counts(seed):
    rng = np.random.default_rng(seed)
    N = 50
    w = rng.random(N) ** 4
    w[rng.random(N) < 0.3] = 0.0
    w /= w.sum()
    idx = np.asarray(systematic_resample(jnp.asarray(w), key=jax.random.PRNGKey(seed)))
    assert np.all(np.diff(idx) >= 0)
    counts = np.bincount(idx, minlength=N)
    assert np.all(counts >= np.floor(N * w) - 1e-9) and np.all(counts <= np.ceil(N * w) + 1e-9)
    assert np.all(counts[w == 0] == 0)


def test_tempered_resampling_compensates_the_weights():
    """wroot = r draws from w^(1/r) and weights the draws by w/w^(1/r) (normalised)."""
    rng = np.random.default_rng(3)
    w = rng.random(30) ** 3
    w /= w.sum()
    idx, new = resample(jnp.asarray(w), key=jax.random.PRNGKey(1), wroot=2.0)
    idx, new = np.asarray(idx), np.asarray(new)
    ref = w[idx] ** 0.5
    np.testing.assert_allclose(new, ref / ref.sum(), rtol=1e-10)
    idx1, new1 = resample(jnp.asarray(w), key=jax.random.PRNGKey(1))
    np.testing.assert_allclose(new1, np.full(30, 1 / 30), rtol=1e-12)
    # Unbiased on average: E[sum_i new_i f(idx_i)] = sum_n w_n f(n) (ratio estimator, the
    # bias is O(1/N)); f(n) = n over 4,000 resamplings.
    keys = jax.random.split(jax.random.PRNGKey(2), 4000)
    est = jax.vmap(lambda k: (lambda i, v: v @ i.astype(v.dtype))(
        *resample(jnp.asarray(w), key=k, wroot=2.0)))(keys)
    target = w @ np.arange(30)
    assert abs(float(jnp.mean(est)) - target) < 5 * float(jnp.std(est)) / math.sqrt(4000) + 0.05


def test_duplicates_of_sorted():
    idx = jnp.array([0, 0, 2, 3, 3, 3, 5])
    np.testing.assert_array_equal(duplicates_of_sorted(idx),
                                  [True, True, False, True, True, True, False])


def test_weighted_covariance_square_root():
    rng = np.random.default_rng(4)
    E = rng.standard_normal((9, 3))
    w = rng.random(9)
    w /= w.sum()
    C12 = np.asarray(weighted_cov_sqrt(jnp.asarray(E), jnp.asarray(w)))
    mu = w @ E
    ub = 1 / (1 - np.sum(w**2))
    np.testing.assert_allclose(C12.T @ C12, ub * (E - mu).T @ ((E - mu) * w[:, None]),
                               rtol=1e-12)
    # Degenerate weights: the unweighted sample covariance instead of zero.
    w_deg = np.zeros(9)
    w_deg[2] = 1.0
    C12 = np.asarray(weighted_cov_sqrt(jnp.asarray(E), jnp.asarray(w_deg)))
    np.testing.assert_allclose(C12.T @ C12, np.cov(E.T, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(
        float(weighted_spread(jnp.asarray(E), jnp.full(9, 1 / 9))),
        np.sqrt(np.mean(np.var(E, axis=0, ddof=1))), rtol=1e-12)
    assert float(auto_bandwidth(100, 3)) == pytest.approx(100 ** (-1 / 7))


@pytest.mark.parametrize("N", [40, 4])  # the QR branch (N > 2 M) and the direct one
def test_gaussian_jitter_has_the_kernel_covariance(N):
    M = 3
    rng = np.random.default_rng(N)
    C12 = jnp.asarray(rng.standard_normal((N, M)) / np.sqrt(N))
    draws = jax.vmap(lambda k: gaussian_jitter(C12, key=k))(
        jax.random.split(jax.random.PRNGKey(0), 20_000 // N + 1)).reshape(-1, M)
    S = np.cov(np.asarray(draws).T, bias=True)
    C = np.asarray(C12.T @ C12)
    ns = draws.shape[0]
    sd = np.sqrt((C**2 + np.outer(np.diag(C), np.diag(C))) / ns)
    assert np.all(np.abs(S - C) <= 5 * sd), (S, C)


# ---------------------------------------------------------------------------------------------
# The cycle
# ---------------------------------------------------------------------------------------------

L63 = Lorenz63(dt=0.01)


@pytest.fixture(scope="module")
def l63_twin():
    return simulate_twin(L63, Full(3), DiagonalNoise(math.sqrt(2.0)), cycles=8,
                         every_steps=25, ensemble_size=30, key=jax.random.PRNGKey(1),
                         spinup_steps=1000, initial_std=2.0)


def test_without_resampling_the_weights_are_the_product_of_likelihoods(l63_twin):
    """NER = 0: never resampled (nor jittered), so the particles are the free forecast of
    the initial ensemble and log w = -1/2 sum_k ||R^{-1/2}(y_k - x_k)||^2 + const."""
    tw = l63_twin
    res = assimilate(L63, tw.observations, PartFilt(reg=2.0, NER=0.0), tw.ensemble0,
                     key=jax.random.PRNGKey(0), truth=tw.truth)
    traj = jax.vmap(lambda x: rollout(L63, x, 8, every=25))(tw.ensemble0)  # (N, T, 3)
    np.testing.assert_allclose(res.carry.particles, traj[:, -1], rtol=1e-12, atol=1e-12)
    chi2 = np.sum((np.asarray(tw.observations.y)[None] - np.asarray(traj)) ** 2 / 2.0, axis=2)
    logw = -0.5 * np.cumsum(chi2, axis=1)  # (N, T)
    w = np.exp(logw - logw.max(axis=0))
    w /= w.sum(axis=0)
    np.testing.assert_allclose(res.series["weights"], w.T, atol=1e-12)
    np.testing.assert_allclose(res.series["forecast_weights"][1:], w.T[:-1], atol=1e-12)
    np.testing.assert_allclose(res.carry.weights, w[:, -1], atol=1e-12)
    mean = np.einsum("nt,nti->ti", w, np.asarray(traj))
    np.testing.assert_allclose(res.mean_analysis, mean, rtol=1e-10)
    err = np.sqrt(np.mean((mean - np.asarray(tw.truth)) ** 2, axis=1))
    np.testing.assert_allclose(res.rmse_analysis, err, rtol=1e-10)
    np.testing.assert_allclose(res.series["effective_size"], 1 / np.sum(w**2, axis=0),
                               rtol=1e-10)
    # The driver's spread is the weighted one (DAPPER's rmv with the weights).
    spread = [float(weighted_spread(traj[:, t], jnp.asarray(w[:, t]))) for t in range(8)]
    np.testing.assert_allclose(res.spread_analysis, spread, rtol=1e-10)
    assert res.rank_counts is None  # no rank histogram of weighted members


def test_resampling_and_jitter_only_duplicates(l63_twin):
    tw = l63_twin
    E = tw.ensemble0
    window = Window(tw.observations.y[:1], tw.observations.mask[:1], Full(3),
                    DiagonalNoise(math.sqrt(2.0)), 25)
    Ef = np.asarray(forecast_ensemble(L63, E, 25))
    state0 = PartFilt().init(E)
    # Resampling without jitter: uniform weights, every particle a forecast particle.
    new, est = PartFilt(reg=0.0, NER=1.0).cycle(L63, state0, window, key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(est.analysis[0], Ef, atol=1e-12)
    np.testing.assert_allclose(new.weights, np.full(30, 1 / 30), rtol=1e-12)
    P = np.asarray(new.particles)
    dist = np.min(np.abs(P[:, None, :] - Ef[None]).max(axis=2), axis=1)
    assert np.all(dist < 1e-12)
    # With jitter (nuj): the particles drawn once are untouched, the duplicates moved.
    new_j, _ = PartFilt(reg=1.0, NER=1.0).cycle(L63, state0, window, key=jax.random.PRNGKey(0))
    Pj = np.asarray(new_j.particles)
    moved = np.abs(Pj - P).max(axis=1) > 0
    _, counts = np.unique(np.round(P, 12), axis=0, return_counts=True)
    assert counts.max() > 1  # the observation is informative: some particles drawn twice
    np.testing.assert_array_equal(moved, [np.sum(np.all(np.abs(P - p) < 1e-12, axis=1)) > 1
                                          for p in P])
    # Without nuj every particle is jittered.
    new_all, _ = PartFilt(reg=1.0, NER=1.0, nuj=False).cycle(L63, state0, window,
                                                             key=jax.random.PRNGKey(0))
    assert np.all(np.abs(np.asarray(new_all.particles) - P).max(axis=1) > 0)


def test_one_resampling_cycle_is_dappers_partfilt(l63_twin):
    """One cycle against DAPPER 1.7.1 ``PartFilt.assimilate`` written out in NumPy with the
    cycle's own draws: reweight the prior weights, kernel h^2 C from the *posterior*
    weights on the *forecast* particles (raw_C12: weighted mean, unbiased by
    1/(1 - 1/N_eff)), h = reg N^(-1/(M+4)) applied once, systematic resampling
    searchsorted(cumsum(w), U + j/N), uniform weights after, jitter on the duplicates only.
    The jitter is Z R with R^T R = h^2 C; R is unique up to the signs of its rows, so the
    jitter of the duplicates, whitened by the Cholesky factor, must be the cycle's Gaussian
    draws up to the signs of their columns."""
    tw = l63_twin
    N, M, reg = 30, 3, 2.4
    w0 = np.asarray(jax.random.uniform(jax.random.PRNGKey(5), (N,))) + 0.2
    w0 /= w0.sum()
    window = Window(tw.observations.y[:1], tw.observations.mask[:1], Full(3),
                    DiagonalNoise(math.sqrt(2.0)), 25)
    key = jax.random.PRNGKey(4)
    new, est = PartFilt(reg=reg, NER=1.0).cycle(
        L63, ParticleState(tw.ensemble0, jnp.asarray(w0)), window, key=key)
    # DAPPER, by hand.
    Ef = np.asarray(forecast_ensemble(L63, tw.ensemble0, 25))
    y = np.asarray(tw.observations.y[0])
    logw = np.log(w0) - 0.5 * np.sum((y - Ef) ** 2 / 2.0, axis=1)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    np.testing.assert_allclose(est.series["weights"][0], w, rtol=1e-10)
    np.testing.assert_allclose(est.analysis[0], Ef, atol=1e-12)  # recorded before resampling
    mu = w @ Ef
    C = (1 / (1 - np.sum(w**2))) * (Ef - mu).T @ ((Ef - mu) * w[:, None])
    h = reg * N ** (-1 / (M + 4))
    _, k_res, k_jit = jax.random.split(key, 3)
    U = float(jax.random.uniform(k_res, (), jnp.float64)) / N
    idx = np.searchsorted(np.cumsum(w), U + np.arange(N) / N)
    dups = (idx == np.roll(idx, 1)) | (idx == np.roll(idx, -1))
    assert 0 < dups.sum() < N
    np.testing.assert_allclose(new.weights, np.full(N, 1 / N), rtol=1e-12)
    P = np.asarray(new.particles)
    np.testing.assert_allclose(P[~dups], Ef[idx][~dups], atol=1e-12)
    L = np.linalg.cholesky(h**2 * C)  # h^2 C = L L^T
    z = np.linalg.solve(L, (P - Ef[idx])[dups].T).T
    Z = np.asarray(jax.random.normal(k_jit, (N, M), jnp.float64))[dups]
    signs = np.sign(np.sum(z * Z, axis=0))
    np.testing.assert_allclose(z, Z * signs, rtol=1e-8, atol=1e-8)


def test_fully_masked_time_keeps_the_weights(l63_twin):
    tw = l63_twin
    w = jax.random.uniform(jax.random.PRNGKey(3), (30,)) + 0.5
    state = ParticleState(tw.ensemble0, w / jnp.sum(w))
    empty = Window(tw.observations.y[:1], jnp.zeros((1, 3), bool), Full(3),
                   DiagonalNoise(math.sqrt(2.0)), 25)
    new, est = PartFilt(reg=2.4, NER=0.3).cycle(L63, state, empty, key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(est.series["weights"][0], state.weights, rtol=1e-12)
    np.testing.assert_allclose(est.series["forecast_weights"][0], state.weights, rtol=1e-12)
    np.testing.assert_allclose(new.weights, state.weights, rtol=1e-12)
    np.testing.assert_allclose(new.particles, est.forecast[0], atol=1e-12)
    np.testing.assert_allclose(est.analysis, est.forecast, atol=0)


# ---------------------------------------------------------------------------------------------
# Large N against the Kalman filter
# ---------------------------------------------------------------------------------------------

T_LIN = 6
N_LARGE = 20_000
_THETA = 0.4
M2 = 0.9 * np.array([[np.cos(_THETA), -np.sin(_THETA)], [np.sin(_THETA), np.cos(_THETA)]])
Q_STD = 0.5
OBS_STD = np.array([0.7, 1.0])
M0_2 = np.array([1.0, -1.0])
P0_2 = np.eye(2)


def _kalman_tolerances(kf, n_eff):
    """Per-time 5-sigma bounds on the weighted mean and relative variance errors."""
    K_free = []
    H = np.eye(2)
    v = np.linalg.eigvalsh(P0_2).max() / N_LARGE
    bounds = []
    for k in range(T_LIN):
        Pf, Pa = np.asarray(kf.cov_forecast[k]), np.asarray(kf.cov_analysis[k])
        K = Pf @ H.T @ np.linalg.inv(H @ Pf @ H.T + np.diag(OBS_STD**2))
        K_free.append(np.linalg.norm((np.eye(2) - K @ H) @ M2, 2))
        v += (np.linalg.eigvalsh(Pf).max() / n_eff[k] + np.linalg.eigvalsh(Pa).max() / N_LARGE
              + Q_STD**2 / N_LARGE)
        bounds.append(5 * np.sqrt(v))
    assert max(K_free) <= 1.0
    rel = 5 * np.sqrt(2 * (np.arange(T_LIN) + 2) / np.min(n_eff))
    return np.array(bounds), rel


@pytest.mark.parametrize("qroot", [1.0, 2.0])
def test_large_ensemble_approaches_the_kalman_filter(qroot):
    model = LinearModel(jnp.asarray(M2), noise_std=Q_STD)
    key = jax.random.PRNGKey(11)
    k_truth, k_obs, k_e0, k_da = jax.random.split(key, 4)
    x0 = jnp.asarray(M0_2) + jax.random.normal(k_truth, (2,))
    truth = rollout(model, x0, T_LIN, key=k_truth)
    obs = observe(truth, Full(2), DiagonalNoise(OBS_STD), key=k_obs)
    E0 = jnp.asarray(M0_2) + jax.random.normal(k_e0, (N_LARGE, 2))
    method = PartFilt(reg=0.0, NER=0.5, qroot=qroot)
    res = jax.jit(lambda E0: assimilate(model, obs, method, E0, key=k_da,
                                        truth=truth))(E0)
    kf = kalman_filter(*(jnp.asarray(a) for a in (M2, Q_STD**2 * np.eye(2), np.eye(2),
                                                  np.diag(OBS_STD**2), M0_2, P0_2)),
                       obs.y, obs.mask)
    n_eff = np.asarray(res.series["effective_size"])
    assert np.all(n_eff > 0.05 * N_LARGE)
    bound, rel = _kalman_tolerances(kf, n_eff)
    err = np.abs(np.asarray(res.mean_analysis) - np.asarray(kf.mean_analysis))
    assert np.all(err <= bound[:, None]), (err, bound)
    w = np.asarray(res.series["weights"])
    # Weighted variances from the particles (saved in a second, identical run).
    res_e = jax.jit(lambda E0: assimilate(model, obs, method, E0, key=k_da,
                                          save=Save(ensembles=True)))(E0)
    E = np.asarray(res_e.ensembles)  # (T, N, 2)
    mu = np.einsum("tn,tni->ti", w, E)
    np.testing.assert_allclose(mu, res.mean_analysis, rtol=1e-10)
    var = np.einsum("tn,tni->ti", w, (E - mu[:, None]) ** 2)
    kvar = np.diagonal(np.asarray(kf.cov_analysis), axis1=1, axis2=2)
    assert np.all(np.abs(var / kvar - 1) <= rel[:, None]), (var / kvar, rel)
    wf = np.asarray(res.series["forecast_weights"])
    muf = np.einsum("tn,tni->ti", wf, E)
    # The forecast mean's error, M e_{k-1} + model-noise draws, has at most the variance v_k.
    assert np.all(np.abs(muf - np.asarray(kf.mean_forecast)) <= bound[:, None])


# ---------------------------------------------------------------------------------------------
# Properties: jit, vmap over keys, shapes, finite, chunks
# ---------------------------------------------------------------------------------------------

N_STATE, N_PART, EVERY, CYCLES = 8, 64, 2, 10
L96 = Lorenz96(n=N_STATE)


@pytest.fixture(scope="module")
def twin():
    return simulate_twin(L96, Every(N_STATE, 2), DiagonalNoise(1.0), cycles=CYCLES,
                         every_steps=EVERY, ensemble_size=N_PART,
                         key=jax.random.PRNGKey(0), spinup_steps=100, initial_std=0.5)


def test_jit_vmap_over_keys_shapes_finite(twin):
    method = PartFilt(reg=1.0, NER=0.5)

    def run(key):
        res = assimilate(L96, twin.observations, method, twin.ensemble0, key=key,
                         truth=twin.truth)
        return res.series, res.carry

    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    batch, carry = jax.jit(jax.vmap(run))(keys)
    assert batch["weights"].shape == (3, CYCLES, N_PART)
    assert batch["mean_analysis"].shape == (3, CYCLES, N_STATE)
    assert batch["rmse_analysis"].shape == (3, CYCLES)
    assert carry.particles.shape == (3, N_PART, N_STATE)
    for v in batch.values():
        assert np.all(np.isfinite(np.asarray(v)))
    np.testing.assert_allclose(np.sum(np.asarray(batch["weights"]), axis=-1), 1.0, rtol=1e-12)
    one, _ = jax.jit(run)(keys[1])
    for name in ("weights", "mean_analysis"):
        np.testing.assert_allclose(batch[name][1], one[name], rtol=1e-10, atol=1e-12)
    assert not np.allclose(batch["mean_analysis"][0], batch["mean_analysis"][1])


def test_chunks_give_the_numbers_of_one_call(twin):
    method = PartFilt(reg=1.0, NER=0.5)
    whole, chunked = whole_and_chunked(L96, twin, method, jax.random.PRNGKey(9))
    for name in ("mean_analysis", "weights", "rmse_analysis"):
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-12, atol=1e-12)


def test_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="reg"):
        PartFilt(reg=-1.0)
    with pytest.raises(ValueError, match="qroot"):
        PartFilt(qroot=0.0)

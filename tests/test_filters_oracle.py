"""Ensemble methods against the exact Kalman filter/smoother, and their add-ons.

Exact oracles (deterministic, to ~1e-8): for a linear model without model noise, an ensemble
whose sample mean and covariance are exactly the Kalman prior, N - 1 >= n, the square-root
filters (ETKF, LETKF without localization) reproduce the Kalman filter at every cycle, the
EnKF-N reproduces the Kalman update with the prior covariance scaled by its lambda^2, and the
EnKS reproduces the RTS smoother (of the data up to k + lag).

Statistical oracles (large N, tolerances from the sampling distribution): the perturbed-obs
EnKF's covariance after one analysis, EnKF and EnKF-N cycling with model noise, the EnKF-N
inflation lambda -> 1.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from assimilax.da import (
    ETKF,
    LETKF,
    RTPP,
    RTPS,
    EighInvSqrt,
    EnKF,
    EnKF_N,
    EnKS,
    GaspariCohn,
    Gaussian,
    HaarRotation,
    HouseholderRotation,
    Multiplicative,
    NoInflation,
    NoLocalization,
    NoRotation,
    Save,
    Window,
    assimilate,
)
from assimilax.da.kalman import kalman_filter, rts_smoother
from assimilax.experiments import simulate_twin
from assimilax.models import LinearModel, Lorenz96, forecast_ensemble, rollout
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

# ---------------------------------------------------------------------------------------------
# The linear-Gaussian test bed
# ---------------------------------------------------------------------------------------------

n = 6
T_CYCLES = 12


def _system():
    rng = np.random.default_rng(2024)
    Qr, _ = np.linalg.qr(rng.standard_normal((n, n)))
    M = 0.95 * Qr + 0.03 * rng.standard_normal((n, n))  # damped rotation, mixing all variables
    A0 = rng.standard_normal((n, n))
    P0 = A0 @ A0.T / n + 0.5 * np.eye(n)
    m0 = rng.standard_normal(n)
    return M, m0, P0


M_LIN, M0, P0 = _system()


def exact_ensemble(m, P, N, seed):
    """Members whose sample mean is ``m`` and sample covariance (ddof 1) is ``P`` exactly."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((N, len(m)))
    Z -= Z.mean(axis=0)
    Qz, _ = np.linalg.qr(Z)  # orthonormal columns, orthogonal to the ones vector
    return m + np.sqrt(N - 1) * Qz @ np.linalg.cholesky(P).T


def sample_cov(E):
    return np.cov(np.asarray(E).T, ddof=1)


def _obs_config(name, truth):
    """An observation series and the matrices (H, R) of the Kalman oracle."""
    rng = np.random.default_rng(7)
    idx = [0, 2, 3, 5]
    std4 = np.array([0.5, 0.8, 1.0, 0.7])
    stdn = np.linspace(0.4, 1.2, n)
    key = jax.random.PRNGKey(3)
    if name == "full":
        op, noise, H, R = Full(n), DiagonalNoise(stdn), np.eye(n), np.diag(stdn**2)
    elif name == "subset":
        op, noise = Subset(n, idx), DiagonalNoise(std4)
        H, R = np.eye(n)[idx], np.diag(std4**2)
    elif name == "linear":
        H = rng.standard_normal((4, n))
        # Positions (where each row weighs most) for the LETKF's taper matrix; with
        # NoLocalization the taper is 1 whatever they are.
        positions = np.argmax(np.abs(H), axis=1)
        op, noise, R = Linear(H, positions=positions), DiagonalNoise(std4), np.diag(std4**2)
    elif name == "correlated":
        C = rng.standard_normal((n, n)) * 0.3
        R = C @ C.T + 0.4 * np.eye(n)
        op, noise, H = Full(n), CorrelatedNoise(R), np.eye(n)
    elif name == "masked":
        op, noise, H, R = Full(n), DiagonalNoise(stdn), np.eye(n), np.diag(stdn**2)
        obs = observe(truth, op, noise, key=key)
        mask = rng.random(obs.mask.shape) < 0.5
        mask[1] = False  # nothing observed at cycle 1
        mask[4, :] = [True, False, False, False, False, False]
        y = jnp.where(mask, obs.y, 0.0)
        return Observations(op, noise, y, jnp.asarray(mask)), H, R
    else:
        raise KeyError(name)
    return observe(truth, op, noise, key=key), H, R


def _kalman(obs, H, R, Q=None):
    Q = np.zeros((n, n)) if Q is None else Q
    kf = kalman_filter(*(jnp.asarray(a) for a in (M_LIN, Q, H, R, M0, P0)), obs.y, obs.mask)
    return kf


@pytest.fixture(scope="module")
def truth_lin():
    x0 = M0 + np.linalg.cholesky(P0) @ np.random.default_rng(1).standard_normal(n)
    return rollout(LinearModel(jnp.asarray(M_LIN)), jnp.asarray(x0), T_CYCLES)


def _window(y, mask, operator, noise):
    """The window of one observation time, for calling an analysis directly."""
    return Window(jnp.asarray(y)[None], jnp.asarray(mask)[None], operator, noise)


def _assert_close(got, ref, rtol, what):
    got, ref = np.asarray(got), np.asarray(ref)
    err = np.max(np.abs(got - ref))
    assert err <= rtol * max(1.0, np.abs(ref).max()), (what, err)


# ---------------------------------------------------------------------------------------------
# Exact: square-root filters reproduce the Kalman filter
# ---------------------------------------------------------------------------------------------

EXACT_METHODS = {
    "etkf": ETKF(rotation=NoRotation()),
    "etkf_rotate": ETKF(rotation=HaarRotation()),
    "etkf_eigh": ETKF(rotation=NoRotation(), inv_sqrt=EighInvSqrt()),
    "etkf_householder": ETKF(rotation=HouseholderRotation()),
    "letkf_noloc": LETKF(localization=NoLocalization(), rotation=NoRotation()),
    "letkf_noloc_rotate": LETKF(localization=NoLocalization(), rotation=HaarRotation()),
}
EXACT_CASES = [("etkf", o) for o in ("full", "subset", "linear", "correlated", "masked")]
EXACT_CASES += [("etkf_rotate", o) for o in ("linear", "correlated", "masked")]
EXACT_CASES += [("etkf_eigh", "masked"), ("etkf_householder", "linear"), ("letkf_noloc", "linear"),
                ("letkf_noloc", "masked"), ("letkf_noloc_rotate", "masked")]


@pytest.mark.parametrize(("method_name", "obs_name"), EXACT_CASES)
def test_square_root_filters_equal_kalman_filter(truth_lin, method_name, obs_name):
    obs, H, R = _obs_config(obs_name, truth_lin)
    N = n + 3
    E0 = jnp.asarray(exact_ensemble(M0, P0, N, seed=5))
    model = LinearModel(jnp.asarray(M_LIN))
    res = assimilate(model, obs, EXACT_METHODS[method_name], E0, key=jax.random.PRNGKey(0),
                     save=Save(ensembles=True))
    kf = _kalman(obs, H, R)
    _assert_close(res.mean_forecast, kf.mean_forecast, 1e-8, "forecast mean")
    _assert_close(res.mean_analysis, kf.mean_analysis, 1e-8, "analysis mean")
    covs = np.stack([sample_cov(E) for E in np.asarray(res.ensembles)])
    _assert_close(covs, kf.cov_analysis, 1e-8, "analysis covariance")
    # The spread is DAPPER's rmv: sqrt(mean of the variances) = sqrt(tr(P_a) / n).
    tr = np.trace(np.asarray(kf.cov_analysis), axis1=1, axis2=2)
    np.testing.assert_allclose(res.spread_analysis, np.sqrt(tr / n), rtol=1e-8)


def test_letkf_rejects_correlated_noise(truth_lin):
    obs, _, _ = _obs_config("correlated", truth_lin)
    E = jnp.asarray(exact_ensemble(M0, P0, n + 3, seed=0))
    with pytest.raises(ValueError, match="Diagonal"):
        LETKF(localization=NoLocalization()).analysis(
            E, _window(obs.y[0], obs.mask[0], obs.operator, obs.noise), key=jax.random.PRNGKey(0))


# ---------------------------------------------------------------------------------------------
# EnKF-N: exact given its lambda; lambda -> 1 for large N
# ---------------------------------------------------------------------------------------------


def _one_time_problem(N, seed, op_name="subset"):
    """Exact prior ensemble (mean m, cov P), a truth drawn from N(m, P), y = Hx + r."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal(n)
    B = rng.standard_normal((n, n))
    P = B @ B.T / n + 0.3 * np.eye(n)
    if op_name == "subset":
        idx = [0, 2, 3, 5]
        std = np.array([0.5, 0.8, 1.0, 0.7])
        op, H = Subset(n, idx), np.eye(n)[idx]
    else:
        std = np.linspace(0.5, 1.0, n)
        op, H = Full(n), np.eye(n)
    R = np.diag(std**2)
    x = m + np.linalg.cholesky(P) @ rng.standard_normal(n)
    y = H @ x + std * rng.standard_normal(len(std))
    E = exact_ensemble(m, P, N, seed=seed + 100)
    noise, mask = DiagonalNoise(std), jnp.ones(len(std), bool)
    return dict(E=jnp.asarray(E), m=m, P=P, H=H, R=R, y=jnp.asarray(y), op=op, noise=noise,
                mask=mask, window=_window(y, mask, op, noise))


def _kf_update(m, P, H, R, y):
    S = H @ P @ H.T + R
    K = P @ H.T @ np.linalg.inv(S)
    return m + K @ (np.asarray(y) - H @ m), (np.eye(len(m)) - K @ H) @ P, K


@pytest.mark.parametrize("N", [n + 2, 12, 40])
@pytest.mark.parametrize("rotation", [NoRotation(), HaarRotation()], ids=["norot", "haar"])
def test_enkf_n_is_kalman_update_with_inflated_prior(N, rotation):
    """E_a = mean + l1 (w + T) A is the Kalman update of the prior N(m, l1^2 P)."""
    pb = _one_time_problem(N, seed=N)
    method = EnKF_N(rotation=rotation)
    _, _, _, l1 = method.weights(pb["E"], pb["window"])
    l1 = float(l1)
    assert l1 > 0 and np.isfinite(l1)
    Ea = method.analysis(pb["E"], pb["window"], key=jax.random.PRNGKey(1))
    ma, Pa, _ = _kf_update(pb["m"], l1**2 * pb["P"], pb["H"], pb["R"], pb["y"])
    _assert_close(np.mean(np.asarray(Ea), axis=0), ma, 1e-9, "mean")
    _assert_close(sample_cov(Ea), Pa, 1e-9, "covariance")


@pytest.mark.parametrize("N", [100, 1000])
def test_enkf_n_inflation_tends_to_one(N):
    """Expanding the dual cost about lambda = 1 gives lambda - 1 ~ sum_i b_i^2/(s_i^2+N-1)^2 / 2
    (the hyperprior terms are 1 + O(1/N) and cancel to O(1/N^2)); with s_i^2 = (N-1) mu_i and
    b_i^2 = s_i^2 u_i^2, u_i^2 ~ (mu_i + 1) chi2_1 when the prior is right, so
    0 <~ lambda - 1 <= chi2_p / (2 (N - 1)). Bound: the 1 - 1e-6 quantile, 10 % for the
    second-order term; 1/N below."""
    p = n
    hi = 1.1 * stats.chi2.ppf(1 - 1e-6, p) / (2 * (N - 1))
    ls = []
    weights = jax.jit(lambda E, window: EnKF_N().weights(E, window)[3])
    for seed in range(3):
        pb = _one_time_problem(N, seed=10 * seed + 1, op_name="full")
        ls.append(float(weights(pb["E"], pb["window"])))
    ls = np.array(ls)
    assert np.all(ls - 1 <= hi) and np.all(ls - 1 >= -1.0 / N), (ls, hi)


@pytest.mark.parametrize("N", [n + 2, 12, 40])
def test_enkf_n_dual_without_eigendecomposition(N):
    """Newton steps on the tridiagonal form find the eigenvalue-evaluated minimiser."""
    from assimilax.da._base import ensemble_space
    from assimilax.da.ensemble._enkf_n import (
        _hyperprior,
        dual_inflation,
        dual_inflation_tridiagonal,
        hyperprior_coeffs,
        tridiagonal_form,
    )

    pb = _one_time_problem(N, seed=N + 7)
    es = ensemble_space(pb["E"], pb["y"], pb["mask"], pb["op"], pb["noise"])
    Y, d = es.Y, es.d
    s2, V = jnp.linalg.eigh(Y @ Y.T)
    s2 = jnp.maximum(s2, 0.0)
    eN, cL = hyperprior_coeffs(s2, N)
    l_eig = dual_inflation(s2, V.T @ (Y @ d), eN, cL, N - 1)
    Q, diag, off = tridiagonal_form(Y @ Y.T)
    T = jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1)
    np.testing.assert_allclose(Q @ T @ Q.T, Y @ Y.T, atol=1e-12 * float(jnp.abs(Y @ Y.T).max()))
    l_tri = dual_inflation_tridiagonal(Q, diag, off, Y @ d, eN, cL, N - 1)
    np.testing.assert_allclose(float(l_tri), float(l_eig), rtol=1e-9)
    # The hyperprior's trace form in the ones-complement basis equals the spectral form.
    from assimilax.da._linalg import mean_preserving_basis

    Vb = jnp.asarray(mean_preserving_basis(N))
    Sp = Vb.T @ Y @ Y.T @ Vb
    trace_inv = jnp.trace(jnp.linalg.inv(Sp + (N - 1) * jnp.eye(N - 1)))
    coeffs = _hyperprior((N - 1) / N * (trace_inv + 1.0 / (N - 1)), N, 1.0, 0)
    np.testing.assert_allclose(np.array(coeffs), np.array([eN, cL]), rtol=1e-12)


def test_enkf_n_fused_and_two_step_paths_agree_in_mean_and_covariance():
    pb = _one_time_problem(16, seed=5)
    args = (pb["E"], pb["window"])
    fused = EnKF_N().analysis(*args, key=jax.random.PRNGKey(3))
    two_step = EnKF_N(fuse_rotation=False).analysis(*args, key=jax.random.PRNGKey(3))
    _assert_close(np.mean(np.asarray(fused), 0), np.mean(np.asarray(two_step), 0), 1e-10, "mean")
    _assert_close(sample_cov(fused), sample_cov(two_step), 1e-10, "covariance")
    assert not np.allclose(np.asarray(fused), np.asarray(two_step))


def test_enkf_n_without_observations_keeps_the_ensemble():
    """No data: the mode correction makes lambda = 1 exactly, so nothing changes."""
    pb = _one_time_problem(10, seed=3)
    none = _window(pb["y"], jnp.zeros_like(pb["mask"]), pb["op"], pb["noise"])
    *_, l1 = EnKF_N().weights(pb["E"], none)
    np.testing.assert_allclose(float(l1), 1.0, atol=1e-12)
    Ea = EnKF_N(rotation=NoRotation()).analysis(pb["E"], none, key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(Ea, pb["E"], atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Perturbed-observation EnKF: exact mean, covariance within its sampling distribution
# ---------------------------------------------------------------------------------------------


def test_enkf_one_analysis_matches_kalman_within_sampling_error():
    """From an exact prior ensemble the EnKF gain is the Kalman gain and the (centred)
    perturbations have zero mean, so the analysis mean is exact. The analysis anomalies are
    U + W with U = (I - KH) A_f^T / sqrt(N-1) and W = K R^{1/2} D^T / sqrt(N-1), D standard
    Gaussian: C = UU^T + WW^T + UW^T + WU^T has mean P_a and per-element variance
    [B_ij^2 + B_ii B_jj + P1_ii B_jj + P1_jj B_ii + 2 P1_ij B_ij] / (N - 1), B = K R K^T,
    P1 = (I-KH) P_f (I-KH)^T. Every element must lie within 5 standard deviations."""
    N = 2000
    pb = _one_time_problem(N, seed=4)
    Ea = EnKF().analysis(pb["E"], pb["window"], key=jax.random.PRNGKey(2))
    ma, Pa, K = _kf_update(pb["m"], pb["P"], pb["H"], pb["R"], pb["y"])
    _assert_close(np.mean(np.asarray(Ea), axis=0), ma, 1e-9, "mean")
    IKH = np.eye(n) - K @ pb["H"]
    P1 = IKH @ pb["P"] @ IKH.T
    B = K @ pb["R"] @ K.T
    d1, dB = np.diag(P1), np.diag(B)
    var = (B**2 + np.outer(dB, dB) + np.outer(d1, dB) + np.outer(dB, d1) + 2 * P1 * B) / (N - 1)
    z = (sample_cov(Ea) - Pa) / np.sqrt(var)
    assert np.max(np.abs(z)) <= 5, z
    # It is not the deterministic (I - KH) P (I - KH)^T, i.e. the perturbations are there.
    assert np.max(np.abs((sample_cov(Ea) - P1) / np.sqrt(var))) > 10


# ---------------------------------------------------------------------------------------------
# Cycling with model noise: EnKF and EnKF-N with a large ensemble vs the Kalman filter
# ---------------------------------------------------------------------------------------------


def _error_bounds(kf, obs, H, R, Q, N, perturbed):
    """One-sigma scales of the ensemble's errors against the KF, cycle by cycle.

    Mean: e_k = F_k e_{k-1} + fresh_k with F_k = (I - K_k H) M. Fresh error: the sample mean
    of the model noise, (I-KH) Q (I-KH)^T / N, plus the gain error times the innovation,
    (I-KH) dP H^T S^-1 d, whose covariance for a sample covariance dP of effective size N is
    at most 2 (d^T S^-1 d) (I-KH) P_f (I-KH)^T / N.

    Covariance: for independent Gaussian X ~ (P) and Z ~ (B) with N samples, the sample
    covariance of X + Z errs by E|.|_F^2 = [|B|^2 + tr(B)^2 + 2 tr(P) tr(B) + 2 tr(PB)] / N
    about P + B, beyond the error of X's own sample covariance. Fresh at each cycle: the
    model noise (B = Q on P = M P_a M^T) and, for the perturbed-obs EnKF, the perturbations
    (B = K R K^T on P = (I-KH) P_f (I-KH)^T); the earlier error is carried by
    dP -> F dP F^T, so |.|_F shrinks by |F|_2^2 (variances add).
    """

    def fresh(P, B):
        return (np.linalg.norm(B) ** 2 + np.trace(B) ** 2 + 2 * np.trace(P) * np.trace(B)
                + 2 * np.trace(P @ B)) / N

    mf, Pf, Pa = (np.asarray(a) for a in (kf.mean_forecast, kf.cov_forecast, kf.cov_analysis))
    y, mask = np.asarray(obs.y), np.asarray(obs.mask)
    V = np.zeros((n, n))
    W = 0.0
    Pa_prev = P0
    sig_m, sig_c = [], []
    for k in range(len(mf)):
        o = mask[k]
        Ho, Ro = H[o], R[np.ix_(o, o)]
        S = Ho @ Pf[k] @ Ho.T + Ro
        K = Pf[k] @ Ho.T @ np.linalg.inv(S)
        d = y[k, o] - Ho @ mf[k]
        chi2 = d @ np.linalg.solve(S, d)
        IKH = np.eye(n) - K @ Ho
        F = IKH @ M_LIN
        V = F @ V @ F.T + IKH @ (Q + 2 * chi2 * Pf[k]) @ IKH.T / N
        # Forecast: carried error through M, fresh model-noise error; then through (I-KH).
        Wf = np.linalg.norm(M_LIN, 2) ** 4 * W + fresh(M_LIN @ Pa_prev @ M_LIN.T, Q)
        W = np.linalg.norm(IKH, 2) ** 4 * Wf
        if perturbed:
            W += fresh(IKH @ Pf[k] @ IKH.T, K @ Ro @ K.T)
        Pa_prev = Pa[k]
        sig_m.append(np.sqrt(np.trace(V)))
        sig_c.append(np.sqrt(W))
    return np.array(sig_m), np.array(sig_c)


@pytest.fixture(scope="module")
def noisy_linear_case():
    q = 0.5
    model = LinearModel(jnp.asarray(M_LIN), noise_std=q)
    x0 = M0 + np.linalg.cholesky(P0) @ np.random.default_rng(2).standard_normal(n)
    T = 6
    truth = rollout(model, jnp.asarray(x0), T, key=jax.random.PRNGKey(1))
    idx = [0, 2, 3, 5]
    std = np.array([0.5, 0.8, 1.0, 0.7])
    obs = observe(truth, Subset(n, idx), DiagonalNoise(std), key=jax.random.PRNGKey(2))
    H, R, Q = np.eye(n)[idx], np.diag(std**2), q**2 * np.eye(n)
    return model, obs, H, R, Q, _kalman(obs, H, R, Q)


@pytest.mark.parametrize(
    ("perturbed", "method"), [(True, EnKF()), (False, EnKF_N(rotation=NoRotation()))],
    ids=["enkf", "enkf_n"],
)
def test_large_ensemble_cycles_like_kalman_filter(noisy_linear_case, perturbed, method):
    """N = 1000 members with model noise against the Kalman filter at every cycle, with the
    one-sigma scales of :func:`_error_bounds`: the mean error within 4 sigma and the
    covariance error within 3 sigma. These are norms of (nearly) Gaussian errors whose mean
    square is at most sigma^2, so the worst case (one degree of freedom) fails with
    probability 6e-5 and 3e-3 per check. For the EnKF-N, lambda - 1 <= chi2_p/(2(N-1)) ~
    0.01 (see test_enkf_n_inflation_tends_to_one): a bias far inside these bounds."""
    model, obs, H, R, Q, kf = noisy_linear_case
    N = 1000
    E0 = jnp.asarray(exact_ensemble(M0, P0, N, seed=11))
    res = assimilate(model, obs, method, E0, key=jax.random.PRNGKey(5), save=Save(ensembles=True))
    sig_m, sig_c = _error_bounds(kf, obs, H, R, Q, N, perturbed)
    err_m = np.linalg.norm(np.asarray(res.mean_analysis - kf.mean_analysis), axis=1)
    assert np.all(err_m <= 4 * sig_m), (err_m / sig_m)
    covs = np.stack([sample_cov(E) for E in np.asarray(res.ensembles)])
    err_c = np.linalg.norm(covs - np.asarray(kf.cov_analysis), axis=(1, 2))
    assert np.all(err_c <= 3 * sig_c), (err_c / sig_c)


# ---------------------------------------------------------------------------------------------
# LETKF: infinite radius = ETKF; locality of the update; R-localization oracle
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def l96_twin():
    model = Lorenz96(n=40)
    tw = simulate_twin(model, Full(40), DiagonalNoise(1.0), cycles=30, every_steps=1,
                       ensemble_size=20, key=jax.random.PRNGKey(0), spinup_steps=500)
    return model, tw


@pytest.mark.parametrize(
    "rotation",
    [NoRotation(), HaarRotation(), HouseholderRotation()],
    ids=["no_rotation", "haar_rotation", "householder_rotation"],
)
def test_letkf_infinite_radius_equals_etkf_over_cycles(l96_twin, rotation):
    """Same key, same inflation, same rotation: LETKF(NoLocalization) == ETKF over 30 L96 cycles.

    The ETKF takes its two-step path (square root, then rotation); its default fused
    Cholesky-and-Haar draw is equal in distribution only (next test).
    """
    model, tw = l96_twin
    kw = dict(inflation=Multiplicative(1.02), rotation=rotation)
    a = assimilate(model, tw.observations, ETKF(fuse_rotation=False, **kw), tw.ensemble0,
                   key=jax.random.PRNGKey(1), truth=tw.truth)
    b = assimilate(model, tw.observations, LETKF(localization=NoLocalization(), **kw),
                   tw.ensemble0, key=jax.random.PRNGKey(1), truth=tw.truth)
    np.testing.assert_allclose(b.mean_analysis, a.mean_analysis, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.carry, a.carry, rtol=0, atol=1e-10)


@pytest.fixture(scope="module")
def l96_forecast(l96_twin):
    model, tw = l96_twin
    E = forecast_ensemble(model, tw.ensemble0, 1)
    return E, tw.observations.y[0], tw.observations.mask[0]


@pytest.fixture(scope="module")
def l96_window(l96_forecast):
    E, y, mask = l96_forecast
    return E, _window(y, mask, Full(40), DiagonalNoise(1.0))


def test_letkf_infinite_radius_equals_etkf_in_distribution_one_analysis(l96_window):
    """With a random rotation the members may differ, but mean and covariance may not."""
    E, window = l96_window
    k = jax.random.PRNGKey(4)
    methods = (ETKF(), LETKF(localization=NoLocalization()),
               ETKF(rotation=NoRotation(), inv_sqrt=EighInvSqrt()))
    a, b, c = jax.jit(lambda E: [m.analysis(E, window, key=k) for m in methods])(E)
    for got in (a, b):
        np.testing.assert_allclose(got.mean(axis=0), c.mean(axis=0), atol=1e-10)
        np.testing.assert_allclose(sample_cov(got), sample_cov(c), atol=1e-10)


def test_letkf_finite_radius_differs_from_etkf(l96_window):
    E, window = l96_window
    k = jax.random.PRNGKey(0)
    a = ETKF(rotation=NoRotation()).analysis(E, window, key=k)
    b = LETKF(localization=GaspariCohn(4.0), rotation=NoRotation()).analysis(E, window, key=k)
    assert np.max(np.abs(np.asarray(a - b))) > 1e-2


def test_letkf_single_observation_updates_only_inside_support(l96_forecast):
    E, _, _ = l96_forecast
    obs_at, r = 10, 2.0
    op = Subset(40, [obs_at])
    y, mask = jnp.asarray([E[:, obs_at].mean() + 2.0]), jnp.ones(1, bool)
    taper = GaspariCohn(r)
    Ea = LETKF(localization=taper, rotation=NoRotation()).analysis(
        E, _window(y, mask, op, DiagonalNoise(1.0)), key=jax.random.PRNGKey(0))
    dist = np.minimum(np.abs(np.arange(40) - obs_at), 40 - np.abs(np.arange(40) - obs_at))
    coeff = np.asarray(taper.matrix(op))[:, 0]
    outside = dist >= 2 * 1.82 * r
    dropped = coeff == 0
    assert outside.sum() > 20 and np.all(dropped[outside])
    change = np.max(np.abs(np.asarray(Ea - E)), axis=0)
    np.testing.assert_allclose(change[dropped], 0.0, atol=1e-12)  # not updated at all
    assert np.all(change[~dropped] > 1e-6)  # updated wherever the taper is kept


def test_letkf_equals_etkf_with_tapered_errors_per_variable(l96_forecast):
    """R-localization oracle: the analysis of variable i is the ETKF's with each observation
    error variance divided by its taper c_ij (observations with c_ij = 0 left out)."""
    E, y, _ = l96_forecast
    op = Every(40, 2)
    y = y[np.asarray(op.indices)]
    mask = jnp.ones(op.size, bool)
    sigma = 0.9
    taper = GaspariCohn(3.0)
    Ea = LETKF(localization=taper, rotation=NoRotation()).analysis(
        E, _window(y, mask, op, DiagonalNoise(sigma)), key=jax.random.PRNGKey(0))
    C = jnp.asarray(taper.matrix(op))

    def local(i):
        c = C[i]
        keep = c > 0
        std = sigma / jnp.sqrt(jnp.where(keep, c, 1.0))
        return ETKF(rotation=NoRotation(), inv_sqrt=EighInvSqrt()).analysis(
            E, _window(y, keep, op, DiagonalNoise(std)), key=jax.random.PRNGKey(0))[:, i]

    expected = jax.jit(jax.vmap(local, out_axes=1))(jnp.arange(40))
    np.testing.assert_allclose(Ea, expected, rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# EnKS vs the RTS smoother
# ---------------------------------------------------------------------------------------------


def _rts_truncated(obs, H, R):
    """RTS smoother means using only the observations at cycles <= upto (later ones masked),
    for every upto: ``out[upto, k]``."""
    args = [jnp.asarray(a) for a in (M_LIN, np.zeros((n, n)), H, R, M0, P0)]
    times = jnp.arange(obs.n_times)

    def one(upto):
        mask = obs.mask & (times <= upto)[:, None]
        kf = kalman_filter(*args, obs.y, mask)
        return rts_smoother(args[0], kf)[0]

    return np.asarray(jax.jit(jax.vmap(one))(times))


@pytest.fixture(scope="module")
def enks_case(truth_lin):
    obs, H, R = _obs_config("subset", truth_lin)
    E0 = jnp.asarray(exact_ensemble(M0, P0, n + 3, seed=8))
    return obs, H, R, E0, _rts_truncated(obs, H, R)


@pytest.mark.parametrize("rotation", [NoRotation(), HaarRotation()], ids=["norot", "haar"])
def test_enks_full_lag_equals_rts_smoother(enks_case, rotation):
    obs, H, R, E0, rts = enks_case
    model = LinearModel(jnp.asarray(M_LIN))
    res = assimilate(model, obs, EnKS(ETKF(rotation=rotation), lag=T_CYCLES - 1), E0,
                     key=jax.random.PRNGKey(0))
    ms = rts[T_CYCLES - 1]
    smoothed = res.get("smoothed_mean")
    _assert_close(smoothed, ms, 1e-8, "smoothed mean")
    # The filter part is still the Kalman filter.
    _assert_close(res.mean_analysis, _kalman(obs, H, R).mean_analysis, 1e-8, "filter mean")
    # The smoother did something: it differs from the filter before the last cycle.
    assert np.max(np.abs(np.asarray(smoothed - res.mean_analysis)[:-1])) > 1e-3


@pytest.mark.parametrize("lag", [1, 3])
def test_enks_short_lag_equals_truncated_rts(enks_case, lag):
    """The estimate of cycle k is final with the data up to k + lag: the RTS of that data."""
    obs, _, _, E0, rts = enks_case
    model = LinearModel(jnp.asarray(M_LIN))
    method = EnKS(ETKF(rotation=HaarRotation()), lag=lag)
    res = assimilate(model, obs, method, E0, key=jax.random.PRNGKey(0))
    # finish=False: the rows as emitted, row k the estimate of cycle k - lag.
    raw = assimilate(model, obs, method, E0, key=jax.random.PRNGKey(0), finish=False)
    lagged = np.asarray(raw.get("smoothed_mean"))
    smoothed = np.asarray(res.get("smoothed_mean"))
    assert lagged.shape == smoothed.shape == (T_CYCLES, n)
    np.testing.assert_array_equal(raw.mean_analysis, res.mean_analysis)
    for k in range(T_CYCLES):
        upto = min(k + lag, T_CYCLES - 1)
        ref = rts[upto, k]
        _assert_close(smoothed[k], ref, 1e-8, f"smoothed {k}")
        if k + lag < T_CYCLES:
            _assert_close(lagged[k + lag], ref, 1e-8, f"emitted at {k + lag}")


def test_enks_lag_zero_is_the_filter(enks_case):
    obs, _, _, E0, _ = enks_case
    model = LinearModel(jnp.asarray(M_LIN))
    res = assimilate(model, obs, EnKS(ETKF(rotation=NoRotation()), lag=0), E0,
                     key=jax.random.PRNGKey(0))
    filt = assimilate(model, obs, ETKF(rotation=NoRotation()), E0, key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(res.get("smoothed_mean"), filt.mean_analysis, atol=1e-12)
    np.testing.assert_allclose(res.mean_analysis, filt.mean_analysis, atol=1e-12)


def test_enks_rejects_negative_lag():
    with pytest.raises(ValueError, match="lag"):
        EnKS(ETKF(), lag=-1)


# ---------------------------------------------------------------------------------------------
# Gaspari-Cohn and other tapers
# ---------------------------------------------------------------------------------------------


def gaspari_cohn_reference(d, c):
    """Gaspari & Cohn (1999) eq. (4.10), written out with half-width c (support 2c)."""
    z = np.abs(d) / c
    out = np.zeros_like(z)
    a = z <= 1
    out[a] = 1 - 5 / 3 * z[a] ** 2 + 5 / 8 * z[a] ** 3 + 1 / 2 * z[a] ** 4 - 1 / 4 * z[a] ** 5
    b = (z > 1) & (z <= 2)
    zb = z[b]
    out[b] = (4 - 5 * zb + 5 / 3 * zb**2 + 5 / 8 * zb**3 - 1 / 2 * zb**4 + 1 / 12 * zb**5
              - 2 / (3 * zb))
    return out


@pytest.mark.parametrize("radius", [1.0, 4.0, 7.5])
def test_gaspari_cohn_taper(radius):
    taper = GaspariCohn(radius)
    half = 1.82 * radius  # DAPPER: R = 1.82 * radius (matches the Gaussian's curvature at 0)
    d = np.linspace(0, 2.5 * half, 2001)
    c = np.asarray(taper(d))
    np.testing.assert_allclose(c, gaspari_cohn_reference(d, half), atol=1e-14)
    assert c[0] == 1.0
    assert np.all(np.diff(c) <= 1e-15)  # monotone non-increasing
    assert np.all(c[d >= 2 * half] == 0.0)  # compact support 2 * 1.82 * r
    assert np.all(c[d < 2 * half - 1e-6] > 0.0)
    # Continuity at the half-width, value at the radius. With DAPPER's factor 1.82 the taper
    # at r is GC(1/1.82) = 0.6336, within 5 % of exp(-1/2) = 0.6065 (1.7386 would give it
    # exactly); curvature at 0 equals that of exp(-d^2 / (2 r^2)).
    below, above = taper(np.array([half * (1 - 1e-9), half * (1 + 1e-9)]))
    assert abs(below - above) < 1e-8
    c_r = float(taper(np.array([radius]))[0])
    np.testing.assert_allclose(c_r, gaspari_cohn_reference(np.array([1.0]), 1.82)[0], rtol=1e-14)
    assert abs(c_r / np.exp(-0.5) - 1) < 0.05
    h = 1e-3 * radius
    curv = 2 * (1 - float(taper(np.array([h]))[0])) / h**2
    np.testing.assert_allclose(curv, 1 / radius**2, rtol=0.01)


def test_gaspari_cohn_rejects_nonpositive_radius():
    for r in (0.0, -1.0):
        with pytest.raises(ValueError, match="radius"):
            GaspariCohn(r)(np.array([1.0]))


def test_taper_matrix_periodic_and_cutoff():
    taper = GaspariCohn(2.0)
    op = Subset(40, [0, 20])
    C = np.asarray(taper.matrix(op))
    assert C.shape == (40, 2)
    d = np.minimum(np.arange(40), 40 - np.arange(40))  # periodic distance to variable 0
    raw = gaspari_cohn_reference(d.astype(float), 1.82 * 2.0)
    np.testing.assert_allclose(C[:, 0], np.where(raw < 1e-3, 0.0, raw), atol=1e-14)
    assert C[39, 0] == C[1, 0] > 0  # across the periodic boundary
    small = (raw > 0) & (raw < 1e-3)
    assert small.any() and np.all(C[small, 0] == 0.0)  # coefficients below 1e-3 dropped
    np.testing.assert_allclose(C[:, 1], np.roll(C[:, 0], 20), atol=1e-14)


def test_gaussian_and_no_localization_tapers():
    g = Gaussian(3.0)
    np.testing.assert_allclose(g(np.array([0.0, 3.0])), [1.0, np.exp(-0.5)], rtol=1e-14)
    op = Every(12, 3)
    np.testing.assert_array_equal(NoLocalization().matrix(op), np.ones((12, 4)))
    with pytest.raises(ValueError, match="positions"):
        GaspariCohn(2.0).matrix(Linear(np.ones((2, 5))))
    with pytest.raises(ValueError, match="positions"):  # like every taper
        NoLocalization().matrix(Linear(np.ones((2, 5))))
    np.testing.assert_array_equal(NoLocalization().matrix(Linear(np.ones((2, 5)),
                                                                 positions=[1, 3])),
                                  np.ones((5, 2)))


# ---------------------------------------------------------------------------------------------
# Inflation add-ons
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fa_pair():
    rng = np.random.default_rng(0)
    Ef = rng.standard_normal((15, 8)) * np.linspace(0.5, 2, 8) + 3
    Ea = 0.5 * (Ef - Ef.mean(0)) @ np.diag(np.linspace(0.3, 1.0, 8)) + Ef.mean(0) + 0.2
    Ea = Ea + 0.05 * rng.standard_normal(Ea.shape)
    return jnp.asarray(Ef), jnp.asarray(Ea)


def test_multiplicative_inflation(fa_pair):
    Ef, Ea = fa_pair
    out = np.asarray(Multiplicative(1.1)(Ef, Ea))
    mu = np.asarray(Ea).mean(0)
    np.testing.assert_allclose(out.mean(0), mu, atol=1e-13)
    np.testing.assert_allclose(out - mu, 1.1 * (np.asarray(Ea) - mu), atol=1e-13)
    np.testing.assert_array_equal(NoInflation()(Ef, Ea), Ea)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9, 1.0])
def test_rtps_spread_is_relaxed_exactly(fa_pair, alpha):
    Ef, Ea = fa_pair
    out = np.asarray(RTPS(alpha)(Ef, Ea))
    sf = np.asarray(Ef).std(0, ddof=1)
    sa = np.asarray(Ea).std(0, ddof=1)
    np.testing.assert_allclose(out.mean(0), np.asarray(Ea).mean(0), atol=1e-13)
    np.testing.assert_allclose(out.std(0, ddof=1), alpha * sf + (1 - alpha) * sa, rtol=1e-12)
    # The shape of the anomalies is kept: correlations between variables unchanged.
    np.testing.assert_allclose(np.corrcoef(out.T), np.corrcoef(np.asarray(Ea).T), atol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_rtpp_blends_anomalies(fa_pair, alpha):
    Ef, Ea = fa_pair
    Ef_, Ea_ = np.asarray(Ef), np.asarray(Ea)
    out = np.asarray(RTPP(alpha)(Ef, Ea))
    np.testing.assert_allclose(out.mean(0), Ea_.mean(0), atol=1e-13)
    expected = (1 - alpha) * (Ea_ - Ea_.mean(0)) + alpha * (Ef_ - Ef_.mean(0))
    np.testing.assert_allclose(out - Ea_.mean(0), expected, atol=1e-13)


def test_inflation_inside_a_filter_keeps_the_mean(l96_window):
    E, window = l96_window
    base = ETKF(rotation=NoRotation()).analysis(E, window, key=jax.random.PRNGKey(0))
    for infl in (Multiplicative(1.3), RTPS(0.7), RTPP(0.5)):
        out = ETKF(rotation=NoRotation(), inflation=infl).analysis(E, window,
                                                                   key=jax.random.PRNGKey(0))
        np.testing.assert_allclose(out.mean(0), base.mean(0), atol=1e-12)
        np.testing.assert_allclose(out, infl(E, base), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Rotations and their interplay with inflation
# ---------------------------------------------------------------------------------------------


def test_no_rotation_leaves_the_members_unchanged(fa_pair, l96_window):
    _, Ea = fa_pair
    k = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(NoRotation().apply(Ea, key=k), Ea)
    A = Ea - Ea.mean(0)
    np.testing.assert_array_equal(NoRotation()(A, key=k), A)
    np.testing.assert_array_equal(NoRotation().matrix(Ea.shape[0], key=k), np.eye(Ea.shape[0]))
    M = jnp.asarray(np.random.default_rng(1).standard_normal((Ea.shape[0],) * 2))
    E_rot, QM = NoRotation().apply_with_transform(Ea, M, key=k)
    np.testing.assert_array_equal(E_rot, Ea)
    np.testing.assert_array_equal(QM, M)
    # Inside a filter: the analysis is the raw update, whatever the key.
    E, window = l96_window
    etkf = ETKF(rotation=NoRotation())
    raw, remaining = etkf.update(E, window, key=k, rotation=NoRotation(), rotation_key=k)
    assert isinstance(remaining, NoRotation)
    for key in (jax.random.PRNGKey(0), jax.random.PRNGKey(1)):
        np.testing.assert_array_equal(etkf.analysis(E, window, key=key), raw)
    # A rotation does move the members (same mean and covariance).
    rotated = ETKF(rotation=HaarRotation()).analysis(E, window, key=k)
    assert np.max(np.abs(np.asarray(rotated - raw))) > 1e-3
    np.testing.assert_allclose(rotated.mean(0), raw.mean(0), atol=1e-10)
    np.testing.assert_allclose(sample_cov(rotated), sample_cov(raw), atol=1e-10)


@pytest.mark.parametrize(
    ("inflation", "commutes"),
    [(NoInflation(), True), (Multiplicative(1.3), True), (RTPS(0.7), True), (RTPP(0.5), False)],
    ids=["none", "multiplicative", "rtps", "rtpp"],
)
@pytest.mark.parametrize("rotation", [HaarRotation(), HouseholderRotation()],
                         ids=["haar", "householder"])
def test_commutes_with_rotation_is_true_exactly_when_it_commutes(fa_pair, inflation, commutes,
                                                                 rotation):
    """``inflation.commutes_with_rotation`` says whether inflating the rotated analysis
    equals rotating the inflated one, for a mean-preserving rotation of the analysis."""
    Ef, Ea = fa_pair
    assert type(inflation).commutes_with_rotation is commutes
    k = jax.random.PRNGKey(5)
    Q = rotation.matrix(Ea.shape[0], key=k)
    np.testing.assert_allclose(Q @ np.ones(Ea.shape[0]), np.ones(Ea.shape[0]), atol=1e-13)
    np.testing.assert_allclose(Q.T @ Q, np.eye(Ea.shape[0]), atol=1e-13)

    def rotate(E):
        mu = E.mean(0)
        return mu + Q @ (E - mu)

    inflate_then_rotate = np.asarray(rotate(inflation(Ef, Ea)))
    rotate_then_inflate = np.asarray(inflation(Ef, rotate(Ea)))
    np.testing.assert_allclose(rotation.apply(Ea, key=k), rotate(Ea), atol=1e-13)
    gap = np.max(np.abs(inflate_then_rotate - rotate_then_inflate))
    if commutes:
        assert gap <= 1e-12, gap
    else:
        assert gap > 1e-2, gap


# ---------------------------------------------------------------------------------------------
# Tapers in jax.numpy: batched and differentiated in the radius
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("taper_cls", [GaspariCohn, Gaussian])
def test_taper_with_traced_radius_vmaps_over_radii(taper_cls):
    op = Every(40, 2)
    radii = jnp.asarray([0.7, 1.5, 3.0, 4.0, 9.25])
    batched = jax.jit(jax.vmap(lambda r: taper_cls(r).matrix(op)))(radii)
    assert batched.shape == (len(radii), 40, op.size)
    for i, r in enumerate(np.asarray(radii)):
        np.testing.assert_allclose(batched[i], taper_cls(float(r)).matrix(op), rtol=0,
                                   atol=1e-14)
    # Different radii, different matrices; and the values themselves are batched alike.
    assert np.max(np.abs(np.asarray(batched[0] - batched[-1]))) > 0.1
    d = jnp.linspace(0.0, 40.0, 81)
    values = jax.vmap(lambda r: taper_cls(r)(d))(radii)
    for i, r in enumerate(np.asarray(radii)):
        np.testing.assert_allclose(values[i], taper_cls(float(r))(d), rtol=0, atol=1e-14)


@pytest.mark.parametrize("taper_cls", [GaspariCohn, Gaussian])
@pytest.mark.parametrize("d", [0.0, 1.3, 4.0, 7.9, 11.0, 20.0])
def test_taper_gradient_in_its_radius_matches_finite_difference(taper_cls, d):
    """For radius 3 the distances cover Gaspari-Cohn's inner part (z <= 1: d <= 5.46), its
    outer part (5.46 < d < 10.92) and beyond the support (gradient 0); at d = 0 the taper
    is 1 for every radius."""
    r0, h = 3.0, 1e-5

    def value(r):
        return taper_cls(r)(jnp.asarray(d))

    g = float(jax.grad(value)(r0))
    fd = (float(value(r0 + h)) - float(value(r0 - h))) / (2 * h)
    assert np.isfinite(g)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-10)
    if d == 0.0:
        assert g == 0.0
    if taper_cls is GaspariCohn and d >= 2 * 1.82 * r0:
        assert g == 0.0
    if 0.0 < d and (taper_cls is Gaussian or d < 2 * 1.82 * r0):
        assert g > 0  # a wider taper is larger at a fixed distance


def test_taper_matrix_gradient_in_its_radius_is_finite():
    op = Every(40, 2)
    for taper_cls in (GaspariCohn, Gaussian):
        g = jax.grad(lambda r, cls=taper_cls: jnp.sum(cls(r).matrix(op)))(2.5)
        assert np.isfinite(float(g)) and float(g) > 0


def _enkf_n_dual_by_definition(E, y, H, R, N):
    """The EnKF-N dual cost J(lambda) written out in observation space (Bocquet 2011;
    Bocquet, Raanes & Hannart 2015, with DAPPER's mode correction), NumPy only:
    J = d^T (lambda^2 Y^T Y + (N-1) I)^{-1} d + eN / lambda^2 + cL ln lambda^2, with the
    whitened anomalies Y = (E - mean) H^T R^{-1/2} and innovation d = R^{-1/2}(y - H mean)."""
    E = np.asarray(E, float)
    mean = E.mean(axis=0)
    Ri = np.diag(1.0 / np.sqrt(np.diag(R)))
    Y = (E - mean) @ H.T @ Ri
    d = Ri @ (np.asarray(y, float) - H @ mean)
    N1 = N - 1
    eN, cL = (N + 1) / N, N / N1
    # the mode correction: the prior mode eN/cL pulled to 1 by the mean gain complement
    I_KH = N1 * np.trace(np.linalg.inv(Y @ Y.T + N1 * np.eye(N))) / N
    mc = np.sqrt((eN / cL) ** I_KH)
    eN, cL = eN / mc, cL * mc
    p = len(d)

    def J(lam):
        G = lam**2 * Y.T @ Y + N1 * np.eye(p)
        return d @ np.linalg.solve(G, d) + eN / lam**2 + cL * np.log(lam**2)

    return J


@pytest.mark.parametrize("seed", range(6))
def test_enkf_n_lambda_minimises_the_dual_cost_written_out(seed):
    """The method's inflation is the minimiser that a generic bounded scalar optimiser
    (scipy's Brent) finds for the dual cost written from its definition: an oracle
    independent of the method's Newton iteration, eigenvalues and tridiagonal form."""
    from scipy.optimize import minimize_scalar

    N = (n + 2, 8, 12, 20, 30, 40)[seed]
    pb = _one_time_problem(N, seed=50 + seed, op_name="subset" if seed % 2 else "full")
    if seed >= 4:  # a prior five times too narrow
        pb = {**pb, "E": pb["E"].mean(0) + 0.2 * (pb["E"] - pb["E"].mean(0))}
        pb["window"] = _window(pb["y"], pb["mask"], pb["op"], pb["noise"])
    _, _, _, lam = EnKF_N().weights(pb["E"], pb["window"])
    J = _enkf_n_dual_by_definition(pb["E"], pb["y"], pb["H"], pb["R"], N)
    best = minimize_scalar(J, bounds=(0.05, 50.0), method="bounded",
                           options={"xatol": 1e-10})
    assert best.success
    np.testing.assert_allclose(float(lam), best.x, rtol=1e-6)

"""The exact Kalman filter and RTS smoother against hand-written NumPy and a batch solution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.da.kalman import kalman_filter, rts_smoother

# ---------------------------------------------------------------------------------------------
# Independent oracles in NumPy
# ---------------------------------------------------------------------------------------------


def np_kalman(M, Q, H, R, m0, P0, y, mask):
    """Textbook KF on the observed rows only (H_o, R_oo), no update when nothing is observed."""
    m, P = m0.copy(), P0.copy()
    out = {"mf": [], "Pf": [], "ma": [], "Pa": []}
    for k in range(y.shape[0]):
        m = M @ m
        P = M @ P @ M.T + Q
        out["mf"].append(m)
        out["Pf"].append(P)
        o = mask[k]
        if o.any():
            Ho = H[o]
            S = Ho @ P @ Ho.T + R[np.ix_(o, o)]
            K = P @ Ho.T @ np.linalg.inv(S)
            m = m + K @ (y[k, o] - Ho @ m)
            P = (np.eye(len(m)) - K @ Ho) @ P
        out["ma"].append(m)
        out["Pa"].append(P)
    return {k: np.array(v) for k, v in out.items()}


def np_rts(M, kf):
    T = kf["ma"].shape[0]
    ms, Ps = kf["ma"].copy(), kf["Pa"].copy()
    for k in range(T - 2, -1, -1):
        G = kf["Pa"][k] @ M.T @ np.linalg.inv(kf["Pf"][k + 1])
        ms[k] = kf["ma"][k] + G @ (ms[k + 1] - kf["mf"][k + 1])
        Ps[k] = kf["Pa"][k] + G @ (Ps[k + 1] - kf["Pf"][k + 1]) @ G.T
    return ms, Ps


def batch_posterior(M, Q, H, R, m0, P0, y, mask):
    """Joint Gaussian posterior of (x_0, ..., x_T) in information form, by one dense solve.

    -2 log p = |x_0 - m0|^2_{P0^-1} + sum_k |x_{k+1} - M x_k|^2_{Q^-1}
               + sum_k |y_k - H x_{k+1}|^2_{R_oo^-1}   (observed rows only).
    Returns the means and marginal covariances of x_1 .. x_T.
    """
    T, n = y.shape[0], M.shape[0]
    D = (T + 1) * n
    Lam = np.zeros((D, D))
    eta = np.zeros(D)
    sl = [slice(k * n, (k + 1) * n) for k in range(T + 1)]
    P0i, Qi = np.linalg.inv(P0), np.linalg.inv(Q)
    Lam[sl[0], sl[0]] += P0i
    eta[sl[0]] += P0i @ m0
    for k in range(T):
        a, b = sl[k], sl[k + 1]
        # (x_b - M x_a)^T Qi (x_b - M x_a)
        Lam[a, a] += M.T @ Qi @ M
        Lam[a, b] -= M.T @ Qi
        Lam[b, a] -= Qi @ M
        Lam[b, b] += Qi
        o = mask[k]
        if o.any():
            Ho = H[o]
            Ri = np.linalg.inv(R[np.ix_(o, o)])
            Lam[b, b] += Ho.T @ Ri @ Ho
            eta[b] += Ho.T @ Ri @ y[k, o]
    cov = np.linalg.inv(Lam)
    mean = cov @ eta
    means = np.array([mean[sl[k]] for k in range(1, T + 1)])
    covs = np.array([cov[sl[k], sl[k]] for k in range(1, T + 1)])
    return means, covs


# ---------------------------------------------------------------------------------------------
# A linear-Gaussian system
# ---------------------------------------------------------------------------------------------


def system(n=7, p=5, T=12, seed=0, correlated_R=True, mask_prob=0.7):
    rng = np.random.default_rng(seed)
    S = rng.standard_normal((n, n))
    Qr, _ = np.linalg.qr(S)
    M = 0.97 * Qr + 0.05 * rng.standard_normal((n, n))  # a damped, mixing rotation
    B = rng.standard_normal((n, n)) * 0.3
    Q = B @ B.T + 0.1 * np.eye(n)
    H = rng.standard_normal((p, n))
    if correlated_R:
        C = rng.standard_normal((p, p)) * 0.4
        R = C @ C.T + 0.5 * np.eye(p)
    else:
        R = np.diag(rng.uniform(0.3, 1.5, p))
    m0 = rng.standard_normal(n)
    A0 = rng.standard_normal((n, n))
    P0 = A0 @ A0.T / n + 0.5 * np.eye(n)
    # Simulate truth and observations from the model itself.
    x = m0 + np.linalg.cholesky(P0) @ rng.standard_normal(n)
    y = np.zeros((T, p))
    for k in range(T):
        x = M @ x + np.linalg.cholesky(Q) @ rng.standard_normal(n)
        y[k] = H @ x + np.linalg.cholesky(R) @ rng.standard_normal(p)
    mask = rng.random((T, p)) < mask_prob
    mask[2] = False  # one time with nothing observed
    mask[3] = True  # one with everything
    y = np.where(mask, y, 0.0)  # masked slots hold 0 (as Observations do)
    return dict(M=M, Q=Q, H=H, R=R, m0=m0, P0=P0, y=y, mask=mask)


def run_kf(s):
    args = [jnp.asarray(s[k]) for k in ("M", "Q", "H", "R", "m0", "P0", "y", "mask")]
    return jax.jit(kalman_filter)(*args)


@pytest.mark.parametrize("correlated_R", [True, False], ids=["full_R", "diag_R"])
@pytest.mark.parametrize("seed", [0, 1])
def test_kalman_filter_matches_numpy_with_masks(seed, correlated_R):
    s = system(seed=seed, correlated_R=correlated_R)
    res = run_kf(s)
    ref = np_kalman(**s)
    for got, key in ((res.mean_forecast, "mf"), (res.cov_forecast, "Pf"),
                     (res.mean_analysis, "ma"), (res.cov_analysis, "Pa")):
        got = np.asarray(got)
        scale = np.abs(ref[key]).max()
        assert np.max(np.abs(got - ref[key])) <= 1e-10 * scale, key


def test_masked_slots_are_ignored_whatever_their_value():
    s = system(seed=3)
    res = run_kf(s)
    junk = dict(s, y=np.where(s["mask"], s["y"], 1e6))
    res2 = run_kf(junk)
    np.testing.assert_allclose(res2.mean_analysis, res.mean_analysis, rtol=1e-12, atol=1e-12)
    # Nothing observed at time 2: the analysis is the forecast.
    np.testing.assert_allclose(res.mean_analysis[2], res.mean_forecast[2], atol=1e-13)
    np.testing.assert_allclose(res.cov_analysis[2], res.cov_forecast[2], atol=1e-13)


def test_kalman_filter_equals_kf_on_observed_rows_only():
    """A masked slot is the same as a system without that observation row."""
    s = system(seed=4, mask_prob=1.0)
    s["mask"][:] = True
    keep = np.array([True, False, True, True, False])
    s["mask"][:, ~keep] = False
    s["y"][:, ~keep] = 0.0
    res = run_kf(s)
    sub = dict(s, H=s["H"][keep], R=s["R"][np.ix_(keep, keep)], y=s["y"][:, keep],
               mask=s["mask"][:, keep])
    res_sub = run_kf(sub)
    np.testing.assert_allclose(res.mean_analysis, res_sub.mean_analysis, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.cov_analysis, res_sub.cov_analysis, rtol=1e-10, atol=1e-12)


def test_kalman_covariances_are_symmetric_positive_definite():
    res = run_kf(system(seed=5))
    for P in np.asarray(res.cov_analysis):
        np.testing.assert_allclose(P, P.T, atol=1e-14)
        assert np.linalg.eigvalsh(P).min() > 0


@pytest.mark.parametrize("seed", [0, 6])
def test_rts_smoother_matches_numpy(seed):
    s = system(seed=seed)
    res = run_kf(s)
    ms, Ps = jax.jit(rts_smoother)(jnp.asarray(s["M"]), res)
    ref_m, ref_P = np_rts(s["M"], np_kalman(**s))
    np.testing.assert_allclose(ms, ref_m, rtol=0, atol=1e-10 * np.abs(ref_m).max())
    np.testing.assert_allclose(Ps, ref_P, rtol=0, atol=1e-10 * np.abs(ref_P).max())
    # The last smoothed estimate is the last filtered one.
    np.testing.assert_allclose(ms[-1], res.mean_analysis[-1], atol=1e-14)


@pytest.mark.parametrize("seed", [0, 7])
def test_filter_and_smoother_match_batch_least_squares(seed):
    """Short window: RTS = the batch (information-form) posterior; the KF's last analysis
    is its last marginal."""
    s = system(seed=seed, T=5)
    res = run_kf(s)
    ms, Ps = rts_smoother(jnp.asarray(s["M"]), res)
    means, covs = batch_posterior(**s)
    np.testing.assert_allclose(ms, means, rtol=0, atol=1e-9 * np.abs(means).max())
    np.testing.assert_allclose(Ps, covs, rtol=0, atol=1e-9 * np.abs(covs).max())
    np.testing.assert_allclose(res.mean_analysis[-1], means[-1], atol=1e-9 * np.abs(means).max())
    np.testing.assert_allclose(res.cov_analysis[-1], covs[-1], atol=1e-9 * np.abs(covs).max())


def test_smoother_reduces_uncertainty():
    s = system(seed=8)
    res = run_kf(s)
    _, Ps = rts_smoother(jnp.asarray(s["M"]), res)
    Pa = np.asarray(res.cov_analysis)
    for k in range(len(Pa) - 1):
        # P_a - P_s is positive semi-definite.
        assert np.linalg.eigvalsh(Pa[k] - np.asarray(Ps[k])).min() > -1e-10

"""Model diagnostics: forecast RMSE, valid time, climatology, Lyapunov exponents, Jacobians.

Oracles: closed forms for linear and constant models (exact exponents of a triangularisable
map, the trace identity for the sum of the exponents), Parseval's identity, published
Lyapunov exponents of Lorenz-63 and Lorenz-96 with tolerances from the spread of
independent runs, centred finite-difference Jacobians.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.metrics import (
    Climatology,
    climatology,
    compare_climatology,
    forecast_rmse,
    jacobian_error,
    lyapunov_exponents,
    valid_prediction_time,
)
from assimilax.ml.correction import Corrected
from assimilax.models import LinearModel, Lorenz63, Lorenz96, rollout


class LinearNet(eqx.Module):
    W: jax.Array

    def __call__(self, x, *, key=None):
        return self.W @ x


# ---------------------------------------------------------------------------------------------
# Forecast RMSE and valid prediction time
# ---------------------------------------------------------------------------------------------


def test_forecast_rmse_of_a_scaling_model_against_zero_truth():
    """x_{k+1} = a x_k against truth 0: per case |a|^k rms(x0_c); DAPPER: mean over cases."""
    a, n = 0.9, 5
    model = LinearModel(a * jnp.eye(n))
    x0 = jnp.stack([jnp.ones(n), 3.0 * jnp.ones(n), jnp.arange(5.0)])
    truth = jnp.zeros((3, 4, n))
    rms0 = np.sqrt(np.mean(np.asarray(x0) ** 2, axis=1))
    for every in (1, 2):
        got = forecast_rmse(model, x0, truth, every=every)
        lead = np.arange(1, 5) * every
        np.testing.assert_allclose(got, np.mean(rms0) * a**lead, rtol=1e-13)
    # Not the root of the pooled mean square.
    pooled = np.sqrt(np.mean(rms0**2)) * a
    assert abs(float(forecast_rmse(model, x0, truth)[0]) - pooled) > 0.1


def test_forecast_rmse_of_the_truth_model_is_zero_and_grows_for_an_imperfect_one():
    model = Lorenz96(n=12)
    x0 = 2.0 + 3.0 * jax.random.normal(jax.random.PRNGKey(0), (3, 12))  # L96-like values
    truth = jax.vmap(lambda x: rollout(model, x, 20, every=2))(x0)
    np.testing.assert_allclose(forecast_rmse(model, x0, truth, every=2), 0.0, atol=1e-12)
    wrong = forecast_rmse(Lorenz96(n=12, forcing=8.5), x0, truth, every=2)
    assert wrong.shape == (20,) and float(wrong[-1]) > float(wrong[0]) > 0.0


def test_forecast_rmse_validates_shapes_and_needs_a_key_with_noise():
    model = LinearModel(jnp.eye(2), noise_std=0.1)
    with pytest.raises(ValueError, match="case"):
        forecast_rmse(model, jnp.zeros((3, 2)), jnp.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="key"):
        forecast_rmse(model, jnp.zeros((3, 2)), jnp.zeros((3, 4, 2)))
    got = forecast_rmse(model, jnp.zeros((3, 2)), jnp.zeros((3, 4, 2)),
                        key=jax.random.PRNGKey(0))
    assert got.shape == (4,) and float(got[0]) > 0.0


def test_valid_prediction_time_on_a_constructed_curve():
    rmse = jnp.array([0.1, 0.2, 0.5, 0.3, 0.9])
    # First exceedance of 0.4 at lead index 2, i.e. at time 3 * dt (a later dip ignored).
    assert float(valid_prediction_time(rmse, 0.4, 0.05)) == pytest.approx(0.15, rel=1e-14)
    assert float(valid_prediction_time(rmse, 0.4, 0.05, lyapunov_exponent=1.68)) == \
        pytest.approx(0.15 * 1.68, rel=1e-14)
    # Equal to the threshold is not exceeding; never exceeded -> the horizon 5 * dt.
    assert float(valid_prediction_time(rmse, 0.5, 0.05)) == pytest.approx(0.25, rel=1e-14)
    assert float(valid_prediction_time(rmse, 1.0, 0.05)) == pytest.approx(0.25, rel=1e-14)
    # Exceeded at the first lead: one lead spacing.
    assert float(valid_prediction_time(rmse, 0.05, 0.05)) == pytest.approx(0.05, rel=1e-14)
    # NaN (a diverged forecast) counts as exceeded; leading axes are kept.
    batch = jnp.stack([rmse, jnp.array([0.1, jnp.nan, 0.1, 0.1, 0.1])])
    np.testing.assert_allclose(valid_prediction_time(batch, 0.4, 0.1), [0.3, 0.2], rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# Climatology
# ---------------------------------------------------------------------------------------------


def test_climatology_of_a_standing_wave():
    """x_i(t) = A cos(2 pi m i / n) s_t with s_t = +-1: mean 0, std A|cos|, power A^2 n / 4 at m."""
    n, m, A = 16, 3, 2.0
    i = np.arange(n)
    wave = A * np.cos(2 * np.pi * m * i / n)
    traj = jnp.asarray(np.stack([wave, -wave, wave, -wave]))
    clim = climatology(traj)
    np.testing.assert_allclose(clim.mean, 0.0, atol=1e-15)
    np.testing.assert_allclose(clim.std, np.abs(wave), atol=1e-14)
    expected = np.zeros(n // 2 + 1)
    expected[m] = A**2 * n / 4
    np.testing.assert_allclose(clim.spectrum, expected, atol=1e-12)


def test_climatology_spectrum_satisfies_parseval():
    n = 10
    traj = jax.random.normal(jax.random.PRNGKey(0), (50, n)) + 1.0
    S = np.asarray(climatology(traj).spectrum)
    total = S[0] + 2 * S[1:n // 2].sum() + S[n // 2]  # n even: Nyquist counted once
    np.testing.assert_allclose(total, np.mean(np.sum(np.asarray(traj) ** 2, axis=1)),
                               rtol=1e-12)


def test_compare_climatology():
    n = 4
    b = Climatology(mean=jnp.ones(n), std=2.0 * jnp.ones(n), spectrum=jnp.array([4.0, 1.0, 1.0]))
    zero = compare_climatology(b, b)
    for v in zero:
        assert float(v) == 0.0
    a = Climatology(mean=b.mean + 0.5, std=1.5 * b.std,
                    spectrum=b.spectrum * jnp.array([1.0, np.e, 1.0]))
    err = compare_climatology(a, b)
    assert float(err.mean) == pytest.approx(0.25, rel=1e-14)  # 0.5 shift / std 2
    assert float(err.std) == pytest.approx(0.5, rel=1e-14)
    assert float(err.spectrum) == pytest.approx((np.e - 1) / np.sqrt(18), rel=1e-14)
    assert float(err.log_spectrum) == pytest.approx(1 / 3, rel=1e-14)


# ---------------------------------------------------------------------------------------------
# Lyapunov exponents
# ---------------------------------------------------------------------------------------------


def test_lyapunov_exponents_of_a_linear_map_are_log_eigenvalues():
    """M = Q T Q^T, T upper triangular (non-normal): once the tangent vectors align with the
    Schur vectors each QR gives R = T up to signs, so lambda_i = ln|T_ii| / dt to round-off."""
    rng = np.random.default_rng(0)
    d = np.array([1.3, -1.1, 0.8, 0.5, -0.2])
    T = np.diag(d) + np.triu(0.3 * rng.standard_normal((5, 5)), 1)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    dt = 0.1
    model = LinearModel(jnp.asarray(Q @ T @ Q.T), dt=dt)
    expected = np.log(np.abs(d)) / dt
    # Alignment error after the 200 orienting spin-up steps: (1.1/1.3)^200 ~ 3e-15.
    got = lyapunov_exponents(model, jnp.ones(5), 100, n_exponents=5, key=jax.random.PRNGKey(0),
                             spin_up=400)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    lead = lyapunov_exponents(model, jnp.ones(5), 100, key=jax.random.PRNGKey(1), spin_up=400,
                              renormalise_every=5)
    np.testing.assert_allclose(lead, expected[:1], rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def l96():
    model = Lorenz96(n=40)
    x0 = jax.vmap(model.initial_condition)(jax.random.split(jax.random.PRNGKey(0), 8))
    return model, x0


def test_lorenz96_leading_exponent(l96):
    """n=40, F=8, dt=0.05: lambda_1 ~ 1.68 per time unit (Karimi & Paul 2010, Chaos 20;
    Brajard et al. 2020 quote 1.67). 8 independent runs of 2000 steps (100 time units):
    one run scatters by ~0.07 (4 %); the mean by ~0.03. Tolerance: the literature spread
    (0.02) plus 4 standard errors of the mean, estimated from the runs themselves; and the
    mean must be within 5 % of 1.68."""
    model, x0 = l96
    keys = jax.random.split(jax.random.PRNGKey(1), x0.shape[0])
    runs = np.asarray(jax.jit(jax.vmap(
        lambda x, k: lyapunov_exponents(model, x, 2000, key=k, spin_up=600)))(x0, keys))[:, 0]
    se = runs.std(ddof=1) / np.sqrt(runs.size)
    assert abs(runs.mean() - 1.68) <= 0.02 + 4 * se, (runs, se)
    assert abs(runs.mean() / 1.68 - 1) < 0.05, runs


def test_lorenz63_exponents():
    """sigma, rho, beta = 10, 28, 8/3, dt = 0.01: lambda_1 = 0.9056 (Sprott 2003). The
    exponents sum to the constant trace -(sigma + 1 + beta) at any run length (the RK4
    step's determinant matches exp(trace dt) to O(dt^5)). 4 runs of 20000 steps (200
    time units) scatter by ~0.009 each; tolerance 0.005 (reference rounding and RK4) plus
    4 standard errors of their mean."""
    model = Lorenz63()
    x0 = jax.vmap(model.initial_condition)(jax.random.split(jax.random.PRNGKey(0), 4))
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    runs = np.asarray(jax.jit(jax.vmap(lambda x, k: lyapunov_exponents(
        model, x, 20000, n_exponents=3, key=k)))(x0, keys))
    lam1 = runs[:, 0]
    se = lam1.std(ddof=1) / np.sqrt(lam1.size)
    assert abs(lam1.mean() - 0.9056) <= 0.005 + 4 * se, (lam1, se)
    np.testing.assert_allclose(runs.sum(axis=1), -(10 + 1 + 8 / 3), rtol=1e-4)
    assert np.all(np.abs(runs[:, 1]) < 0.02)  # the neutral direction of the flow


def test_lyapunov_validation():
    model = LinearModel(jnp.eye(3))
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="n_exponents"):
        lyapunov_exponents(model, jnp.ones(3), 10, n_exponents=4, key=key)
    with pytest.raises(ValueError, match="multiple"):
        lyapunov_exponents(model, jnp.ones(3), 10, key=key, renormalise_every=3)


# ---------------------------------------------------------------------------------------------
# Jacobian error
# ---------------------------------------------------------------------------------------------


def test_jacobian_error_closed_forms():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((2, 4, 4))
    states = jnp.asarray(rng.standard_normal((3, 4)))
    assert float(jacobian_error(LinearModel(jnp.asarray(A)), LinearModel(jnp.asarray(A)),
                                states)) == 0.0
    got = jacobian_error(LinearModel(jnp.asarray(A)), LinearModel(jnp.asarray(B)), states)
    assert float(got) == pytest.approx(np.linalg.norm(A - B) / np.linalg.norm(B), rel=1e-13)


def test_jacobian_error_of_a_resolvent_correction_against_finite_differences():
    """J(L96 + W x) - J(L96) = W: error ||W||_F / ||J_L96(x_c)||_F averaged over cases, with
    J_L96 from centred differences (truncation O(h^2) ~ 1e-8 relative)."""
    model = Lorenz96(n=10)
    states = 2.0 + 3.0 * jax.random.normal(jax.random.PRNGKey(0), (3, 10))  # L96-like values
    W = 0.05 * jax.random.normal(jax.random.PRNGKey(1), (10, 10))
    corrected = Corrected(model, LinearNet(W), mode="resolvent")
    h, ratios = 1e-5, []
    step = jax.jit(jax.vmap(model.step))
    for x in np.asarray(states):
        E = h * np.eye(10)
        J = (np.asarray(step(jnp.asarray(x + E))) - np.asarray(step(jnp.asarray(x - E)))).T
        J = J / (2 * h)
        ratios.append(np.linalg.norm(W) / np.linalg.norm(J))
    got = jacobian_error(corrected, model, states)
    assert float(got) == pytest.approx(np.mean(ratios), rel=1e-7)

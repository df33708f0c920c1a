"""Scores: RMSE, spread, CRPS, rank histogram, time means with confidence intervals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from assimilax.metrics import crps, rank_histogram, rmse, spread, time_mean_ci


def test_rmse_and_spread_match_numpy_definitions():
    rng = np.random.default_rng(0)
    E = rng.standard_normal((7, 12, 5)) * 2 + 1  # (time, member, state)
    truth = rng.standard_normal((7, 5))
    mean = E.mean(axis=1)
    np.testing.assert_allclose(rmse(jnp.asarray(mean), jnp.asarray(truth)),
                               np.sqrt(((mean - truth) ** 2).mean(axis=-1)), rtol=1e-14)
    np.testing.assert_allclose(spread(jnp.asarray(E)),
                               np.sqrt(E.var(axis=1, ddof=1).mean(axis=-1)), rtol=1e-14)
    # One estimate, one ensemble.
    assert rmse(jnp.zeros(4), jnp.full(4, 2.0)) == pytest.approx(2.0)
    assert float(spread(jnp.asarray(E[0]))) == pytest.approx(np.sqrt(E[0].var(0, ddof=1).mean()))


def crps_by_integration(members, y):
    """CRPS = integral of (F_ens(z) - 1{z >= y})^2 dz, exactly, for the empirical CDF."""
    pts = np.sort(np.concatenate([members, [y]]))
    total = 0.0
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        z = 0.5 * (a + b)
        F = np.mean(members <= z)
        H = float(z >= y)
        total += (F - H) ** 2 * (b - a)
    return total


def test_crps_matches_integral_of_squared_cdf_difference():
    rng = np.random.default_rng(1)
    E = rng.standard_normal((9, 4)) * np.array([0.5, 1.0, 2.0, 3.0])
    truth = np.array([0.1, -2.0, 5.0, 0.0])  # inside, outside left, outside right
    got = float(crps(jnp.asarray(E), jnp.asarray(truth)))
    expected = np.mean([crps_by_integration(E[:, j], truth[j]) for j in range(4)])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # Batched over time.
    Et = rng.standard_normal((3, 6, 2))
    tt = rng.standard_normal((3, 2))
    got_t = np.asarray(crps(jnp.asarray(Et), jnp.asarray(tt)))
    exp_t = [np.mean([crps_by_integration(Et[t, :, j], tt[t, j]) for j in range(2)])
             for t in range(3)]
    np.testing.assert_allclose(got_t, exp_t, rtol=1e-12)
    # A one-member ensemble is the absolute error.
    np.testing.assert_allclose(crps(jnp.array([[1.0, 2.0]]), jnp.array([0.0, 0.0])), 1.5)


def crps_gaussian(mu, sigma, y):
    z = (y - mu) / sigma
    return sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def test_crps_of_large_gaussian_ensemble_matches_closed_form():
    """E[CRPS_ens] = CRPS(N(mu, s^2), y) + s / (sqrt(pi) N) (the pair term of the empirical
    CDF is biased by E|X - X'| / (2N)). 100 independent variables: the mean difference must
    lie within 5 standard errors (from the spread of the per-variable differences)."""
    rng = np.random.default_rng(2)
    P, N = 100, 500
    mu = rng.standard_normal(P)
    sigma = rng.uniform(0.3, 3.0, P)
    y = mu + sigma * rng.standard_normal(P) * 1.5
    E = mu + sigma * rng.standard_normal((N, P))
    per_var = np.asarray(jax.vmap(lambda e, t: crps(e[:, None], t[None]), in_axes=(1, 0))(
        jnp.asarray(E), jnp.asarray(y)))
    diff = per_var - (crps_gaussian(mu, sigma, y) + sigma / (np.sqrt(np.pi) * N))
    assert abs(diff.mean()) <= 5 * diff.std(ddof=1) / np.sqrt(P), diff.mean()
    # And each variable's error is of the order s / sqrt(N).
    assert np.all(np.abs(diff) <= 5 * sigma * np.sqrt(1 + ((y - mu) / sigma) ** 2) / np.sqrt(N))


def test_rank_histogram_counts_ranks():
    ens = jnp.array([[[0.0, 5.0], [1.0, 6.0], [2.0, 7.0]]])  # (time 1, member 3, state 2)
    truth = jnp.array([[1.5, 10.0]])  # ranks 2 and 3
    np.testing.assert_array_equal(rank_histogram(ens, truth), [0, 0, 1, 1])


def test_rank_histogram_of_reliable_ensemble_is_flat():
    """Truth and members i.i.d.: every rank 0..N equally likely; chi2 test with N dof."""
    rng = np.random.default_rng(3)
    T, N, n = 400, 9, 20
    E = rng.standard_normal((T, N, n))
    truth = rng.standard_normal((T, n))
    counts = np.asarray(rank_histogram(jnp.asarray(E), jnp.asarray(truth)))
    assert counts.shape == (N + 1,) and counts.sum() == T * n
    expected = T * n / (N + 1)
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 <= stats.chi2.ppf(1 - 1e-4, N), (chi2, counts)
    # An under-dispersive ensemble is U-shaped and fails the same test.
    counts_u = np.asarray(rank_histogram(jnp.asarray(0.5 * E), jnp.asarray(truth)))
    chi2_u = np.sum((counts_u - expected) ** 2 / expected)
    assert chi2_u > 10 * stats.chi2.ppf(1 - 1e-4, N)
    assert counts_u[0] > expected and counts_u[-1] > expected


def ar1(rng, n, rho, mean, sd=1.0):
    e = rng.standard_normal(n) * sd
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - rho**2)
    for t in range(1, n):
        x[t] = rho * x[t - 1] + e[t]
    return mean + x


def test_time_mean_ci_covers_true_mean_of_ar1_series():
    """95 % intervals over 200 AR(1) series (rho = 0.7): coverage in [0.90, 0.99]
    (binomial sd 0.015 around 0.95). Without the autocorrelation correction the coverage
    would be about 0.6."""
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(200):
        m, hw = time_mean_ci(ar1(rng, 2000, 0.7, 1.5), level=0.95)
        hits += abs(m - 1.5) <= hw
    assert 0.90 <= hits / 200 <= 0.99, hits


def test_time_mean_ci_details():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(10_000) + 3.0
    m, hw = time_mean_ci(x)
    assert m == pytest.approx(x.mean())
    # i.i.d.: the half-width is z s / sqrt(n) up to the estimated rho ~ 0 (|rho| < 5/sqrt(n)).
    np.testing.assert_allclose(hw, 1.96 * x.std(ddof=1) / np.sqrt(x.size), rtol=0.06)
    # burn_in drops the first values; non-finite values are ignored.
    y = np.concatenate([np.full(50, 100.0), x])
    assert time_mean_ci(y, burn_in=50)[0] == pytest.approx(m)
    z = x.copy()
    z[10] = np.nan
    assert np.isfinite(time_mean_ci(z)[0])
    # Too short for an interval; empty.
    m4, hw4 = time_mean_ci([1.0, 2.0, 3.0, 4.0])
    assert m4 == 2.5 and np.isnan(hw4)
    assert all(np.isnan(v) for v in time_mean_ci([]))
    # A higher level gives a wider interval.
    assert time_mean_ci(x, level=0.99)[1] > hw

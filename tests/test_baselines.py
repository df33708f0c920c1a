"""Climatology and optimal interpolation: the BLUE in numpy, masks, shapes, DAPPER's numbers."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from assimilax.da import assimilate
from assimilax.da._baselines import Climatology, OptInterp, optimal_interpolation
from assimilax.da._method import Window
from assimilax.models import Lorenz96
from assimilax.observations import (
    CorrelatedNoise,
    DiagonalNoise,
    Every,
    Full,
    Linear,
    Observations,
)

n = 6


def _climate(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    return rng.standard_normal(n), A @ A.T / n + 0.2 * np.eye(n)


def _blue(mu, P, H, R, y, mask):
    """x_a = mu + P H_o^T (H_o P H_o^T + R_oo)^{-1} (y_o - H_o mu) on the observed rows."""
    o = np.asarray(mask)
    if not o.any():
        return mu
    Ho, Ro = H[o], R[np.ix_(o, o)]
    K = P @ Ho.T @ np.linalg.inv(Ho @ P @ Ho.T + Ro)
    return mu + K @ (np.asarray(y)[o] - Ho @ mu)


def _problem(T=5, seed=1):
    rng = np.random.default_rng(seed)
    mu, P = _climate(seed)
    H = rng.standard_normal((4, n))
    C = 0.4 * rng.standard_normal((4, 4))
    R = C @ C.T + 0.3 * np.eye(4)
    y = rng.standard_normal((T, 4)) * 2.0
    mask = rng.random((T, 4)) < 0.7
    mask[1] = False  # nothing observed at time 1
    mask[3] = [True, True, True, True]
    obs = Observations(Linear(H), CorrelatedNoise(R), jnp.asarray(np.where(mask, y, 0.0)),
                       jnp.asarray(mask))
    return mu, P, H, R, obs


def test_optimal_interpolation_is_the_blue():
    mu, P, H, R, obs = _problem()
    method = OptInterp(mu, P)
    truth = jnp.zeros((obs.n_times, n))
    res = assimilate(Lorenz96(n=n), obs, method, jnp.zeros((1, n)), key=jax.random.PRNGKey(0),
                     truth=truth)
    ref = np.stack([_blue(mu, P, H, R, obs.y[k], obs.mask[k]) for k in range(obs.n_times)])
    np.testing.assert_allclose(res.mean_analysis, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.mean_forecast, np.broadcast_to(mu, ref.shape), atol=0)
    np.testing.assert_allclose(res.mean_analysis[1], mu, atol=0)  # fully masked: mu_C
    np.testing.assert_allclose(res.rmse_forecast, np.sqrt(np.mean(mu**2)), rtol=1e-12)
    # Deterministic: no spread, no rank counts.
    assert "spread_analysis" not in res.series and "rank_counts" not in res.series


def test_optimal_interpolation_with_a_diagonal_noise_and_a_subset():
    """Every other variable observed, R diagonal: the same formula with H = rows of I."""
    mu, P = _climate(4)
    op, std = Every(n, 2), np.array([0.5, 1.0, 0.8])
    H, R = np.eye(n)[::2], np.diag(std**2)
    y = jnp.asarray([1.0, -2.0, 0.5])
    for mask in ([True, True, True], [True, False, True], [False, False, False]):
        window = Window(y[None], jnp.asarray(mask)[None], op, DiagonalNoise(std), 1)
        got = optimal_interpolation(jnp.asarray(mu), jnp.asarray(P), window)
        np.testing.assert_allclose(got, _blue(mu, P, H, R, y, mask), rtol=1e-10, atol=1e-12)


def test_climatology_returns_the_climatological_mean():
    mu, P, _, _, obs = _problem()
    res = assimilate(Lorenz96(n=n), obs, Climatology(mu, P), jnp.zeros((1, n)),
                     key=jax.random.PRNGKey(0), truth=jnp.ones((obs.n_times, n)))
    np.testing.assert_allclose(res.mean_analysis, np.broadcast_to(mu, (obs.n_times, n)), atol=0)
    np.testing.assert_allclose(res.mean_forecast, res.mean_analysis, atol=0)
    np.testing.assert_allclose(res.rmse_analysis, np.sqrt(np.mean((mu - 1) ** 2)), rtol=1e-12)
    assert not Climatology.ensemble and not OptInterp.ensemble


@pytest.mark.parametrize("cls", [Climatology, OptInterp])
def test_jit_vmap_over_keys_and_finite(cls):
    mu, P, _, _, obs = _problem(T=4, seed=2)
    method = cls(mu, P)

    def run(key):
        return assimilate(Lorenz96(n=n), obs, method, jnp.zeros((3, n)), key=key).series

    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    batch = jax.jit(jax.vmap(run))(keys)
    assert batch["mean_analysis"].shape == (3, 4, n)
    for v in batch.values():
        assert np.all(np.isfinite(np.asarray(v)))
    np.testing.assert_allclose(batch["mean_analysis"][0], batch["mean_analysis"][2], atol=0)
    # The method itself can be a traced argument (vmap over climatologies).
    mus = jnp.stack([jnp.asarray(mu), jnp.asarray(mu) + 1.0])
    out = jax.vmap(lambda m: assimilate(Lorenz96(n=n), obs, cls(m, P), jnp.zeros((1, n)),
                                        key=keys[0]).mean_forecast)(mus)
    np.testing.assert_allclose(out[1] - out[0], 1.0, rtol=1e-12)


def test_rejects_bad_shapes():
    mu, P = _climate()
    with pytest.raises(ValueError, match="mean must have shape"):
        OptInterp(P, P)
    with pytest.raises(ValueError, match="cov must have shape"):
        Climatology(mu, P[:3])
    with pytest.raises(ValueError, match="symmetric"):
        OptInterp(mu, P + np.triu(np.ones((n, n)), 1))
    with pytest.raises(ValueError, match="finite"):
        Climatology(np.full(n, np.nan), P)
    obs = Observations(Full(4), DiagonalNoise(1.0), jnp.zeros((2, 4)), jnp.ones((2, 4), bool))
    with pytest.raises(ValueError, match="state variables"):
        assimilate(Lorenz96(n=4), obs, OptInterp(mu, P), jnp.zeros((1, 4)),
                   key=jax.random.PRNGKey(0))

"""Observation operators, Gaussian errors, masks and observation series."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from assimilax.observations import (
    CorrelatedNoise,
    DiagonalNoise,
    Every,
    Full,
    Grid,
    Linear,
    Observations,
    RandomSubset,
    RotatingSubset,
    Subset,
    observe,
)


def _chi2_ok(stat, dof, alpha=1e-6):
    return stats.chi2.ppf(alpha / 2, dof) <= stat <= stats.chi2.ppf(1 - alpha / 2, dof)


def _truth(T, n, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((T, n)) * 3 + 1)


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------


def test_grid_ring_and_periodic_distances():
    g = Grid.ring(10)
    assert g.size == 10 and g.period == 10.0
    d = g.distances(np.array([0.0, 9.0]), np.array([1.0, 5.0, 8.0]))
    np.testing.assert_allclose(d, [[1, 5, 2], [2, 4, 1]])
    flat = Grid((0.0, 1.0, 2.0, 9.0))
    np.testing.assert_allclose(flat.distances(np.array([0.0]), np.array([9.0])), [[9.0]])


def test_full_operator():
    op = Full(10)
    x = jnp.arange(10.0)
    assert op.size == 10 and op.state_size == 10
    np.testing.assert_array_equal(op(x), x)
    np.testing.assert_array_equal(op.positions(), np.arange(10.0))
    assert op.draw_mask(jax.random.PRNGKey(0)).all()


def test_subset_and_every_operators():
    x = jnp.arange(12.0) * 2
    op = Subset(12, [3, 0, 7])
    assert op.size == 3
    np.testing.assert_array_equal(op(x), [6.0, 0.0, 14.0])
    np.testing.assert_array_equal(op.positions(), [3.0, 0.0, 7.0])
    ev = Every(12, 4, offset=1)
    assert ev.indices == (1, 5, 9)
    np.testing.assert_array_equal(ev(x), [2.0, 10.0, 18.0])
    np.testing.assert_array_equal(ev.positions(), [1.0, 5.0, 9.0])
    assert Every(12, 1).size == 12
    # Positions follow the grid's coordinates, not the indices.
    g = Grid(tuple(0.5 * i for i in range(6)), 3.0)
    np.testing.assert_array_equal(Subset(g, [1, 4]).positions(), [0.5, 2.0])


def test_linear_operator():
    rng = np.random.default_rng(0)
    H = rng.standard_normal((3, 8))
    x = rng.standard_normal(8)
    op = Linear(H)
    assert op.size == 3 and op.state_size == 8
    np.testing.assert_allclose(op(jnp.asarray(x)), H @ x, atol=1e-14)
    assert op.positions() is None
    op2 = Linear(H, positions=[0.0, 2.5, 7.0])
    np.testing.assert_array_equal(op2.positions(), [0.0, 2.5, 7.0])


@pytest.mark.parametrize(("n", "fraction"), [(40, 0.5), (40, 0.33), (10, 0.25), (7, 1.0)])
def test_random_subset_draws_exact_count_and_new_masks(n, fraction):
    op = RandomSubset(n, fraction)
    expected = max(1, int(round(fraction * n)))
    assert op.count == expected and op.size == n
    T = 300
    obs = observe(_truth(T, n), op, DiagonalNoise(1.0), key=jax.random.PRNGKey(1))
    mask = np.asarray(obs.mask)
    assert mask.dtype == bool and mask.shape == (T, n)
    np.testing.assert_array_equal(mask.sum(axis=1), expected)
    if expected < n:
        # Masks differ across times (all distinct with overwhelming probability for n=40).
        distinct = len({row.tobytes() for row in mask})
        assert distinct > T // 2 if n == 40 else distinct > 1
        # Each variable is observed with probability count/n: binomial, 5 sigma.
        p = expected / n
        hits = mask.sum(axis=0)
        assert np.all(np.abs(hits - T * p) <= 5 * np.sqrt(T * p * (1 - p))), hits


def test_random_subset_is_reproducible_and_key_dependent():
    op = RandomSubset(40, 0.5)
    a = op.draw_mask(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(a, op.draw_mask(jax.random.PRNGKey(0)))
    assert not np.array_equal(a, op.draw_mask(jax.random.PRNGKey(1)))


# ---------------------------------------------------------------------------------------------
# Synthetic observations
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "std", [0.7, np.array([0.5, 1.0, 2.0, 0.1, 3.0])], ids=["scalar", "vector"]
)
def test_observe_noise_has_the_right_std(std):
    T, n = 4000, 5
    truth = _truth(T, n, seed=1)
    obs = observe(truth, Full(n), DiagonalNoise(std), key=jax.random.PRNGKey(2), every_steps=3)
    assert obs.every_steps == 3 and obs.n_times == T
    err = np.asarray(obs.y - truth) / np.broadcast_to(std, (n,))
    # Known mean zero: per-slot sum of squares ~ chi2(T); and the slots are independent.
    for j in range(n):
        assert _chi2_ok(np.sum(err[:, j] ** 2), T), j
        assert abs(err[:, j].mean()) < 5 / np.sqrt(T)
    c = np.corrcoef(err.T)[np.triu_indices(n, 1)]
    assert np.all(np.abs(c) < 5 / np.sqrt(T))


def test_observe_masked_slots_hold_zero_never_nan():
    T, n = 200, 20
    truth = _truth(T, n)
    obs = observe(truth, RandomSubset(n, 0.3), DiagonalNoise(0.5), key=jax.random.PRNGKey(0))
    y, mask = np.asarray(obs.y), np.asarray(obs.mask)
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(y[~mask], 0.0)
    assert np.all(y[mask] != 0.0)
    # Observed slots: truth plus noise of std 0.5.
    e = (y - np.asarray(truth))[mask] / 0.5
    assert _chi2_ok(np.sum(e**2), e.size)


def test_observe_with_linear_operator_and_correlated_noise():
    rng = np.random.default_rng(3)
    H = rng.standard_normal((4, 6))
    B = rng.standard_normal((4, 4))
    R = B @ B.T + 0.5 * np.eye(4)
    T = 5000
    truth = _truth(T, 6)
    obs = observe(truth, Linear(H), CorrelatedNoise(R), key=jax.random.PRNGKey(4))
    err = np.asarray(obs.y) - np.asarray(truth) @ H.T
    # Whitened errors R^{-1/2} e are standard normal: sum of squares ~ chi2(4T).
    w = np.linalg.solve(np.linalg.cholesky(R), err.T)
    assert _chi2_ok(np.sum(w**2), w.size)
    # Sample covariance close to R elementwise: Var(S_ij) = (R_ij^2 + R_ii R_jj) / T.
    S = err.T @ err / T
    sd = np.sqrt((R**2 + np.outer(np.diag(R), np.diag(R))) / T)
    assert np.all(np.abs(S - R) <= 5 * sd)


def test_observe_rejects_wrong_truth_shape():
    with pytest.raises(ValueError, match="truth"):
        observe(jnp.zeros((5, 7)), Full(8), DiagonalNoise(1.0), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="truth"):
        observe(jnp.zeros(8), Full(8), DiagonalNoise(1.0), key=jax.random.PRNGKey(0))


def test_observations_series_slicing_and_validation():
    op, noise = Full(4), DiagonalNoise(1.0)
    y = jnp.arange(20.0).reshape(5, 4)
    mask = jnp.ones((5, 4), bool)
    obs = Observations(op, noise, y, mask, every_steps=2)
    part = obs[1:3]
    assert part.n_times == 2 and part.every_steps == 2
    np.testing.assert_array_equal(part.y, y[1:3])
    with pytest.raises(ValueError):
        Observations(op, noise, y, mask, every_steps=0)
    with pytest.raises(ValueError):
        Observations(op, noise, y[:, :3], mask[:, :3])
    with pytest.raises(ValueError):
        Observations(op, noise, y, mask[:4])


# ---------------------------------------------------------------------------------------------
# Noise models: whitening with masks
# ---------------------------------------------------------------------------------------------


def test_diagonal_whiten_with_mask():
    std = jnp.array([0.5, 2.0, 1.0, 4.0])
    v = jnp.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 1.0, 8.0]])
    mask = jnp.array([True, False, True, True])
    w = np.asarray(DiagonalNoise(std).whiten(v, mask))
    np.testing.assert_allclose(w, [[2.0, 0.0, 3.0, 1.0], [-2.0, 0.0, 1.0, 2.0]])
    np.testing.assert_allclose(DiagonalNoise(2.0).covariance(3), 4.0 * np.eye(3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correlated_whiten_with_mask_uses_observed_block(seed):
    rng = np.random.default_rng(seed)
    p = 7
    B = rng.standard_normal((p, p))
    R = B @ B.T + 0.3 * np.eye(p)
    mask = rng.random(p) < 0.6
    mask[0] = True
    v = rng.standard_normal((5, p))
    got = np.asarray(CorrelatedNoise(R).whiten(jnp.asarray(v), jnp.asarray(mask)))
    # Oracle: the Cholesky factor of R_oo on the observed slots, zeros elsewhere.
    L = np.linalg.cholesky(R[np.ix_(mask, mask)])
    expected = np.zeros_like(v)
    expected[:, mask] = np.linalg.solve(L, v[:, mask].T).T
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    # Whitening makes the observed-block quadratic form exact: |w|^2 = v_o^T R_oo^-1 v_o.
    quad = np.einsum("mi,ij,mj->m", v[:, mask], np.linalg.inv(R[np.ix_(mask, mask)]), v[:, mask])
    np.testing.assert_allclose(np.sum(got**2, axis=1), quad, rtol=1e-10)
    # One vector at a time too.
    np.testing.assert_allclose(CorrelatedNoise(R).whiten(jnp.asarray(v[0]), jnp.asarray(mask)),
                               expected[0], rtol=1e-10, atol=1e-12)


def test_correlated_whiten_full_mask_equals_cholesky():
    R = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 3.0]])
    v = np.array([1.0, -2.0, 0.5])
    got = CorrelatedNoise(R).whiten(jnp.asarray(v), jnp.ones(3, bool))
    np.testing.assert_allclose(got, np.linalg.solve(np.linalg.cholesky(R), v), rtol=1e-12)
    np.testing.assert_allclose(CorrelatedNoise(R).covariance(3), R)


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.2, float("nan")])
def test_random_subset_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        RandomSubset(10, fraction)


@pytest.mark.parametrize("indices", [[0, 10], [-1, 2], [], [1, 1]])
def test_subset_rejects_bad_indices(indices):
    with pytest.raises(ValueError):
        Subset(10, indices)


@pytest.mark.parametrize("std", [0.0, -1.0, float("nan"), float("inf"), [1.0, 0.0, 2.0]])
def test_diagonal_noise_rejects_nonpositive_std(std):
    with pytest.raises(ValueError, match="std"):
        DiagonalNoise(std)


@pytest.mark.parametrize(("stride", "offset"), [(0, 0), (-2, 0), (3, 3), (3, -1)])
def test_every_rejects_bad_stride_offset(stride, offset):
    with pytest.raises(ValueError):
        Every(12, stride, offset)


def test_linear_rejects_bad_shapes():
    with pytest.raises(ValueError):
        Linear(np.ones(5))
    with pytest.raises(ValueError):
        Linear(np.ones((2, 5)), grid=Grid.ring(4))
    with pytest.raises(ValueError):
        Linear(np.ones((2, 5)), positions=[0.0])


@pytest.mark.parametrize(
    "cov",
    [
        np.array([[1.0, 2.0], [2.0, 1.0]]),  # symmetric, indefinite
        np.array([[1.0, 0.0], [0.0, 0.0]]),  # singular
        np.array([[-1.0, 0.0], [0.0, 1.0]]),  # negative variance
        np.ones((2, 3)),  # not square
    ],
    ids=["indefinite", "singular", "negative", "not_square"],
)
def test_correlated_noise_rejects_invalid_covariance(cov):
    """A covariance that is not SPD must be refused up front, not become NaN in a Cholesky."""
    with pytest.raises(ValueError):
        CorrelatedNoise(cov)


# ----------------------------------------------------------------------------- rotating subset


def test_rotating_mask_observes_a_quarter_each_step_and_everything_in_four():
    m = np.asarray(RotatingSubset(40).masks(8))  # steps 1 to 8
    assert m.shape == (8, 40)
    assert (m.sum(axis=1) == 10).all()
    assert (m[:4].sum(axis=0) == 1).all() and (m[4:].sum(axis=0) == 1).all()
    assert m[0, 1] and m[0, 5] and not m[0, 0]  # step 1 observes i = 1, 5, 9, ...


def test_rotating_subset_of_a_full_record_masks_and_noise():
    truth = jnp.ones((400, 40))
    obs = RotatingSubset(40, start=0).restrict(
        observe(truth, Full(40), DiagonalNoise(0.5), key=jax.random.key(0)))
    y, mask = np.asarray(obs.y), np.asarray(obs.mask)
    assert (y[~mask] == 0).all()
    err = y[mask] - 1.0
    # 4000 draws of N(0, 0.25): the sample std is 0.5 +- 0.006 (1 sd)
    assert abs(err.std() - 0.5) < 0.03 and abs(err.mean()) < 0.04


def test_rotating_subset_draws_a_quarter_and_refuses_bad_records():
    op = RotatingSubset(40)
    masks = jax.vmap(op.draw_mask)(jax.random.split(jax.random.key(1), 50))
    assert (np.asarray(masks).sum(axis=1) == 10).all()  # a random phase: still a quarter
    assert op.size == 40 and np.array_equal(op(jnp.arange(40.0)), jnp.arange(40.0))
    with pytest.raises(ValueError, match="period"):
        RotatingSubset(40, period=0)
    obs = observe(jnp.ones((8, 40)), Every(40, 2), DiagonalNoise(1.0), key=jax.random.key(0))
    with pytest.raises(ValueError, match="all 40 state variables"):
        op.restrict(obs)

"""Ensemble-space linear algebra: inverse square roots, Haar rotations, anomaly rotations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from assimilax.da import EighInvSqrt, NewtonSchulzInvSqrt, haar_orthogonal, rotate_anomalies
from assimilax.da._linalg import HaarRotation, HouseholderRotation, mean_preserving_basis


def ensemble_G(rng, N, p, scale, centred=True):
    """``Y Y^T + (N-1) I`` with ``Y`` whitened observation anomalies ``(N, p)``."""
    Y = scale * rng.standard_normal((N, p))
    if centred:
        Y = Y - Y.mean(axis=0)
    return Y @ Y.T + (N - 1) * np.eye(N)


def numpy_inv_sqrt(G):
    d, V = np.linalg.eigh(G)
    return (V * d**-0.5) @ V.T, (V / d) @ V.T


@pytest.fixture(scope="module")
def ns():
    return jax.jit(lambda G, shift: NewtonSchulzInvSqrt()(G, shift), static_argnums=1)


@pytest.fixture(scope="module")
def eigh():
    return jax.jit(lambda G: EighInvSqrt()(G))


@pytest.mark.parametrize("N", [5, 10, 20, 40])
@pytest.mark.parametrize("p", [3, 40])
@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0, 30.0])
def test_newton_schulz_matches_eigh_single(ns, eigh, N, p, scale):
    rng = np.random.default_rng(N * 1000 + p + int(scale * 10))
    G = ensemble_G(rng, N, p, scale)
    Gis_ns, Gi_ns = ns(jnp.asarray(G), float(N - 1))
    Gis_e, Gi_e = eigh(jnp.asarray(G))
    ref_is, ref_i = numpy_inv_sqrt(G)
    for got, ref in ((Gis_ns, ref_is), (Gi_ns, ref_i), (Gis_e, ref_is), (Gi_e, ref_i)):
        got = np.asarray(got)
        assert np.max(np.abs(got - ref)) <= 1e-10 * np.max(np.abs(ref))
    Gis = np.asarray(Gis_ns)
    np.testing.assert_allclose(Gis, Gis.T, atol=1e-13 * np.abs(Gis).max())
    np.testing.assert_allclose(Gis @ G @ Gis, np.eye(N), atol=1e-10)


@pytest.mark.parametrize("N", [5, 17, 40])
def test_newton_schulz_matches_eigh_batched(ns, eigh, N):
    # Matrices of very different conditioning in one batch: the iteration runs until all converge.
    rng = np.random.default_rng(N)
    scales = [0.01, 0.5, 1.0, 3.0, 10.0, 30.0, 0.0]
    G = np.stack([ensemble_G(rng, N, 2 * N, s, centred=i % 2 == 0) for i, s in enumerate(scales)])
    Gis_ns, Gi_ns = ns(jnp.asarray(G), float(N - 1))
    Gis_e, Gi_e = eigh(jnp.asarray(G))
    assert Gis_ns.shape == G.shape and Gi_ns.shape == G.shape
    for b in range(len(scales)):
        ref_is, ref_i = numpy_inv_sqrt(G[b])
        for got, ref in ((Gis_ns[b], ref_is), (Gi_ns[b], ref_i), (Gis_e[b], ref_is)):
            assert np.max(np.abs(np.asarray(got) - ref)) <= 1e-10 * np.max(np.abs(ref)), b


def test_newton_schulz_without_shift_and_general_spd(ns):
    # shift = 0: scaled by the trace; any SPD matrix, not only the ensemble form.
    rng = np.random.default_rng(5)
    B = rng.standard_normal((8, 8))
    G = B @ B.T + 0.5 * np.eye(8)
    Gis, Gi = ns(jnp.asarray(G), 0.0)
    ref_is, ref_i = numpy_inv_sqrt(G)
    np.testing.assert_allclose(Gis, ref_is, rtol=0, atol=1e-10 * np.abs(ref_is).max())
    np.testing.assert_allclose(Gi, ref_i, rtol=0, atol=1e-10 * np.abs(ref_i).max())


def test_newton_schulz_identity_is_exact():
    N1 = 9.0
    Gis, Gi = NewtonSchulzInvSqrt()(N1 * jnp.eye(10), N1)
    np.testing.assert_allclose(Gis, np.eye(10) / np.sqrt(N1), rtol=1e-15)
    np.testing.assert_allclose(Gi, np.eye(10) / N1, rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# Haar-distributed orthogonal matrices
# ---------------------------------------------------------------------------------------------


def qr_tolerance(n):
    """Householder QR (and products of reflections) are orthogonal to O(n eps), whatever the
    conditioning of the Gaussian draw; allow a factor 100."""
    return 100 * max(n, 2) * np.finfo(float).eps


@pytest.mark.parametrize("n", [1, 2, 5, 27])
def test_haar_orthogonal_is_orthogonal(n):
    for seed in range(3):
        Q = np.asarray(haar_orthogonal(jax.random.PRNGKey(seed), n))
        assert Q.shape == (n, n) and Q.dtype == np.float64
        np.testing.assert_allclose(Q.T @ Q, np.eye(n), atol=qr_tolerance(n))
        np.testing.assert_allclose(Q @ Q.T, np.eye(n), atol=qr_tolerance(n))


@pytest.fixture(scope="module")
def haar_sample():
    n, M = 5, 4000
    keys = jax.random.split(jax.random.PRNGKey(42), M)
    return n, np.asarray(jax.vmap(lambda k: haar_orthogonal(k, n))(keys))


def test_haar_moments(haar_sample):
    """Haar on O(n): E[tr Q] = 0, Var[tr Q] = 1, E[Q11] = 0, E[Q11^2] = 1/n,
    Var[Q11^2] = 3/(n(n+2)) - 1/n^2, P(det = +1) = 1/2. Tolerances: 5 standard errors."""
    n, Qs = haar_sample
    M = Qs.shape[0]
    tr = np.trace(Qs, axis1=1, axis2=2)
    assert abs(tr.mean()) <= 5 * 1.0 / np.sqrt(M)
    assert abs(tr.var() - 1.0) <= 5 * np.sqrt(np.var(tr**2) / M)
    q11 = Qs[:, 0, 0]
    assert abs(q11.mean()) <= 5 / np.sqrt(n * M)
    var_q2 = 3 / (n * (n + 2)) - 1 / n**2
    assert abs(np.mean(q11**2) - 1 / n) <= 5 * np.sqrt(var_q2 / M)
    # Every entry has the same second moment 1/n (no favoured direction).
    for i, j in [(0, 4), (3, 1), (4, 4)]:
        assert abs(np.mean(Qs[:, i, j] ** 2) - 1 / n) <= 5 * np.sqrt(var_q2 / M)
    det_pos = np.mean(np.linalg.det(Qs) > 0)
    assert abs(det_pos - 0.5) <= 5 * np.sqrt(0.25 / M)


def test_haar_entry_distribution(haar_sample):
    """A Haar column is uniform on the sphere, so Q11^2 ~ Beta(1/2, (n-1)/2) (KS test)."""
    n, Qs = haar_sample
    for i, j in [(0, 0), (2, 3)]:
        p = stats.kstest(Qs[:, i, j] ** 2, stats.beta(0.5, (n - 1) / 2).cdf).pvalue
        assert p > 1e-4, (i, j, p)


# ---------------------------------------------------------------------------------------------
# Mean-preserving rotations of anomalies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("N", [2, 3, 10, 28])
def test_mean_preserving_basis(N):
    V = mean_preserving_basis(N)
    assert V.shape == (N, N - 1)
    np.testing.assert_allclose(V.T @ V, np.eye(N - 1), atol=1e-13)
    np.testing.assert_allclose(V.T @ np.ones(N), 0.0, atol=1e-13)


@pytest.mark.parametrize(("N", "n"), [(3, 5), (10, 6), (28, 40)])
def test_rotate_anomalies_preserves_mean_and_covariance(N, n):
    rng = np.random.default_rng(N)
    A = rng.standard_normal((N, n)) * 2.0
    A = A - A.mean(axis=0)
    R = np.asarray(rotate_anomalies(jnp.asarray(A), key=jax.random.PRNGKey(N)))
    assert R.shape == A.shape
    np.testing.assert_allclose(R.mean(axis=0), 0.0, atol=1e-13 * np.abs(A).max())
    np.testing.assert_allclose(
        R.T @ R, A.T @ A, rtol=0, atol=qr_tolerance(N) * np.abs(A.T @ A).max()
    )
    assert not np.allclose(R, A)  # it did rotate


def test_rotate_anomalies_is_unbiased_over_keys():
    """E[V Q V^T] = 0 for Haar Q, so the average rotated ensemble is 0 (each entry has
    variance at most |a|^2 / (N - 1); tolerance 5 standard errors)."""
    N, n, M = 6, 3, 3000
    rng = np.random.default_rng(0)
    A = rng.standard_normal((N, n))
    A = A - A.mean(axis=0)
    keys = jax.random.split(jax.random.PRNGKey(9), M)
    R = np.asarray(jax.vmap(lambda k: rotate_anomalies(jnp.asarray(A), key=k))(keys))
    col = np.linalg.norm(A, axis=0)
    assert np.all(np.abs(R.mean(axis=0)) <= 5 * col / np.sqrt((N - 1) * M))


@pytest.mark.parametrize(
    "rotation", [HaarRotation(), HouseholderRotation(), HouseholderRotation(reflections=5)],
    ids=["haar", "householder2", "householder5"],
)
@pytest.mark.parametrize("N", [3, 12])
def test_rotation_addons_are_mean_preserving_orthogonal(rotation, N):
    key = jax.random.PRNGKey(N)
    Q = np.asarray(rotation.matrix(N, key=key))
    np.testing.assert_allclose(Q.T @ Q, np.eye(N), atol=qr_tolerance(N))
    np.testing.assert_allclose(Q @ np.ones(N), np.ones(N), atol=1e-13)
    assert not np.allclose(Q, np.eye(N))
    rng = np.random.default_rng(N)
    A = rng.standard_normal((N, 4))
    A = A - A.mean(axis=0)
    R = np.asarray(rotation(jnp.asarray(A), key=key))
    np.testing.assert_allclose(R, Q @ A, atol=1e-12)  # __call__ agrees with matrix()
    np.testing.assert_allclose(R.mean(axis=0), 0.0, atol=1e-13)
    np.testing.assert_allclose(R.T @ R, A.T @ A, atol=qr_tolerance(N) * np.abs(A).max() ** 2)
    np.testing.assert_allclose(
        rotate_anomalies(jnp.asarray(A), key=key, rotation=rotation), R, atol=1e-13
    )

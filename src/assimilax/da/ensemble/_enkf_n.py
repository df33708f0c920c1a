import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from .._base import AbstractTransformFilter, ensemble_space, mean_transform
from .._linalg import (
    AbstractRotation,
    HaarRotation,
    NoRotation,
    haar_orthogonal,
    mean_preserving_basis,
)
from ..inflation import AbstractInflation, NoInflation


def hyperprior_coeffs(s2, N: int, xN: float = 1.0, g: int = 0):
    r"""EnKF-N hyperprior constants ``(eN, cL)`` with DAPPER's mode correction.

    $e_N = (N+1)/N$, $c_L = (N+g)/(N-1)$; the prior mode $e_N/c_L$ of the inflation is
    pulled towards 1 by $m_c = \sqrt{(e_N/c_L)^{\overline{I-KH}}}$ (Bocquet et al. 2015,
    eq. 36), then both are scaled by ``xN``. ``s2`` are the ``N`` eigenvalues of
    $\tilde Y\tilde Y^T$.
    """
    N1 = N - 1
    return _hyperprior(jnp.mean(1.0 / (s2 + N1)) * N1, N, xN, g)


def _hyperprior(I_KH, N: int, xN: float, g: int):
    """``(eN, cL)`` from the mean gain complement ``I_KH`` (see :func:`hyperprior_coeffs`)."""
    N1 = N - 1
    eN = (N + 1) / N
    cL = (N + g) / N1
    mc = jnp.sqrt((eN / cL) ** I_KH)
    return xN * eN / mc, xN * cL * mc


def dual_inflation(s2, b, eN, cL, N1, *, tol=1e-10, max_iter=100):
    r"""Minimise the EnKF-N dual cost over $\lambda$ by Newton's method from $\lambda = 1$.

    $J(\lambda) = \sum_i u_i^2 / (\lambda^2 s_i^2 + N-1) + e_N/\lambda^2 + c_L\ln\lambda^2$
    with $u = U^T\tilde d$ from the SVD $\tilde Y = V\,\mathrm{diag}(s)\,U^T$; only its
    derivatives enter, through ``b = s * u = V^T Y d`` (DAPPER's ``Newton_m``, tighter tolerance).
    """

    def derivs(l1):
        dgn = l1**2 * s2 + N1
        jp = -2 * l1 * jnp.sum(b**2 / dgn**2) - 2 * eN / l1**3 + 2 * cL / l1
        jpp = 8 * l1**2 * jnp.sum(s2 * b**2 / dgn**3) + 6 * eN / l1**4 - 2 * cL / l1**2
        return jp, jpp

    return _newton(derivs, s2.dtype, tol, max_iter)


def dual_inflation_tridiagonal(Q, diag, off, c, eN, cL, N1, *, tol=1e-10, max_iter=100):
    r"""The minimiser of :func:`dual_inflation` from a tridiagonal form, no eigenvalues.

    With $S = \tilde Y\tilde Y^T = Q\,T\,Q^T$ (:func:`tridiagonal_form`),
    $c = \tilde Y\tilde d$, $c_T = Q^Tc$ and $G_T(\lambda) = \lambda^2 T + (N-1)I$, the
    spectral sums of the dual's derivatives are $\sum_i b_i^2/g_i^2 = \|G_T^{-1}c_T\|^2$
    and $\sum_i s_i^2 b_i^2/g_i^3 = (G_T^{-1}c_T)^T\,T\,(G_T^{-2}c_T)$: two tridiagonal
    solves per Newton step after one Householder tridiagonalisation (several times
    cheaper than ``eigh`` for tens of members).

    Args:
        Q: orthogonal ``(n, n)`` with ``S = Q T Q^T``.
        diag: the diagonal of ``T`` ``(n,)``.
        off: the off-diagonal of ``T`` ``(n-1,)``.
        c: ``(n,)`` in the basis of ``S``.
        eN, cL: hyperprior constants (:func:`hyperprior_coeffs`).
        N1: ``N - 1``.
    """
    c_t = (Q.T @ c)[:, None]

    def derivs(l1):
        z = _tridiagonal_solve(l1**2 * diag + N1, l1**2 * off, c_t)
        z2 = _tridiagonal_solve(l1**2 * diag + N1, l1**2 * off, z)
        z, z2 = z[:, 0], z2[:, 0]
        jp = -2 * l1 * (z @ z) - 2 * eN / l1**3 + 2 * cL / l1
        jpp = 8 * l1**2 * (z @ _tridiagonal_matvec(diag, off, z2)) + 6 * eN / l1**4 - 2 * cL / l1**2
        return jp, jpp

    return _newton(derivs, c.dtype, tol, max_iter)


def tridiagonal_form(S):
    """Householder tridiagonalisation ``S = Q T Q^T`` of a symmetric ``(n, n)`` matrix.

    Returns ``(Q, diag, off)``: ``Q`` ``(n, n)`` orthogonal, the diagonal ``(n,)`` and the
    off-diagonal ``(n-1,)`` of ``T`` (LAPACK ``sytrd``/``orgtr``).
    """
    reflectors, diag, off, taus = jax.lax.linalg.tridiagonal(S, lower=True)
    n = S.shape[0]
    Q = jnp.zeros_like(S).at[0, 0].set(1.0)
    Q = Q.at[1:, 1:].set(jax.lax.linalg.householder_product(reflectors[1:, : n - 1], taus))
    return Q, diag, off


def _tridiagonal_solve(diag, off, rhs):
    """Solve the symmetric tridiagonal system ``(diag, off) X = rhs`` for ``rhs`` ``(n, k)``."""
    zero = jnp.zeros(1, diag.dtype)
    return jax.lax.linalg.tridiagonal_solve(
        jnp.concatenate([zero, off]), diag, jnp.concatenate([off, zero]), rhs
    )


def _tridiagonal_matvec(diag, off, v):
    zero = jnp.zeros(1, diag.dtype)
    return diag * v + jnp.concatenate([off * v[1:], zero]) + jnp.concatenate([zero, off * v[:-1]])


def _newton(derivs, dtype, tol, max_iter):
    """Newton iterations on a scalar from 1 with ``derivs(x) -> (J', J'')``."""

    def cond(c):
        i, _, dx, jp = c
        return (i < max_iter) & (jnp.abs(dx) > tol) & (jnp.abs(jp) > 1e-14)

    def body(c):
        i, l1, _, _ = c
        jp, jpp = derivs(l1)
        dx = jp / jpp
        # Newton on a convex-near-the-optimum scalar cost; keep the iterate positive.
        new = jnp.where(l1 - dx > 0, l1 - dx, 0.5 * l1)
        return i + 1, new, dx, jp

    one = jnp.asarray(1.0, dtype)
    _, l1, _, _ = jax.lax.while_loop(cond, body, (0, one, jnp.asarray(jnp.inf, dtype), one))
    return l1


class EnKF_N(AbstractTransformFilter):
    r"""Finite-size ensemble Kalman filter (EnKF-N): inflation estimated at every cycle.

    The prior of the ensemble-space weights accounts for the sampling error of an
    ``N``-member ensemble through a Jeffreys hyperprior on the background covariance
    (Bocquet 2011). The inflation $\lambda$ minimises the dual cost
    (:func:`dual_inflation`) with DAPPER's hyperprior mode correction
    (:func:`hyperprior_coeffs`); the update is then the ETKF with the prior anomalies
    multiplied by $\lambda$:

    $$G = \lambda^2\tilde Y\tilde Y^T + (N-1)I,\quad
    E_a = \bar x + \lambda\,(\lambda\,G^{-1}\tilde Y\tilde d + \sqrt{N-1}\,G^{-1/2})A_f.$$

    No inflation to tune (``inflation`` is available for model-error studies).

    With a Haar rotation and an inflation that commutes with it (none, multiplicative,
    RTPS), and ``fuse_rotation`` (default), the analysis avoids the eigendecomposition:
    $\lambda$ by :func:`dual_inflation_tridiagonal`, the square root by a Cholesky factor
    drawn together with the rotation as in the ETKF's fused path
    (equal in distribution to the two-step path ``fuse_rotation=False``, same mean and
    covariance, not the same members for the same key).

    Refs: Bocquet (2011), Nonlin. Processes Geophys.; Bocquet, Raanes & Hannart (2015),
    Nonlin. Processes Geophys.; DAPPER ``EnKF_N``.
    """

    inflation: AbstractInflation = NoInflation()
    rotation: AbstractRotation = HaarRotation()
    xN: float = 1.0
    g: int = eqx.field(static=True, default=0)
    fuse_rotation: bool = eqx.field(static=True, default=True)

    def weights(self, ensemble, window):
        """``(es, w, T, l1)`` with ``E_a = mean + l1 (w + T) A`` (``es``: the ensemble space)."""
        es = ensemble_space(ensemble, *window.obs, window.operator, window.noise)
        N = ensemble.shape[0]
        N1 = N - 1
        s2, V = jnp.linalg.eigh(es.Y @ es.Y.T)
        s2 = jnp.maximum(s2, 0.0)
        b = V.T @ (es.Y @ es.d)
        eN, cL = hyperprior_coeffs(s2, N, self.xN, self.g)
        l1 = dual_inflation(s2, b, eN, cL, N1)
        dgn = l1**2 * s2 + N1
        w = l1 * (V @ (b / dgn))
        T = jnp.sqrt(N1) * (V * dgn[None, :] ** -0.5) @ V.T
        return es, w, T, l1

    def update(self, ensemble, window, *, key, rotation, rotation_key):
        del key
        if self.fuse_rotation and rotation.haar:
            es = ensemble_space(ensemble, *window.obs, window.operator, window.noise)
            raw = enkf_n_haar_analysis(es.mean, es.A, es.Y, es.d, key=rotation_key,
                                       xN=self.xN, g=self.g)
            return raw, NoRotation()
        es, w, T, l1 = self.weights(ensemble, window)
        return es.mean + l1 * ((w[None, :] + T) @ es.A), rotation

    def transform(self, ensemble, window, *, key):
        del key
        _, w, T, l1 = self.weights(ensemble, window)
        return mean_transform(ensemble.shape[0], l1 * w, l1 * T, ensemble.dtype)


def enkf_n_haar_analysis(mean, A, Y, d, *, key, xN: float = 1.0, g: int = 0):
    r"""EnKF-N analysis followed by a Haar rotation, without an eigendecomposition.

    In the basis ``V`` of $\mathbf{1}^\perp$ (``(N, N-1)``), with $Y' = V^T\tilde Y$,
    $A' = V^T A$, $S' = Y'Y'^T$, $c' = Y'\tilde d$: the hyperprior's
    $\overline{I-KH} = \frac{N-1}{N}\big(\mathrm{tr}(S'+(N-1)I)^{-1} + \frac{1}{N-1}\big)$
    (the ones direction is the zero eigenvalue of $\tilde Y\tilde Y^T$), $\lambda$ by
    :func:`dual_inflation_tridiagonal`, then with $G' = \lambda^2 S' + (N-1)I = LL^T$ and
    $Q$ Haar on ``O(N-1)``:
    $$\bar x_a = \bar x + \lambda^2 (G'^{-1}c')^T A',\qquad
    A_a = \lambda\sqrt{N-1}\;V\,Q\,L^{-1}A'.$$

    Args:
        mean: forecast mean ``(state,)``.
        A: forecast anomalies ``(member, state)``.
        Y: whitened observation anomalies ``(member, obs)``.
        d: whitened innovation ``(obs,)``.
        key: the rotation's key.
        xN: hyperprior confidence (DAPPER's ``xN``).
        g: DAPPER's ``g`` (nullity of the anomalies' span).

    Returns:
        The analysis ensemble ``(member, state)``.
    """
    N = A.shape[0]
    N1 = N - 1
    V = jnp.asarray(mean_preserving_basis(N), A.dtype)
    Yp = V.T @ Y
    Ap = V.T @ A
    S = Yp @ Yp.T
    c = Yp @ d
    eye = jnp.eye(N1, dtype=A.dtype)
    Q_t, diag, off = tridiagonal_form(S)
    trace_inv = jnp.trace(_tridiagonal_solve(diag + N1, off, eye))
    eN, cL = _hyperprior(N1 / N * (trace_inv + 1.0 / N1), N, xN, g)
    l1 = dual_inflation_tridiagonal(Q_t, diag, off, c, eN, cL, N1)
    L = jnp.linalg.cholesky(l1**2 * S + N1 * eye)
    w = jsl.cho_solve((L, True), c)
    Q = haar_orthogonal(key, N1, A.dtype)
    C = jsl.solve_triangular(L, Ap, lower=True)
    return mean + l1**2 * (w @ Ap) + l1 * jnp.sqrt(N1) * (V @ (Q @ C))

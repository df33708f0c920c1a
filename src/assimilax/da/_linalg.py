"""Small dense linear algebra for ensemble space: inverse square roots and rotations."""

import abc
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray


class AbstractInvSqrt(eqx.Module):
    r"""Symmetric inverse square root of SPD matrices, batched over leading axes.

    ``__call__(G, shift)`` returns ``(G^{-1/2}, G^{-1})`` for ``G`` of shape ``(..., N, N)``;
    ``shift`` is a known lower bound of the spectrum (``N - 1`` in ensemble space), or 0.
    """

    @abc.abstractmethod
    def __call__(self, G: Float[Array, "... N N"], shift: float = 0.0) -> tuple[Array, Array]: ...


class EighInvSqrt(AbstractInvSqrt):
    """Through the eigendecomposition ``G = V diag(d) V^T`` (LAPACK ``syevd``)."""

    def __call__(self, G, shift=0.0):
        del shift
        d, V = jnp.linalg.eigh(G)
        d = jnp.maximum(d, jnp.finfo(G.dtype).tiny)
        Vt = jnp.swapaxes(V, -1, -2)
        return (V * d[..., None, :] ** -0.5) @ Vt, (V * (1.0 / d)[..., None, :]) @ Vt


def _bmm(a, b):
    """Batched product of small matrices by broadcasting (fuses well on CPU)."""
    return jnp.sum(a[..., :, :, None] * b[..., None, :, :], axis=-2)


class NewtonSchulzInvSqrt(AbstractInvSqrt):
    r"""Coupled Newton-Schulz iteration: matrix products only, no LAPACK call.

    For ``G = N1 (I + S)`` with ``S`` PSD, the iteration runs on ``B = (I + S)/c`` with
    ``c = 1 + tr(S) >= lambda_max(I + S)`` so the spectrum lies in ``(0, 1]``:
    $Y_0 = B$, $Z_0 = I$, $M_k = (3I - Z_k Y_k)/2$, $Y_{k+1} = Y_k M_k$,
    $Z_{k+1} = M_k Z_k$; then $Z_k \to B^{-1/2}$ quadratically. It stops when
    ``max|Z_k Y_k - I| < tol`` (all matrices of a batch together) or after ``max_iter``.
    The inverse is $G^{-1} = (G^{-1/2})^2$.

    Args:
        tol: convergence tolerance on the commutator residual.
        max_iter: iteration cap.

    Refs: Higham (2008), Functions of Matrices, Section 6.7.
    """

    tol: float = eqx.field(static=True, default=1e-12)
    max_iter: int = eqx.field(static=True, default=60)

    def __call__(self, G, shift=0.0):
        n = G.shape[-1]
        eye = jnp.eye(n, dtype=G.dtype)
        if shift > 0:
            # G = shift * (I + S): scale by an upper bound of lambda_max(I + S).
            scale = shift * (1.0 + jnp.trace(G / shift - eye, axis1=-2, axis2=-1))
        else:
            scale = jnp.trace(G, axis1=-2, axis2=-1)
        scale = scale[..., None, None]
        B = G / scale

        def cond(carry):
            i, _, _, err = carry
            return (i < self.max_iter) & (err > self.tol)

        def body(carry):
            i, Y, Z, _ = carry
            ZY = _bmm(Z, Y)
            M = 0.5 * (3.0 * eye - ZY)
            return i + 1, _bmm(Y, M), _bmm(M, Z), jnp.max(jnp.abs(ZY - eye))

        Z0 = jnp.broadcast_to(eye, G.shape)
        init = (jnp.asarray(0), B, Z0, jnp.asarray(jnp.inf, G.dtype))
        _, _, Z, _ = jax.lax.while_loop(cond, body, init)
        inv_sqrt = Z / jnp.sqrt(scale)
        return inv_sqrt, _bmm(inv_sqrt, inv_sqrt)


@functools.lru_cache(maxsize=64)
def mean_preserving_basis(n: int) -> np.ndarray:
    """Orthonormal basis ``(n, n-1)`` of the complement of the ones vector (Helmert)."""
    e = np.ones((n, 1)) / np.sqrt(n)
    q, _ = np.linalg.qr(np.hstack([e, np.eye(n)[:, : n - 1]]))
    basis = q[:, 1:]
    # Make the sign deterministic.
    return basis * np.sign(basis[np.argmax(np.abs(basis), axis=0), np.arange(n - 1)])


def haar_orthogonal(key: PRNGKeyArray, n: int, dtype=float) -> Float[Array, "n n"]:
    r"""A Haar-distributed random orthogonal matrix ``(n, n)``.

    $Q = Z L^{-T}$ with $Z$ standard Gaussian and $L$ the Cholesky factor of $Z^T Z$:
    this is the ``Q`` of the QR decomposition of ``Z`` with a positive diagonal ``R``,
    which is Haar distributed (Mezzadri 2007), at the cost of a Cholesky factorisation.
    """
    Z = jax.random.normal(key, (n, n), dtype)
    L = jnp.linalg.cholesky(Z.T @ Z)
    return jsl.solve_triangular(L, Z.T, lower=True).T


def rotate_anomalies(
    anomalies: Float[Array, "member state"], *, key: PRNGKeyArray
) -> Float[Array, "member state"]:
    r"""Apply a random mean-preserving orthogonal transform to centred anomalies.

    $A \leftarrow V Q V^T A$ with ``V`` an orthonormal basis of $\mathbf{1}^\perp$ and
    ``Q`` Haar on ``O(N-1)``: DAPPER's ``genOG_1`` (Sakov & Bocquet), which keeps the
    ensemble mean and covariance and only rotates the members.
    """
    N = anomalies.shape[0]
    V = jnp.asarray(mean_preserving_basis(N), anomalies.dtype)
    Q = haar_orthogonal(key, N - 1, anomalies.dtype)
    return V @ (Q @ (V.T @ anomalies))

"""Small dense linear algebra for ensemble space: inverse square roots and rotations."""

import abc
import functools
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._ensemble import member_mean


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


def _matmul_batch_last(a, b):
    """``a @ b`` for stacks laid out ``(N, N, batch)``: unrolled, fuses into one CPU loop."""
    out = a[:, 0, None, :] * b[None, 0, :, :]
    for j in range(1, a.shape[1]):
        out = out + a[:, j, None, :] * b[None, j, :, :]
    return out


class NewtonSchulzInvSqrt(AbstractInvSqrt):
    r"""Coupled Newton-Schulz iteration: matrix products only, no LAPACK call.

    For ``G = N1 (I + S)`` with ``S`` PSD (``N1 = shift``), the iteration runs on
    ``B = (I + S)/c`` with ``c = 1 + ||S||_F >= lambda_max(I + S)``, so the spectrum of
    ``B`` lies in ``[1/c, 1]``: $Y_0 = B$, $Z_0 = I$, $M_k = (3I - Z_k Y_k)/2$,
    $Y_{k+1} = Y_k M_k$, $Z_{k+1} = M_k Z_k$; then $Z_k \to B^{-1/2}$ quadratically.
    It stops when ``max|Z_k Y_k - I| < tol`` for every matrix of a batch, or after
    ``max_iter``. The inverse is $G^{-1} = (G^{-1/2})^2$. Batches of small matrices
    (``N <= unroll_below``) are multiplied in a batch-last layout that XLA fuses well on
    CPU; larger ones use ``matmul``.

    Attributes:
        tol: convergence tolerance on ``max|Z_k Y_k - I|``.
        max_iter: iteration cap.
        unroll_below: largest ``N`` multiplied by the unrolled batch-last kernel.

    Refs: Higham (2008), Functions of Matrices, Section 6.7.
    """

    tol: float = eqx.field(static=True, default=1e-13)
    max_iter: int = eqx.field(static=True, default=50)
    unroll_below: int = eqx.field(static=True, default=16)

    def __call__(self, G, shift=0.0):
        n = G.shape[-1]
        batch_shape = G.shape[:-2]
        eye = jnp.eye(n, dtype=G.dtype)
        if shift > 0:
            S = G / shift - eye
            fro = jnp.sqrt(jnp.sum(S * S, axis=(-2, -1)))
            scale = shift * (1.0 + fro)
        else:
            scale = jnp.trace(G, axis1=-2, axis2=-1)
        B = G / scale[..., None, None]
        batched = len(batch_shape) > 0 and n <= self.unroll_below
        if batched:
            B = jnp.moveaxis(B.reshape(-1, n, n), 0, -1)  # (n, n, batch)
            eye_b = eye[:, :, None]
            mm = _matmul_batch_last
        else:
            eye_b = eye
            mm = jnp.matmul

        def cond(carry):
            i, _, _, err = carry
            return (i < self.max_iter) & (err > self.tol)

        def body(carry):
            i, Y, Z, _ = carry
            ZY = mm(Z, Y)
            M = 1.5 * eye_b - 0.5 * ZY
            return i + 1, mm(Y, M), mm(M, Z), jnp.max(jnp.abs(ZY - eye_b))

        Z0 = jnp.broadcast_to(eye_b, B.shape)
        init = (jnp.asarray(0), B, Z0, jnp.asarray(jnp.inf, G.dtype))
        _, _, Z, _ = jax.lax.while_loop(cond, body, init)
        Zi = mm(Z, Z)
        if batched:
            Z = jnp.moveaxis(Z, -1, 0).reshape(*batch_shape, n, n)
            Zi = jnp.moveaxis(Zi, -1, 0).reshape(*batch_shape, n, n)
        root = jnp.sqrt(scale)[..., None, None]
        return Z / root, Zi / scale[..., None, None]


def standard_normal(key: PRNGKeyArray, shape: tuple[int, ...], dtype=float) -> Array:
    """Standard Gaussian draws for the filters' internal randomness, in ``dtype``.

    Drawn in single precision and cast: half the cost of double-precision draws on CPU
    (the inverse-erf transform dominates), and immaterial for rotations and perturbed
    observations, whose algebra then runs in ``dtype``.
    """
    return jax.random.normal(key, shape, jnp.float32).astype(dtype)


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

    The ``Q`` factor of the Householder QR decomposition of a standard Gaussian matrix,
    with the signs of its columns set so that ``R`` has a positive diagonal
    (Mezzadri 2007). Householder QR stays orthogonal to working precision even when the
    Gaussian draw is nearly singular (a Cholesky-based QR of ``Z^T Z`` does not).
    """
    Q, R = jnp.linalg.qr(standard_normal(key, (n, n), dtype))
    return Q * jnp.where(jnp.diagonal(R) < 0, -1.0, 1.0).astype(dtype)[None, :]


class AbstractRotation(eqx.Module):
    r"""A random orthogonal transform of the members keeping the mean: $Q\mathbf{1} = \mathbf{1}$.

    Applied to centred anomalies ``(member, state)`` it keeps the ensemble mean and
    covariance exactly and only mixes the members (against outliers of square-root
    filters; Sakov & Oke 2008).
    """

    is_identity: ClassVar[bool] = False
    """``True`` for :class:`NoRotation`: applying it is skipped (no arithmetic at all)."""
    haar: ClassVar[bool] = False
    """``True`` when ``Q`` is Haar-distributed on the rotations keeping the mean: a
    square-root filter may then draw its square root and the rotation together."""

    @abc.abstractmethod
    def matrix(self, n: int, *, key: PRNGKeyArray, dtype=float) -> Float[Array, "n n"]:
        """The transform ``Q`` ``(member, member)``."""

    def __call__(
        self, anomalies: Float[Array, "member state"], *, key: PRNGKeyArray
    ) -> Float[Array, "member state"]:
        """``Q @ anomalies``."""
        return self.matrix(anomalies.shape[0], key=key, dtype=anomalies.dtype) @ anomalies

    def apply(
        self, ensemble: Float[Array, "member state"], *, key: PRNGKeyArray
    ) -> Float[Array, "member state"]:
        """The ensemble with its anomalies rotated, ``mean + Q (E - mean)``."""
        if self.is_identity:
            return ensemble
        mu = member_mean(ensemble)
        return mu + self(ensemble - mu, key=key)

    def apply_with_transform(
        self,
        ensemble: Float[Array, "member state"],
        transform: Float[Array, "member member"],
        *,
        key: PRNGKeyArray,
    ) -> tuple[Float[Array, "member state"], Float[Array, "member member"]]:
        """:meth:`apply` and the left transform composed with it, ``(E_rot, Q @ M)``.

        A smoother applies ``Q @ M`` to its lagged ensembles, so that member ``m`` stays
        one trajectory across the lag.
        """
        if self.is_identity:
            return ensemble, transform
        Q = self.matrix(ensemble.shape[0], key=key, dtype=transform.dtype)
        mu = member_mean(ensemble)
        return mu + Q @ (ensemble - mu), Q @ transform


class NoRotation(AbstractRotation):
    """No rotation: the members stay as the analysis made them (DAPPER's ``rot=False``)."""

    is_identity: ClassVar[bool] = True

    def matrix(self, n, *, key, dtype=float):
        del key
        return jnp.eye(n, dtype=dtype)


class HaarRotation(AbstractRotation):
    r"""Haar rotation $Q = V R V^T + \mathbf{1}\mathbf{1}^T/N$ of the members.

    ``R`` is Haar on ``O(N-1)`` and ``V`` an orthonormal basis of $\mathbf{1}^\perp$.

    DAPPER's ``genOG_1`` (from the iEnKS code of Sakov and Bocquet). Costs ``(N-1)^2``
    Gaussian draws and a Cholesky factorisation per analysis.
    """

    haar: ClassVar[bool] = True

    def matrix(self, n, *, key, dtype=float):
        V = jnp.asarray(mean_preserving_basis(n), dtype)
        R = haar_orthogonal(key, n - 1, dtype)
        return V @ R @ V.T + jnp.full((n, n), 1.0 / n, dtype)

    def __call__(self, anomalies, *, key):
        N = anomalies.shape[0]
        V = jnp.asarray(mean_preserving_basis(N), anomalies.dtype)
        R = haar_orthogonal(key, N - 1, anomalies.dtype)
        return V @ (R @ (V.T @ anomalies))


class HouseholderRotation(AbstractRotation):
    r"""Product of ``reflections`` random Householder reflections in $\mathbf{1}^\perp$.

    $Q = \prod_i (I - 2 u_i u_i^T / u_i^T u_i)$ with $u_i$ the centred part of a standard
    Gaussian vector, so $u_i \perp \mathbf{1}$ is isotropic in that subspace. It costs
    ``reflections * N`` Gaussian draws instead of ``(N-1)^2``: a cheaper randomisation of
    the members with the same exact preservation of mean and covariance, but not a Haar
    draw at every analysis.
    """

    reflections: int = eqx.field(static=True, default=2)

    def _vectors(self, n, key, dtype):
        U = standard_normal(key, (self.reflections, n), dtype)
        U = U - jnp.mean(U, axis=1, keepdims=True)
        return U / jnp.linalg.norm(U, axis=1, keepdims=True)

    def matrix(self, n, *, key, dtype=float):
        return self(jnp.eye(n, dtype=dtype), key=key)

    def __call__(self, anomalies, *, key):
        U = self._vectors(anomalies.shape[0], key, anomalies.dtype)
        for i in reversed(range(self.reflections)):
            u = U[i]
            anomalies = anomalies - 2.0 * u[:, None] * (u @ anomalies)[None, :]
        return anomalies


def rotate_anomalies(
    anomalies: Float[Array, "member state"],
    *,
    key: PRNGKeyArray,
    rotation: AbstractRotation | None = None,
) -> Float[Array, "member state"]:
    """Apply a random mean-preserving rotation to centred anomalies (Haar by default)."""
    return (HaarRotation() if rotation is None else rotation)(anomalies, key=key)

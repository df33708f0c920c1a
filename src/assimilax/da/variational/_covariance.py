"""Covariance operators for variational DA, applied through a square root: $C = W W^T$.

Variational methods minimise in control-variable space, $\\delta x = W v$ with
$v \\sim N(0, I)$ a priori, so a covariance is only ever needed as its square root
$W$ (``sqrt``); :meth:`AbstractCovariance.matrix` forms $W W^T$ for tests and oracles.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._recursive_filter import AbstractRecursiveFilter


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


class AbstractCovariance(eqx.Module):
    """A covariance ``C`` of shape ``(size, size)`` given by a square root ``W``, ``C = W W^T``."""

    @property
    @abc.abstractmethod
    def size(self) -> int:
        """Dimension of the covariance."""

    @abc.abstractmethod
    def sqrt(self, v: Float[Array, " size"]) -> Float[Array, " size"]:
        """$W v$: a control vector (unit variance) to a perturbation with covariance ``C``."""

    def matrix(self) -> Float[Array, "size size"]:
        """The dense ``C = W W^T`` (tests and small problems)."""
        W = jax.vmap(self.sqrt, in_axes=1, out_axes=1)(jnp.eye(self.size))
        return W @ W.T


class DenseCovariance(AbstractCovariance):
    r"""A full covariance matrix, e.g. a scaled climatological covariance (DAPPER's ``B='clim'``).

    The square root is the symmetric one, $W = U\Lambda^{1/2}U^T$ (DAPPER's
    ``CovMat.sym_sqrt``). The matrix must be symmetric positive definite.
    """

    cov: Float[Array, "size size"]
    root: Float[Array, "size size"]

    def __init__(self, cov, *, name: str = "covariance"):
        """Args:
            cov: the covariance ``(size, size)``, symmetric positive definite.
            name: how errors call it (``"B"``, ``"Q"``).
        """
        if _is_concrete(cov):
            arr = np.asarray(cov, float)
            if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
                raise ValueError(f"{name} must be a square matrix, got shape {arr.shape}.")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} has non-finite entries.")
            if not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-14 * np.abs(arr).max()):
                raise ValueError(f"{name} must be symmetric.")
            eig = np.linalg.eigvalsh(0.5 * (arr + arr.T))
            if not eig.min() > 1e-12 * max(eig.max(), 0.0):
                raise ValueError(
                    f"{name} is not positive definite (smallest eigenvalue {eig.min():.3g}, "
                    f"largest {eig.max():.3g}); a variational cost needs an invertible "
                    "covariance: scale it by a positive factor, or add a small multiple of "
                    "the identity to a rank-deficient sample covariance."
                )
        cov = jnp.asarray(cov)
        self.cov = 0.5 * (cov + cov.T)
        lam, U = jnp.linalg.eigh(self.cov)
        self.root = (U * jnp.sqrt(jnp.maximum(lam, 0.0))) @ U.T

    @property
    def size(self):
        return self.cov.shape[0]

    def sqrt(self, v):
        return self.root @ v

    def matrix(self):
        return self.cov


class DiagonalCovariance(AbstractCovariance):
    """Independent components with standard deviation ``std``: ``C = diag(std^2)``.

    The model-error covariance of weak-constraint 4D-Var, ``Q = model_error_std^2 I``.
    """

    std: Float[Array, " size"]

    def __init__(self, std, size: int | None = None, *, name: str = "covariance"):
        """Args:
            std: standard deviation, a scalar (with ``size``) or one per component.
            size: the dimension when ``std`` is a scalar.
            name: how errors call it (``"Q"``).
        """
        if _is_concrete(std):
            arr = np.asarray(std, float)
            if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ValueError(
                    f"{name}: the standard deviation must be positive and finite, got {arr} "
                    "(a covariance with a zero or negative variance is not positive definite)."
                )
        std = jnp.asarray(std)
        if std.ndim == 0:
            if size is None:
                raise ValueError(f"{name}: give `size` with a scalar standard deviation.")
            std = jnp.broadcast_to(std, (size,))
        self.std = std

    @property
    def size(self):
        return self.std.shape[0]

    def sqrt(self, v):
        return self.std * v

    def matrix(self):
        return jnp.diag(self.std**2)


@eqx.filter_jit
def _filter_diagonal(filter: AbstractRecursiveFilter, size: int, periodic: bool):
    """``diag(F^K)``: one column on a ring (circulant), every column on a line."""
    eye = jnp.eye(size)
    if periodic:
        return jnp.full((size,), filter(eye[0], periodic=True)[0])
    return jnp.diagonal(jax.vmap(lambda e: filter(e, periodic=False))(eye))


class RecursiveFilterCovariance(AbstractCovariance):
    r"""$C = D\,N^{-1/2} F^K N^{-1/2} D$: a Gaussian correlation by recursive filters.

    $F^K$ is the ``K``-pass recursive filter (:class:`FirstOrderFilter`,
    :class:`YoungVanVlietFilter`) of standard deviation ``filter.sigma`` (the correlation
    length, grid units: correlations $\approx e^{-d^2/2L^2}$), $N = \operatorname{diag}(F^K)$
    makes the correlations exactly 1 on the diagonal, and $D = \operatorname{diag}(\sigma_b)$.
    The square root is $W = D N^{-1/2} F^{K/2}$ (``K`` even) or $D N^{-1/2} F^m G$
    (``K = 2m+1``), applied in $O(K n)$ without forming a matrix.

    Refs: Purser et al. (2003), Mon. Wea. Rev. 131; De Luca et al. (2021).
    """

    filter: AbstractRecursiveFilter
    std: Float[Array, " size"]
    norm: Float[Array, " size"]
    periodic: bool = eqx.field(static=True)

    def __init__(self, filter: AbstractRecursiveFilter, std, size: int, *, periodic: bool = True):
        """Args:
            filter: the recursive filter; ``filter.sigma`` is the correlation length.
            std: background standard deviation, a scalar or one per grid point.
            size: number of grid points (one grid unit apart).
            periodic: a periodic ring (Lorenz-96) or a line.
        """
        if _is_concrete(std):
            arr = np.asarray(std, float)
            if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ValueError(
                    f"RecursiveFilterCovariance: std must be positive and finite, got {arr}."
                )
        if size < 2:
            raise ValueError(f"RecursiveFilterCovariance: size must be >= 2, got {size}.")
        self.filter = filter
        self.periodic = periodic
        self.std = jnp.broadcast_to(jnp.asarray(std, float), (size,))
        self.norm = _filter_diagonal(filter, size, periodic)

    @property
    def size(self):
        return self.std.shape[0]

    def sqrt(self, v):
        return self.std * self.filter.sqrt(v, periodic=self.periodic) / jnp.sqrt(self.norm)

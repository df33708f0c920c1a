"""Gaussian observation errors: sampling and whitening with masks."""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray


class AbstractObsNoise(eqx.Module):
    """Zero-mean Gaussian observation error with covariance ``R`` (obs units squared)."""

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, size: int) -> Float[Array, " obs"]:
        """One draw of the error, shape ``(obs,)``."""

    @abc.abstractmethod
    def whiten(
        self, v: Float[Array, "... obs"], mask: Bool[Array, " obs"]
    ) -> Float[Array, "... obs"]:
        r"""$R_o^{-1/2} v$ on the observed slots, zero on the masked ones.

        $R_o$ is the covariance of the observed slots; the unobserved slots drop out.
        """

    @abc.abstractmethod
    def covariance(self, size: int) -> Float[Array, "obs obs"]:
        """The full ``R``, shape ``(obs, obs)``."""

    @property
    def is_diagonal(self) -> bool:
        return False


class DiagonalNoise(AbstractObsNoise):
    """Independent errors with standard deviation ``std`` (a scalar or one per slot)."""

    std: Float[Array, ...]

    def __init__(self, std):
        if not isinstance(std, jax.core.Tracer):
            arr = np.asarray(std)
            if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ValueError(f"DiagonalNoise: std must be positive and finite, got {arr}.")
        self.std = jnp.asarray(std)

    @property
    def is_diagonal(self) -> bool:
        return True

    def sample(self, key, size):
        return self.std * jax.random.normal(key, (size,))

    def whiten(self, v, mask):
        return jnp.where(mask, v / self.std, 0.0)

    def covariance(self, size):
        return jnp.diag(jnp.broadcast_to(self.std**2, (size,)))


class CorrelatedNoise(AbstractObsNoise):
    """Correlated errors with a full covariance matrix ``R`` of shape ``(obs, obs)``."""

    cov: Float[Array, "obs obs"]

    def __init__(self, cov):
        if not isinstance(cov, jax.core.Tracer):
            arr = np.asarray(cov, float)
            if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
                raise ValueError(f"CorrelatedNoise: cov must be a square matrix, got {arr.shape}.")
            if not np.all(np.isfinite(arr)):
                raise ValueError("CorrelatedNoise: cov has non-finite entries.")
            if not np.allclose(arr, arr.T, rtol=1e-10, atol=0.0):
                raise ValueError("CorrelatedNoise: cov must be symmetric.")
            try:
                np.linalg.cholesky(arr)
            except np.linalg.LinAlgError:
                raise ValueError(
                    "CorrelatedNoise: cov must be positive definite (its Cholesky failed)."
                ) from None
        self.cov = jnp.asarray(cov)

    def sample(self, key, size):
        L = jnp.linalg.cholesky(self.cov)
        return L @ jax.random.normal(key, (size,))

    def whiten(self, v, mask):
        # Masked rows/columns replaced by the identity: the Cholesky factor keeps the
        # observed/unobserved blocks apart, so the observed part is whitened by R_oo alone.
        both = mask[:, None] & mask[None, :]
        eye = jnp.eye(self.cov.shape[0], dtype=self.cov.dtype)
        L = jnp.linalg.cholesky(jnp.where(both, self.cov, eye))
        flat = v.reshape(-1, v.shape[-1])
        w = jsl.solve_triangular(L, flat.T, lower=True).T
        return jnp.where(mask, w, 0.0).reshape(v.shape)

    def covariance(self, size):
        return self.cov

"""Linear model x_{k+1} = M x_k: the test bed of the exact Kalman filter."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractModel


class LinearModel(AbstractModel):
    """``step(x) = M @ x`` with optional additive noise ``sqrt(dt) * noise_std * N(0, I)``.

    The per-step model-error covariance is ``Q = dt * noise_std**2 * I``.
    """

    M: Float[Array, "state state"]
    dt: float = 1.0
    noise_std: float = 0.0

    def __check_init__(self):
        if self.M.ndim != 2 or self.M.shape[0] != self.M.shape[1]:
            raise ValueError(f"LinearModel: M must be square, got shape {self.M.shape}.")

    @property
    def state_size(self) -> int:
        return self.M.shape[0]

    def step(self, x, *, key=None):
        del key
        return jnp.asarray(self.M) @ x

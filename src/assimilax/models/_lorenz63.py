"""Lorenz (1963) three-variable convection model."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._base import AbstractODEModel
from ._integrators import RK4, AbstractIntegrator


class Lorenz63(AbstractODEModel):
    r"""Lorenz-63: $\dot x = \sigma(y - x)$, $\dot y = x(\rho - z) - y$, $\dot z = xy - \beta z$.

    State shape ``(3,)``. Defaults are the chaotic regime (10, 28, 8/3); the leading
    Lyapunov exponent is about 0.906 per model time unit.

    Refs: Lorenz (1963), J. Atmos. Sci. 20, 130-141.
    """

    sigma: float = 10.0
    rho: float = 28.0
    beta: float = 8.0 / 3.0
    dt: float = 0.01
    noise_std: float = 0.0
    integrator: AbstractIntegrator = RK4()

    @property
    def state_size(self) -> int:
        return 3

    def tendency(self, x):
        x1, x2, x3 = x[..., 0], x[..., 1], x[..., 2]
        return jnp.stack(
            [
                self.sigma * (x2 - x1),
                x1 * (self.rho - x3) - x2,
                x1 * x2 - self.beta * x3,
            ],
            axis=-1,
        )

    def initial_condition(self, key):
        # A point near the attractor (DAPPER's x0), perturbed.
        x0 = jnp.array([1.509, -1.531, 25.46])
        return x0 + jax.random.normal(key, (3,), x0.dtype)

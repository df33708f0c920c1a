"""Lorenz (1996) single-scale model."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ._base import AbstractODEModel
from ._integrators import RK4, AbstractIntegrator


def l96_advection(x: jnp.ndarray) -> jnp.ndarray:
    r"""$(x_{i+1} - x_{i-2})\,x_{i-1}$ on a periodic ring, along the last axis.

    One periodic pad and slices (faster on CPU than three ``jnp.roll``).
    """
    xp = jnp.concatenate([x[..., -2:], x, x[..., :1]], axis=-1)  # x[-2], x[-1], x..., x[0]
    n = x.shape[-1]
    return (xp[..., 3 : 3 + n] - xp[..., 0:n]) * xp[..., 1 : 1 + n]


class Lorenz96(AbstractODEModel):
    r"""Lorenz-96: $\dot x_i = (x_{i+1} - x_{i-2})x_{i-1} - x_i + F$, $i$ periodic.

    State shape ``(n,)``. With ``n = 40``, ``F = 8`` the leading Lyapunov exponent is
    about 1.67 per model time unit and the climatological RMS about 3.6.

    Refs: Lorenz (1996), Proc. ECMWF Seminar on Predictability.
    """

    n: int = eqx.field(static=True, default=40)
    forcing: float = 8.0
    dt: float = 0.05
    noise_std: float = 0.0
    integrator: AbstractIntegrator = RK4()

    @property
    def state_size(self) -> int:
        return self.n

    def tendency(self, x):
        return l96_advection(x) - x + self.forcing

    def initial_condition(self, key):
        return self.forcing + jax.random.normal(key, (self.n,))

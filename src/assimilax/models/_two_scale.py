"""Lorenz (1996) two-scale model with K slow and K*J fast variables."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ..observations._grid import Field, Grid
from ._base import AbstractODEModel
from ._integrators import RK4, AbstractIntegrator
from ._lorenz96 import l96_advection


class TwoScaleLorenz96(AbstractODEModel):
    r"""Two-scale Lorenz-96.

    $$\dot X_k = X_{k-1}(X_{k+1} - X_{k-2}) - X_k + F - \frac{hc}{b}\sum_{j} Y_{j,k}$$
    $$\dot Y_{j,k} = -cb\,Y_{j+1,k}(Y_{j+2,k} - Y_{j-1,k}) - cY_{j,k} + \frac{hc}{b}X_k$$

    The fast variables form one periodic ring of length ``K*J`` (Lorenz 1996). State shape
    ``(K + K*J,)``: the slow ``X`` first, then ``Y`` ordered slow-sector by sector.

    Refs: Lorenz (1996), Proc. ECMWF Seminar on Predictability.
    """

    K: int = eqx.field(static=True, default=36)
    J: int = eqx.field(static=True, default=10)
    F: float = 10.0
    h: float = 1.0
    b: float = 10.0
    c: float = 10.0
    dt: float = 0.005
    noise_std: float = 0.0
    integrator: AbstractIntegrator = RK4()

    @property
    def state_size(self) -> int:
        return self.K + self.K * self.J

    @property
    def grid(self) -> Grid:
        """Slow variable ``k`` at ``k``; fast ``(k, j)`` at ``k + j/J``; period ``K``.

        Two fields: ``X`` (``K`` slow variables) and ``Y`` (``K * J`` fast ones).
        """
        fast = [k + j / self.J for k in range(self.K) for j in range(self.J)]
        return Grid(tuple(float(k) for k in range(self.K)) + tuple(fast), float(self.K),
                    (Field("X", (self.K,)), Field("Y", (self.K * self.J,))))

    def resolves(self, state_size: int) -> bool:
        """The whole state or the ``K`` slow variables."""
        return state_size in (self.state_size, self.K)

    def project(self, x, state_size: int):
        """The slow variables ``X`` for ``state_size == K`` (what the one-scale Lorenz-96
        of a truncated-model twin resolves); the identity for the whole state."""
        if state_size == self.K:
            return x[..., : self.K]
        return super().project(x, state_size)

    def split(self, x):
        """Slow ``(..., K)`` and fast ``(..., K, J)`` parts of a state."""
        return x[..., : self.K], x[..., self.K :].reshape(*x.shape[:-1], self.K, self.J)

    def tendency(self, x):
        X = x[..., : self.K]
        Y = x[..., self.K :]
        coupling = self.h * self.c / self.b
        Ysum = Y.reshape(*Y.shape[:-1], self.K, self.J).sum(-1)
        dX = l96_advection(X) - X + self.F - coupling * Ysum
        # Fast ring: -cb Y_{j+1}(Y_{j+2} - Y_{j-1}); the L96 advection of the reversed ring.
        n = Y.shape[-1]
        Yp = jnp.concatenate([Y[..., -1:], Y, Y[..., :2]], axis=-1)  # Y[-1], Y..., Y[0], Y[1]
        adv = Yp[..., 2 : 2 + n] * (Yp[..., 3 : 3 + n] - Yp[..., 0:n])
        dY = -self.c * self.b * adv - self.c * Y + coupling * jnp.repeat(X, self.J, axis=-1)
        return jnp.concatenate([dX, dY], axis=-1)

    def initial_condition(self, key):
        kx, ky = jax.random.split(key)
        X = self.F * 0.5 + jax.random.normal(kx, (self.K,))
        Y = 0.1 * jax.random.normal(ky, (self.K * self.J,))
        return jnp.concatenate([X, Y])

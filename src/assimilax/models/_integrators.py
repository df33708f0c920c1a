"""Fixed-step integrators that turn a tendency into a step."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
from jaxtyping import Array, Float

Tendency = Callable[[Float[Array, " state"]], Float[Array, " state"]]


class AbstractIntegrator(eqx.Module):
    """One explicit step ``x(t) -> x(t + dt)`` of an autonomous ODE ``dx/dt = f(x)``."""

    order: eqx.AbstractClassVar[int]

    @abc.abstractmethod
    def step(self, f: Tendency, x: Float[Array, " state"], dt: float) -> Float[Array, " state"]:
        """Advance ``x`` by one step of length ``dt`` (model time units)."""


class Euler(AbstractIntegrator):
    """Forward Euler, order 1."""

    order: ClassVar[int] = 1

    def step(self, f, x, dt):
        return x + dt * f(x)


class RK4(AbstractIntegrator):
    r"""Classical fourth-order Runge-Kutta, order 4.

    $k_1 = f(x)$, $k_2 = f(x + \tfrac{dt}{2}k_1)$, $k_3 = f(x + \tfrac{dt}{2}k_2)$,
    $k_4 = f(x + dt\,k_3)$, $x_+ = x + \tfrac{dt}{6}(k_1 + 2k_2 + 2k_3 + k_4)$.
    """

    order: ClassVar[int] = 4

    def step(self, f, x, dt):
        k1 = f(x)
        k2 = f(x + 0.5 * dt * k1)
        k3 = f(x + 0.5 * dt * k2)
        k4 = f(x + dt * k3)
        return x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

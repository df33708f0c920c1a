"""One window's variational problem: control vector, trajectory, residual and cost.

The control is whitened: $z = 0$ is the background, and the background term of the
cost is $\\tfrac12\\|z\\|^2$. Every problem exposes the whitened observation residual
$r(z)$ that :class:`GaussNewton` linearises, the cost $J(z)$ and its adjoint gradient.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ...models import AbstractModel
from ...observations import AbstractObsNoise, AbstractObsOperator
from ._covariance import AbstractCovariance
from ._solver import gradient
from ._window import propagate


def _sum_squares(tree) -> Array:
    return sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(tree))


class _Observed(eqx.Module):
    """Observations of the last ``y.shape[0]`` interval ends of a window."""

    operator: AbstractObsOperator
    noise: AbstractObsNoise
    y: Float[Array, "time obs"]
    mask: Bool[Array, "time obs"]

    def residual(self, states: Float[Array, "time state"]) -> Float[Array, "time obs"]:
        r"""$R^{-1/2}(y_i - H(x_i))$ on the observed slots (0 on masked ones)."""
        states = states[states.shape[0] - self.y.shape[0]:]
        return jax.vmap(lambda x, y, m: self.noise.whiten(y - self.operator(x), m))(
            states, self.y, self.mask
        )


WindowObservations = _Observed
"""The observations of a window, their operator and noise (public name of the class)."""


class StrongWindow(eqx.Module):
    r"""Strong-constraint window: control $v$, $x_0 = x_b + B^{1/2}v$, perfect model.

    $$J(v) = \tfrac12 v^Tv + \tfrac12\sum_i \|R^{-1/2}(y_i - H(M_{0\to i}(x_0)))\|^2,$$
    summed over the observed interval ends (all of them, or the last ``y.shape[0]``).
    With ``intervals = 0`` the observations are at the window start: 3D-Var.

    Attributes:
        model: the forecast model.
        background: $B$, as a square root.
        xb: background state at the window start, ``(state,)``.
        obs: observations of the last ``time`` interval ends, ``(time, obs)``.
        every_steps: model steps per interval (static).
        intervals: observation intervals in the window (static; 0 for 3D-Var).
        active: intervals in which the model runs (``None``: all).
    """

    model: AbstractModel
    background: AbstractCovariance
    xb: Float[Array, " state"]
    obs: _Observed
    every_steps: int = eqx.field(static=True)
    intervals: int = eqx.field(static=True)
    active: Bool[Array, " interval"] | None = None

    def zero(self) -> Float[Array, " state"]:
        return jnp.zeros_like(self.xb)

    def initial_state(self, v: Float[Array, " state"]) -> Float[Array, " state"]:
        """$x_0 = x_b + B^{1/2} v$."""
        return self.xb + self.background.sqrt(v)

    def trajectory(self, v: Float[Array, " state"]) -> Float[Array, "time state"]:
        """States at the interval ends (at the start, ``(1, state)``, for 3D-Var)."""
        x0 = self.initial_state(v)
        if self.intervals == 0:
            return x0[None]
        return propagate(self.model, x0, self.every_steps, self.intervals, active=self.active)

    def residual(self, v: Float[Array, " state"]) -> Float[Array, "time obs"]:
        return self.obs.residual(self.trajectory(v))

    def cost(self, v: Float[Array, " state"]) -> Float[Array, ""]:
        return 0.5 * jnp.sum(v**2) + 0.5 * _sum_squares(self.residual(v))

    def gradient(self, v: Float[Array, " state"]) -> Float[Array, " state"]:
        """$\\nabla J$ by the adjoint of the window (``jax.linear_transpose``)."""
        return gradient(self.residual, v)


class WeakWindow(eqx.Module):
    r"""Weak-constraint window in the forcing formulation (Trémolet 2006).

    Control $(v, u)$ with $x_0 = x_b + B^{1/2}v$ and a model-error forcing
    $\eta_j = \eta_b + Q^{1/2}u_j$ (tendency units), constant over each of
    ``subwindows`` equal parts of the window:

    $$J(v, u) = \tfrac12 v^Tv + \tfrac12\sum_j u_j^Tu_j
      + \tfrac12\sum_i \|R^{-1/2}(y_i - H(x_i))\|^2,\quad
      \dot x = f(x) + \eta_{j(t)}.$$

    Attributes:
        model: the forecast model.
        background, model_error: $B$ and $Q$, as square roots.
        xb: background state at the window start; ``eta_b``: background forcing.
        obs: the window's observations at every interval end.
        every_steps, intervals, subwindows: static sizes (``intervals % subwindows == 0``).
    """

    model: AbstractModel
    background: AbstractCovariance
    model_error: AbstractCovariance
    xb: Float[Array, " state"]
    eta_b: Float[Array, " state"]
    obs: _Observed
    every_steps: int = eqx.field(static=True)
    intervals: int = eqx.field(static=True)
    subwindows: int = eqx.field(static=True, default=1)

    def zero(self) -> tuple[Float[Array, " state"], Float[Array, "sub state"]]:
        return jnp.zeros_like(self.xb), jnp.zeros((self.subwindows, self.xb.shape[0]),
                                                  self.xb.dtype)

    def initial_state(self, z) -> Float[Array, " state"]:
        return self.xb + self.background.sqrt(z[0])

    def forcing(self, z) -> Float[Array, "sub state"]:
        """$\\eta_j = \\eta_b + Q^{1/2}u_j$ per sub-window, ``(sub, state)``."""
        return self.eta_b + jax.vmap(self.model_error.sqrt)(z[1])

    def forcing_per_interval(self, z) -> Float[Array, "interval state"]:
        return jnp.repeat(self.forcing(z), self.intervals // self.subwindows, axis=0)

    def trajectory(self, z) -> Float[Array, "interval state"]:
        return propagate(self.model, self.initial_state(z), self.every_steps, self.intervals,
                         forcing=self.forcing_per_interval(z))

    def residual(self, z) -> Float[Array, "interval obs"]:
        return self.obs.residual(self.trajectory(z))

    def cost(self, z) -> Float[Array, ""]:
        return 0.5 * _sum_squares(z) + 0.5 * _sum_squares(self.residual(z))

    def gradient(self, z):
        return gradient(self.residual, z)

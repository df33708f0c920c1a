r"""Strong-constraint 4D-Var without background term: the cost of one window."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ...models import AbstractModel
from ...observations import AbstractObsNoise, AbstractObsOperator


class NoBackgroundWindow(eqx.Module):
    r"""One window of strong-constraint 4D-Var with no prior on the initial state.

    $$J(x_0) = \tfrac12\sum_{k=1}^{L}\big\|R^{-1/2}\big(y_k - H(M_{0\to k}(x_0))\big)
    \big\|_{m_k}^2,$$

    with the control $x_0$ the state at the window start (one observation interval before
    $y_1$), $M_{0\to k}$ the model over $k$ intervals of ``every_steps`` steps, $m_k$ the
    observation mask (masked slots carry no weight) and $R$ the observation noise
    (for :class:`~assimilax.observations.DiagonalNoise` of standard deviation $\sigma$:
    $\frac{1}{2\sigma^2}\sum_k\|m_k\odot(y_k - H(x_k))\|^2$). Without the background term
    the cost needs observations that determine the whole state over the window (the set-up
    of Nonnenmacher & Greenberg 2021, ``priors=None``); its minimiser is the maximum-
    likelihood initial state. Minimise it with :class:`LBFGS` (``LBFGS().solve(window.cost,
    first_guess)``); its gradient is the adjoint of ``jax.grad`` through the model.

    Attributes:
        model: the forward model (its derivatives are those of the gradient).
        y: observed values of the window's times, ``(time, obs)``; ``y[k-1]`` is
            ``k`` intervals after the window start.
        mask: which slots hold an observation, ``(time, obs)``.
        operator: the observation operator.
        noise: the observation error model.
        every_steps: model steps per observation interval (static).

    Refs: Le Dimet & Talagrand (1986), Tellus 38A; Nonnenmacher & Greenberg (2021),
    J. Adv. Model. Earth Syst. 13, e2021MS002554.
    """

    model: AbstractModel
    y: Float[Array, "time obs"]
    mask: Bool[Array, "time obs"]
    operator: AbstractObsOperator
    noise: AbstractObsNoise
    every_steps: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        if self.every_steps < 1:
            raise ValueError(f"NoBackgroundWindow: every_steps must be >= 1, got "
                             f"{self.every_steps}.")

    def _interval(self, x: Float[Array, " state"]) -> Float[Array, " state"]:
        if self.every_steps == 1:
            return self.model.step(x)
        return jax.lax.scan(lambda z, _: (self.model.step(z), None), x, None,
                            length=self.every_steps)[0]

    def trajectory(self, x0: Float[Array, " state"]) -> Float[Array, "time state"]:
        """States at the window's observation times from ``x0`` (deterministic model)."""

        def body(x, _):
            x = self._interval(x)
            return x, x

        return jax.lax.scan(body, x0, None, length=self.y.shape[0])[1]

    def residual(self, x0: Float[Array, " state"]) -> Float[Array, "time obs"]:
        r"""$R^{-1/2}(y_k - H(x_k))$ on the observed slots, 0 on the masked ones."""
        traj = self.trajectory(x0)
        return jax.vmap(lambda x, y, m: self.noise.whiten(y - self.operator(x), m))(
            traj, self.y, self.mask)

    def cost(self, x0: Float[Array, " state"]) -> Float[Array, ""]:
        """$J(x_0)$."""
        return 0.5 * jnp.sum(self.residual(x0) ** 2)

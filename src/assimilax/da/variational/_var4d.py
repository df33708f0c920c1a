"""Strong-constraint 4D-Var: classic (consecutive windows) and sliding (DAPPER's ``Var4D``)."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from ._base import AbstractVariationalMethod
from ._covariance import AbstractCovariance
from ._problems import StrongWindow, _Observed
from ._solver import GaussNewton


def _check_window(name: str, window: int) -> None:
    if window < 1:
        raise ValueError(
            f"{name}: window = {window}; a window must hold at least one observation time "
            "(window >= 1)."
        )


class Var4D(AbstractVariationalMethod):
    r"""Strong-constraint incremental 4D-Var over consecutive windows of ``window`` times.

    The control is the state at the window start (one interval before its first
    observation), $x_0 = x_b + B^{1/2}v$, and

    $$J(v) = \tfrac12 v^Tv + \tfrac12\sum_{i=1}^{L}\|R^{-1/2}(y_i - H(M_{0\to i}(x_0)))\|^2$$

    with all ``L = window`` observation times of the window; $B$ is static. The analysis
    is the trajectory $M_{0\to i}(x_0^a)$ at the observation times; the next window
    starts where this one ends, with the background $x_b = M_{0\to L}(x_0^a)$.
    Minimised by :class:`GaussNewton` (``jax.linearize`` for the tangent-linear model,
    its transpose for the adjoint, conjugate gradients inside).

    Refs: Le Dimet & Talagrand (1986), Tellus 38A; Courtier et al. (1994), QJRMS 120.
    """

    background: AbstractCovariance
    window: int = eqx.field(static=True, default=1)
    solver: GaussNewton = GaussNewton()

    def __check_init__(self):
        _check_window("Var4D", self.window)

    @property
    def times_per_cycle(self) -> int:
        return self.window

    def init_background(self, x_background):
        return x_background

    def problem(self, model, xb, y, mask, operator, noise, every_steps) -> StrongWindow:
        """The cost of one window from background ``xb``, observations ``(window, obs)``."""
        return StrongWindow(model, self.background, xb, _Observed(operator, noise, y, mask),
                            every_steps, self.window)

    def window_cycle(self, model, state, y, mask, operator, noise, every_steps):
        prob = self.problem(model, state, y, mask, operator, noise, every_steps)
        v = self.solver.minimise(prob.residual, prob.zero())
        analysis = prob.trajectory(v)
        forecast = prob.trajectory(prob.zero())
        return analysis[-1], {"forecast": forecast, "analysis": analysis}


class SlidingVar4D(AbstractVariationalMethod):
    r"""4D-Var over a window sliding by one interval: DAPPER's ``Var4D(Lag=window)``.

    At observation time $k$ the window spans the last ``L = window`` intervals, from
    time $k-L$ to $k$, and only the newest observation $y_k$ enters the cost:

    $$J(v) = \tfrac12 v^Tv + \tfrac12\|R^{-1/2}(y_k - H(M_{k-L\to k}(x_b + B^{1/2}v)))\|^2.$$

    The background at the window start is the previous window's smoothed start state
    run forward one interval; the analysis is reported at time $k$. While $k < L - 1$ the
    window starts at the initial time and grows, and the smoothed start state is itself
    the next background (DAPPER's first ``Lag`` cycles).

    Refs: DAPPER ``da_methods/variational.py::Var4D`` (Raanes et al.); Bocquet & Sakov
    (2013), Nonlin. Processes Geophys. 20.
    """

    background: AbstractCovariance
    window: int = eqx.field(static=True, default=1)
    solver: GaussNewton = GaussNewton()

    def __check_init__(self):
        _check_window("SlidingVar4D", self.window)

    @property
    def times_per_cycle(self) -> int:
        return 1

    def init_background(self, x_background):
        return x_background, jnp.zeros((), jnp.int32)

    def problem(self, model, xb, k, y, mask, operator, noise, every_steps) -> StrongWindow:
        """The cost at observation time ``k``: start background ``xb``, ``y`` ``(1, obs)``."""
        L = self.window
        active = k - (L - 1) + jnp.arange(L, dtype=k.dtype) >= 0
        return StrongWindow(model, self.background, xb, _Observed(operator, noise, y, mask),
                            every_steps, L, active)

    def window_cycle(self, model, state, y, mask, operator, noise, every_steps):
        xb, k = state
        prob = self.problem(model, xb, k, y, mask, operator, noise, every_steps)
        v = self.solver.minimise(prob.residual, prob.zero())
        smoothed = prob.initial_state(v)
        analysis = prob.trajectory(v)
        forecast = prob.trajectory(prob.zero())
        slide = k >= self.window - 1
        xb_next = jnp.where(slide, analysis[0], smoothed)
        return (xb_next, k + 1), {"forecast": forecast[-1:], "analysis": analysis[-1:]}

"""Weak-constraint 4D-Var in the forcing formulation."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._method import SeriesSpec
from ._base import AbstractVariationalMethod
from ._covariance import AbstractCovariance
from ._problems import WeakWindow, _Observed
from ._solver import GaussNewton


class WeakVar4D(AbstractVariationalMethod):
    r"""Weak-constraint 4D-Var with a model-error forcing, over consecutive windows.

    The model is $\dot x = f(x) + \eta$, with $\eta$ (tendency units) constant over each
    of ``subwindows`` equal parts of the window. The control $(v, u)$ gives
    $x_0 = x_b + B^{1/2}v$ and $\eta_j = \eta_b + Q^{1/2}u_j$, and

    $$J = \tfrac12 v^Tv + \tfrac12\sum_j u_j^Tu_j
        + \tfrac12\sum_{i=1}^{L}\|R^{-1/2}(y_i - H(x_i))\|^2.$$

    Cycling: the next window's background state is the end of this window's analysis
    trajectory and its background forcing $\eta_b$ is the analysed forcing of the last
    sub-window, so a systematic model error (a bias in the forcing) is learned from
    window to window; $Q$ sets how fast. With ``Q -> 0`` it is strong-constraint 4D-Var
    with a fixed forcing.

    With ``forcing_prior`` given, the background forcing of each window is instead
    $\eta_b = g(x_b)$, a function of the window's background state (e.g. a network
    trained to predict the model-error tendency, Bonavita & Laloyaux 2020); the carry
    still holds the last analysed forcing (the ``forcing`` series), but the next window
    replaces it by $g(x_b)$, so it is not cycled. With a constant $g \equiv \eta$ and
    $Q \to 0$ the two coincide. ``forcing_prior`` is set in code (the ``bonavita2020``
    hybrid), not by a ``[method]`` key.

    Attributes:
        background, model_error: $B$ and $Q$ (tendency units), as square roots.
        window: observation times per window; ``subwindows``: forcings per window.
        solver: the Gauss-Newton minimiser.
        forcing_prior: ``x_b (state,) -> eta_b (state,)``, tendency units; ``None``: the
            cycled forcing.

    Refs: Trémolet (2006), Q. J. R. Meteorol. Soc. 132, 2483-2504; Trémolet (2007),
    QJRMS 133; Bonavita & Laloyaux (2020), JAMES 12, e2020MS002232 (a learned
    ``forcing_prior``).
    """

    background: AbstractCovariance
    model_error: AbstractCovariance
    window: int = eqx.field(static=True, default=1)
    subwindows: int = eqx.field(static=True, default=1)
    solver: GaussNewton = GaussNewton()
    forcing_prior: Callable[[Float[Array, " state"]], Float[Array, " state"]] | None = None

    def __check_init__(self):
        if self.window < 1:
            raise ValueError(
                f"WeakVar4D: window = {self.window}; a window must hold at least one "
                "observation time (window >= 1)."
            )
        if self.subwindows < 1 or self.window % self.subwindows:
            raise ValueError(
                f"WeakVar4D: subwindows = {self.subwindows} must be >= 1 and divide "
                f"window = {self.window} (one forcing per equal part of the window)."
            )
        if self.model_error.size != self.background.size:
            raise ValueError(
                f"WeakVar4D: Q has size {self.model_error.size} but B has size "
                f"{self.background.size}; the forcing lives in the state space."
            )

    @property
    def times_per_cycle(self) -> int:
        return self.window

    @property
    def series(self):
        return (SeriesSpec("forcing", ("state",), "state units per time unit",
                           "analysed model-error forcing in effect at each observation time"),)

    def init_background(self, x_background, forcing=None):
        """``(x_b, eta_b)``; the first background forcing is zero unless given."""
        eta = jnp.zeros_like(x_background) if forcing is None else jnp.asarray(forcing)
        return x_background, eta

    def problem(self, model, state, y, mask, operator, noise, every_steps) -> WeakWindow:
        """The cost of one window from ``state = (x_b, eta_b)``, observations ``(window, obs)``
        (``eta_b = forcing_prior(x_b)`` where a prior is given)."""
        xb, eta_b = state
        if self.forcing_prior is not None:
            eta_b = jnp.asarray(self.forcing_prior(xb), xb.dtype)
        return WeakWindow(model, self.background, self.model_error, xb, eta_b,
                          _Observed(operator, noise, y, mask), every_steps, self.window,
                          self.subwindows)

    def window_cycle(self, model, state, y, mask, operator, noise, every_steps):
        prob = self.problem(model, state, y, mask, operator, noise, every_steps)
        z = self.solver.minimise(prob.residual, prob.zero())
        analysis = prob.trajectory(z)
        forecast = prob.trajectory(prob.zero())
        forcing = prob.forcing_per_interval(z)
        return (analysis[-1], forcing[-1]), {
            "forecast": forecast, "analysis": analysis, "forcing": forcing,
        }

"""Online learning of a model correction inside 4D-Var: the network's parameters join the
control vector (Farchi, Bocquet, Laloyaux, Bonavita & Malartic 2021)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from ..da import SeriesSpec
from ..da.variational import (
    AbstractCovariance,
    AbstractVariationalMethod,
    GaussNewton,
    WindowObservations,
    propagate,
)
from ..ml import Corrected
from ..models import AbstractModel


def parameter_vector(net) -> Float[Array, " parameter"]:
    """The floating-point parameters of ``net`` as one flat vector, $\\theta$."""
    params, _ = eqx.partition(net, eqx.is_inexact_array)
    return ravel_pytree(params)[0]


def with_parameters(net, theta: Float[Array, " parameter"]):
    """``net`` with its floating-point parameters replaced by the flat vector ``theta``."""
    params, static = eqx.partition(net, eqx.is_inexact_array)
    _, unravel = ravel_pytree(params)
    return eqx.combine(unravel(theta), static)


def _sum_squares(tree) -> Array:
    return sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(tree))


class OnlineWindow(eqx.Module):
    r"""One window of 4D-Var whose control is the initial state and the parameters
    $\theta$ of a model correction.

    Whitened control $(v, w)$: $x_0 = x_b + B^{1/2} v$, $\theta = \theta_b + \sigma_\theta w$
    ($P_\theta = \sigma_\theta^2 I$), the model $\mathcal M_\theta$ = ``Corrected(model,
    net(theta), mode)``, and

    $$J(v, w) = \tfrac12\|v\|^2 + \tfrac12\|w\|^2
      + \tfrac12\sum_{i=1}^{L}\|R^{-1/2}(y_i - H(\mathcal M_\theta^{0\to i}(x_0)))\|^2,$$

    i.e. $J(x_0, \theta) = \tfrac12\|x_0 - x_b\|^2_{B^{-1}} + \tfrac12\|\theta -
    \theta_b\|^2_{P_\theta^{-1}} + \tfrac12\sum_i\|y_i - H M_\theta^{0\to i}(x_0)\|^2_{R^{-1}}$.

    Attributes:
        model: the physical model.
        net: the correction network (its parameters are replaced by $\theta$).
        mode: ``"tendency"`` or ``"resolvent"`` (:class:`assimilax.ml.Corrected`).
        background: $B$, as a square root.
        sigma_theta: $\sigma_\theta$, scalar or one per parameter ``(parameter,)``.
        xb: background state ``(state,)``; ``theta_b``: background parameters.
        obs: the window's observations at every interval end.
        every_steps, intervals: static sizes.
    """

    model: AbstractModel
    net: eqx.Module
    mode: str = eqx.field(static=True)
    background: AbstractCovariance
    sigma_theta: Float[Array, "*parameter"]
    xb: Float[Array, " state"]
    theta_b: Float[Array, " parameter"]
    obs: WindowObservations
    every_steps: int = eqx.field(static=True)
    intervals: int = eqx.field(static=True)

    def zero(self):
        return jnp.zeros_like(self.xb), jnp.zeros_like(self.theta_b)

    def initial_state(self, z) -> Float[Array, " state"]:
        return self.xb + self.background.sqrt(z[0])

    def parameters(self, z) -> Float[Array, " parameter"]:
        """$\\theta = \\theta_b + \\sigma_\\theta w$."""
        return self.theta_b + self.sigma_theta * z[1]

    def corrected_model(self, z) -> Corrected:
        return Corrected(self.model, with_parameters(self.net, self.parameters(z)), self.mode)

    def trajectory(self, z) -> Float[Array, "interval state"]:
        return propagate(self.corrected_model(z), self.initial_state(z), self.every_steps,
                         self.intervals)

    def residual(self, z) -> Float[Array, "interval obs"]:
        return self.obs.residual(self.trajectory(z))

    def cost(self, z) -> Float[Array, ""]:
        return 0.5 * _sum_squares(z) + 0.5 * _sum_squares(self.residual(z))


class OnlineVar4D(AbstractVariationalMethod):
    r"""Strong-constraint 4D-Var with a learned model correction whose parameters are
    estimated with the state, window after window (online learning).

    Each window minimises the cost of :class:`OnlineWindow` over $(x_0, \theta)$ by
    Gauss-Newton (``jax.linearize`` and its transpose through the window, the network's
    adjoint included). Cycling: $x_b \leftarrow \mathcal M_{\theta_a}^{0\to L}(x_0^a)$
    (the end of the analysis trajectory) and $\theta_b \leftarrow \theta_a$, so the
    correction is learned from the observations as the windows go by.

    With $\sigma_\theta = 0$ the parameters are frozen and this is :class:`Var4D` with the
    model ``Corrected(model, net, mode)``; with a network that returns a constant
    $\eta = \theta$ in tendency mode it is :class:`WeakVar4D` with $Q = \sigma_\theta^2 I$
    and one sub-window.

    Attributes:
        net: the correction network; its parameters are the first $\theta_b$ (zero them,
            or train the network offline first).
        background: $B$.
        sigma_theta: $\sigma_\theta$ (parameter units), a scalar or one per parameter
            (``parameter_vector(net).shape``).
        mode: ``"tendency"`` ($\dot x = f(x) + \mathrm{net}(x)$) or ``"resolvent"``.
        window: observation times per window (static).
        solver: the Gauss-Newton minimiser.

    Refs: Farchi, Bocquet, Laloyaux, Bonavita & Malartic (2021), J. Comput. Sci. 55,
    101468 (arXiv:2107.11114); Bocquet, Farchi & Malartic (2021), Found. Data Sci. 3;
    Trémolet (2006), QJRMS 132 (the forcing formulation it generalises).
    """

    net: eqx.Module
    background: AbstractCovariance
    sigma_theta: Float[Array, "*parameter"]
    mode: str = eqx.field(static=True, default="tendency")
    window: int = eqx.field(static=True, default=1)
    solver: GaussNewton = GaussNewton()

    def __init__(self, net, background, sigma_theta, *, mode="tendency", window=1,
                 solver=None):
        theta = parameter_vector(net)
        sigma = jnp.asarray(sigma_theta, dtype=theta.dtype)
        if sigma.ndim not in (0, 1) or (sigma.ndim == 1 and sigma.shape != theta.shape):
            raise ValueError(
                f"OnlineVar4D: sigma_theta has shape {sigma.shape}; give a scalar or one "
                f"value per network parameter, shape {theta.shape}.")
        if not isinstance(sigma, jax.core.Tracer) and (
                not bool(jnp.all(jnp.isfinite(sigma))) or bool(jnp.any(sigma < 0))):
            raise ValueError(f"OnlineVar4D: sigma_theta must be finite and >= 0, got {sigma}.")
        if window < 1:
            raise ValueError(f"OnlineVar4D: window = {window}; a window must hold at least "
                             "one observation time (window >= 1).")
        if mode not in ("tendency", "resolvent"):
            raise ValueError(f"OnlineVar4D: mode = {mode!r}; use 'tendency' or 'resolvent'.")
        self.net, self.background, self.sigma_theta = net, background, sigma
        self.mode, self.window = mode, window
        self.solver = GaussNewton() if solver is None else solver

    @property
    def times_per_cycle(self) -> int:
        return self.window

    @property
    def series(self):
        return (SeriesSpec("parameter_change", (), "parameter units",
                           "RMS of the analysed network parameters minus their first "
                           "background (how far online learning has moved them)"),)

    def init_background(self, x_background):
        return x_background, parameter_vector(self.net)

    def problem(self, model, state, y, mask, operator, noise, every_steps) -> OnlineWindow:
        """The cost of one window from ``state = (x_b, theta_b)``."""
        xb, theta_b = state
        return OnlineWindow(model, self.net, self.mode, self.background, self.sigma_theta,
                            xb, theta_b, WindowObservations(operator, noise, y, mask), every_steps,
                            self.window)

    def window_cycle(self, model, state, y, mask, operator, noise, every_steps):
        prob = self.problem(model, state, y, mask, operator, noise, every_steps)
        z = self.solver.minimise(prob.residual, prob.zero())
        analysis = prob.trajectory(z)
        forecast = prob.trajectory(prob.zero())
        theta = prob.parameters(z)
        change = jnp.sqrt(jnp.mean((theta - parameter_vector(self.net)) ** 2))
        return (analysis[-1], theta), {
            "forecast": forecast, "analysis": analysis,
            "parameter_change": jnp.full((self.window,), change),
        }

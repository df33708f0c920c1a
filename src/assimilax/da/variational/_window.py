"""The window propagator: the deterministic model over whole observation intervals."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ...models import AbstractModel, AbstractODEModel


def forced_step(
    model: AbstractModel, x: Float[Array, " state"], forcing: Float[Array, " state"]
) -> Float[Array, " state"]:
    r"""One model step with an additive model-error forcing $\eta$ in tendency units.

    For an ODE model the forcing enters the tendency inside the integrator,
    $\dot x = f(x) + \eta$ (Trémolet 2006's forcing formulation); for a model without a
    tendency (a map such as :class:`~assimilax.models.LinearModel`) it is added to the step,
    $x_+ = M(x) + \Delta t\,\eta$ (the same to first order in ``dt``).
    """
    if isinstance(model, AbstractODEModel):
        return model.integrator.step(lambda z: model.tendency(z) + forcing, x, model.dt)
    return model.step(x) + model.dt * forcing


def propagate(
    model: AbstractModel,
    x0: Float[Array, " state"],
    every_steps: int,
    intervals: int,
    *,
    forcing: Float[Array, "interval state"] | None = None,
    active: Bool[Array, " interval"] | None = None,
) -> Float[Array, "interval state"]:
    """States at the ends of ``intervals`` observation intervals from ``x0``.

    The model runs without its additive noise (variational methods treat the model as
    deterministic; weak-constraint 4D-Var estimates the error as a forcing instead).

    Args:
        model: the model.
        x0: the state at the window start, ``(state,)``.
        every_steps: model steps per observation interval (static).
        intervals: number of observation intervals (static).
        forcing: model-error forcing per interval, tendency units, ``(interval, state)``.
        active: intervals in which the model runs; in the others the state is held
            (the first windows of a sliding scheme, which start at the initial time).

    Returns:
        ``(interval, state)``: row ``i`` is the state at the end of interval ``i``.
    """
    if intervals < 1:
        raise ValueError(f"propagate: intervals must be >= 1, got {intervals}.")

    def interval(x, inputs):
        eta, on = inputs
        if eta is None:
            step = model.step
        else:
            def step(z):
                return forced_step(model, z, eta)
        x_new, _ = jax.lax.scan(lambda z, _: (step(z), None), x, None, length=every_steps)
        if on is not None:
            x_new = jnp.where(on, x_new, x)
        return x_new, x_new

    _, traj = jax.lax.scan(interval, x0, (forcing, active), length=intervals)
    return traj

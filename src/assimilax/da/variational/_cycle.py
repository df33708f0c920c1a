"""The variational driver: one ``lax.scan`` over assimilation windows."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...metrics import rmse
from ...models import AbstractModel
from ...observations import Observations
from ._base import AbstractVariationalMethod


class VariationalResult(eqx.Module):
    """Per-observation-time output of :func:`assimilate_variational`.

    Attributes:
        mean_forecast: background (forecast) state at each observation time, ``(time, state)``.
        mean_analysis: analysis state at each observation time, ``(time, state)``.
        rmse_forecast, rmse_analysis: errors against ``truth``, ``(time,)`` (``None`` without).
        forcing: analysed model-error forcing in effect at each observation time,
            ``(time, state)`` (weak-constraint 4D-Var; else ``None``).
        final_state: the method's carried state after the last cycle (to continue a run).
    """

    mean_forecast: Float[Array, "time state"]
    mean_analysis: Float[Array, "time state"]
    rmse_forecast: Float[Array, " time"] | None
    rmse_analysis: Float[Array, " time"] | None
    forcing: Float[Array, "time state"] | None
    final_state: Any


def assimilate_variational(
    model: AbstractModel,
    observations: Observations,
    method: AbstractVariationalMethod,
    x0_background: Float[Array, " state"],
    *,
    truth: Float[Array, "time state"] | None = None,
    state: Any = None,
) -> VariationalResult:
    """Cycle a variational method over all observation times as one ``lax.scan``.

    Each scan step is one window of ``method.times_per_cycle`` observation times
    (``window`` for classic 4D-Var, 1 for 3D-Var and the sliding scheme). When the number
    of observation times is not a multiple of it, the last window is padded with masked
    (absent) observations and the padded times are dropped from the output; continuing
    from ``final_state`` is then only exact for record lengths that are multiples.

    Args:
        model: forecast model (run without its additive noise).
        observations: the observation series, ``time`` rows, with masks.
        method: :class:`Var3D`, :class:`Var4D`, :class:`SlidingVar4D` or :class:`WeakVar4D`.
        x0_background: background state one observation interval before ``y[0]``.
        truth: true states at the observation times ``(time, state)``, for RMSEs.
        state: the method's carried state from a previous call (``None``: start afresh
            from ``x0_background``).

    Returns:
        :class:`VariationalResult`.
    """
    n = observations.operator.state_size
    if x0_background.shape != (n,):
        raise ValueError(
            f"assimilate_variational: x0_background must have shape ({n},), "
            f"got {x0_background.shape}."
        )
    T = observations.n_times
    if truth is not None and truth.shape != (T, n):
        raise ValueError(
            f"assimilate_variational: truth must have shape ({T}, {n}), got {truth.shape}."
        )
    if state is None:
        state = method.init(x0_background)
    P = method.times_per_cycle
    cycles = -(-T // P)
    pad = cycles * P - T
    y = jnp.pad(observations.y, ((0, pad), (0, 0)))
    mask = jnp.pad(observations.mask, ((0, pad), (0, 0)))
    y = y.reshape(cycles, P, -1)
    mask = mask.reshape(cycles, P, -1)
    operator, noise = observations.operator, observations.noise
    every = observations.every_steps

    def body(carry, inputs):
        yk, mk = inputs
        carry, out = method.cycle(model, carry, yk, mk, operator, noise, every)
        return carry, out

    state, out = jax.lax.scan(body, state, (y, mask))
    out = {k: v.reshape(cycles * P, -1)[:T] for k, v in out.items()}
    rmse_f = rmse_a = None
    if truth is not None:
        rmse_f = jax.vmap(rmse)(out["forecast"], truth)
        rmse_a = jax.vmap(rmse)(out["analysis"], truth)
    return VariationalResult(
        mean_forecast=out["forecast"],
        mean_analysis=out["analysis"],
        rmse_forecast=rmse_f,
        rmse_analysis=rmse_a,
        forcing=out.get("forcing"),
        final_state=state,
    )

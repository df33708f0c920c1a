"""The one driver: forecast and analysis over all cycles as a single ``lax.scan``."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._ensemble import member_mean
from ..metrics import rmse, spread
from ..models import AbstractModel, forecast_ensemble
from ..observations import Observations
from ._base import AbstractEnsembleMethod


class AssimilationResult(eqx.Module):
    """Per-cycle output of :func:`assimilate`; ``time`` counts analysis times.

    Attributes:
        mean_forecast, mean_analysis: ensemble means, ``(time, state)``.
        spread_forecast, spread_analysis: ensemble spread (DAPPER's ``rmv``), ``(time,)``.
        rmse_forecast, rmse_analysis: error of the means against ``truth``, ``(time,)``
            (``None`` without truth).
        rank_counts: per cycle, how many state variables have the truth at each rank
            among the analysis members (rank = members below it), ``(time, member + 1)``;
            summed over cycles it is the rank histogram (``None`` without truth).
        lagged_mean: what a smoother emitted at each cycle (the final estimate of cycle
            ``k - lag``), ``(time, state)``; ``None`` for filters.
        smoothed_mean: smoother estimate for every cycle, ``(time, state)``, when the call
            covered the whole record (``finish=True``); else ``None``.
        ensembles: analysis ensembles ``(time, member, state)`` when asked for.
        final_ensemble: the last analysis ensemble ``(member, state)``.
        final_state: the method's carried state after the last cycle.
    """

    mean_forecast: Float[Array, "time state"]
    mean_analysis: Float[Array, "time state"]
    spread_forecast: Float[Array, " time"]
    spread_analysis: Float[Array, " time"]
    rmse_forecast: Float[Array, " time"] | None
    rmse_analysis: Float[Array, " time"] | None
    rank_counts: Int[Array, "time bins"] | None
    lagged_mean: Float[Array, "time state"] | None
    smoothed_mean: Float[Array, "time state"] | None
    ensembles: Float[Array, "time member state"] | None
    final_ensemble: Float[Array, "member state"]
    final_state: Any


def assimilate(
    model: AbstractModel,
    observations: Observations,
    method: AbstractEnsembleMethod,
    ensemble0: Float[Array, "member state"],
    *,
    key: PRNGKeyArray,
    truth: Float[Array, "time state"] | None = None,
    save_ensembles: bool = False,
    state: Any = None,
    start_cycle: int | Array = 0,
    finish: bool = True,
) -> AssimilationResult:
    """Run forecast + analysis for every observation time as one ``lax.scan``.

    Cycle ``k`` forecasts the ensemble ``observations.every_steps`` model steps (members
    by ``vmap``, independent model noise), then analyses ``observations.y[k]``.
    Randomness at cycle ``k`` comes from ``fold_in(key, start_cycle + k)``, so a record
    split into chunks (carrying ``final_ensemble``/``final_state``) gives the same numbers
    as one call.

    Args:
        model: forecast model (physical, emulator or corrected: all the same here).
        observations: the observation series, ``time`` rows.
        method: an ensemble filter or smoother.
        ensemble0: initial ensemble ``(member, state)``, valid one observation interval
            before ``observations.y[0]``.
        key: PRNG key.
        truth: true states at the observation times ``(time, state)``, for RMSEs.
        save_ensembles: also return every analysis ensemble.
        state: the method's carried state (from a previous chunk); ``None`` starts fresh.
        start_cycle: global index of the first cycle (for chunked runs).
        finish: flush a smoother's buffer into ``smoothed_mean`` at the end.

    Returns:
        :class:`AssimilationResult`.
    """
    if ensemble0.ndim != 2 or ensemble0.shape[1] != observations.operator.state_size:
        raise ValueError(
            f"assimilate: ensemble0 must have shape (member, {observations.operator.state_size}),"
            f" got {ensemble0.shape}."
        )
    if ensemble0.shape[0] < 2:
        raise ValueError("assimilate: the ensemble needs at least 2 members.")
    if truth is not None and truth.shape != (observations.n_times, ensemble0.shape[1]):
        raise ValueError(
            f"assimilate: truth must have shape ({observations.n_times}, {ensemble0.shape[1]}),"
            f" got {truth.shape}."
        )
    fresh = state is None
    if fresh:
        state = method.init(ensemble0)
    operator, noise = observations.operator, observations.noise
    n_steps = observations.every_steps
    cycles = jnp.arange(observations.n_times) + start_cycle

    def body(carry, inputs):
        ens, mstate = carry
        y, mask, k, x_true = inputs
        k_fc, k_an = jax.random.split(jax.random.fold_in(key, k))
        ens_f = forecast_ensemble(model, ens, n_steps, key=k_fc)
        ens_a, mstate, emitted = method.step(ens_f, mstate, y, mask, operator, noise, key=k_an)
        mean_f = member_mean(ens_f)
        mean_a = member_mean(ens_a)
        out = {
            "mean_forecast": mean_f,
            "mean_analysis": mean_a,
            "spread_forecast": spread(ens_f),
            "spread_analysis": spread(ens_a),
            "lagged_mean": emitted,
        }
        if x_true is not None:
            out["rmse_forecast"] = rmse(mean_f, x_true)
            out["rmse_analysis"] = rmse(mean_a, x_true)
            out["rank_counts"] = _rank_counts(ens_a, x_true)
        if save_ensembles:
            out["ensembles"] = ens_a
        return (ens_a, mstate), out

    (ens, state), out = jax.lax.scan(
        body, (ensemble0, state), (observations.y, observations.mask, cycles, truth)
    )
    lagged = out.get("lagged_mean")
    smoothed = None
    if lagged is not None and finish and fresh:
        rest = method.finish(state)
        lag = rest.shape[0]
        smoothed = jnp.concatenate([lagged[lag:], rest], axis=0)[-observations.n_times :]
    return AssimilationResult(
        mean_forecast=out["mean_forecast"],
        mean_analysis=out["mean_analysis"],
        spread_forecast=out["spread_forecast"],
        spread_analysis=out["spread_analysis"],
        rmse_forecast=out.get("rmse_forecast"),
        rmse_analysis=out.get("rmse_analysis"),
        rank_counts=out.get("rank_counts"),
        lagged_mean=lagged,
        smoothed_mean=smoothed,
        ensembles=out.get("ensembles"),
        final_ensemble=ens,
        final_state=state,
    )


def _rank_counts(ensemble: Float[Array, "member state"], truth: Float[Array, " state"]):
    """Counts ``(member + 1,)`` of the truth's rank among the members over the variables."""
    N = ensemble.shape[0]
    ranks = jnp.sum(ensemble < truth[None, :], axis=0)
    return jnp.sum(ranks[:, None] == jnp.arange(N + 1)[None, :], axis=0, dtype=jnp.int32)

"""The one driver: every cycle of every DA method as a single ``lax.scan``."""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._ensemble import member_mean
from .._validate import check_finite
from ..metrics import rmse, spread
from ..models import AbstractModel
from ..observations import Observations
from ._method import AbstractMethod, Estimate, SeriesSpec, Window, assemble_lagged

STANDARD_SERIES: dict[str, SeriesSpec] = {
    spec.name: spec
    for spec in (
        SeriesSpec("mean_forecast", ("state",), "state units", "forecast (background) mean"),
        SeriesSpec("mean_analysis", ("state",), "state units", "analysis mean"),
        SeriesSpec("spread_forecast", (), "state units",
                   "forecast ensemble spread (root mean variance)"),
        SeriesSpec("spread_analysis", (), "state units",
                   "analysis ensemble spread (root mean variance)"),
        SeriesSpec("rmse_forecast", (), "state units", "RMSE of the forecast mean"),
        SeriesSpec("rmse_analysis", (), "state units", "RMSE of the analysis mean"),
        SeriesSpec("rank_counts", ("rank",), "1",
                   "state variables with the truth at each rank among the analysis members"),
        SeriesSpec("ensembles", ("member", "state"), "state units", "analysis ensemble"),
    )
}
"""The series the driver itself records (what :class:`Save` switches on and off)."""



class Save(eqx.Module):
    """Which series :func:`assimilate` records (in the spirit of Diffrax's ``SaveAt``).

    Attributes:
        means: forecast and analysis means ``mean_forecast``, ``mean_analysis``
            ``(time, state)``.
        spread: ensemble spreads ``spread_forecast``, ``spread_analysis`` ``(time,)``
            (ensemble methods only).
        errors: ``rmse_forecast``, ``rmse_analysis`` ``(time,)`` against the truth, and the
            errors the method's series ask for (``SeriesSpec.error``); needs ``truth``.
        rank_counts: per cycle, the truth's rank counts among the analysis members
            ``(time, member + 1)`` (ensemble methods with a truth).
        ensembles: every analysis ensemble ``(time, member, state)``.
        method: the method's own series (``method.series``: a smoother's lagged estimate,
            4D-Var's analysed forcing, ...).
    """

    means: bool = eqx.field(static=True, default=True)
    spread: bool = eqx.field(static=True, default=True)
    errors: bool = eqx.field(static=True, default=True)
    rank_counts: bool = eqx.field(static=True, default=True)
    ensembles: bool = eqx.field(static=True, default=False)
    method: bool = eqx.field(static=True, default=True)


class Result(eqx.Module):
    """What :func:`assimilate` returns: named series over time, and the final carry.

    Attributes:
        series: name -> array with ``time`` first, in time order (lagged series
            assembled when the call covered the whole record, ``finish=True``).
        specs: the :class:`SeriesSpec` of every entry of ``series`` (dimensions
            after ``time``, units, description): the application ring writes series by
            iterating over these, never by name.
        carry: the method's carry after the last cycle, to continue in another call
            (an ensemble filter's: the last analysis ensemble ``(member, state)``).
    """

    series: dict[str, Array]
    specs: tuple[SeriesSpec, ...] = eqx.field(static=True)
    carry: Any

    def get(self, name: str) -> Array | None:
        """The series ``name``, or ``None`` when it was not recorded."""
        return self.series.get(name)

    def spec(self, name: str) -> SeriesSpec:
        """The :class:`SeriesSpec` of the series ``name``."""
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise KeyError(f"no series {name!r} in this result.")

    @property
    def mean_forecast(self) -> Float[Array, "time state"] | None:
        return self.series.get("mean_forecast")

    @property
    def mean_analysis(self) -> Float[Array, "time state"] | None:
        return self.series.get("mean_analysis")

    @property
    def spread_forecast(self) -> Float[Array, " time"] | None:
        return self.series.get("spread_forecast")

    @property
    def spread_analysis(self) -> Float[Array, " time"] | None:
        return self.series.get("spread_analysis")

    @property
    def rmse_forecast(self) -> Float[Array, " time"] | None:
        return self.series.get("rmse_forecast")

    @property
    def rmse_analysis(self) -> Float[Array, " time"] | None:
        return self.series.get("rmse_analysis")

    @property
    def rank_counts(self) -> Int[Array, "time rank"] | None:
        return self.series.get("rank_counts")

    @property
    def ensembles(self) -> Float[Array, "time member state"] | None:
        return self.series.get("ensembles")


def assimilate(
    model: AbstractModel,
    observations: Observations,
    method: AbstractMethod,
    initial: Float[Array, "member state"],
    *,
    key: PRNGKeyArray,
    truth: Float[Array, "time state"] | None = None,
    save: Save | None = None,
    carry: Any = None,
    start_cycle: int | Array = 0,
    finish: bool = True,
) -> Result:
    """Cycle ``method`` over every observation time as one ``lax.scan``.

    Cycle ``k`` hands the method the model and one :class:`~assimilax.da.Window` of
    ``method.times_per_cycle`` observation times (one for filters); the method forecasts
    and analyses. When the record is not a whole number of windows the last one is
    padded with absent (masked) observations and the padded rows are dropped. The
    randomness of cycle ``k`` is ``fold_in(key, start_cycle + k)``, so a record split
    into chunks (passing ``carry`` on, ``start_cycle`` the global index of the chunk's
    first cycle, ``finish=False`` but for the last) gives the numbers of one call.

    Args:
        model: the forecast model (physical, emulator or corrected: all the same here).
        observations: the observation series, ``time`` rows.
        method: any :class:`~assimilax.da.AbstractMethod`.
        initial: initial ensemble ``(member, state)``, valid one observation interval
            before ``observations.y[0]`` (deterministic methods start from its mean).
        key: PRNG key.
        truth: true states at the observation times ``(time, state)``, for the errors.
        save: which series to record (default ``Save()``).
        carry: the method's carry from a previous chunk; ``None`` starts afresh.
        start_cycle: global index of the first cycle (chunked runs).
        finish: assemble lagged series with :meth:`~assimilax.da.AbstractMethod.finish`
            (the whole record in this call).

    Raises:
        ValueError: shapes that do not fit, or NaN/inf in ``initial``, ``truth`` or an
            unmasked observation (concrete arrays; the first bad index is named).

    Returns:
        :class:`Result`.
    """
    n = observations.operator.state_size
    if initial.ndim != 2 or initial.shape[1] != n:
        raise ValueError(
            f"assimilate: initial must be an ensemble of shape (member, {n}), "
            f"got {initial.shape}."
        )
    if method.ensemble and initial.shape[0] < 2:
        raise ValueError(f"assimilate: {type(method).__name__} needs at least 2 members.")
    T = observations.n_times
    if truth is not None and truth.shape != (T, n):
        raise ValueError(
            f"assimilate: truth must have shape ({T}, {n}), got {truth.shape}."
        )
    check_finite("assimilate", "initial", initial)
    check_finite("assimilate", "observations.y", observations.y, mask=observations.mask)
    if truth is not None:
        check_finite("assimilate", "truth", truth)
    save = Save() if save is None else save
    fresh = carry is None
    if fresh:
        carry = method.init(initial)
    P = method.times_per_cycle
    cycles = math.ceil(T / P)
    pad = cycles * P - T

    def windows(a):
        a = jnp.pad(a, ((0, pad),) + ((0, 0),) * (a.ndim - 1)) if pad else a
        return a.reshape((cycles, P) + a.shape[1:])

    y, mask = windows(observations.y), windows(observations.mask)
    x_true = None if truth is None else windows(truth)
    operator, noise, every = observations.operator, observations.noise, observations.every_steps
    index = jnp.arange(cycles) + start_cycle
    own = {spec.name: spec for spec in method.series} if save.method else {}

    def body(carry, inputs):
        yk, mk, k, xk = inputs
        window = Window(yk, mk, operator, noise, every)
        carry, estimate = method.cycle(model, carry, window, key=jax.random.fold_in(key, k))
        return carry, _record(method, estimate, xk, save, own)

    carry, out = jax.lax.scan(body, carry, (y, mask, index, x_true))
    series = {name: v.reshape((cycles * P,) + v.shape[2:])[:T] for name, v in out.items()}
    if finish and fresh:
        series = complete_series(method, series, carry, truth, save=save)
    return Result(series=series, specs=series_specs(method, series), carry=carry)


def _mean_and_spread(ensembles, weights):
    """Per-time means ``(time, state)`` and spreads ``(time,)`` of ``(time, member, state)``."""
    if weights is None:
        return jax.vmap(member_mean)(ensembles), lambda: jax.vmap(spread)(ensembles)
    mean = jnp.einsum("tm,tms->ts", weights, ensembles)
    return mean, lambda: jax.vmap(weighted_spread)(ensembles, weights)


def _record(method: AbstractMethod, estimate: Estimate, x_true, save: Save, own) -> dict:
    """The per-time rows ``(times, ...)`` of one cycle's estimate."""
    mean_f, spread_f = _mean_and_spread(estimate.forecast, estimate.forecast_weights)
    mean_a, spread_a = _mean_and_spread(estimate.analysis, estimate.analysis_weights)
    out = {}
    if save.means:
        out["mean_forecast"] = mean_f
        out["mean_analysis"] = mean_a
    if method.ensemble and save.spread:
        out["spread_forecast"] = spread_f()
        out["spread_analysis"] = spread_a()
    if x_true is not None and save.errors:
        out["rmse_forecast"] = jax.vmap(rmse)(mean_f, x_true)
        out["rmse_analysis"] = jax.vmap(rmse)(mean_a, x_true)
    # Rank counts of equally weighted members only (a weighted rank histogram is not the
    # one forecasters read).
    if (x_true is not None and method.ensemble and save.rank_counts
            and estimate.analysis_weights is None):
        out["rank_counts"] = jax.vmap(_rank_counts)(estimate.analysis, x_true)
    if save.ensembles:
        out["ensembles"] = estimate.analysis
    for name in own:
        out[name] = estimate.series[name]
    return out


def complete_series(
    method: AbstractMethod,
    series: dict[str, Array],
    carry: Any,
    truth: Float[Array, "time state"] | None,
    *,
    save: Save | None = None,
) -> dict[str, Array]:
    """The record of a whole run: lagged series assembled, and their errors.

    For chunked runs, call it once on the concatenated chunks with the last carry.
    Each of ``method.series`` with ``lag > 0`` is put in time order with the rows of
    ``method.finish(carry)``; each with an ``error`` name gets that RMSE series against
    ``truth`` (when given and ``save.errors``).
    """
    save = Save() if save is None else save
    series = dict(series)
    tail = method.finish(carry) if any(s.lag for s in method.series) else {}
    for spec in method.series:
        if spec.name not in series:
            continue
        if spec.lag:
            series[spec.name] = assemble_lagged(series[spec.name], tail[spec.name], spec.lag)
        if spec.error and truth is not None and save.errors:
            values = jnp.asarray(series[spec.name])
            series[spec.error] = jnp.sqrt(jnp.mean((values - truth[: values.shape[0]]) ** 2, -1))
    return series


def series_specs(method: AbstractMethod, names) -> tuple[SeriesSpec, ...]:
    """The :class:`SeriesSpec` of each of ``names`` recorded for ``method``, in order."""
    return tuple(STANDARD_SERIES.get(name) or _spec_of(method, name) for name in names)


def _spec_of(method: AbstractMethod, name: str) -> SeriesSpec:
    for spec in method.series:
        if spec.name == name:
            return spec
        if spec.error == name:
            return SeriesSpec(name, (), spec.units, f"RMSE of the {spec.name.replace('_', ' ')}")
    raise KeyError(f"{type(method).__name__} records no series {name!r}.")


def weighted_spread(
    ensemble: Float[Array, "member state"], weights: Float[Array, " member"]
) -> Float[Array, ""]:
    r"""DAPPER's weighted ``rmv``: $\sqrt{\overline{u\,\sum_n w_n (x_n - \mu)^2}}$.

    $\mu = w^TE$, $u = 1/(1 - 1/N_{\rm eff})$ with $N_{\rm eff} = 1/\sum_n w_n^2$ (the
    unbiased weighted variance), or $u = 1$ for degenerate weights (DAPPER's
    ``avoid_pathological``). Equal weights give :func:`~assimilax.metrics.spread`.
    """
    mu = weights @ ensemble
    var = weights @ ((ensemble - mu) ** 2)
    degenerate = (1.0 - jnp.max(weights)) < 1e-10
    n_eff = 1.0 / jnp.sum(weights**2)
    u = jnp.where(degenerate, 1.0, 1.0 / (1.0 - 1.0 / jnp.where(degenerate, 2.0, n_eff)))
    return jnp.sqrt(jnp.mean(u * var))


def _rank_counts(ensemble: Float[Array, "member state"], truth: Float[Array, " state"]):
    """Counts ``(member + 1,)`` of the truth's rank among the members over the variables."""
    N = ensemble.shape[0]
    ranks = jnp.sum(ensemble < truth[None, :], axis=0)
    return jnp.sum(ranks[:, None] == jnp.arange(N + 1)[None, :], axis=0, dtype=jnp.int32)

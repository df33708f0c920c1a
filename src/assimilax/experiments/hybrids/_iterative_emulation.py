"""``[hybrid] name = "iterative_emulation"``: Brajard et al. (2020), a surrogate model
learned from the observations alone by alternating training and an ensemble filter.

The per-iteration states are handed by the core to a callback here and written with
:func:`assimilax.io.write_step` (read back with :func:`assimilax.io.read_step` to resume).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ... import hybrid
from ... import io as rio
from ...da import AbstractMethod
from ...ml.nets import DeepEmulatorCNN
from .._build import build
from .._twin import climatological_rms, simulate_twin, twin_keys
from ..config import Config, IterativeEmulationConfig
from ._recipe import HybridOutcome, HybridRecipe, Statistic, finite, register_recipe

_names = rio.names

STATISTICS: dict[str, Statistic] = {
    "rmse_interpolation": Statistic(
        "RMSE of the interpolated observations that start the iterations",
        "state units", "analysis RMSE of the interpolation"),
    "rmse_analysis": Statistic(
        "time-mean analysis RMSE of the last iteration after burn-in",
        "state units", "analysis RMSE, last iteration"),
    "spread_analysis": Statistic(
        "time-mean analysis spread of the last iteration after burn-in",
        "state units", "analysis spread, last iteration"),
    "rmse_first_iteration": Statistic(
        "time-mean analysis RMSE of the first iteration",
        "state units", "analysis RMSE, first iteration"),
    "valid_time": Statistic(
        "valid time of the last surrogate's forecasts",
        "Lyapunov times", "surrogate valid time (Lyapunov times)"),
    "climatology_std_error": Statistic(
        "relative error of the surrogate's long-run standard deviation",
        "1", "surrogate climatology: std error"),
    "climatology_spectrum_error": Statistic(
        "relative error of the surrogate's long-run power spectrum",
        "1", "surrogate climatology: spectrum error"),
}
"""What ``iterative_emulation`` reports."""

_simulate = eqx.filter_jit(simulate_twin)  # one compiled program, not op by op


def iteration_checkpoints(
    directory: str | Path,
) -> tuple[Callable[[int, hybrid.IterationState], None],
           Callable[[hybrid.IterationState], hybrid.IterationState | None]]:
    """Write and read the per-iteration states of :class:`~assimilax.hybrid.IterativeEmulation`.

    Returns:
        ``(on_iteration, read)``: ``on_iteration(i, state)`` writes iteration ``i`` into
        ``directory`` (:func:`assimilax.io.write_step`: the surrogate by
        ``eqx.tree_serialise_leaves``, the analyses and variances as ``.npz``, the records
        as JSON; the previous iteration's files are removed); ``read(like)`` gives the
        state of the last iteration written, in the structure of ``like`` (the method's
        ``init`` state), or None when there is none.
    """
    directory = Path(directory)

    def on_iteration(iteration: int, state: hybrid.IterationState) -> None:
        rio.write_step(
            directory, iteration, tree=state.surrogate,
            arrays={"analysis": state.analysis, "variance": state.variance},
            meta={"rmse_interpolation": state.rmse_interpolation,
                  "records": [dataclasses.asdict(r) for r in state.records]})

    def read(like: hybrid.IterationState) -> hybrid.IterationState | None:
        found = rio.read_step(directory, like=like.surrogate)
        if found is None:
            return None
        records = tuple(hybrid.IterationRecord(**r) for r in found.meta["records"])
        return hybrid.IterationState(found.step, found.tree, found.arrays["analysis"],
                                     found.arrays["variance"],
                                     found.meta["rmse_interpolation"], records)

    return on_iteration, read


def iterative_method(config: Config, method: AbstractMethod) -> hybrid.IterativeEmulation:
    """The :class:`~assimilax.hybrid.IterativeEmulation` of a config's ``[hybrid]``,
    ``[ml]``, ``[method]`` and ``[experiment]`` sections, with the filter ``method`` built
    from ``[method]``."""
    h: IterativeEmulationConfig = config.hybrid
    ml = config.ml_resolved
    return hybrid.IterativeEmulation(
        iterations=h.iterations, method=method,
        ensemble_size=config.method.ensemble_size, model_noise_std=h.model_noise_std,
        epochs_first=h.epochs_first, epochs=ml.epochs, batch_size=ml.batch_size,
        learning_rate=ml.learning_rate, ridge=ml.ridge, variance_floor=h.variance_floor,
        weighting="variance" if ml.loss == "variance_weighted" else "uniform",
        validation_fraction=ml.validation_fraction, widths=tuple(ml.widths),
        burn_in=config.experiment.burn_in, skill_every=h.skill_every,
        skill=hybrid.SurrogateSkill(n_cases=h.forecast_cases, threshold=h.valid_threshold,
                                    lyapunov_exponent=h.lyapunov_exponent),
    )


def _iterative_parts(config: Config):
    """``(setup, twin, net, method, key)`` of an ``iterative_emulation`` config: its twin
    (one model step between observations), the ``[ml]`` network (``None``: the method's
    default), the method, and the run's key."""
    ml = config.ml_resolved
    exp = config.experiment
    xp = build(config)
    setup = xp.setup
    key = jax.random.key(exp.seed)
    twin = _simulate(
        setup.truth_model, setup.operator, setup.noise, cycles=exp.cycles, every_steps=1,
        ensemble_size=config.method.ensemble_size, key=key,
        spinup_steps=setup.spinup_steps, initial_std=exp.initial_std,
    )
    net = None
    if ml.network == "deep_emulator_cnn":
        net = DeepEmulatorCNN(key=jax.random.fold_in(key, 1), ks3_widths=ml.widths)
    return setup, twin, net, iterative_method(config, xp.method), key


@register_recipe("iterative_emulation")
class IterativeEmulationRecipe(HybridRecipe):
    """Brajard et al. (2020): :class:`~assimilax.hybrid.IterativeEmulation` on the twin of
    the config (one model step between observations), resumable by iteration."""

    statistics = STATISTICS
    score = "rmse_analysis"

    def run(self, config: Config, *, progress, log, checkpoint) -> HybridOutcome:
        return _iterative(config, progress=progress, log=log, checkpoint=checkpoint)

    def dataset(self, config: Config, outcome: HybridOutcome, attrs):
        return _iterative_dataset(config, outcome, attrs)

    def networks(self, config: Config) -> dict[str, Any]:
        _, twin, net, method, key = _iterative_parts(config)
        start = method.init(twin.observations, key=twin_keys(key)["assimilation"],
                            dt=config.model.dt, net=net, truth=twin.truth)
        return {"surrogate": start.surrogate}


def _iterative(config: Config, *, progress, log, checkpoint) -> HybridOutcome:
    h: IterativeEmulationConfig = config.hybrid
    setup, twin, net, method, key = _iterative_parts(config)
    run_key, dt = twin_keys(key)["assimilation"], config.model.dt
    on_iteration = resume = None
    if checkpoint is not None:
        on_iteration, read = iteration_checkpoints(checkpoint)
        start = method.init(twin.observations, key=run_key, dt=dt, net=net, truth=twin.truth)
        found = read(start)
        resume = start if found is None else found
        if found is not None and log is not None:
            log(f"resuming from {checkpoint}")
    result = method.run(
        twin.observations, key=run_key, dt=dt, net=net, truth=twin.truth,
        model=setup.model, resume=resume, on_iteration=on_iteration, progress=progress,
        log=log,
    )
    records = result.iterations
    skill = result.skill
    last = records[-1]
    clim = skill.climatology_error if skill is not None else None
    statistics = {
        "rmse_interpolation": finite(result.rmse_interpolation),
        "rmse_analysis": finite(last.rmse_analysis),
        "spread_analysis": finite(last.spread_analysis),
        "rmse_first_iteration": finite(records[0].rmse_analysis),
        "valid_time": finite(None if skill is None else skill.valid_time),
        "climatology_std_error": finite(None if clim is None else clim.std),
        "climatology_spectrum_error": finite(None if clim is None else clim.spectrum),
    }
    nan = float("nan")
    path = " → ".join(f"{v:.2f}" for v in
                      [result.rmse_interpolation, *(r.rmse_analysis for r in records)])
    sigma_clim = nan if skill is None else skill.sigma_clim
    notes = [
        f"analysis RMSE from the interpolation through the {len(records)} iterations: {path}",
        f"surrogate: valid time {statistics['valid_time'] or nan:.2f} Lyapunov times "
        f"(forecast RMSE > {h.valid_threshold:g} × σ_clim = "
        f"{h.valid_threshold * sigma_clim:.2f}); long-run std "
        f"{nan if skill is None else skill.surrogate_std:.2f} against the truth's "
        f"{nan if skill is None else skill.true_std:.2f}, spectrum error "
        f"{100 * (statistics['climatology_spectrum_error'] or nan):.0f} %",
    ]
    truth = np.asarray(twin.truth)
    err = np.sqrt(np.mean((result.analysis - truth) ** 2, axis=-1))
    arrays = {
        "truth": truth,
        "analysis_mean": np.asarray(result.analysis),
        "rmse_analysis": err,
        "spread_analysis": np.sqrt(np.mean(result.variance, axis=-1)),
        "iteration_rmse_analysis": np.array([r.rmse_analysis for r in records]),
        "iteration_spread_analysis": np.array([r.spread_analysis for r in records]),
        "iteration_train_loss": np.array([r.train_loss for r in records]),
        "iteration_valid_time": np.array([np.nan if r.valid_time is None else r.valid_time
                                          for r in records]),
        "surrogate_forecast_rmse": np.asarray(() if skill is None else skill.forecast_rmse,
                                              float),
        "lead_time": np.asarray(() if skill is None else skill.lead_times, float),
    }
    details = {"hybrid": "iterative_emulation", **result.summary()}
    ci95 = dict.fromkeys(statistics)
    return HybridOutcome(statistics, ci95, notes, details, arrays,
                         networks={"surrogate": result.surrogate})


def _iterative_dataset(config: Config, outcome: HybridOutcome, provenance):
    """The usual run dataset of the final analyses, plus iterations and surrogate skill."""
    setup = build(config).setup
    arrays, details = outcome.arrays, outcome.details
    truth = arrays["truth"]
    done = truth.shape[0]
    h = config.hybrid
    resumed = details.get("resumed_from") or 0
    dataset = rio.results_dataset(
        time=(np.arange(done) + 1) * setup.interval,
        cycle=np.arange(done),
        position=np.asarray(setup.model.grid.coords),
        series={k: arrays[k] for k in ("rmse_analysis", "spread_analysis")},
        fields={k: arrays[k] for k in ("analysis_mean", "truth")},
        attrs={
            **provenance,
            "burn_in": config.experiment.burn_in,
            "climatological_rms": float(climatological_rms(truth)),
            "resumed_at_cycle": -1,
            "resumed_at_iteration": resumed if resumed else -1,
        },
    )
    skill = details.get("skill") or {}
    sigma = skill.get("sigma_clim")
    variables = {k: arrays[k] for k in ("iteration_rmse_analysis", "iteration_spread_analysis",
                                        "iteration_train_loss", "iteration_valid_time")}
    coords = {}
    if arrays["surrogate_forecast_rmse"].size:
        variables["surrogate_forecast_rmse"] = arrays["surrogate_forecast_rmse"]
        coords[_names.LEAD_TIME] = arrays["lead_time"]
    return rio.add_variables(
        dataset, variables, coords=coords,
        attrs={
            "iteration_rmse_analysis": {
                "rmse_interpolation": outcome.statistics.get("rmse_interpolation")},
            "surrogate_forecast_rmse": {
                "valid_threshold": h.valid_threshold,
                "valid_threshold_rmse": (h.valid_threshold * sigma if sigma is not None
                                         else None),
                "sigma_clim": sigma,
                "valid_time": outcome.statistics.get("valid_time"),
            },
        },
    )

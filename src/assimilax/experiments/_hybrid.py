"""A config with a ``[hybrid]`` section, run: twin, network, hybrid method, statistics.

:func:`run_hybrid` turns a validated :class:`Config` into the core calls of its hybrid
method (:class:`assimilax.hybrid.IterativeEmulation` or
:class:`assimilax.hybrid.Emulator4DVar`, on the shared twin
:func:`~assimilax.experiments.simulate_twin`) and reduces the outcome to named scalar
statistics (what preset claims are about), human-readable notes, JSON details and arrays
for ``results.nc``. Both ``assimilax run`` and ``assimilax reproduce`` go through it.

The core writes no file: the per-iteration states of ``iterative_emulation`` are handed to
a callback here and written with :func:`assimilax.io.write_step` (read back with
:func:`assimilax.io.read_step` to resume).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .. import hybrid
from .. import io as rio
from ..da import AbstractMethod
from ..da.variational import LBFGS
from ..ml import Emulator, History
from ..ml.nets import BrajardCNN, DeepEmulatorCNN
from ..observations import DiagonalNoise, Full, Observations, RotatingSubset
from ._build import build
from ._twin import simulate_twin, twin_keys
from .config import Config, Emulator4DVarConfig, IterativeEmulationConfig

HYBRID_STATISTICS: dict[str, dict[str, tuple[str, str]]] = {
    "iterative_emulation": {
        "rmse_interpolation": ("RMSE of the interpolated observations that start the "
                               "iterations", "state units"),
        "rmse_analysis": ("time-mean analysis RMSE of the last iteration after burn-in",
                          "state units"),
        "spread_analysis": ("time-mean analysis spread of the last iteration after burn-in",
                            "state units"),
        "rmse_first_iteration": ("time-mean analysis RMSE of the first iteration",
                                 "state units"),
        "valid_time": ("valid time of the last surrogate's forecasts", "Lyapunov times"),
        "climatology_std_error": ("relative error of the surrogate's long-run standard "
                                  "deviation", "1"),
        "climatology_spectrum_error": ("relative error of the surrogate's long-run power "
                                       "spectrum", "1"),
    },
    "emulator_4dvar": {
        "rmse_true_adjoint": ("mean analysis RMSE at the window start, 4D-Var with the "
                              "exact adjoint", "state units"),
        "rmse_emulator_gradient": ("mean analysis RMSE at the window start, 4D-Var with the "
                                   "emulator's gradients", "state units"),
        "rmse_emulator": ("mean analysis RMSE at the window start, 4D-Var with the emulator "
                          "throughout", "state units"),
        "ratio_emulator_gradient": ("rmse_emulator_gradient / rmse_true_adjoint", "1"),
        "ratio_emulator": ("rmse_emulator / rmse_true_adjoint", "1"),
        "jacobian_error": ("relative Frobenius error of the emulator's Jacobian", "1"),
        "one_step_rmse": ("RMSE of the emulator's one-step forecasts", "state units"),
    },
}
"""The scalar statistics each hybrid method reports (see :func:`run_hybrid`): method ->
statistic -> ``(description, units)``."""

HYBRID_SCORES = {"iterative_emulation": "rmse_analysis",
                 "emulator_4dvar": "rmse_emulator_gradient"}
"""The statistic a sweep over a hybrid method's settings charts (its headline error)."""


@dataclasses.dataclass
class HybridOutcome:
    """What a hybrid run produced.

    Attributes:
        statistics: the scalars of :data:`HYBRID_STATISTICS` (None where not finite).
        ci95: 95 % half-widths of those that are time or window means (else None).
        notes: one-line readable results (per-iteration RMSEs, ...).
        details: JSON-able record of everything reported (per-iteration records, skill,
            per-window RMSEs, training histories).
        arrays: arrays for ``results.nc`` (truth, analyses, series).
        seconds: wall time of the run.
        networks: the trained networks by name (``"surrogate"``, ``"emulator"``), saved in
            the run directory and rebuilt by :func:`network_skeletons` +
            :func:`assimilax.experiments.load_network`.
    """

    statistics: dict[str, float | None]
    ci95: dict[str, float | None]
    notes: list[str]
    details: dict[str, Any]
    arrays: dict[str, np.ndarray]
    seconds: float = 0.0
    networks: dict[str, Any] = dataclasses.field(default_factory=dict)


def _finite(value) -> float | None:
    value = None if value is None else float(value)
    return value if value is not None and math.isfinite(value) else None


def run_hybrid(
    config: Config,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
) -> HybridOutcome:
    """Run the ``[hybrid]`` method of ``config`` (float64 must be on).

    Args:
        config: a validated config with a ``[hybrid]`` section.
        progress: training progress bars.
        log: called with one line per finished step (iteration, window length).
        checkpoint: a directory for the iterations of ``iterative_emulation``: each
            finished iteration is written there, and a run with the same directory resumes
            after the last one written.

    Returns:
        :class:`HybridOutcome`.
    """
    if config.hybrid is None:
        raise ValueError("run_hybrid: the config has no [hybrid] section.")
    t0 = time.perf_counter()
    if isinstance(config.hybrid, IterativeEmulationConfig):
        out = _iterative(config, progress=progress, log=log, checkpoint=checkpoint)
    else:
        out = _emulator_4dvar(config, progress=progress, log=log)
    out.seconds = time.perf_counter() - t0
    return out


_simulate = eqx.filter_jit(simulate_twin)  # one compiled program, not op by op


# ----------------------------------------------------------------------------- iterative


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
        "rmse_interpolation": _finite(result.rmse_interpolation),
        "rmse_analysis": _finite(last.rmse_analysis),
        "spread_analysis": _finite(last.spread_analysis),
        "rmse_first_iteration": _finite(records[0].rmse_analysis),
        "valid_time": _finite(None if skill is None else skill.valid_time),
        "climatology_std_error": _finite(None if clim is None else clim.std),
        "climatology_spectrum_error": _finite(None if clim is None else clim.spectrum),
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


# ----------------------------------------------------------------------------- 4D-Var

TRAINING_TRAJECTORIES = 4
"""Independent simulator trajectories the emulator's training pairs come from."""
SPINUP_STEPS = 1600
"""Simulator steps from a random state onto the attractor (20 time units at dt = 0.0125)."""


class RotatingTwins(eqx.Module):
    """Independent truth runs observed on a rotating subset, with first guesses.

    Attributes:
        truth: true states ``(trial, windows * window + 1, state)``, from the start of the
            first window.
        observations: one record per trial, stacked: ``y`` and ``mask`` ``(trial,
            windows * window, state)`` (row ``k``: ``k + 1`` steps after the start).
        first_guess: the first window's first guess of each trial ``(trial, state)``:
            :func:`~assimilax.hybrid.first_guess_interpolation` of the first observations.
    """

    truth: Array
    observations: Observations
    first_guess: Array


@eqx.filter_jit
def rotating_twins(
    model, *, key, steps: int, trials: int, sigma: float, period: int = 4,
    spinup_steps: int = SPINUP_STEPS,
) -> RotatingTwins:
    """``trials`` shared twins (:func:`~assimilax.experiments.simulate_twin`, one key each
    from ``jax.random.split(key, trials)``) of ``steps`` model steps, every variable
    observed with noise ``sigma`` and restricted to the rotating subset
    (:meth:`~assimilax.observations.RotatingSubset.restrict`; step 1 is the first row).

    Args:
        model: the simulator.
        key: PRNG key of the trials.
        steps: observed model steps per trial (``windows * window``).
        trials: independent truth runs.
        sigma: observation noise standard deviation.
        period: rotation period of the observed variables.
        spinup_steps: steps from the random initial state to the truth's start.
    """
    n = model.state_size
    rotating = RotatingSubset(n, period=period, start=1)

    def one(k):
        twin = simulate_twin(model, Full(n), DiagonalNoise(sigma), cycles=steps,
                             every_steps=1, ensemble_size=1, key=k,
                             spinup_steps=spinup_steps)
        obs = rotating.restrict(twin.observations)
        truth = jnp.concatenate([twin.truth0[None], twin.truth])
        return truth, obs, hybrid.first_guess_interpolation(obs.y[0], obs.mask[0])

    truth, obs, guess = jax.vmap(one)(jax.random.split(key, trials))
    return RotatingTwins(truth, obs, guess)


@dataclasses.dataclass(frozen=True)
class Emulator4DVarExperiment:
    """The 4D-Var experiment of Nonnenmacher & Greenberg (2021) for one window length.

    Attributes:
        result: the scores of the three 4D-Var variants.
        errors: the emulator's Jacobian and one-step errors against the simulator.
        emulator: the trained (or given) emulator.
        history: its training :class:`~assimilax.ml.History` (None when given).
        seconds: wall time per phase (``data``, ``training``, ``jacobian``, ``4dvar``).
    """

    result: hybrid.Emulator4DVarResult
    errors: hybrid.EmulatorErrors
    emulator: Emulator
    history: History | None
    seconds: dict[str, float]


def emulator_4dvar_experiment(
    config: Config, *, emulator: Emulator | None = None, progress: bool = False,
) -> Emulator4DVarExperiment:
    """The experiment of an ``emulator_4dvar`` config, end to end (float64 must be on).

    1. Training data: ``[hybrid] training_samples`` one-step pairs of the ``[model]``
       simulator, states 4 steps apart on :data:`TRAINING_TRAJECTORIES` trajectories
       (:func:`~assimilax.hybrid.training_pairs`).
    2. Emulator: the ``[ml]`` network in an RK4 tendency :class:`~assimilax.ml.Emulator`,
       trained by :func:`~assimilax.hybrid.train_emulator` (skipped when ``emulator`` is
       given).
    3. Its Jacobian and one-step errors on ``[hybrid] jacobian_states`` fresh states.
    4. ``[hybrid] trials`` rotating twins (:func:`rotating_twins`) of ``windows`` windows
       of ``window`` steps, and the three 4D-Var variants on them
       (:meth:`~assimilax.hybrid.Emulator4DVar.run`).

    Randomness: ``key = jax.random.key(seed)`` split into data, training, test states and
    twins (the twins of window length ``L`` from ``fold_in(key_twins, L)``); the default
    network from ``fold_in(key, 1)``.
    """
    h: Emulator4DVarConfig = config.hybrid
    ml = config.ml_resolved
    model = build(config).setup.model
    key = jax.random.key(config.experiment.seed)
    k_data, k_train, k_test, k_da = jax.random.split(key, 4)
    seconds: dict[str, float] = {}
    history = None
    if emulator is None:
        net = _emulator_net(ml, key)
        t0 = time.perf_counter()
        xs, ys = hybrid.training_pairs(model, key=k_data, n_samples=h.training_samples,
                                       n_trajectories=TRAINING_TRAJECTORIES,
                                       spin_up_steps=SPINUP_STEPS)
        seconds["data"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        emulator, history = hybrid.train_emulator(
            xs, ys, key=k_train, dt=model.dt, net=net, epochs=ml.epochs,
            batch_size=ml.batch_size, learning_rate=ml.learning_rate,
            validation_fraction=ml.validation_fraction, progress=progress)
        seconds["training"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    errors = hybrid.emulator_errors(emulator, model, key=k_test, n_states=h.jacobian_states)
    seconds["jacobian"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    twins = rotating_twins(model, key=jax.random.fold_in(k_da, h.window),
                           steps=h.windows * h.window, trials=h.trials,
                           sigma=config.observations.noise_std,
                           period=config.observations.stride)
    method = hybrid.Emulator4DVar(window=h.window, burn_in=h.burn_in_windows,
                                  solver=LBFGS(max_iterations=h.max_iterations))
    result = method.run(model, emulator, twins.observations, twins.truth, twins.first_guess)
    seconds["4dvar"] = time.perf_counter() - t0
    return Emulator4DVarExperiment(result, errors, emulator, history, seconds)


_EMULATORS: dict[str, tuple[Any, Any]] = {}
"""The last emulator trained by :func:`_emulator_4dvar`, by its training settings."""


def _emulator_4dvar(config: Config, *, progress, log) -> HybridOutcome:
    h: Emulator4DVarConfig = config.hybrid
    ml = config.ml_resolved
    # Members of a preset that differ only in the window share one trained emulator.
    cache_key = json.dumps([ml.model_dump(), config.model.model_dump(), h.training_samples,
                            config.experiment.seed], sort_keys=True)
    emulator, history = _EMULATORS.get(cache_key, (None, None))
    out = emulator_4dvar_experiment(config, emulator=emulator, progress=progress)
    if emulator is None:
        _EMULATORS.clear()
        _EMULATORS[cache_key] = (out.emulator, out.history)
    else:
        out = dataclasses.replace(out, history=history)
    window, errors = out.result, out.errors
    names = {"true": "rmse_true_adjoint", "emulator_gradient": "rmse_emulator_gradient",
             "emulator": "rmse_emulator"}
    statistics = {stat: _finite(window.variant(v).rmse) for v, stat in names.items()}
    statistics.update(
        ratio_emulator_gradient=_finite(window.ratio_emulator_gradient),
        ratio_emulator=_finite(window.ratio_emulator),
        jacobian_error=_finite(errors.jacobian_error),
        one_step_rmse=_finite(errors.one_step_rmse),
    )
    ci95 = dict.fromkeys(statistics)
    for v, stat in names.items():
        ci95[stat] = _finite(window.variant(v).rmse_ci)
    rmse = {v: window.variant(v).rmse for v in names}
    notes = [
        f"window {h.window}: analysis RMSE at the window start, exact adjoint "
        f"{rmse['true']:.3f}, emulator gradients {rmse['emulator_gradient']:.3f} "
        f"(ratio {window.ratio_emulator_gradient:.3f}), emulator throughout "
        f"{rmse['emulator']:.3f} (ratio {window.ratio_emulator:.3f})",
        f"emulator: Jacobian error {100 * errors.jacobian_error:.1f} % (relative "
        f"Frobenius), one-step RMSE {errors.one_step_rmse:.2e}",
    ]
    arrays = {f"{stat}_per_window": np.asarray(window.variant(v).per_window, float)
              for v, stat in names.items()}
    details = {
        "hybrid": "emulator_4dvar",
        "window": {**{v: window.variant(v).to_dict() for v in hybrid.VARIANTS},
                   "ratio_emulator_gradient": window.ratio_emulator_gradient,
                   "ratio_emulator": window.ratio_emulator, "seconds": window.seconds},
        "jacobian_error": errors.jacobian_error,
        "one_step_rmse": errors.one_step_rmse,
        "history": None if out.history is None else out.history.to_dict(),
        "seconds": out.seconds,
        "settings": {
            "window_lengths": [h.window], "n_windows": h.windows, "n_trials": h.trials,
            "burn_in": h.burn_in_windows, "n_train": h.training_samples,
            "epochs": ml.epochs, "batch_size": ml.batch_size,
            "learning_rate": ml.learning_rate, "max_iterations": h.max_iterations,
            "sigma": config.observations.noise_std, "period": config.observations.stride,
            "n": config.model.n, "forcing": config.model.forcing, "dt": config.model.dt,
        },
    }
    return HybridOutcome(statistics, ci95, notes, details, arrays,
                         networks={"emulator": out.emulator})


def network_skeletons(config: Config) -> dict[str, Any]:
    """The untrained networks of a hybrid config, in the structure its run saves them.

    What :func:`assimilax.experiments.load_network` reads a saved network into: built by
    the same code path as the run (``iterative_emulation``: the surrogate of the method's
    ``init`` on the run's twin, whose input normalisation comes from the interpolation;
    ``emulator_4dvar``: the emulator around the ``[ml]`` network), so a network is stored
    as its leaves alone and its skeleton comes from the config.
    """
    h = config.hybrid
    if h is None:
        return {}
    ml = config.ml_resolved
    exp = config.experiment
    key = jax.random.key(exp.seed)
    if isinstance(h, IterativeEmulationConfig):
        _, twin, net, method, key = _iterative_parts(config)
        start = method.init(twin.observations, key=twin_keys(key)["assimilation"],
                            dt=config.model.dt, net=net, truth=twin.truth)
        return {"surrogate": start.surrogate}
    model = build(config).setup.model
    net = _emulator_net(ml, key)
    return {"emulator": Emulator(net, model.dt, mode="tendency", state_size=model.state_size)}


def _emulator_net(ml, key):
    """The untrained ``[ml]`` network of ``emulator_4dvar``, from ``fold_in(key, 1)``."""
    if ml.network == "deep_emulator_cnn":
        return DeepEmulatorCNN(key=jax.random.fold_in(key, 1), ks3_widths=ml.widths)
    return BrajardCNN(key=jax.random.fold_in(key, 1), bilinear_filters=ml.widths[0],
                      hidden_filters=tuple(ml.widths[1:]))

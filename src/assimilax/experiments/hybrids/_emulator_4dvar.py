"""``[hybrid] name = "emulator_4dvar"``: Nonnenmacher & Greenberg (2021), 4D-Var with the
exact adjoint, with a learned emulator's gradients, and with the emulator throughout, on
independent twins observed on a rotating subset.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ... import hybrid
from ... import io as rio
from ...da.variational import LBFGS
from ...ml import Emulator, History
from ...ml.nets import BrajardCNN, DeepEmulatorCNN
from ...observations import DiagonalNoise, Full, Observations, RotatingSubset
from .._build import build
from .._twin import simulate_twin
from ..config import Config, Emulator4DVarConfig
from ._recipe import HybridOutcome, HybridRecipe, Statistic, finite, register_recipe

_names = rio.names

STATISTICS: dict[str, Statistic] = {
    "rmse_true_adjoint": Statistic(
        "mean analysis RMSE at the window start, 4D-Var with the exact adjoint",
        "state units", "analysis RMSE, exact adjoint"),
    "rmse_emulator_gradient": Statistic(
        "mean analysis RMSE at the window start, 4D-Var with the emulator's gradients",
        "state units", "analysis RMSE, emulator gradients"),
    "rmse_emulator": Statistic(
        "mean analysis RMSE at the window start, 4D-Var with the emulator throughout",
        "state units", "analysis RMSE, emulator throughout"),
    "ratio_emulator_gradient": Statistic(
        "rmse_emulator_gradient / rmse_true_adjoint",
        "1", "RMSE ratio, emulator gradients / exact"),
    "ratio_emulator": Statistic(
        "rmse_emulator / rmse_true_adjoint",
        "1", "RMSE ratio, emulator throughout / exact"),
    "jacobian_error": Statistic(
        "relative Frobenius error of the emulator's Jacobian",
        "1", "emulator Jacobian error (relative)"),
    "one_step_rmse": Statistic(
        "RMSE of the emulator's one-step forecasts",
        "state units", "emulator one-step RMSE"),
}
"""What ``emulator_4dvar`` reports."""

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


@register_recipe("emulator_4dvar")
class Emulator4DVarRecipe(HybridRecipe):
    """Nonnenmacher & Greenberg (2021): :func:`emulator_4dvar_experiment`, the three 4D-Var
    variants scored per window."""

    statistics = STATISTICS
    score = "rmse_emulator_gradient"

    def run(self, config: Config, *, progress, log, checkpoint) -> HybridOutcome:
        return _emulator_4dvar(config, progress=progress, log=log)

    def dataset(self, config: Config, outcome: HybridOutcome, attrs):
        return _windows_dataset(config, outcome, attrs)

    def networks(self, config: Config) -> dict[str, Any]:
        model = build(config).setup.model
        net = _emulator_net(config.ml_resolved, jax.random.key(config.experiment.seed))
        return {"emulator": Emulator(net, model.dt, mode="tendency",
                                     state_size=model.state_size)}


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
    statistics = {stat: finite(window.variant(v).rmse) for v, stat in names.items()}
    statistics.update(
        ratio_emulator_gradient=finite(window.ratio_emulator_gradient),
        ratio_emulator=finite(window.ratio_emulator),
        jacobian_error=finite(errors.jacobian_error),
        one_step_rmse=finite(errors.one_step_rmse),
    )
    ci95 = dict.fromkeys(statistics)
    for v, stat in names.items():
        ci95[stat] = finite(window.variant(v).rmse_ci)
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


def _windows_dataset(config: Config, outcome: HybridOutcome, provenance):
    """The per-window analysis RMSEs of the 4D-Var variants (no time series)."""
    h = config.hybrid
    variables = {k: v for k, v in outcome.arrays.items() if k.endswith("_per_window")}
    scored = next(iter(variables.values())).shape[1]
    return rio.add_variables(
        None, variables,
        coords={_names.WINDOW: h.burn_in_windows + np.arange(scored)},
        global_attrs={**provenance, "burn_in_windows": h.burn_in_windows, "window_steps": h.window},
    )


def _emulator_net(ml, key):
    """The untrained ``[ml]`` network of ``emulator_4dvar``, from ``fold_in(key, 1)``."""
    if ml.network == "deep_emulator_cnn":
        return DeepEmulatorCNN(key=jax.random.fold_in(key, 1), ks3_widths=ml.widths)
    return BrajardCNN(key=jax.random.fold_in(key, 1), bilinear_filters=ml.widths[0],
                      hidden_filters=tuple(ml.widths[1:]))

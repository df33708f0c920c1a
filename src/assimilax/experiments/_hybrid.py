"""A config with a ``[hybrid]`` section, run: twin, network, hybrid method, statistics.

:func:`run_hybrid` turns a validated :class:`Config` into the core call of its hybrid
method (:func:`assimilax.hybrid.iterative_emulation` or
:func:`assimilax.hybrid.emulator_4dvar`) and reduces the outcome to named scalar
statistics (what preset claims are about), human-readable notes, JSON details and arrays
for ``results.nc``. Both ``assimilax run`` and ``assimilax reproduce`` go through it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from .. import hybrid
from ..ml.nets import BrajardCNN
from ._build import build
from ._config import Config, Emulator4DVarConfig, IterativeEmulationConfig
from ._twin import simulate_twin, twin_keys

HYBRID_STATISTICS = {
    "iterative_emulation": (
        "rmse_interpolation", "rmse_analysis", "spread_analysis", "rmse_first_iteration",
        "valid_time", "climatology_std_error", "climatology_spectrum_error",
    ),
    "emulator_4dvar": (
        "rmse_true_adjoint", "rmse_emulator_gradient", "rmse_emulator",
        "ratio_emulator_gradient", "ratio_emulator", "jacobian_error", "one_step_rmse",
    ),
}
"""The scalar statistics each hybrid method reports (see :func:`run_hybrid`)."""


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
    """

    statistics: dict[str, float | None]
    ci95: dict[str, float | None]
    notes: list[str]
    details: dict[str, Any]
    arrays: dict[str, np.ndarray]
    seconds: float = 0.0


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
        checkpoint: a directory for the iterations of ``iterative_emulation`` (resume).

    Returns:
        :class:`HybridOutcome`.
    """
    import time

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


def _iterative(config: Config, *, progress, log, checkpoint) -> HybridOutcome:
    h: IterativeEmulationConfig = config.hybrid
    ml = config.ml_resolved
    exp = config.experiment
    setup = build(config)
    key = jax.random.key(exp.seed)
    twin = _simulate(
        setup.truth_model, setup.operator, setup.noise, cycles=exp.cycles, every_steps=1,
        ensemble_size=config.method.ensemble_size, key=key,
        spinup_steps=setup.spinup_steps, initial_std=exp.initial_std,
    )
    net = None
    if ml.network == "deep_emulator_cnn":
        net = hybrid.DeepEmulatorCNN(key=jax.random.fold_in(key, 1), ks3_widths=ml.widths)
    result = hybrid.iterative_emulation(
        twin.observations, key=twin_keys(key)["assimilation"], dt=config.model.dt,
        iterations=h.iterations, net=net, widths=tuple(ml.widths), method=setup.method,
        ensemble_size=config.method.ensemble_size, model_noise_std=h.model_noise_std,
        epochs_first=h.epochs_first, epochs=ml.epochs, batch_size=ml.batch_size,
        learning_rate=ml.learning_rate, ridge=ml.ridge, variance_floor=h.variance_floor,
        weighting="variance" if ml.loss == "variance_weighted" else "uniform",
        validation_fraction=ml.validation_fraction, truth=twin.truth, burn_in=exp.burn_in,
        model=setup.model, skill_every=h.skill_every,
        skill_options={"n_cases": h.forecast_cases, "threshold": h.valid_threshold,
                       "lyapunov_exponent": h.lyapunov_exponent},
        checkpoint=checkpoint, progress=progress, log=log,
    )
    records = result.iterations
    skill = result.skill or {}
    last = records[-1]
    clim = skill.get("climatology_error", {})
    statistics = {
        "rmse_interpolation": _finite(result.rmse_interpolation),
        "rmse_analysis": _finite(last.rmse_analysis),
        "spread_analysis": _finite(last.spread_analysis),
        "rmse_first_iteration": _finite(records[0].rmse_analysis),
        "valid_time": _finite(skill.get("valid_time")),
        "climatology_std_error": _finite(clim.get("std")),
        "climatology_spectrum_error": _finite(clim.get("spectrum")),
    }
    path = " → ".join(f"{v:.2f}" for v in
                      [result.rmse_interpolation, *(r.rmse_analysis for r in records)])
    notes = [
        f"analysis RMSE from the interpolation through the {len(records)} iterations: {path}",
        f"surrogate: valid time {statistics['valid_time'] or float('nan'):.2f} Lyapunov times "
        f"(forecast RMSE > {h.valid_threshold:g} × σ_clim = "
        f"{h.valid_threshold * skill.get('sigma_clim', float('nan')):.2f}); long-run std "
        f"{skill.get('surrogate_std', float('nan')):.2f} against the truth's "
        f"{skill.get('true_std', float('nan')):.2f}, spectrum error "
        f"{100 * (statistics['climatology_spectrum_error'] or float('nan')):.0f} %",
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
        "surrogate_forecast_rmse": np.asarray(skill.get("forecast_rmse", []), float),
        "lead_time": np.asarray(skill.get("lead_times", []), float),
    }
    details = {"hybrid": "iterative_emulation", **result.summary()}
    ci95 = dict.fromkeys(statistics)
    return HybridOutcome(statistics, ci95, notes, details, arrays)


_EMULATORS: dict[str, tuple[Any, Any]] = {}
"""The last emulator trained by :func:`_emulator_4dvar`, by its training settings."""


def _emulator_4dvar(config: Config, *, progress, log) -> HybridOutcome:
    h: Emulator4DVarConfig = config.hybrid
    ml = config.ml_resolved
    model, obs = config.model, config.observations
    key = jax.random.key(config.experiment.seed)
    net = None
    if ml.network == "deep_emulator_cnn":
        net = hybrid.DeepEmulatorCNN(key=jax.random.fold_in(key, 1), ks3_widths=ml.widths)
    else:
        net = BrajardCNN(key=jax.random.fold_in(key, 1), bilinear_filters=ml.widths[0],
                         hidden_filters=tuple(ml.widths[1:]))
    # Members of a preset that differ only in the window share one trained emulator.
    cache_key = json.dumps([ml.model_dump(), model.model_dump(), h.training_samples,
                            config.experiment.seed], sort_keys=True)
    emulator, history = _EMULATORS.get(cache_key, (None, None))
    out = hybrid.emulator_4dvar(
        emulator=emulator, key=key, window_lengths=(h.window,), n_windows=h.windows,
        n_trials=h.trials,
        burn_in=h.burn_in_windows, n_train=h.training_samples, epochs=ml.epochs,
        batch_size=ml.batch_size, learning_rate=ml.learning_rate,
        validation_fraction=ml.validation_fraction, net=net,
        max_iterations=h.max_iterations, sigma=obs.noise_std, period=obs.stride,
        n=model.n, forcing=model.forcing, dt=model.dt, n_jacobian_states=h.jacobian_states,
        progress=progress,
    )
    if emulator is None:
        _EMULATORS.clear()
        _EMULATORS[cache_key] = (out["emulator"], out["history"])
    else:
        out["history"] = history
    window = out["windows"][h.window]
    names = {"true": "rmse_true_adjoint", "emulator_gradient": "rmse_emulator_gradient",
             "emulator": "rmse_emulator"}
    statistics = {stat: _finite(window[v]["rmse"]) for v, stat in names.items()}
    statistics.update(
        ratio_emulator_gradient=_finite(window["ratio_emulator_gradient"]),
        ratio_emulator=_finite(window["ratio_emulator"]),
        jacobian_error=_finite(out["jacobian_error"]),
        one_step_rmse=_finite(out["one_step_rmse"]),
    )
    ci95 = dict.fromkeys(statistics)
    for v, stat in names.items():
        ci95[stat] = _finite(window[v]["rmse_ci"])
    rmse = {v: window[v]["rmse"] for v in names}
    notes = [
        f"window {h.window}: analysis RMSE at the window start, exact adjoint "
        f"{rmse['true']:.3f}, emulator gradients {rmse['emulator_gradient']:.3f} "
        f"(ratio {window['ratio_emulator_gradient']:.3f}), emulator throughout "
        f"{rmse['emulator']:.3f} (ratio {window['ratio_emulator']:.3f})",
        f"emulator: Jacobian error {100 * out['jacobian_error']:.1f} % (relative Frobenius), "
        f"one-step RMSE {out['one_step_rmse']:.2e}",
    ]
    arrays = {f"{stat}_per_window": np.asarray(window[v]["per_window"], float)
              for v, stat in names.items()}
    details = {
        "hybrid": "emulator_4dvar",
        "window": {k: ({kk: vv for kk, vv in v.items() if kk != "per_window"}
                       if isinstance(v, dict) else v) for k, v in window.items()},
        "jacobian_error": out["jacobian_error"],
        "one_step_rmse": out["one_step_rmse"],
        "history": out["history"],
        "seconds": out["seconds"],
        "settings": out["settings"],
    }
    return HybridOutcome(statistics, ci95, notes, details, arrays)

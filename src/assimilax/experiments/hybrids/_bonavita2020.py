"""``[hybrid] name = "bonavita2020"``: Bonavita & Laloyaux (2020), a network learns the
model-error tendency from the increments of strong-constraint 4D-Var and serves as the
forcing prior of weak-constraint 4D-Var; four variants on one biased twin.

1. Training twin (seed ``seed + TRAINING_SEED_OFFSET``, ``[hybrid] training_cycles``
   observation times): strong-constraint 4D-Var with the ``[model]``;
   :func:`~assimilax.hybrid.increment_tendencies` turns its increments into tendencies,
   $\\hat\\eta_k = G_k^{-1}(x^a_k(t_1) - x^b_k(t_1))$ ($G_k$: the forecast's
   tangent-linear response to a constant forcing over the window; ``[hybrid]
   tendency_from = "window_length"``: $G_k = T I$), and
   :func:`~assimilax.hybrid.fit_forcing` trains $g: x^b_k(t_0) \\mapsto \\hat\\eta_k$.
2. Evaluation twin (the config's own seed and ``[experiment] cycles``: the twin that
   ``assimilax run`` of the ``[method]`` alone would assimilate), four variants:
   ``strong`` (4D-Var, the model), ``weak_cycled`` (the ``[method]``: weak-constraint
   4D-Var, the analysed forcing cycled as the next window's prior), ``weak_nn`` (the same
   with $\\eta_b = g(x_b)$), ``strong_nn`` (4D-Var with ``Corrected(model, g,
   "tendency")``). Scores after ``[experiment] burn_in``: analysis RMSE (every
   observation time of the analysis trajectories), the first guess's RMSE at
   ``[hybrid] forecast_lead`` after the window start, and the time-mean first-guess bias
   (the spatial mean of $x^f - x^t$ over every first-guess time).
3. The network against the true model-error tendency $P f^t(x^t) - f(P x^t)$ on
   :data:`SKILL_STATES` fresh true states (:func:`~assimilax.hybrid.forcing_skill`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ... import hybrid
from ... import io as rio
from ...da import Save, assimilate
from ...da.variational import Var4D
from ...metrics import time_mean_ci
from ...ml import Corrected
from ...models import forecast, rollout
from .._build import build
from .._simulate import simulate_setup
from .._twin import climatological_rms
from ..config import Bonavita2020Config, Config
from ._recipe import HybridOutcome, HybridRecipe, Statistic, finite, register_recipe

_names = rio.names

VARIANTS = ("strong", "weak_cycled", "weak_nn", "strong_nn")
"""The four 4D-Var variants, in table order."""

_LABELS = {"strong": "strong 4D-Var", "weak_cycled": "weak 4D-Var, cycled prior",
           "weak_nn": "weak 4D-Var, NN prior", "strong_nn": "strong 4D-Var, NN-corrected"}

TRAINING_SEED_OFFSET = 10_000
"""The training twin's seed is the config's plus this (independent of every evaluation
twin of seeds below it)."""

SKILL_STATES = 1000
"""Fresh true states (one observation interval apart) of the network's skill test."""


def _statistics() -> dict[str, Statistic]:
    stats: dict[str, Statistic] = {}
    for v in VARIANTS:
        stats[f"rmse_analysis_{v}"] = Statistic(
            f"time-mean analysis RMSE, {_LABELS[v]}", "state units",
            f"analysis RMSE, {_LABELS[v]}")
    for v in VARIANTS:
        stats[f"rmse_forecast_lead_{v}"] = Statistic(
            f"time-mean RMSE of the first guess at [hybrid] forecast_lead, {_LABELS[v]}",
            "state units", f"forecast RMSE at the lead, {_LABELS[v]}")
    for v in VARIANTS:
        stats[f"bias_first_guess_{v}"] = Statistic(
            f"time-mean first-guess bias (spatial mean of first guess - truth), {_LABELS[v]}",
            "state units", f"first-guess bias, {_LABELS[v]}")
    stats.update({
        "ratio_weak_cycled": Statistic(
            "rmse_analysis_weak_cycled / rmse_analysis_strong", "1",
            "analysis RMSE ratio, weak cycled / strong"),
        "ratio_weak_nn": Statistic(
            "rmse_analysis_weak_nn / rmse_analysis_strong", "1",
            "analysis RMSE ratio, weak NN / strong"),
        "bias_reduction_nn": Statistic(
            "|bias_first_guess_weak_cycled| - |bias_first_guess_weak_nn| (> 0: the NN prior "
            "has the smaller absolute first-guess bias)", "state units",
            "|fg bias| cycled - |fg bias| NN prior"),
        "forcing_mean_cycled": Statistic(
            "time-mean analysed forcing of weak_cycled (spatial mean)", "state units per "
            "time unit", "analysed forcing, cycled (mean)"),
        "forcing_mean_network": Statistic(
            "mean of the network's tendency on fresh true states", "state units per time "
            "unit", "network tendency (mean)"),
        "forcing_mean_true": Statistic(
            "mean of the true model-error tendency on those states", "state units per time "
            "unit", "true model-error tendency (mean)"),
        "forcing_correlation": Statistic(
            "correlation of the network's tendency with the true model-error tendency",
            "1", "network vs true tendency: correlation"),
        "forcing_slope": Statistic(
            "least-squares slope of the network's tendency on the true one", "1",
            "network vs true tendency: slope"),
    })
    return stats


STATISTICS = _statistics()
"""What ``bonavita2020`` reports."""


@eqx.filter_jit
def _true_states(truth_model, key, spinup_steps: int, n: int, every: int):
    x = forecast(truth_model, truth_model.initial_condition(key), spinup_steps)
    return rollout(truth_model, x, n, every=every)


_run = eqx.filter_jit(assimilate)


def bonavita2020_experiment(config: Config, *, progress: bool = False,
                            log=None) -> dict[str, Any]:
    """The experiment of a ``bonavita2020`` config (float64 must be on): the steps of the
    module docstring. Returns a dict of the trained network, its history and skill, each
    variant's series and the run's timings."""
    h: Bonavita2020Config = config.hybrid
    ml = config.ml_resolved
    exp = config.experiment
    xp = build(config)
    setup, weak = xp.setup, xp.method
    model, L = setup.model, weak.window
    interval = setup.interval
    strong = Var4D(weak.background, window=L, solver=weak.solver)
    key = jax.random.key(exp.seed)
    k_net, k_fit, k_skill = jax.random.split(jax.random.fold_in(key, 1), 3)
    burn_windows = math.ceil(exp.burn_in / L)
    save = Save(spread=False, rank_counts=False)
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    train_setup = dataclasses.replace(setup, seed=exp.seed + TRAINING_SEED_OFFSET,
                                      cycles=h.training_cycles)
    twin, obs = simulate_setup(train_setup)
    res = _run(model, obs, strong, twin.ensemble0, key=key, truth=twin.truth, save=save)
    linear = h.tendency_from == "tangent_linear"
    inputs, targets = hybrid.increment_tendencies(
        res.mean_analysis, res.mean_forecast, L, interval, burn_in_windows=burn_windows,
        model=model if linear else None, every_steps=setup.every_steps)
    rmse_training = float(np.mean(np.asarray(res.series["rmse_analysis"])[exp.burn_in:]))
    seconds["training_da"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    net = hybrid.forcing_network(ml.widths, key=k_net)
    net, history = hybrid.fit_forcing(
        net, inputs, targets, key=k_fit, epochs=ml.epochs, batch_size=ml.batch_size,
        learning_rate=ml.learning_rate, validation_fraction=ml.validation_fraction,
        progress=progress)
    seconds["training"] = time.perf_counter() - t0
    if log is not None:
        log(f"network trained on {inputs.shape[0]} increments of strong 4D-Var (analysis "
            f"RMSE {rmse_training:.3f})")

    t0 = time.perf_counter()
    full = _true_states(setup.truth_model, k_skill, setup.spinup_steps, SKILL_STATES,
                        setup.truth_every_steps)
    states, eta = hybrid.true_forcing_error(setup.truth_model, model, full)
    skill = hybrid.forcing_skill(net, states, eta)
    seconds["skill"] = time.perf_counter() - t0

    twin, obs = simulate_setup(setup)
    truth = np.asarray(twin.truth)
    runs = {
        "strong": (model, strong),
        "weak_cycled": (model, weak),
        "weak_nn": (model, hybrid.with_forcing_prior(weak, net)),
        "strong_nn": (Corrected(model, net, mode="tendency"), strong),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, (m, method) in runs.items():
        t0 = time.perf_counter()
        res = _run(m, obs, method, twin.ensemble0, key=key, truth=twin.truth, save=save)
        out[name] = _scores(res, truth, L, exp.burn_in, h.lead_rows(config))
        seconds[name] = time.perf_counter() - t0
        if log is not None:
            log(f"{_LABELS[name]}: analysis RMSE {out[name]['rmse_analysis'][0]:.3f}, "
                f"first-guess bias {out[name]['bias'][0]:+.4f}")
    return {"net": net, "history": history, "skill": skill, "variants": out,
            "rmse_training": rmse_training, "samples": int(inputs.shape[0]),
            "seconds": seconds, "interval": interval, "window": L, "truth": truth,
            "every_steps": setup.every_steps}


def _scores(res, truth: np.ndarray, window: int, burn_in: int, lead_row: int) -> dict:
    """One variant's scores: ``(mean, 95 % half-width)`` of the analysis RMSE, of the
    first guess's RMSE at ``lead_row`` of each window and of the first-guess bias, after
    ``burn_in`` rows; the first-guess RMSE per window row, and the analysed forcing."""
    ra = np.asarray(res.series["rmse_analysis"], float)
    rf = np.asarray(res.series["rmse_forecast"], float)
    bias_t = np.mean(np.asarray(res.mean_forecast, float) - truth, axis=-1)
    rows = np.arange(ra.shape[0])
    at_lead = rf[(rows >= burn_in) & (rows % window == lead_row)]
    after = rf[burn_in:]
    whole = (after.shape[0] // window) * window
    per_row = after[:whole].reshape(-1, window)
    forcing = res.series.get("forcing")
    return {
        "rmse_analysis": time_mean_ci(ra, burn_in=burn_in),
        "rmse_forecast_lead": time_mean_ci(at_lead),
        "bias": time_mean_ci(bias_t, burn_in=burn_in),
        "forecast_by_lead": per_row.mean(0),
        "forecast_by_lead_ci95": 1.96 * per_row.std(0, ddof=1) / math.sqrt(per_row.shape[0]),
        "rmse_analysis_series": ra,
        "rmse_forecast_series": rf,
        "analysis_mean": np.asarray(res.mean_analysis, float),
        "forcing_mean": (None if forcing is None
                         else float(np.mean(np.asarray(forcing)[burn_in:]))),
    }


@register_recipe("bonavita2020")
class Bonavita2020Recipe(HybridRecipe):
    """Bonavita & Laloyaux (2020): :func:`bonavita2020_experiment`, four 4D-Var variants
    on one biased twin (``rmse_analysis`` of the run's summary: the weak NN-prior's)."""

    statistics = STATISTICS
    score = "rmse_analysis_weak_nn"

    def run(self, config: Config, *, progress, log, checkpoint) -> HybridOutcome:
        return _bonavita2020(config, progress=progress, log=log)

    def dataset(self, config: Config, outcome: HybridOutcome, attrs):
        """The weak NN-prior run as a plain run's dataset (its analysis and first-guess
        RMSE, analysis mean and truth), plus every variant's first-guess RMSE by lead and
        analysis RMSE over time."""
        a = outcome.arrays
        setup = build(config).setup
        base = rio.results_dataset(
            time=a["time"], cycle=np.arange(a["time"].shape[0]),
            position=np.asarray(setup.model.grid.coords),
            series={k: a[k] for k in ("rmse_analysis", "rmse_forecast")},
            fields={k: a[k] for k in ("analysis_mean", "truth")},
            attrs={**attrs, "burn_in": config.experiment.burn_in,
                   "climatological_rms": float(climatological_rms(a["truth"])),
                   "resumed_at_cycle": -1, "variant_of_the_series": "weak_nn"})
        return rio.add_variables(
            base, {k: a[k] for k in ("variant_forecast_error", "variant_forecast_error_ci95",
                                     "variant_rmse_analysis")},
            coords={_names.VARIANT: np.asarray(VARIANTS),
                    _names.LEAD: a["lead"], _names.LEAD_TIME: a["lead_time"]},
            attrs={"variant_forecast_error": {
                "long_name_short": "first-guess RMSE",
                "description": "RMSE of the first guess (background trajectory) at each "
                "observation time of the window, a forecast from the previous window's "
                "analysis"}},
            global_attrs={**attrs, "window": config.method.window,
                          "burn_in": config.experiment.burn_in},
            lead_time_units="model time units")

    def networks(self, config: Config) -> dict[str, Any]:
        key = jax.random.fold_in(jax.random.key(config.experiment.seed), 1)
        k_net = jax.random.split(key, 3)[0]
        return {"forcing": hybrid.forcing_network(config.ml_resolved.widths, key=k_net)}


def _bonavita2020(config: Config, *, progress, log) -> HybridOutcome:
    h: Bonavita2020Config = config.hybrid
    out = bonavita2020_experiment(config, progress=progress, log=log)
    v, skill = out["variants"], out["skill"]
    stats: dict[str, float | None] = {}
    ci95: dict[str, float | None] = {}
    for name in VARIANTS:
        for stat, key in (("rmse_analysis", "rmse_analysis"),
                          ("rmse_forecast_lead", "rmse_forecast_lead"),
                          ("bias_first_guess", "bias")):
            mean, half = v[name][key]
            stats[f"{stat}_{name}"], ci95[f"{stat}_{name}"] = finite(mean), finite(half)
    strong = v["strong"]["rmse_analysis"][0]
    stats["ratio_weak_cycled"] = finite(v["weak_cycled"]["rmse_analysis"][0] / strong)
    stats["ratio_weak_nn"] = finite(v["weak_nn"]["rmse_analysis"][0] / strong)
    stats["bias_reduction_nn"] = finite(abs(v["weak_cycled"]["bias"][0])
                                        - abs(v["weak_nn"]["bias"][0]))
    stats["forcing_mean_cycled"] = finite(v["weak_cycled"]["forcing_mean"])
    stats["forcing_mean_network"] = finite(skill.mean_network)
    stats["forcing_mean_true"] = finite(skill.mean_true)
    stats["forcing_correlation"] = finite(skill.correlation)
    stats["forcing_slope"] = finite(skill.slope)
    for key in ("ratio_weak_cycled", "ratio_weak_nn", "bias_reduction_nn",
                "forcing_mean_cycled", "forcing_mean_network", "forcing_mean_true",
                "forcing_correlation", "forcing_slope"):
        ci95[key] = None
    nan = math.nan
    notes = [
        "analysis RMSE: " + ", ".join(
            f"{_LABELS[n]} {stats[f'rmse_analysis_{n}'] or nan:.3f}" for n in VARIANTS),
        f"first-guess RMSE at {h.forecast_lead:g} time units: " + ", ".join(
            f"{_LABELS[n]} {stats[f'rmse_forecast_lead_{n}'] or nan:.3f}" for n in VARIANTS),
        "time-mean first-guess bias: " + ", ".join(
            f"{_LABELS[n]} {stats[f'bias_first_guess_{n}'] or nan:+.4f}" for n in VARIANTS),
        f"network on {SKILL_STATES} true states: correlation {skill.correlation:.2f} with "
        f"the true model-error tendency, slope {skill.slope:.2f}, mean {skill.mean_network:+.2f}"
        f" against {skill.mean_true:+.2f} (cycled analysed forcing "
        f"{stats['forcing_mean_cycled'] or nan:+.2f}); RMSE {skill.rmse:.2f} against "
        f"{skill.rmse_mean_only:.2f} for the best constant",
    ]
    L, every, dt = out["window"], out["every_steps"], out["interval"]
    arrays = {
        "variant_forecast_error": np.stack([v[n]["forecast_by_lead"] for n in VARIANTS]),
        "variant_forecast_error_ci95": np.stack([v[n]["forecast_by_lead_ci95"]
                                                 for n in VARIANTS]),
        "variant_rmse_analysis": np.stack([v[n]["rmse_analysis_series"] for n in VARIANTS]),
        "rmse_analysis": v["weak_nn"]["rmse_analysis_series"],
        "rmse_forecast": v["weak_nn"]["rmse_forecast_series"],
        "analysis_mean": v["weak_nn"]["analysis_mean"],
        "truth": out["truth"],
        "lead": (np.arange(L) + 1) * every,
        "lead_time": (np.arange(L) + 1) * dt,
        "time": (np.arange(v["strong"]["rmse_analysis_series"].shape[0]) + 1) * dt,
    }
    details = {
        "hybrid": "bonavita2020",
        "variants": list(VARIANTS),
        "labels": {k: s.label for k, s in STATISTICS.items()},
        "skill": skill.to_dict(),
        "history": out["history"].to_dict(),
        "training": {"samples": out["samples"], "rmse_analysis": out["rmse_training"],
                     "cycles": h.training_cycles},
        "forecast_by_lead": {n: v[n]["forecast_by_lead"].tolist() for n in VARIANTS},
        "lead_time": arrays["lead_time"].tolist(),
        "seconds": out["seconds"],
    }
    return HybridOutcome(stats, ci95, notes, details, arrays, networks={"forcing": out["net"]})

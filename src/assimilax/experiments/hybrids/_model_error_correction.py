"""``[hybrid] name = "model_error_correction"``: Farchi, Bocquet, Laloyaux, Bonavita &
Malartic (2021), a physical model's error learned from 4D-Var, as a resolvent or a
tendency correction, offline (from the analyses) or online (inside 4D-Var), and scored on
an independent twin.

1. Training twin (``[experiment] cycles`` observation times, the run's seed): strong
   4D-Var with the physical ``[model]``; the analyses at the ends of consecutive windows
   are the training pairs (:func:`~assimilax.hybrid.analysis_pairs`).
2. Offline: for each mode, the ``[ml]`` network trained so that the corrected model
   forecasts the next pair member (:func:`~assimilax.hybrid.fit_correction`).
3. Online: for each mode, :class:`~assimilax.hybrid.OnlineVar4D` over the same training
   observations, from the untrained network (output layer zero: no correction) as
   $\\theta_b$ of the first window; its last analysed $\\theta$ is the learned correction.
4. Test twin (``[hybrid] test_cycles``, key ``fold_in(key(seed), 1)``): strong 4D-Var
   with each of the five models (physical; offline and online, resolvent and tendency)
   and free forecasts of each from ``forecast_cases`` true states.

Forecast errors are relative RMSEs $R(t) = \\mathrm{RMSE}(t) / (\\sqrt2\\,\\sigma_{clim})$
(1 for two independent climatological states), $\\sigma_{clim}$ the test truth's
climatological RMS about its time mean.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ... import hybrid
from ... import io as rio
from ...da import assimilate
from ...metrics import time_mean_ci
from ...ml import Corrected
from ...ml.nets import PeriodicCNN
from .._build import build
from .._simulate import simulate_setup
from .._twin import climatological_rms
from ..config import Config, ModelErrorCorrectionConfig
from ._recipe import HybridOutcome, HybridRecipe, Statistic, finite, register_recipe

_names = rio.names

MODES = ("resolvent", "tendency")
VARIANTS = ("physical", "offline_resolvent", "offline_tendency", "online_resolvent",
            "online_tendency")
"""The five models compared, in the order of the results' ``variant`` dimension."""
_LABELS = {v: v.replace("_", " ") for v in VARIANTS}


def modes_of(modes) -> list[str]:
    """The corrections of ``[hybrid] modes``, in the order of :data:`MODES`."""
    return [m for m in MODES if m in modes]


def variants_of(modes) -> list[str]:
    """The variants of the corrections ``modes`` learns, in the order of :data:`VARIANTS`."""
    return [v for v in VARIANTS if v == "physical" or v.split("_", 1)[1] in modes]


def _statistics() -> dict[str, Statistic]:
    stats: dict[str, Statistic] = {}
    for v in VARIANTS:
        stats[f"rmse_analysis_{v}"] = Statistic(
            f"time-mean analysis RMSE of strong 4D-Var with the {_LABELS[v]} model on the "
            "test twin", "state units", f"analysis RMSE, {_LABELS[v]}")
    for v in VARIANTS:
        stats[f"forecast_error_{v}"] = Statistic(
            f"relative forecast RMSE of the {_LABELS[v]} model at score_lead", "1",
            f"forecast rel. RMSE at score lead, {_LABELS[v]}")
    for v in VARIANTS[1:]:
        stats[f"forecast_gain_{v}"] = Statistic(
            f"1 - forecast_error_{v} / forecast_error_physical", "1",
            f"forecast gain at score lead, {_LABELS[v]}")
    for stage in ("offline", "online"):
        stats[f"tendency_minus_resolvent_{stage}"] = Statistic(
            f"rmse_analysis_{stage}_tendency - rmse_analysis_{stage}_resolvent",
            "state units", f"analysis RMSE, {stage}: tendency - resolvent")
    for mode in MODES:
        stats[f"online_share_{mode}"] = Statistic(
            f"(rmse_analysis_physical - rmse_analysis_online_{mode}) / (rmse_analysis_physical"
            f" - rmse_analysis_offline_{mode}): the share of the offline gain online learning "
            "reaches", "1", f"online / offline analysis gain, {mode}")
    stats["rmse_analysis_training"] = Statistic(
        "time-mean analysis RMSE of the physical 4D-Var on the training twin", "state units",
        "analysis RMSE, training run")
    return stats


STATISTICS = _statistics()
"""What ``model_error_correction`` reports."""


class InputScaled(eqx.Module):
    r"""A correction network on standardised inputs with a fixed output scale:
    $x \mapsto s\,\mathrm{net}((x - \mu)/\sigma)$. The constants pass through
    ``stop_gradient``: neither training nor online learning moves them (in
    :class:`~assimilax.hybrid.OnlineVar4D` their prior term alone keeps them where they
    are), and they are saved with the network.

    Attributes:
        net: ``(state,) -> (state,)``.
        mean, std: $\mu$, $\sigma$ of the inputs (state units), scalars.
        scale: $s$, the output's units (tendency units, or state units per step).
    """

    net: eqx.Module
    mean: Array
    std: Array
    scale: Array

    def __init__(self, net, mean, std, scale):
        self.net = net
        self.mean, self.std, self.scale = (jnp.asarray(v, jnp.float64)
                                           for v in (mean, std, scale))

    def __call__(self, x, *, key=None):
        sg = jax.lax.stop_gradient
        return sg(self.scale) * self.net((x - sg(self.mean)) / sg(self.std))


def correction_net(ml, *, key, mean: float, std: float, scale: float) -> InputScaled:
    """The untrained correction: a ``periodic_cnn`` of ``ml.widths`` (kernel 5, tanh,
    float64) whose output layer is zero (the corrected model starts as the physical one),
    in :class:`InputScaled`."""
    net = PeriodicCNN(ml.widths, 5, key=key, activation=jnp.tanh, dtype=jnp.float64)
    last = net.layers[-1]
    zeroed = jax.tree.map(jnp.zeros_like, last)
    net = eqx.tree_at(lambda n: n.layers[-1], net, zeroed)
    return InputScaled(net, mean, std, scale)


def model_error_experiment(config: Config, *, progress: bool = False,
                           log=None) -> dict[str, Any]:
    """The experiment of a ``model_error_correction`` config, end to end (float64 on).

    Returns:
        A dict with ``statistics``, ``ci95`` (of the analysis RMSEs: AR(1) time-mean
        intervals), ``forecast`` and ``forecast_ci95`` ``(variant, lead)``,
        ``lead_time``, ``rmse_analysis`` ``(variant, time)``, ``time``, ``networks``,
        ``histories``, ``seconds``, ``scales``, ``rmse_training`` (the physical 4D-Var's
        analysis RMSE over the training record).
    """
    h: ModelErrorCorrectionConfig = config.hybrid
    ml = config.ml_resolved
    exp = build(config)
    setup, var4d = exp.setup, exp.method
    model = setup.model
    window = config.method.window
    every = setup.every_steps
    steps = window * every
    key = jax.random.key(config.experiment.seed)
    k_twin, k_test, k_net, k_fit = (jax.random.fold_in(key, i) for i in range(4))
    say = log or (lambda _: None)
    seconds: dict[str, float] = {}
    modes = modes_of(h.modes)
    variants = variants_of(modes)

    def run_da(m, method, twin, obs):
        res = assimilate(m, obs, method, twin.ensemble0, key=k_twin, truth=twin.truth)
        return res, np.asarray(res.series["rmse_analysis"])

    # 1. The physical 4D-Var on the training twin.
    t0 = time.perf_counter()
    twin, obs = simulate_setup(setup, key=k_twin)
    res, rmse_train = run_da(model, var4d, twin, obs)
    analysis = res.mean_analysis
    inputs, targets = hybrid.analysis_pairs(analysis, window)
    seconds["training_da"] = time.perf_counter() - t0
    burn = h.burn_in_windows * window
    say(f"training 4D-Var (physical model): analysis RMSE "
        f"{np.mean(rmse_train[burn:]):.3f}, {inputs.shape[0]} training pairs")

    # The scales: inputs by the analyses' climatology; outputs by the size of the model
    # error the pairs show (tendency units; per step for the resolvent).
    mean, std = float(jnp.mean(analysis)), float(jnp.std(analysis))
    error = (targets - hybrid.free_forecasts(model, inputs, 1, steps)[:, 0]) / (steps * model.dt)
    tendency_scale = float(jnp.std(error))
    scales = {"resolvent": tendency_scale * model.dt, "tendency": tendency_scale}
    nets = {m: correction_net(ml, key=k_net, mean=mean, std=std, scale=scales[m])
            for m in modes}

    # 2. Offline.
    corrections: dict[str, Any] = {}
    histories: dict[str, Any] = {}
    for mode in modes:
        t0 = time.perf_counter()
        net, history = hybrid.fit_correction(
            model, nets[mode], mode, inputs, targets, steps, key=k_fit, epochs=ml.epochs,
            batch_size=ml.batch_size, learning_rate=ml.learning_rate,
            validation_fraction=ml.validation_fraction, progress=progress)
        corrections[f"offline_{mode}"] = net
        histories[f"offline_{mode}"] = history.to_dict()
        seconds[f"offline_{mode}"] = time.perf_counter() - t0
        say(f"offline {mode}: training loss {history.train_loss[-1]:.3g} "
            f"({seconds[f'offline_{mode}']:.0f} s)")

    # 3. Online, over the training observations.
    for mode in modes:
        t0 = time.perf_counter()
        online = hybrid.OnlineVar4D(nets[mode], var4d.background, h.sigma_theta, mode=mode,
                                    window=window, solver=var4d.solver)
        res_online = assimilate(model, obs, online, twin.ensemble0, key=k_twin,
                                truth=twin.truth)
        theta = res_online.carry[1]
        if not bool(jnp.all(jnp.isfinite(theta))):
            raise FloatingPointError(
                f"model_error_correction: online learning ({mode}) gave non-finite network "
                "parameters; lower [hybrid] sigma_theta (now "
                f"{h.sigma_theta:g}) or raise [method] outer_loops")
        corrections[f"online_{mode}"] = hybrid.with_parameters(nets[mode], theta)
        seconds[f"online_{mode}"] = time.perf_counter() - t0
        inside = np.asarray(res_online.series["rmse_analysis"])
        say(f"online {mode}: analysis RMSE inside the learning run "
            f"{np.mean(inside[burn:]):.3f} ({seconds[f'online_{mode}']:.0f} s)")

    models = {"physical": model}
    for v in variants[1:]:
        models[v] = Corrected(model, corrections[v], mode=v.split("_", 1)[1])

    # 4. The test twin: DA with each model, and free forecasts from true states.
    test, test_obs = simulate_setup(dataclasses.replace(setup, cycles=h.test_cycles),
                                    key=k_test)
    truth = np.asarray(test.truth)
    lead_steps = max(1, round(h.forecast_time / setup.interval))
    score_at = max(1, round(h.score_lead / setup.interval)) - 1
    last_start = truth.shape[0] - lead_steps - 1
    if last_start < 0:
        raise ValueError("model_error_correction: [hybrid] test_cycles is shorter than one "
                         f"forecast of forecast_time = {h.forecast_time:g}; raise test_cycles "
                         f"above {lead_steps + 1}")
    starts = np.linspace(0, last_start, h.forecast_cases).round().astype(int)
    windows = starts[:, None] + 1 + np.arange(lead_steps)[None, :]
    initial, at_leads = jnp.asarray(truth[starts]), jnp.asarray(truth[windows])
    norm = math.sqrt(2.0) * float(climatological_rms(test.truth))
    rmse_test, forecast, forecast_ci = [], [], []
    for v in variants:
        t0 = time.perf_counter()
        _, r = run_da(models[v], var4d, test, test_obs)
        if not np.all(np.isfinite(r)):
            raise FloatingPointError(f"model_error_correction: 4D-Var with the {_LABELS[v]} "
                                     "model diverged (non-finite analysis) on the test twin")
        f, fc = hybrid.forecast_rmse(models[v], initial, at_leads, every)
        rmse_test.append(r)
        forecast.append(np.asarray(f) / norm)
        forecast_ci.append(np.asarray(fc) / norm)
        seconds[f"test_{v}"] = time.perf_counter() - t0
        say(f"test, {_LABELS[v]}: analysis RMSE {np.mean(r[burn:]):.3f}, forecast relative "
            f"RMSE at {h.score_lead:g} time units {forecast[-1][score_at]:.3f}")

    stats: dict[str, float | None] = dict.fromkeys(STATISTICS)
    ci95: dict[str, float | None] = dict.fromkeys(STATISTICS)
    a = {}
    for v, r in zip(variants, rmse_test, strict=True):
        a[v], half = time_mean_ci(r, burn_in=burn)
        stats[f"rmse_analysis_{v}"], ci95[f"rmse_analysis_{v}"] = finite(a[v]), finite(half)
    f_at = {v: float(f[score_at]) for v, f in zip(variants, forecast, strict=True)}
    for v, f, fc in zip(variants, forecast, forecast_ci, strict=True):
        stats[f"forecast_error_{v}"] = finite(f[score_at])
        ci95[f"forecast_error_{v}"] = finite(fc[score_at])
    for v in variants[1:]:
        stats[f"forecast_gain_{v}"] = finite(1.0 - f_at[v] / f_at["physical"])
    if len(modes) == 2:
        for stage in ("offline", "online"):
            stats[f"tendency_minus_resolvent_{stage}"] = finite(
                a[f"{stage}_tendency"] - a[f"{stage}_resolvent"])
    for mode in modes:
        gain = a["physical"] - a[f"offline_{mode}"]
        stats[f"online_share_{mode}"] = finite(
            (a["physical"] - a[f"online_{mode}"]) / gain if gain != 0 else math.nan)
    stats["rmse_analysis_training"] = finite(time_mean_ci(rmse_train, burn_in=burn)[0])
    return {
        "statistics": stats, "ci95": ci95, "forecast": np.stack(forecast),
        "forecast_ci95": np.stack(forecast_ci),
        "lead_time": setup.interval * (1 + np.arange(lead_steps)),
        "rmse_analysis": np.stack(rmse_test),
        "time": setup.interval * (1 + np.arange(truth.shape[0])),
        "variants": variants, "networks": corrections, "histories": histories,
        "seconds": seconds,
        "scales": {"input_mean": mean, "input_std": std, **scales},
        "rmse_training": rmse_train,
    }


def variant_arrays(out: dict[str, Any]) -> dict[str, Any]:
    """The results arrays of an experiment that compares models by forecasts and by DA:
    ``variant_forecast_error`` and its 95 % half-width ``(variant, lead)``,
    ``variant_rmse_analysis`` ``(variant, time)``, their coordinates, and the run's own
    record ``rmse_analysis`` (the DA with the physical model on the training twin: the
    summary's analysis RMSE after ``[experiment] burn_in``)."""
    return {"variant_forecast_error": out["forecast"],
            "variant_forecast_error_ci95": out["forecast_ci95"],
            "variant_rmse_analysis": out["rmse_analysis"],
            "lead_time": out["lead_time"], "time": out["time"],
            "rmse_analysis": out["rmse_training"]}


def variant_dataset(variants, arrays: dict[str, Any], global_attrs: dict[str, Any]):
    """The ``results.nc`` variables of :func:`variant_arrays` on the ``variant``,
    ``time`` and ``lead_time`` coordinates (lead times in model time units)."""
    rel = {"units": "1", "long_name_short": "forecast relative RMSE",
           "description": "RMSE / (sqrt(2) sigma_clim) of free forecasts from true states"}
    return rio.add_variables(
        None, {k: arrays[k] for k in ("variant_forecast_error",
                                      "variant_forecast_error_ci95",
                                      "variant_rmse_analysis")},
        coords={_names.VARIANT: np.asarray(variants), _names.TIME: arrays["time"],
                _names.LEAD_TIME: arrays["lead_time"]},
        attrs={"variant_forecast_error": rel, "variant_forecast_error_ci95": rel},
        global_attrs=global_attrs, lead_time_units="model time units")


@register_recipe("model_error_correction")
class ModelErrorCorrectionRecipe(HybridRecipe):
    """Farchi et al. (2021): :func:`model_error_experiment`, five models (physical;
    offline/online x resolvent/tendency corrections) in strong 4D-Var and in free
    forecasts on an independent twin."""

    statistics = STATISTICS
    score = "rmse_analysis_online_tendency"

    def run(self, config: Config, *, progress, log, checkpoint) -> HybridOutcome:
        out = model_error_experiment(config, progress=progress, log=log)
        s = out["statistics"]
        h = config.hybrid
        variants, modes = out["variants"], modes_of(h.modes)
        notes = [
            "analysis RMSE of strong 4D-Var on the test twin: " + ", ".join(
                f"{_LABELS[v]} {s[f'rmse_analysis_{v}'] or math.nan:.3f}" for v in variants),
            f"forecast relative RMSE at {h.score_lead:g} time units: " + ", ".join(
                f"{_LABELS[v]} {s[f'forecast_error_{v}'] or math.nan:.3f}" for v in variants),
            "online / offline analysis gain: " + ", ".join(
                f"{m} {s[f'online_share_{m}'] or math.nan:.2f}" for m in modes),
        ]
        details = {
            "hybrid": "model_error_correction",
            "variants": list(variants),
            "labels": {k: v.label for k, v in STATISTICS.items()},
            "histories": out["histories"], "seconds": out["seconds"],
            "scales": out["scales"],
            "forecast": {v: out["forecast"][i].tolist() for i, v in enumerate(variants)},
            "lead_time": out["lead_time"].tolist(),
        }
        return HybridOutcome(s, out["ci95"], notes, details, variant_arrays(out),
                             networks=out["networks"])

    def dataset(self, config: Config, outcome: HybridOutcome, attrs):
        return variant_dataset(variants_of(config.hybrid.modes), outcome.arrays,
                               {**attrs, "window": config.method.window,
                                "burn_in_windows": config.hybrid.burn_in_windows})

    def networks(self, config: Config) -> dict[str, Any]:
        ml = config.ml_resolved
        k_net = jax.random.fold_in(jax.random.key(config.experiment.seed), 2)
        modes = modes_of(config.hybrid.modes)
        net = {m: correction_net(ml, key=k_net, mean=0.0, std=1.0, scale=1.0) for m in modes}
        return {f"{stage}_{m}": net[m] for stage in ("offline", "online") for m in modes}

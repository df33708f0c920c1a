"""``[hybrid] name = "resolvent_correction"``: Farchi, Laloyaux, Bonavita & Bocquet (2021,
QJRMS), a knowledge-based model corrected by a network trained on the resolvent error of
the analyses of a DA system run with it, then used in that DA system and in forecasts.

1. Training twin (``[experiment] cycles`` observation times, the run's seed): the
   ``[method]`` ensemble filter with the physical ``[model]`` against a truth made by the
   ``[truth]`` model (other physical parameters). After ``[hybrid] burn_in`` cycles,
   consecutive analysis means are the training pairs $(x^a_k, x^a_{k+1})$, $S$ =
   ``every_steps`` model steps apart.
2. The network $\\varepsilon_\\theta$ (``[ml] field_cnn``) trained so that the corrected
   resolvent $\\mathcal M_\\theta = (\\mathrm{id} + \\varepsilon_\\theta) \\circ \\mathcal M$
   of each model step forecasts the next analysis,
   $\\min_\\theta \\sum_k \\|\\mathcal M_\\theta^S(x^a_k) - x^a_{k+1}\\|^2$
   (:func:`~assimilax.hybrid.fit_correction`, resolvent mode; backpropagation through
   the $S$ steps, the model's adjoint by autodiff).
3. Test twin (``[hybrid] test_cycles``, key ``fold_in(key(seed), 1)``): the same filter
   with the physical and with the hybrid model (same observations, same random draws),
   and free forecasts of both from ``forecast_cases`` true states.

Forecast errors are relative RMSEs $R(t) = \\mathrm{RMSE}(t) / (\\sqrt2\\,\\sigma_{clim})$
(1 for two independent climatological states), $\\sigma_{clim}$ the test truth's
climatological RMS about its time mean. Gains are paired: the difference of the two
models' errors from the same initial state (forecasts), or at the same cycle (DA).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ... import hybrid
from ...da import assimilate
from ...metrics import time_mean_ci
from ...ml import Corrected, fit
from ...ml.nets import FieldCNN
from .._build import build
from .._simulate import simulate_setup
from .._twin import climatological_rms
from ..config import Config, ResolventCorrectionConfig
from ._model_error_correction import InputScaled, variant_arrays, variant_dataset
from ._recipe import HybridOutcome, HybridRecipe, Statistic, finite, register_recipe

VARIANTS = ("physical", "hybrid")
"""The two models compared, in the order of the results' ``variant`` dimension."""

STATISTICS: dict[str, Statistic] = {
    "rmse_analysis_physical": Statistic(
        "time-mean analysis RMSE of the filter with the physical model on the test twin "
        "(after burn_in)", "state units", "analysis RMSE, physical model"),
    "rmse_analysis_hybrid": Statistic(
        "time-mean analysis RMSE of the filter with the hybrid model on the test twin",
        "state units", "analysis RMSE, hybrid model"),
    "analysis_gain": Statistic(
        "rmse_analysis_physical - rmse_analysis_hybrid (time mean of the per-cycle "
        "difference; > 0: DA with the hybrid is better)", "state units",
        "analysis RMSE, physical - hybrid"),
    "forecast_error_physical": Statistic(
        "relative forecast RMSE of the physical model at score_lead", "1",
        "forecast rel. RMSE at score lead, physical"),
    "forecast_error_hybrid": Statistic(
        "relative forecast RMSE of the hybrid model at score_lead", "1",
        "forecast rel. RMSE at score lead, hybrid"),
    "forecast_gain": Statistic(
        "forecast_error_physical - forecast_error_hybrid at score_lead (mean of the "
        "per-case differences)", "1", "forecast rel. RMSE at score lead, physical - hybrid"),
    "hybrid_better_until": Statistic(
        "the longest lead up to which the paired forecast gain's 95 % interval is above "
        "zero at every lead (0: not even at the first)", "model time units",
        "hybrid forecasts better up to lead"),
    "rmse_analysis_training": Statistic(
        "time-mean analysis RMSE of the filter with the physical model on the training "
        "twin (after burn_in)", "state units", "analysis RMSE, training run"),
}
"""What ``resolvent_correction`` reports."""


def correction_net(model, width: int, *, key, mean: float, std: float,
                   scale: float) -> InputScaled:
    """The untrained correction: a :class:`~assimilax.ml.nets.FieldCNN` on the model's
    fields (the ``model.split(x)`` shape: ``(2, ny, nx)`` for the QG) of ``width``
    channels, output zero (the corrected model starts as the physical one), in
    :class:`InputScaled` (inputs standardised by ``mean``, ``std``; output times
    ``scale``, state units per step).

    Its fixed channels are the model's PV source fields $\\beta y$ and $\\beta y + R$
    (``model.background()``, each divided by its standard deviation): the error of a
    perturbed-depth model depends on latitude and on the orography (whose PV is
    $h / (\\mathrm{Ro}\\,H_2)$), which a translation-equivariant network alone cannot see.
    """
    shape = model.split(jnp.zeros(model.state_size)).shape
    static = model.background()
    static = static / jnp.std(static, axis=(1, 2), keepdims=True)
    net = FieldCNN(shape, width, key=key, static=static, zero_output=True)
    return InputScaled(net, mean, std, scale)


def fit_resolvent(model, net, inputs, targets, every: int, training: str, *, key, ml,
                  progress: bool = False):
    r"""Train the per-step resolvent correction $\varepsilon_\theta$ on analysis pairs
    ``(inputs, targets)`` ``(pair, state)``, ``every`` model steps apart (Adam, the
    ``[ml]`` epochs, batch size, learning rate and validation fraction).

    ``training = "unrolled"``: $\min_\theta \operatorname{mean}
    \|\mathcal M_\theta^S(x^a_k) - x^a_{k+1}\|^2$ through the $S$ corrected steps
    (:func:`~assimilax.hybrid.fit_correction`). ``"increments"``: the first-order target
    of the literature that trains on analysis increments (Brajard et al. 2021; Bonavita &
    Laloyaux 2020), $\min_\theta \operatorname{mean}\|\varepsilon_\theta(x^a_k) -
    \hat\varepsilon_k\|^2$ with $\hat\varepsilon_k = (x^a_{k+1} -
    \mathcal M^S(x^a_k)) / S$, the mean error per step; no model in the loss, so an
    epoch costs one network evaluation per pair instead of $S$ model and network steps.

    Returns:
        ``(net, history)`` (:func:`~assimilax.ml.fit`), losses in state units squared
        (per $S$ steps for ``"unrolled"``, per step for ``"increments"``).
    """
    if training == "unrolled":
        return hybrid.fit_correction(
            model, net, "resolvent", inputs, targets, every, key=key, epochs=ml.epochs,
            batch_size=ml.batch_size, learning_rate=ml.learning_rate,
            validation_fraction=ml.validation_fraction, progress=progress)
    per_step = (targets - hybrid.free_forecasts(model, inputs, 1, every)[:, 0]) / every

    def loss(n, batch):
        x, y = batch
        return jnp.mean((jax.vmap(n)(x) - y) ** 2)

    batch_size = min(ml.batch_size,
                     max(1, int(inputs.shape[0] * (1 - ml.validation_fraction))))
    return fit(net, loss, (inputs, per_step), key=key,
               optimizer=optax.adam(ml.learning_rate), epochs=ml.epochs,
               batch_size=batch_size, validation_fraction=ml.validation_fraction,
               progress=progress)


def better_until(lead_time: np.ndarray, gain: np.ndarray, half: np.ndarray) -> float:
    """The last lead of the first run of leads whose interval ``gain - half`` is above zero
    (0 when the first lead's is not)."""
    above = np.asarray(gain) - np.asarray(half) > 0
    if not above[0]:
        return 0.0
    stop = int(np.argmin(above)) if not above.all() else len(above)
    return float(lead_time[stop - 1])


def resolvent_correction_experiment(config: Config, *, progress: bool = False,
                                    log=None) -> dict[str, Any]:
    """The experiment of a ``resolvent_correction`` config, end to end (float64 on).

    Returns:
        A dict with ``statistics``, ``ci95``, ``forecast`` and ``forecast_ci95``
        ``(variant, lead)``, ``lead_time``, ``rmse_analysis`` ``(variant, time)``,
        ``time``, ``network``, ``history`` (one per iteration), ``seconds``, ``scales``,
        ``rmse_training``, ``rmse_analysis_iterations`` (the training filter's RMSE, physical
        then each iteration's hybrid).
    """
    h: ResolventCorrectionConfig = config.hybrid
    ml = config.ml_resolved
    exp = build(config)
    setup, method = exp.setup, exp.method
    model = setup.model
    every = setup.every_steps
    key = jax.random.key(config.experiment.seed)
    k_twin, k_test, k_net, k_fit, k_forecast = (jax.random.fold_in(key, i) for i in range(5))
    say = log or (lambda _: None)
    seconds: dict[str, float] = {}
    burn = h.burn_in

    def run_da(m, twin, obs, what):
        res = assimilate(m, obs, method, twin.ensemble0, key=k_twin, truth=twin.truth)
        rmse = np.asarray(res.series["rmse_analysis"])
        if not np.all(np.isfinite(rmse)):
            raise FloatingPointError(f"resolvent_correction: the filter with the {what} "
                                     "model diverged (non-finite analysis)")
        return res, rmse

    # 1. The filter with the physical model on the training twin.
    t0 = time.perf_counter()
    twin, obs = simulate_setup(setup, key=k_twin)
    res, rmse_train = run_da(model, twin, obs, "physical")
    analysis = res.mean_analysis[burn:]
    inputs, targets = analysis[:-1], analysis[1:]
    seconds["training_da"] = time.perf_counter() - t0
    say(f"training filter (physical model): analysis RMSE {np.mean(rmse_train[burn:]):.4f}, "
        f"{inputs.shape[0]} training pairs")

    # 2. The network, on standardised inputs, its output scaled by the resolvent error.
    t0 = time.perf_counter()
    mean, std = float(jnp.mean(analysis)), float(jnp.std(analysis))
    error = targets - hybrid.free_forecasts(model, inputs, 1, every)[:, 0]
    scale = float(jnp.std(error)) / every
    net = correction_net(model, ml.widths[0], key=k_net, mean=mean, std=std, scale=scale)
    net, history = fit_resolvent(model, net, inputs, targets, every, h.training, key=k_fit,
                                 ml=ml, progress=progress)
    seconds["training"] = time.perf_counter() - t0
    say(f"network: training loss {history.train_loss[0]:.3g} -> {history.train_loss[-1]:.3g}"
        f" ({seconds['training']:.0f} s)")
    histories = [history.to_dict()]
    rmse_iterations = [float(np.mean(rmse_train[burn:]))]

    # 2b. DA-ML iterations: the filter with the latest hybrid on the training twin, and the
    # network fine-tuned on its analyses (each fit starts from the previous weights).
    for it in range(2, h.iterations + 1):
        t0 = time.perf_counter()
        res, rmse_it = run_da(Corrected(model, net, mode="resolvent"), twin, obs,
                              f"iteration-{it - 1} hybrid")
        analysis = res.mean_analysis[burn:]
        net, history = fit_resolvent(model, net, analysis[:-1], analysis[1:], every,
                                     h.training, key=jax.random.fold_in(k_fit, it), ml=ml,
                                     progress=progress)
        histories.append(history.to_dict())
        rmse_iterations.append(float(np.mean(rmse_it[burn:])))
        seconds[f"iteration_{it}"] = time.perf_counter() - t0
        say(f"iteration {it}: training filter with the hybrid, analysis RMSE "
            f"{rmse_iterations[-1]:.4f}; loss {history.train_loss[0]:.3g} -> "
            f"{history.train_loss[-1]:.3g} ({seconds[f'iteration_{it}']:.0f} s)")
    models = {"physical": model, "hybrid": Corrected(model, net, mode="resolvent")}

    # 3. The test twin: the filter with each model, and free forecasts from true states.
    test, test_obs = simulate_setup(dataclasses.replace(setup, cycles=h.test_cycles),
                                    key=k_test)
    # Forecasts start from true states of a longer, independent truth run (no DA on it,
    # so it costs one member): a few test cycles would sample too little of the
    # channel's slow variability for the forecast gain.
    forecast_twin, _ = simulate_setup(dataclasses.replace(setup, cycles=h.forecast_cycles),
                                      key=k_forecast)
    truth = np.asarray(forecast_twin.truth)
    lead_steps = max(1, round(h.forecast_time / setup.interval))
    score_at = max(1, round(h.score_lead / setup.interval)) - 1
    last_start = truth.shape[0] - lead_steps - 1
    starts = np.linspace(0, last_start, h.forecast_cases).round().astype(int)
    windows = starts[:, None] + 1 + np.arange(lead_steps)[None, :]
    initial, at_leads = jnp.asarray(truth[starts]), jnp.asarray(truth[windows])
    norm = math.sqrt(2.0) * float(climatological_rms(forecast_twin.truth))
    lead_time = setup.interval * (1 + np.arange(lead_steps))
    rmse_test, errors = {}, {}
    for v in VARIANTS:
        t0 = time.perf_counter()
        _, rmse_test[v] = run_da(models[v], test, test_obs, v)
        errors[v] = np.asarray(hybrid.forecast_errors(models[v], initial, at_leads, every))
        errors[v] = errors[v] / norm  # (case, lead)
        seconds[f"test_{v}"] = time.perf_counter() - t0
        say(f"test, {v} model: analysis RMSE {np.mean(rmse_test[v][burn:]):.4f}, forecast "
            f"relative RMSE at {h.score_lead:g} time units "
            f"{np.mean(errors[v][:, score_at]):.4f}")

    forecast, forecast_ci = zip(*(map(np.asarray, hybrid.mean_and_half_width(errors[v]))
                                  for v in VARIANTS), strict=True)
    gain, gain_ci = map(np.asarray, hybrid.mean_and_half_width(
        errors["physical"] - errors["hybrid"]))
    stats: dict[str, float | None] = dict.fromkeys(STATISTICS)
    ci95: dict[str, float | None] = dict.fromkeys(STATISTICS)
    for v in VARIANTS:
        m, half = time_mean_ci(rmse_test[v], burn_in=burn)
        stats[f"rmse_analysis_{v}"], ci95[f"rmse_analysis_{v}"] = finite(m), finite(half)
    m, half = time_mean_ci(rmse_test["physical"] - rmse_test["hybrid"], burn_in=burn)
    stats["analysis_gain"], ci95["analysis_gain"] = finite(m), finite(half)
    for k, v in enumerate(VARIANTS):
        stats[f"forecast_error_{v}"] = finite(forecast[k][score_at])
        ci95[f"forecast_error_{v}"] = finite(forecast_ci[k][score_at])
    stats["forecast_gain"], ci95["forecast_gain"] = (finite(gain[score_at]),
                                                     finite(gain_ci[score_at]))
    stats["hybrid_better_until"] = better_until(lead_time, gain, gain_ci)
    m, half = time_mean_ci(rmse_train, burn_in=burn)
    stats["rmse_analysis_training"] = finite(m)
    ci95["rmse_analysis_training"] = finite(half)
    return {
        "statistics": stats, "ci95": ci95, "forecast": np.stack(forecast),
        "forecast_ci95": np.stack(forecast_ci), "lead_time": lead_time,
        "rmse_analysis": np.stack([rmse_test[v] for v in VARIANTS]),
        "time": setup.interval * (1 + np.arange(h.test_cycles)),
        "network": net, "history": histories, "seconds": seconds,
        "rmse_analysis_iterations": rmse_iterations,
        "scales": {"input_mean": mean, "input_std": std, "output_per_step": scale},
        "rmse_training": rmse_train,
    }


@register_recipe("resolvent_correction")
class ResolventCorrectionRecipe(HybridRecipe):
    """Farchi et al. (2021, QJRMS): :func:`resolvent_correction_experiment`, the physical
    and the hybrid model in the ensemble filter and in free forecasts on an independent
    twin."""

    statistics = STATISTICS
    score = "rmse_analysis_hybrid"

    def run(self, config: Config, *, progress, log, checkpoint) -> HybridOutcome:
        out = resolvent_correction_experiment(config, progress=progress, log=log)
        s = out["statistics"]
        h = config.hybrid

        def show(name, digits=4):
            return "nan" if s[name] is None else f"{s[name]:.{digits}f}"

        notes = [
            f"analysis RMSE on the test twin: physical {show('rmse_analysis_physical')}, "
            f"hybrid {show('rmse_analysis_hybrid')}",
            f"forecast relative RMSE at {h.score_lead:g} time units: physical "
            f"{show('forecast_error_physical')}, hybrid {show('forecast_error_hybrid')}",
            f"hybrid forecasts better (95 %, paired) up to {show('hybrid_better_until', 3)} "
            "time units",
        ]
        details = {
            "hybrid": "resolvent_correction", "variants": list(VARIANTS),
            "labels": {k: v.label for k, v in STATISTICS.items()},
            "history": out["history"], "seconds": out["seconds"], "scales": out["scales"],
            "rmse_analysis_training_iterations": out["rmse_analysis_iterations"],
            "forecast": {v: out["forecast"][i].tolist() for i, v in enumerate(VARIANTS)},
            "lead_time": out["lead_time"].tolist(),
        }
        return HybridOutcome(s, out["ci95"], notes, details, variant_arrays(out),
                             networks={"correction": out["network"]})

    def dataset(self, config: Config, outcome: HybridOutcome, attrs):
        return variant_dataset(VARIANTS, outcome.arrays,
                               {**attrs, "burn_in": config.hybrid.burn_in})

    def networks(self, config: Config) -> dict[str, Any]:
        k_net = jax.random.fold_in(jax.random.key(config.experiment.seed), 2)
        model = build(config).setup.model
        return {"correction": correction_net(model, config.ml_resolved.widths[0], key=k_net,
                                             mean=0.0, std=1.0, scale=1.0)}

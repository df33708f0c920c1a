"""``[hybrid] name = "brajard2021"``: Brajard, Carrassi, Bocquet & Bertino (2021), a
truncated model corrected by a network trained on the analyses of an ensemble filter run
with it (:mod:`assimilax.hybrid` ``model_error_targets``, ``train_model_error``,
``step_corrected``, ``relative_forecast_error``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ... import hybrid
from ... import io as rio
from ...da import Save, assimilate
from ...ml import History
from ...ml.nets import ModelErrorCNN
from ...models import forecast, rollout
from ...observations import Observations
from .._build import build
from .._twin import climatological_rms, simulate_twin, twin_keys
from ..config import Config
from ._recipe import HybridOutcome, HybridRecipe, Statistic, finite, register_recipe

_names = rio.names

VARIANTS = ("truncated", "hybrid_analysis", "hybrid_perfect")
"""The forecast models compared: the truncated model, the hybrid trained on analyses, the
hybrid trained on the truth's resolved variables (perfect observations)."""

REFERENCE_FIG2 = {"truncated": 0.72, "hybrid_analysis": 0.45, "hybrid_perfect": 0.23}
"""Relative RMSE at 2 time units read off Brajard et al. (2021), Fig. 2 (reference set-up:
σ_o = 0.1, Δt_obs = 0.05)."""

STATISTICS: dict[str, Statistic] = {
    "r_truncated": Statistic(
        "relative forecast RMSE of the truncated model at the score time (2 time units)",
        "1", "relative RMSE at t=2, truncated model"),
    "r_analysis": Statistic(
        "relative forecast RMSE at the score time of the hybrid trained on analyses",
        "1", "relative RMSE at t=2, hybrid (analyses)"),
    "r_perfect": Statistic(
        "relative forecast RMSE at the score time of the hybrid trained on the truth",
        "1", "relative RMSE at t=2, hybrid (perfect obs)"),
    "gap_truncated_analysis": Statistic(
        "r_truncated - r_analysis; half-width the sum of theirs (> 0 with its interval: "
        "the two intervals do not overlap)", "1", "gap at t=2, truncated - analyses"),
    "gap_analysis_perfect": Statistic(
        "r_analysis - r_perfect; half-width the sum of theirs", "1",
        "gap at t=2, analyses - perfect"),
    "rmse_analysis": Statistic(
        "time-mean analysis RMSE of the filter with the truncated model after burn-in",
        "state units", "analysis RMSE (truncated model in DA)"),
    "spread_analysis": Statistic(
        "time-mean analysis spread of the filter with the truncated model after burn-in",
        "state units", "analysis spread (truncated model in DA)"),
    "validation_loss_analysis": Statistic(
        "validation MSE of the network trained on analyses (last epoch)",
        "(state units / time unit)^2", "validation loss, hybrid (analyses)"),
    "validation_loss_perfect": Statistic(
        "validation MSE of the network trained on the truth (last epoch)",
        "(state units / time unit)^2", "validation loss, hybrid (perfect obs)"),
}
"""What ``brajard2021`` reports."""


@dataclasses.dataclass(frozen=True)
class Brajard2021Experiment:
    """The experiment of one ``brajard2021`` config.

    Attributes:
        lead_time: lead times of the forecast scores ``(lead,)`` (model time units).
        relative_rmse: $R(t)$ of each of :data:`VARIANTS` ``(variant, lead)``.
        relative_rmse_ci95: its 95 % half-widths over the initial states.
        rmse_analysis, spread_analysis: the filter's per-cycle analysis RMSE and spread.
        analysis, truth: analysis means and the truth's resolved variables ``(time, state)``.
        sigma_clim: the standard deviation of the forecasts' truth over cases, leads and
            variables (the reference code's ``np.var(ref)``).
        nets: the trained networks, ``{"analysis": ..., "perfect": ...}``.
        histories: their training histories.
        seconds: wall time per phase.
    """

    lead_time: np.ndarray
    relative_rmse: np.ndarray
    relative_rmse_ci95: np.ndarray
    rmse_analysis: np.ndarray
    spread_analysis: np.ndarray
    analysis: np.ndarray
    truth: np.ndarray
    sigma_clim: float
    nets: dict[str, Any]
    histories: dict[str, History]
    seconds: dict[str, float]


@eqx.filter_jit
def _twin_and_analyses(truth_model, model, operator, noise, method, key, *, cycles,
                       truth_every_steps, every_steps, ensemble_size, spinup_steps,
                       initial_std):
    twin = simulate_twin(truth_model, operator, noise, cycles=cycles,
                         every_steps=truth_every_steps, ensemble_size=ensemble_size, key=key,
                         spinup_steps=spinup_steps, initial_std=initial_std,
                         state_size=model.state_size)
    obs = twin.observations
    observations = Observations(obs.operator, obs.noise, obs.y, obs.mask, every_steps)
    res = assimilate(model, observations, method, twin.ensemble0,
                     key=twin_keys(key)["assimilation"], truth=twin.truth,
                     save=Save(rank_counts=False))
    return twin.truth, res.mean_analysis, res.rmse_analysis, res.spread_analysis


@eqx.filter_jit
def _forecast_truth(truth_model, key, *, state_size, spinup_steps, cases, leads, every,
                    reference: bool):
    r"""Initial states ``(case, state)`` and the truth at the leads ``(case, lead, state)``
    (``every`` truth steps apart), projected onto the forecast model's variables.

    ``reference=False``: ``cases`` consecutive stretches of one true trajectory, spun up
    ``spinup_steps`` from the model's initial condition. ``reference=True``: as the
    reference code (brajard/reddaml ``L2S/simul.py`` with DAPPER's ``LorenzUV`` ``X0``):
    case ``c`` starts from $e_0 + \mathcal N(0, 0.1^2 I)$ ($X_0 = 1$, every other
    variable 0), integrated ``spinup_steps`` by the truth.
    """
    if reference:
        n = truth_model.state_size
        x0 = jnp.eye(n, dtype=jnp.result_type(float))[0] + 0.1 * jax.random.normal(
            key, (cases, n))

        def one(x):
            x = forecast(truth_model, x, spinup_steps)
            return x, rollout(truth_model, x, leads, every=every)

        initial, truth = jax.vmap(one)(x0)
        return (truth_model.project(initial, state_size),
                truth_model.project(truth, state_size))
    k0, k1 = jax.random.split(key)
    x = truth_model.initial_condition(k0)
    x = forecast(truth_model, x, spinup_steps, key=k1)
    traj = rollout(truth_model, x, cases * leads, every=every)
    full = truth_model.project(jnp.concatenate([x[None], traj]), state_size)
    initial = full[:-1:leads][:cases]
    truth = full[1:].reshape(cases, leads, state_size)
    return initial, truth


def _net(config: Config, key) -> ModelErrorCNN:
    """The untrained ``[ml]`` network of ``brajard2021``, from ``fold_in(key, 1)``."""
    widths = tuple(config.ml_resolved.widths)
    if len(widths) != 2:
        raise ValueError(f"[ml] widths = {list(widths)}: model_error_cnn takes two widths "
                         "(the paper's [43, 28]).")
    return ModelErrorCNN(key=jax.random.fold_in(key, 1), filters=widths, kernel_size=5)


def brajard2021_experiment(config: Config, *, progress: bool = False,
                           log=None) -> Brajard2021Experiment:
    """The experiment of a ``brajard2021`` config, end to end (float64 must be on).

    1. The truncated-model twin of ``[truth]`` and ``[model]`` (the truth integrated in
       full, its slow variables observed) and the ``[method]`` filter with the ``[model]``
       (with its ``noise_std``) over ``[experiment] cycles``.
    2. Training pairs :func:`~assimilax.hybrid.model_error_targets` from the analysis
       means and, for the perfect-observation hybrid, from the truth at the same times;
       after ``burn_in``, the first ``train_samples`` train and the last
       ``validation_samples`` validate (:func:`~assimilax.hybrid.train_model_error`).
    3. ``forecast_cases`` initial states ``forecast_length`` apart on an independent true
       trajectory; :func:`~assimilax.hybrid.relative_forecast_error` of the truncated model
       and of both hybrids (:func:`~assimilax.hybrid.step_corrected`), scored every
       ``lead_steps`` model steps.

    Randomness: ``key = jax.random.key(seed)``: the twin and the filter as ``assimilax run``
    draws them; the network from ``fold_in(key, 1)``, shuffling from ``fold_in(key, 2)``,
    the forecast truth from ``fold_in(key, 3)``.
    """
    h = config.hybrid
    ml = config.ml_resolved
    exp = config.experiment
    xp = build(config)
    setup = xp.setup
    model, truth_model = setup.model, setup.truth_model
    key = jax.random.key(exp.seed)
    say = log or (lambda _line: None)
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    truth, analysis, rmse, spread = _twin_and_analyses(
        truth_model, model, setup.operator, setup.noise, xp.method, key, cycles=exp.cycles,
        truth_every_steps=setup.truth_every_steps, every_steps=setup.every_steps,
        ensemble_size=setup.ensemble_size, spinup_steps=setup.spinup_steps,
        initial_std=exp.initial_std)
    truth, analysis = jax.block_until_ready((truth, analysis))
    seconds["assimilation"] = time.perf_counter() - t0
    rmse_np = np.asarray(rmse)
    if not np.isfinite(rmse_np).all():
        raise FloatingPointError("brajard2021: the filter's analyses are not finite; "
                                 "raise [model] noise_std or the ensemble size.")
    say(f"DA with the truncated model: analysis RMSE "
        f"{rmse_np[exp.burn_in:].mean():.4f} after {exp.burn_in} cycles of burn-in")

    dt_obs = setup.interval
    b, n_train, n_val = exp.burn_in, h.train_samples, h.validation_samples
    nets, histories = {}, {}
    net0 = _net(config, key)
    for name, states in (("analysis", analysis), ("perfect", truth)):
        t0 = time.perf_counter()
        xs, ys = hybrid.model_error_targets(model, states, setup.every_steps, dt_obs)
        train = (xs[b:b + n_train], ys[b:b + n_train])
        valid = (xs[-n_val:], ys[-n_val:])
        net, history = hybrid.train_model_error(
            net0, *train, key=jax.random.fold_in(key, 2), validation=valid,
            epochs=ml.epochs, batch_size=ml.batch_size, learning_rate=ml.learning_rate,
            l2=h.l2, progress=progress)
        nets[name], histories[name] = net, history
        seconds[f"training_{name}"] = time.perf_counter() - t0
        say(f"network trained on the {'analyses' if name == 'analysis' else 'truth'}: "
            f"loss {history.train_loss[-1]:.4g}, validation "
            f"{history.val_loss[-1]:.4g}")

    t0 = time.perf_counter()
    ratio = h.lead_steps * model.dt / truth_model.dt
    leads = round(h.forecast_length / (h.lead_steps * model.dt))
    reference = h.forecast_start == "reference"
    spinup = (round(h.forecast_spinup / truth_model.dt) if reference
              else setup.spinup_steps)
    initial, ftruth = _forecast_truth(
        truth_model, jax.random.fold_in(key, 3), state_size=model.state_size,
        spinup_steps=spinup, cases=h.forecast_cases, leads=leads, every=round(ratio),
        reference=reference)
    sigma = float(jnp.std(ftruth))
    models = {"truncated": model,
              "hybrid_analysis": hybrid.step_corrected(model, nets["analysis"]),
              "hybrid_perfect": hybrid.step_corrected(model, nets["perfect"])}
    score = eqx.filter_jit(hybrid.relative_forecast_error)
    curves = [jax.device_get(score(models[v], initial, ftruth, h.lead_steps, sigma))
              for v in VARIANTS]
    seconds["forecasts"] = time.perf_counter() - t0
    return Brajard2021Experiment(
        lead_time=(np.arange(leads) + 1) * h.lead_steps * model.dt,
        relative_rmse=np.stack([np.asarray(c[0]) for c in curves]),
        relative_rmse_ci95=np.stack([np.asarray(c[1]) for c in curves]),
        rmse_analysis=rmse_np, spread_analysis=np.asarray(spread),
        analysis=np.asarray(analysis), truth=np.asarray(truth), sigma_clim=sigma,
        nets=nets, histories=histories, seconds=seconds)


@register_recipe("brajard2021")
class Brajard2021Recipe(HybridRecipe):
    """Brajard et al. (2021): :func:`brajard2021_experiment`, the relative forecast RMSE
    of the truncated model and of its two hybrids."""

    statistics = STATISTICS
    score = "r_analysis"

    def run(self, config: Config, *, progress, log, checkpoint) -> HybridOutcome:
        del checkpoint  # minutes per run: nothing to resume
        return _outcome(config, brajard2021_experiment(config, progress=progress, log=log))

    def dataset(self, config: Config, outcome: HybridOutcome, attrs):
        return _dataset(config, outcome, attrs)

    def networks(self, config: Config) -> dict[str, Any]:
        net = _net(config, jax.random.key(config.experiment.seed))
        return {"analysis": net, "perfect": net}


def _score_index(config: Config) -> int:
    h = config.hybrid
    return round(h.score_time / (h.lead_steps * config.model.dt)) - 1


def _outcome(config: Config, out: Brajard2021Experiment) -> HybridOutcome:
    h = config.hybrid
    exp = config.experiment
    k = _score_index(config)
    r = {v: float(out.relative_rmse[i, k]) for i, v in enumerate(VARIANTS)}
    half = {v: float(out.relative_rmse_ci95[i, k]) for i, v in enumerate(VARIANTS)}
    statistics = {
        "r_truncated": finite(r["truncated"]),
        "r_analysis": finite(r["hybrid_analysis"]),
        "r_perfect": finite(r["hybrid_perfect"]),
        "gap_truncated_analysis": finite(r["truncated"] - r["hybrid_analysis"]),
        "gap_analysis_perfect": finite(r["hybrid_analysis"] - r["hybrid_perfect"]),
        "rmse_analysis": finite(out.rmse_analysis[exp.burn_in:].mean()),
        "spread_analysis": finite(out.spread_analysis[exp.burn_in:].mean()),
        "validation_loss_analysis": finite(out.histories["analysis"].val_loss[-1]),
        "validation_loss_perfect": finite(out.histories["perfect"].val_loss[-1]),
    }
    ci95 = dict.fromkeys(statistics)
    ci95.update(
        r_truncated=finite(half["truncated"]), r_analysis=finite(half["hybrid_analysis"]),
        r_perfect=finite(half["hybrid_perfect"]),
        gap_truncated_analysis=finite(half["truncated"] + half["hybrid_analysis"]),
        gap_analysis_perfect=finite(half["hybrid_analysis"] + half["hybrid_perfect"]))
    t = h.score_time
    notes = [
        f"relative forecast RMSE at t = {t:g}: truncated {r['truncated']:.3f} ± "
        f"{half['truncated']:.3f}, hybrid on analyses {r['hybrid_analysis']:.3f} ± "
        f"{half['hybrid_analysis']:.3f}, hybrid on the truth {r['hybrid_perfect']:.3f} ± "
        f"{half['hybrid_perfect']:.3f} (σ_clim = {out.sigma_clim:.3f}, "
        f"{h.forecast_cases} initial states)",
        f"DA with the truncated model: analysis RMSE {statistics['rmse_analysis']:.4f}, "
        f"spread {statistics['spread_analysis']:.4f}",
    ]
    arrays = {
        "truth": out.truth, "analysis_mean": out.analysis,
        "rmse_analysis": out.rmse_analysis, "spread_analysis": out.spread_analysis,
        "variant_forecast_error": out.relative_rmse,
        "variant_forecast_error_ci95": out.relative_rmse_ci95,
        "lead_time": out.lead_time,
    }
    details = {
        "hybrid": "brajard2021",
        "relative_rmse": {v: out.relative_rmse[i].tolist() for i, v in enumerate(VARIANTS)},
        "lead_time": out.lead_time.tolist(),
        "sigma_clim": out.sigma_clim,
        "history": {k: v.to_dict() for k, v in out.histories.items()},
        "seconds": out.seconds,
    }
    return HybridOutcome(statistics, ci95, notes, details, arrays,
                         networks=dict(out.nets))


def _dataset(config: Config, outcome: HybridOutcome, provenance):
    """The filter's analyses and errors over time, and the forecast curves."""
    setup = build(config).setup
    arrays = outcome.arrays
    done = arrays["truth"].shape[0]
    dataset = rio.results_dataset(
        time=(np.arange(done) + 1) * setup.interval,
        cycle=np.arange(done),
        position=np.asarray(setup.model.grid.coords),
        series={k: arrays[k] for k in ("rmse_analysis", "spread_analysis")},
        fields={k: arrays[k] for k in ("analysis_mean", "truth")},
        attrs={**provenance, "burn_in": config.experiment.burn_in,
               "climatological_rms": float(climatological_rms(arrays["truth"])),
               "resumed_at_cycle": -1},
    )
    analysis = np.full((len(VARIANTS), done), np.nan)
    analysis[0] = arrays["rmse_analysis"]
    obs = config.observations
    attrs: dict[str, Any] = {"units": "1", "long_name_short": "relative RMSE R(t)",
                             "score_time": config.hybrid.score_time}
    if abs(obs.noise_std - 0.1) < 1e-12 and abs(setup.interval - 0.05) < 1e-12:
        attrs["reference"] = "; ".join(f"{v}@2={r}" for v, r in REFERENCE_FIG2.items())
        attrs["reference_source"] = "Brajard et al. (2021), Fig. 2 (read off)"
    return rio.add_variables(
        dataset,
        {"variant_forecast_error": arrays["variant_forecast_error"],
         "variant_forecast_error_ci95": arrays["variant_forecast_error_ci95"],
         "variant_rmse_analysis": analysis},
        coords={_names.VARIANT: np.array(VARIANTS), _names.LEAD_TIME: arrays["lead_time"]},
        attrs={"variant_forecast_error": attrs,
               "variant_forecast_error_ci95": {"units": "1"},
               "variant_rmse_analysis": {"note": "only the truncated model runs in DA"}},
        lead_time_units="model time units",
    )

r"""Iterative DA–ML emulation: Brajard, Carrassi, Bocquet & Bertino (2020) on Lorenz-96.

A surrogate model is learned from sparse, noisy observations alone by alternating two
steps over one observation record $y_{1:T}$ (Brajard et al. 2020, Algorithm 1):

1. **Train** a network $f_{nn}$ on the current estimate $x^a_{1:T}$ of the state:
   minimise over the pairs $(x^a_k, x^a_{k+1})$
   $$\mathcal L = \frac1{Tn}\sum_{k,i} w_{k+1,i}\,\big(x^a_k + f_{nn}(x^a_k) - x^a_{k+1}\big)_i^2
   + \rho\,\|W_{\rm out}\|^2,$$
   the resolvent $x_{k+1} = x_k + f_{nn}(x_k)$ of the authors' code, with weights
   $w = 1/(\sigma_a^2 + 0.01)$ from the analysis variance $\sigma_a^2$ of each element
   (the first training, on an interpolation of the observations, weights observed elements
   1 and the rest 0) and the ridge penalty $\rho = 10^{-4}$ of the authors' last layer.
2. **Assimilate** the whole record with EnKF-N (N = 30, no inflation, no localisation) and
   the surrogate as forecast model, with additive model noise of standard deviation
   $\sqrt{\Delta t}\,q$ per step ($q = 1$: 0.22 at $\Delta t = 0.05$, the paper's
   $\sigma_m^2 = 0.05$); its analysis means and variances are the next training set.

The start, $x^a_{1:T}$ of iteration 0, is a linear interpolation of the observations in
space and time (:func:`space_time_interpolation`). The surrogate's forecast skill and
long-run climatology against the true model are measured by :class:`SurrogateSkill`.

The method is :class:`IterativeEmulation`, its hyperparameters as fields; its
:meth:`~IterativeEmulation.run` composes the parts: :func:`train_surrogate`
(:func:`assimilax.ml.fit` of a resolvent :class:`~assimilax.ml.Emulator`), the ensemble
filter through :func:`assimilax.da.assimilate`, and :class:`SurrogateSkill`. Training is
warm-started from the previous iteration's network. Every iteration draws its randomness
from ``fold_in(key, iteration)`` and ends by handing an :class:`IterationState` (all a
resumed run needs) to ``on_iteration``; a run given that state as ``resume`` continues
with the numbers of an uninterrupted one. Nothing is written to disk here: the
application ring (:mod:`assimilax.experiments`) writes the states.

Refs: Brajard, Carrassi, Bocquet & Bertino (2020), J. Comput. Sci. 44, 101171,
doi:10.1016/j.jocs.2020.101171 (code: github.com/brajard/GMD-code); Bocquet, Brajard,
Carrassi & Bertino (2020), Foundations of Data Science 2, 55-80; Bocquet (2011), Nonlin.
Processes Geophys. 18 (EnKF-N).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ..da import AbstractMethod, Save, assimilate
from ..da.ensemble import EnKF_N
from ..metrics import (
    ClimatologyError,
    climatology,
    compare_climatology,
    forecast_rmse,
    valid_prediction_time,
)
from ..ml.emulator import Emulator
from ..ml.losses import weighted_mse
from ..ml.nets import BrajardCNN
from ..ml.training import History, fit
from ..models import AbstractModel, forecast, rollout
from ..observations import Observations

__all__ = [
    "LYAPUNOV_EXPONENT_L96",
    "DivergedIterationError",
    "IterationRecord",
    "IterationState",
    "IterativeEmulation",
    "IterativeResult",
    "SkillResult",
    "SurrogateSkill",
    "space_time_interpolation",
    "surrogate_loss",
    "surrogate_skill",
    "train_surrogate",
]

LYAPUNOV_EXPONENT_L96 = 1.67
"""Leading Lyapunov exponent of Lorenz-96 (n = 40, F = 8) per model time unit, as quoted
by Brajard et al. (2020); :func:`assimilax.metrics.lyapunov_exponents` gives 1.69."""


class DivergedIterationError(RuntimeError):
    """An iteration of the DA–ML loop produced non-finite analyses or a non-finite loss."""


# ----------------------------------------------------------------------------- interpolation


def space_time_interpolation(
    y: Float[Array | np.ndarray, "time n"],
    mask: Bool[Array | np.ndarray, "time n"],
    *,
    chunk: int = 1000,
    overlap: int = 20,
) -> np.ndarray:
    r"""Linear interpolation of sparse observations of a periodic 1-D field in space and time.

    The observed values, as points $(k, i)$ of the time-by-grid plane, are triangulated
    (Delaunay, :func:`scipy.interpolate.griddata` with ``method="linear"``) and every
    element $(k, i)$ is interpolated linearly in its triangle; the grid is periodic, so the
    points are repeated one period to the left and to the right before triangulating.
    Elements outside the convex hull (the first and last times) take the nearest
    observation. The record is done in chunks of ``chunk`` times overlapping by
    ``overlap`` (the triangulation costs grow faster than linearly).

    This is the starting point of Brajard et al. (2020): on Lorenz-96 with half the
    variables observed (σ_o = 1) its RMSE is about 2.4.

    Args:
        y: observed values ``(time, n)``; unobserved slots are ignored.
        mask: which slots are observed ``(time, n)``.
        chunk: times per triangulation.
        overlap: extra times on each side of a chunk.

    Returns:
        The interpolated field ``(time, n)`` (float64 NumPy array).

    Raises:
        ValueError: shapes differ, or a chunk holds fewer than 3 observations.
    """
    from scipy.interpolate import griddata  # ~0.3 s to import: only when interpolating

    y = np.asarray(y, float)
    mask = np.asarray(mask, bool)
    if y.ndim != 2 or mask.shape != y.shape:
        raise ValueError(f"space_time_interpolation: y and mask must be (time, n) of one "
                         f"shape, got {y.shape} and {mask.shape}.")
    if chunk < 1 or overlap < 0:
        raise ValueError(f"space_time_interpolation: chunk must be >= 1 and overlap >= 0, got "
                         f"{chunk} and {overlap}.")
    n_time, n = y.shape
    out = np.empty_like(y)
    for start in range(0, n_time, chunk):
        stop = min(start + chunk, n_time)
        lo, hi = max(start - overlap, 0), min(stop + overlap, n_time)
        t, i = np.nonzero(mask[lo:hi])
        if t.size < 3:
            raise ValueError(f"space_time_interpolation: times {lo} to {hi - 1} hold {t.size} "
                             "observations; at least 3 are needed to interpolate.")
        values = y[lo:hi][t, i]
        points = np.concatenate([np.stack([t, i + shift], axis=1) for shift in (-n, 0, n)])
        values3 = np.tile(values, 3)
        tq, iq = np.meshgrid(np.arange(hi - lo), np.arange(n), indexing="ij")
        query = np.stack([tq.ravel(), iq.ravel()], axis=1)
        field = griddata(points, values3, query, method="linear")
        missing = np.isnan(field)
        if missing.any():
            field[missing] = griddata(points, values3, query[missing], method="nearest")
        out[start:stop] = field.reshape(hi - lo, n)[start - lo:stop - lo]
    return out


# ----------------------------------------------------------------------------- training


def surrogate_loss(
    emulator: Emulator, batch: tuple[Array, Array, Array], ridge: float = 1e-4
) -> Array:
    r"""Weighted one-step loss of a resolvent or tendency emulator, plus the ridge penalty.

    $\frac1{Bn}\sum w\,(\mathcal M_{nn}(x) - x')^2 + \rho\,\|W_{\rm out}\|^2$ for a batch
    ``(x, x_next, w)`` of shapes ``(batch, n)``; $W_{\rm out}$ is the weight of the net's
    ``output`` layer when it has one (the Brajard CNN's last convolution).
    """
    x, target, weights = batch
    pred = jax.vmap(emulator.step)(x)
    loss = weighted_mse(pred, target, weights)
    output = getattr(emulator.net, "output", None)
    if ridge and output is not None and hasattr(output, "weight"):
        loss = loss + ridge * jnp.sum(output.weight.astype(loss.dtype) ** 2)
    return loss


def train_surrogate(
    emulator: Emulator,
    states: Float[Array | np.ndarray, "time n"],
    weights: Float[Array | np.ndarray, "time n"],
    *,
    key: PRNGKeyArray,
    epochs: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    ridge: float = 1e-4,
    validation_fraction: float = 0.0,
    patience: int | None = None,
    progress: bool = False,
) -> tuple[Emulator, History]:
    """Fit ``emulator`` to the one-step pairs of a state record, by Adam.

    The training pairs are ``(states[k], states[k + 1])`` for every ``k``, weighted per
    element by ``weights[k + 1]`` (see :func:`surrogate_loss`). Arrays are cast to the
    net's float32; the emulator's parameters are the starting point (warm start).

    Args:
        emulator: the emulator to train (its ``noise_std`` does not enter training).
        states: the state record ``(time, n)`` (analyses or an interpolation).
        weights: per-element weights of the targets ``(time, n)``; row 0 is unused.
        key: PRNG key of the minibatch shuffling.
        epochs: passes over the pairs.
        batch_size: pairs per minibatch.
        learning_rate: Adam's (constant) learning rate.
        ridge: the L2 penalty on the output layer.
        validation_fraction: share of the pairs held out for a validation loss.
        patience: early stopping after this many epochs without a better validation loss.
        progress: show a progress bar.

    Returns:
        ``(trained emulator, History)``.
    """
    states = jnp.asarray(states, jnp.float32)
    weights = jnp.asarray(weights, jnp.float32)
    data = (states[:-1], states[1:], weights[1:])
    loss_fn, optimizer = _loss_and_optimizer(float(ridge), float(learning_rate))
    return fit(
        emulator, loss_fn, data, key=key,
        optimizer=optimizer, epochs=epochs, batch_size=batch_size,
        validation_fraction=validation_fraction, patience=patience, progress=progress,
    )


@functools.lru_cache(maxsize=16)
def _loss_and_optimizer(ridge: float, learning_rate: float):
    """One loss function and one optimiser per setting: ``fit`` caches its compiled epoch
    by their identity, so the iterations of a loop compile their training once."""
    return functools.partial(surrogate_loss, ridge=ridge), optax.adam(learning_rate)


# ----------------------------------------------------------------------------- skill


@dataclasses.dataclass(frozen=True)
class SkillResult:
    """Forecast skill and climatology of a surrogate against the true model.

    Attributes:
        valid_time: first lead past the threshold, in Lyapunov times.
        forecast_rmse: mean forecast RMSE per lead ``(lead,)``.
        lead_times: the leads in Lyapunov times ``(lead,)``.
        sigma_clim: climatological standard deviation of the true model.
        climatology_error: the surrogate's long-run climatology against the truth's
            (NaN when its free run blew up).
        surrogate_std: mean long-run standard deviation of the surrogate.
        true_std: the same of the true model.
        finite: False when the surrogate's free run blew up.
    """

    valid_time: float
    forecast_rmse: tuple[float, ...]
    lead_times: tuple[float, ...]
    sigma_clim: float
    climatology_error: ClimatologyError
    surrogate_std: float
    true_std: float
    finite: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (lists and floats)."""
        return {
            "valid_time": self.valid_time,
            "forecast_rmse": list(self.forecast_rmse),
            "lead_times": list(self.lead_times),
            "sigma_clim": self.sigma_clim,
            "climatology_error": {k: float(v)
                                  for k, v in self.climatology_error._asdict().items()},
            "surrogate_std": self.surrogate_std,
            "true_std": self.true_std,
            "finite": self.finite,
        }


class SurrogateSkill(eqx.Module):
    r"""How a surrogate's forecast skill and climatology are measured against the true model.

    Test states: one true trajectory started from ``model.initial_condition`` after
    ``spinup_steps``, sampled every ``case_spacing`` steps (``n_cases`` of them, unseen in
    training). From each the surrogate forecasts ``leads`` steps without model noise;
    the RMSE per lead (mean of per-case RMSEs, :func:`~assimilax.metrics.forecast_rmse`)
    is compared with ``threshold`` times the climatological standard deviation
    $\sigma_{\rm clim}$ of the true model, and the valid time is the first lead past it,
    in Lyapunov times $\lambda_1 t$ (:func:`~assimilax.metrics.valid_prediction_time`).
    The climatology (mean, standard deviation, spatial power spectrum) of a
    ``climate_steps`` run of the surrogate is compared with the true model's from the same
    start (:func:`~assimilax.metrics.compare_climatology`).

    Attributes:
        n_cases: initial states of the forecast test.
        case_spacing: true-model steps between two initial states.
        leads: forecast steps from each initial state.
        climate_steps: length of the free runs for the climatology.
        threshold: share of $\sigma_{\rm clim}$ that ends the valid time.
        lyapunov_exponent: $\lambda_1$ of the true model (per time unit).
        spinup_steps: true-model steps before the first test state.
    """

    n_cases: int = eqx.field(static=True, default=200)
    case_spacing: int = eqx.field(static=True, default=20)
    leads: int = eqx.field(static=True, default=120)
    climate_steps: int = eqx.field(static=True, default=20_000)
    threshold: float = 0.5
    lyapunov_exponent: float = LYAPUNOV_EXPONENT_L96
    spinup_steps: int = eqx.field(static=True, default=400)

    def __call__(self, surrogate: AbstractModel, model: AbstractModel, *,
                 key: PRNGKeyArray) -> SkillResult:
        """The skill of ``surrogate`` (its ``noise_std`` ignored) against ``model``.

        Args:
            surrogate: the learned model.
            model: the true model.
            key: PRNG key of the test trajectory's initial condition.
        """
        surrogate = _without_noise(surrogate)
        x = model.initial_condition(key)
        x = forecast(model, x, self.spinup_steps)
        span = self.n_cases * self.case_spacing + self.leads
        traj = rollout(model, x, span)  # (span, n), traj[k] = k + 1 steps after x
        idx = np.arange(self.n_cases) * self.case_spacing
        x0 = traj[idx]
        truth = traj[idx[:, None] + 1 + np.arange(self.leads)[None, :]]
        true_run = rollout(model, x, self.climate_steps)
        sigma_clim = float(jnp.sqrt(jnp.mean(jnp.var(true_run, axis=0))))
        errors = forecast_rmse(surrogate, x0, truth)
        dt = float(model.dt)
        valid = float(valid_prediction_time(errors, self.threshold * sigma_clim, dt,
                                            self.lyapunov_exponent))
        surrogate_run = rollout(surrogate, x, self.climate_steps)
        finite = bool(jnp.all(jnp.isfinite(surrogate_run)))
        clim_true, clim_sur = climatology(true_run), climatology(surrogate_run)
        err = compare_climatology(clim_sur, clim_true)
        return SkillResult(
            valid_time=valid,
            forecast_rmse=tuple(float(v) for v in errors),
            lead_times=tuple(float((k + 1) * dt * self.lyapunov_exponent)
                             for k in range(self.leads)),
            sigma_clim=sigma_clim,
            climatology_error=ClimatologyError(*(float(v) for v in err)),
            surrogate_std=float(jnp.mean(clim_sur.std)),
            true_std=float(jnp.mean(clim_true.std)),
            finite=finite,
        )


def surrogate_skill(
    surrogate: AbstractModel, model: AbstractModel, *, key: PRNGKeyArray, **options: Any
) -> SkillResult:
    """``SurrogateSkill(**options)(surrogate, model, key=key)``: see :class:`SurrogateSkill`."""
    return SurrogateSkill(**options)(surrogate, model, key=key)


def _without_noise(model: AbstractModel) -> AbstractModel:
    if isinstance(model, Emulator) and model.noise_std:
        return eqx.tree_at(lambda m: m.noise_std, model, 0.0)
    return model


# ----------------------------------------------------------------------------- the loop


@dataclasses.dataclass(frozen=True)
class IterationRecord:
    """What one iteration of the DA–ML loop produced (``iteration`` from 1).

    Attributes:
        iteration: the iteration (1: trained on the interpolation).
        rmse_analysis: time-mean analysis RMSE of the DA pass against the truth (after
            ``burn_in``); NaN without truth.
        spread_analysis: time-mean analysis ensemble spread.
        train_loss: the last epoch's training loss.
        epochs: epochs run.
        valid_time: the surrogate's valid time in Lyapunov times (None when not measured).
        seconds_training: wall time of the training step.
        seconds_assimilation: wall time of the assimilation pass.
    """

    iteration: int
    rmse_analysis: float
    spread_analysis: float
    train_loss: float
    epochs: int
    valid_time: float | None
    seconds_training: float
    seconds_assimilation: float


class IterationState(eqx.Module):
    """Everything the DA–ML loop needs to continue after ``iteration`` iterations.

    Handed to ``on_iteration`` after each iteration; given back to
    :meth:`IterativeEmulation.run` as ``resume`` it continues bit-identically. A
    checkpoint stores the surrogate with ``eqx.tree_serialise_leaves`` (read back into the
    structure of :meth:`IterativeEmulation.init`'s state), the arrays with NumPy and the
    records as plain data
    (:func:`assimilax.experiments.hybrids._iterative_emulation.iteration_checkpoints`).

    Attributes:
        iteration: iterations done (0: the start, nothing trained).
        surrogate: the surrogate after them (iteration 0: untrained).
        analysis: the current estimate of the states ``(time, n)``: the last analysis
            means (iteration 0: the interpolation of the observations).
        variance: their per-element ensemble variances ``(time, n)`` (NaN at iteration 0).
        rmse_interpolation: time-mean RMSE of the interpolation (NaN without truth).
        records: one :class:`IterationRecord` per iteration done.
    """

    iteration: int
    surrogate: Emulator
    analysis: np.ndarray
    variance: np.ndarray
    rmse_interpolation: float
    records: tuple[IterationRecord, ...] = ()


@dataclasses.dataclass(frozen=True)
class IterativeResult:
    """The outcome of :meth:`IterativeEmulation.run`.

    Attributes:
        surrogate: the last trained emulator.
        analysis: the last analysis means ``(time, n)``.
        variance: their per-element ensemble variances ``(time, n)``.
        rmse_interpolation: time-mean RMSE of the starting interpolation (NaN without truth).
        iterations: one :class:`IterationRecord` per iteration.
        skill: :class:`SkillResult` of the last surrogate (None without ``model``).
        resumed_from: iterations taken from the ``resume`` state (0: none).
    """

    surrogate: Emulator
    analysis: np.ndarray
    variance: np.ndarray
    rmse_interpolation: float
    iterations: tuple[IterationRecord, ...]
    skill: SkillResult | None
    resumed_from: int = 0

    @property
    def rmse_analysis(self) -> np.ndarray:
        """Time-mean analysis RMSE per iteration ``(iteration,)``."""
        return np.array([r.rmse_analysis for r in self.iterations])

    def summary(self) -> dict[str, Any]:
        """Plain data for JSON: everything but the arrays and the surrogate."""
        return {
            "rmse_interpolation": self.rmse_interpolation,
            "iterations": [dataclasses.asdict(r) for r in self.iterations],
            "skill": None if self.skill is None else self.skill.to_dict(),
            "resumed_from": self.resumed_from,
        }


def _time_mean_rmse(x, truth, burn_in: int) -> float:
    err = np.sqrt(np.mean((np.asarray(x) - np.asarray(truth)) ** 2, axis=-1))
    return float(np.mean(err[burn_in:]))


_WEIGHTINGS = ("variance", "uniform")


class IterativeEmulation(eqx.Module):
    """Learn a surrogate from observations by alternating training and EnKF-N (Brajard 2020).

    Iteration ``i`` (from 1) trains the network on the current estimate (iteration 1: the
    :func:`space_time_interpolation`, observed elements weighted 1, unobserved 0; later:
    the analyses, weighted ``1 / (variance + variance_floor)``), warm-started from the
    previous network, then assimilates the whole record with ``method``
    (``ensemble_size`` members) and the surrogate, noise ``sqrt(dt) * model_noise_std``
    per step, from ``current[0] + N(0, I)``.

    Attributes:
        iterations: number of train + assimilate passes.
        method: the ensemble filter (default :class:`~assimilax.da.EnKF_N`, the paper's).
        ensemble_size: filter members (the paper: 30).
        model_noise_std: additive model noise per unit time (``sqrt(dt)`` times it a step).
        epochs_first: training epochs of iteration 1 (on the interpolation).
        epochs: training epochs of the later iterations (warm-started).
        batch_size: pairs per minibatch.
        learning_rate: Adam's (constant) learning rate.
        ridge: the L2 penalty on the output layer's weights.
        variance_floor: the 0.01 in the weights.
        weighting: ``"variance"`` (the paper's weights) or ``"uniform"`` (every element
            weighted 1, the first training included: the unweighted ablation).
        validation_fraction: share of the pairs held out for a validation loss.
        widths: filters of the default network's layers (the paper: 24, 37).
        burn_in: times left out of the time-mean RMSEs.
        skill_every: measure the skill every this many iterations (and at the last).
        skill: how the surrogate's skill is measured (when a true model is given).
    """

    iterations: int = eqx.field(static=True, default=15)
    method: AbstractMethod = EnKF_N()
    ensemble_size: int = eqx.field(static=True, default=30)
    model_noise_std: float = 1.0
    epochs_first: int = eqx.field(static=True, default=40)
    epochs: int = eqx.field(static=True, default=20)
    batch_size: int = eqx.field(static=True, default=128)
    learning_rate: float = 1e-3
    ridge: float = 1e-4
    variance_floor: float = 0.01
    weighting: str = eqx.field(static=True, default="variance")
    validation_fraction: float = 0.0
    widths: tuple[int, ...] = eqx.field(static=True, default=(24, 37))
    burn_in: int = eqx.field(static=True, default=0)
    skill_every: int = eqx.field(static=True, default=1)
    skill: SurrogateSkill = SurrogateSkill()

    def __check_init__(self):
        if (self.iterations < 1 or self.ensemble_size < 2 or self.epochs_first < 1
                or self.epochs < 1):
            raise ValueError(
                "IterativeEmulation: iterations, epochs_first and epochs must be >= 1 and "
                f"ensemble_size >= 2, got {self.iterations}, {self.epochs_first}, "
                f"{self.epochs}, {self.ensemble_size}.")
        if self.weighting not in _WEIGHTINGS:
            raise ValueError(f"IterativeEmulation: weighting must be 'variance' or "
                             f"'uniform', got {self.weighting!r}.")
        if self.skill_every < 1:
            raise ValueError(f"IterativeEmulation: skill_every must be >= 1, got "
                             f"{self.skill_every}.")

    def _weights(self, observations: Observations, state: IterationState) -> np.ndarray:
        if self.weighting == "uniform":
            return np.ones_like(state.analysis)
        if state.iteration == 0:
            return np.asarray(observations.mask, float)
        return 1.0 / (state.variance + self.variance_floor)

    def _check(self, observations: Observations, truth) -> None:
        if observations.every_steps != 1:
            raise ValueError(
                "IterativeEmulation: observations must be one row per model step "
                f"(every_steps = 1), got every_steps = {observations.every_steps}.")
        if truth is not None and truth.shape != observations.y.shape:
            raise ValueError(f"IterativeEmulation: truth must have shape "
                             f"{observations.y.shape}, got {truth.shape}.")

    def init(
        self,
        observations: Observations,
        *,
        key: PRNGKeyArray,
        dt: float,
        net: eqx.Module | None = None,
        truth: Float[Array, "time n"] | None = None,
    ) -> IterationState:
        """The state before the first iteration: the interpolation and the untrained surrogate.

        Also the template a checkpoint is read into (the structure of every later state).

        Args:
            observations: the record, one row per model step (``every_steps = 1``), of a
                periodic 1-D field (Lorenz-96).
            key: the run's PRNG key (the default network from ``fold_in(key, 10**6)``).
            dt: model time step of the record.
            net: the network (default :class:`~assimilax.ml.nets.BrajardCNN` with
                ``widths`` = (bilinear filters, hidden filters...), input normalised by
                the interpolation's mean and standard deviation); it is the increment of a
                resolvent :class:`~assimilax.ml.Emulator`.
            truth: true states at the observation times ``(time, n)``, for the RMSE.
        """
        self._check(observations, truth)
        n = observations.y.shape[1]
        interp = space_time_interpolation(observations.y, observations.mask)
        rmse = (_time_mean_rmse(interp, truth, self.burn_in) if truth is not None
                else math.nan)
        if net is None:
            net = BrajardCNN(key=jax.random.fold_in(key, 10**6),
                             bilinear_filters=self.widths[0],
                             hidden_filters=tuple(self.widths[1:]), input_norm=True,
                             input_mean=float(interp.mean()), input_std=float(interp.std()))
        surrogate = Emulator(net, dt, mode="resolvent", noise_std=self.model_noise_std,
                             state_size=n)
        return IterationState(0, surrogate, interp, np.full_like(interp, np.nan), rmse)

    def run(
        self,
        observations: Observations,
        *,
        key: PRNGKeyArray,
        dt: float,
        net: eqx.Module | None = None,
        truth: Float[Array, "time n"] | None = None,
        model: AbstractModel | None = None,
        resume: IterationState | None = None,
        on_iteration: Callable[[int, IterationState], None] | None = None,
        progress: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> IterativeResult:
        """Run the iterations (those after ``resume.iteration`` when resuming).

        Args:
            observations: the record, one row per model step (``every_steps = 1``), of a
                periodic 1-D field (Lorenz-96).
            key: PRNG key; iteration ``i`` uses ``fold_in(key, i)``.
            dt: model time step of the record.
            net: the network to start from (see :meth:`init`; ignored with ``resume``).
            truth: true states at the observation times ``(time, n)``, for the RMSEs.
            model: the true model, for the surrogate's skill (None: not measured).
            resume: a state handed to ``on_iteration`` by an interrupted run with the same
                arguments (or :meth:`init`'s); the run continues after its iteration.
            on_iteration: called as ``on_iteration(i, state)`` after iteration ``i``, with
                the :class:`IterationState` a resumed run needs (the ring writes it).
            progress: training progress bars.
            log: called with one line per finished step.

        Returns:
            :class:`IterativeResult`.

        Raises:
            ValueError: the record is not one row per step, or ``truth`` has another shape.
            DivergedIterationError: an iteration produced non-finite analyses or losses.
        """
        self._check(observations, truth)
        say = log or (lambda line: None)
        n = observations.y.shape[1]
        if resume is None:
            state = self.init(observations, key=key, dt=dt, net=net, truth=truth)
            say(f"interpolation: analysis RMSE {state.rmse_interpolation:.3f}")
        else:
            state = resume
            if state.iteration:
                say(f"resumed after iteration {state.iteration}")
            else:
                say(f"interpolation: analysis RMSE {state.rmse_interpolation:.3f}")
        start = state.iteration
        skill = None
        for i in range(start + 1, self.iterations + 1):
            k_train, k_init, k_da, k_skill = jax.random.split(jax.random.fold_in(key, i), 4)
            t0 = time.perf_counter()
            surrogate, history = train_surrogate(
                state.surrogate, state.analysis, self._weights(observations, state),
                key=k_train, epochs=self.epochs_first if i == 1 else self.epochs,
                batch_size=self.batch_size, learning_rate=self.learning_rate,
                ridge=self.ridge, validation_fraction=self.validation_fraction,
                progress=progress)
            loss = history.train_loss[-1]
            if not math.isfinite(loss):
                raise DivergedIterationError(f"iteration {i}: training loss is {loss}.")
            t1 = time.perf_counter()
            current = state.analysis
            ens0 = (jnp.asarray(current[0]) + jax.random.normal(
                k_init, (self.ensemble_size, n), jnp.asarray(current).dtype))
            mean, var = self._assimilate(surrogate, observations, ens0, k_da, truth)
            t2 = time.perf_counter()
            if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var))):
                bad = int(np.argmax(~np.isfinite(mean).all(axis=1)))
                raise DivergedIterationError(
                    f"iteration {i}: the EnKF-N with the surrogate gave non-finite analyses "
                    f"from time {bad} on; the surrogate is unstable (train longer or lower "
                    "the learning rate).")
            rmse_a = (_time_mean_rmse(mean, truth, self.burn_in) if truth is not None
                      else math.nan)
            spread = float(np.mean(np.sqrt(np.mean(var, axis=1))[self.burn_in:]))
            valid = None
            if model is not None and (i % self.skill_every == 0 or i == self.iterations):
                skill = self.skill(surrogate, model, key=k_skill)
                valid = skill.valid_time
            record = IterationRecord(i, rmse_a, spread, float(loss), history.epochs_run,
                                     valid, t1 - t0, t2 - t1)
            state = IterationState(i, surrogate, mean, var, state.rmse_interpolation,
                                   (*state.records, record))
            shown = "" if valid is None else f", valid time {valid:.2f} Lyapunov times"
            say(f"iteration {i}/{self.iterations}: analysis RMSE {rmse_a:.3f}, spread "
                f"{spread:.3f}, training loss {loss:.4g}{shown} ({t1 - t0:.1f} s training, "
                f"{t2 - t1:.1f} s DA)")
            if on_iteration is not None:
                on_iteration(i, state)
        if model is not None and skill is None:  # resumed after the last iteration
            k_skill = jax.random.split(jax.random.fold_in(key, self.iterations), 4)[3]
            skill = self.skill(state.surrogate, model, key=k_skill)
        return IterativeResult(state.surrogate, state.analysis, state.variance,
                               state.rmse_interpolation, state.records, skill,
                               resumed_from=start)

    def _assimilate(self, surrogate, observations, ens0, key, truth):
        """The analysis means and variances ``(time, n)`` of one pass over the record."""
        result = _run_filter(self.method, surrogate, observations, ens0, key, truth)
        ensembles = result.ensembles  # (time, member, n)
        mean = np.asarray(jnp.mean(ensembles, axis=1))
        var = np.asarray(jnp.var(ensembles, axis=1, ddof=1))
        return mean, var


@eqx.filter_jit
def _run_filter(method, surrogate, observations, ens0, key, truth):
    return assimilate(surrogate, observations, method, ens0, key=key, truth=truth,
                      save=Save(ensembles=True))

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
long-run climatology against the true model are measured by :func:`surrogate_skill`.

Training is warm-started from the previous iteration's network. Every iteration draws
its randomness from ``fold_in(key, iteration)``, and with ``checkpoint`` each finished
iteration is written to disk, so an interrupted run resumes at the next iteration with the
numbers of an uninterrupted one.

Refs: Brajard, Carrassi, Bocquet & Bertino (2020), J. Comput. Sci. 44, 101171,
doi:10.1016/j.jocs.2020.101171 (code: github.com/brajard/GMD-code); Bocquet, Brajard,
Carrassi & Bertino (2020), Foundations of Data Science 2, 55-80; Bocquet (2011), Nonlin.
Processes Geophys. 18 (EnKF-N).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ..da import AbstractEnsembleMethod, assimilate
from ..da.ensemble import EnKF_N
from ..metrics import (
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


def surrogate_skill(
    surrogate: AbstractModel,
    model: AbstractModel,
    *,
    key: PRNGKeyArray,
    n_cases: int = 200,
    case_spacing: int = 20,
    leads: int = 120,
    climate_steps: int = 20_000,
    threshold: float = 0.5,
    lyapunov_exponent: float = LYAPUNOV_EXPONENT_L96,
    spinup_steps: int = 400,
) -> dict[str, Any]:
    r"""Forecast skill and climatology of a surrogate against the true model.

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

    Args:
        surrogate: the learned model (its ``noise_std`` is ignored: deterministic runs).
        model: the true model.
        key: PRNG key of the test trajectory's initial condition.
        n_cases: initial states of the forecast test.
        case_spacing: true-model steps between two initial states.
        leads: forecast steps from each initial state.
        climate_steps: length of the free runs for the climatology.
        threshold: share of $\sigma_{\rm clim}$ that ends the valid time.
        lyapunov_exponent: $\lambda_1$ of the true model (per time unit).
        spinup_steps: true-model steps before the first test state.

    Returns:
        ``{"valid_time" (Lyapunov times), "forecast_rmse" (per lead), "lead_times"
        (Lyapunov times), "sigma_clim", "climatology_error" {"mean", "std", "spectrum",
        "log_spectrum"}, "surrogate_std", "true_std", "finite"}``; ``finite`` is False
        when the surrogate's free run blew up (then the climatology errors are NaN).
    """
    surrogate = _without_noise(surrogate)
    x = model.initial_condition(key)
    x = forecast(model, x, spinup_steps)
    span = n_cases * case_spacing + leads
    traj = rollout(model, x, span)  # (span, n), traj[k] = k + 1 steps after x
    idx = np.arange(n_cases) * case_spacing
    x0 = traj[idx]
    truth = traj[idx[:, None] + 1 + np.arange(leads)[None, :]]
    true_run = rollout(model, x, climate_steps)
    sigma_clim = float(jnp.sqrt(jnp.mean(jnp.var(true_run, axis=0))))
    errors = forecast_rmse(surrogate, x0, truth)
    dt = float(model.dt)
    valid = float(valid_prediction_time(errors, threshold * sigma_clim, dt, lyapunov_exponent))
    surrogate_run = rollout(surrogate, x, climate_steps)
    finite = bool(jnp.all(jnp.isfinite(surrogate_run)))
    clim_true, clim_sur = climatology(true_run), climatology(surrogate_run)
    err = compare_climatology(clim_sur, clim_true)
    return {
        "valid_time": valid,
        "forecast_rmse": [float(v) for v in errors],
        "lead_times": [float((k + 1) * dt * lyapunov_exponent) for k in range(leads)],
        "sigma_clim": sigma_clim,
        "climatology_error": {k: float(v) for k, v in err._asdict().items()},
        "surrogate_std": float(jnp.mean(clim_sur.std)),
        "true_std": float(jnp.mean(clim_true.std)),
        "finite": finite,
    }


def _without_noise(model: AbstractModel) -> AbstractModel:
    if isinstance(model, Emulator) and model.noise_std:
        return eqx.tree_at(lambda m: m.noise_std, model, 0.0)
    return model


# ----------------------------------------------------------------------------- the loop


@dataclasses.dataclass
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


@dataclasses.dataclass
class IterativeResult:
    """The outcome of :func:`iterative_emulation`.

    Attributes:
        surrogate: the last trained emulator.
        analysis: the last analysis means ``(time, n)``.
        variance: their per-element ensemble variances ``(time, n)``.
        rmse_interpolation: time-mean RMSE of the starting interpolation (NaN without truth).
        iterations: one :class:`IterationRecord` per iteration.
        skill: :func:`surrogate_skill` of the last surrogate (None without ``model``).
        resumed_from: iterations read back from the checkpoint (0: none).
    """

    surrogate: Emulator
    analysis: np.ndarray
    variance: np.ndarray
    rmse_interpolation: float
    iterations: list[IterationRecord]
    skill: dict[str, Any] | None
    resumed_from: int = 0

    def summary(self) -> dict[str, Any]:
        """Plain data for JSON: everything but the arrays and the surrogate."""
        return {
            "rmse_interpolation": self.rmse_interpolation,
            "iterations": [dataclasses.asdict(r) for r in self.iterations],
            "skill": self.skill,
            "resumed_from": self.resumed_from,
        }


def _time_mean_rmse(x, truth, burn_in: int) -> float:
    err = np.sqrt(np.mean((np.asarray(x) - np.asarray(truth)) ** 2, axis=-1))
    return float(np.mean(err[burn_in:]))


def iterative_emulation(
    observations: Observations,
    *,
    key: PRNGKeyArray,
    dt: float,
    iterations: int = 15,
    net: eqx.Module | None = None,
    widths: tuple[int, ...] = (24, 37),
    method: AbstractEnsembleMethod | None = None,
    ensemble_size: int = 30,
    model_noise_std: float = 1.0,
    epochs_first: int = 40,
    epochs: int = 20,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    ridge: float = 1e-4,
    variance_floor: float = 0.01,
    weighting: str = "variance",
    validation_fraction: float = 0.0,
    truth: Float[Array, "time n"] | None = None,
    burn_in: int = 0,
    model: AbstractModel | None = None,
    skill_every: int = 1,
    skill_options: dict[str, Any] | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> IterativeResult:
    """Learn a surrogate from observations by alternating training and EnKF-N (Brajard 2020).

    Iteration ``i`` (from 1) trains the network on the current estimate (iteration 1: the
    :func:`space_time_interpolation`, observed elements weighted 1, unobserved 0; later:
    the analyses, weighted ``1 / (variance + variance_floor)``), warm-started from the
    previous network, then assimilates the whole record with :class:`~assimilax.da.
    ensemble.EnKF_N` (``ensemble_size`` members) and the surrogate, noise
    ``sqrt(dt) * model_noise_std`` per step, from ``current[0] + N(0, I)``.

    Args:
        observations: the record, one row per model step (``every_steps = 1``), of a
            periodic 1-D field (Lorenz-96).
        key: PRNG key; iteration ``i`` uses ``fold_in(key, i)``.
        dt: model time step of the record.
        iterations: number of train + assimilate passes.
        net: the network (default :class:`~assimilax.ml.nets.BrajardCNN` with
            ``widths`` = (bilinear filters, hidden filters...), input normalised by the
            interpolation's mean and standard deviation); it is the increment of a
            resolvent :class:`~assimilax.ml.Emulator`.
        widths: filters of the default network's layers (the paper: 24, 37).
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
        truth: true states at the observation times ``(time, n)``, for the RMSEs.
        burn_in: times left out of the time-mean RMSEs.
        model: the true model, for :func:`surrogate_skill` (None: skill not measured).
        skill_every: measure the skill every this many iterations (and at the last).
        skill_options: keyword arguments of :func:`surrogate_skill`.
        checkpoint: directory: each finished iteration is written there, and a run with
            the same directory resumes after the last one written.
        progress: training progress bars.
        log: called with one line per finished step.

    Returns:
        :class:`IterativeResult`.

    Raises:
        ValueError: the record is not one row per step, or the options are out of range.
        DivergedIterationError: an iteration produced non-finite analyses or losses.
    """
    if observations.every_steps != 1:
        raise ValueError("iterative_emulation: observations must be one row per model step "
                         f"(every_steps = 1), got every_steps = {observations.every_steps}.")
    if iterations < 1 or ensemble_size < 2 or epochs_first < 1 or epochs < 1:
        raise ValueError("iterative_emulation: iterations, epochs_first and epochs must be >= 1 "
                         f"and ensemble_size >= 2, got {iterations}, {epochs_first}, {epochs}, "
                         f"{ensemble_size}.")
    if weighting not in ("variance", "uniform"):
        raise ValueError(f"iterative_emulation: weighting must be 'variance' or 'uniform', got "
                         f"{weighting!r}.")
    if truth is not None and truth.shape != observations.y.shape:
        raise ValueError(f"iterative_emulation: truth must have shape {observations.y.shape}, "
                         f"got {truth.shape}.")
    say = log or (lambda line: None)
    n_time, n = observations.y.shape
    ckpt = Path(checkpoint) if checkpoint is not None else None

    interp = space_time_interpolation(observations.y, observations.mask)
    rmse_interp = (_time_mean_rmse(interp, truth, burn_in) if truth is not None else math.nan)
    say(f"interpolation: analysis RMSE {rmse_interp:.3f}")
    if net is None:
        net = BrajardCNN(key=jax.random.fold_in(key, 10**6), bilinear_filters=widths[0],
                         hidden_filters=tuple(widths[1:]), input_norm=True,
                         input_mean=float(interp.mean()), input_std=float(interp.std()))
    surrogate = Emulator(net, dt, mode="resolvent", noise_std=model_noise_std, state_size=n)
    current = interp
    uniform = weighting == "uniform"

    def weights_of(var):
        return np.ones_like(var) if uniform else 1.0 / (var + variance_floor)

    weights = np.ones_like(interp) if uniform else np.asarray(observations.mask, float)
    variance = np.full_like(interp, np.nan)
    records: list[IterationRecord] = []
    skill = None
    start = 0
    if ckpt is not None:
        found = _load_checkpoint(ckpt, surrogate)
        if found is not None:
            start, surrogate, current, variance, records = found
            weights = weights_of(variance)
            say(f"resumed after iteration {start} from {ckpt}")
    method = EnKF_N() if method is None else method
    run_da = eqx.filter_jit(lambda m, obs, ens0, k, x_true: assimilate(
        m, obs, method, ens0, key=k, truth=x_true, save_ensembles=True))

    for i in range(start + 1, iterations + 1):
        k_train, k_init, k_da, k_skill = jax.random.split(jax.random.fold_in(key, i), 4)
        t0 = time.perf_counter()
        surrogate, history = train_surrogate(
            surrogate, current, weights, key=k_train,
            epochs=epochs_first if i == 1 else epochs, batch_size=batch_size,
            learning_rate=learning_rate, ridge=ridge,
            validation_fraction=validation_fraction, progress=progress)
        loss = history.train_loss[-1]
        if not math.isfinite(loss):
            raise DivergedIterationError(f"iteration {i}: training loss is {loss}.")
        t1 = time.perf_counter()
        ens0 = (jnp.asarray(current[0]) + jax.random.normal(k_init, (ensemble_size, n),
                                                            jnp.asarray(current).dtype))
        res = run_da(surrogate, observations, ens0, k_da, truth)
        ensembles = res.ensembles  # (time, member, n)
        mean = np.asarray(jnp.mean(ensembles, axis=1))
        var = np.asarray(jnp.var(ensembles, axis=1, ddof=1))
        t2 = time.perf_counter()
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var))):
            bad = int(np.argmax(~np.isfinite(mean).all(axis=1)))
            raise DivergedIterationError(
                f"iteration {i}: the EnKF-N with the surrogate gave non-finite analyses from "
                f"time {bad} on; the surrogate is unstable (train longer or lower the "
                "learning rate).")
        rmse_a = _time_mean_rmse(mean, truth, burn_in) if truth is not None else math.nan
        spread = float(np.mean(np.sqrt(np.mean(var, axis=1))[burn_in:]))
        valid = None
        if model is not None and (i % skill_every == 0 or i == iterations):
            skill = surrogate_skill(surrogate, model, key=k_skill, **(skill_options or {}))
            valid = skill["valid_time"]
        records.append(IterationRecord(i, rmse_a, spread, float(loss), history.epochs_run,
                                       valid, t1 - t0, t2 - t1))
        current, variance = mean, var
        weights = weights_of(var)
        shown = "" if valid is None else f", valid time {valid:.2f} Lyapunov times"
        say(f"iteration {i}/{iterations}: analysis RMSE {rmse_a:.3f}, spread {spread:.3f}, "
            f"training loss {loss:.4g}{shown} ({t1 - t0:.1f} s training, {t2 - t1:.1f} s DA)")
        if ckpt is not None:
            _save_checkpoint(ckpt, i, surrogate, current, variance, records)
    if model is not None and skill is None:  # resumed after the last iteration
        k_skill = jax.random.split(jax.random.fold_in(key, iterations), 4)[3]
        skill = surrogate_skill(surrogate, model, key=k_skill, **(skill_options or {}))
    return IterativeResult(surrogate, current, variance, rmse_interp, records, skill,
                           resumed_from=start)


_LATEST = "latest.json"


def _save_checkpoint(path: Path, i, surrogate, current, variance, records) -> None:
    """Write iteration ``i`` into ``path/iteration_<i>/``, then point ``latest.json`` at it.

    ``latest.json`` is replaced atomically after the iteration's files are complete, so an
    interruption at any moment leaves the previous iteration readable.
    """
    folder = path / f"iteration_{i:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    eqx.tree_serialise_leaves(folder / "surrogate.eqx", surrogate)
    np.savez(folder / "analysis.npz", analysis=current, variance=variance)
    (folder / "iterations.json").write_text(
        json.dumps([dataclasses.asdict(r) for r in records], indent=1))
    tmp = path / (_LATEST + ".tmp")
    tmp.write_text(json.dumps({"iteration": i, "folder": folder.name}))
    os.replace(tmp, path / _LATEST)
    previous = path / f"iteration_{i - 1:03d}"
    if previous.is_dir():  # keep the latest only: a full run's analyses are 25 MB each
        for f in previous.iterdir():
            f.unlink()
        previous.rmdir()


def _load_checkpoint(path: Path, surrogate):
    """``(iteration, surrogate, analysis, variance, records)`` of the latest iteration
    written under ``path``, or None."""
    latest = path / _LATEST
    if not latest.is_file():
        return None
    pointer = json.loads(latest.read_text())
    folder = path / pointer["folder"]
    records = [IterationRecord(**r) for r in json.loads((folder / "iterations.json").read_text())]
    arrays = np.load(folder / "analysis.npz")
    surrogate = eqx.tree_deserialise_leaves(folder / "surrogate.eqx", surrogate)
    return pointer["iteration"], surrogate, arrays["analysis"], arrays["variance"], records

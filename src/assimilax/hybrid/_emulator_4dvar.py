r"""4D-Var with deep-emulator gradients: Nonnenmacher & Greenberg (2021) on Lorenz-96.

A convolutional network is trained on simulator states to emulate the Lorenz-96 tendency
(stepped by RK4, as the authors' ``rk4_default`` forwarder does); its automatic-
differentiation Jacobian then replaces the simulator's missing adjoint in strong-constraint
4D-Var **without background term** (the authors' set-up):

$$J(x_0) = \frac{1}{2\sigma^2}\sum_{k=1}^{L}\big\|m_k\odot\big(y_k - M_{0\to k}(x_0)\big)\big\|^2,$$

with $x_0$ the state at the window start, $y_k$ the observations $k$ model steps later,
$m_k$ the rotating observation mask (:class:`~assimilax.observations.RotatingSubset`: a
quarter of the grid, variables $i \equiv t \pmod 4$ at absolute step $t$) and
$\sigma^2 = 1$. Three variants (:data:`VARIANTS`) share the truth, observations and first
guesses:

- ``"true"``: the simulator and its exact adjoint (automatic differentiation);
- ``"emulator_gradient"``: the simulator forward, the emulator's Jacobian backward
  (:class:`assimilax.ml.SurrogateGradient`): the cost values are exact, only the gradient
  is approximate — the case of a simulator without an adjoint;
- ``"emulator"``: the emulator forward and backward (the authors' ``deepEmulator`` runs).

This module is the composition; the parts live where they belong: the network
(:class:`assimilax.ml.nets.DeepEmulatorCNN`), the training (:func:`assimilax.ml.fit`),
the observation operator (:class:`assimilax.observations.RotatingSubset`), the cost
(:class:`assimilax.da.variational.NoBackgroundWindow`) and the minimiser
(:class:`assimilax.da.variational.LBFGS`); the twin is the shared one
(:func:`assimilax.experiments.simulate_twin`, composed in :mod:`assimilax.experiments`
with the paper's set-up from the ``nonnenmacher2021`` preset).

Windows of ``L`` model steps are consecutive and do not overlap (the authors' ``T_shift =
T_win``); they are cycled as in the authors' ``solve_4dvar``: the first guess of a window is
the forecast of the previous analysis over one window (with the variant's forward model),
the first window starts from a periodic linear interpolation of the first observations
(their ``get_init(..., method='interpolate')``, :func:`first_guess_interpolation`). The
minimiser is L-BFGS with a strong-Wolfe (zoom) line search and memory 10 (their
``torch.optim.LBFGS(history_size=10, line_search_fn='strong_wolfe')``), run to convergence
(or ``max_iterations``) inside one ``lax.while_loop`` per window; windows are
``lax.scan``-ned, independent truth trajectories (trials) ``lax.map``-ped.

Set-up taken from the authors' code (github.com/m-dml/emulator_L96, ``experiments_DA/`` runs
84-92 (emulator) and 48-80 (true model), ``L96_emulator/data_assimilation.py``,
``run_DA.py``, ``likelihood.py``, ``networks.py``): K = 40, F = 8, dt = 0.0125,
``ObsOp_rotsampleGaussian`` with ``frq = 4`` and ``sigma2 = 1``, windows of 8 to 72 steps,
no prior term in the cost (``priors=None`` in ``optim_initial_state``), emulator
``TinyNetwork`` trained to predict the next state through an RK4 step (exp 77:
``deepNet_predictState``, batch 32, Adam 1e-3).

Refs: Nonnenmacher & Greenberg (2021), J. Adv. Model. Earth Syst. 13, e2021MS002554;
Fertig, Harlim & Hunt (2007), Tellus A 59, 96-100.
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ..da.variational import LBFGS, NoBackgroundWindow
from ..metrics import jacobian_error, time_mean_ci
from ..ml.correction import SurrogateGradient
from ..ml.emulator import Emulator
from ..ml.nets import DeepEmulatorCNN
from ..ml.training import History, fit
from ..models import AbstractModel, rollout
from ..observations import Observations

__all__ = [
    "VARIANTS",
    "Emulator4DVar",
    "Emulator4DVarResult",
    "EmulatorErrors",
    "VariantScores",
    "WindowAnalyses",
    "emulator_errors",
    "first_guess_interpolation",
    "train_emulator",
    "training_pairs",
]

#: The three 4D-Var variants, in the order they are reported.
VARIANTS = ("true", "emulator_gradient", "emulator")


# ------------------------------------------------------------------- data and training


def training_pairs(
    model: AbstractModel,
    *,
    key: PRNGKeyArray,
    n_samples: int,
    sample_every: int = 4,
    spin_up_steps: int = 1600,
    n_trajectories: int = 1,
) -> tuple[Float[Array, "sample state"], Float[Array, "sample state"]]:
    """Pairs ``(x_t, x_{t+1})`` of the simulator, one model step (``model.dt``) apart.

    States are taken every ``sample_every`` steps along ``n_trajectories`` independent
    trajectories (``vmap``-ped ``rollout``), each after ``spin_up_steps`` steps from a random
    initial condition; the default spacing, 4 steps of 0.0125, is the authors' 0.05 time
    units between training states.

    Returns:
        ``(inputs, targets)``, each ``(n_samples, state)``, trajectories concatenated
        (``n_samples`` is rounded up to a multiple of ``n_trajectories``).
    """
    per = -(-n_samples // n_trajectories)
    keys = jax.random.split(key, n_trajectories)

    def one(k):
        x0 = model.initial_condition(k)
        x0 = rollout(model, x0, 1, every=spin_up_steps)[-1]
        xs = rollout(model, x0, per, every=sample_every)
        return xs, jax.vmap(model.step)(xs)

    xs, ys = jax.jit(jax.vmap(one))(keys)
    return xs.reshape(-1, xs.shape[-1]), ys.reshape(-1, ys.shape[-1])


def train_emulator(
    inputs: Float[Array, "sample state"],
    targets: Float[Array, "sample state"],
    *,
    key: PRNGKeyArray,
    dt: float,
    net: eqx.Module | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.1,
    progress: bool = False,
) -> tuple[Emulator, History]:
    r"""Train an RK4 tendency emulator on one-step pairs with :func:`assimilax.ml.training.fit`.

    The emulator is ``Emulator(net, dt, mode="tendency")``: $x_{t+1} \approx
    \mathrm{RK4}_{\Delta t}(\mathrm{net}, x_t)$, the authors' ``Model_forwarder_rk4default``
    around a network that predicts $\dot x$. The loss is the mean squared one-step error
    divided by $\Delta t^2$ (a tendency-sized error; same minimiser as their state MSE):
    $\frac{1}{BN}\sum\|(\hat x_{t+1} - x_{t+1})/\Delta t\|^2$. Adam with a cosine decay
    of the learning rate to 1 % over all minibatches.

    Args:
        inputs: states ``(sample, state)`` from :func:`training_pairs`.
        targets: the states one step later ``(sample, state)``.
        key: initialises the default network and shuffles the minibatches.
        dt: the model step of the pairs.
        net: the network; default :class:`~assimilax.ml.nets.DeepEmulatorCNN` (the
            authors' sizes).
        epochs: passes over the pairs.
        batch_size: pairs per minibatch.
        learning_rate: Adam's initial learning rate (cosine decay to 1 %).
        validation_fraction: share of the pairs held out for a validation loss.
        progress: show a progress bar.

    Returns:
        ``(emulator, history)``.
    """
    k_net, k_fit = jax.random.split(key)
    if net is None:
        net = DeepEmulatorCNN(key=k_net)
    emulator = Emulator(net, dt, mode="tendency", state_size=inputs.shape[-1])
    n_train = inputs.shape[0] - round(validation_fraction * inputs.shape[0])
    steps = max(1, epochs * (n_train // batch_size))
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.01))

    def loss_fn(em, batch):
        x, y = batch
        pred = jax.vmap(em.step)(x)
        return jnp.mean(((pred - y) / dt) ** 2)

    return fit(emulator, loss_fn, (inputs, targets), key=k_fit, optimizer=optimizer,
               epochs=epochs, batch_size=batch_size,
               validation_fraction=validation_fraction, progress=progress)


class EmulatorErrors(NamedTuple):
    """How far an emulator's one-step map is from the simulator's on attractor states.

    Attributes:
        jacobian_error: mean relative Frobenius error of the one-step Jacobian
            (:func:`assimilax.metrics.jacobian_error`).
        one_step_rmse: RMSE of one emulator step against one simulator step.
    """

    jacobian_error: float
    one_step_rmse: float


def emulator_errors(
    emulator: AbstractModel, model: AbstractModel, *, key: PRNGKeyArray, n_states: int = 200
) -> EmulatorErrors:
    """Jacobian and one-step errors of ``emulator`` against ``model`` on ``n_states`` fresh
    attractor states, 40 steps apart (:func:`training_pairs` from ``key``)."""
    test, _ = training_pairs(model, key=key, n_samples=n_states, sample_every=40)
    jac = float(jax.jit(jacobian_error)(emulator, model, test))
    step_err = float(jnp.sqrt(jnp.mean(
        (jax.vmap(emulator.step)(test) - jax.vmap(model.step)(test)) ** 2)))
    return EmulatorErrors(jac, step_err)


# ------------------------------------------------------------------------------ 4D-Var


def first_guess_interpolation(
    y: Float[Array, " state"], mask: Bool[Array, " state"]
) -> Float[Array, " state"]:
    """Periodic linear interpolation of one time's observed values onto the whole ring
    (the authors' ``get_init(..., method='interpolate')``); ``mask`` must hold at least
    one observed variable."""
    n = y.shape[-1]
    i = jnp.arange(n)[:, None]
    j = jnp.arange(n)[None, :]
    big = 4 * n
    # nearest observed index at or before i (going round the ring), and at or after i
    prev = jnp.max(jnp.where(mask[None, :], jnp.where(j <= i, j, j - n), -big), axis=1)
    nxt = jnp.min(jnp.where(mask[None, :], jnp.where(j >= i, j, j + n), big), axis=1)
    gap = jnp.maximum(nxt - prev, 1)
    w = ((jnp.arange(n) - prev) / gap).astype(y.dtype)
    return (1 - w) * y[prev % n] + w * y[nxt % n]


class WindowAnalyses(NamedTuple):
    """The 4D-Var analyses of consecutive windows (leading axes: trial, if any, then window).

    Attributes:
        analyses: the analysed window-start states ``(window, state)``.
        trajectories: the analysed states at the window's steps ``(window, step, state)``.
        costs: the final costs ``(window,)``.
        iterations: the L-BFGS iterations ``(window,)``.
    """

    analyses: Float[Array, "window state"]
    trajectories: Float[Array, "window step state"]
    costs: Float[Array, " window"]
    iterations: Array


@dataclasses.dataclass(frozen=True)
class VariantScores:
    r"""Analysis errors of one 4D-Var variant over the scored windows of all trials.

    Attributes:
        rmse: mean analysis RMSE at the window start, $\sqrt{\frac1n\|x_0^a -
            x_0^{\rm true}\|^2}$ (the control, the authors' stored ``x_sols``).
        rmse_ci: its AR(1)-corrected 95 % half-width
            (:func:`assimilax.metrics.time_mean_ci` over the windows of all trials in turn).
        rmse_end: mean RMSE at the window end.
        rmse_window: mean RMSE over all the window's steps.
        per_window: the window-start RMSEs ``(trial, scored window)``.
        cost: mean final cost.
        iterations: mean L-BFGS iterations.
        seconds: wall time of the variant (compilation included).
    """

    rmse: float
    rmse_ci: float
    rmse_end: float
    rmse_window: float
    per_window: np.ndarray
    cost: float
    iterations: float
    seconds: float

    def to_dict(self) -> dict[str, float]:
        """The scalars, for JSON (without ``per_window``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "per_window"}


@dataclasses.dataclass(frozen=True)
class Emulator4DVarResult:
    """The three 4D-Var variants on the same truth, observations and first guesses.

    Attributes:
        window: the window length in model steps.
        true: the simulator with its exact adjoint.
        emulator_gradient: the simulator with the emulator's gradients.
        emulator: the emulator throughout.
        seconds: wall time of the three variants.
    """

    window: int
    true: VariantScores
    emulator_gradient: VariantScores
    emulator: VariantScores
    seconds: float

    def variant(self, name: str) -> VariantScores:
        """The scores of a variant of :data:`VARIANTS` by name."""
        if name not in VARIANTS:
            raise KeyError(f"Emulator4DVarResult: no variant {name!r}; the variants are "
                           f"{VARIANTS}.")
        return getattr(self, name)

    @property
    def ratio_emulator_gradient(self) -> float:
        """Mean window-start RMSE with emulator gradients over that with the exact adjoint."""
        return self.emulator_gradient.rmse / self.true.rmse

    @property
    def ratio_emulator(self) -> float:
        """Mean window-start RMSE with the emulator throughout over the exact adjoint's."""
        return self.emulator.rmse / self.true.rmse


def _rmse(a, b):
    return jnp.sqrt(jnp.mean((a - b) ** 2, axis=-1))


class Emulator4DVar(eqx.Module):
    r"""4D-Var without background over consecutive windows, with a simulator or an emulator.

    Window ``w`` of a record estimates the state at its start from its ``window``
    observation times by :class:`~assimilax.da.variational.LBFGS` of the
    :class:`~assimilax.da.variational.NoBackgroundWindow` cost; the first guess of window
    ``w + 1`` is the forward model run over one window from the analysis of window ``w``
    (the authors' cycling). :meth:`run` scores the three :data:`VARIANTS` on the same
    records: the simulator with its exact adjoint, the simulator with the emulator's
    gradients (:class:`~assimilax.ml.SurrogateGradient`), the emulator throughout.

    Attributes:
        window: model steps (observation times) per window.
        solver: the minimiser of each window's cost.
        burn_in: windows at the start of each trial left out of the scores (the first
            starts from the crude interpolation).
    """

    window: int = eqx.field(static=True, default=8)
    solver: LBFGS = LBFGS()
    burn_in: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        if self.window < 1 or self.burn_in < 0:
            raise ValueError(f"Emulator4DVar: window must be >= 1 and burn_in >= 0, got "
                             f"{self.window} and {self.burn_in}.")

    def cycle(self, model: AbstractModel, observations: Observations,
              first_guess: Float[Array, " state"]) -> WindowAnalyses:
        """The analyses of one record of consecutive windows (one ``lax.scan``).

        Args:
            model: the forward model of the variant (its derivatives are those of the
                variant too).
            observations: one row per model step, ``windows * window`` rows; row ``k`` is
                ``k + 1`` steps after the start of the first window.
            first_guess: the first window's first guess ``(state,)``.
        """
        n_times, n_obs = observations.y.shape
        if n_times % self.window:
            raise ValueError(f"Emulator4DVar: {n_times} observation times are not a whole "
                             f"number of windows of {self.window}.")
        shape = (n_times // self.window, self.window, n_obs)
        operator, noise = observations.operator, observations.noise
        every = observations.every_steps

        def one_window(guess, inputs):
            yw, mw = inputs
            problem = NoBackgroundWindow(model, yw, mw, operator, noise, every)
            xa, cost, n_iter = self.solver.solve(problem.cost, guess)
            traj = problem.trajectory(xa)
            return traj[-1], (xa, traj, cost, n_iter)

        _, out = jax.lax.scan(one_window, first_guess,
                              (observations.y.reshape(shape), observations.mask.reshape(shape)))
        return WindowAnalyses(*out)

    def run(
        self,
        simulator: AbstractModel,
        emulator: AbstractModel,
        observations: Observations,
        truth: Float[Array, "trial time state"],
        first_guess: Float[Array, "trial state"],
    ) -> Emulator4DVarResult:
        """Score the three variants on ``trial`` independent records.

        Each variant is one jitted program: ``lax.map`` over the trials (not ``vmap``:
        see :class:`~assimilax.da.variational.LBFGS`) of :meth:`cycle`.

        Args:
            simulator: the simulator (its adjoint is automatic differentiation).
            emulator: the learned emulator of the simulator.
            observations: one record per trial stacked on a leading axis (as ``jax.vmap``
                of a twin returns them): ``y`` and ``mask`` ``(trial, time, obs)``.
            truth: the true states ``(trial, time + 1, state)``, from the first window's
                start to the last window's end.
            first_guess: the first window's first guess of each trial ``(trial, state)``.

        Returns:
            :class:`Emulator4DVarResult`.
        """
        length = self.window
        n_trials, n_times = observations.y.shape[:2]
        if truth.shape[:2] != (n_trials, n_times + 1):
            raise ValueError(f"Emulator4DVar.run: truth must be (trial, time + 1, state) = "
                             f"({n_trials}, {n_times + 1}, ...), got {truth.shape}.")
        if n_times // length <= self.burn_in:
            raise ValueError(f"Emulator4DVar.run: {n_times // length} windows leave none "
                             f"after burn_in = {self.burn_in}.")
        burn_in = self.burn_in
        x_start = truth[:, :-1][:, ::length]  # (trial, window, state)
        x_traj = truth[:, 1:].reshape(n_trials, n_times // length, length, truth.shape[-1])
        variants = {
            "true": simulator,
            "emulator_gradient": SurrogateGradient(simulator, emulator),
            "emulator": emulator,
        }
        t_all = time.perf_counter()
        scores = {}
        for name, fwd in variants.items():
            t0 = time.perf_counter()
            xa, traj, cost, n_iter = _run_trials(self, fwd, observations, first_guess)
            xa = jax.block_until_ready(xa)
            err = np.asarray(_rmse(xa, x_start))[:, burn_in:]
            err_end = np.asarray(_rmse(traj[:, :, -1], x_traj[:, :, -1]))[:, burn_in:]
            err_win = np.asarray(jnp.sqrt(jnp.mean((traj - x_traj) ** 2, axis=(-2, -1))))
            err_win = err_win[:, burn_in:]
            mean, half = time_mean_ci(err.ravel())
            scores[name] = VariantScores(
                rmse=mean, rmse_ci=half, rmse_end=float(err_end.mean()),
                rmse_window=float(err_win.mean()), per_window=err,
                cost=float(np.asarray(cost)[:, burn_in:].mean()),
                iterations=float(np.asarray(n_iter)[:, burn_in:].mean()),
                seconds=time.perf_counter() - t0)
        return Emulator4DVarResult(window=length, seconds=time.perf_counter() - t_all,
                                   **scores)


@eqx.filter_jit
def _run_trials(method: Emulator4DVar, model, observations, first_guess) -> WindowAnalyses:
    # lax.map, not vmap: see LBFGS
    return jax.lax.map(lambda a: method.cycle(model, *a), (observations, first_guess))

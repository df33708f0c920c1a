r"""4D-Var with deep-emulator gradients: Nonnenmacher & Greenberg (2021) on Lorenz-96.

A convolutional network is trained on simulator states to emulate the Lorenz-96 tendency
(stepped by RK4, as the authors' ``rk4_default`` forwarder does); its automatic-
differentiation Jacobian then replaces the simulator's missing adjoint in strong-constraint
4D-Var **without background term** (the authors' set-up):

$$J(x_0) = \frac{1}{2\sigma^2}\sum_{k=1}^{L}\big\|m_k\odot\big(y_k - M_{0\to k}(x_0)\big)\big\|^2,$$

with $x_0$ the state at the window start, $y_k$ the observations $k$ model steps later,
$m_k$ the rotating observation mask (a quarter of the grid, variables $i$ with
$i \equiv t \pmod 4$ at absolute step $t$) and $\sigma^2 = 1$. Three variants share the
truth, observations and first guesses:

- ``"true"``: the simulator and its exact adjoint (automatic differentiation);
- ``"emulator_gradient"``: the simulator forward, the emulator's Jacobian backward
  (:class:`assimilax.ml.SurrogateGradient`): the cost values are exact, only the gradient
  is approximate — the case of a simulator without an adjoint;
- ``"emulator"``: the emulator forward and backward (the authors' ``deepEmulator`` runs).

Windows of ``L`` model steps are consecutive and do not overlap (the authors' ``T_shift =
T_win``); they are cycled as in the authors' ``solve_4dvar``: the first guess of a window is
the forecast of the previous analysis over one window (with the variant's forward model),
the first window starts from a periodic linear interpolation of the first observations
(their ``get_init(..., method='interpolate')``). The minimiser is L-BFGS with a
strong-Wolfe (zoom) line search and memory 10 (their ``torch.optim.LBFGS(history_size=10,
line_search_fn='strong_wolfe')``), run to convergence (or ``max_iterations``) inside
one ``lax.while_loop`` per window; windows are ``lax.scan``-ned, independent truth
trajectories (``trials``) ``lax.map``-ped.

Set-up taken from the authors' code (github.com/m-dml/emulator_L96, ``experiments_DA/`` runs
84-92 (emulator) and 48-80 (true model), ``L96_emulator/data_assimilation.py``,
``run_DA.py``, ``likelihood.py``, ``networks.py``): K = 40, F = 8, dt = 0.0125,
``ObsOp_rotsampleGaussian`` with ``frq = 4`` and ``sigma2 = 1``, windows of 8 to 72 steps,
no prior term in the cost (``priors=None`` in ``optim_initial_state``), emulator
``TinyNetwork`` with kernel-3 periodic convolutions of 16 and 32 channels, each followed by
kernel-1 layers (32, 32, 32) and (128, 128, 128), ReLU, a final kernel-1 layer, trained to
predict the next state through an RK4 step (exp 77: ``deepNet_predictState``, batch 32,
Adam 1e-3). The source of ``ObsOp_rotsampleGaussian`` is not in the stored snapshot of
the repository; the interleaved rotation used here (every 4th variable, shifted by one
each step, so that every variable is observed once in 4 steps) is our reading of its name
and arguments (a rotating subsample with cycle length ``frq``, after the set-up of Fertig
et al. 2007 that the authors' README says they re-implemented).

Refs: Nonnenmacher & Greenberg (2021), J. Adv. Model. Earth Syst. 13, e2021MS002554;
Fertig, Harlim & Hunt (2007), Tellus A 59, 96-100.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ..metrics import jacobian_error, time_mean_ci
from ..ml.correction import SurrogateGradient
from ..ml.emulator import Emulator
from ..ml.training import History, fit
from ..models import AbstractModel, Lorenz96, rollout

__all__ = [
    "DeepEmulatorCNN",
    "VARIANTS",
    "cycle_4dvar",
    "emulator_4dvar",
    "first_guess_interpolation",
    "lbfgs_minimise",
    "observe",
    "rotating_mask",
    "train_emulator",
    "training_pairs",
    "twin_windows",
    "window_cost",
    "window_trajectory",
]

#: The three 4D-Var variants, in the order they are reported.
VARIANTS = ("true", "emulator_gradient", "emulator")


# --------------------------------------------------------------------------- network


class DeepEmulatorCNN(eqx.Module):
    r"""The authors' L96 emulator network (their ``TinyNetwork``): ``(n,) -> (n,)``.

    For each width $w$ of ``ks3_widths``: a periodic kernel-3 convolution to $w$ channels,
    then kernel-1 ("pointwise") convolutions of ``inter_widths`` (after every kernel-3
    layer but the last) or ``final_widths`` (after the last), all with ReLU; a final linear
    kernel-1 convolution to one channel. Two kernel-3 layers give a receptive field of 5
    grid points, $x_{i-2},\dots,x_{i+2}$, enough for the L96 tendency. Translation-
    equivariant on the ring. The defaults are the authors' "deep" emulator (exp 77):
    ``(16, 32)``, ``(32, 32, 32)``, ``(128, 128, 128)``; 43,201 parameters.

    Each layer is written as a matrix product, $h' = W\,[h_{i-1}; h_i; h_{i+1}] + b$ for
    kernel 3 (one periodic pad and three slices stacked along the channels) and
    $h' = Wh + b$ for kernel 1, rather than as an XLA convolution: inside ``lax.scan`` /
    ``while`` loops (the epochs of :func:`~assimilax.ml.training.fit`, the 4D-Var
    iterations) XLA's CPU convolutions run about 8x slower than at the top level of a
    program, matrix products do not (measured: one epoch of 112 minibatches of 32, 27.5 s
    with ``eqx.nn.Conv1d`` layers, 3.4 s with matrix products, 2 cores).
    Initialisation as PyTorch's ``Conv1d`` (uniform in $\pm 1/\sqrt{\text{fan-in}}$).
    Parameters in ``dtype`` (float32 by default); the input is cast to it.
    """

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    kernel_sizes: tuple[int, ...] = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)

    def __init__(
        self,
        *,
        key: PRNGKeyArray,
        ks3_widths: Sequence[int] = (16, 32),
        inter_widths: Sequence[int] = (32, 32, 32),
        final_widths: Sequence[int] = (128, 128, 128),
        dtype=jnp.float32,
    ):
        if not ks3_widths:
            raise ValueError("DeepEmulatorCNN: ks3_widths needs at least one layer.")
        plan = []  # (in, out, kernel)
        c = 1
        for i, w in enumerate(ks3_widths):
            plan.append((c, int(w), 3))
            c = int(w)
            for v in (final_widths if i == len(ks3_widths) - 1 else inter_widths):
                plan.append((c, int(v), 1))
                c = int(v)
        plan.append((c, 1, 1))
        weights, biases = [], []
        for (a, b, k), kk in zip(plan, jax.random.split(key, len(plan)), strict=True):
            kw, kb = jax.random.split(kk)
            bound = 1.0 / np.sqrt(a * k)
            weights.append(jax.random.uniform(kw, (b, a * k), dtype, -bound, bound))
            biases.append(jax.random.uniform(kb, (b, 1), dtype, -bound, bound))
        self.weights, self.biases = tuple(weights), tuple(biases)
        self.kernel_sizes = tuple(k for _, _, k in plan)
        self.dtype = jnp.dtype(dtype)

    def __call__(self, x: Float[Array, " n"], *, key: PRNGKeyArray | None = None
                 ) -> Float[Array, " n"]:
        h = jnp.asarray(x).astype(self.dtype)[None]
        n = h.shape[-1]
        last = len(self.weights) - 1
        for i, (w, b, k) in enumerate(zip(self.weights, self.biases, self.kernel_sizes,
                                          strict=True)):
            if k == 3:
                hp = jnp.concatenate([h[:, -1:], h, h[:, :1]], axis=1)
                h = jnp.concatenate([hp[:, 0:n], hp[:, 1:n + 1], hp[:, 2:n + 2]], axis=0)
            h = w @ h + b
            if i < last:
                h = jax.nn.relu(h)
        return h[0]


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
        net: the network; default :class:`DeepEmulatorCNN` (authors' sizes).
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


# ------------------------------------------------------------------------ observations


def rotating_mask(n: int, steps: Array | np.ndarray, *, period: int = 4) -> Bool[Array, "time n"]:
    """Which variables are observed at absolute model steps ``steps``: ``i ≡ t (mod period)``.

    A quarter of the grid (``period = 4``), shifted by one variable each step; each variable
    is observed once every ``period`` steps.
    """
    steps = jnp.asarray(steps)
    return (jnp.arange(n)[None, :] - steps[:, None]) % period == 0


def observe(
    truth: Float[Array, "time state"],
    steps: Array,
    *,
    key: PRNGKeyArray,
    sigma: float = 1.0,
    period: int = 4,
) -> tuple[Float[Array, "time state"], Bool[Array, "time state"]]:
    """Noisy observations ``y = mask * (x + sigma * eps)`` on the rotating mask, and the mask.

    Unobserved entries are 0 and carry no weight (masks, never NaN arithmetic).
    """
    mask = rotating_mask(truth.shape[-1], steps, period=period)
    noise = sigma * jax.random.normal(key, truth.shape, truth.dtype)
    return jnp.where(mask, truth + noise, 0.0), mask


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


# ---------------------------------------------------------------------------- 4D-Var


def window_trajectory(model: AbstractModel, x0: Float[Array, " state"], length: int
                      ) -> Float[Array, "step state"]:
    """States ``M_{0->k}(x0)`` for ``k = 1..length`` (deterministic; ``lax.scan``)."""

    def body(x, _):
        x = model.step(x)
        return x, x

    return jax.lax.scan(body, x0, None, length=length)[1]


def window_cost(
    model: AbstractModel,
    x0: Float[Array, " state"],
    y: Float[Array, "step state"],
    mask: Bool[Array, "step state"],
    sigma: float = 1.0,
) -> Float[Array, ""]:
    r"""$J(x_0) = \frac{1}{2\sigma^2}\sum_{k=1}^{L}\|m_k\odot(y_k - M_{0\to k}(x_0))\|^2$,
    strong-constraint 4D-Var without background term over one window of ``L = len(y)``
    model steps; ``y[k-1]`` is observed ``k`` steps after ``x0``."""
    traj = window_trajectory(model, x0, y.shape[0])
    r = jnp.where(mask, y - traj, 0.0) / sigma
    return 0.5 * jnp.sum(r**2)


def lbfgs_minimise(
    fun: Callable[[Array], Array],
    x0: Float[Array, " state"],
    *,
    max_iterations: int = 100,
    memory_size: int = 10,
    ftol: float = 1e-7,
    gtol: float = 1e-8,
) -> tuple[Float[Array, " state"], Float[Array, ""], Array]:
    r"""Minimise ``fun`` from ``x0`` by L-BFGS (``optax.lbfgs``: memory 10, zoom line search
    for the strong Wolfe conditions) in one ``lax.while_loop``.

    Stops after ``max_iterations``, or when an iteration lowers the cost by less than
    ``ftol`` (absolute: the cost is a sum of squared whitened residuals, so 1e-7 is far
    below its sampling noise), or when the gradient norm is below ``gtol`` (the authors'
    ``tolerance_change`` and ``tolerance_grad``). A step to a non-finite point is refused
    and ends the loop, as does one that would raise the cost (possible when the line
    search fails along a direction from an inexact gradient). The gradient is whatever
    ``jax.grad(fun)`` gives — with a :class:`~assimilax.ml.SurrogateGradient` model, the
    surrogate's; the cost values are then exact and no accepted step raises them.

    Under ``jax.vmap`` the ``lax.cond`` of optax's line search and of
    ``value_and_grad_from_state`` become selects that evaluate both branches (about 3x
    the work), so :func:`emulator_4dvar` maps over independent problems with
    ``lax.map`` instead.

    Returns:
        ``(x, fun(x), iterations)``.
    """
    opt = optax.lbfgs(memory_size=memory_size)
    vg = optax.value_and_grad_from_state(fun)

    def cond(carry):
        _, _, i, change, gnorm, ok = carry
        return (i < max_iterations) & (change > ftol) & (gnorm > gtol) & ok

    def body(carry):
        x, state, i, _, _, _ = carry
        with jax.numpy_dtype_promotion("standard"):
            value, grad = vg(x, state=state)
            updates, new_state = opt.update(grad, state, x, value=value, grad=grad,
                                            value_fn=fun)
        new_x = x + updates.astype(x.dtype)
        new_value = optax.tree.get(new_state, "value")
        ok = jnp.all(jnp.isfinite(new_x)) & jnp.isfinite(new_value) & (new_value <= value)
        x = jnp.where(ok, new_x, x)
        state = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_state, state)
        return x, state, i + 1, value - new_value, jnp.linalg.norm(grad), ok

    with jax.numpy_dtype_promotion("standard"):
        state0 = opt.init(x0)
    inf = jnp.array(jnp.inf, x0.dtype)
    x, _, n_iter, _, _, _ = jax.lax.while_loop(
        cond, body, (x0, state0, jnp.array(0), inf, inf, jnp.array(True)))
    return x, fun(x), n_iter


def cycle_4dvar(
    model: AbstractModel,
    y: Float[Array, "window step state"],
    mask: Bool[Array, "window step state"],
    first_guess: Float[Array, " state"],
    *,
    sigma: float = 1.0,
    max_iterations: int = 100,
) -> tuple[Float[Array, "window state"], Float[Array, "window step state"],
           Float[Array, " window"], Array]:
    """4D-Var without background over consecutive windows (one ``lax.scan`` over windows).

    Window ``w`` estimates the state at its start from ``y[w]`` (``y[w, k-1]`` is ``k``
    steps after the start) by :func:`lbfgs_minimise` of :func:`window_cost`; the first
    guess of window ``w + 1`` is ``model`` run over one window from the analysis of window
    ``w`` (the authors' cycling). ``model`` is the forward model of the variant (its
    derivatives are those of the variant too).

    Returns:
        ``(analyses, trajectories, costs, iterations)``: the analysed window-start states
        ``(window, state)``, the analysed states at the window's steps
        ``(window, step, state)``, the final costs and the L-BFGS iterations ``(window,)``.
    """
    length = y.shape[1]

    def one_window(guess, inputs):
        yw, mw = inputs
        xa, cost, n_iter = lbfgs_minimise(lambda x: window_cost(model, x, yw, mw, sigma),
                                          guess, max_iterations=max_iterations)
        traj = window_trajectory(model, xa, length)
        return traj[-1], (xa, traj, cost, n_iter)

    _, out = jax.lax.scan(one_window, first_guess, (y, mask))
    return out


def twin_windows(
    model: AbstractModel,
    *,
    key: PRNGKeyArray,
    length: int,
    n_windows: int,
    n_trials: int = 1,
    sigma: float = 1.0,
    period: int = 4,
    spin_up_steps: int = 1600,
) -> tuple[Float[Array, "trial time state"], Float[Array, "trial window step state"],
           Bool[Array, "trial window step state"], Float[Array, "trial state"]]:
    """Truth, rotating-quarter observations and first guesses for :func:`cycle_4dvar`.

    ``n_trials`` independent truth runs (``vmap``) of ``n_windows * length + 1`` states
    after ``spin_up_steps`` steps from random initial conditions; every step after the
    first state is observed on :func:`rotating_mask` (absolute step ``t = 1, 2, ...``) with
    noise ``sigma``; the first guess of the first window is
    :func:`first_guess_interpolation` of the first observations.

    Returns:
        ``(truth, y, mask, guess)``: truth ``(trial, n_windows * length + 1, state)``;
        observations and masks ``(trial, window, step, state)``; guesses ``(trial, state)``.
    """
    steps_total = n_windows * length
    steps = jnp.arange(1, steps_total + 1)

    def one(k):
        k_ic, k_noise = jax.random.split(k)
        x0 = rollout(model, model.initial_condition(k_ic), 1, every=spin_up_steps)[-1]
        truth = jnp.concatenate([x0[None], rollout(model, x0, steps_total)])
        y, mask = observe(truth[1:], steps, key=k_noise, sigma=sigma, period=period)
        return truth, y, mask, first_guess_interpolation(y[0], mask[0])

    truth, y, mask, guess = jax.jit(jax.vmap(one))(jax.random.split(key, n_trials))
    shape = (n_trials, n_windows, length, truth.shape[-1])
    return truth, y.reshape(shape), mask.reshape(shape), guess


# ------------------------------------------------------------------------- experiment


def _rmse(a, b):
    return jnp.sqrt(jnp.mean((a - b) ** 2, axis=-1))


def emulator_4dvar(
    *,
    key: PRNGKeyArray,
    window_lengths: Sequence[int] = (8, 32),
    n_windows: int = 6,
    n_trials: int = 4,
    burn_in: int = 1,
    n_train: int = 4000,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.1,
    net: eqx.Module | None = None,
    max_iterations: int = 100,
    sigma: float = 1.0,
    period: int = 4,
    n: int = 40,
    forcing: float = 8.0,
    dt: float = 0.0125,
    n_jacobian_states: int = 200,
    emulator: Emulator | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    r"""The 4D-Var experiment of Nonnenmacher & Greenberg (2021) on Lorenz-96, end to end.

    1. Training data: ``n_train`` one-step pairs of ``Lorenz96(n, forcing, dt)``, states 4
       steps (0.05 time units) apart on 4 trajectories (:func:`training_pairs`).
    2. Emulator: :class:`DeepEmulatorCNN` (or ``net``) in an RK4 tendency
       :class:`~assimilax.ml.Emulator`, trained by :func:`train_emulator` (skipped when
       ``emulator`` is given).
    3. Jacobian error (:func:`assimilax.metrics.jacobian_error`) and one-step RMSE of the
       emulator against the simulator on ``n_jacobian_states`` fresh attractor states.
    4. For each window length $L$: ``n_trials`` independent truth runs of ``n_windows``
       consecutive windows (:func:`twin_windows`), observations on the rotating quarter
       with noise ``sigma``, and :func:`cycle_4dvar` for the three :data:`VARIANTS`,
       each from the same truth, observations and first guess of the first window
       (``lax.map`` over trials, ``lax.scan`` over windows, one jitted program per
       variant and window length).

    The analysis RMSE of a window is $\sqrt{\frac1n\|x_0^a - x_0^{\rm true}\|^2}$ at the
    window start (the control, the authors' stored ``x_sols``); also reported are the
    RMSE at the window end and over all the window's steps. Means are over the
    ``n_trials * (n_windows - burn_in)`` windows after the first ``burn_in`` of each trial
    (whose first guess is the crude interpolation), with an AR(1)-corrected 95 %
    half-width (:func:`assimilax.metrics.time_mean_ci` over the windows of all trials in
    turn).

    Args:
        key: PRNG key for data, network, training, test states, truth and noise.
        window_lengths: window lengths $L$ in model steps (the paper: 8, 16, ..., 72).
        n_windows: consecutive windows per trial; ``burn_in`` of them not scored.
        n_trials: independent truth runs per window length.
        n_train: one-step training pairs.
        epochs: training epochs.
        batch_size: pairs per minibatch.
        net: the network (default :class:`DeepEmulatorCNN`).
        learning_rate: Adam's initial learning rate (cosine decay).
        validation_fraction: held-out share of the training pairs.
        max_iterations: L-BFGS iterations per window at most (:func:`lbfgs_minimise`).
        sigma: observation noise standard deviation.
        period: rotation period of the observed variables (every ``period``-th observed).
        n: Lorenz-96 state size.
        forcing: Lorenz-96 forcing F.
        dt: model time step.
        n_jacobian_states: test states for the Jacobian error.
        emulator: a trained emulator to use instead of training one.
        progress: training progress bar.

    Returns:
        A dict: ``"windows"`` maps each ``L`` to ``{variant: {"rmse", "rmse_ci",
        "rmse_end", "rmse_window", "per_window" (trials x scored windows), "cost",
        "iterations", "seconds"}, "ratio_emulator_gradient", "ratio_emulator",
        "seconds"}`` (ratios of the mean window-start RMSE to that of ``"true"``); plus
        ``"jacobian_error"`` (mean relative Frobenius error of the one-step Jacobian),
        ``"one_step_rmse"``, ``"emulator"`` (the trained or given emulator),
        ``"history"`` (the training :class:`~assimilax.ml.History` as a dict, None when
        ``emulator`` is given),
        ``"seconds"`` per phase and ``"settings"``.
    """
    if n_windows <= burn_in:
        raise ValueError(f"emulator_4dvar: n_windows={n_windows} must exceed burn_in={burn_in}.")
    model = Lorenz96(n=n, forcing=forcing, dt=dt)
    k_data, k_train, k_test, k_da = jax.random.split(key, 4)
    seconds: dict[str, float] = {}

    history = None
    if emulator is None:
        t0 = time.perf_counter()
        xs, ys = training_pairs(model, key=k_data, n_samples=n_train, n_trajectories=4)
        seconds["data"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        emulator, history = train_emulator(xs, ys, key=k_train, dt=dt, net=net, epochs=epochs,
                                           batch_size=batch_size, learning_rate=learning_rate,
                                           validation_fraction=validation_fraction,
                                           progress=progress)
        seconds["training"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    test, _ = training_pairs(model, key=k_test, n_samples=n_jacobian_states, sample_every=40)
    jac = float(jax.jit(jacobian_error)(emulator, model, test))
    step_err = float(jnp.sqrt(jnp.mean(
        (jax.vmap(emulator.step)(test) - jax.vmap(model.step)(test)) ** 2)))
    seconds["jacobian"] = time.perf_counter() - t0

    variants = {
        "true": model,
        "emulator_gradient": SurrogateGradient(model, emulator),
        "emulator": emulator,
    }

    @eqx.filter_jit
    def run_variant(fwd, y, mask, guess):
        # lax.map, not vmap: see lbfgs_minimise
        return jax.lax.map(lambda a: cycle_4dvar(fwd, *a, sigma=sigma,
                                                 max_iterations=max_iterations),
                           (y, mask, guess))

    windows: dict[int, Any] = {}
    for length in window_lengths:
        t_len = time.perf_counter()
        truth, y, mask, guess = twin_windows(
            model, key=jax.random.fold_in(k_da, int(length)), length=int(length),
            n_windows=n_windows, n_trials=n_trials, sigma=sigma, period=period)
        x_start = truth[:, :-1][:, ::length]  # (trial, window, state)
        x_traj = truth[:, 1:].reshape(y.shape)

        out: dict[str, Any] = {}
        for name, fwd in variants.items():
            t0 = time.perf_counter()
            xa, traj, cost, n_iter = run_variant(fwd, y, mask, guess)
            xa = jax.block_until_ready(xa)
            err = np.asarray(_rmse(xa, x_start))[:, burn_in:]
            err_end = np.asarray(_rmse(traj[:, :, -1], x_traj[:, :, -1]))[:, burn_in:]
            err_win = np.asarray(jnp.sqrt(jnp.mean((traj - x_traj) ** 2, axis=(-2, -1))))
            err_win = err_win[:, burn_in:]
            mean, half = time_mean_ci(err.ravel())
            out[name] = {
                "rmse": mean,
                "rmse_ci": half,
                "rmse_end": float(err_end.mean()),
                "rmse_window": float(err_win.mean()),
                "per_window": err.tolist(),
                "cost": float(np.asarray(cost)[:, burn_in:].mean()),
                "iterations": float(np.asarray(n_iter)[:, burn_in:].mean()),
                "seconds": time.perf_counter() - t0,
            }
        out["ratio_emulator_gradient"] = out["emulator_gradient"]["rmse"] / out["true"]["rmse"]
        out["ratio_emulator"] = out["emulator"]["rmse"] / out["true"]["rmse"]
        out["seconds"] = time.perf_counter() - t_len
        windows[int(length)] = out

    return {
        "windows": windows,
        "jacobian_error": jac,
        "one_step_rmse": step_err,
        "emulator": emulator,
        "history": None if history is None else history.to_dict(),
        "seconds": seconds,
        "settings": {
            "window_lengths": [int(v) for v in window_lengths], "n_windows": n_windows,
            "n_trials": n_trials, "burn_in": burn_in, "n_train": n_train, "epochs": epochs,
            "batch_size": batch_size, "learning_rate": learning_rate,
            "max_iterations": max_iterations, "sigma": sigma, "period": period, "n": n,
            "forcing": forcing, "dt": dt,
        },
    }

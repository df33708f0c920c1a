r"""A neural prior for the model-error forcing of weak-constraint 4D-Var (Bonavita &
Laloyaux 2020).

A model that gets the truth wrong, $\dot x = f(x)$ against $\dot x^t = f(x^t) + \eta(x^t)$,
leaves its error in the analysis increments of strong-constraint 4D-Var. With windows of
$L$ observation times $\Delta t$ apart ($T = L\Delta t$), the first guess of window $k$ at
its first observation time $t_1$ is the analysis trajectory of window $k-1$ continued:
$x^b_k(t_1) = \mathcal M_T(x^a_{k-1}(t_1))$, a forecast of length $T$ from a point of the
previous analysis. Were that point and $x^a_k(t_1)$ the truth, the increment would be what
the model misses over $T$; to first order in a forcing $\eta_k$ constant over $T$,

$$\delta_k = x^a_k(t_1) - x^b_k(t_1) \approx G_k\,\eta_k, \qquad
G_k = \frac{\partial \mathcal M_T(x^a_{k-1}(t_1);\,\eta)}{\partial \eta}\Big|_{\eta=0}
= \int_0^T \mathbf M(T, s)\,ds,$$

the tangent-linear response of the forecast to a constant forcing (``jax.jacfwd`` through
the model's steps), so the tendency estimate is $\hat\eta_k = G_k^{-1}\delta_k$. Its crude
form, $G_k \approx T\,I$, is $\hat\eta_k = \delta_k / T$; it underestimates the mean error
where the model's response to a forcing saturates within the window (on the truncated
two-scale Lorenz-96, by more than half).

A network $g$ learns $x^b_k(t_0) \mapsto \hat\eta_k$ (the window's background state,
what it will be given in DA) by least squares; being a regression, it learns the
conditional mean $E[\hat\eta \mid x_b]$, the state-dependent part of the model error that
a constant (cycled) forcing cannot represent. It then serves twice: as the background
forcing of weak-constraint 4D-Var, $\eta_b = g(x_b)$ in each window
(:class:`~assimilax.da.variational.WeakVar4D` ``forcing_prior``) instead of the
analysed forcing of the previous window, and as a tendency correction of the model
(``Corrected(model, g, mode="tendency")``) in strong-constraint 4D-Var.

Refs: Bonavita & Laloyaux (2020), J. Adv. Model. Earth Syst. 12, e2020MS002232;
Trémolet (2006), Q. J. R. Meteorol. Soc. 132, 2483-2504 (the forcing formulation);
Trémolet (2007), QJRMS 133, 1267-1280.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ..da.variational import WeakVar4D, propagate
from ..ml import History, fit
from ..ml.nets import PeriodicCNN, Standardized
from ..models import AbstractModel


def increment_tendencies(
    analysis: Float[Array, "time state"],
    forecast: Float[Array, "time state"],
    window: int,
    interval: float,
    *,
    model: AbstractModel | None = None,
    every_steps: int | None = None,
    burn_in_windows: int = 0,
) -> tuple[Float[Array, "sample state"], Float[Array, "sample state"]]:
    r"""Training pairs ``(x_b, eta_hat)`` from a strong-constraint 4D-Var run: the
    background state of each window and the model-error tendency its increment at the
    first observation time implies (the module docstring): $\hat\eta_k = G_k^{-1}\delta_k$
    with ``model``, $\hat\eta_k = \delta_k / (L\Delta t)$ without.

    Args:
        analysis: the run's ``mean_analysis``, ``(time, state)``, consecutive windows of
            ``window`` rows (row ``kL + j``: observation time ``j + 1`` of window ``k``).
        forecast: its ``mean_forecast`` (the background trajectories), same shape.
        window: observation times per window, $L$.
        interval: model time between observation times, $\Delta t$ (time units).
        model: the forecast model of the run: $G_k$ by ``jax.jacfwd`` of its
            ``window * every_steps`` steps from $x^a_{k-1}(t_1)$ under a constant forcing
            (:func:`~assimilax.da.variational.propagate`); None: $G_k = L\Delta t\,I$.
        every_steps: model steps per observation interval (with ``model``).
        burn_in_windows: windows at the start left out.

    Returns:
        ``(inputs, targets)``, ``(sample, state)`` each: $x^b_k(t_0)$ (the end of window
        $k-1$'s analysis) and $\hat\eta_k$ (tendency units), for windows
        ``max(1, burn_in_windows)`` on.

    Raises:
        ValueError: shapes that do not fit, fewer than two samples, or ``model`` without
            ``every_steps``.
    """
    analysis, forecast = jnp.asarray(analysis), jnp.asarray(forecast)
    if analysis.shape != forecast.shape or analysis.ndim != 2:
        raise ValueError(f"increment_tendencies: analysis {analysis.shape} and forecast "
                         f"{forecast.shape} must be the same (time, state).")
    if model is not None and every_steps is None:
        raise ValueError("increment_tendencies: give every_steps (model steps per "
                         "observation interval) with the model.")
    windows = analysis.shape[0] // window
    first = max(1, burn_in_windows)
    if windows - first < 2:
        raise ValueError(f"increment_tendencies: {analysis.shape[0]} rows hold {windows} "
                         f"windows of {window}; after {first} left out fewer than two "
                         "samples remain; use a longer record.")
    a = analysis[: windows * window].reshape(windows, window, -1)
    f = forecast[: windows * window].reshape(windows, window, -1)
    inputs = a[first - 1:-1, -1]
    delta = a[first:, 0] - f[first:, 0]
    if model is None:
        return inputs, delta / (window * interval)
    return inputs, _invert_response(model, a[first - 1:-1, 0], delta, every_steps, window)


@eqx.filter_jit
def _invert_response(model, starts, delta, every_steps: int, window: int):
    """$G_k^{-1}\\delta_k$ for each sample, $G_k$ the Jacobian of the state ``window``
    intervals after ``starts[k]`` in a constant forcing (at zero forcing)."""
    n = starts.shape[-1]

    def one(x0, d):
        def end(eta):
            eta = jnp.broadcast_to(eta, (window, n))
            return propagate(model, x0, every_steps, window, forcing=eta)[-1]

        G = jax.jacfwd(end)(jnp.zeros_like(x0))
        return jnp.linalg.solve(G, d)

    return jax.vmap(one)(starts, delta)


def forcing_network(widths=(16,), kernel_size: int = 5, *, key: PRNGKeyArray):
    """The untrained network $g$: a :class:`~assimilax.ml.nets.PeriodicCNN` (``widths``
    hidden periodic convolutions of width ``kernel_size``, tanh, a linear one to one
    channel; local and translation-equivariant, like the error of a homogeneous model),
    float64 (it runs inside the Gauss-Newton minimisation), inside a
    :class:`~assimilax.ml.nets.Standardized` with unit statistics (set by
    :func:`fit_forcing`)."""
    net = PeriodicCNN(tuple(int(w) for w in widths), kernel_size, key=key,
                      activation=jnp.tanh, dtype=jnp.float64)
    return Standardized(net, 0.0, 1.0, 0.0, 1.0, dtype=jnp.float64)


def fit_forcing(
    net: Standardized,
    inputs: Float[Array, "sample state"],
    targets: Float[Array, "sample state"],
    *,
    key: PRNGKeyArray,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.1,
    progress: bool = False,
) -> tuple[Standardized, History]:
    r"""Train $g$ on ``(inputs, targets)`` by the mean squared error (Adam).

    The input and output statistics of ``net`` (a :class:`~assimilax.ml.nets.Standardized`)
    are replaced first by the scalar mean and standard deviation of the inputs and of the
    targets (the state is homogeneous), so that the inner network sees and predicts unit
    quantities.

    Args:
        net: from :func:`forcing_network`.
        inputs, targets: from :func:`increment_tendencies`, ``(sample, state)``.
        key: shuffling key.
        epochs, batch_size, learning_rate, validation_fraction: of
            :func:`~assimilax.ml.fit` (the validation samples are the last ones).
        progress: a progress bar.

    Returns:
        ``(net, history)``; losses in tendency units squared.
    """
    inputs, targets = jnp.asarray(inputs), jnp.asarray(targets)
    stats = [jnp.mean(inputs), jnp.std(inputs), jnp.mean(targets), jnp.std(targets)]
    net = eqx.tree_at(lambda n: (n.in_mean, n.in_std, n.out_mean, n.out_std), net,
                      tuple(jnp.asarray(s, net.in_mean.dtype) for s in stats))

    def loss(n, batch):
        x, y = batch
        return jnp.mean((jax.vmap(n)(x) - y) ** 2)

    train = int(inputs.shape[0] * (1 - validation_fraction))
    return fit(net, loss, (inputs, targets), key=key, optimizer=optax.adam(learning_rate),
               epochs=epochs, batch_size=max(1, min(batch_size, train)),
               validation_fraction=validation_fraction, progress=progress)


def with_forcing_prior(method: WeakVar4D, prior) -> WeakVar4D:
    """``method`` with ``forcing_prior = prior``: $\\eta_b = g(x_b)$ in every window."""
    return eqx.tree_at(lambda m: m.forcing_prior, method, prior,
                       is_leaf=lambda x: x is None)


def true_forcing_error(
    truth_model: AbstractModel, model: AbstractModel, states: Float[Array, "sample full"],
) -> tuple[Float[Array, "sample state"], Float[Array, "sample state"]]:
    r"""The model-error tendency of ``model`` at true states: $\eta = P f^t(x^t) -
    f(P x^t)$, with $P$ the truth model's ``project`` onto the model's variables (the slow
    variables of a two-scale Lorenz-96 for a truncated one-scale model).

    Args:
        truth_model, model: ODE models with ``tendency``.
        states: full true states ``(sample, truth_model.state_size)``.

    Returns:
        ``(projected states, eta)``, ``(sample, model.state_size)`` each.
    """
    n = model.state_size
    x = truth_model.project(states, n)
    eta = truth_model.project(jax.vmap(truth_model.tendency)(states), n) - jax.vmap(
        model.tendency)(x)
    return x, eta


@dataclasses.dataclass(frozen=True)
class ForcingSkill:
    r"""How well $g$ predicts the true model-error tendency on true states.

    Attributes:
        correlation: Pearson correlation of $g(x)$ and $\eta(x)$, all samples and
            variables pooled.
        slope: least-squares slope of $g$ on $\eta$ (1: the right amplitude).
        mean_network, mean_true: their means (tendency units).
        rmse: $\sqrt{\overline{(g - \eta)^2}}$; ``rmse_mean_only``: of the best constant,
            $\mathrm{std}(\eta)$.
    """

    correlation: float
    slope: float
    mean_network: float
    mean_true: float
    rmse: float
    rmse_mean_only: float

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def forcing_skill(net, states: Float[Array, "sample state"],
                  eta: Float[Array, "sample state"]) -> ForcingSkill:
    """:class:`ForcingSkill` of ``net`` on ``(states, eta)`` from :func:`true_forcing_error`."""
    g = np.asarray(jax.vmap(net)(states), float).ravel()
    e = np.asarray(eta, float).ravel()
    ec = e - e.mean()
    return ForcingSkill(
        correlation=float(np.corrcoef(g, e)[0, 1]),
        slope=float(ec @ (g - g.mean()) / (ec @ ec)),
        mean_network=float(g.mean()), mean_true=float(e.mean()),
        rmse=float(np.sqrt(np.mean((g - e) ** 2))), rmse_mean_only=float(e.std()))

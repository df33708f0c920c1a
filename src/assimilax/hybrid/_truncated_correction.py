r"""Correcting a truncated model from analyses (Brajard, Carrassi, Bocquet & Bertino 2021).

A physical model $\mathcal M$ that lacks part of the dynamics (a one-scale Lorenz-96 for
a two-scale truth) is assimilated with a filter; from consecutive analyses $x^a_k$,
$\Delta t_{\rm obs}$ apart ($S$ model steps), the model error per unit time is

$$\delta_k = \frac{x^a_{k+1} - \mathcal M^{S}(x^a_k)}{\Delta t_{\rm obs}},$$

and a network learns $x^a_k \mapsto \delta_k$ by least squares (the authors' CNN with
batch normalisation, :class:`assimilax.ml.nets.ModelErrorCNN`; L2 on its last kernel,
RMSprop). The hybrid model adds the correction after each physical step of length
$\Delta t$:

$$x \leftarrow \mathcal M(x) + \Delta t\,\mathrm{NN}(x)$$

(:func:`step_corrected`; ``Corrected(model, dt * net, mode="resolvent")``). Free forecasts
are scored by the relative RMSE

$$R(t) = \sqrt{\frac{\overline{\|x^f(t) - x^t(t)\|^2}/n}{2\,\sigma_{\rm clim}^2}},$$

the mean over initial conditions and variables of the squared error, over twice the
climatological variance: $R = 1$ for two independent climatological states
(:func:`relative_forecast_error`).

Refs: Brajard, Carrassi, Bocquet & Bertino (2021), Phil. Trans. R. Soc. A 379, 20200086,
doi:10.1098/rsta.2020.0086 (code: github.com/brajard/reddaml, ``L2S/``).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ..ml import Corrected, fit
from ..models import AbstractModel
from ._model_error import free_forecasts, mean_and_half_width


def model_error_targets(
    model: AbstractModel,
    states: Float[Array, "time state"],
    steps: int,
    dt_obs: float,
) -> tuple[Float[Array, "pair state"], Float[Array, "pair state"]]:
    r"""Training pairs of the model error: inputs $x_k$ and targets
    $\delta_k = (x_{k+1} - \mathcal M^{S}(x_k)) / \Delta t_{\rm obs}$.

    Args:
        model: the physical (truncated) model $\mathcal M$ (its deterministic ``step``).
        states: consecutive analyses (or true states) ``(time, state)``, ``dt_obs`` apart.
        steps: model steps $S$ between two rows (static).
        dt_obs: time between two rows, $S\,\Delta t$ (model time units).

    Returns:
        ``(states[:-1], delta)``, each ``(time - 1, state)``; ``delta`` in state units per
        time unit.

    Raises:
        ValueError: fewer than two rows, ``steps < 1`` or ``dt_obs <= 0``.
    """
    if states.ndim != 2 or states.shape[0] < 2:
        raise ValueError(f"model_error_targets: states must be (time >= 2, state), got shape "
                         f"{states.shape}.")
    if steps < 1 or not dt_obs > 0:
        raise ValueError(f"model_error_targets: steps must be >= 1 and dt_obs > 0, got "
                         f"steps={steps}, dt_obs={dt_obs}.")
    inputs = states[:-1]
    return inputs, (states[1:] - free_forecasts(model, inputs, 1, steps)[:, 0]) / dt_obs


class _Scaled(eqx.Module):
    """``scale * net(x)``: a tendency turned into an increment over one step."""

    net: Callable
    scale: float

    def __call__(self, x):
        return self.scale * self.net(x)


def step_corrected(model: AbstractModel, net: Callable) -> Corrected:
    r"""The hybrid model $x \leftarrow \mathcal M(x) + \Delta t\,\mathrm{NN}(x)$ (one
    physical step, then the learned tendency times the step length ``model.dt``).

    Args:
        model: the physical model.
        net: the learned model error in tendency units, ``(state,) -> (state,)``.

    Returns:
        A resolvent-mode :class:`~assimilax.ml.Corrected` (an ``AbstractModel``).
    """
    return Corrected(model, _Scaled(net, float(model.dt)), mode="resolvent")


def model_error_loss(net, batch, *, l2: float) -> Array:
    r"""Mean squared error of ``net.train_apply`` on a batch ``(x, delta)`` (batch
    normalisation with the batch's statistics), plus ``l2`` times the sum of squares of
    the last layer's kernel (Keras's ``l2(reg)`` regulariser, Brajard et al. 2021)."""
    x, y = batch
    mse = jnp.mean((net.train_apply(x) - y.astype(net.dtype)) ** 2)
    return mse + l2 * jnp.sum(net.output.weight ** 2)


def train_model_error(
    net,
    inputs: Float[Array, "sample state"],
    targets: Float[Array, "sample state"],
    *,
    key: PRNGKeyArray,
    validation: tuple[Array, Array] | None = None,
    epochs: int = 100,
    batch_size: int = 33,
    learning_rate: float = 1e-3,
    l2: float = 0.072,
    progress: bool = False,
):
    r"""Train a :class:`~assimilax.ml.nets.ModelErrorCNN` on ``inputs -> targets``:
    :func:`model_error_loss` by RMSprop (Keras's defaults: decay 0.9, $\epsilon = 10^{-7}$
    outside the root), minibatches of ``batch_size`` reshuffled every epoch; then the
    batch normalisations' population statistics from the training inputs
    (:meth:`~assimilax.ml.nets.ModelErrorCNN.with_statistics`).

    Args:
        net: the untrained network (``train_apply``, ``with_statistics``, ``output``).
        inputs, targets: training pairs ``(sample, state)``.
        key: shuffling key.
        validation: held-out pairs ``(inputs, targets)`` for the validation loss, or None.
        epochs, batch_size, learning_rate: of the optimisation (the authors': 100, 33,
            Keras's 1e-3).
        l2: the L2 weight on the last kernel.
        progress: a progress bar.

    Returns:
        ``(net, history)``: the trained network with its population statistics, and the
        losses per epoch (MSE + L2, targets' units squared).
    """
    optimizer = optax.rmsprop(learning_rate, decay=0.9, eps=1e-7, eps_in_sqrt=False)
    batch_size = min(batch_size, int(inputs.shape[0]))
    trained, history = fit(
        net, lambda n, b: model_error_loss(n, b, l2=l2), (inputs, targets), key=key,
        optimizer=optimizer, epochs=epochs, batch_size=batch_size,
        validation_data=validation, progress=progress)
    return trained.with_statistics(inputs), history


def relative_forecast_error(
    model: AbstractModel,
    initial: Float[Array, "case state"],
    truth: Float[Array, "case lead state"],
    every: int,
    sigma_clim: float,
) -> tuple[Float[Array, " lead"], Float[Array, " lead"]]:
    r"""Relative RMSE $R(t)$ of free forecasts (module docstring), with a 95 % half-width.

    Forecast ``c`` starts from ``initial[c]`` (deterministic ``model.step``) and is compared
    with ``truth[c, l]``, ``(l + 1) * every`` model steps later. With the per-case mean
    squared errors $m_{c,l}$ and their mean $\bar m_l$, $R_l = \sqrt{\bar m_l /
    (2\sigma^2)}$; the half-width is the delta method's $R_l\,h_l / (2\bar m_l)$ with
    $h_l = 1.96\,s_l/\sqrt C$ the half-width of $\bar m_l$ over the $C$ cases (NaN for
    one case).

    Args:
        model: the forecast model.
        initial: starting states ``(case, state)``.
        truth: the truth at the leads ``(case, lead, state)``.
        every: model steps between leads (static).
        sigma_clim: climatological standard deviation $\sigma_{\rm clim}$ of the truth.

    Returns:
        ``(R, half)``, each ``(lead,)``, dimensionless.
    """

    forecasts = free_forecasts(model, initial, truth.shape[1], every)
    mse = jnp.mean((forecasts - truth) ** 2, axis=-1)  # (case, lead)
    mean, half_mse = mean_and_half_width(mse)  # NaN half-width for one case
    r = jnp.sqrt(mean / (2.0 * sigma_clim**2))
    return r, r * half_mse / (2.0 * mean)

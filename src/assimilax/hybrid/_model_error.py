r"""Offline learning of a model correction from analyses, and forecast scores of models.

Offline learning (Farchi, Bocquet, Laloyaux, Bonavita & Malartic 2021): given analyses
$x^a_j$ a fixed number $S$ of model steps apart (the ends of consecutive 4D-Var windows, or
of filter cycles), train the network of ``Corrected(model, net, mode)`` by minimising

$$\mathcal L(\theta) = \frac{1}{J\,n}\sum_j \big\|\mathcal M_\theta^{S}(x^a_j) -
x^a_{j+1}\big\|^2,$$

the error of the corrected model's $S$-step forecast of the next analysis, by
backpropagation through the $S$ steps (the physical model's adjoint by autodiff). In
resolvent mode the network is added after each step; in tendency mode inside the ODE, so
that it is integrated by the model's scheme. Both are trained by the same loss: what the
tendency correction needs that the resolvent one does not (the model's adjoint) costs
nothing here.

Refs: Farchi, Bocquet, Laloyaux, Bonavita & Malartic (2021), J. Comput. Sci. 55, 101468
(arXiv:2107.11114); Brajard, Carrassi, Bocquet & Bertino (2021), Phil. Trans. R. Soc. A
379, 20200086.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ..ml import Corrected, History, fit
from ..models import AbstractModel


def analysis_pairs(
    analysis: Float[Array, "time state"], every: int,
) -> tuple[Float[Array, "pair state"], Float[Array, "pair state"]]:
    """Consecutive analyses ``every`` rows apart: ``(analysis[every-1::every][:-1],
    analysis[every-1::every][1:])`` — for the rows of a strong-constraint 4D-Var run with
    windows of ``every`` observation times, the ends of consecutive windows (inside a
    window the analysis is a model trajectory and teaches nothing).

    Raises:
        ValueError: fewer than two such rows.
    """
    ends = analysis[every - 1::every]
    if ends.shape[0] < 2:
        raise ValueError(f"analysis_pairs: {analysis.shape[0]} analyses give fewer than two "
                         f"rows {every} apart; use a longer record.")
    return ends[:-1], ends[1:]


def fit_correction(
    model: AbstractModel,
    net: eqx.Module,
    mode: str,
    inputs: Float[Array, "pair state"],
    targets: Float[Array, "pair state"],
    steps: int,
    *,
    key: PRNGKeyArray,
    epochs: int = 100,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.1,
    patience: int | None = None,
    progress: bool = False,
) -> tuple[eqx.Module, History]:
    r"""Train ``net`` so that ``Corrected(model, net, mode)`` forecasts ``targets`` from
    ``inputs`` over ``steps`` model steps (the loss of the module docstring; Adam).

    Args:
        model: the physical model.
        net: the correction network, ``(state,) -> (state,)``.
        mode: ``"tendency"`` or ``"resolvent"`` (:class:`~assimilax.ml.Corrected`).
        inputs: starting analyses ``(pair, state)``.
        targets: the analyses ``steps`` model steps later ``(pair, state)``.
        steps: model steps between an input and its target (static).
        key: shuffling key.
        epochs, batch_size, learning_rate, validation_fraction, patience: of
            :func:`~assimilax.ml.fit` (with ``patience``, early stopping on the validation
            pairs, the last ``validation_fraction`` of them, and the best epoch's network:
            analyses are noisy targets, and few of them are soon overfitted).
        progress: a progress bar.

    Returns:
        ``(net, history)``: the trained network and its losses (mean squared error per
        variable, state units squared).
    """

    def loss(n, batch):
        x, y = batch
        corrected = Corrected(model, n, mode=mode)
        return jnp.mean((free_forecasts(corrected, x, 1, steps)[:, 0] - y) ** 2)

    batch_size = min(batch_size, max(1, int(inputs.shape[0] * (1 - validation_fraction))))
    return fit(net, loss, (inputs, targets), key=key, optimizer=optax.adam(learning_rate),
               epochs=epochs, batch_size=batch_size, validation_fraction=validation_fraction,
               patience=patience, progress=progress)


@eqx.filter_jit
def free_forecasts(
    model: AbstractModel, initial: Float[Array, "case state"], leads: int, every: int,
) -> Float[Array, "case lead state"]:
    """Deterministic forecasts (``model.step``, without the model's noise) from each
    initial state, saved every ``every`` steps ``leads`` times (static); ``leads = 1``:
    the ``every``-step forecasts ``(case, 1, state)``."""

    def one(x0):
        def body(x, _):
            x = jax.lax.fori_loop(0, every, lambda _, z: model.step(z), x)
            return x, x

        return jax.lax.scan(body, x0, None, length=leads)[1]

    return jax.vmap(one)(initial)


@eqx.filter_jit
def forecast_errors(
    model: AbstractModel,
    initial: Float[Array, "case state"],
    truth: Float[Array, "case lead state"],
    every: int,
) -> Float[Array, "case lead"]:
    r"""RMSE of each free forecast against the truth at each lead,
    $e_{c,l} = \sqrt{\frac1n\|x^f_{c,l} - x^t_{c,l}\|^2}$.

    Forecast ``c`` starts from ``initial[c]`` and is compared with ``truth[c, l]``
    ``(l + 1) * every`` model steps later (deterministic ``model.step``).

    Args:
        model: the forecast model.
        initial: starting states ``(case, state)``.
        truth: the truth at the leads ``(case, lead, state)``.
        every: model steps between leads (static).
    """
    forecasts = free_forecasts(model, initial, truth.shape[1], every)
    return jnp.sqrt(jnp.mean((forecasts - truth) ** 2, axis=-1))


def forecast_rmse(
    model: AbstractModel,
    initial: Float[Array, "case state"],
    truth: Float[Array, "case lead state"],
    every: int,
) -> tuple[Float[Array, " lead"], Float[Array, " lead"]]:
    r"""RMSE of free forecasts against the truth at each lead, mean and 95 % half-width
    over the cases: $\bar e_l$ and $1.96\,s_l/\sqrt{C}$ of :func:`forecast_errors`
    (cases from independent stretches of the truth are independent; NaN for one case).

    Args:
        model: the forecast model.
        initial: starting states ``(case, state)`` (true states: forecast skill alone).
        truth: the truth at the leads ``(case, lead, state)``.
        every: model steps between leads (static).
    """
    err = forecast_errors(model, initial, truth, every)  # (case, lead)
    return mean_and_half_width(err)


def mean_and_half_width(samples: Float[Array, "case ..."]):
    r"""Mean over the first axis and its 95 % half-width $1.96\,s/\sqrt{C}$ (NaN for one
    sample)."""
    cases = samples.shape[0]
    half = (1.96 * jnp.std(samples, axis=0, ddof=1) / jnp.sqrt(cases) if cases > 1
            else jnp.full(samples.shape[1:], jnp.nan))
    return jnp.mean(samples, axis=0), half

r"""Training losses for emulators and corrections, on batched arrays.

Every loss takes arrays with a leading sample axis, ``(batch, ...)``, and returns a scalar:
the mean over **all** entries of a (weighted) squared error. Targets and weights are cast to
the dtype of ``pred`` (a float32 net trained on float64 data computes its loss in float32,
which also keeps strict dtype promotion happy).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

__all__ = ["exp_weighted_mse", "mse", "rollout_loss", "variance_weighted_mse", "weighted_mse"]


def _like(a: ArrayLike, pred: Array) -> Array:
    return jnp.asarray(a).astype(pred.dtype)


def mse(pred: Float[Array, "batch ..."], target: Float[Array, "batch ..."]) -> Array:
    r"""Mean squared error $\frac1M\sum_m (\hat y_m - y_m)^2$ over all $M$ entries."""
    pred = jnp.asarray(pred)
    return jnp.mean((pred - _like(target, pred)) ** 2)


def weighted_mse(
    pred: Float[Array, "batch ..."],
    target: Float[Array, "batch ..."],
    weights: Float[ArrayLike, "*shape"],
) -> Array:
    r"""Weighted mean squared error $\frac1M\sum_m w_m(\hat y_m - y_m)^2$.

    ``weights`` broadcasts against ``pred`` (per entry, per variable ``(state,)``, ...). The
    normalisation is by the number of entries $M$, not by $\sum_m w_m$ (as in Brajard et
    al.'s Keras loss ``reduce_mean(weight * (y - y_pred)**2)``): doubling all weights
    doubles the loss. Zero weights mask entries out (e.g. unobserved variables).
    """
    pred = jnp.asarray(pred)
    w = jnp.broadcast_to(_like(weights, pred), pred.shape)
    return jnp.mean(w * (pred - _like(target, pred)) ** 2)


def exp_weighted_mse(
    pred: Float[Array, "batch ..."],
    target: Float[Array, "batch ..."],
    b: float,
    c: float,
) -> Array:
    r"""MSE weighted towards large targets: $\frac1M\sum_m e^{b\,|y_m|^c}(\hat y_m - y_m)^2$.

    Ebert-Uphoff & Hilburn (2020) weight the error at each pixel by $w(y) = \exp(b\,y^c)$ of
    the *target* (they use $b = 5$, $c = 4$ on radar reflectivity scaled to $[0, 1]$), so
    that rare large values are not drowned out by the many small ones. Their targets are
    non-negative; $y^c$ is undefined for $y < 0$ and non-integer $c$, and the sign of $y$
    cannot be checked before run time, so this function uses $|y|$: identical to the paper
    for $y \ge 0$, symmetric in the sign of $y$ otherwise (large anomalies of either sign
    weigh more). Scale the targets so that $e^{b|y|^c}$ stays moderate (it overflows
    float32 beyond $b|y|^c \approx 88$). The weights are constants of the target: no
    gradient flows through them.

    Raises:
        ValueError: if ``c`` is a Python number below 0 ($|y|^c$ is infinite at $y = 0$).

    Refs: Ebert-Uphoff & Hilburn (2020), Bull. Amer. Meteor. Soc. 101(12), E2149-E2170,
    doi:10.1175/BAMS-D-20-0097.1.
    """
    if isinstance(c, numbers.Real) and c < 0:
        raise ValueError(
            f"exp_weighted_mse: exponent c must be >= 0 (|y|**c is infinite at y = 0), got "
            f"c = {c}."
        )
    pred = jnp.asarray(pred)
    y = _like(target, pred)
    w = jax.lax.stop_gradient(jnp.exp(b * jnp.abs(y) ** c))
    return jnp.mean(w * (pred - y) ** 2)


def variance_weighted_mse(
    pred: Float[Array, "batch ..."],
    target: Float[Array, "batch ..."],
    variance: Float[ArrayLike, "*shape"],
    floor: float = 0.01,
) -> Array:
    r"""MSE weighted by the inverse analysis variance (Brajard et al. 2020).

    $$\mathcal L = \frac1M\sum_m \frac{(\hat y_m - y_m)^2}{\sigma_m^2 + \epsilon}.$$

    Brajard et al. (2020) train on analyses whose error variance $\sigma^2_m$ (the ensemble
    variance of each analysed variable) differs in time and space; the loss is the
    Mahalanobis distance with the diagonal analysis covariance, floored by
    $\epsilon =$ ``floor`` (their 0.01) so that a collapsed ensemble does not give an
    infinite weight. Normalised by the number of entries $M$ (mean of $w\,e^2$ over all
    entries), like :func:`weighted_mse`. ``variance`` broadcasts against ``pred``.

    Refs: Brajard, Carrassi, Bocquet & Bertino (2020), J. Comput. Sci. 44, 101171.
    """
    if isinstance(floor, numbers.Real) and floor < 0:
        raise ValueError(f"variance_weighted_mse: floor must be >= 0, got {floor}.")
    pred = jnp.asarray(pred)
    return weighted_mse(pred, target, 1.0 / (_like(variance, pred) + floor))


def rollout_loss(
    step_fn: Callable[[Array], Array],
    x0: Float[Array, "batch state"],
    targets: Float[Array, "batch lead state"],
    weights: Float[ArrayLike, " lead"] | Float[ArrayLike, "batch lead state"] | None = None,
) -> Array:
    r"""Multi-step (rollout) loss: roll ``step_fn`` from ``x0`` and compare each lead.

    With $x^{(0)} = x_0$ and $x^{(l)} = \mathrm{step}(x^{(l-1)})$ for
    $l = 1..L$, $L$ = ``targets.shape[1]``:

    $$\mathcal L = \frac{1}{B\,L\,n}\sum_{b=1}^{B}\sum_{l=1}^{L}\sum_{i=1}^{n}
    w_{b,l,i}\,\big(x^{(l)}_{b,i} - y_{b,l,i}\big)^2,$$

    i.e. the mean over leads of the per-lead MSE when ``weights`` is None; with per-lead
    weights ``(lead,)`` it is $\frac1L\sum_l w_l\,\mathrm{MSE}_l$; weights may also be
    given per entry ``(batch, lead, state)`` (e.g. inverse analysis variances, as in the
    multi-step training of Brajard et al. 2020). Gradients flow through the whole rollout
    (backpropagation through time). The leads run in one ``lax.scan``.

    Args:
        step_fn: one step of ONE state ``(state,) -> (state,)`` (a model's ``step`` or a
            net); it is ``vmap``-ed over the batch.
        x0: initial states, shape ``(batch, state)``.
        targets: states after 1..L steps, shape ``(batch, lead, state)``.
        weights: None, ``(lead,)`` or ``(batch, lead, state)``.

    Returns:
        Scalar loss, in the dtype of the rolled-out states.
    """
    x0 = jnp.asarray(x0)
    targets = jnp.asarray(targets)
    if x0.ndim != 2 or targets.ndim != 3 or targets.shape[0] != x0.shape[0]:
        raise ValueError(
            "rollout_loss: expected x0 of shape (batch, state) and targets of shape "
            f"(batch, lead, state) with the same batch; got {x0.shape} and {targets.shape}."
        )
    step = jax.vmap(step_fn)

    def body(x, _):
        x = step(x)
        return x, x

    _, xs = jax.lax.scan(body, x0, None, length=targets.shape[1])  # (lead, batch, state)
    pred = jnp.swapaxes(xs, 0, 1)
    if weights is None:
        return mse(pred, targets)
    w = jnp.asarray(weights)
    if w.ndim == 1:
        if w.shape[0] != targets.shape[1]:
            raise ValueError(
                f"rollout_loss: per-lead weights need shape ({targets.shape[1]},), got "
                f"{w.shape}."
            )
        w = w[None, :, None]
    return weighted_mse(pred, targets, w)

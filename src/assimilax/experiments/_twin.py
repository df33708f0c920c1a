"""The twin experiment itself: spin-up, truth, observations, initial ensemble (pure JAX)."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validate import check_finite
from ..models import AbstractModel, forecast, rollout
from ..observations import AbstractObsNoise, AbstractObsOperator, Observations, observe


class Twin(eqx.Module):
    """A synthetic truth and its observations.

    Attributes:
        truth0: true state one observation interval before the first observation, ``(state,)``.
        truth: true states at the observation times, ``(time, state)``.
        observations: the observation series (``time`` rows).
        ensemble0: initial ensemble ``(member, state)``: ``truth0`` plus Gaussian noise of
            std ``initial_std``.
    """

    truth0: Float[Array, " state"]
    truth: Float[Array, "time state"]
    observations: Observations
    ensemble0: Float[Array, "member state"]


def twin_keys(key: PRNGKeyArray) -> dict[str, PRNGKeyArray]:
    """The independent streams of one experiment, all derived from one key."""
    names = ("spinup", "truth", "observations", "ensemble", "assimilation")
    return dict(zip(names, jax.random.split(key, len(names)), strict=True))


def simulate_twin(
    truth_model: AbstractModel,
    operator: AbstractObsOperator,
    noise: AbstractObsNoise,
    *,
    cycles: int,
    every_steps: int,
    ensemble_size: int,
    key: PRNGKeyArray,
    spinup_steps: int = 0,
    initial_std: float = 1.0,
    state_size: int | None = None,
) -> Twin:
    """Simulate a twin experiment from one key, bit-for-bit reproducible.

    The truth starts from ``truth_model.initial_condition``, is integrated
    ``spinup_steps`` model steps onto the attractor, then ``cycles`` observation
    intervals of ``every_steps`` steps (with the truth model's own noise, if any).

    Args:
        truth_model: the model that makes the truth.
        operator: the observation operator applied to the truth.
        noise: the observation errors added to it.
        cycles: number of observation times (static).
        every_steps: model steps between observation times (static).
        ensemble_size: members of the initial ensemble (static).
        key: the experiment's key; see :func:`twin_keys`.
        spinup_steps: model steps discarded before the truth starts (static).
        initial_std: standard deviation of the initial ensemble around ``truth0``.
        state_size: the forecast model's state size when it resolves less than the truth
            model (a truncated-model twin): the truth is integrated in full, then
            ``truth_model.project``-ed onto ``state_size`` variables before it is observed,
            stored and perturbed into the initial ensemble. None: the truth's own size.

    Returns:
        :class:`Twin`.

    Raises:
        ValueError: a NaN or inf parameter of the model, operator or noise, or
            ``initial_std`` (concrete values; named with the first bad index).
    """
    check_finite("simulate_twin", "truth_model", truth_model)
    check_finite("simulate_twin", "operator", operator)
    check_finite("simulate_twin", "noise", noise)
    check_finite("simulate_twin", "initial_std", initial_std)
    keys = twin_keys(key)
    x = truth_model.initial_condition(keys["spinup"])
    k_spin, k_truth = jax.random.split(keys["truth"])
    if spinup_steps > 0:
        x = forecast(truth_model, x, spinup_steps, key=k_spin)
    truth = rollout(truth_model, x, cycles, every=every_steps, key=k_truth)
    if state_size is not None and state_size != truth_model.state_size:
        truth = truth_model.project(truth, state_size)
        x = truth_model.project(x, state_size)
    observations = observe(
        truth, operator, noise, key=keys["observations"], every_steps=every_steps
    )
    ensemble0 = x + initial_std * jax.random.normal(
        keys["ensemble"], (ensemble_size, x.shape[0]), x.dtype
    )
    return Twin(x, truth, observations, ensemble0)


def climatological_rms(truth: Float[Array, "time state"]) -> Array:
    r"""RMS of the truth about its time mean, $\sqrt{\overline{(x - \bar x)^2}}$.

    The error of the climatological mean as an estimate (about 3.6 on Lorenz-96): a
    filter whose error exceeds it has lost track of the truth.
    """
    return jnp.sqrt(jnp.mean((truth - jnp.mean(truth, axis=0)) ** 2))

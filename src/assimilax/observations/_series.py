"""A series of observations: operator, noise, values and masks, one row per analysis time."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ._noise import AbstractObsNoise
from ._operators import AbstractObsOperator


class Observations(eqx.Module):
    """Observations at ``time`` analysis times spaced ``every_steps`` model steps.

    Attributes:
        operator: the observation operator.
        noise: the observation error model.
        y: observed values, shape ``(time, obs)``; masked slots hold 0, never NaN.
        mask: which slots hold an observation, shape ``(time, obs)``.
        every_steps: model steps between two observation times (static).
    """

    operator: AbstractObsOperator
    noise: AbstractObsNoise
    y: Float[Array, "time obs"]
    mask: Bool[Array, "time obs"]
    every_steps: int = eqx.field(static=True, default=1)

    def __check_init__(self):
        if self.every_steps < 1:
            raise ValueError(f"Observations: every_steps must be >= 1, got {self.every_steps}.")
        if self.y.ndim != 2 or self.y.shape[-1] != self.operator.size:
            raise ValueError(
                f"Observations: y must have shape (time, {self.operator.size}), got {self.y.shape}."
            )
        if self.mask.shape != self.y.shape:
            raise ValueError(
                f"Observations: mask shape {self.mask.shape} differs from y shape {self.y.shape}."
            )

    @property
    def n_times(self) -> int:
        return self.y.shape[0]

    def __getitem__(self, sl: slice) -> Observations:
        """The observations of a range of times (same operator and noise)."""
        return Observations(self.operator, self.noise, self.y[sl], self.mask[sl], self.every_steps)


def observe(
    truth: Float[Array, "time state"],
    operator: AbstractObsOperator,
    noise: AbstractObsNoise,
    *,
    key: PRNGKeyArray,
    every_steps: int = 1,
) -> Observations:
    """Synthetic observations ``y_k = H(x_k) + e_k`` of a truth trajectory, with masks.

    Args:
        truth: true states at the observation times, shape ``(time, state)``.
        operator: the observation operator.
        noise: the observation error model.
        key: PRNG key (errors and random masks).
        every_steps: model steps between observation times, recorded with the data.

    Returns:
        :class:`Observations` with ``y`` of shape ``(time, obs)``.
    """
    if truth.ndim != 2 or truth.shape[1] != operator.state_size:
        raise ValueError(
            f"observe: truth must have shape (time, {operator.state_size}), got {truth.shape}."
        )
    n = truth.shape[0]
    k_noise, k_mask = jax.random.split(key)
    clean = jax.vmap(operator)(truth)
    errors = jax.vmap(lambda k: noise.sample(k, operator.size))(jax.random.split(k_noise, n))
    mask = jax.vmap(operator.draw_mask)(jax.random.split(k_mask, n))
    y = jnp.where(mask, clean + errors, 0.0)
    return Observations(operator, noise, y, mask, every_steps)

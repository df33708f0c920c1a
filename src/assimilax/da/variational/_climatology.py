"""Climatological statistics of a model: the static B of DAPPER's ``B='clim'``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...models import AbstractModel


def climatology(
    model: AbstractModel,
    x0: Float[Array, " state"],
    *,
    samples: int = 20_000,
    every_steps: int = 1,
    spinup_steps: int = 0,
) -> tuple[Float[Array, " state"], Float[Array, "state state"]]:
    r"""Time mean and covariance of a free model run (without its noise).

    The run starts from ``x0``, discards ``spinup_steps`` model steps, then takes
    ``samples`` states ``every_steps`` steps apart; the moments are accumulated in the
    scan (no trajectory is stored), $\bar x = \frac1S\sum_s x_s$,
    $C = \frac{1}{S-1}\sum_s (x_s - \bar x)(x_s - \bar x)^T$. DAPPER's ``B='clim'`` is
    ``np.cov`` of the truth trajectory of the experiment itself; a long free run of the
    forecast model estimates the same covariance for a perfect model and the model's own
    climatology for an imperfect one.

    Args:
        model: the model.
        x0: a starting state (on or near the attractor).
        samples: number of states averaged (static).
        every_steps: model steps between samples (static).
        spinup_steps: model steps discarded first (static).

    Returns:
        ``(mean, cov)``: ``(state,)`` and ``(state, state)``.
    """
    if samples < 2:
        raise ValueError(f"climatology: samples must be >= 2, got {samples}.")

    def advance(x, n):
        x, _ = jax.lax.scan(lambda z, _: (model.step(z), None), x, None, length=n)
        return x

    x = advance(x0, spinup_steps) if spinup_steps > 0 else x0
    ref = x  # a shift for numerically stable sums

    def body(carry, _):
        x, s1, s2 = carry
        x = advance(x, every_steps)
        d = x - ref
        return (x, s1 + d, s2 + jnp.outer(d, d)), None

    n = x.shape[0]
    zero = jnp.zeros((n,), x.dtype)
    (_, s1, s2), _ = jax.lax.scan(body, (x, zero, jnp.zeros((n, n), x.dtype)), None,
                                  length=samples)
    mean_d = s1 / samples
    cov = (s2 - samples * jnp.outer(mean_d, mean_d)) / (samples - 1)
    return ref + mean_d, 0.5 * (cov + cov.T)

"""Inflation add-ons, applied after an analysis: ``inflation(forecast, analysis) -> analysis``."""

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._ensemble import member_mean, member_variance


def _center(E):
    mu = member_mean(E)
    return mu, E - mu


class AbstractInflation(eqx.Module):
    """Maps the forecast and raw analysis ensembles ``(member, state)`` to the analysis.

    ``commutes_with_rotation`` says whether inflating then rotating the members by a
    mean-preserving orthogonal ``Q`` equals rotating then inflating (true when the map
    acts on the analysis anomalies alone, column by column, through quantities a
    rotation keeps: the mean and the per-variable spread); a square-root filter may then
    draw its square root and the rotation together.
    """

    commutes_with_rotation: ClassVar[bool] = False

    @abc.abstractmethod
    def __call__(
        self, forecast: Float[Array, "member state"], analysis: Float[Array, "member state"]
    ) -> Float[Array, "member state"]: ...


class NoInflation(AbstractInflation):
    """The analysis as it is."""

    commutes_with_rotation: ClassVar[bool] = True

    def __call__(self, forecast, analysis):
        return analysis


class Multiplicative(AbstractInflation):
    r"""$A_a \leftarrow \lambda A_a$: analysis anomalies times ``factor`` (DAPPER's ``infl``)."""

    commutes_with_rotation: ClassVar[bool] = True

    factor: float = 1.0

    def __call__(self, forecast, analysis):
        mu, A = _center(analysis)
        return mu + self.factor * A


class RTPS(AbstractInflation):
    r"""Relaxation to prior spread (Whitaker & Hamill 2012).

    $A_a \leftarrow A_a\,(\alpha\,\sigma_f/\sigma_a + 1 - \alpha)$ per state variable,
    with $\sigma$ the ensemble standard deviations.
    """

    commutes_with_rotation: ClassVar[bool] = True

    alpha: float = 0.7

    def __call__(self, forecast, analysis):
        mu, A = _center(analysis)
        sf = jnp.sqrt(member_variance(forecast))
        sa = jnp.sqrt(member_variance(analysis))
        ratio = jnp.where(sa > 0, sf / jnp.where(sa > 0, sa, 1.0), 1.0)
        return mu + A * (self.alpha * ratio + 1.0 - self.alpha)


class RTPP(AbstractInflation):
    r"""Relaxation to prior perturbations (Zhang et al. 2004).

    $A_a \leftarrow (1 - \alpha) A_a + \alpha A_f$.
    """

    alpha: float = 0.5

    def __call__(self, forecast, analysis):
        mu, A = _center(analysis)
        _, Af = _center(forecast)
        return mu + (1.0 - self.alpha) * A + self.alpha * Af

"""Ensemble DA method interfaces: analysis, post-processing, and the cycle protocol."""

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._ensemble import member_mean
from ..observations import AbstractObsNoise, AbstractObsOperator
from ._linalg import AbstractRotation
from .inflation import AbstractInflation


class EnsembleSpace(eqx.Module):
    """Forecast quantities in whitened ensemble space, shared by all ensemble analyses.

    Attributes:
        mean: forecast mean ``(state,)``.
        A: forecast anomalies ``(member, state)``.
        Y: whitened observation anomalies ``R^{-1/2}(H(x_m) - mean_m H(x_m))``, ``(member, obs)``.
        d: whitened innovation of the mean ``R^{-1/2}(y - mean_m H(x_m))``, ``(obs,)``.
        Eo: observed ensemble ``H(x_m)``, ``(member, obs)``.
    """

    mean: Float[Array, " state"]
    A: Float[Array, "member state"]
    Y: Float[Array, "member obs"]
    d: Float[Array, " obs"]
    Eo: Float[Array, "member obs"]


def ensemble_space(
    ensemble: Float[Array, "member state"],
    y: Float[Array, " obs"],
    mask: Bool[Array, " obs"],
    operator: AbstractObsOperator,
    noise: AbstractObsNoise,
) -> EnsembleSpace:
    """Centre the ensemble and whiten its observed anomalies and innovation (masked slots 0)."""
    mean = member_mean(ensemble)
    A = ensemble - mean
    Eo = jax.vmap(operator)(ensemble)
    yo = member_mean(Eo)
    Y = noise.whiten(Eo - yo, mask)
    d = noise.whiten(y - yo, mask)
    return EnsembleSpace(mean, A, Y, d, Eo)


class AbstractEnsembleMethod(eqx.Module):
    """Anything the cycle drives: ``init`` once, then ``step`` at every analysis time.

    ``step`` returns the analysis ensemble, the method's carried state, and what the
    method emits for the record (a smoother's final estimate of an earlier cycle).
    """

    def init(self, ensemble: Float[Array, "member state"]) -> Any:
        """The carried state before the first analysis (``None`` for filters)."""
        del ensemble
        return None

    @abc.abstractmethod
    def step(
        self,
        ensemble: Float[Array, "member state"],
        state: Any,
        y: Float[Array, " obs"],
        mask: Bool[Array, " obs"],
        operator: AbstractObsOperator,
        noise: AbstractObsNoise,
        *,
        key: PRNGKeyArray,
    ) -> tuple[Float[Array, "member state"], Any, Any]: ...

    def finish(self, state: Any) -> Any:
        """What remains to be emitted after the last cycle (``None`` for filters)."""
        del state
        return None


class AbstractEnsembleFilter(AbstractEnsembleMethod):
    """An ensemble filter: a raw analysis, then inflation, then an optional random rotation.

    Subclasses implement :meth:`update`; :meth:`analysis` adds the post-processing in
    DAPPER's order (``post_process``: inflate the anomalies, then rotate by ``rotation``).
    """

    inflation: eqx.AbstractVar[AbstractInflation]
    rotate: eqx.AbstractVar[bool]
    rotation: eqx.AbstractVar[AbstractRotation]

    @abc.abstractmethod
    def update(
        self,
        ensemble: Float[Array, "member state"],
        y: Float[Array, " obs"],
        mask: Bool[Array, " obs"],
        operator: AbstractObsOperator,
        noise: AbstractObsNoise,
        *,
        key: PRNGKeyArray,
    ) -> Float[Array, "member state"]:
        """The raw analysis ensemble, before inflation and rotation."""

    def post_process(
        self,
        forecast: Float[Array, "member state"],
        analysis: Float[Array, "member state"],
        *,
        key: PRNGKeyArray,
    ) -> Float[Array, "member state"]:
        """Inflation, then (if ``rotate``) a random mean-preserving rotation."""
        analysis = self.inflation(forecast, analysis)
        if self.rotate:
            mu = member_mean(analysis)
            analysis = mu + self.rotation(analysis - mu, key=key)
        return analysis

    def analysis(
        self,
        ensemble: Float[Array, "member state"],
        y: Float[Array, " obs"],
        mask: Bool[Array, " obs"],
        operator: AbstractObsOperator,
        noise: AbstractObsNoise,
        *,
        key: PRNGKeyArray,
    ) -> Float[Array, "member state"]:
        """Analysis ensemble ``(member, state)`` from the forecast ensemble and one observation."""
        k_update, k_post = jax.random.split(key)
        raw = self.update(ensemble, y, mask, operator, noise, key=k_update)
        return self.post_process(ensemble, raw, key=k_post)

    def step(self, ensemble, state, y, mask, operator, noise, *, key):
        return self.analysis(ensemble, y, mask, operator, noise, key=key), state, None


class AbstractTransformFilter(AbstractEnsembleFilter):
    """A filter whose raw analysis is a left transform of the ensemble: ``E_a = M E_f``.

    ``M`` is ``(member, member)``; the same ``M`` applied to earlier ensembles is the
    ensemble Kalman smoother update (Evensen 2009).
    """

    @abc.abstractmethod
    def transform(
        self,
        ensemble: Float[Array, "member state"],
        y: Float[Array, " obs"],
        mask: Bool[Array, " obs"],
        operator: AbstractObsOperator,
        noise: AbstractObsNoise,
        *,
        key: PRNGKeyArray,
    ) -> Float[Array, "member member"]:
        """The transform ``M`` with ``E_a = M @ E_f``."""

    def update(self, ensemble, y, mask, operator, noise, *, key):
        return self.transform(ensemble, y, mask, operator, noise, key=key) @ ensemble


def mean_transform(N: int, w: Array, T: Array, dtype) -> Float[Array, "member member"]:
    r"""The transform $M = \mathbf{1}\mathbf{1}^T/N + (\mathbf{1} w^T + T)\,\Pi$.

    Here $\Pi = I - \mathbf{1}\mathbf{1}^T/N$ centres the members.

    So that ``M @ E = mean + (w + T) @ A`` for ``E = mean + A``.
    """
    ones = jnp.full((N, N), 1.0 / N, dtype)
    Pi = jnp.eye(N, dtype=dtype) - ones
    return ones + (w[None, :] + T) @ Pi

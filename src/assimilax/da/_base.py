"""Ensemble filters on the method protocol: ensemble space, analysis, post-processing."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._ensemble import member_mean
from ..models import forecast_ensemble
from ..observations import AbstractObsNoise, AbstractObsOperator
from ._linalg import AbstractRotation, NoRotation
from ._method import AbstractMethod, Estimate, Window
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


class AbstractEnsembleFilter(AbstractMethod):
    """An ensemble filter: forecast every member, a raw analysis, inflation, rotation.

    The carry is the analysis ensemble ``(member, state)``. :meth:`cycle` forecasts the
    members over one observation interval (``vmap``, independent model noise) and calls
    :meth:`analysis`, which post-processes the raw analysis of :meth:`update` in
    DAPPER's order: inflate the anomalies (``inflation``), then rotate them
    (``rotation``; :class:`~assimilax.da.NoRotation` for none).

    :meth:`update` receives the rotation the filter may apply itself: a square-root
    filter may draw its square root and a Haar rotation together (equal in
    distribution, cheaper) and then returns :class:`~assimilax.da.NoRotation` as what
    is left to apply. The rotation is offered only when the inflation commutes with it
    (``inflation.commutes_with_rotation``).
    """

    inflation: eqx.AbstractVar[AbstractInflation]
    rotation: eqx.AbstractVar[AbstractRotation]

    @abc.abstractmethod
    def update(
        self,
        ensemble: Float[Array, "member state"],
        window: Window,
        *,
        key: PRNGKeyArray,
        rotation: AbstractRotation,
        rotation_key: PRNGKeyArray,
    ) -> tuple[Float[Array, "member state"], AbstractRotation]:
        """The raw analysis ensemble, before inflation, and the rotation still to apply.

        Args:
            ensemble: the forecast ensemble ``(member, state)``.
            window: the cycle's observations (one time: ``window.obs``).
            key: the update's own randomness (perturbed observations).
            rotation: a rotation the filter may fuse into its square root (drawn with
                ``rotation_key``); return ``NoRotation()`` if it did, else ``rotation``.
            rotation_key: the key of the rotation.
        """

    def init(self, initial):
        return initial

    def cycle(self, model, carry, window, *, key):
        k_fc, k_an = jax.random.split(key)
        forecast = forecast_ensemble(model, carry, window.every_steps, key=k_fc)
        analysis = self.analysis(forecast, window, key=k_an)
        return analysis, Estimate(forecast[None], analysis[None])

    def analysis(
        self, ensemble: Float[Array, "member state"], window: Window, *, key: PRNGKeyArray
    ) -> Float[Array, "member state"]:
        """Analysis ensemble ``(member, state)`` from the forecast ensemble."""
        k_update, k_post = jax.random.split(key)
        offered = self.rotation if self.inflation.commutes_with_rotation else NoRotation()
        raw, remaining = self.update(ensemble, window, key=k_update, rotation=offered,
                                     rotation_key=k_post)
        if not self.inflation.commutes_with_rotation:
            remaining = self.rotation
        return remaining.apply(self.inflation(ensemble, raw), key=k_post)


class AbstractTransformFilter(AbstractEnsembleFilter):
    """A filter whose raw analysis is a left transform of the ensemble: ``E_a = M E_f``.

    ``M`` is ``(member, member)``; the same ``M`` applied to earlier ensembles is the
    ensemble Kalman smoother update (Evensen 2009), see :meth:`smoother_analysis`.
    """

    @abc.abstractmethod
    def transform(
        self,
        ensemble: Float[Array, "member state"],
        window: Window,
        *,
        key: PRNGKeyArray,
    ) -> Float[Array, "member member"]:
        """The transform ``M`` with ``E_a = M @ E_f``."""

    def smoother_analysis(
        self, ensemble: Float[Array, "member state"], window: Window, *, key: PRNGKeyArray
    ) -> tuple[Float[Array, "member state"], Float[Array, "member member"]]:
        """The analysis ensemble and the transform ``Q M`` for the lagged ensembles.

        ``M`` is the raw transform; inflation acts on the current ensemble only
        (DAPPER's ``EnKS``); the rotation ``Q`` relabels the members of the current and
        the lagged ensembles alike.
        """
        k_transform, k_rotate = jax.random.split(key)
        M = self.transform(ensemble, window, key=k_transform)
        analysis = self.inflation(ensemble, M @ ensemble)
        return self.rotation.apply_with_transform(analysis, M, key=k_rotate)


def mean_transform(N: int, w: Array, T: Array, dtype) -> Float[Array, "member member"]:
    r"""The transform $M = \mathbf{1}\mathbf{1}^T/N + (\mathbf{1} w^T + T)\,\Pi$.

    Here $\Pi = I - \mathbf{1}\mathbf{1}^T/N$ centres the members.

    So that ``M @ E = mean + (w + T) @ A`` for ``E = mean + A``.
    """
    ones = jnp.full((N, N), 1.0 / N, dtype)
    Pi = jnp.eye(N, dtype=dtype) - ones
    return ones + (w[None, :] + T) @ Pi

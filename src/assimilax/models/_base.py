"""The model interface: a step for one member, an optional tendency, additive noise."""


import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..observations._grid import Grid
from ._integrators import AbstractIntegrator


class AbstractModel(eqx.Module):
    """A discrete-time dynamical model acting on one state vector.

    Subclasses implement :meth:`step` (one model time step of length ``dt``) and
    ``state_size``. Ensembles are handled by ``jax.vmap`` over axis 0 elsewhere; a model
    never sees the member axis. Additive model noise, when ``noise_std > 0``, is
    ``sqrt(dt) * noise_std * N(0, I)`` per step and is applied by :func:`forecast`.
    Emulators and corrected models implement the same interface, so a filter cannot
    tell them from a physical model.

    A model may be stochastic in its own step (a random forcing, a sampled analog
    forecast): it sets ``stochastic = True`` and its :meth:`step` takes ``key``; the
    rollouts then split keys per member and per step. A deterministic model's step is
    called without a key.
    """

    dt: eqx.AbstractVar[float]
    noise_std: eqx.AbstractVar[float]
    stochastic: ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def state_size(self) -> int:
        """Length of the state vector."""

    @abc.abstractmethod
    def step(
        self, x: Float[Array, " state"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " state"]:
        """Advance one state by one model step of length ``dt`` (``key``: stochastic models)."""

    def tendency(self, x: Float[Array, " state"]) -> Float[Array, " state"]:
        """Time derivative ``dx/dt`` (state units per model time unit), where defined."""
        raise NotImplementedError(f"{type(self).__name__} has no tendency.")

    @property
    def grid(self) -> Grid:
        """Coordinates of the state variables (grid units), for localization and plots."""
        return Grid.ring(self.state_size)

    def initial_condition(self, key: PRNGKeyArray) -> Float[Array, " state"]:
        """A starting point for spin-up onto the attractor (random, from ``key``)."""
        return jax.random.normal(key, (self.state_size,))

    def resolves(self, state_size: int) -> bool:
        """Whether :meth:`project` maps this model's states onto ``state_size`` variables."""
        return state_size == self.state_size

    def project(self, x: Float[Array, "*batch state"],
                state_size: int) -> Float[Array, "*batch reduced"]:
        """The variables of states ``x`` that a coarser model of ``state_size`` variables
        resolves (model-error twins: a truncated model against this truth).

        The identity for ``state_size == self.state_size``; models with resolved and
        unresolved scales override it (:class:`TwoScaleLorenz96`: the slow variables).

        Raises:
            ValueError: this model does not resolve ``state_size`` variables.
        """
        if state_size != self.state_size:
            raise ValueError(f"{type(self).__name__} has {self.state_size} state variables "
                             f"and no projection onto {state_size}.")
        return x


class AbstractODEModel(AbstractModel):
    """A model defined by an autonomous ODE ``dx/dt = tendency(x)``, stepped by an integrator."""

    integrator: eqx.AbstractVar[AbstractIntegrator]

    @abc.abstractmethod
    def tendency(self, x: Float[Array, " state"]) -> Float[Array, " state"]:
        """Time derivative ``dx/dt``."""

    def step(self, x, *, key=None):
        del key
        return self.integrator.step(self.tendency, x, self.dt)


def has_noise(model: AbstractModel) -> bool:
    """False only when the model is deterministic: its step draws no random numbers and its
    additive noise is statically zero."""
    q = model.noise_std
    return model.stochastic or not (isinstance(q, (int, float)) and q == 0)


def _noisy_step(model: AbstractModel, x, key):
    if model.stochastic:
        key, k_step = jax.random.split(key)
        x = model.step(x, key=k_step)
    else:
        x = model.step(x)
    q = model.noise_std
    if isinstance(q, (int, float)) and q == 0:
        return x
    scale = jnp.sqrt(model.dt) * model.noise_std
    return x + scale * jax.random.normal(key, x.shape, x.dtype)


def forecast(
    model: AbstractModel,
    x: Float[Array, " state"],
    n_steps: int,
    *,
    key: PRNGKeyArray | None = None,
) -> Float[Array, " state"]:
    """Integrate one state ``n_steps`` model steps (a ``lax.scan``), with model noise.

    Args:
        model: the model.
        x: initial state, shape ``(state,)``.
        n_steps: number of model steps (static).
        key: PRNG key for additive model noise; required when ``model.noise_std > 0``.

    Returns:
        The state after ``n_steps * model.dt`` model time units, shape ``(state,)``.
    """
    if not has_noise(model):
        x, _ = jax.lax.scan(lambda x, _: (model.step(x), None), x, None, length=n_steps)
        return x
    if key is None:
        raise ValueError("forecast: a key is required when the model has noise_std > 0.")

    def body(x, k):
        return _noisy_step(model, x, k), None

    x, _ = jax.lax.scan(body, x, jax.random.split(key, n_steps))
    return x


def rollout(
    model: AbstractModel,
    x0: Float[Array, " state"],
    n_steps: int,
    *,
    every: int = 1,
    key: PRNGKeyArray | None = None,
) -> Float[Array, "time state"]:
    """Trajectory of ``n_steps`` outputs spaced ``every`` model steps (``x0`` excluded).

    Args:
        model: the model.
        x0: initial state, shape ``(state,)``.
        n_steps: number of saved states (static).
        every: model steps between saved states (static).
        key: PRNG key for model noise.

    Returns:
        Array of shape ``(n_steps, state)``; row ``k`` is the state at time
        ``(k + 1) * every * model.dt``.
    """
    if not has_noise(model):
        def body(x, _):
            x = forecast(model, x, every)
            return x, x

        _, xs = jax.lax.scan(body, x0, None, length=n_steps)
        return xs
    if key is None:
        raise ValueError("rollout: a key is required when the model has noise_std > 0.")

    def noisy_body(x, k):
        x = forecast(model, x, every, key=k)
        return x, x

    _, xs = jax.lax.scan(noisy_body, x0, jax.random.split(key, n_steps))
    return xs


def forecast_ensemble(
    model: AbstractModel,
    ensemble: Float[Array, "member state"],
    n_steps: int,
    *,
    key: PRNGKeyArray | None = None,
) -> Float[Array, "member state"]:
    """:func:`forecast` for every member (``vmap`` over axis 0, independent noise)."""
    if not has_noise(model):
        return jax.vmap(lambda x: forecast(model, x, n_steps))(ensemble)
    if key is None:
        raise ValueError("forecast_ensemble: a key is required when the model has noise_std > 0.")
    keys = jax.random.split(key, ensemble.shape[0])
    return jax.vmap(lambda x, k: forecast(model, x, n_steps, key=k))(ensemble, keys)

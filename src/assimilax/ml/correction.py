"""Hybrid models: a physical model corrected by a network, and surrogate derivatives."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..models import AbstractIntegrator, AbstractModel
from ..observations import Grid
from .emulator import check_mode, net_output


def _tendency_or_none(model: AbstractModel) -> str | None:
    """Why ``model`` cannot be integrated as an ODE, or ``None`` when it can."""
    integrator = getattr(model, "integrator", None)
    if not isinstance(integrator, AbstractIntegrator):
        return f"{type(model).__name__} has no integrator"
    try:
        x = jax.ShapeDtypeStruct((model.state_size,), jnp.result_type(float))
        jax.eval_shape(model.tendency, x)
    except NotImplementedError:
        return f"{type(model).__name__} has no tendency"
    return None


class _WrappedModel(AbstractModel):
    """A model defined around another: ``dt``, ``noise_std``, ``state_size``, ``grid`` and
    ``initial_condition`` are those of the wrapped ``model``."""

    model: eqx.AbstractVar[AbstractModel]

    @property
    def dt(self) -> float:
        return self.model.dt

    @property
    def noise_std(self) -> float:
        return self.model.noise_std

    @property
    def state_size(self) -> int:
        return self.model.state_size

    @property
    def grid(self) -> Grid:
        return self.model.grid

    def initial_condition(self, key: PRNGKeyArray) -> Float[Array, " state"]:
        return self.model.initial_condition(key)


class Corrected(_WrappedModel):
    r"""A physical model plus a learned correction of its tendency or of its step.

    - ``mode="tendency"``: $\dot x = f(x) + \mathrm{net}(x)$, where $f$ is
      ``model.tendency``, integrated over ``model.dt`` by ``model.integrator``; the model
      must have both (an :class:`~assimilax.models.AbstractODEModel`, a tendency-mode
      :class:`~assimilax.ml.Emulator` or another tendency-mode ``Corrected``).
    - ``mode="resolvent"``: $x_{k+1} = \mathcal M(x_k) + \mathrm{net}(x_k)$, where
      $\mathcal M$ is ``model.step``: the net corrects the error of one whole step (any
      model).

    ``dt``, ``noise_std``, ``state_size``, ``grid`` and ``initial_condition`` are those of
    the wrapped model. The net's output is cast to the state's dtype. A filter cannot tell a
    corrected model from a physical one (it is an :class:`AbstractModel`).

    Attributes:
        model: the physical (or any) model being corrected.
        net: the correction, ``(state,) -> (state,)``: tendency units (state per model time
            unit) in tendency mode, state units per step in resolvent mode.
        mode: ``"tendency"`` or ``"resolvent"`` (static).

    Refs: Brajard et al. (2021), Phil. Trans. R. Soc. A 379 (tendency correction of a
    truncated model); Farchi et al. (2021), Q. J. R. Meteorol. Soc. 147 (resolvent
    correction); Kochkov et al. (2024), Nature 632 (NeuralGCM: a dycore with learned
    correctors).
    """

    model: AbstractModel
    net: Callable[[Float[Array, " state"]], Float[Array, " state"]]
    mode: str = eqx.field(static=True, default="tendency")

    def __check_init__(self):
        check_mode("Corrected", self.mode)
        if not isinstance(self.model, AbstractModel):
            raise TypeError(f"Corrected: model must be an AbstractModel, got {self.model!r}.")
        if self.mode == "tendency":
            why = _tendency_or_none(self.model)
            if why is not None:
                raise ValueError(
                    f"Corrected: mode='tendency' needs a model with a tendency and an "
                    f"integrator ({why}); use mode='resolvent' to correct its step."
                )

    @property
    def integrator(self) -> AbstractIntegrator:
        """The wrapped model's integrator (tendency mode)."""
        if self.mode != "tendency":
            raise AttributeError("Corrected: a resolvent-mode correction has no integrator.")
        return self.model.integrator

    def tendency(self, x: Float[Array, " state"]) -> Float[Array, " state"]:
        """``model.tendency(x) + net(x)`` (tendency mode only)."""
        if self.mode != "tendency":
            raise NotImplementedError(
                "Corrected: tendency() is defined only in mode='tendency'; a resolvent "
                "correction acts on whole steps."
            )
        return self.model.tendency(x) + net_output(self.net, x)

    def step(self, x: Float[Array, " state"]) -> Float[Array, " state"]:
        """One model step of the corrected dynamics."""
        if self.mode == "tendency":
            return self.model.integrator.step(self.tendency, x, self.model.dt)
        return self.model.step(x) + net_output(self.net, x)


class SurrogateGradient(_WrappedModel):
    r"""The values of one model with the derivatives of another.

    ``step(x)`` returns ``model.step(x)``, while its Jacobian-vector product (hence, by
    linearity, ``jax.linearize``, ``jax.vjp``, ``jax.linear_transpose`` and ``jax.grad``) is
    that of ``surrogate.step`` at the same ``x``:

    $$\mathcal S(x) = \mathcal M(x), \qquad \partial \mathcal S(x) = \partial\hat{\mathcal M}(x).$$

    Implemented with ``jax.custom_jvp``. In 4D-Var this is "true model forward, emulator
    gradients": the cost is evaluated on trajectories of the true (e.g. non-differentiable
    or expensive) model and minimised with the tangent-linear and adjoint of a
    differentiable emulator. The derivatives are with respect to the state only; the
    parameters of both models are constants here (no gradient flows to them).

    ``dt``, ``noise_std``, ``state_size``, ``grid`` and ``initial_condition`` are those of
    ``model``; the two models must share the state size.

    Attributes:
        model: gives the values.
        surrogate: gives the derivatives (same state size and time step).

    Refs: Nonnenmacher & Greenberg (2021), J. Adv. Model. Earth Syst. 13.
    """

    model: AbstractModel
    surrogate: AbstractModel

    def __check_init__(self):
        for name in ("model", "surrogate"):
            if not isinstance(getattr(self, name), AbstractModel):
                raise TypeError(f"SurrogateGradient: {name} must be an AbstractModel.")
        if self.model.state_size != self.surrogate.state_size:
            raise ValueError(
                "SurrogateGradient: model and surrogate state sizes differ "
                f"({self.model.state_size} vs {self.surrogate.state_size})."
            )
        dt, sdt = self.model.dt, self.surrogate.dt
        if isinstance(dt, (int, float)) and isinstance(sdt, (int, float)) and dt != sdt:
            raise ValueError(f"SurrogateGradient: model dt {dt} differs from surrogate dt {sdt}.")

    def step(self, x: Float[Array, " state"]) -> Float[Array, " state"]:
        """``model.step(x)``, differentiated as ``surrogate.step``."""
        # Arrays of both models are explicit (constant) inputs of the custom_jvp function,
        # so it closes over no tracer; everything else is static.
        dyn, static = eqx.partition((self.model, self.surrogate), eqx.is_array)

        @jax.custom_jvp
        def value(dyn, x):
            model, _ = eqx.combine(dyn, static)
            return model.step(x)

        @value.defjvp
        def value_jvp(primals, tangents):
            dyn, x = primals
            _, dx = tangents
            model, surrogate = eqx.combine(dyn, static)
            y = model.step(x)
            _, dy = jax.jvp(surrogate.step, (x,), (dx,))
            return y, dy.astype(y.dtype)

        return value(dyn, x)

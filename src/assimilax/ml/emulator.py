"""A learned model: a network stands in for the physics, behind the :class:`AbstractModel` API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..models import RK4, AbstractIntegrator, AbstractModel

Mode = Literal["tendency", "resolvent"]
_MODES = ("tendency", "resolvent")
_RK4 = RK4()


def check_mode(owner: str, mode: str) -> None:
    if mode not in _MODES:
        raise ValueError(
            f"{owner}: mode must be one of {_MODES!r}, got {mode!r}. 'tendency': the net "
            "returns dx/dt and the integrator steps it; 'resolvent': the net returns the "
            "increment x(t + dt) - x(t) of one model step."
        )


def net_output(net: Callable, x: Float[Array, " state"]) -> Float[Array, " state"]:
    """``net(x)`` cast back to the state's dtype (nets may compute in float32)."""
    return jnp.asarray(net(x)).astype(x.dtype)


class Emulator(AbstractModel):
    r"""A data-driven model: a network maps one state to its tendency or to its increment.

    Two parameterisations of the same one-step map $x_{k+1} = \mathcal M(x_k)$:

    - ``mode="tendency"``: the network is the right-hand side of an ODE,
      $\dot x = \mathrm{net}(x)$ (state units per model time unit), and one step is the
      ``integrator`` (RK4 by default) applied over ``dt``. The net is evaluated 4 times per
      RK4 step, as Bocquet et al. (2020) and Nonnenmacher & Greenberg (2021) train theirs.
    - ``mode="resolvent"``: the network predicts the increment of one whole model step,
      $x_{k+1} = x_k + \mathrm{net}(x_k)$ (a residual network over ``dt``; the identity
      is added here, so an untrained near-zero net is a persistence forecast): the
      surrogate of Brajard et al. (2020).
      ``tendency`` is not defined in this mode.

    The net is any callable ``(state,) -> (state,)`` (an ``eqx.Module`` to be trainable and
    jit-able as a leaf of this model); it may compute in float32, its output is cast back to
    the state's dtype so a float64 state stays float64. Ensembles are ``vmap``-ed over the
    member axis elsewhere, so the filters in :func:`assimilax.da.assimilate` and the
    rollouts in :mod:`assimilax.models` use an emulator as any physical model.

    Additive model noise, when ``noise_std > 0``, is ``sqrt(dt) * noise_std * N(0, I)`` per
    step (applied by :func:`assimilax.models.forecast`), as for the physical models.

    Attributes:
        net: the network, ``(state,) -> (state,)``.
        dt: model time step (model time units).
        mode: ``"tendency"`` or ``"resolvent"`` (static).
        integrator: the integrator used in tendency mode (unused in resolvent mode).
        noise_std: additive model-noise standard deviation per unit time.
        n: length of the state vector (static); also :attr:`state_size`.

    Refs: Brajard et al. (2020), J. Comput. Sci. 44, 101171 (resolvent CNN); Bocquet et al.
    (2020), Found. Data Sci. 2 (tendency net stepped by RK4);
    Dueben & Bauer (2018), Geosci. Model Dev. 11 (resolvent, one-step networks).
    """

    net: Callable[[Float[Array, " state"]], Float[Array, " state"]]
    dt: float
    mode: str = eqx.field(static=True)
    integrator: AbstractIntegrator
    noise_std: float
    n: int = eqx.field(static=True)

    def __init__(
        self,
        net: Callable[[Float[Array, " state"]], Float[Array, " state"]],
        dt: float,
        mode: Mode = "tendency",
        integrator: AbstractIntegrator = _RK4,
        noise_std: float = 0.0,
        *,
        state_size: int,
    ):
        """Build an emulator.

        Args:
            net: network ``(state,) -> (state,)``: a tendency (``mode="tendency"``) or the
                one-step increment (``mode="resolvent"``).
            dt: model time step (model time units).
            mode: ``"tendency"`` or ``"resolvent"``.
            integrator: integrator of the tendency (default RK4).
            noise_std: additive model-noise standard deviation per unit time.
            state_size: length of the state vector (a net's input size is not inspectable
                in general, so it is given here).
        """
        self.net = net
        self.dt = dt
        self.mode = mode
        self.integrator = integrator
        self.noise_std = noise_std
        self.n = state_size

    def __check_init__(self):
        check_mode("Emulator", self.mode)
        if not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 1:
            raise ValueError(f"Emulator: state_size must be a positive int, got {self.n!r}.")
        if isinstance(self.dt, (int, float)) and not self.dt > 0:
            raise ValueError(f"Emulator: dt must be > 0, got {self.dt!r}.")
        if not isinstance(self.integrator, AbstractIntegrator):
            raise TypeError(
                f"Emulator: integrator must be an AbstractIntegrator, got {self.integrator!r}."
            )

    @property
    def state_size(self) -> int:
        return self.n

    def tendency(self, x: Float[Array, " state"]) -> Float[Array, " state"]:
        """``dx/dt = net(x)`` (tendency mode only)."""
        if self.mode != "tendency":
            raise NotImplementedError(
                "Emulator: tendency() is defined only in mode='tendency'; a resolvent "
                "emulator predicts whole-step increments."
            )
        return net_output(self.net, x)

    def step(self, x: Float[Array, " state"]) -> Float[Array, " state"]:
        """One model step: ``integrator(net, x, dt)`` or ``x + net(x)``."""
        if self.mode == "tendency":
            return self.integrator.step(self.tendency, x, self.dt)
        return x + net_output(self.net, x)

"""``[model]`` and ``[truth]`` sections: one class per model, each building its core model.

A new model: a class here (or in its own module imported by ``config/__init__.py``)
deriving from :class:`ModelSection`, decorated with ``@register("model", "<name>")``,
with its keys as fields (each with a docstring) and ``state_size``, ``describe`` and
``build``. Nothing else in the config package, the builders or the CLI changes.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ... import models
from ...models import AbstractModel
from ._base import Section
from ._registry import register


class ModelSection(Section):
    """A forecast or truth model; ``noise_std``: additive noise ``sqrt(dt) N(0, q^2)`` a step.

    Every model has the keys ``dt`` (the model time step) and ``noise_std``.
    """

    tag: ClassVar[str] = "name"

    name: str
    """The model."""

    @property
    def state_size(self) -> int:
        """Number of state variables."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short human name, e.g. ``Lorenz-96 (n=40, F=8)``."""
        raise NotImplementedError

    def build(self) -> AbstractModel:
        """The core model of this section."""
        raise NotImplementedError

    def resolves(self, state_size: int) -> bool:
        """Whether, as ``[truth]``, it can make the truth of a forecast model of
        ``state_size`` variables (:meth:`assimilax.models.AbstractModel.resolves`)."""
        return state_size == self.state_size


@register("model", "lorenz63")
class Lorenz63Config(ModelSection):
    """``[model] name = "lorenz63"``: Lorenz (1963), state size 3."""

    sigma: float = 10.0
    """Prandtl number: $\\dot x = \\sigma (y - x)$."""
    rho: float = 28.0
    """Rayleigh number: $\\dot y = x(\\rho - z) - y$."""
    beta: float = 8.0 / 3.0
    """Geometric factor: $\\dot z = xy - \\beta z$."""
    dt: float = Field(0.01, gt=0)
    """Model time step (model time units), RK4."""
    noise_std: float = Field(0.0, ge=0)
    """Additive model noise: $\\sqrt{dt}\\,N(0, q^2)$ per step, $q$ = ``noise_std``."""

    @property
    def state_size(self) -> int:
        return 3

    def describe(self) -> str:
        return "Lorenz-63"

    def build(self) -> models.Lorenz63:
        return models.Lorenz63(sigma=self.sigma, rho=self.rho, beta=self.beta, dt=self.dt,
                               noise_std=self.noise_std)


@register("model", "lorenz96")
class Lorenz96Config(ModelSection):
    """``[model] name = "lorenz96"``: Lorenz (1996) on a ring of ``n`` variables."""

    n: int = Field(40, ge=4)
    """State size: variables on a ring, one grid unit apart."""
    forcing: float = 8.0
    """Constant forcing $F$ (8 is chaotic, about 13 positive Lyapunov exponents at n = 40)."""
    dt: float = Field(0.05, gt=0)
    """Model time step (model time units), RK4."""
    noise_std: float = Field(0.0, ge=0)
    """Additive model noise: $\\sqrt{dt}\\,N(0, q^2)$ per step, $q$ = ``noise_std``."""

    @property
    def state_size(self) -> int:
        return self.n

    def describe(self) -> str:
        return f"Lorenz-96 (n={self.n}, F={self.forcing:g})"

    def build(self) -> models.Lorenz96:
        return models.Lorenz96(n=self.n, forcing=self.forcing, dt=self.dt,
                               noise_std=self.noise_std)


@register("model", "two_scale_lorenz96")
class TwoScaleLorenz96Config(ModelSection):
    """``[model] name = "two_scale_lorenz96"``: ``K`` slow and ``K*J`` fast variables."""

    K: int = Field(36, ge=4)
    """Number of slow variables $X_k$."""
    J: int = Field(10, ge=1)
    """Fast variables $Y_{j,k}$ per slow one (state size ``K + K*J``)."""
    F: float = 10.0
    """Forcing of the slow variables."""
    h: float = 1.0
    """Coupling strength between the scales."""
    b: float = Field(10.0, gt=0)
    """Amplitude ratio of slow to fast variables."""
    c: float = Field(10.0, gt=0)
    """Time-scale ratio of fast to slow variables."""
    dt: float = Field(0.005, gt=0)
    """Model time step (model time units), RK4."""
    noise_std: float = Field(0.0, ge=0)
    """Additive model noise: $\\sqrt{dt}\\,N(0, q^2)$ per step, $q$ = ``noise_std``."""

    @property
    def state_size(self) -> int:
        return self.K + self.K * self.J

    def describe(self) -> str:
        return f"two-scale Lorenz-96 (K={self.K}, J={self.J}, F={self.F:g})"

    def resolves(self, state_size: int) -> bool:
        """The whole state, or (as the truth of a truncated model) the ``K`` slow ones."""
        return state_size in (self.state_size, self.K)

    def build(self) -> models.TwoScaleLorenz96:
        return models.TwoScaleLorenz96(K=self.K, J=self.J, F=self.F, h=self.h, b=self.b,
                                       c=self.c, dt=self.dt, noise_std=self.noise_std)

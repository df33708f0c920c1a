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


@register("model", "qg")
class QGConfig(ModelSection):
    """``[model] name = "qg"``: the two-layer QG channel of OOPS (Fandry & Leslie 1984).

    State: the streamfunction of both layers on an ``ny x nx`` grid (``2 * nx * ny``
    variables, fields ``psi1``, ``psi2``), non-dimensional in OOPS's units (length
    $10^6$ m, velocity 10 m/s, time $10^5$ s). Localisation distances are in grid spacings
    $\\Delta x$ (periodic in $x$, walls in $y$). See :class:`assimilax.models.QG`.
    """

    nx: int = Field(40, ge=4, multiple_of=2)
    """Grid points in $x$ (periodic, even); OOPS's test geometry: 40."""
    ny: int = Field(20, ge=2)
    """Grid points in $y$ between the walls; OOPS: 20 (square 300 km cells)."""
    length_x: float = Field(12.0, gt=0)
    """Zonal domain length (units of $10^6$ m); OOPS: 12 (12,000 km)."""
    length_y: float = Field(6.3, gt=0)
    """Meridional domain length (units of $10^6$ m); OOPS: 6.3."""
    depth1: float = Field(6000.0, gt=0)
    """Upper layer depth $H_1$ (m); OOPS's truth: 6000 (its perturbed model: 5500)."""
    depth2: float = Field(4000.0, gt=0)
    """Lower layer depth $H_2$ (m); OOPS's truth: 4000 (its perturbed model: 4500)."""
    u1: float = 4.0
    """Mean zonal wind of the upper layer (units of 10 m/s), set by the walls; OOPS: 4."""
    u2: float = 1.0
    """Mean zonal wind of the lower layer (units of 10 m/s); OOPS: 1."""
    beta: float = 1.5
    """$\\beta_0 L^2/U$; 1.5 for OOPS's $\\beta_0 = 1.5\\times10^{-11}$ m⁻¹s⁻¹."""
    orography: float = 2000.0
    """Height (m) of the lower layer's Gaussian orography; OOPS: 2000."""
    orography_width: float = Field(1.0, gt=0)
    """E-folding width of the orography (units of $10^6$ m); OOPS: 1."""
    ekman: float = Field(0.0, ge=0)
    """Ekman drag rate on the lower layer (per time unit); 0 in OOPS."""
    diffusion: float = Field(2.0e-5, ge=0)
    """Biharmonic PV diffusion $\\nu$ (stands in for the semi-Lagrangian scheme's)."""
    dt: float = Field(0.036, gt=0)
    """Model time step (units of $10^5$ s), RK4; 0.036 is OOPS's one hour."""
    noise_std: float = Field(0.0, ge=0)
    """Additive model noise: $\\sqrt{dt}\\,N(0, q^2)$ per step, $q$ = ``noise_std``."""

    @property
    def state_size(self) -> int:
        return 2 * self.nx * self.ny

    def describe(self) -> str:
        return f"two-layer QG ({self.nx}x{self.ny}, H={self.depth1:g}/{self.depth2:g} m)"

    def build(self) -> models.QG:
        return models.QG(nx=self.nx, ny=self.ny, length_x=self.length_x,
                         length_y=self.length_y, depth1=self.depth1, depth2=self.depth2,
                         u1=self.u1, u2=self.u2, beta=self.beta, orography=self.orography,
                         orography_width=self.orography_width, ekman=self.ekman,
                         diffusion=self.diffusion, dt=self.dt, noise_std=self.noise_std)

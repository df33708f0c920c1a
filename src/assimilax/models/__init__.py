"""JAX model zoo: every model steps one state; ensembles are ``vmap``-ed elsewhere."""

from ._base import AbstractModel as AbstractModel
from ._base import AbstractODEModel as AbstractODEModel
from ._base import forecast as forecast
from ._base import forecast_ensemble as forecast_ensemble
from ._base import has_noise as has_noise
from ._base import rollout as rollout
from ._integrators import RK4 as RK4
from ._integrators import AbstractIntegrator as AbstractIntegrator
from ._integrators import Euler as Euler
from ._linear import LinearModel as LinearModel
from ._lorenz63 import Lorenz63 as Lorenz63
from ._lorenz96 import Lorenz96 as Lorenz96
from ._qg import QG as QG
from ._two_scale import TwoScaleLorenz96 as TwoScaleLorenz96

__all__ = [
    "AbstractIntegrator",
    "AbstractModel",
    "AbstractODEModel",
    "Euler",
    "forecast",
    "forecast_ensemble",
    "has_noise",
    "LinearModel",
    "Lorenz63",
    "Lorenz96",
    "QG",
    "RK4",
    "rollout",
    "TwoScaleLorenz96",
]

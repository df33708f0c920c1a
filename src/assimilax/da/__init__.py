"""Data assimilation: one method protocol and one driver for every method.

Ensemble filters and smoothers, variational methods and the Kalman oracle; every method
implements :class:`AbstractMethod` (``init`` / ``cycle(model, carry, window, *, key)`` /
``finish``) and runs through :func:`assimilate`.
"""

from . import ensemble as ensemble
from . import inflation as inflation
from . import kalman as kalman
from . import localization as localization
from . import particle as particle
from . import tuning as tuning
from . import variational as variational
from ._base import AbstractEnsembleFilter as AbstractEnsembleFilter
from ._base import AbstractTransformFilter as AbstractTransformFilter
from ._base import EnsembleSpace as EnsembleSpace
from ._base import ensemble_space as ensemble_space
from ._base import mean_transform as mean_transform
from ._baselines import Climatology as Climatology
from ._baselines import OptInterp as OptInterp
from ._linalg import AbstractInvSqrt as AbstractInvSqrt
from ._linalg import AbstractRotation as AbstractRotation
from ._linalg import EighInvSqrt as EighInvSqrt
from ._linalg import HaarRotation as HaarRotation
from ._linalg import HouseholderRotation as HouseholderRotation
from ._linalg import NewtonSchulzInvSqrt as NewtonSchulzInvSqrt
from ._linalg import NoRotation as NoRotation
from ._linalg import haar_orthogonal as haar_orthogonal
from ._linalg import rotate_anomalies as rotate_anomalies
from ._method import AbstractMethod as AbstractMethod
from ._method import Estimate as Estimate
from ._method import SeriesSpec as SeriesSpec
from ._method import Window as Window
from ._method import assemble_lagged as assemble_lagged
from .cycle import STANDARD_SERIES as STANDARD_SERIES
from .cycle import Result as Result
from .cycle import Save as Save
from .cycle import assimilate as assimilate
from .cycle import complete_series as complete_series
from .cycle import series_specs as series_specs
from .ensemble import ETKF as ETKF
from .ensemble import LETKF as LETKF
from .ensemble import EnKF as EnKF
from .ensemble import EnKF_N as EnKF_N
from .ensemble import EnKS as EnKS
from .ensemble import IEnKS as IEnKS
from .inflation import RTPP as RTPP
from .inflation import RTPS as RTPS
from .inflation import Multiplicative as Multiplicative
from .inflation import NoInflation as NoInflation
from .localization import GaspariCohn as GaspariCohn
from .localization import Gaussian as Gaussian
from .localization import NoLocalization as NoLocalization
from .particle import PartFilt as PartFilt

__all__ = [
    "AbstractEnsembleFilter",
    "AbstractInvSqrt",
    "AbstractMethod",
    "AbstractRotation",
    "AbstractTransformFilter",
    "Climatology",
    "assemble_lagged",
    "assimilate",
    "complete_series",
    "Estimate",
    "HaarRotation",
    "HouseholderRotation",
    "IEnKS",
    "NoRotation",
    "OptInterp",
    "PartFilt",
    "particle",
    "Result",
    "Save",
    "SeriesSpec",
    "series_specs",
    "STANDARD_SERIES",
    "Window",
    "EighInvSqrt",
    "EnKF",
    "EnKF_N",
    "EnKS",
    "ensemble",
    "ensemble_space",
    "EnsembleSpace",
    "ETKF",
    "GaspariCohn",
    "Gaussian",
    "haar_orthogonal",
    "inflation",
    "kalman",
    "LETKF",
    "localization",
    "mean_transform",
    "Multiplicative",
    "NewtonSchulzInvSqrt",
    "NoInflation",
    "NoLocalization",
    "rotate_anomalies",
    "RTPP",
    "RTPS",
]

"""Data assimilation: ensemble filters and smoothers, variational methods, the Kalman oracle."""

from . import ensemble as ensemble
from . import inflation as inflation
from . import kalman as kalman
from . import localization as localization
from . import tuning as tuning
from . import variational as variational
from ._base import AbstractEnsembleFilter as AbstractEnsembleFilter
from ._base import AbstractEnsembleMethod as AbstractEnsembleMethod
from ._base import AbstractTransformFilter as AbstractTransformFilter
from ._base import EnsembleSpace as EnsembleSpace
from ._base import ensemble_space as ensemble_space
from ._linalg import AbstractInvSqrt as AbstractInvSqrt
from ._linalg import EighInvSqrt as EighInvSqrt
from ._linalg import NewtonSchulzInvSqrt as NewtonSchulzInvSqrt
from ._linalg import haar_orthogonal as haar_orthogonal
from ._linalg import rotate_anomalies as rotate_anomalies
from .cycle import AssimilationResult as AssimilationResult
from .cycle import assimilate as assimilate
from .ensemble import ETKF as ETKF
from .ensemble import LETKF as LETKF
from .ensemble import EnKF as EnKF
from .ensemble import EnKF_N as EnKF_N
from .ensemble import EnKS as EnKS
from .inflation import RTPP as RTPP
from .inflation import RTPS as RTPS
from .inflation import Multiplicative as Multiplicative
from .inflation import NoInflation as NoInflation
from .localization import GaspariCohn as GaspariCohn
from .localization import Gaussian as Gaussian
from .localization import NoLocalization as NoLocalization

__all__ = [
    "AbstractEnsembleFilter",
    "AbstractEnsembleMethod",
    "AbstractInvSqrt",
    "AbstractTransformFilter",
    "assimilate",
    "AssimilationResult",
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
    "Multiplicative",
    "NewtonSchulzInvSqrt",
    "NoInflation",
    "NoLocalization",
    "rotate_anomalies",
    "RTPP",
    "RTPS",
]

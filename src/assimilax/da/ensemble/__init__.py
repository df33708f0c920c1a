"""Ensemble Kalman filters and smoothers (member axis first)."""

from ._enkf import EnKF as EnKF
from ._enkf_n import EnKF_N as EnKF_N
from ._enks import EnKS as EnKS
from ._etkf import ETKF as ETKF
from ._ienks import IEnKS as IEnKS
from ._letkf import LETKF as LETKF

__all__ = [
    "EnKF",
    "EnKF_N",
    "EnKS",
    "ETKF",
    "IEnKS",
    "LETKF",
]

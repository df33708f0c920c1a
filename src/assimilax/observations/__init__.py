"""Observation operators, Gaussian errors, and observation series with masks."""

from ._grid import Field as Field
from ._grid import Grid as Grid
from ._noise import AbstractObsNoise as AbstractObsNoise
from ._noise import CorrelatedNoise as CorrelatedNoise
from ._noise import DiagonalNoise as DiagonalNoise
from ._operators import AbstractObsOperator as AbstractObsOperator
from ._operators import Every as Every
from ._operators import Full as Full
from ._operators import Linear as Linear
from ._operators import RandomSubset as RandomSubset
from ._operators import Subset as Subset
from ._rotating import RotatingSubset as RotatingSubset
from ._series import Observations as Observations
from ._series import observe as observe

__all__ = [
    "AbstractObsNoise",
    "AbstractObsOperator",
    "CorrelatedNoise",
    "DiagonalNoise",
    "Every",
    "Full",
    "Field",
    "Grid",
    "Linear",
    "Observations",
    "observe",
    "RandomSubset",
    "RotatingSubset",
    "Subset",
]

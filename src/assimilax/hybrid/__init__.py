"""Hybrid DA+ML methods of the literature, each composed from the core parts.

- :func:`iterative_emulation` — a surrogate model learned from sparse, noisy observations
  by alternating network training and EnKF-N (Brajard et al. 2020, J. Comput. Sci.), with
  its parts :func:`space_time_interpolation`, :func:`train_surrogate`,
  :func:`surrogate_loss` and :func:`surrogate_skill`;
- :func:`emulator_4dvar` — 4D-Var with the gradients of a learned emulator
  (Nonnenmacher & Greenberg 2021, JAMES), with its parts :func:`training_pairs`,
  :func:`train_emulator`, :class:`DeepEmulatorCNN`, :func:`twin_windows`,
  :func:`window_cost`, :func:`lbfgs_minimise` and :func:`cycle_4dvar`.
"""

from ._emulator_4dvar import VARIANTS as VARIANTS
from ._emulator_4dvar import DeepEmulatorCNN as DeepEmulatorCNN
from ._emulator_4dvar import cycle_4dvar as cycle_4dvar
from ._emulator_4dvar import emulator_4dvar as emulator_4dvar
from ._emulator_4dvar import lbfgs_minimise as lbfgs_minimise
from ._emulator_4dvar import train_emulator as train_emulator
from ._emulator_4dvar import training_pairs as training_pairs
from ._emulator_4dvar import twin_windows as twin_windows
from ._emulator_4dvar import window_cost as window_cost
from ._iterative import LYAPUNOV_EXPONENT_L96 as LYAPUNOV_EXPONENT_L96
from ._iterative import DivergedIterationError as DivergedIterationError
from ._iterative import IterationRecord as IterationRecord
from ._iterative import IterativeResult as IterativeResult
from ._iterative import iterative_emulation as iterative_emulation
from ._iterative import space_time_interpolation as space_time_interpolation
from ._iterative import surrogate_loss as surrogate_loss
from ._iterative import surrogate_skill as surrogate_skill
from ._iterative import train_surrogate as train_surrogate

__all__ = [
    "cycle_4dvar",
    "DeepEmulatorCNN",
    "DivergedIterationError",
    "emulator_4dvar",
    "IterationRecord",
    "iterative_emulation",
    "IterativeResult",
    "lbfgs_minimise",
    "LYAPUNOV_EXPONENT_L96",
    "space_time_interpolation",
    "surrogate_loss",
    "surrogate_skill",
    "train_emulator",
    "train_surrogate",
    "training_pairs",
    "twin_windows",
    "VARIANTS",
    "window_cost",
]

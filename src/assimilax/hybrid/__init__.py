"""Hybrid DA+ML methods of the literature, each composed from the core parts.

- :class:`IterativeEmulation` — a surrogate model learned from sparse, noisy observations
  by alternating network training and EnKF-N (Brajard et al. 2020, J. Comput. Sci.), with
  its parts :func:`space_time_interpolation`, :func:`train_surrogate`,
  :func:`surrogate_loss` and :class:`SurrogateSkill`; per-iteration states
  (:class:`IterationState`) go to a callback, and a run resumes from one;
- :class:`Emulator4DVar` — 4D-Var without background with the gradients of a learned
  emulator (Nonnenmacher & Greenberg 2021, JAMES), with its parts :func:`training_pairs`,
  :func:`train_emulator`, :func:`emulator_errors` and :func:`first_guess_interpolation`;
  the network, observation operator, cost and minimiser are
  :class:`assimilax.ml.nets.DeepEmulatorCNN`,
  :class:`assimilax.observations.RotatingSubset`,
  :class:`assimilax.da.variational.NoBackgroundWindow` and
  :class:`assimilax.da.variational.LBFGS`.

- :class:`OnlineVar4D` — 4D-Var whose control vector holds the parameters of a model
  correction as well as the state, cycled window after window: online learning of model
  error (Farchi et al. 2021, J. Comput. Sci.), with :class:`OnlineWindow`,
  :func:`parameter_vector` and :func:`with_parameters`; offline learning of the same
  corrections from analyses, :func:`analysis_pairs` and :func:`fit_correction`, and the
  forecast score :func:`forecast_rmse`.
- :func:`model_error_targets`, :func:`train_model_error`, :func:`step_corrected` and
  :func:`relative_forecast_error` — a truncated model corrected by a network trained on
  the analyses of a filter run with it (Brajard et al. 2021, Phil. Trans. R. Soc. A).
- :func:`increment_tendencies`, :func:`forcing_network`, :func:`fit_forcing` and
  :func:`with_forcing_prior` — a network learns the model-error tendency from the
  increments of strong-constraint 4D-Var and serves as the forcing prior of
  weak-constraint 4D-Var (Bonavita & Laloyaux 2020, JAMES), scored against the true error
  by :func:`true_forcing_error` and :func:`forcing_skill`.

Nothing here writes files: the application ring (:mod:`assimilax.experiments`) does.
"""

from ._emulator_4dvar import VARIANTS as VARIANTS
from ._emulator_4dvar import Emulator4DVar as Emulator4DVar
from ._emulator_4dvar import Emulator4DVarResult as Emulator4DVarResult
from ._emulator_4dvar import EmulatorErrors as EmulatorErrors
from ._emulator_4dvar import VariantScores as VariantScores
from ._emulator_4dvar import WindowAnalyses as WindowAnalyses
from ._emulator_4dvar import emulator_errors as emulator_errors
from ._emulator_4dvar import first_guess_interpolation as first_guess_interpolation
from ._emulator_4dvar import train_emulator as train_emulator
from ._emulator_4dvar import training_pairs as training_pairs
from ._iterative import LYAPUNOV_EXPONENT_L96 as LYAPUNOV_EXPONENT_L96
from ._iterative import DivergedIterationError as DivergedIterationError
from ._iterative import IterationRecord as IterationRecord
from ._iterative import IterationState as IterationState
from ._iterative import IterativeEmulation as IterativeEmulation
from ._iterative import IterativeResult as IterativeResult
from ._iterative import SkillResult as SkillResult
from ._iterative import SurrogateSkill as SurrogateSkill
from ._iterative import space_time_interpolation as space_time_interpolation
from ._iterative import surrogate_loss as surrogate_loss
from ._iterative import surrogate_skill as surrogate_skill
from ._iterative import train_surrogate as train_surrogate
from ._model_error import analysis_pairs as analysis_pairs
from ._model_error import fit_correction as fit_correction
from ._model_error import forecast_errors as forecast_errors
from ._model_error import forecast_rmse as forecast_rmse
from ._model_error import free_forecasts as free_forecasts
from ._model_error import mean_and_half_width as mean_and_half_width
from ._neural_forcing import ForcingSkill as ForcingSkill
from ._neural_forcing import fit_forcing as fit_forcing
from ._neural_forcing import forcing_network as forcing_network
from ._neural_forcing import forcing_skill as forcing_skill
from ._neural_forcing import increment_tendencies as increment_tendencies
from ._neural_forcing import true_forcing_error as true_forcing_error
from ._neural_forcing import with_forcing_prior as with_forcing_prior
from ._online_var4d import OnlineVar4D as OnlineVar4D
from ._online_var4d import OnlineWindow as OnlineWindow
from ._online_var4d import parameter_vector as parameter_vector
from ._online_var4d import with_parameters as with_parameters
from ._truncated_correction import model_error_loss as model_error_loss
from ._truncated_correction import model_error_targets as model_error_targets
from ._truncated_correction import relative_forecast_error as relative_forecast_error
from ._truncated_correction import step_corrected as step_corrected
from ._truncated_correction import train_model_error as train_model_error

__all__ = [
    "analysis_pairs",
    "DivergedIterationError",
    "Emulator4DVar",
    "Emulator4DVarResult",
    "emulator_errors",
    "EmulatorErrors",
    "first_guess_interpolation",
    "fit_correction",
    "forecast_errors",
    "forecast_rmse",
    "free_forecasts",
    "IterationRecord",
    "IterationState",
    "IterativeEmulation",
    "IterativeResult",
    "mean_and_half_width",
    "LYAPUNOV_EXPONENT_L96",
    "model_error_loss",
    "model_error_targets",
    "OnlineVar4D",
    "OnlineWindow",
    "parameter_vector",
    "relative_forecast_error",
    "SkillResult",
    "step_corrected",
    "space_time_interpolation",
    "surrogate_loss",
    "surrogate_skill",
    "SurrogateSkill",
    "train_emulator",
    "train_model_error",
    "train_surrogate",
    "training_pairs",
    "VariantScores",
    "VARIANTS",
    "WindowAnalyses",
    "with_parameters",
    "ForcingSkill",
    "fit_forcing",
    "forcing_network",
    "forcing_skill",
    "increment_tendencies",
    "true_forcing_error",
    "with_forcing_prior",
]

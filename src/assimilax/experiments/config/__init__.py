"""The TOML run configuration: one module per section kind, each section registered
with the core object it builds.

A run is described by the sections ``[model]``, optional ``[truth]``,
``[observations]``, ``[method]``, ``[experiment]``, and optional ``[ml]`` and ``[hybrid]``
(see DESIGN.md). Every section refuses unknown keys; model-, operator-, method- and
hybrid-specific keys are only accepted for their own kind, through unions tagged by
``name`` (``operator`` for observations). Every violation is reported at once, each as
``[section] key = value: what is wrong``.

Each kind of section is a class registered with ``@register(kind, name)``
(:mod:`._registry`) that builds its core object: ``ModelSection.build()``,
``ObservationsSection.build(grid)``, ``MethodSection.build(model)``. The unions of
:class:`Config`, the allowed names and suggestions in messages, the cross-checks and the
configuration reference all read the registry.

Adding a kind (a model, an operator, a method, a hybrid) is one section class with
``@register`` in its module: ``_model.py``, ``_observations.py``, ``_method.py``
(ensemble methods), ``_variational.py``, ``_hybrid.py``. A new section module is
imported below, before ``._config`` (which assembles ``Config`` from the registry
and closes it): its name in that list is the only other edit.
"""

# The section modules register their classes on import; keep them before ._config.
from . import (  # noqa: F401
    _baselines,
    _bonavita2020,
    _brajard2021,
    _experiment,
    _hybrid,
    _ienks,
    _method,
    _ml,
    _model,
    _model_error,
    _observations,
    _particle,
    _resolvent_correction,
    _variational,
)
from ._base import ConfigError as ConfigError
from ._base import Issue as Issue
from ._base import Section as Section
from ._base import show_value as show_value
from ._bonavita2020 import Bonavita2020Config as Bonavita2020Config
from ._config import SECTIONS as SECTIONS
from ._config import Config as Config
from ._config import apply_overrides as apply_overrides
from ._config import load_config as load_config
from ._config import parse_override as parse_override
from ._config import section_classes as section_classes
from ._config import section_kind as section_kind
from ._experiment import SPINUP_TIME as SPINUP_TIME
from ._experiment import ExperimentConfig as ExperimentConfig
from ._hybrid import Emulator4DVarConfig as Emulator4DVarConfig
from ._hybrid import HybridSection as HybridSection
from ._hybrid import IterativeEmulationConfig as IterativeEmulationConfig
from ._method import EnKFConfig as EnKFConfig
from ._method import EnKFNConfig as EnKFNConfig
from ._method import EnKSConfig as EnKSConfig
from ._method import EnsembleMethodSection as EnsembleMethodSection
from ._method import ETKFConfig as ETKFConfig
from ._method import LETKFConfig as LETKFConfig
from ._method import MethodSection as MethodSection
from ._method import build_inflation as build_inflation
from ._ml import NETWORKS as NETWORKS
from ._ml import MLConfig as MLConfig
from ._model import Lorenz63Config as Lorenz63Config
from ._model import Lorenz96Config as Lorenz96Config
from ._model import ModelSection as ModelSection
from ._model import TwoScaleLorenz96Config as TwoScaleLorenz96Config
from ._model_error import ModelErrorCorrectionConfig as ModelErrorCorrectionConfig
from ._observations import EveryObsConfig as EveryObsConfig
from ._observations import FullObsConfig as FullObsConfig
from ._observations import ObservationsSection as ObservationsSection
from ._observations import RandomObsConfig as RandomObsConfig
from ._observations import SubsetObsConfig as SubsetObsConfig
from ._registry import KINDS as KINDS
from ._registry import register as register
from ._registry import registered as registered
from ._resolvent_correction import ResolventCorrectionConfig as ResolventCorrectionConfig
from ._variational import Var3DConfig as Var3DConfig
from ._variational import Var4DConfig as Var4DConfig
from ._variational import VariationalMethodSection as VariationalMethodSection
from ._variational import WeakVar4DConfig as WeakVar4DConfig
from ._variational import model_climatology as model_climatology

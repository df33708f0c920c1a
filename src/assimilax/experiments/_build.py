"""From a validated :class:`Config` to the core objects: models, operators, methods.

Each section builds its own core object (``section.build(...)``, see
:mod:`assimilax.experiments.config`); this module puts them together into a
:class:`Experiment` (a :class:`Setup` and a method).
"""

import dataclasses

from ..da import AbstractMethod
from ..models import AbstractModel
from ..observations import AbstractObsNoise, AbstractObsOperator, Grid
from .config import Config, MethodSection, ModelSection, ObservationsSection
from .config import build_inflation as build_inflation


def build_model(cfg: ModelSection) -> AbstractModel:
    """The model of a ``[model]`` or ``[truth]`` section (``cfg.build()``)."""
    return cfg.build()


def build_observations(
    cfg: ObservationsSection, grid: Grid
) -> tuple[AbstractObsOperator, AbstractObsNoise]:
    """The operator and the (diagonal Gaussian) noise of an ``[observations]`` section."""
    return cfg.build(grid)


def build_method(cfg: MethodSection, model: AbstractModel | None = None) -> AbstractMethod:
    """The method of a ``[method]`` section (``cfg.build(model)``; the EnKS wraps an ETKF).

    Variational methods need the forecast ``model``: their ``B`` is built from its
    climatology.
    """
    return cfg.build(model)


@dataclasses.dataclass(frozen=True)
class Setup:
    """The twin experiment's set-up: models, observations and the twin's settings.

    Attributes:
        model: the forecast model.
        truth_model: the model that makes the truth (``model`` unless ``[truth]`` is given).
        operator, noise: the observation operator (on the forecast model's grid) and error.
        every_steps: forecast-model steps per observation interval.
        truth_every_steps: truth-model steps per observation interval.
        spinup_steps: truth-model steps of spin-up.
        cycles: analysis cycles (observation times) after the spin-up.
        ensemble_size: members of the initial ensemble (1 for a deterministic method:
            its first background).
        initial_std: spread of the initial ensemble about the truth.
        seed: the seed of the truth, the observations, the initial ensemble and the
            method's randomness.
    """

    model: AbstractModel
    truth_model: AbstractModel
    operator: AbstractObsOperator
    noise: AbstractObsNoise
    every_steps: int
    truth_every_steps: int
    spinup_steps: int
    cycles: int
    ensemble_size: int
    initial_std: float
    seed: int

    @property
    def interval(self) -> float:
        """Model time between two analyses (model time units)."""
        return self.every_steps * self.model.dt


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A twin set-up and the method that assimilates it: DAPPER's ``xp``.

    ``run``, ``sweep`` and ``reproduce`` all build one per config (:func:`build`).

    Attributes:
        setup: the :class:`Setup`.
        method: the DA method (``None`` for a hybrid that brings its own).
    """

    setup: Setup
    method: AbstractMethod | None


def build(config: Config) -> Experiment:
    """The experiment of a config: every core object, each built by its own section."""
    model = config.model.build()
    truth_model = model if config.truth is None else config.truth.build()
    operator, noise = config.observations.build(model.grid)
    exp = config.experiment
    method = None if config.method is None else config.method.build(model)
    setup = Setup(
        model=model,
        truth_model=truth_model,
        operator=operator,
        noise=noise,
        every_steps=config.observations.every_steps,
        truth_every_steps=config.truth_every_steps,
        spinup_steps=exp.spinup_steps,
        cycles=exp.cycles,
        ensemble_size=(config.method.ensemble_size if config.method is not None else None) or 1,
        initial_std=exp.initial_std,
        seed=exp.seed,
    )
    return Experiment(setup, method)

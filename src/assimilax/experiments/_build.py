"""From a validated :class:`Config` to the core objects: models, operators, methods."""

import dataclasses

from .. import da, models, observations
from ..da import AbstractEnsembleMethod
from ..da.inflation import AbstractInflation
from ..models import AbstractModel
from ..observations import AbstractObsNoise, AbstractObsOperator, Grid
from ._config import (
    Config,
    EnKFConfig,
    EnKFNConfig,
    EnKSConfig,
    ETKFConfig,
    EveryObsConfig,
    FullObsConfig,
    LETKFConfig,
    Lorenz63Config,
    Lorenz96Config,
    RandomObsConfig,
    SubsetObsConfig,
    TwoScaleLorenz96Config,
)


def build_model(cfg: Lorenz63Config | Lorenz96Config | TwoScaleLorenz96Config) -> AbstractModel:
    """The model of a ``[model]`` or ``[truth]`` section."""
    if isinstance(cfg, Lorenz63Config):
        return models.Lorenz63(
            sigma=cfg.sigma, rho=cfg.rho, beta=cfg.beta, dt=cfg.dt, noise_std=cfg.noise_std
        )
    if isinstance(cfg, Lorenz96Config):
        return models.Lorenz96(n=cfg.n, forcing=cfg.forcing, dt=cfg.dt, noise_std=cfg.noise_std)
    if isinstance(cfg, TwoScaleLorenz96Config):
        return models.TwoScaleLorenz96(
            K=cfg.K, J=cfg.J, F=cfg.F, h=cfg.h, b=cfg.b, c=cfg.c, dt=cfg.dt,
            noise_std=cfg.noise_std,
        )
    raise TypeError(f"build_model: no model for {type(cfg).__name__}.")


def build_observations(
    cfg: FullObsConfig | EveryObsConfig | SubsetObsConfig | RandomObsConfig, grid: Grid
) -> tuple[AbstractObsOperator, AbstractObsNoise]:
    """The operator and the (diagonal Gaussian) noise of an ``[observations]`` section."""
    if isinstance(cfg, FullObsConfig):
        operator = observations.Full(grid)
    elif isinstance(cfg, EveryObsConfig):
        operator = observations.Every(grid, cfg.stride, cfg.offset)
    elif isinstance(cfg, SubsetObsConfig):
        operator = observations.Subset(grid, cfg.indices)
    elif isinstance(cfg, RandomObsConfig):
        operator = observations.RandomSubset(grid, cfg.fraction)
    else:
        raise TypeError(f"build_observations: no operator for {type(cfg).__name__}.")
    return operator, observations.DiagonalNoise(cfg.noise_std)


def build_inflation(kind: str, value: float) -> AbstractInflation:
    """``Multiplicative(f)``, ``RTPS(alpha)`` or ``RTPP(alpha)``; ``NoInflation`` when neutral."""
    if kind == "multiplicative":
        return da.NoInflation() if value == 1.0 else da.Multiplicative(value)
    if value == 0.0:
        return da.NoInflation()
    if kind == "rtps":
        return da.RTPS(value)
    if kind == "rtpp":
        return da.RTPP(value)
    raise ValueError(f"build_inflation: unknown kind {kind!r}.")


def build_method(
    cfg: ETKFConfig | EnKFConfig | EnKFNConfig | LETKFConfig | EnKSConfig,
) -> AbstractEnsembleMethod:
    """The ensemble method of a ``[method]`` section (the EnKS wraps an ETKF)."""
    inflation = build_inflation(cfg.inflation_kind, cfg.inflation)
    if isinstance(cfg, ETKFConfig):
        return da.ETKF(inflation=inflation, rotate=cfg.rotate)
    if isinstance(cfg, EnKFConfig):
        return da.EnKF(inflation=inflation, rotate=cfg.rotate)
    if isinstance(cfg, EnKFNConfig):
        return da.EnKF_N(inflation=inflation, rotate=cfg.rotate, xN=cfg.xN)
    if isinstance(cfg, LETKFConfig):
        return da.LETKF(
            inflation=inflation,
            rotate=cfg.rotate,
            localization=da.GaspariCohn(cfg.localization_radius),
        )
    if isinstance(cfg, EnKSConfig):
        return da.EnKS(filter=da.ETKF(inflation=inflation, rotate=cfg.rotate), lag=cfg.lag)
    raise TypeError(f"build_method: no method for {type(cfg).__name__}.")


@dataclasses.dataclass(frozen=True)
class Setup:
    """Everything a run needs, built from a :class:`Config`.

    Attributes:
        model: the forecast model.
        truth_model: the model that makes the truth (``model`` unless ``[truth]`` is given).
        operator, noise: the observation operator (on the forecast model's grid) and error.
        method: the ensemble method.
        every_steps: forecast-model steps per observation interval.
        truth_every_steps: truth-model steps per observation interval.
        spinup_steps: truth-model steps of spin-up.
    """

    model: AbstractModel
    truth_model: AbstractModel
    operator: AbstractObsOperator
    noise: AbstractObsNoise
    method: AbstractEnsembleMethod
    every_steps: int
    truth_every_steps: int
    spinup_steps: int

    @property
    def interval(self) -> float:
        """Model time between two analyses (model time units)."""
        return self.every_steps * self.model.dt


def build(config: Config) -> Setup:
    """All core objects of a run."""
    model = build_model(config.model)
    truth_model = model if config.truth is None else build_model(config.truth)
    operator, noise = build_observations(config.observations, model.grid)
    return Setup(
        model=model,
        truth_model=truth_model,
        operator=operator,
        noise=noise,
        method=build_method(config.method),
        every_steps=config.observations.every_steps,
        truth_every_steps=config.truth_every_steps,
        spinup_steps=config.experiment.spinup_steps,
    )

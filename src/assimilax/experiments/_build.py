"""From a validated :class:`Config` to the core objects: models, operators, methods."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import da, models, observations
from ..da import AbstractEnsembleMethod
from ..da import variational as var
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
    Var3DConfig,
    Var4DConfig,
    WeakVar4DConfig,
)

CLIMATOLOGY_SAMPLES = 10_000
"""States of the free model run that estimates the climatological covariance."""
CLIMATOLOGY_SPACING = 0.1
"""Model time units between those states (at least one model step)."""
CLIMATOLOGY_SPINUP = 20.0
"""Model time units discarded before sampling."""


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


@eqx.filter_jit
def _climatology(model, samples, spacing, spinup):
    x0 = model.initial_condition(jax.random.key(0))
    return var.climatology(model, x0, samples=samples, every_steps=spacing, spinup_steps=spinup)


def model_climatology(model: AbstractModel) -> tuple[jax.Array, jax.Array]:
    """Time mean and covariance of a long free run of ``model`` (deterministic: key 0).

    :data:`CLIMATOLOGY_SAMPLES` states :data:`CLIMATOLOGY_SPACING` time units apart, after
    :data:`CLIMATOLOGY_SPINUP` time units; see :func:`assimilax.da.variational.climatology`.
    """
    spacing = max(1, round(CLIMATOLOGY_SPACING / model.dt))
    spinup = round(CLIMATOLOGY_SPINUP / model.dt)
    return _climatology(model, CLIMATOLOGY_SAMPLES, spacing, spinup)


def build_background(
    cfg: Var3DConfig | Var4DConfig | WeakVar4DConfig, model: AbstractModel
) -> var.AbstractCovariance:
    """The static ``B`` of a variational ``[method]``: scaled climatology or recursive filter."""
    _, C = model_climatology(model)
    C = cfg.background_scale * C
    if cfg.background == "climatology":
        return var.DenseCovariance(C, name="B (background_scale x climatological covariance)")
    if cfg.filter == "first_order":
        filt = var.FirstOrderFilter(cfg.correlation_length, cfg.filter_passes)
    else:
        filt = var.YoungVanVlietFilter(cfg.correlation_length, cfg.filter_passes)
    grid = model.grid
    return var.RecursiveFilterCovariance(filt, jnp.sqrt(jnp.diagonal(C)), model.state_size,
                                         periodic=grid.period is not None)


def build_variational(
    cfg: Var3DConfig | Var4DConfig | WeakVar4DConfig, model: AbstractModel
) -> var.AbstractVariationalMethod:
    """The variational method of a ``[method]`` section, with its ``B`` from ``model``."""
    B = build_background(cfg, model)
    inner = (var.DenseCholesky() if cfg.inner_solver == "cholesky"
             else var.ConjugateGradient(max_steps=cfg.inner_iterations))
    solver = var.GaussNewton(outer_loops=cfg.outer_loops, inner=inner)
    if isinstance(cfg, Var3DConfig):
        return var.Var3D(B, solver=solver)
    if isinstance(cfg, Var4DConfig):
        cls = var.Var4D if cfg.scheme == "classic" else var.SlidingVar4D
        return cls(B, window=cfg.window, solver=solver)
    if isinstance(cfg, WeakVar4DConfig):
        Q = var.DiagonalCovariance(cfg.model_error_std, model.state_size, name="Q")
        return var.WeakVar4D(B, Q, window=cfg.window, subwindows=cfg.subwindows,
                             solver=solver)
    raise TypeError(f"build_variational: no method for {type(cfg).__name__}.")


def build_method(
    cfg: ETKFConfig | EnKFConfig | EnKFNConfig | LETKFConfig | EnKSConfig | Var3DConfig
    | Var4DConfig | WeakVar4DConfig,
    model: AbstractModel | None = None,
) -> AbstractEnsembleMethod | var.AbstractVariationalMethod:
    """The method of a ``[method]`` section (the EnKS wraps an ETKF).

    Variational methods need the forecast ``model``: their ``B`` is built from its
    climatology (:func:`build_variational`).
    """
    if isinstance(cfg, Var3DConfig | Var4DConfig | WeakVar4DConfig):
        if model is None:
            raise ValueError(f"build_method: {cfg.name} needs the forecast model (its B is "
                             "the model's climatology).")
        return build_variational(cfg, model)
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
        method: the ensemble or variational method (None for a hybrid that brings its own).
        every_steps: forecast-model steps per observation interval.
        truth_every_steps: truth-model steps per observation interval.
        spinup_steps: truth-model steps of spin-up.
    """

    model: AbstractModel
    truth_model: AbstractModel
    operator: AbstractObsOperator
    noise: AbstractObsNoise
    method: AbstractEnsembleMethod | var.AbstractVariationalMethod | None
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
        method=None if config.method is None else build_method(config.method, model),
        every_steps=config.observations.every_steps,
        truth_every_steps=config.truth_every_steps,
        spinup_steps=config.experiment.spinup_steps,
    )

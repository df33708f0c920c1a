"""The TOML run configuration: schema, cross-field checks, readable errors, loading.

A run is described by five sections, ``[model]``, optional ``[truth]``, ``[observations]``,
``[method]`` and ``[experiment]`` (see DESIGN.md). Every section refuses unknown keys;
model-, operator- and method-specific keys are only accepted for their own kind, through
unions tagged by ``name`` (model, method) and ``operator`` (observations). Every
violation is reported at once, each as ``[section] key = value: what is wrong``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..io import dumps_toml, toml_value

SPINUP_TIME = 20.0
"""Default spin-up of the truth, in model time units (``spinup_steps = round(20 / dt)``)."""


# ----------------------------------------------------------------------------- errors


_NO_VALUE = object()


@dataclasses.dataclass(frozen=True)
class Issue:
    """One thing wrong with a config.

    Attributes:
        section: the section (``"method"``), or ``None`` for the top level of the file.
        key: the key within the section, or ``None`` for the section itself.
        message: what is wrong and what is allowed.
        value: the offending value as given (left out of the message when absent).
    """

    section: str | None
    key: str | None
    message: str
    value: Any = _NO_VALUE

    def __str__(self) -> str:
        where = f"[{self.section}]" if self.section is not None else "(top level)"
        if self.key is not None:
            where += f" {self.key}"
        if self.value is not _NO_VALUE:
            where += f" = {_show(self.value)}"
        return f"{where}: {self.message}"


class ConfigError(ValueError):
    """A config that cannot run; ``issues`` lists every violation found.

    Attributes:
        issues: the violations, each naming section, key, value and what is allowed.
        source: where the config came from (a path), if known.
    """

    def __init__(self, issues: list[Issue], source: str | None = None):
        self.issues = list(issues)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = "invalid configuration" + (f" {self.source}" if self.source else "")
        return head + ":\n" + "\n".join(f"  {issue}" for issue in self.issues)


def _show(value: Any) -> str:
    """A value as it would be written in TOML (best effort for tables)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    try:
        return toml_value(value)
    except (TypeError, ValueError):
        if isinstance(value, float):
            return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
        return repr(value)


def _one_of(values) -> str:
    return ", ".join(str(v) for v in values)


def _raise(*issues: Issue) -> None:
    if issues:
        raise ConfigError(list(issues))


# ----------------------------------------------------------------------------- sections


class _Section(BaseModel):
    """Strict types (no string-to-number coercion), no unknown keys, finite floats."""

    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, use_attribute_docstrings=True
    )


class _ModelBase(_Section):
    """A forecast or truth model; ``noise_std``: additive noise ``sqrt(dt) N(0, q^2)`` a step."""

    tag: ClassVar[str] = "name"

    @property
    def state_size(self) -> int:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class Lorenz63Config(_ModelBase):
    """``[model] name = "lorenz63"``: Lorenz (1963), state size 3."""

    name: Literal["lorenz63"] = "lorenz63"
    """The model."""
    sigma: float = 10.0
    """Prandtl number: $\\dot x = \\sigma (y - x)$."""
    rho: float = 28.0
    """Rayleigh number: $\\dot y = x(\\rho - z) - y$."""
    beta: float = 8.0 / 3.0
    """Geometric factor: $\\dot z = xy - \\beta z$."""
    dt: float = Field(0.01, gt=0)
    """Model time step (model time units), RK4."""
    noise_std: float = Field(0.0, ge=0)
    """Additive model noise: $\\sqrt{dt}\\,N(0, q^2)$ per step, $q$ = ``noise_std``."""

    @property
    def state_size(self) -> int:
        return 3

    def describe(self) -> str:
        return "Lorenz-63"


class Lorenz96Config(_ModelBase):
    """``[model] name = "lorenz96"``: Lorenz (1996) on a ring of ``n`` variables."""

    name: Literal["lorenz96"] = "lorenz96"
    """The model."""
    n: int = Field(40, ge=4)
    """State size: variables on a ring, one grid unit apart."""
    forcing: float = 8.0
    """Constant forcing $F$ (8 is chaotic, about 13 positive Lyapunov exponents at n = 40)."""
    dt: float = Field(0.05, gt=0)
    """Model time step (model time units), RK4."""
    noise_std: float = Field(0.0, ge=0)
    """Additive model noise: $\\sqrt{dt}\\,N(0, q^2)$ per step, $q$ = ``noise_std``."""

    @property
    def state_size(self) -> int:
        return self.n

    def describe(self) -> str:
        return f"Lorenz-96 (n={self.n}, F={self.forcing:g})"


class TwoScaleLorenz96Config(_ModelBase):
    """``[model] name = "two_scale_lorenz96"``: ``K`` slow and ``K*J`` fast variables."""

    name: Literal["two_scale_lorenz96"] = "two_scale_lorenz96"
    """The model."""
    K: int = Field(36, ge=4)
    """Number of slow variables $X_k$."""
    J: int = Field(10, ge=1)
    """Fast variables $Y_{j,k}$ per slow one (state size ``K + K*J``)."""
    F: float = 10.0
    """Forcing of the slow variables."""
    h: float = 1.0
    """Coupling strength between the scales."""
    b: float = Field(10.0, gt=0)
    """Amplitude ratio of slow to fast variables."""
    c: float = Field(10.0, gt=0)
    """Time-scale ratio of fast to slow variables."""
    dt: float = Field(0.005, gt=0)
    """Model time step (model time units), RK4."""
    noise_std: float = Field(0.0, ge=0)
    """Additive model noise: $\\sqrt{dt}\\,N(0, q^2)$ per step, $q$ = ``noise_std``."""

    @property
    def state_size(self) -> int:
        return self.K + self.K * self.J

    def describe(self) -> str:
        return f"two-scale Lorenz-96 (K={self.K}, J={self.J}, F={self.F:g})"


ModelConfig = Annotated[
    Lorenz63Config | Lorenz96Config | TwoScaleLorenz96Config, Field(discriminator="name")
]


class _ObsBase(_Section):
    """Observations every ``every_steps`` model steps with error std ``noise_std`` (state units)."""

    tag: ClassVar[str] = "operator"

    def describe(self) -> str:
        raise NotImplementedError

    def describe_schedule(self) -> str:
        """E.g. ``every 25 model steps, noise std 1.41``."""
        steps = "every model step" if self.every_steps == 1 else (
            f"every {self.every_steps} model steps")
        return f"{steps}, noise std {self.noise_std:.3g}"


class FullObsConfig(_ObsBase):
    """``operator = "full"``: every state variable."""

    operator: Literal["full"] = "full"
    """The observation operator."""
    every_steps: int = Field(1, ge=1)
    """Model steps between observation times (one analysis cycle)."""
    noise_std: float = Field(1.0, gt=0)
    """Observation error standard deviation (state units): $R = \\sigma^2 I$."""

    def describe(self) -> str:
        return "all variables"


class EveryObsConfig(_ObsBase):
    """``operator = "every"``: every ``stride``-th variable from ``offset``."""

    operator: Literal["every"] = "every"
    """The observation operator."""
    every_steps: int = Field(1, ge=1)
    """Model steps between observation times (one analysis cycle)."""
    noise_std: float = Field(1.0, gt=0)
    """Observation error standard deviation (state units): $R = \\sigma^2 I$."""
    stride: int = Field(ge=1)
    """Observe every ``stride``-th variable (at most the state size)."""
    offset: int = Field(0, ge=0)
    """Index of the first observed variable (less than ``stride``)."""

    def describe(self) -> str:
        return f"every {self.stride} variables"


class SubsetObsConfig(_ObsBase):
    """``operator = "subset"``: the variables at ``indices`` (0-based)."""

    operator: Literal["subset"] = "subset"
    """The observation operator."""
    every_steps: int = Field(1, ge=1)
    """Model steps between observation times (one analysis cycle)."""
    noise_std: float = Field(1.0, gt=0)
    """Observation error standard deviation (state units): $R = \\sigma^2 I$."""
    indices: list[int] = Field(min_length=1)
    """The observed variables (0-based, distinct, inside the state)."""

    def describe(self) -> str:
        return f"{len(self.indices)} variables"


class RandomObsConfig(_ObsBase):
    """``operator = "random"``: a share ``fraction`` of the variables, drawn at each time."""

    operator: Literal["random"] = "random"
    """The observation operator."""
    every_steps: int = Field(1, ge=1)
    """Model steps between observation times (one analysis cycle)."""
    noise_std: float = Field(1.0, gt=0)
    """Observation error standard deviation (state units): $R = \\sigma^2 I$."""
    fraction: float = Field(gt=0, le=1)
    """Share of the variables observed, drawn anew at every observation time."""

    def describe(self) -> str:
        return f"random {self.fraction:.0%} of the variables"


ObservationsConfig = Annotated[
    FullObsConfig | EveryObsConfig | SubsetObsConfig | RandomObsConfig,
    Field(discriminator="operator"),
]

InflationKind = Literal["multiplicative", "rtps", "rtpp"]


class _MethodBase(_Section):
    ensemble_size: int = Field(ge=2)
    """Number of members $N$."""
    inflation: float | None = None
    """Multiplicative factor (> 0, default 1), or the relaxation ``alpha`` in [0, 1] for
    RTPS/RTPP (then required)."""
    inflation_kind: InflationKind = "multiplicative"
    """How ``inflation`` acts on the analysis anomalies."""
    rotate: bool = False
    """Apply a random mean-preserving rotation to the analysis anomalies."""

    tag: ClassVar[str] = "name"
    title: ClassVar[str] = ""

    @model_validator(mode="after")
    def _inflation(self):
        kind, value = self.inflation_kind, self.inflation
        if kind == "multiplicative":
            if value is None:
                self.inflation = 1.0
            elif not value > 0:
                _raise(Issue(None, "inflation", "must be > 0 (a multiplicative factor)", value))
        elif value is None:
            _raise(Issue(None, "inflation", f'required when inflation_kind = "{kind}" '
                         "(the relaxation alpha, in [0, 1])"))
        elif not 0 <= value <= 1:
            _raise(Issue(None, "inflation", f'must lie in [0, 1] when inflation_kind = "{kind}" '
                         "(the relaxation alpha)", value))
        return self

    def describe(self) -> str:
        parts = [f"N={self.ensemble_size}"]
        if self.inflation_kind == "multiplicative":
            if self.inflation != 1.0:
                parts.append(f"infl {self.inflation:g}")
        else:
            parts.append(f"{self.inflation_kind.upper()} {self.inflation:g}")
        return f"{self.title} ({', '.join(parts)})"


class ETKFConfig(_MethodBase):
    """``name = "etkf"``: ensemble transform Kalman filter (symmetric square root)."""

    name: Literal["etkf"] = "etkf"
    """The method."""
    rotate: bool = True
    """Apply a random mean-preserving rotation to the analysis anomalies (DAPPER's ``rot=True``)."""
    title: ClassVar[str] = "ETKF"


class EnKFConfig(_MethodBase):
    """``name = "enkf"``: stochastic EnKF with perturbed observations."""

    name: Literal["enkf"] = "enkf"
    """The method."""
    rotate: bool = False
    """Apply a random mean-preserving rotation to the analysis anomalies."""
    title: ClassVar[str] = "EnKF"


class EnKFNConfig(_MethodBase):
    """``name = "enkf_n"``: finite-size EnKF; ``xN`` scales the hyperprior (default 1)."""

    name: Literal["enkf_n"] = "enkf_n"
    """The method."""
    rotate: bool = True
    """Apply a random mean-preserving rotation to the analysis anomalies."""
    xN: float = Field(1.0, gt=0)
    """Scale of the hyperprior's constants (DAPPER's ``xN``; 1 is the plain EnKF-N)."""
    title: ClassVar[str] = "EnKF-N"


class LETKFConfig(_MethodBase):
    """``name = "letkf"``: local ETKF; ``localization_radius`` in grid units (DAPPER's)."""

    name: Literal["letkf"] = "letkf"
    """The method."""
    rotate: bool = True
    """Apply a random mean-preserving rotation to the analysis anomalies."""
    localization_radius: float = Field(4.0, gt=0)
    """Gaspari-Cohn R-localization radius (grid units, DAPPER's convention: the taper is
    0.634, about $e^{-1/2}$, at this distance)."""
    title: ClassVar[str] = "LETKF"

    def describe(self) -> str:
        return super().describe()[:-1] + f", r={self.localization_radius:g})"


class EnKSConfig(_MethodBase):
    """``name = "enks"``: fixed-lag ensemble Kalman smoother on an ETKF; ``lag`` in cycles.

    Inflation acts on the current ensemble; the random rotation (``rotate``, off by
    default as in DAPPER's EnKS) relabels the members of the lagged ensembles too.
    """

    name: Literal["enks"] = "enks"
    """The method."""
    rotate: bool = False
    """Rotate the analysis anomalies at random, keeping the mean (DAPPER's EnKS does not)."""
    lag: int = Field(10, ge=0)
    """Smoother lag (cycles): every analysis also updates the ``lag`` previous ones."""
    title: ClassVar[str] = "EnKS"

    def describe(self) -> str:
        return super().describe()[:-1] + f", lag {self.lag})"


class _VariationalBase(_Section):
    """Variational methods: one state estimate, a static background covariance ``B``.

    ``background = "climatology"``: ``B = background_scale`` x the climatological
    covariance of the forecast model (a long free run; DAPPER's ``B='clim'``, ``xB``).
    ``background = "recursive_filter"``: ``B = background_scale`` x the climatological
    variances, with Gaussian correlations of length ``correlation_length`` (grid units)
    applied by a recursive filter.
    """

    background: Literal["climatology", "recursive_filter"] = "climatology"
    """Static background covariance: scaled climatology, or recursive-filter correlations."""
    background_scale: float = Field(1.0, gt=0)
    """Factor on the climatological covariance (DAPPER's ``xB``)."""
    correlation_length: float | None = None
    """Gaussian correlation length (grid units, >= 1) of ``background = "recursive_filter"``."""
    filter: Literal["first_order", "young_van_vliet"] = "first_order"
    """Recursive filter: first order with ``filter_passes`` passes, or third order."""
    filter_passes: int = Field(4, ge=1)
    """Passes of the recursive filter (more: closer to a Gaussian)."""
    outer_loops: int = Field(10, ge=1)
    """Gauss-Newton outer loops (relinearisations) per window."""
    inner_iterations: int = Field(100, ge=1)
    """At most this many conjugate-gradient iterations per outer loop."""
    inner_solver: Literal["cg", "cholesky"] = "cg"
    """Inner loop: conjugate gradients, or a direct Cholesky solve (faster for small states)."""

    tag: ClassVar[str] = "name"
    title: ClassVar[str] = ""

    @model_validator(mode="after")
    def _background(self):
        if self.background == "recursive_filter":
            L = self.correlation_length
            if L is None:
                _raise(Issue(None, "correlation_length", 'required when background = '
                             '"recursive_filter" (grid units, >= 1)'))
            if L < 1:
                _raise(Issue(None, "correlation_length", "is below the grid spacing (1 grid "
                             "unit): a recursive filter cannot represent shorter correlations; "
                             "use >= 1", L))
            if self.filter == "young_van_vliet" and L / math.sqrt(self.filter_passes) < 0.5:
                _raise(Issue(None, "filter_passes", "too many passes for the Young-van Vliet "
                             f"filter at correlation_length = {L:g} (needs correlation_length"
                             " / sqrt(filter_passes) >= 0.5)", self.filter_passes))
        elif self.correlation_length is not None:
            _raise(Issue(None, "correlation_length", 'only for background = "recursive_filter"'
                         f' (background is "{self.background}")', self.correlation_length))
        return self

    def describe(self) -> str:
        parts = [f"xB {self.background_scale:g}"]
        if self.background == "recursive_filter":
            parts.append(f"RF L={self.correlation_length:g}")
        return f"{self.title} ({', '.join(parts + self._more())})"

    def _more(self) -> list[str]:
        return []


class Var3DConfig(_VariationalBase):
    """``name = "var3d"``: 3D-Var; one outer loop by default (every operator is linear)."""

    name: Literal["var3d"] = "var3d"
    """The method."""
    outer_loops: int = Field(1, ge=1)
    """Gauss-Newton outer loops (one suffices for a linear observation operator)."""
    title: ClassVar[str] = "3D-Var"


class Var4DConfig(_VariationalBase):
    """``name = "var4d"``: strong-constraint incremental 4D-Var."""

    name: Literal["var4d"] = "var4d"
    """The method."""
    window: int = Field(1, ge=1)
    """Observation times per window (classic) or intervals spanned (sliding)."""
    scheme: Literal["classic", "sliding"] = "classic"
    """classic: consecutive windows, all their observations; sliding: DAPPER's ``Var4D``
    (the window slides by one interval, only the newest observation enters)."""
    title: ClassVar[str] = "4D-Var"

    def _more(self):
        return [f"{self.scheme} window {self.window}"]


class WeakVar4DConfig(_VariationalBase):
    """``name = "weak_var4d"``: weak-constraint 4D-Var, model-error forcing (Trémolet 2006)."""

    name: Literal["weak_var4d"] = "weak_var4d"
    """The method."""
    window: int = Field(1, ge=1)
    """Observation times per window."""
    subwindows: int = Field(1, ge=1)
    """Forcings per window (each constant over an equal part; must divide ``window``)."""
    model_error_std: float = Field(0.1, gt=0)
    """Standard deviation of the forcing's change from window to window (tendency units):
    ``Q = model_error_std^2 I``."""
    title: ClassVar[str] = "weak 4D-Var"

    @model_validator(mode="after")
    def _subwindows(self):
        if self.window % self.subwindows:
            _raise(Issue(None, "subwindows", f"must divide window = {self.window}",
                         self.subwindows))
        return self

    def _more(self):
        return [f"window {self.window}", f"q {self.model_error_std:g}"]


VARIATIONAL_METHODS = (Var3DConfig, Var4DConfig, WeakVar4DConfig)
"""Method configs without an ensemble (their ``spread_*`` statistics are null)."""

MethodConfig = Annotated[
    ETKFConfig | EnKFConfig | EnKFNConfig | LETKFConfig | EnKSConfig | Var3DConfig
    | Var4DConfig | WeakVar4DConfig,
    Field(discriminator="name"),
]


class ExperimentConfig(_Section):
    """``[experiment]``: length, burn-in, seed and run-time settings."""

    cycles: int = Field(ge=1)
    """Analysis cycles after spin-up."""
    burn_in: int = Field(ge=0)
    """Cycles (within ``cycles``) left out of time averages and the divergence check."""
    seed: int = Field(0, ge=0, lt=2**63)
    """Seed of the truth, observations, initial ensemble and filter noise."""
    divergence_check: bool = True
    """Stop with ``diverged at cycle k`` when the filter loses the truth."""
    spinup_steps: int | None = Field(None, ge=0)
    """Truth-model steps discarded before the truth starts (default ``round(20 / dt)``)."""
    initial_std: float = Field(1.0, gt=0)
    """Standard deviation of the initial ensemble about the truth (state units)."""
    chunk_cycles: int = Field(500, ge=1)
    """Cycles per compiled chunk: the granularity of progress and divergence checks."""

    @model_validator(mode="after")
    def _burn_in(self):
        if self.burn_in >= self.cycles:
            _raise(Issue(None, "burn_in", f"must be < cycles = {self.cycles}", self.burn_in))
        return self


# ----------------------------------------------------------------------------- ML, hybrid


NETWORKS = ("brajard_cnn", "deep_emulator_cnn")


class MLConfig(_Section):
    """``[ml]``: the network of a hybrid method and how it is trained (Adam).

    Keys left out take the defaults of the ``[hybrid]`` method (the paper's settings).
    """

    network: Literal["brajard_cnn", "deep_emulator_cnn"] | None = None
    """The network: ``brajard_cnn`` (Brajard et al. 2020: bilinear layer of three
    kernel-5 convolutions of ``widths[0]`` filters, then ``widths[1:]``), or
    ``deep_emulator_cnn`` (Nonnenmacher & Greenberg 2021: kernel-3 convolutions of
    ``widths`` channels, each followed by 1x1 layers). Default: the hybrid's."""
    widths: list[int] | None = Field(None, min_length=1)
    """Channels of the convolutional layers (default: the paper's: ``[24, 37]`` for
    ``brajard_cnn``, ``[16, 32]`` for ``deep_emulator_cnn``)."""
    epochs: int | None = Field(None, ge=1)
    """Training epochs: of each iteration after the first for iterative_emulation (default
    40; the first has ``[hybrid] epochs_first``), of the emulator for emulator_4dvar
    (default 10)."""
    batch_size: int | None = Field(None, ge=1)
    """Samples per minibatch (default 128 for iterative_emulation, 32 for emulator_4dvar)."""
    learning_rate: float = Field(1e-3, gt=0)
    """Adam's learning rate (constant)."""
    loss: Literal["variance_weighted", "mse"] | None = None
    """Training loss: ``variance_weighted`` (each analysis weighted by 1 / (its ensemble
    variance + 0.01), Brajard 2020; iterative_emulation only) or ``mse``."""
    ridge: float = Field(1e-4, ge=0)
    """L2 penalty on the output layer's weights (Brajard 2020: 1e-4)."""
    validation_fraction: float = Field(0.0, ge=0, lt=1)
    """Share of the training pairs held out for a validation loss."""

    def resolved(self, hybrid: str) -> MLConfig:
        """A copy with every ``None`` replaced by the default of ``hybrid``."""
        defaults = _ML_DEFAULTS[hybrid]
        return self.model_copy(update={k: v for k, v in defaults.items()
                                       if getattr(self, k) is None})


_ML_DEFAULTS: dict[str, dict[str, Any]] = {
    "iterative_emulation": {"network": "brajard_cnn", "widths": [24, 37], "epochs": 40,
                            "batch_size": 128, "loss": "variance_weighted"},
    "emulator_4dvar": {"network": "deep_emulator_cnn", "widths": [16, 32], "epochs": 10,
                       "batch_size": 32, "loss": "mse"},
}


class _HybridBase(_Section):
    tag: ClassVar[str] = "name"


class IterativeEmulationConfig(_HybridBase):
    """``name = "iterative_emulation"``: Brajard et al. (2020), a surrogate model learned
    from the observations alone by alternating training and the ``[method]`` filter.

    The record is ``[experiment] cycles`` steps observed every model step; ``[model]`` is
    the true system (Lorenz-96) whose surrogate is learned."""

    name: Literal["iterative_emulation"] = "iterative_emulation"
    """The hybrid method."""
    title: ClassVar[str] = "iterative DA-ML emulation"
    iterations: int = Field(15, ge=1)
    """Train + assimilate passes over the record."""
    epochs_first: int = Field(60, ge=1)
    """Epochs of the first training (on the interpolation of the observations)."""
    model_noise_std: float = Field(1.0, ge=0)
    """Additive noise of the surrogate in the filter, per unit time: ``sqrt(dt) *
    model_noise_std`` per step (1.0 at dt = 0.05: the paper's variance 0.05 a step)."""
    variance_floor: float = Field(0.01, gt=0)
    """The 0.01 in the weights ``1 / (analysis variance + variance_floor)``."""
    lyapunov_exponent: float = Field(1.67, gt=0)
    """Leading Lyapunov exponent of the true model (per time unit): valid times are
    reported in Lyapunov times ``1 / lyapunov_exponent``."""
    valid_threshold: float = Field(0.5, gt=0)
    """A forecast is valid while its RMSE stays below this share of the climatological
    standard deviation."""
    forecast_cases: int = Field(200, ge=1)
    """Initial states (on a fresh true trajectory) of the surrogate's forecast test."""
    skill_every: int = Field(1, ge=1)
    """Measure the surrogate's valid time every this many iterations (and at the last)."""

    def describe(self) -> str:
        return f"iterative DA-ML emulation ({self.iterations} iterations)"


class Emulator4DVarConfig(_HybridBase):
    """``name = "emulator_4dvar"``: Nonnenmacher & Greenberg (2021), 4D-Var with the
    exact adjoint, with a learned emulator's gradients, and with the emulator throughout.

    ``[model]`` is the simulator (Lorenz-96); ``[observations]`` must be ``operator =
    "every"`` observed every step: its ``stride`` is the rotation period (the observed
    variables are ``i = t mod stride`` at step ``t``, the authors' rotating sampling) and
    its ``noise_std`` the observation error. No ``[method]``: the 4D-Var is the authors'
    (no background term, L-BFGS to convergence)."""

    name: Literal["emulator_4dvar"] = "emulator_4dvar"
    """The hybrid method."""
    title: ClassVar[str] = "4D-Var with emulator gradients"
    window: int = Field(8, ge=1)
    """Model steps per assimilation window."""
    windows: int = Field(6, ge=2)
    """Consecutive windows per truth trajectory."""
    trials: int = Field(4, ge=1)
    """Independent truth trajectories."""
    burn_in_windows: int = Field(1, ge=0)
    """Windows of each trial left out of the means (the first starts from a crude guess)."""
    training_samples: int = Field(4000, ge=10)
    """One-step pairs of simulator states the emulator learns from."""
    max_iterations: int = Field(100, ge=1)
    """L-BFGS iterations per window at most."""
    jacobian_states: int = Field(200, ge=1)
    """Test states of the Jacobian error."""

    @model_validator(mode="after")
    def _windows(self):
        if self.burn_in_windows >= self.windows:
            _raise(Issue(None, "burn_in_windows", f"must be < windows = {self.windows}",
                         self.burn_in_windows))
        return self

    def describe(self) -> str:
        return f"4D-Var with emulator gradients (window {self.window})"


HybridConfig = Annotated[
    IterativeEmulationConfig | Emulator4DVarConfig, Field(discriminator="name")
]


# ----------------------------------------------------------------------------- the config


SECTIONS = ("model", "truth", "observations", "method", "experiment", "ml", "hybrid")


class Config(_Section):
    """A validated run configuration; every default resolved.

    Build one with :func:`load_config` (a TOML file), :meth:`from_dict` or
    :meth:`default`; invalid input raises :class:`ConfigError`.
    """

    model: ModelConfig
    """The forecast model (and the truth's, unless ``[truth]`` is given)."""
    truth: ModelConfig | None = None
    """A different model for the truth (model-error studies): same state size, ``dt``
    dividing the observation interval."""
    observations: ObservationsConfig
    """What is observed, how often and how noisily."""
    method: MethodConfig | None = None
    """The data assimilation method (required, except for ``[hybrid] name =
    "emulator_4dvar"``, which brings its own 4D-Var)."""
    experiment: ExperimentConfig
    """Length, burn-in, seed and run-time settings."""
    ml: MLConfig | None = None
    """The network and its training, for a ``[hybrid]`` method (defaults: the paper's)."""
    hybrid: HybridConfig | None = None
    """A DA+ML method of the literature run on this twin (None: plain data assimilation)."""

    @model_validator(mode="after")
    def _consistent(self):
        issues = self._hybrid_issues()
        n = self.model.state_size
        truth = self.truth
        if truth is not None and truth.state_size != n:
            issues.append(Issue("truth", "name", f"{truth.describe()} has {truth.state_size} "
                                f"state variables but the forecast model has {n}; the truth "
                                "and the forecast model must share the state", truth.name))
        obs = self.observations
        if isinstance(obs, EveryObsConfig):
            if obs.stride > n:
                issues.append(Issue("observations", "stride", f"must be <= the state size {n}",
                                    obs.stride))
            if obs.offset >= obs.stride:
                issues.append(Issue("observations", "offset",
                                    f"must be < stride = {obs.stride}", obs.offset))
        if isinstance(obs, SubsetObsConfig):
            outside = [i for i in obs.indices if not 0 <= i < n]
            if outside:
                issues.append(Issue("observations", "indices", f"{_show(outside)} outside the "
                                    f"state: allowed 0 to {n - 1}", obs.indices))
            if len(set(obs.indices)) != len(obs.indices):
                issues.append(Issue("observations", "indices", "contains duplicates",
                                    obs.indices))
        if truth is not None and not issues:
            interval = obs.every_steps * self.model.dt
            ratio = interval / truth.dt
            if round(ratio) < 1 or not math.isclose(ratio, round(ratio), rel_tol=1e-9):
                issues.append(Issue("truth", "dt", f"the observation interval every_steps x "
                                    f"[model] dt = {interval:g} must be a whole number of truth "
                                    "steps", truth.dt))
        _raise(*issues)
        if self.experiment.spinup_steps is None:
            self.experiment.spinup_steps = round(SPINUP_TIME / self.truth_model.dt)
        return self

    def _hybrid_issues(self) -> list[Issue]:
        hybrid, method, obs = self.hybrid, self.method, self.observations
        if hybrid is None:
            issues = [] if method is not None else [Issue("method", None, "missing section")]
            if self.ml is not None:
                issues.append(Issue("ml", None, "only used by a [hybrid] method; add [hybrid] "
                                    "or remove [ml]"))
            return issues
        issues = []
        if not isinstance(self.model, Lorenz96Config) or self.truth is not None:
            issues.append(Issue("model", "name", f'[hybrid] name = "{hybrid.name}" needs '
                                '[model] name = "lorenz96" and no [truth]', self.model.name))
        if obs.every_steps != 1:
            issues.append(Issue("observations", "every_steps", f'must be 1 for [hybrid] name '
                                f'= "{hybrid.name}" (one observation time per model step)',
                                obs.every_steps))
        loss = self.ml.loss if self.ml is not None else None
        if isinstance(hybrid, IterativeEmulationConfig):
            if method is None:
                issues.append(Issue("method", None, "missing section: iterative_emulation "
                                    "assimilates with an ensemble filter (the paper: name = "
                                    '"enkf_n", ensemble_size = 30)'))
            elif isinstance(method, VARIATIONAL_METHODS) or isinstance(method, EnKSConfig):
                issues.append(Issue("method", "name", "iterative_emulation needs an ensemble "
                                    f"filter: {_one_of(['enkf', 'etkf', 'enkf_n', 'letkf'])}",
                                    method.name))
        else:
            if method is not None:
                issues.append(Issue("method", None, "not used by [hybrid] name = "
                                    '"emulator_4dvar" (it runs the authors\' 4D-Var); remove '
                                    "the section"))
            if not isinstance(obs, EveryObsConfig):
                issues.append(Issue("observations", "operator", 'must be "every" for [hybrid] '
                                    'name = "emulator_4dvar" (stride = the rotation period)',
                                    obs.operator))
            if loss == "variance_weighted":
                issues.append(Issue("ml", "loss", 'emulator_4dvar trains on true states: use '
                                    '"mse"', loss))
        return issues

    @property
    def ml_resolved(self) -> MLConfig | None:
        """``[ml]`` with the hybrid's defaults filled in (None without ``[hybrid]``)."""
        if self.hybrid is None:
            return None
        return (self.ml or MLConfig()).resolved(self.hybrid.name)

    @property
    def truth_model(self) -> Lorenz63Config | Lorenz96Config | TwoScaleLorenz96Config:
        """The model that makes the truth: ``[truth]`` if given, else ``[model]``."""
        return self.model if self.truth is None else self.truth

    @property
    def state_size(self) -> int:
        return self.model.state_size

    @property
    def truth_every_steps(self) -> int:
        """Truth-model steps per observation interval."""
        interval = self.observations.every_steps * self.model.dt
        return round(interval / self.truth_model.dt)

    def describe(self) -> str:
        """One line: method on model, e.g. ``LETKF (N=20, infl 1.02, r=4) on Lorenz-96``."""
        if self.hybrid is not None:
            text = self.hybrid.describe()
            if self.method is not None:
                text += f" with {self.method.describe()}"
            text += f" on {self.model.describe()}"
        else:
            text = f"{self.method.describe()} on {self.model.describe()}"
        if self.truth is not None:
            text += f", truth from {self.truth.describe()}"
        return text

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The config as plain data, defaults written out: it identifies a run."""
        data = self.model_dump(mode="json", exclude_none=True)
        for name, section in data.items():
            tag = getattr(getattr(self, name), "tag", None)
            if tag is not None:  # the tag first, as a reader expects
                data[name] = {tag: section.pop(tag), **section}
        return data

    def to_toml(self) -> str:
        """The config as TOML; :func:`load_config` reads it back to an equal config."""
        return dumps_toml(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> Config:
        """Validate plain data (as parsed from TOML).

        Raises:
            ConfigError: with every violation found.
        """
        if not isinstance(data, dict):
            raise ConfigError([Issue(None, None, "a config must be a table of sections")], source)
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            issues = _issues(err)
            hybrid = data.get("hybrid")
            own_4dvar = isinstance(hybrid, dict) and hybrid.get("name") == "emulator_4dvar"
            if "method" not in data and not own_4dvar:  # optional for pydantic, not for us
                issues.append(Issue("method", None, "missing section"))
            raise ConfigError(issues, source) from None

    @classmethod
    def default(cls) -> Config:
        """The built-in experiment: LETKF on Lorenz-96 (n=40, F=8), all variables observed.

        DAPPER's ``sakov2008`` set-up (dt = 0.05, every step, R = I) with a 20-member LETKF,
        2000 cycles; it runs in seconds on a laptop CPU.
        """
        return cls.from_dict(
            {
                "model": {"name": "lorenz96", "n": 40, "forcing": 8.0, "dt": 0.05},
                "observations": {"operator": "full", "every_steps": 1, "noise_std": 1.0},
                "method": {
                    "name": "letkf",
                    "ensemble_size": 20,
                    "inflation": 1.02,
                    "localization_radius": 4.0,
                },
                "experiment": {"cycles": 2000, "burn_in": 200, "seed": 0},
            },
            source="(built-in default)",
        )


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a TOML config file.

    Raises:
        ConfigError: the file is not TOML, or the config is invalid (every issue listed).
        FileNotFoundError: there is no such file.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([Issue(None, None, f"not valid TOML: {err}")], str(path)) from None
    return Config.from_dict(data, source=str(path))


# ----------------------------------------------------------------------------- messages

_UNIONS: dict[str, Any] = {
    "model": (Lorenz63Config, Lorenz96Config, TwoScaleLorenz96Config),
    "truth": (Lorenz63Config, Lorenz96Config, TwoScaleLorenz96Config),
    "observations": (FullObsConfig, EveryObsConfig, SubsetObsConfig, RandomObsConfig),
    "method": (ETKFConfig, EnKFConfig, EnKFNConfig, LETKFConfig, EnKSConfig, Var3DConfig,
               Var4DConfig, WeakVar4DConfig),
    "hybrid": (IterativeEmulationConfig, Emulator4DVarConfig),
}


def _tag_of(cls) -> str:
    return cls.model_fields[cls.tag].default


def _section_class(section: str, tag: str | None):
    if section == "experiment":
        return ExperimentConfig
    if section == "ml":
        return MLConfig
    for cls in _UNIONS.get(section, ()):
        if _tag_of(cls) == tag:
            return cls
    return None


def _keys(cls) -> list[str]:
    tag = getattr(cls, "tag", None)
    keys = list(cls.model_fields)
    return ([tag] + [k for k in keys if k != tag]) if tag else keys


def _unknown_key(section: str, key: str, cls) -> str:
    if cls is None:
        return "unknown key"
    allowed = _keys(cls)
    tag = getattr(cls, "tag", None)
    scope = f' for {tag} = "{_tag_of(cls)}"' if tag else ""
    known_elsewhere = any(key in c.model_fields for c in _UNIONS.get(section, ()))
    text = f"unknown key{scope}; allowed keys: {_one_of(allowed)}"
    if known_elsewhere:
        owners = [_tag_of(c) for c in _UNIONS[section] if key in c.model_fields]
        text = (f"not a key{scope} (only for {tag} = {_one_of(owners)}); "
                f"allowed keys: {_one_of(allowed)}")
    else:
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            text += f" (did you mean {close[0]}?)"
    return text


_TYPES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "missing": "required",
}


def _message(err: dict[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _TYPES:
        return _TYPES[kind]
    bounds = {
        "greater_than_equal": ">=",
        "greater_than": ">",
        "less_than_equal": "<=",
        "less_than": "<",
    }
    if kind in bounds:
        bound = next(iter(ctx.values()))
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {bounds[kind]} {bound}"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return f"unknown; allowed: {_one_of(allowed)}"
    if kind == "too_short":
        return "must not be empty"
    return err["msg"]


def _issues(error: ValidationError) -> list[Issue]:
    """Translate pydantic's errors into :class:`Issue` s naming section, key and value."""
    issues: list[Issue] = []
    for err in error.errors():
        loc, kind, value = err["loc"], err["type"], err.get("input", _NO_VALUE)
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, ConfigError):  # raised by a model validator
            section = loc[0] if loc else None
            issues += [dataclasses.replace(i, section=i.section or section) for i in inner.issues]
            continue
        if not loc:
            issues.append(Issue(None, None, err["msg"]))
            continue
        section = str(loc[0])
        if len(loc) == 1:
            issues.append(_section_issue(section, kind, value, err))
            continue
        rest = list(loc[1:])
        tag = None
        if section in _UNIONS:
            tag = str(rest.pop(0))
        cls = _section_class(section, tag)
        key = str(rest[0]) if rest else None
        key_text = key + "".join(f"[{i}]" for i in rest[1:]) if key else None
        if kind == "extra_forbidden":
            issues.append(Issue(section, key, _unknown_key(section, key, cls), value))
        elif kind == "missing":
            issues.append(Issue(section, key_text, "required"))
        else:
            issues.append(Issue(section, key_text, _message(err), value))
    return issues


def _section_issue(section: str, kind: str, value: Any, err: dict[str, Any]) -> Issue:
    if section not in SECTIONS:
        if isinstance(value, dict):
            return Issue(section, None, f"unknown section; allowed sections: {_one_of(SECTIONS)}")
        return Issue(None, section, f"unknown key at the top level; keys belong in a section: "
                     f"{_one_of(SECTIONS)}", value)
    if kind == "missing":
        return Issue(section, None, "missing section")
    if section in _UNIONS:
        tag_key = _UNIONS[section][0].tag
        tags = [_tag_of(c) for c in _UNIONS[section]]
        if kind == "union_tag_invalid":
            return Issue(section, tag_key, f"unknown; allowed: {_one_of(tags)}",
                         value.get(tag_key, _NO_VALUE))
        if kind == "union_tag_not_found":
            return Issue(section, tag_key, f"required; allowed: {_one_of(tags)}")
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return Issue(section, None, "must be a table (a [section] with keys)", value)
    return Issue(section, None, _message(err), value)

"""``[hybrid] name = "model_error_correction"``: learning a physical model's error from
the analyses of strong-constraint 4D-Var, offline and online (Farchi et al. 2021)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from ._base import Issue, refuse
from ._hybrid import HybridSection
from ._registry import register

if TYPE_CHECKING:
    from ._config import Config


@register("hybrid", "model_error_correction")
class ModelErrorCorrectionConfig(HybridSection):
    """``name = "model_error_correction"``: Farchi, Bocquet, Laloyaux, Bonavita & Malartic
    (2021), a correction of the ``[model]`` (resolvent or tendency) learned offline from
    the analyses of the ``[method]`` (strong-constraint 4D-Var, classic windows) or online
    inside it, scored on an independent twin.

    ``[truth]`` makes the truth (a model the ``[model]`` gets wrong: the two-scale
    Lorenz-96 for a one-scale one of its slow variables); ``[experiment] cycles`` is the
    training record, ``test_cycles`` the independent test record. The ``[ml]`` network is
    the correction (``periodic_cnn``: local and translation-equivariant, as the error of a
    homogeneous model is); its inputs are standardised by the training analyses'
    climatology and its output layer starts at zero (the correction starts as none)."""

    title: ClassVar[str] = "model-error correction, offline and online"
    models: ClassVar[tuple[str, ...]] = ("lorenz96",)
    truths: ClassVar[tuple[str, ...]] = ("two_scale_lorenz96", "lorenz96")
    needs_truth: ClassVar[bool] = True
    every_step: ClassVar[bool] = False
    ml_defaults: ClassVar[dict[str, Any]] = {
        "network": "periodic_cnn", "widths": [8], "epochs": 100, "batch_size": 16,
        "loss": "mse"}

    modes: list[Literal["resolvent", "tendency"]] = Field(
        ["resolvent", "tendency"], min_length=1)
    """The corrections learned (each offline and online): ``resolvent`` (added after each
    model step), ``tendency`` (inside the ODE); the comparisons of the two need both."""
    test_cycles: int = Field(400, ge=16)
    """Observation times of the independent test twin (whole windows are assimilated)."""
    sigma_theta: float = Field(0.03, gt=0)
    """Prior standard deviation of each network parameter in online learning,
    ``P_theta = sigma_theta^2 I`` (parameter units)."""
    forecast_cases: int = Field(20, ge=2)
    """Initial states of the forecast test (true states of the test twin, spaced evenly)."""
    forecast_time: float = Field(3.0, gt=0)
    """Length of the free forecasts (model time units)."""
    score_lead: float = Field(1.0, gt=0)
    """Lead (model time units) at which forecast gains are reported (at most
    ``forecast_time``)."""
    burn_in_windows: int = Field(5, ge=0)
    """Windows of each DA run left out of its time-mean analysis RMSE."""

    def issues(self, config: Config) -> list[Issue]:
        found = super().issues(config)
        method = config.method
        if method is None:
            found.append(Issue("method", None, "missing section: model_error_correction "
                               'assimilates by strong-constraint 4D-Var: name = "var4d", '
                               'scheme = "classic"'))
        elif method.name != "var4d" or getattr(method, "scheme", None) != "classic":
            found.append(Issue("method", "name", 'model_error_correction needs name = "var4d" '
                               'with scheme = "classic" (the analyses at the ends of '
                               "consecutive windows are what the correction learns from)",
                               method.name))
        elif config.experiment.cycles < 3 * method.window:
            found.append(Issue("experiment", "cycles", "model_error_correction needs at least "
                               f"3 windows of {method.window} observation times to learn from",
                               config.experiment.cycles))
        elif self.test_cycles < 2 * method.window + self.burn_in_windows * method.window:
            found.append(Issue("hybrid", "test_cycles", "must hold burn_in_windows + 2 windows "
                               f"of {method.window} observation times", self.test_cycles))
        if self.score_lead > self.forecast_time:
            found.append(Issue("hybrid", "score_lead", f"must be <= forecast_time = "
                               f"{self.forecast_time:g}", self.score_lead))
        ml = config.ml_resolved
        if ml is not None and ml.network != "periodic_cnn":
            found.append(Issue("ml", "network", 'model_error_correction corrects with a '
                               '"periodic_cnn"', ml.network))
        return found

    @model_validator(mode="after")
    def _modes(self):
        if len(set(self.modes)) != len(self.modes):
            refuse(Issue(None, "modes", "lists a mode twice", self.modes))
        return self

    def describe(self) -> str:
        return ("model-error correction, offline and online (sigma_theta "
                f"{self.sigma_theta:g}, {' and '.join(self.modes)})")

"""``[hybrid] name = "brajard2021"``: correcting a truncated model from analyses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from ._base import Issue
from ._hybrid import HybridSection
from ._registry import register

if TYPE_CHECKING:
    from ._config import Config


@register("hybrid", "brajard2021")
class Brajard2021Config(HybridSection):
    """``name = "brajard2021"``: Brajard, Carrassi, Bocquet & Bertino (2021), a network
    learns the error of a truncated ``[model]`` from the analyses of the ``[method]``
    filter run with that model on observations of a ``[truth]`` that resolves more.

    The record is ``[experiment] cycles`` analyses, ``[observations] every_steps`` model
    steps apart; the first ``[experiment] burn_in`` are left out, the next
    ``train_samples`` pairs train the ``[ml]`` network and the last
    ``validation_samples`` validate it. Training target: ``(x^a_{k+1} - M(x^a_k)) /
    dt_obs``; hybrid step ``x <- M(x) + dt * NN(x)``. Three models are then scored by free
    forecasts from ``forecast_cases`` fresh true states over ``forecast_length`` time
    units: the truncated model, the hybrid trained on analyses, and the hybrid trained on
    the truth's resolved variables at the same times (perfect observations)."""

    title: ClassVar[str] = "truncated-model correction from analyses"
    models: ClassVar[tuple[str, ...]] = ("lorenz96",)
    truths: ClassVar[tuple[str, ...]] = ("two_scale_lorenz96",)
    needs_truth: ClassVar[bool] = True
    ensemble_filter: ClassVar[str | None] = 'name = "enkf_n", ensemble_size = 50'
    every_step: ClassVar[bool] = False
    ml_defaults: ClassVar[dict[str, Any]] = {
        "network": "model_error_cnn", "widths": [43, 28], "epochs": 100, "batch_size": 33,
        "loss": "mse"}
    train_samples: int = Field(10_000, ge=10)
    """Training pairs after the burn-in (the reference's ``maxtrain``)."""
    validation_samples: int = Field(1000, ge=1)
    """Pairs at the end of the record that validate (the reference's ``ival = -1000``)."""
    l2: float = Field(0.072, ge=0)
    """L2 weight on the last layer's kernel (the reference's ``reg``)."""
    forecast_cases: int = Field(20, ge=2)
    """Initial states of the free forecasts (independent of the record)."""
    forecast_start: Literal["attractor", "reference"] = "attractor"
    """Where the forecasts start: ``attractor``, consecutive stretches ``forecast_length``
    apart of one true trajectory spun up as the record's; ``reference``, as the authors'
    code (brajard/reddaml ``L2S/simul.py``): each case from ``X_0 = 1``, every other
    variable 0, plus N(0, 0.1^2) noise (DAPPER's ``LorenzUV`` initial state), integrated
    ``forecast_spinup`` time units by the truth (the states of their Fig. 2)."""
    forecast_spinup: float = Field(3.0, ge=0)
    """Spin-up (time units) of each case with ``forecast_start = "reference"`` (the
    reference's 3)."""
    forecast_length: float = Field(15.0, gt=0)
    """Length of each free forecast (model time units)."""
    lead_steps: int = Field(5, ge=1)
    """Model steps between scored leads (5: every 0.05 time units at dt = 0.01)."""
    score_time: float = Field(2.0, gt=0)
    """Lead time (model time units) of the headline statistics ``r_*``."""

    def issues(self, config: Config) -> list[Issue]:
        found = super().issues(config)
        exp = config.experiment
        pairs = exp.cycles - exp.burn_in - 1
        if self.train_samples + self.validation_samples > pairs:
            found.append(Issue("hybrid", "train_samples", f"train_samples + "
                               f"validation_samples = "
                               f"{self.train_samples + self.validation_samples} exceeds the "
                               f"{pairs} pairs after the burn-in ([experiment] cycles - "
                               "burn_in - 1): lengthen the record or take fewer samples",
                               self.train_samples))
        dt = config.model.dt
        lead = self.lead_steps * dt
        if abs(self.score_time / lead - round(self.score_time / lead)) > 1e-9:
            found.append(Issue("hybrid", "score_time", f"must be a multiple of lead_steps x "
                               f"[model] dt = {lead:g}", self.score_time))
        if self.score_time > self.forecast_length:
            found.append(Issue("hybrid", "score_time", "must be at most forecast_length = "
                               f"{self.forecast_length:g}", self.score_time))
        if config.ml is not None and config.ml.loss == "variance_weighted":
            found.append(Issue("ml", "loss", 'brajard2021 trains by least squares: use "mse"',
                               config.ml.loss))
        return found

    def describe(self) -> str:
        return (f"truncated-model correction from analyses ({self.train_samples} training "
                "pairs)")

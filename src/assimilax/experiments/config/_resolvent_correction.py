"""``[hybrid] name = "resolvent_correction"``: a knowledge-based model corrected by a
network trained on the resolvent error of its own analyses, then used in DA and in
forecasts (Farchi, Laloyaux, Bonavita & Bocquet 2021, QJRMS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from ._base import Issue
from ._hybrid import HybridSection
from ._registry import register

if TYPE_CHECKING:
    from ._config import Config


@register("hybrid", "resolvent_correction")
class ResolventCorrectionConfig(HybridSection):
    """``name = "resolvent_correction"``: Farchi, Laloyaux, Bonavita & Bocquet (2021),
    DA with the physical ``[model]`` (the ``[method]`` ensemble filter), a network trained
    on the analyses' resolvent error $x^a_{k+1} - \\mathcal M(x^a_k)$, then DA and free
    forecasts with the corrected model beside the physical one, on an independent twin.

    ``[truth]`` makes the truth (the model with other parameters: in the preset, the QG
    channel with layer depths 6000/4000 m for a model of 5700/4300 m); ``[experiment]
    cycles`` is the training record, ``test_cycles`` the test record. The ``[ml]`` network is a
    ``field_cnn`` (two 3x3 convolutions of ``widths[0]`` channels on the model's 2-D
    fields, tanh, a linear 1x1 output) on standardised inputs, its output scaled by the
    size of the resolvent error and zero at the start."""

    title: ClassVar[str] = "resolvent correction from analyses"
    models: ClassVar[tuple[str, ...]] = ("qg",)
    truths: ClassVar[tuple[str, ...]] = ("qg",)
    needs_truth: ClassVar[bool] = True
    every_step: ClassVar[bool] = False
    ensemble_filter: ClassVar[str | None] = 'name = "letkf", ensemble_size = 20'
    ml_defaults: ClassVar[dict[str, Any]] = {
        "network": "field_cnn", "widths": [8], "epochs": 20, "batch_size": 16, "loss": "mse"}

    test_cycles: int = Field(400, ge=10)
    """Observation times of the independent test twin."""
    forecast_cases: int = Field(30, ge=2)
    """Initial states of the forecast test, spaced evenly over ``forecast_cycles``."""
    forecast_cycles: int = Field(2000, ge=2)
    """Observation intervals of the independent truth run the forecasts start from (one
    member, no DA: cheap; long, so that the cases sample the channel's slow
    variability)."""
    forecast_time: float = Field(1.728, gt=0)
    """Length of the free forecasts (model time units; 1.728 = 48 h for the QG)."""
    score_lead: float = Field(0.864, gt=0)
    """Lead (model time units) at which the forecast gain is reported (0.864 = 24 h)."""
    training: Literal["unrolled", "increments"] = "unrolled"
    """How the network learns from analysis pairs $S$ model steps apart: ``"unrolled"``
    through the $S$ corrected model steps (backpropagation through the model, its adjoint
    by autodiff); ``"increments"`` by regression on the mean error per step
    $(x^a_{k+1} - \\mathcal M^S(x^a_k)) / S$ (first order in the correction, no model in
    the loss: many times cheaper)."""
    iterations: int = Field(1, ge=1)
    """DA-ML iterations. 1: the network learns once, from the analyses of the filter with
    the physical model. Each further iteration reruns the filter on the training twin
    with the latest hybrid model and fine-tunes the network (from its weights, ``[ml]
    epochs`` more) on those analyses, which are closer to the truth."""
    burn_in: int = Field(100, ge=0)
    """Cycles at the start of each DA run left out of its time means and, on the training
    twin, of the training pairs (the filter's spin-up)."""

    def issues(self, config: Config) -> list[Issue]:
        found = super().issues(config)
        if config.experiment.cycles < self.burn_in + 10:
            found.append(Issue("experiment", "cycles", "must leave at least 10 training "
                               f"pairs after [hybrid] burn_in = {self.burn_in}",
                               config.experiment.cycles))
        if self.test_cycles <= self.burn_in + 1:
            found.append(Issue("hybrid", "test_cycles", f"must be > burn_in + 1 = "
                               f"{self.burn_in + 1}", self.test_cycles))
        interval = config.observations.every_steps * config.model.dt
        if self.forecast_cycles * interval < self.forecast_time + interval:
            found.append(Issue("hybrid", "forecast_cycles", "must span more than one "
                               f"forecast of forecast_time = {self.forecast_time:g}",
                               self.forecast_cycles))
        if self.score_lead > self.forecast_time:
            found.append(Issue("hybrid", "score_lead", f"must be <= forecast_time = "
                               f"{self.forecast_time:g}", self.score_lead))
        ml = config.ml_resolved
        if ml is not None and ml.network != "field_cnn":
            found.append(Issue("ml", "network", 'resolvent_correction corrects with a '
                               '"field_cnn"', ml.network))
        elif ml is not None and len(ml.widths) != 1:
            found.append(Issue("ml", "widths", "a field_cnn takes one width (the channels "
                               "of its two hidden convolutions)", ml.widths))
        return found

    def describe(self) -> str:
        return f"resolvent correction from analyses (test twin of {self.test_cycles} cycles)"

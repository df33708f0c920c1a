"""``[method]`` baselines of DAPPER's ``da_methods/baseline.py``: ``climatology``, ``optinterp``.

Both use the forecast model's climatology (mean and covariance of a long free run,
:func:`~assimilax.experiments.config.model_climatology`) where DAPPER uses the truth
trajectory's.
"""

from __future__ import annotations

from typing import ClassVar

from ... import da
from ...models import AbstractModel
from ._method import MethodSection
from ._registry import register
from ._variational import model_climatology


class BaselineSection(MethodSection):
    """A baseline: no ensemble, no cycling, the model's climatology as its only knowledge."""

    ensemble: ClassVar[bool] = False

    @property
    def ensemble_size(self) -> None:
        """``None``: a baseline runs no ensemble."""
        return None

    def climatology(self, model: AbstractModel | None):
        """``(mean, covariance)`` of the forecast model's climatology."""
        if model is None:
            raise ValueError(f"build: {self.name} needs the forecast model (its climatology).")
        return model_climatology(model)

    def describe(self) -> str:
        return f"{self.title} (the model's climatology)"


@register("method", "climatology")
class ClimatologyConfig(BaselineSection):
    """``name = "climatology"``: every analysis is the climatological mean.

    Its error is the truth's climatological RMS by construction, so the divergence check
    does not apply to it.
    """

    title: ClassVar[str] = "Climatology"
    can_diverge: ClassVar[bool] = False

    def build(self, model: AbstractModel | None = None) -> da.Climatology:
        mean, cov = self.climatology(model)
        return da.Climatology(mean, cov)

    def divergence_advice(self) -> list[str]:
        return ["use a method that assimilates the observations"]


@register("method", "optinterp")
class OptInterpConfig(BaselineSection):
    """``name = "optinterp"``: optimal interpolation of each observation time about the
    climatological mean, with the climatological covariance (not cycled)."""

    title: ClassVar[str] = "OptInterp"

    def build(self, model: AbstractModel | None = None) -> da.OptInterp:
        mean, cov = self.climatology(model)
        return da.OptInterp(mean, cov)

    def divergence_advice(self) -> list[str]:
        return ["check [observations] noise_std and the observation operator (optimal "
                "interpolation is not cycled: it cannot lose the truth by itself)"]

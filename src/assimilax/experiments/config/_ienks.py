"""``[method] name = "ienks"``: the iterative ensemble Kalman smoother (DAPPER's ``iEnKS``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ... import da
from ...models import AbstractModel
from ._method import EnsembleMethodSection
from ._registry import register


@register("method", "ienks")
class IEnKSConfig(EnsembleMethodSection):
    """``name = "ienks"``: iterative EnKS, ``Sqrt`` variant, Gauss-Newton, lag 1.

    DAPPER's ``iEnKS('Sqrt', N, Lag=1, infl, rot)``: ``iterations`` Gauss-Newton steps in
    ensemble space per window (stopping early when the step is below ``wtol``).
    """

    rotate: bool = True
    """Apply a random mean-preserving rotation to the smoothed anomalies (DAPPER's ``rot``)."""
    iterations: int = Field(10, ge=1)
    """Gauss-Newton iterations per window (DAPPER's ``nIter``)."""
    wtol: float = Field(0.0, ge=0)
    """Stop iterating when the step in ensemble space is below this (DAPPER's ``wtol``; 0:
    always ``iterations``)."""
    title: ClassVar[str] = "iEnKS"
    smoother: ClassVar[bool] = True

    def build(self, model: AbstractModel | None = None) -> da.IEnKS:
        return da.IEnKS(inflation=self.build_inflation(), rotation=self.build_rotation(),
                        iterations=self.iterations, wtol=self.wtol)

    def _parts(self) -> list[str]:
        return super()._parts() + [f"{self.iterations} iterations"]

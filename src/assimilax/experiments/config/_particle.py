"""``[method] name = "particle_filter"``: the bootstrap particle filter (DAPPER's ``PartFilt``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ... import da
from ...models import AbstractModel
from ._method import MethodSection
from ._registry import register


@register("method", "particle_filter")
class ParticleFilterConfig(MethodSection):
    """``name = "particle_filter"``: sequential importance resampling with regularisation.

    DAPPER's ``PartFilt(N, reg, NER, qroot, wroot)``: resample (systematically) when the
    effective sample size falls to ``NER`` x N, jitter the duplicates with a Gaussian
    kernel of bandwidth ``reg`` (relative to Scott's rule).
    """

    ensemble_size: int = Field(ge=2)
    """Number of particles $N$."""
    reg: float = Field(0.0, ge=0)
    """Regularisation (jitter) bandwidth relative to Scott's rule (DAPPER's ``reg``)."""
    NER: float = Field(1.0, ge=0, le=1)
    """Resample when the effective sample size is at most ``NER`` x N (DAPPER's ``NER``)."""
    qroot: float = Field(1.0, gt=0)
    """Inflation of the model noise of the proposal (1: bootstrap; DAPPER's ``qroot``)."""
    wroot: float = Field(1.0, gt=0)
    """Tempering of the weights before resampling (1: none; DAPPER's ``wroot``)."""
    title: ClassVar[str] = "PartFilt"

    @classmethod
    def is_ensemble_filter(cls) -> bool:
        """``False``: its members carry weights, so a hybrid that learns from equally
        weighted analysis ensembles (``iterative_emulation``) cannot assimilate with it."""
        return False

    def build(self, model: AbstractModel | None = None) -> da.PartFilt:
        return da.PartFilt(reg=self.reg, NER=self.NER, qroot=self.qroot, wroot=self.wroot)

    def divergence_advice(self) -> list[str]:
        return [f"use more particles ([method] ensemble_size, now {self.ensemble_size})",
                f"raise [method] reg, the jitter bandwidth (now {self.reg:g})",
                f"resample more often: raise [method] NER (now {self.NER:g})"]

    def describe(self) -> str:
        return f"PartFilt (N={self.ensemble_size}, reg {self.reg:g}, NER {self.NER:g})"

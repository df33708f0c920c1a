"""The ``[experiment]`` section: length, burn-in, seed and run-time settings."""

from __future__ import annotations

from pydantic import Field, model_validator

from ._base import Issue, Section, refuse

SPINUP_TIME = 20.0
"""Default spin-up of the truth, in model time units (``spinup_steps = round(20 / dt)``)."""


class ExperimentConfig(Section):
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
            refuse(Issue(None, "burn_in", f"must be < cycles = {self.cycles}", self.burn_in))
        return self

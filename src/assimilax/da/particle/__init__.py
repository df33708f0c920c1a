"""Particle filters: weighted ensembles, resampling and regularisation."""

from ._partfilt import PartFilt as PartFilt
from ._partfilt import ParticleState as ParticleState

__all__ = [
    "PartFilt",
    "ParticleState",
]

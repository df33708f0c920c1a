"""Experiments: the twin simulation (pure JAX), config schema, runner and presets."""

from ._twin import Twin as Twin
from ._twin import climatological_rms as climatological_rms
from ._twin import simulate_twin as simulate_twin
from ._twin import twin_keys as twin_keys
